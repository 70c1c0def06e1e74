//! Sync planning and conservative garbage collection.
//!
//! This is the code Flux users trust with production clusters, so it is pure
//! and small: [`plan_sync`] turns the resources read from git and the live
//! objects read from the cluster into a [`SyncPlan`] (what to apply, in which
//! order, what to skip and why, and what garbage collection would delete),
//! and [`run`] carries a plan out against any [`Cluster`](crate::Cluster),
//! refusing to delete anything after any error.
//!
//! The rules, and where they come from:
//!
//! - Every applied object is exactly the git document, plus its namespace
//!   (when git leaves it to the default), the GC mark label
//!   [`GC_MARK_LABEL`] and the checksum annotation [`CHECKSUM_ANNOTATION`].
//!   No other field is set, so a field git does not mention (an absent
//!   `spec.replicas`, say) stays with whoever owns it (an HPA).
//! - Objects are applied in three batches: Namespaces, then
//!   CustomResourceDefinitions, then the rest in Flux v1's kind order
//!   (ServiceAccounts and Services before ConfigMaps before workloads), each
//!   batch in a deterministic order.
//! - A resource is skipped, with the reason, when it is ignored in git
//!   (`fluxcd.io/ignore: "true"`), ignored on the cluster (the live object has
//!   that annotation; the planner sees the objects `export_workloads` and
//!   `list_managed` return), outside the allowed namespaces, defined by
//!   another source of the same daemon too ([`find_overlaps`],
//!   [`SyncOptions::overlaps`]), or already up to
//!   date (every field git sets already has git's value in the form the
//!   server stores it: a Secret's `stringData` as `data` ([`as_stored`]),
//!   no namespace on a cluster-scoped object; and the object carries this
//!   sync's mark and checksum, or was last applied by Flux v1 from this
//!   very document: its [`LAST_APPLIED_ANNOTATION`] record is the document
//!   with Flux v1's metadata, so switching from Flux v1 re-applies only what
//!   git changed since). An `ignore` annotation Flux
//!   cannot read (`"True"`, two keys that disagree) skips the resource and
//!   blocks GC when it is in git, and counts as `"true"` on the cluster.
//! - Garbage collection deletes a live object only if it carries this sync
//!   set's mark for its own ID, its ID is no longer in git (skipped resources
//!   count as in git), it is not ignored (`"true"` or `"sync_only"`), it is
//!   inside the allowed namespaces, it has no owner, and loading and applying
//!   raised no error at all. Namespaces and CustomResourceDefinitions, whose
//!   deletion takes everything in them along, are only collected when
//!   [`SyncOptions::gc_cascading`] is set. Dry-run reports and deletes
//!   nothing.
//!
//! Where this is stricter than Flux v1: v1 deleted after apply errors, and
//! collected namespaces (with their contents) and CRDs (with every custom
//! resource) without asking. Where it sees less: v1 read the `ignore`
//! annotation on every live object it could list; here only on the objects
//! the planner is given (Namespaces, workloads, and objects carrying a GC
//! mark), so an object of another kind that no Flux applied, annotated by
//! hand and also in git, is applied.
//!
//! ```
//! use flux_core::ScopeTable;
//! use flux_core::manifest::{FileSet, LoadOptions, parse_files};
//! use flux_core::sync::{GcMode, SyncOptions, SyncSetName, plan_sync, run};
//! use flux_core::testing::{MemoryCluster, block_on};
//!
//! let mut files = FileSet::new();
//! files.insert("app.yaml", "\
//! apiVersion: v1
//! kind: Namespace
//! metadata: {name: demo}
//! ---
//! apiVersion: v1
//! kind: ConfigMap
//! metadata: {name: settings, namespace: demo}
//! data: {colour: blue}
//! ");
//! let desired = parse_files(&files, &["".into()], &ScopeTable::builtin(), &LoadOptions::default()).unwrap();
//! let mut options = SyncOptions::new(SyncSetName::new("example"));
//! options.gc = GcMode::On;
//!
//! let cluster = MemoryCluster::new();
//! let report = block_on(run(&cluster, &desired, &options)).unwrap();
//! assert!(report.is_clean());
//! assert_eq!(cluster.ids().len(), 2);
//!
//! // A second plan against the synced cluster has nothing to do.
//! let live = block_on(flux_core::sync::read_live(&cluster, &options)).unwrap();
//! assert!(plan_sync(&desired, &live, &options).is_noop());
//! ```

