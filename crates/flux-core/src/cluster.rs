//! The cluster as flux-core sees it: the `Cluster` seam.
//!
//! The trait is small on purpose: read the live objects Flux reasons about,
//! apply objects, delete objects, and find pull secrets. Everything that
//! decides *what* to apply or delete is pure code elsewhere in flux-core;
//! implementations (flux-kube on kube-rs, and the in-memory cluster of the
//! `testing` feature) only carry decisions out.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::Value;

use crate::fence::WriteGate;
use crate::frozen::{Frozen, TooLarge};
use crate::registry::Credentials;
use crate::resource::ResourceId;

/// The namespaces Flux may read and write (`--k8s-allow-namespace`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Namespaces {
    /// No restriction.
    #[default]
    All,
    /// Only these namespaces.
    Only(BTreeSet<String>),
}

impl Namespaces {
    /// The restriction given by a list of namespaces (empty means all).
    pub fn from_list<S: AsRef<str>>(list: &[S]) -> Self {
        if list.is_empty() {
            Namespaces::All
        } else {
            Namespaces::Only(list.iter().map(|s| s.as_ref().to_owned()).collect())
        }
    }

    /// Whether objects in `namespace` may be touched.
    pub fn allows(&self, namespace: &str) -> bool {
        match self {
            Namespaces::All => true,
            Namespaces::Only(set) => set.contains(namespace),
        }
    }
}

/// An object as it is in the cluster.
///
/// The object is held frozen and shared: an adapter answering from a watch
/// cache hands out the cached document itself, so a sync reads ten thousand
/// objects without copying one.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveObject {
    /// Its ID.
    pub id: ResourceId,
    /// The object as the API server returns it; adapters may leave out
    /// `metadata.managedFields`, which no decision here reads.
    pub object: Arc<Frozen>,
}

impl LiveObject {
    /// The live object `object` with ID `id`, frozen.
    pub fn new(id: ResourceId, object: &Value) -> Result<LiveObject, TooLarge> {
        Ok(LiveObject {
            id,
            object: Arc::new(Frozen::new(object)?),
        })
    }
}

/// An object to apply: exactly the fields Flux wants to own.
///
/// Held frozen: a first sync plans every object of the repository at once.
#[derive(Debug, Clone, PartialEq)]
pub struct ApplyObject {
    /// Its ID.
    pub id: ResourceId,
    /// The object, namespace filled in, GC mark and checksum added.
    pub object: Frozen,
}

impl ApplyObject {
    /// The object `object` to apply as `id`, frozen.
    pub fn new(id: ResourceId, object: &Value) -> Result<ApplyObject, TooLarge> {
        Ok(ApplyObject {
            id,
            object: Frozen::new(object)?,
        })
    }
}

/// What applying one object did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Applied {
    /// The object did not exist and was created.
    Created,
    /// The object existed and was changed.
    Configured,
    /// The object already matched; nothing was written.
    Unchanged,
}

/// The kind of a cluster failure, for callers that must tell them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum ClusterErrorKind {
    /// The object does not exist.
    NotFound,
    /// The identity may not do this (HTTP 403).
    Forbidden,
    /// A write conflicted with another (HTTP 409).
    Conflict,
    /// The API server refused the object (HTTP 422 and similar).
    Invalid,
    /// The API server could not be reached or kept failing.
    Unavailable,
    /// A write gate refused the write before it was sent
    /// ([`crate::fence::WriteGate`]): this process may no longer write.
    Fenced,
    /// Anything else.
    Other,
}

/// A cluster operation failed.
#[derive(Debug, thiserror::Error)]
#[error("{}{message}", id.as_ref().map(|id| format!("{id}: ")).unwrap_or_default())]
pub struct ClusterError {
    /// What sort of failure.
    pub kind: ClusterErrorKind,
    /// The object concerned, if any.
    pub id: Option<ResourceId>,
    /// What went wrong.
    pub message: String,
    /// The underlying error.
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl ClusterError {
    /// An error of `kind` about `id`.
    pub fn new(kind: ClusterErrorKind, id: Option<ResourceId>, message: impl Into<String>) -> Self {
        ClusterError {
            kind,
            id,
            message: message.into(),
            source: None,
        }
    }
}

/// The result of an operation on several objects, one entry per object, in
/// the order they were given.
pub type PerObject<T> = Vec<(ResourceId, Result<T, ClusterError>)>;

/// Every one of `ids` refused by a write gate, saying `why`.
pub fn fenced<'a, T>(ids: impl Iterator<Item = &'a ResourceId>, why: &str) -> PerObject<T> {
    ids.map(|id| (id.clone(), Err(fenced_error(id, why))))
        .collect()
}

