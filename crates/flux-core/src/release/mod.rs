//! Release calculation: which workloads move to which images, and the exact
//! file edits that do it (`fluxctl release`).
//!
//! [`calculate_release`] is a pure function of the spec, the manifests, the
//! workloads running in the cluster and a [`RegistryView`]. It follows Flux
//! v1's release rules: workloads not asked for are "not included", excluded
//! ones "excluded"; locked and ignored ones are skipped unless specific
//! workloads are named *and* the release is forced; a specific image applies
//! to the containers of that repository only, subject to their tag filters
//! unless forced; `<all latest>` moves every container to the newest tag its
//! filter allows. The image is changed with the repository written as it
//! was (`nginx:1.25` becomes `nginx:1.26`, not `docker.io/library/nginx:1.26`).
//!
//! Differences from Flux v1: containers are read from the manifests (what is
//! edited) rather than from the cluster; a workload whose containers give
//! mixed outcomes reports the most useful one (missing image metadata, then
//! up to date, then not using the image) instead of whichever container came
//! last; and a workload whose edit cannot be made is reported as failed while
//! the others still proceed.

mod containers;
mod edits;
mod policies;
mod result;

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

pub use containers::{ContainerSpec, ContainersSpec, calculate_containers_release};
pub use edits::write_edits;
pub use policies::{POLICIES_UNCHANGED, calculate_policy_updates};
pub use result::{ContainerUpdate, FileEdit, ReleaseResult, Status, WorkloadResult, reasons};

use crate::image::{ImageRef, ParseImageError};
use crate::manifest::{FileSet, Manifests, Resource};
use crate::policy::{Ignore, Policies, TagPattern};
use crate::registry::RegistryView;
use crate::resource::{ParseIdError, ResourceId};

/// The `ServiceSpecs` value meaning every workload.
pub const ALL_WORKLOADS: &str = "<all>";
/// The `ImageSpec` value meaning the newest allowed image for every container.
pub const ALL_LATEST: &str = "<all latest>";

/// Which image a release moves containers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageSpec {
    /// `<all latest>`: each container's newest allowed tag.
    Latest,
    /// One image (with a tag) for the containers of its repository.
    Image(ImageRef),
}

/// An image spec is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// Not an image reference.
    #[error(transparent)]
    Image(#[from] ParseImageError),
    /// The image has no tag.
    #[error("image {0:?} has no tag (to release latest, write the tag :latest explicitly)")]
    NoTag(String),
    /// A workload ID is invalid.
    #[error(transparent)]
    Id(#[from] ParseIdError),
}

impl FromStr for ImageSpec {
    type Err = SpecError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == ALL_LATEST {
            return Ok(ImageSpec::Latest);
        }
        let image = ImageRef::parse(s)?;
        if image.tag().is_none() {
            return Err(SpecError::NoTag(s.to_owned()));
        }
        Ok(ImageSpec::Image(image))
    }
}

impl fmt::Display for ImageSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageSpec::Latest => f.write_str(ALL_LATEST),
            ImageSpec::Image(i) => write!(f, "{i}"),
        }
    }
}

/// Whether the release is only planned or also carried out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReleaseKind {
    /// `--dry-run`: compute the result and edits, commit nothing.
    Plan,
    /// Compute, then commit the edits.
    #[default]
    Execute,
}

/// What to release, as `fluxctl release` sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseSpec {
    /// The workloads asked for; `None` for all (`--all`).
    pub workloads: Option<Vec<ResourceId>>,
    /// The image change.
    pub image: ImageSpec,
    /// Plan or execute.
    pub kind: ReleaseKind,
    /// Workloads to leave out (`--exclude`).
    pub excludes: Vec<ResourceId>,
    /// `--force`: release named workloads even if locked or ignored, and a
    /// specific image even if the tag filter refuses it.
    pub force: bool,
}

/// Flux v1's JSON form of a release spec.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SpecJson {
    service_specs: Vec<String>,
    image_spec: String,
    kind: ReleaseKind,
    #[serde(default)]
    excludes: Option<Vec<String>>,
    #[serde(default)]
    force: bool,
}

impl serde::Serialize for ReleaseSpec {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        SpecJson {
            service_specs: match &self.workloads {
                None => vec![ALL_WORKLOADS.to_owned()],
                Some(ids) => ids.iter().map(ToString::to_string).collect(),
            },
            image_spec: self.image.to_string(),
            kind: self.kind,
            excludes: (!self.excludes.is_empty())
                .then(|| self.excludes.iter().map(ToString::to_string).collect()),
            force: self.force,
        }
        .serialize(s)
    }
}

