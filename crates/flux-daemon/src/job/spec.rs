//! What a job is asked to do, parsed from Flux v1's update spec.

use std::collections::BTreeMap;

use flux_core::ResourceId;
use flux_core::policy::PolicyUpdate;
use flux_core::release::{ContainersSpec, ReleaseSpec};

/// Flux v1's update spec as received (`{"type", "cause", "spec"}`), kept
/// as sent for the note on the commit and the job's status.
pub type UpdateSpec = flux_api::update::Spec;

/// Who asked, and why (Flux v1's `update.Cause`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cause {
    /// `Name <email>` of the user, or empty.
    pub user: String,
    /// Their message, or empty.
    pub message: String,
}

/// A job.
#[derive(Debug, Clone)]
pub enum JobSpec {
    /// Release images (`fluxctl release`, also with `--dry-run`).
    Release {
        /// What to release.
        spec: ReleaseSpec,
        /// Who asked.
        cause: Cause,
        /// The request as sent.
        raw: UpdateSpec,
    },
    /// Set specific containers' images (Flux v1's `containers` update).
    Containers {
        /// What to set.
        spec: ContainersSpec,
        /// Who asked.
        cause: Cause,
        /// The request as sent.
        raw: UpdateSpec,
    },
    /// Change policies (`fluxctl policy`, `automate`, `lock`, …).
    Policy {
        /// Changes per workload.
        updates: BTreeMap<ResourceId, PolicyUpdate>,
        /// Who asked.
        cause: Cause,
        /// The request as sent.
        raw: UpdateSpec,
    },
    /// Fetch and sync now (`fluxctl sync`).
    Sync {
        /// Who asked.
        cause: Cause,
    },
}

impl JobSpec {
    /// Who asked.
    pub fn cause(&self) -> &Cause {
        match self {
            JobSpec::Release { cause, .. }
            | JobSpec::Containers { cause, .. }
            | JobSpec::Policy { cause, .. }
            | JobSpec::Sync { cause } => cause,
        }
    }

    /// The request as sent, if kept.
    pub fn raw(&self) -> Option<&UpdateSpec> {
        match self {
            JobSpec::Release { raw, .. }
            | JobSpec::Containers { raw, .. }
            | JobSpec::Policy { raw, .. } => Some(raw),
            JobSpec::Sync { .. } => None,
        }
    }

    /// A label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            JobSpec::Release { .. } => "release",
            JobSpec::Containers { .. } => "containers",
            JobSpec::Policy { .. } => "policy",
            JobSpec::Sync { .. } => "sync",
        }
    }
}

impl JobSpec {
    /// The job an API request asks for. The error says what is wrong with
    /// the request, for a 400/422 answer.
    pub fn from_api(spec: UpdateSpec) -> Result<JobSpec, String> {
        use flux_api::update::Update;
        let cause = Cause {
            user: spec.cause.user.clone(),
            message: spec.cause.message.clone(),
        };
        Ok(match &spec.spec {
            Update::Image(release) => JobSpec::Release {
                spec: release.to_core().map_err(|e| e.to_string())?,
                cause,
                raw: spec,
            },
            Update::Containers(containers) => JobSpec::Containers {
                spec: containers.to_core().map_err(|e| e.to_string())?,
                cause,
                raw: spec,
            },
            Update::Policy(updates) => {
                let mut parsed = BTreeMap::new();
                for (id, update) in updates {
                    let id: ResourceId = id.parse().map_err(|e| format!("workload {id:?}: {e}"))?;
                    let update = update.to_core().map_err(|e| format!("{id}: {e}"))?;
                    parsed.insert(id, update);
                }
                JobSpec::Policy {
                    updates: parsed,
                    cause,
                    raw: spec,
                }
            }
            Update::Sync(_) => JobSpec::Sync { cause },
            Update::Auto(_) => {
                return Err(
                    "automated releases are made by fluxd's own automation, not requested".into(),
                );
            }
        })
    }

    /// Whether the job only plans (a release `--dry-run`): it writes nothing
    /// and runs at once instead of waiting in the queue.
    pub fn is_plan(&self) -> bool {
        use flux_core::release::ReleaseKind;
        match self {
            JobSpec::Release { spec, .. } => spec.kind == ReleaseKind::Plan,
            JobSpec::Containers { spec, .. } => spec.kind == ReleaseKind::Plan,
            _ => false,
        }
    }
}
