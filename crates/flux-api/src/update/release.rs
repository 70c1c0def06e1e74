//! The bodies of `image`, `containers`, `auto` and `sync` updates.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use flux_core::release::{ALL_LATEST, ALL_WORKLOADS, ContainerSpec, ContainersSpec, ReleaseSpec};
use flux_core::resource::{ParseIdError, ResourceId};
use serde::{Deserialize, Serialize};

pub use flux_core::release::{ImageSpec, ReleaseKind, SpecError};

use super::result::ContainerUpdate;
use crate::wire;

/// A workload spec: one workload ID, or `<all>`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ResourceSpec {
    /// `<all>`: every workload.
    All,
    /// One workload.
    Id(ResourceId),
}

impl FromStr for ResourceSpec {
    type Err = ParseIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == ALL_WORKLOADS {
            Ok(ResourceSpec::All)
        } else {
            ResourceId::parse(s).map(ResourceSpec::Id)
        }
    }
}

impl fmt::Display for ResourceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResourceSpec::All => f.write_str(ALL_WORKLOADS),
            ResourceSpec::Id(id) => write!(f, "{id}"),
        }
    }
}

/// Flux v1's `update.ReleaseImageSpec`, the `image` update `fluxctl release`
/// sends:
/// `{"ServiceSpecs":["<all>"|ID…],"ImageSpec":"<all latest>"|IMG:TAG,"Kind":"plan"|"execute","Excludes":[ID…]|null,"Force":bool}`.
///
/// Workload IDs and the image stay as sent; [`ReleaseImageSpec::to_core`]
/// parses them. `Excludes` is written as `null` when empty, as fluxctl does.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ReleaseImageSpec {
    /// The workloads: IDs, or `["<all>"]`.
    #[serde(rename = "ServiceSpecs", default, deserialize_with = "wire::nullable")]
    pub service_specs: Vec<String>,
    /// The image with a tag, or `<all latest>`.
    #[serde(rename = "ImageSpec", default)]
    pub image_spec: String,
    /// Plan (`--dry-run`) or execute.
    #[serde(rename = "Kind")]
    pub kind: ReleaseKind,
    /// Workloads left out (`--exclude`).
    #[serde(
        rename = "Excludes",
        default,
        serialize_with = "wire::null_if_empty",
        deserialize_with = "wire::nullable"
    )]
    pub excludes: Vec<String>,
    /// `--force`: ignore locks and tag filters for named workloads.
    #[serde(rename = "Force", default)]
    pub force: bool,
}

impl ReleaseImageSpec {
    /// Parses the IDs and image into flux-core's release spec. `<all>`
    /// anywhere in the workloads means all of them, as in Flux v1.
    pub fn to_core(&self) -> Result<ReleaseSpec, SpecError> {
        let workloads = if self.service_specs.iter().any(|s| s == ALL_WORKLOADS) {
            None
        } else {
            Some(
                self.service_specs
                    .iter()
                    .map(|s| ResourceId::parse(s))
                    .collect::<Result<Vec<_>, _>>()?,
            )
        };
        Ok(ReleaseSpec {
            workloads,
            image: self.image_spec.parse()?,
            kind: self.kind,
            excludes: self
                .excludes
                .iter()
                .map(|s| ResourceId::parse(s))
                .collect::<Result<Vec<_>, _>>()?,
            force: self.force,
        })
    }
}

impl From<&ReleaseSpec> for ReleaseImageSpec {
    fn from(spec: &ReleaseSpec) -> Self {
        ReleaseImageSpec {
            service_specs: match &spec.workloads {
                None => vec![ALL_WORKLOADS.to_owned()],
                Some(ids) => ids.iter().map(ToString::to_string).collect(),
            },
            image_spec: spec.image.to_string(),
            kind: spec.kind,
            excludes: spec.excludes.iter().map(ToString::to_string).collect(),
            force: spec.force,
        }
    }
}

/// The image spec meaning "each container's newest allowed image".
pub const IMAGE_SPEC_LATEST: &str = ALL_LATEST;