impl<'de> serde::Deserialize<'de> for ReleaseSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let j = SpecJson::deserialize(d)?;
        let workloads = if j.service_specs.iter().any(|s| s == ALL_WORKLOADS) {
            None
        } else {
            Some(
                j.service_specs
                    .iter()
                    .map(|s| ResourceId::parse(s))
                    .collect::<Result<_, _>>()
                    .map_err(D::Error::custom)?,
            )
        };
        Ok(ReleaseSpec {
            workloads,
            image: j.image_spec.parse().map_err(D::Error::custom)?,
            kind: j.kind,
            excludes: j
                .excludes
                .unwrap_or_default()
                .iter()
                .map(|s| ResourceId::parse(s))
                .collect::<Result<_, _>>()
                .map_err(D::Error::custom)?,
            force: j.force,
        })
    }
}

impl ReleaseSpec {
    /// The commit message Flux v1 writes: `Release <image> to <workloads>`.
    pub fn commit_message(&self) -> String {
        let image = self.image.to_string();
        let workloads = match &self.workloads {
            None => "all".to_owned(),
            Some(ids) => ids
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "),
        };
        format!("Release {} to {workloads}", image.trim_matches(['<', '>']))
    }
}

/// What a calculation reads: the manifests and their files, what runs in
/// the cluster, and the registry cache.
#[derive(Clone, Copy)]
pub struct ReleaseContext<'a> {
    /// The manifests, as parsed from `files`.
    pub manifests: &'a Manifests,
    /// The files they were parsed from (the edits start from these).
    pub files: &'a FileSet,
    /// The workloads running in the cluster; `None` when unknown (offline),
    /// in which case every workload in the repository counts as running.
    pub in_cluster: Option<&'a BTreeSet<ResourceId>>,
    /// Tags and image metadata.
    pub registry: &'a dyn RegistryView,
}

impl ReleaseContext<'_> {
    fn running(&self, id: &ResourceId) -> bool {
        self.in_cluster.is_none_or(|ids| ids.contains(id))
    }
}

/// The whole release could not be calculated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReleaseError {
    /// The specific image is not in the registry cache.
    #[error("image {0} does not exist (or is not yet known to the registry cache)")]
    ImageNotFound(String),
}

/// How a container fared, most telling last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    NotUsing,
    UpToDate,
    Unknown,
}

/// Calculates a release. Per-workload problems are results, not errors;
/// only an image that does not exist fails the whole release.
pub fn calculate_release(
    spec: &ReleaseSpec,
    cx: &ReleaseContext<'_>,
) -> Result<ReleaseResult, ReleaseError> {
    if let ImageSpec::Image(image) = &spec.image {
        let tag = image.tag().unwrap_or_default();
        let known = cx
            .registry
            .tags(image.name())
            .is_some_and(|tags| tags.iter().any(|t| t == tag));
        if !known {
            return Err(ReleaseError::ImageNotFound(image.to_string()));
        }
    }
    let mut result = ReleaseResult::default();
    let skip_locks = spec.force && spec.workloads.as_ref().is_some_and(|w| !w.is_empty());
    let mut candidates: Vec<(&Resource, Policies)> = Vec::new();
    for w in cx.manifests.workloads() {
        let id = w.id();
        let verdict = if spec.workloads.as_ref().is_some_and(|ids| !ids.contains(id)) {
            Some(WorkloadResult::new(Status::Ignored, reasons::NOT_INCLUDED))
        } else if spec.excludes.contains(id) {
            Some(WorkloadResult::new(Status::Ignored, reasons::EXCLUDED))
        } else if !cx.running(id) {
            Some(WorkloadResult::new(
                Status::Skipped,
                reasons::NOT_IN_CLUSTER,
            ))
        } else {
            match admit(w, &spec.image, skip_locks) {
                Ok(policies) => {
                    candidates.push((w, policies));
                    None
                }
                Err(r) => Some(r),
            }
        };
        if let Some(r) = verdict {
            result.workloads.insert(id.clone(), r);
        }
    }
    for id in spec.workloads.iter().flatten() {
        result
            .workloads
            .entry(id.clone())
            .or_insert_with(|| WorkloadResult::new(Status::Skipped, reasons::NOT_IN_REPO));
    }
    let mut changes = Vec::new();
    for (w, policies) in candidates {
        let r = image_updates(w, &policies, spec, cx.registry);
        if r.status == Status::Success {
            changes.push((w, r.per_container.clone()));
        }
        result.workloads.insert(w.id().clone(), r);
    }
    result.edits = write_edits(cx.files, &changes, &mut result.workloads);
    Ok(result)
}

