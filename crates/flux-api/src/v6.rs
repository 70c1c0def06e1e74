//! Types of Flux API version 6: workloads and their images
//! (`list-workloads`, `list-images`), the git configuration and deploy key,
//! and the legacy `update-images` query.
//!
//! Fields are named as Flux v1 writes them (Go field names, or the `json`
//! tags where it has them). Resource IDs and image references are strings
//! exactly as sent; accessors parse them with flux-core.

use std::collections::BTreeMap;

use flux_core::resource::{ParseIdError, ResourceId};
use serde::{Deserialize, Serialize};

use crate::git::GitRepoStatus;
use crate::image::ImageInfo;
use crate::routes::{QueryError, query};
use crate::ssh::PublicKey;
use crate::update::{Cause, ReleaseImageSpec, ReleaseKind, Spec, Update};
use crate::wire::{self, open_string_enum};

open_string_enum! {
    /// Flux v1's `v6.ReadOnlyReason`: why a workload cannot be changed
    /// through the API. The empty string means it can.
    pub enum ReadOnlyReason {
        /// `""`: not read-only.
        Ok = "",
        /// The workload is not in the repository.
        NotInRepo = "NotInRepo",
        /// A system workload.
        System = "System",
        /// The daemon has no repository configured.
        NoRepo = "NoRepo",
        /// The repository is not ready yet.
        NotReady = "NotReady",
        /// The daemon runs with `--git-readonly`.
        ReadOnlyMode = "ReadOnlyMode",
    }
}

/// Go's zero value, `""`: not read-only.
#[allow(
    clippy::derivable_impls,
    reason = "the enum's derives are fixed by open_string_enum!"
)]
impl Default for ReadOnlyReason {
    fn default() -> Self {
        ReadOnlyReason::Ok
    }
}

/// Flux v1's `cluster.RolloutStatus`: pod counts of a workload's rollout.
/// `Messages` is `null` when empty, as Flux v1 writes it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(default)]
pub struct RolloutStatus {
    /// Pods wanted by the spec.
    #[serde(rename = "Desired")]
    pub desired: i32,
    /// Pods on the current pod spec.
    #[serde(rename = "Updated")]
    pub updated: i32,
    /// Ready pods.
    #[serde(rename = "Ready")]
    pub ready: i32,
    /// Available pods.
    #[serde(rename = "Available")]
    pub available: i32,
    /// Pods on an older pod spec.
    #[serde(rename = "Outdated")]
    pub outdated: i32,
    /// Why the rollout does not progress, if it does not.
    #[serde(
        rename = "Messages",
        serialize_with = "wire::null_if_empty",
        deserialize_with = "wire::nullable"
    )]
    pub messages: Vec<String>,
}

/// Flux v1's `v6.Container`: a container, its current image and the images
/// available to it. `Current` and `LatestFiltered` are always written (an
/// empty info is `{"ID":"","Labels":{}}`); the other fields are left out
/// when empty or zero. Which fields are filled depends on the
/// `containerFields` query of `list-images` ([`CONTAINER_FIELDS`]).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(default)]
pub struct Container {
    /// The container name.
    #[serde(rename = "Name", skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// The image it runs.
    #[serde(rename = "Current", deserialize_with = "wire::nullable")]
    pub current: ImageInfo,
    /// The newest image its tag filter allows.
    #[serde(rename = "LatestFiltered", deserialize_with = "wire::nullable")]
    pub latest_filtered: ImageInfo,
    /// Every image of the repository, newest first (ignoring the filter).
    #[serde(
        rename = "Available",
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "wire::nullable"
    )]
    pub available: Vec<ImageInfo>,
    /// Why the available images are not known.
    #[serde(rename = "AvailableError", skip_serializing_if = "String::is_empty")]
    pub available_error: String,
    /// How many images the repository has.
    #[serde(rename = "AvailableImagesCount", skip_serializing_if = "wire::is_zero")]
    pub available_images_count: usize,
    /// How many of them are newer than the current one.
    #[serde(
        rename = "NewAvailableImagesCount",
        skip_serializing_if = "wire::is_zero"
    )]
    pub new_available_images_count: usize,
    /// How many images the tag filter allows.
    #[serde(rename = "FilteredImagesCount", skip_serializing_if = "wire::is_zero")]
    pub filtered_images_count: usize,
    /// How many of those are newer than the current one.
    #[serde(
        rename = "NewFilteredImagesCount",
        skip_serializing_if = "wire::is_zero"
    )]
    pub new_filtered_images_count: usize,
}