mod gc;
mod legacy;
mod live;
mod mark;
mod overlap;
mod plan;
mod run;

use std::collections::BTreeMap;

use crate::cluster::Namespaces;
use crate::resource::ResourceId;

pub use gc::{GcBlocked, GcPlan, Kept, KeptReason, plan_gc};
pub use legacy::LAST_APPLIED_ANNOTATION;
pub use live::as_stored;
pub use mark::{CHECKSUM_ANNOTATION, GC_MARK_LABEL, SyncSetName, checksum};
pub use overlap::{Overlaps, SetView, find_overlaps, overlaps_of};
pub use plan::{
    ApplyBatch, PlanWarning, SkipReason, Skipped, Stage, SyncPlan, plan_sync, rank_of_kind,
};
pub use run::{GcReport, SyncError, SyncReport, load_and_run, read_live, run, run_gated};

/// Whether and how garbage collection runs (`--sync-garbage-collection`,
/// `--sync-garbage-collection-dry`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub enum GcMode {
    /// No garbage collection (Flux v1's default).
    #[default]
    Off,
    /// Work out and report what would be deleted; delete nothing.
    DryRun,
    /// Delete what garbage collection finds.
    On,
}

impl GcMode {
    /// The mode fluxd's two flags select; dry-run wins when both are given.
    pub fn from_flags(gc: bool, dry_run: bool) -> Self {
        match (gc, dry_run) {
            (_, true) => GcMode::DryRun,
            (true, false) => GcMode::On,
            (false, false) => GcMode::Off,
        }
    }
}

/// What a sync may do.
///
/// The default namespace is not here: loading already gave namespaced
/// resources without one the `--k8s-default-namespace`, and their IDs carry
/// it (see [`crate::manifest::LoadOptions`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncOptions {
    /// The sync set whose mark applied objects carry and GC looks for.
    pub sync_set: SyncSetName,
    /// The namespaces Flux may touch (`--k8s-allow-namespace`).
    pub namespaces: Namespaces,
    /// Garbage collection.
    pub gc: GcMode,
    /// Also collect Namespaces and CustomResourceDefinitions gone from git.
    /// Deleting one deletes everything in it, objects Flux never applied
    /// included, so it is off unless asked for; even then a namespace or
    /// CRD is kept while any other live object Flux can see is in it.
    pub gc_cascading: bool,
    /// Apply every resource, even those already up to date (Flux v1 applied
    /// everything on every sync). Off: unchanged objects are skipped as
    /// [`SkipReason::UpToDate`].
    pub apply_unchanged: bool,
    /// Resources left alone because another sync set (another source of
    /// the same daemon) also defines them, with the names of those others
    /// (see [`find_overlaps`]). They are skipped as
    /// [`SkipReason::Overlap`] and, like every skipped resource, count as
    /// in git for garbage collection, so neither side applies or deletes
    /// them until the overlap is resolved.
    pub overlaps: BTreeMap<ResourceId, Vec<String>>,
}

impl SyncOptions {
    /// Options for a sync set: all namespaces, no GC, skip what is up to date.
    pub fn new(sync_set: SyncSetName) -> Self {
        SyncOptions {
            sync_set,
            namespaces: Namespaces::All,
            gc: GcMode::Off,
            gc_cascading: false,
            apply_unchanged: false,
            overlaps: BTreeMap::new(),
        }
    }
}

