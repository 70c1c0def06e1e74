//! What commands print, in one shape whether it came from fluxd or from a
//! checkout: Flux v1's JSON shapes and key names (`ID`, `Containers`,
//! `Current`, …, PascalCase throughout), so `-o json` output is the same
//! for every command and for both modes, and scripts written for Flux v1's
//! `fluxctl -o json` keep working.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

/// One workload, as `list-workloads` shows it (Flux v1's ControllerStatus).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Workload {
    /// `namespace:kind/name`.
    #[serde(rename = "ID")]
    pub id: String,
    /// Containers in Flux v1's order.
    pub containers: Vec<Container>,
    /// Why fluxd cannot change it (`NotInRepo`, `System`, …), or empty.
    pub read_only: String,
    /// Rollout status from fluxd (`ready`, `updating`, …); empty offline.
    pub status: String,
    /// Replica counts of the rollout.
    pub rollout: Rollout,
    /// The last sync error of this workload, if any.
    pub sync_error: String,
    /// The resource that generated it (a HelmRelease), if any.
    pub antecedent: String,
    /// The workload's labels.
    pub labels: BTreeMap<String, String>,
    /// `automated` policy.
    pub automated: bool,
    /// `locked` policy.
    pub locked: bool,
    /// `ignore` policy.
    pub ignore: bool,
    /// Every policy with its value.
    pub policies: BTreeMap<String, String>,
    /// Where the workload is defined (`file:line`; offline only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Why its containers or policies could not be read, if they could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Replica counts of a rollout (Flux v1's RolloutStatus).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Rollout {
    /// Replicas wanted.
    pub desired: i64,
    /// Replicas running the new pod template.
    pub updated: i64,
    /// Replicas ready.
    pub ready: i64,
    /// Replicas available.
    pub available: i64,
    /// Replicas still on an old template.
    pub outdated: i64,
    /// Problems reported by the rollout.
    pub messages: Vec<String>,
}

/// A container and its images.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Container {
    /// The container's name.
    pub name: String,
    /// The image it runs.
    pub current: Image,
    /// The newest image its tag filter allows, if known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latest_filtered: Option<Image>,
    /// Images in the registry, newest first (`list-images` only).
    pub available: Vec<Image>,
    /// Why the available images are not known.
    pub available_error: String,
    /// How many images the registry has.
    pub available_images_count: usize,
    /// How many are newer than the current one.
    pub new_available_images_count: usize,
    /// How many the tag filter allows.
    pub filtered_images_count: usize,
    /// How many allowed ones are newer than the current one.
    pub new_filtered_images_count: usize,
}

/// An image reference with what the registry says about it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Image {
    /// The reference, as written.
    #[serde(rename = "ID")]
    pub id: String,
    /// Manifest digest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// Creation time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<DateTime<Utc>>,
    /// Why the reference is not valid, if it is not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One workload's images (Flux v1's ImageStatus).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct WorkloadImages {
    /// `namespace:kind/name`.
    #[serde(rename = "ID")]
    pub id: String,
    /// Containers with current and available images.
    pub containers: Vec<Container>,
    /// Why the containers could not be read, if they could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What a release or policy change did to one workload.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Outcome {
    /// `namespace:kind/name`.
    #[serde(rename = "ID")]
    pub id: String,
    /// `success`, `failed`, `skipped` or `ignored`.
    pub status: String,
    /// Why, for anything but success.
    pub error: String,
    /// Container changes.
    pub per_container: Vec<ContainerChange>,
}

/// One container's image change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerChange {
    /// The container.
    pub container: String,
    /// The image it runs.
    pub current: String,
    /// The image it will run.
    pub target: String,
}

/// A resource a sync would apply (`list-manifests`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Manifest {
    /// `namespace:kind/name`.
    #[serde(rename = "ID")]
    pub id: String,
    /// `file:line`.
    pub source: String,
}

/// The outcomes of a release or policy calculation, in ID order.
pub fn outcomes(r: &flux_core::release::ReleaseResult) -> Vec<Outcome> {
    {
        r.workloads
            .iter()
            .map(|(id, w)| Outcome {
                id: id.to_string(),
                status: serde_json::to_value(w.status)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                error: w.error.clone(),
                per_container: w
                    .per_container
                    .iter()
                    .map(|c| ContainerChange {
                        container: c.container.clone(),
                        current: c.current.to_string(),
                        target: c.target.to_string(),
                    })
                    .collect(),
            })
            .collect()
    }
}
