//! The in-memory cluster's journal of calls and its failures on demand.

use crate::cluster::{Applied, ClusterError, ClusterErrorKind};
use crate::resource::ResourceId;

/// An operation of the [`Cluster`](crate::Cluster) trait, for failures on demand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// [`Cluster::export_workloads`](crate::Cluster::export_workloads).
    ExportWorkloads,
    /// [`Cluster::list_managed`](crate::Cluster::list_managed).
    ListManaged,
    /// [`Cluster::apply`](crate::Cluster::apply), per object.
    Apply,
    /// [`Cluster::delete`](crate::Cluster::delete), per object.
    Delete,
    /// [`Cluster::image_pull_secrets`](crate::Cluster::image_pull_secrets).
    ImagePullSecrets,
}

/// One call on the cluster, as its journal records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    /// `export_workloads`.
    ExportWorkloads,
    /// `list_managed` with this label.
    ListManaged {
        /// The label asked for.
        label: String,
    },
    /// An object given to `apply`, and what became of it.
    Apply {
        /// The object.
        id: ResourceId,
        /// What applying did, or the kind of failure.
        result: Result<Applied, ClusterErrorKind>,
    },
    /// An object given to `delete`, and whether it was there.
    Delete {
        /// The object.
        id: ResourceId,
        /// Whether it existed, or the kind of failure.
        result: Result<bool, ClusterErrorKind>,
    },
    /// `image_pull_secrets` of a workload.
    ImagePullSecrets {
        /// The workload.
        workload: ResourceId,
    },
}

impl Call {
    /// The object an apply or delete tried to write, failed or not.
    pub fn written(&self) -> Option<&ResourceId> {
        match self {
            Call::Apply { id, .. } | Call::Delete { id, .. } => Some(id),
            _ => None,
        }
    }
}

/// A failure to inject: calls of `operation` (on `id`, if set), after the
/// first `after` of them, fail with `kind`, `times` times or forever.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The operation that fails.
    pub operation: Operation,
    /// Only for this object (apply, delete, pull secrets); `None` for all.
    pub id: Option<ResourceId>,
    /// The error kind returned.
    pub kind: ClusterErrorKind,
    /// How many more times it fails; `None` for always.
    pub times: Option<usize>,
    /// How many matching calls still succeed before it starts failing.
    pub after: usize,
}

impl Failure {
    /// Every call of `operation` fails with `kind`.
    pub fn new(operation: Operation, kind: ClusterErrorKind) -> Self {
        Failure {
            operation,
            id: None,
            kind,
            times: None,
            after: 0,
        }
    }

    /// Only calls about `id` fail.
    pub fn on(mut self, id: ResourceId) -> Self {
        self.id = Some(id);
        self
    }

    /// Only the next `n` matching calls fail.
    pub fn times(mut self, n: usize) -> Self {
        self.times = Some(n);
        self
    }

    /// The first `n` matching calls succeed (e.g. fail the second
    /// `list_managed` of a sync, the one after applying).
    pub fn after(mut self, n: usize) -> Self {
        self.after = n;
        self
    }
}

/// Injected failures, checked on every call.
#[derive(Debug, Default)]
pub(super) struct Failures(Vec<Failure>);

impl Failures {
    pub(super) fn push(&mut self, failure: Failure) {
        self.0.push(failure);
    }

    pub(super) fn clear(&mut self) {
        self.0.clear();
    }

    /// The injected failure for this call, if any (and counts it down).
    pub(super) fn check(
        &mut self,
        operation: Operation,
        id: Option<&ResourceId>,
    ) -> Option<ClusterError> {
        let index = self
            .0
            .iter()
            .position(|f| f.operation == operation && (f.id.is_none() || f.id.as_ref() == id))?;
        let failure = &mut self.0[index];
        if failure.after > 0 {
            failure.after -= 1;
            return None;
        }
        let kind = failure.kind;
        if let Some(times) = &mut failure.times {
            *times -= 1;
            if *times == 0 {
                self.0.remove(index);
            }
        }
        Some(ClusterError::new(
            kind,
            id.cloned(),
            format!("injected {kind:?} failure of {operation:?}"),
        ))
    }
}
