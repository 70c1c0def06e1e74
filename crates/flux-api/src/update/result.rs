//! What an update did, per workload: Flux v1's `update.Result`.

use std::collections::{BTreeMap, BTreeSet};

use flux_core::release::{ReleaseResult, Status};
use serde::{Deserialize, Serialize};

use crate::wire::{self, open_string_enum};

open_string_enum! {
    /// Flux v1's `update.WorkloadUpdateStatus`.
    pub enum WorkloadUpdateStatus {
        /// Images will be (or were) changed.
        Success = "success",
        /// Something is wrong with the workload; the error says what.
        Failed = "failed",
        /// Left alone for a reason the user may want to act on.
        Skipped = "skipped",
        /// Not concerned by the update.
        Ignored = "ignored",
        /// The outcome is not known.
        Unknown = "unknown",
    }
}

/// Go's zero value: the empty string.
impl Default for WorkloadUpdateStatus {
    fn default() -> Self {
        WorkloadUpdateStatus::Other(String::new())
    }
}

impl From<Status> for WorkloadUpdateStatus {
    fn from(s: Status) -> Self {
        match s {
            Status::Success => WorkloadUpdateStatus::Success,
            Status::Failed => WorkloadUpdateStatus::Failed,
            Status::Skipped => WorkloadUpdateStatus::Skipped,
            Status::Ignored => WorkloadUpdateStatus::Ignored,
        }
    }
}

/// Flux v1's `update.ContainerUpdate`: one container's image change. Image
/// references are strings as sent; `Current` may be `""` in a
/// [`super::ReleaseContainersSpec`] (no precondition).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(default)]
pub struct ContainerUpdate {
    /// The container name.
    #[serde(rename = "Container")]
    pub container: String,
    /// The image it runs now.
    #[serde(rename = "Current")]
    pub current: String,
    /// The image it will run.
    #[serde(rename = "Target")]
    pub target: String,
}

/// Flux v1's `update.WorkloadResult`. `Error` is left out when empty;
/// `PerContainer` is `null` when empty, as Flux v1 writes it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(default)]
pub struct WorkloadResult {
    /// What happened.
    #[serde(rename = "Status")]
    pub status: WorkloadUpdateStatus,
    /// Why, for anything but success.
    #[serde(rename = "Error", skip_serializing_if = "String::is_empty")]
    pub error: String,
    /// The container changes.
    #[serde(
        rename = "PerContainer",
        serialize_with = "wire::null_if_empty",
        deserialize_with = "wire::nullable"
    )]
    pub per_container: Vec<ContainerUpdate>,
}

/// Flux v1's `update.Result`: workload ID → what happened to it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(transparent)]
pub struct UpdateResult(
    #[serde(deserialize_with = "wire::nullable")] pub BTreeMap<String, WorkloadResult>,
);

impl UpdateResult {
    /// Whether there are no results.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The workloads that changed (status `success`), in ID order.
    pub fn affected(&self) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(_, r)| r.status == WorkloadUpdateStatus::Success)
            .map(|(id, _)| id.as_str())
            .collect()
    }

    /// The target images of the changes, sorted and without repeats.
    pub fn changed_images(&self) -> Vec<&str> {
        let set: BTreeSet<&str> = self
            .0
            .values()
            .filter(|r| r.status == WorkloadUpdateStatus::Success)
            .flat_map(|r| r.per_container.iter().map(|c| c.target.as_str()))
            .collect();
        set.into_iter().collect()
    }

    /// The failures summed up as Flux v1 words them (`ID failed: why`, or
    /// `Multiple workloads failed: A, B`); `None` when nothing failed.
    pub fn error(&self) -> Option<String> {
        let failed: Vec<(&String, &WorkloadResult)> = self
            .0
            .iter()
            .filter(|(_, r)| r.status == WorkloadUpdateStatus::Failed)
            .collect();
        match failed.as_slice() {
            [] => None,
            [(id, r)] => Some(format!("{id} failed: {}", r.error)),
            many => Some(format!(
                "Multiple workloads failed: {}",
                many.iter()
                    .map(|(id, _)| id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }
}

impl From<&ReleaseResult> for UpdateResult {
    fn from(result: &ReleaseResult) -> Self {
        UpdateResult(
            result
                .workloads
                .iter()
                .map(|(id, r)| {
                    let wire = WorkloadResult {
                        status: r.status.into(),
                        error: r.error.clone(),
                        per_container: r
                            .per_container
                            .iter()
                            .map(|c| ContainerUpdate {
                                container: c.container.clone(),
                                current: c.current.to_string(),
                                target: c.target.to_string(),
                            })
                            .collect(),
                    };
                    (id.to_string(), wire)
                })
                .collect(),
        )
    }
}
