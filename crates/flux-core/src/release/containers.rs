//! Releasing given images to given containers (Flux v1's `containers`
//! update type): the caller names each workload's containers, optionally the
//! image each must run now, and the image it should run.

use std::collections::BTreeMap;

use super::result::{ContainerUpdate, ReleaseResult, Status, WorkloadResult, reasons};
use super::{ReleaseContext, ReleaseKind, write_edits};
use crate::image::ImageRef;
use crate::policy::{Ignore, Policies};
use crate::resource::ResourceId;

/// One container's requested change.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerSpec {
    /// The container name.
    pub container: String,
    /// The image it must run now for the change to apply (`""`: any).
    #[serde(default, with = "optional_image")]
    pub current: Option<ImageRef>,
    /// The image to run.
    pub target: ImageRef,
}

mod optional_image {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::image::ImageRef;

    pub fn serialize<S: Serializer>(v: &Option<ImageRef>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(i) => s.collect_str(i),
            None => s.serialize_str(""),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<ImageRef>, D::Error> {
        let s = Option::<String>::deserialize(d)?.unwrap_or_default();
        if s.is_empty() {
            return Ok(None);
        }
        s.parse().map(Some).map_err(serde::de::Error::custom)
    }
}

/// A containers release, as Flux v1's API takes it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainersSpec {
    /// Plan or execute.
    pub kind: ReleaseKind,
    /// The changes, per workload.
    pub container_specs: BTreeMap<ResourceId, Vec<ContainerSpec>>,
    /// Skip containers whose current image differs instead of failing.
    #[serde(default)]
    pub skip_mismatches: bool,
    /// Release even locked or ignored workloads.
    #[serde(default)]
    pub force: bool,
}

/// Calculates a containers release. A workload that lacks a named
/// container fails ("container(s) not found: …"), as does one whose current
/// image differs from the one given, unless mismatches are skipped; the
/// other workloads proceed.
pub fn calculate_containers_release(
    spec: &ContainersSpec,
    cx: &ReleaseContext<'_>,
) -> ReleaseResult {
    let mut result = ReleaseResult::default();
    let mut changes = Vec::new();
    for w in cx.manifests.workloads() {
        let id = w.id();
        let Some(specs) = spec.container_specs.get(id) else {
            result.workloads.insert(
                id.clone(),
                WorkloadResult::new(Status::Ignored, reasons::NOT_INCLUDED),
            );
            continue;
        };
        let r = if !cx.in_cluster.is_none_or(|ids| ids.contains(id)) {
            WorkloadResult::new(Status::Skipped, reasons::NOT_IN_CLUSTER)
        } else {
            match Policies::of(w) {
                Err(e) => WorkloadResult::new(Status::Failed, e.to_string()),
                Ok(p) if !spec.force && p.locked => {
                    WorkloadResult::new(Status::Skipped, reasons::LOCKED)
                }
                Ok(p) if !spec.force && p.ignore == Ignore::Yes => {
                    WorkloadResult::new(Status::Skipped, reasons::IGNORE)
                }
                Ok(_) => workload(w, specs, spec.skip_mismatches),
            }
        };
        if r.status == Status::Success {
            changes.push((w, r.per_container.clone()));
        }
        result.workloads.insert(id.clone(), r);
    }
    for id in spec.container_specs.keys() {
        result
            .workloads
            .entry(id.clone())
            .or_insert_with(|| WorkloadResult::new(Status::Skipped, reasons::NOT_IN_REPO));
    }
    result.edits = write_edits(cx.files, &changes, &mut result.workloads);
    result
}

fn workload(
    w: &crate::manifest::Resource,
    specs: &[ContainerSpec],
    skip_mismatches: bool,
) -> WorkloadResult {
    let containers = match w.containers() {
        Ok(c) => c,
        Err(e) => return WorkloadResult::new(Status::Failed, e.to_string()),
    };
    let (mut not_found, mut mismatch, mut updates) = (Vec::new(), Vec::new(), Vec::new());
    for s in specs {
        let Some(c) = containers.iter().find(|c| c.name == s.container) else {
            not_found.push(s.container.as_str());
            continue;
        };
        let current = match ImageRef::parse(&c.image) {
            Ok(i) => i,
            Err(e) => {
                return WorkloadResult::new(Status::Failed, format!("container {}: {e}", c.name));
            }
        };
        if s.current.as_ref().is_some_and(|want| *want != current) {
            mismatch.push(s.container.as_str());
            continue;
        }
        if current == s.target {
            continue;
        }
        updates.push(ContainerUpdate {
            container: s.container.clone(),
            current,
            target: s.target.clone(),
        });
    }
    let mismatch_error = format!("container(s) tag mismatch: {}", mismatch.join(", "));
    if !not_found.is_empty() {
        let known: Vec<&str> = containers.iter().map(|c| c.name.as_str()).collect();
        return WorkloadResult::new(
            Status::Failed,
            format!(
                "container(s) not found: {} (the workload has: {})",
                not_found.join(", "),
                known.join(", ")
            ),
        );
    }
    if !mismatch.is_empty() && !skip_mismatches {
        return WorkloadResult::new(Status::Failed, mismatch_error);
    }
    if updates.is_empty() {
        let reason = if mismatch.is_empty() {
            reasons::UP_TO_DATE.to_owned()
        } else {
            mismatch_error
        };
        return WorkloadResult::new(Status::Skipped, reason);
    }
    WorkloadResult::success(updates)
}
