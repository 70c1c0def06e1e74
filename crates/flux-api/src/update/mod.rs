//! Update requests (`POST /v9/update-manifests`) and their results.
//!
//! Flux v1's `update.Spec` is a tagged union written as
//! `{"type":T,"cause":{"Message":…,"User":…},"spec":S}`, where `T` says how
//! to read `S`:
//!
//! | `type` | `spec` | sent by |
//! |---|---|---|
//! | `image` | [`ReleaseImageSpec`] | `fluxctl release` |
//! | `containers` | [`ReleaseContainersSpec`] | `fluxctl release --interactive` |
//! | `policy` | [`PolicyUpdates`] (ID → `{add,remove}`) | `fluxctl policy`, `automate`, `lock`, … |
//! | `auto` | [`Automated`] | the daemon's own automation (seen in job results and git notes) |
//! | `sync` | [`ManualSync`] (`{}`) | `fluxctl sync` |
//!
//! [`Spec`] holds the cause and an [`Update`] enum; an unknown `type` is an
//! error naming it, as in Flux v1. Flux v1 also read a missing `spec` of a
//! `sync` as no spec at all; so does this crate, while for the other types a
//! missing or `null` spec is an error (Flux v1 would have queued an empty
//! release).

mod release;
mod result;

use serde::de::Error as _;
use serde::ser::SerializeStruct;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use release::{
    Automated, AutomatedChange, ContainersSpecError, IMAGE_SPEC_LATEST, ImageSpec, ManualSync,
    ReleaseContainersSpec, ReleaseImageSpec, ReleaseKind, ResourceSpec, SpecError,
    WorkloadContainer,
};
pub use result::{ContainerUpdate, UpdateResult, WorkloadResult, WorkloadUpdateStatus};

pub use crate::policy::PolicyUpdates;

/// The `type` of an image release.
pub const TYPE_IMAGE: &str = "image";
/// The `type` of a policy change.
pub const TYPE_POLICY: &str = "policy";
/// The `type` of an automated release.
pub const TYPE_AUTO: &str = "auto";
/// The `type` of a sync request.
pub const TYPE_SYNC: &str = "sync";
/// The `type` of a containers release.
pub const TYPE_CONTAINERS: &str = "containers";

/// The `User` of a cause written by the daemon's automation.
pub const USER_AUTOMATED: &str = "<automated>";

/// Flux v1's `update.Cause`: who asked and why (`--user`, `--message`).
/// Both fields are always written, empty when not given.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(default)]
pub struct Cause {
    /// The commit message to use, if any.
    #[serde(rename = "Message")]
    pub message: String,
    /// Who asked, `Name <email>` or a bare name.
    #[serde(rename = "User")]
    pub user: String,
}

/// One update request: its cause and what to change.
#[derive(Clone, Debug, PartialEq)]
pub struct Spec {
    /// Who asked and why.
    pub cause: Cause,
    /// What to change; decides the `type` written.
    pub spec: Update,
}

/// What an update request changes.
#[derive(Clone, Debug, PartialEq)]
pub enum Update {
    /// `image`: release an image (or the latest images) to workloads.
    Image(ReleaseImageSpec),
    /// `policy`: change the policies of workloads.
    Policy(PolicyUpdates),
    /// `auto`: release images found by automation.
    Auto(Automated),
    /// `sync`: fetch and sync now.
    Sync(ManualSync),
    /// `containers`: release given images to given containers.
    Containers(ReleaseContainersSpec),
}

impl Update {
    /// The `type` Flux v1 writes for this update.
    pub fn type_name(&self) -> &'static str {
        match self {
            Update::Image(_) => TYPE_IMAGE,
            Update::Policy(_) => TYPE_POLICY,
            Update::Auto(_) => TYPE_AUTO,
            Update::Sync(_) => TYPE_SYNC,
            Update::Containers(_) => TYPE_CONTAINERS,
        }
    }
}

impl Spec {
    /// A request with the given cause.
    pub fn new(cause: Cause, spec: Update) -> Self {
        Spec { cause, spec }
    }

    /// A sync request, as `fluxctl sync` sends it (empty cause).
    pub fn sync() -> Self {
        Spec::new(Cause::default(), Update::Sync(ManualSync {}))
    }

    /// The `type` written for this request.
    pub fn type_name(&self) -> &'static str {
        self.spec.type_name()
    }
}

impl Serialize for Spec {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Spec", 3)?;
        st.serialize_field("type", self.type_name())?;
        st.serialize_field("cause", &self.cause)?;
        match &self.spec {
            Update::Image(x) => st.serialize_field("spec", x)?,
            Update::Policy(x) => st.serialize_field("spec", x)?,
            Update::Auto(x) => st.serialize_field("spec", x)?,
            Update::Sync(x) => st.serialize_field("spec", x)?,
            Update::Containers(x) => st.serialize_field("spec", x)?,
        }
        st.end()
    }
}

impl<'de> Deserialize<'de> for Spec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Wire {
            #[serde(rename = "type", default)]
            kind: String,
            #[serde(default, deserialize_with = "crate::wire::nullable")]
            cause: Cause,
            #[serde(default)]
            spec: Option<serde_json::Value>,
        }
        let wire = Wire::deserialize(d)?;
        fn body<T: serde::de::DeserializeOwned, E: serde::de::Error>(
            kind: &str,
            spec: Option<serde_json::Value>,
        ) -> Result<T, E> {
            let value = spec
                .filter(|v| !v.is_null())
                .ok_or_else(|| E::custom(format!("update of type {kind:?} has no spec")))?;
            serde_json::from_value(value)
                .map_err(|e| E::custom(format!("spec of update type {kind:?}: {e}")))
        }
        let spec = match wire.kind.as_str() {
            TYPE_IMAGE => Update::Image(body(&wire.kind, wire.spec)?),
            TYPE_POLICY => Update::Policy(body(&wire.kind, wire.spec)?),
            TYPE_AUTO => Update::Auto(body(&wire.kind, wire.spec)?),
            TYPE_CONTAINERS => Update::Containers(body(&wire.kind, wire.spec)?),
            TYPE_SYNC => match wire.spec.filter(|v| !v.is_null()) {
                None => Update::Sync(ManualSync {}),
                Some(v) => Update::Sync(body(&wire.kind, Some(v))?),
            },
            "" => return Err(D::Error::custom("update has no type")),
            other => {
                return Err(D::Error::custom(format!(
                    "unknown update type {other:?} (known: image, policy, auto, sync, containers)"
                )));
            }
        };
        Ok(Spec {
            cause: wire.cause,
            spec,
        })
    }
}