/// The filters applied after selection: the image, locks and ignores.
fn admit(w: &Resource, image: &ImageSpec, skip_locks: bool) -> Result<Policies, WorkloadResult> {
    let failed = |e: &dyn fmt::Display| WorkloadResult::new(Status::Failed, e.to_string());
    let containers = w.containers().map_err(|e| failed(&e))?;
    let mut current = Vec::new();
    for c in &containers {
        let parsed = ImageRef::parse(&c.image)
            .map_err(|e| failed(&format_args!("container {}: {e}", c.name)))?;
        current.push(parsed);
    }
    if let ImageSpec::Image(image) = image {
        let uses = current.iter().any(|i| i.name() == image.name());
        if !uses {
            return Err(WorkloadResult::new(
                Status::Ignored,
                reasons::DIFFERENT_IMAGE,
            ));
        }
    }
    let policies = Policies::of(w).map_err(|e| failed(&e))?;
    if !skip_locks {
        if policies.locked {
            return Err(WorkloadResult::new(Status::Skipped, reasons::LOCKED));
        }
        if policies.ignore == Ignore::Yes {
            return Err(WorkloadResult::new(Status::Skipped, reasons::IGNORE));
        }
    }
    Ok(policies)
}

/// The container changes of one admitted workload.
fn image_updates(
    w: &Resource,
    policies: &Policies,
    spec: &ReleaseSpec,
    registry: &dyn RegistryView,
) -> WorkloadResult {
    let containers = match w.containers() {
        Ok(c) => c,
        Err(e) => return WorkloadResult::new(Status::Failed, e.to_string()),
    };
    let mut updates = Vec::new();
    let mut outcome = Outcome::NotUsing;
    for c in &containers {
        let current = match ImageRef::parse(&c.image) {
            Ok(i) => i,
            Err(e) => {
                return WorkloadResult::new(Status::Failed, format!("container {}: {e}", c.name));
            }
        };
        let pattern = if spec.force && matches!(spec.image, ImageSpec::Image(_)) {
            TagPattern::all()
        } else {
            policies.tag_pattern(&c.name)
        };
        let chosen = match &spec.image {
            ImageSpec::Image(image) => {
                if image.name() != current.name() {
                    continue;
                }
                let tag = image.tag().unwrap_or_default();
                if !pattern.allows(tag) {
                    outcome = outcome.max(Outcome::Unknown);
                    continue;
                }
                tag.to_owned()
            }
            ImageSpec::Latest => match newest(registry, &current, &pattern) {
                Newest::Tag(t) => t,
                Newest::NoneAllowed => continue,
                Newest::MissingMetadata => {
                    outcome = outcome.max(Outcome::Unknown);
                    continue;
                }
            },
        };
        if current.tag() == Some(chosen.as_str()) && current.digest().is_none() {
            outcome = outcome.max(Outcome::UpToDate);
            continue;
        }
        match current.with_tag(&chosen) {
            Ok(target) => updates.push(ContainerUpdate {
                container: c.name.clone(),
                current,
                target,
            }),
            Err(e) => return WorkloadResult::new(Status::Failed, e.to_string()),
        }
    }
    if !updates.is_empty() {
        return WorkloadResult::success(updates);
    }
    match outcome {
        Outcome::Unknown => WorkloadResult::new(Status::Skipped, reasons::IMAGE_NOT_FOUND),
        Outcome::UpToDate => WorkloadResult::new(Status::Skipped, reasons::UP_TO_DATE),
        Outcome::NotUsing => WorkloadResult::new(Status::Ignored, reasons::DOES_NOT_USE_IMAGE),
    }
}

/// The newest tag allowed for a container's repository.
pub(crate) enum Newest {
    Tag(String),
    /// No tag is allowed (or the repository is not scanned).
    NoneAllowed,
    /// Allowed tags lack the creation times needed to order them.
    MissingMetadata,
}

pub(crate) fn newest(
    registry: &dyn RegistryView,
    image: &ImageRef,
    pattern: &TagPattern,
) -> Newest {
    let Some(tags) = registry.tags(image.name()) else {
        return Newest::NoneAllowed;
    };
    let mut candidates = Vec::new();
    for tag in tags.iter().filter(|t| pattern.allows(t)) {
        let created = if pattern.requires_timestamp() {
            match registry.image_info(image.name(), tag) {
                Some(info) => info.created,
                None => return Newest::MissingMetadata,
            }
        } else {
            None
        };
        candidates.push((tag.as_str(), created));
    }
    match pattern.newest(candidates) {
        Some((tag, _)) => Newest::Tag(tag.to_owned()),
        None => Newest::NoneAllowed,
    }
}

#[cfg(test)]
pub(crate) mod tests;