/// The [`Container`] fields a `containerFields` query may name; all of
/// them when the query is empty. Any other name is an error (Flux v1:
/// `<name> is an invalid field`).
pub const CONTAINER_FIELDS: [&str; 9] = [
    "Name",
    "Current",
    "LatestFiltered",
    "Available",
    "AvailableError",
    "AvailableImagesCount",
    "NewAvailableImagesCount",
    "FilteredImagesCount",
    "NewFilteredImagesCount",
];

/// The message of the `AvailableError` Flux v1 writes when the registry
/// cache has nothing for an image.
pub const NO_IMAGE_DATA: &str = "image data not available";

/// Flux v1's `v6.ImageStatus`: one workload's containers, with images
/// (`list-images`). `Containers` is `null` when empty, as Flux v1 writes it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(default)]
pub struct ImageStatus {
    /// The workload ID.
    #[serde(rename = "ID")]
    pub id: String,
    /// Its containers.
    #[serde(
        rename = "Containers",
        serialize_with = "wire::null_if_empty",
        deserialize_with = "wire::nullable"
    )]
    pub containers: Vec<Container>,
}

impl ImageStatus {
    /// Parses [`ImageStatus::id`].
    pub fn resource_id(&self) -> Result<ResourceId, ParseIdError> {
        ResourceId::parse(&self.id)
    }
}

/// Flux v1's `v6.ControllerStatus`: one workload as `list-workloads` shows
/// it.
///
/// `Containers` is always a list (`[]` when empty); `Labels` is `null` when
/// empty and `Policies` `{}`, as Flux v1 writes them. `Antecedent` is `""`
/// when the workload was not made by another resource.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(default)]
pub struct ControllerStatus {
    /// The workload ID.
    #[serde(rename = "ID")]
    pub id: String,
    /// Its containers, each with only `Name` and `Current` filled.
    #[serde(rename = "Containers", deserialize_with = "wire::nullable")]
    pub containers: Vec<Container>,
    /// Why it cannot be changed, if it cannot.
    #[serde(rename = "ReadOnly")]
    pub read_only: ReadOnlyReason,
    /// A status summary (`ready`, `updating`, `error`, …).
    #[serde(rename = "Status")]
    pub status: String,
    /// Its rollout.
    #[serde(rename = "Rollout", deserialize_with = "wire::nullable")]
    pub rollout: RolloutStatus,
    /// The error of its last sync, if any.
    #[serde(rename = "SyncError")]
    pub sync_error: String,
    /// The resource that made it (a HelmRelease), or `""`.
    #[serde(rename = "Antecedent")]
    pub antecedent: String,
    /// Its labels.
    #[serde(
        rename = "Labels",
        serialize_with = "wire::null_if_empty",
        deserialize_with = "wire::nullable"
    )]
    pub labels: BTreeMap<String, String>,
    /// Whether the `automated` policy is on.
    #[serde(rename = "Automated")]
    pub automated: bool,
    /// Whether the `locked` policy is on.
    #[serde(rename = "Locked")]
    pub locked: bool,
    /// Whether the `ignore` policy is on.
    #[serde(rename = "Ignore")]
    pub ignore: bool,
    /// All its policies, name → value.
    #[serde(rename = "Policies", deserialize_with = "wire::nullable")]
    pub policies: BTreeMap<String, String>,
}

impl ControllerStatus {
    /// Parses [`ControllerStatus::id`].
    pub fn resource_id(&self) -> Result<ResourceId, ParseIdError> {
        ResourceId::parse(&self.id)
    }
}

/// Flux v1's `v6.GitRemoteConfig`: the repository URL (with any password
/// removed), branch and paths (comma-separated in one string, `""` for the
/// repository root).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(default)]
pub struct GitRemoteConfig {
    /// The URL fluxd clones.
    pub url: String,
    /// The branch it syncs.
    pub branch: String,
    /// The `--git-path`s joined with `,`.
    pub path: String,
}

impl GitRemoteConfig {
    /// The paths, split (empty for the repository root).
    pub fn paths(&self) -> Vec<&str> {
        self.path.split(',').filter(|p| !p.is_empty()).collect()
    }
}