/// The error of one write a gate refused.
pub fn fenced_error(id: &ResourceId, why: &str) -> ClusterError {
    ClusterError::new(
        ClusterErrorKind::Fenced,
        Some(id.clone()),
        format!("not written: {why}"),
    )
}

/// The live objects a sync plans from (see [`Cluster::read_live`]).
#[derive(Debug, Clone, Default)]
pub struct LiveRead {
    /// As [`Cluster::export_workloads`] returns them.
    pub exported: Vec<LiveObject>,
    /// As [`Cluster::list_managed`] returns them, possibly without the
    /// objects `exported` holds.
    pub managed: Vec<LiveObject>,
}

/// A Kubernetes cluster, as far as Flux needs one.
#[async_trait::async_trait]
pub trait Cluster: Send + Sync {
    /// Namespaces and workloads (Deployment, DaemonSet, StatefulSet,
    /// CronJob, HelmRelease…) in the allowed namespaces.
    async fn export_workloads(
        &self,
        namespaces: &Namespaces,
    ) -> Result<Vec<LiveObject>, ClusterError>;

    /// Every object carrying the label `label` (any value), across all kinds
    /// the server serves, limited to the allowed namespaces (cluster-scoped
    /// objects included).
    async fn list_managed(
        &self,
        label: &str,
        namespaces: &Namespaces,
    ) -> Result<Vec<LiveObject>, ClusterError>;

    /// What a sync reads before planning: [`Cluster::export_workloads`]
    /// and [`Cluster::list_managed`] for `label`. The default makes both
    /// calls. A cluster that reads both from one snapshot (a watch cache)
    /// may leave out of `managed` the objects `exported` already holds, so
    /// each is read once; the planner reads copies of one object alike.
    async fn read_live(
        &self,
        label: &str,
        namespaces: &Namespaces,
    ) -> Result<LiveRead, ClusterError> {
        let exported = self.export_workloads(namespaces).await?;
        let managed = self.list_managed(label, namespaces).await?;
        Ok(LiveRead { exported, managed })
    }

    /// Applies objects (server-side apply, Flux's field manager), in order.
    async fn apply(&self, objects: &[ApplyObject]) -> PerObject<Applied>;

    /// Deletes objects; an object already gone counts as deleted.
    async fn delete(&self, ids: &[ResourceId]) -> PerObject<()>;

    /// [`Cluster::apply`], asking `gate` before each write: the objects
    /// not yet written once it refuses fail as
    /// [`ClusterErrorKind::Fenced`]. The default asks once, before the
    /// whole call; an adapter that writes object by object asks before each.
    async fn apply_gated(
        &self,
        objects: &[ApplyObject],
        gate: &dyn WriteGate,
    ) -> PerObject<Applied> {
        match gate.check() {
            Ok(()) => self.apply(objects).await,
            Err(why) => fenced(objects.iter().map(|o| &o.id), &why),
        }
    }

    /// [`Cluster::delete`], asking `gate` as [`Cluster::apply_gated`] does.
    async fn delete_gated(&self, ids: &[ResourceId], gate: &dyn WriteGate) -> PerObject<()> {
        match gate.check() {
            Ok(()) => self.delete(ids).await,
            Err(why) => fenced(ids.iter(), &why),
        }
    }

    /// Registry credentials from the pull secrets of a workload and of its
    /// service account.
    async fn image_pull_secrets(&self, workload: &ResourceId) -> Result<Credentials, ClusterError>;

    /// The scope of every kind the cluster serves, so that resources of
    /// kinds defined outside the repository (a CRD installed by other
    /// means) can be placed. The default knows nothing beyond flux-core's
    /// built-in table.
    async fn scopes(&self) -> Result<crate::resource::ScopeTable, ClusterError> {
        Ok(crate::resource::ScopeTable::empty())
    }
}