/// Flux v1's `update.ReleaseContainersSpec`, the `containers` update of
/// `fluxctl release --interactive`: per workload ID, the containers to
/// change, each with the image it must run now (`""`: any) and the image to
/// run.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ReleaseContainersSpec {
    /// Plan or execute.
    #[serde(rename = "Kind")]
    pub kind: ReleaseKind,
    /// The changes, per workload ID.
    #[serde(
        rename = "ContainerSpecs",
        default,
        deserialize_with = "wire::nullable"
    )]
    pub container_specs: BTreeMap<String, Vec<ContainerUpdate>>,
    /// Skip containers whose current image differs instead of failing.
    #[serde(rename = "SkipMismatches", default)]
    pub skip_mismatches: bool,
    /// Release even locked or ignored workloads.
    #[serde(rename = "Force", default)]
    pub force: bool,
}

/// A containers spec could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContainersSpecError {
    /// A workload ID is invalid.
    #[error(transparent)]
    Id(#[from] ParseIdError),
    /// An image of a container is invalid.
    #[error("workload {workload}, container {container:?}: {source}")]
    Image {
        /// The workload.
        workload: String,
        /// The container.
        container: String,
        /// Why the image is invalid.
        #[source]
        source: flux_core::image::ParseImageError,
    },
}

impl ReleaseContainersSpec {
    /// Parses IDs and images into flux-core's containers spec.
    pub fn to_core(&self) -> Result<ContainersSpec, ContainersSpecError> {
        let mut container_specs = BTreeMap::new();
        for (workload, updates) in &self.container_specs {
            let id = ResourceId::parse(workload)?;
            let image_err = |container: &str, source| ContainersSpecError::Image {
                workload: workload.clone(),
                container: container.to_owned(),
                source,
            };
            let mut specs = Vec::with_capacity(updates.len());
            for u in updates {
                let current = if u.current.is_empty() {
                    None
                } else {
                    Some(u.current.parse().map_err(|e| image_err(&u.container, e))?)
                };
                let target = u.target.parse().map_err(|e| image_err(&u.container, e))?;
                specs.push(ContainerSpec {
                    container: u.container.clone(),
                    current,
                    target,
                });
            }
            container_specs.insert(id, specs);
        }
        Ok(ContainersSpec {
            kind: self.kind,
            container_specs,
            skip_mismatches: self.skip_mismatches,
            force: self.force,
        })
    }
}

impl From<&ContainersSpec> for ReleaseContainersSpec {
    fn from(spec: &ContainersSpec) -> Self {
        ReleaseContainersSpec {
            kind: spec.kind,
            container_specs: spec
                .container_specs
                .iter()
                .map(|(id, specs)| {
                    let updates = specs
                        .iter()
                        .map(|c| ContainerUpdate {
                            container: c.container.clone(),
                            current: c
                                .current
                                .as_ref()
                                .map(ToString::to_string)
                                .unwrap_or_default(),
                            target: c.target.to_string(),
                        })
                        .collect();
                    (id.to_string(), updates)
                })
                .collect(),
            skip_mismatches: spec.skip_mismatches,
            force: spec.force,
        }
    }
}

/// Flux v1's `update.Automated`: the image changes automation decided.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(default)]
pub struct Automated {
    /// One change per container.
    #[serde(
        rename = "Changes",
        serialize_with = "wire::null_if_empty",
        deserialize_with = "wire::nullable"
    )]
    pub changes: Vec<AutomatedChange>,
}

/// One container's automated change.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(default)]
pub struct AutomatedChange {
    /// The workload ID.
    #[serde(rename = "WorkloadID")]
    pub workload_id: String,
    /// The container, with the image it runs now.
    #[serde(rename = "Container")]
    pub container: WorkloadContainer,
    /// The image it moves to.
    #[serde(rename = "ImageID")]
    pub image_id: String,
}

/// Flux v1's `resource.Container`: a container's name and image.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(default)]
pub struct WorkloadContainer {
    /// The container name.
    #[serde(rename = "Name")]
    pub name: String,
    /// Its image reference.
    #[serde(rename = "Image")]
    pub image: String,
}

/// Flux v1's `update.ManualSync`: a sync request has no fields (`{}`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct ManualSync {}