/// Flux v1's `v6.GitConfig`, the reply of `POST /v9/git-repo-config`. Note
/// the key `errors` (plural) for the one error string.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(default)]
pub struct GitConfig {
    /// Where the repository is.
    #[serde(deserialize_with = "wire::nullable")]
    pub remote: GitRemoteConfig,
    /// The deploy key.
    #[serde(rename = "publicSSHKey", deserialize_with = "wire::nullable")]
    pub public_ssh_key: PublicKey,
    /// How far the daemon got with the repository.
    pub status: GitRepoStatus,
    /// Why it is not further, or `""`.
    #[serde(rename = "errors")]
    pub error: String,
}

/// The query of the legacy `POST /v6/update-images` (old fluxctls'
/// release): `service` (repeatable), `image`, `kind` (all three required),
/// `exclude` (repeatable), `user`, `message`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UpdateImagesQuery {
    /// Workload specs (IDs or `<all>`).
    pub services: Vec<String>,
    /// The image with a tag, or `<all latest>`.
    pub image: String,
    /// `plan` or `execute`.
    pub kind: String,
    /// Workloads left out.
    pub excludes: Vec<String>,
    /// The cause's user.
    pub user: String,
    /// The cause's message.
    pub message: String,
}

impl UpdateImagesQuery {
    /// Reads the query string (without `?`). Fails when `service`, `image`
    /// or `kind` is missing, as Flux v1's route then does not match.
    pub fn from_query(q: &str) -> Result<Self, QueryError> {
        let mut out = UpdateImagesQuery::default();
        let (mut image, mut kind) = (None, None);
        for (k, v) in form_urlencoded::parse(q.as_bytes()) {
            match k.as_ref() {
                query::SERVICE => out.services.push(v.into_owned()),
                query::IMAGE => image = image.or(Some(v.into_owned())),
                query::KIND => kind = kind.or(Some(v.into_owned())),
                query::EXCLUDE => out.excludes.push(v.into_owned()),
                query::USER => out.user = v.into_owned(),
                query::MESSAGE => out.message = v.into_owned(),
                _ => {}
            }
        }
        if out.services.is_empty() {
            return Err(QueryError::Missing(query::SERVICE));
        }
        out.image = image.ok_or(QueryError::Missing(query::IMAGE))?;
        out.kind = kind.ok_or(QueryError::Missing(query::KIND))?;
        Ok(out)
    }

    /// The query string (without `?`).
    pub fn to_query(&self) -> String {
        let mut s = form_urlencoded::Serializer::new(String::new());
        for e in &self.excludes {
            s.append_pair(query::EXCLUDE, e);
        }
        s.append_pair(query::IMAGE, &self.image);
        s.append_pair(query::KIND, &self.kind);
        if !self.message.is_empty() {
            s.append_pair(query::MESSAGE, &self.message);
        }
        for svc in &self.services {
            s.append_pair(query::SERVICE, svc);
        }
        if !self.user.is_empty() {
            s.append_pair(query::USER, &self.user);
        }
        s.finish()
    }

    /// The `image` update this legacy request stands for. The kind must be
    /// `plan` or `execute`; IDs and the image are checked by
    /// [`ReleaseImageSpec::to_core`].
    pub fn to_spec(&self) -> Result<Spec, QueryError> {
        let kind = match self.kind.as_str() {
            "plan" => ReleaseKind::Plan,
            "execute" => ReleaseKind::Execute,
            other => {
                return Err(QueryError::Invalid {
                    param: query::KIND,
                    value: other.to_owned(),
                    reason: "expected plan or execute".to_owned(),
                });
            }
        };
        Ok(Spec::new(
            Cause {
                message: self.message.clone(),
                user: self.user.clone(),
            },
            Update::Image(ReleaseImageSpec {
                service_specs: self.services.clone(),
                image_spec: self.image.clone(),
                kind,
                excludes: self.excludes.clone(),
                force: false,
            }),
        ))
    }
}

/// The query of `GET /v6/services`: `namespace`, always sent (empty: all).
pub fn list_services_query(namespace: &str) -> String {
    form_urlencoded::Serializer::new(String::new())
        .append_pair(query::NAMESPACE, namespace)
        .finish()
}

/// The query of `GET /v6/images`: `service`, a workload ID or `<all>`.
pub fn list_images_query(spec: &crate::update::ResourceSpec) -> String {
    form_urlencoded::Serializer::new(String::new())
        .append_pair(query::SERVICE, &spec.to_string())
        .finish()
}
