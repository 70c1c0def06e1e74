//! What a release or automation run decided, per workload, in Flux v1's
//! terms (`fluxctl release` prints these statuses and reasons).

use std::collections::{BTreeMap, BTreeSet};

use crate::image::ImageRef;
use crate::resource::ResourceId;

/// Flux v1's reasons, word for word (users grep logs for them).
pub mod reasons {
    /// Skipped: the workload is locked.
    pub const LOCKED: &str = "locked";
    /// Skipped: the workload is ignored.
    pub const IGNORE: &str = "ignore";
    /// Ignored: not among the workloads asked for.
    pub const NOT_INCLUDED: &str = "not included";
    /// Ignored: excluded by `--exclude`.
    pub const EXCLUDED: &str = "excluded";
    /// Ignored: no container uses the image being released.
    pub const DIFFERENT_IMAGE: &str = "a different image";
    /// Skipped: the workload is not running in the cluster.
    pub const NOT_IN_CLUSTER: &str = "not accessible in cluster";
    /// Skipped: the workload asked for is not in the repository.
    pub const NOT_IN_REPO: &str = "not found in repository";
    /// Skipped: an image's tags or metadata are not known.
    pub const IMAGE_NOT_FOUND: &str = "cannot find one or more images";
    /// Skipped: every container already runs the chosen image.
    pub const UP_TO_DATE: &str = "image(s) up to date";
    /// Ignored: no container has an image to release.
    pub const DOES_NOT_USE_IMAGE: &str = "does not use image(s)";
}

/// The outcome for one workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Images will be (or were) changed.
    Success,
    /// Something is wrong with the workload; the error says what.
    Failed,
    /// Left alone for a reason the user may want to act on.
    Skipped,
    /// Not concerned by this release.
    Ignored,
}

/// One container's change.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerUpdate {
    /// The container name.
    pub container: String,
    /// The image it runs now, as written.
    pub current: ImageRef,
    /// The image it will run, written the same way.
    pub target: ImageRef,
}

/// The outcome for one workload, as Flux v1's API reports it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct WorkloadResult {
    /// What happened.
    pub status: Status,
    /// Why, for anything but success.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub error: String,
    /// The container changes, for success.
    #[serde(default)]
    pub per_container: Vec<ContainerUpdate>,
}

impl WorkloadResult {
    /// A result with a status and a reason.
    pub fn new(status: Status, reason: impl Into<String>) -> Self {
        WorkloadResult {
            status,
            error: reason.into(),
            per_container: Vec::new(),
        }
    }

    /// A success with container changes.
    pub fn success(per_container: Vec<ContainerUpdate>) -> Self {
        WorkloadResult {
            status: Status::Success,
            error: String::new(),
            per_container,
        }
    }
}

/// A changed file: its path and its whole new text.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FileEdit {
    /// Repo-relative path.
    pub file: String,
    /// The new content.
    pub text: String,
}

/// The result of a release or automation calculation: per workload, and
/// the file edits that carry out the successes.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ReleaseResult {
    /// Outcome per workload.
    pub workloads: BTreeMap<ResourceId, WorkloadResult>,
    /// The files to write, in path order (empty when nothing changes).
    pub edits: Vec<FileEdit>,
}

impl ReleaseResult {
    /// The target images of successful changes, sorted and deduplicated.
    pub fn changed_images(&self) -> Vec<String> {
        let set: BTreeSet<String> = self
            .workloads
            .values()
            .filter(|r| r.status == Status::Success)
            .flat_map(|r| r.per_container.iter().map(|c| c.target.to_string()))
            .collect();
        set.into_iter().collect()
    }

    /// The workloads that change.
    pub fn affected(&self) -> Vec<&ResourceId> {
        self.workloads
            .iter()
            .filter(|(_, r)| r.status == Status::Success)
            .map(|(id, _)| id)
            .collect()
    }

    /// A summary of failures, as Flux v1 words it; `None` if none failed.
    pub fn error(&self) -> Option<String> {
        let failed: Vec<(&ResourceId, &WorkloadResult)> = self
            .workloads
            .iter()
            .filter(|(_, r)| r.status == Status::Failed)
            .collect();
        match failed.as_slice() {
            [] => None,
            [(id, r)] => Some(format!("{id} failed: {}", r.error)),
            many => Some(format!(
                "Multiple workloads failed: {}",
                many.iter()
                    .map(|(id, _)| id.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }
}