/// Whether `namespaces` lets Flux touch the object `id`, by Flux v1's rule:
/// a namespaced object by its namespace, a Namespace by its name, any other
/// cluster-scoped object always.
///
/// ```
/// use flux_core::Namespaces;
/// use flux_core::sync::allows;
/// let only = Namespaces::from_list(&["team"]);
/// assert!(allows(&only, &"team:deployment/web".parse().unwrap()));
/// assert!(!allows(&only, &"other:deployment/web".parse().unwrap()));
/// assert!(allows(&only, &"<cluster>:namespace/team".parse().unwrap()));
/// assert!(!allows(&only, &"<cluster>:namespace/other".parse().unwrap()));
/// assert!(allows(&only, &"<cluster>:clusterrole/reader".parse().unwrap()));
/// ```
pub fn allows(namespaces: &Namespaces, id: &ResourceId) -> bool {
    match id.namespace() {
        Some(ns) => namespaces.allows(ns),
        None if id.kind() == "namespace" => namespaces.allows(id.name()),
        None => true,
    }
}

/// Whether `id` names an object whose deletion deletes other objects.
fn is_cascading(id: &ResourceId) -> bool {
    id.is_cluster_scoped() && matches!(id.kind(), "namespace" | "customresourcedefinition")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gc_flags() {
        assert_eq!(GcMode::from_flags(false, false), GcMode::Off);
        assert_eq!(GcMode::from_flags(true, false), GcMode::On);
        assert_eq!(GcMode::from_flags(false, true), GcMode::DryRun);
        assert_eq!(GcMode::from_flags(true, true), GcMode::DryRun);
    }

    #[test]
    fn all_namespaces_allow_everything() {
        for id in ["a:configmap/x", "<cluster>:namespace/x", "<cluster>:node/n"] {
            assert!(allows(&Namespaces::All, &id.parse().unwrap()), "{id}");
        }
    }

    /// A gate that allows its first `n` checks, then refuses.
    struct Allows(std::sync::atomic::AtomicUsize);

    impl crate::fence::WriteGate for Allows {
        fn check(&self) -> Result<(), String> {
            let left = self.0.load(std::sync::atomic::Ordering::SeqCst);
            if left == 0 {
                return Err("lease lost".into());
            }
            self.0.store(left - 1, std::sync::atomic::Ordering::SeqCst);
            Ok(())
        }
    }

    #[test]
    fn a_gate_that_closes_stops_the_writes_after_it_and_every_deletion() {
        use crate::manifest::{FileSet, LoadOptions, parse_files};
        use crate::testing::{MemoryCluster, block_on};
        let mut files = FileSet::new();
        files.insert(
            "a.yaml",
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\n\
             apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: a}\n",
        );
        files.insert(
            "b.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: old, namespace: a}\n",
        );
        let parse = |files: &FileSet| {
            parse_files(
                files,
                &["".into()],
                &crate::ScopeTable::builtin(),
                &LoadOptions::default(),
            )
            .unwrap()
        };
        let mut options = SyncOptions::new(SyncSetName::new("t"));
        options.gc = GcMode::On;
        let cluster = MemoryCluster::new();
        // Open: the namespace's batch and the ConfigMap's are both written.
        let report = block_on(run(&cluster, &parse(&files), &options)).unwrap();
        assert!(report.is_clean());

        // Only the first batch (the namespace) may be written now: the
        // ConfigMap's change fails as fenced and the GC of old (whose file
        // is gone) is held back.
        let mut files = FileSet::new();
        files.insert(
            "a.yaml",
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: a, labels: {v: \"2\"}}\n---\n\
             apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: a}\ndata: {k: v}\n",
        );
        let gate = Allows(std::sync::atomic::AtomicUsize::new(1));
        let report = block_on(run_gated(&cluster, &parse(&files), &options, &gate)).unwrap();
        let fenced: Vec<String> = report
            .apply_errors()
            .filter(|(_, e)| e.kind == crate::cluster::ClusterErrorKind::Fenced)
            .map(|(id, e)| format!("{id} {e}"))
            .collect();
        assert_eq!(
            fenced,
            ["a:configmap/x a:configmap/x: not written: lease lost"]
        );
        assert!(report.gc.deleted.is_empty());
        assert!(!report.gc.blocked.is_empty());
        let ids: Vec<String> = cluster.ids().iter().map(ToString::to_string).collect();
        assert!(ids.contains(&"a:configmap/old".to_owned()), "{ids:?}");
    }
}
