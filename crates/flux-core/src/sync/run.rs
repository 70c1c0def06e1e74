//! Carrying a plan out against a [`Cluster`]: read, plan, apply batch by
//! batch, then collect garbage only if everything before went well.
//!
//! This is async code with no runtime of its own: it awaits the cluster's
//! futures and nothing else, so it runs under tokio in the daemon and under
//! [`crate::testing::block_on`] in tests.

use std::collections::BTreeSet;

use super::gc::{self, GcBlocked, GcPlan};
use super::live::{LiveView, checksum_of};
use super::mark::GC_MARK_LABEL;
use super::plan::{SyncPlan, plan_sync};
use super::{GcMode, SyncOptions};
use crate::cluster::{
    Applied, Cluster, ClusterError, ClusterErrorKind, LiveObject, LiveRead, PerObject,
};
use crate::fence::{Open, WriteGate};
use crate::manifest::{FileSet, LoadErrors, LoadOptions, Manifests, parse_files};
use crate::resource::{ResourceId, ScopeTable};

/// A sync that could not start. Nothing was applied and nothing deleted.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The manifests could not be read.
    #[error("cannot read the manifests; nothing applied, nothing deleted")]
    Load(#[source] LoadErrors),
    /// The live state could not be read.
    #[error("cannot read the cluster's objects; nothing applied, nothing deleted")]
    ReadCluster(#[source] ClusterError),
}

/// What garbage collection did.
#[derive(Debug, Default)]
pub struct GcReport {
    /// The mode it ran in.
    pub mode: GcMode,
    /// Why it deleted nothing, if something stopped it.
    pub blocked: Vec<GcBlocked>,
    /// The plan made from the marked objects listed after applying (absent
    /// when GC is off or was blocked before listing).
    pub plan: Option<GcPlan>,
    /// Each deletion, in order.
    pub deleted: PerObject<()>,
    /// Objects applied in this sync whose live checksum is not the one this
    /// sync wrote (Flux v1 warned "has not been updated").
    pub not_updated: Vec<ResourceId>,
}

/// What a sync did.
#[derive(Debug)]
pub struct SyncReport {
    /// The plan it carried out.
    pub plan: SyncPlan,
    /// Each apply, in order.
    pub applied: PerObject<Applied>,
    /// Garbage collection.
    pub gc: GcReport,
}

impl SyncReport {
    /// The objects that failed to apply.
    pub fn apply_errors(&self) -> impl Iterator<Item = (&ResourceId, &ClusterError)> {
        errors(&self.applied)
    }

    /// The objects that failed to delete.
    pub fn delete_errors(&self) -> impl Iterator<Item = (&ResourceId, &ClusterError)> {
        errors(&self.gc.deleted)
    }

    /// Whether everything applied, GC (if on) was not blocked, and every
    /// deletion succeeded.
    pub fn is_clean(&self) -> bool {
        self.apply_errors().next().is_none()
            && self.delete_errors().next().is_none()
            && self.gc.blocked.is_empty()
    }
}

fn errors<T>(results: &PerObject<T>) -> impl Iterator<Item = (&ResourceId, &ClusterError)> {
    results
        .iter()
        .filter_map(|(id, r)| r.as_ref().err().map(|e| (id, e)))
}

/// Reads the live objects the planner needs: namespaces and workloads
/// (for ignore annotations) and every object carrying the GC mark label.
pub async fn read_live<C: Cluster + ?Sized>(
    cluster: &C,
    options: &SyncOptions,
) -> Result<Vec<LiveObject>, ClusterError> {
    let LiveRead {
        exported: mut live,
        managed,
    } = cluster
        .read_live(GC_MARK_LABEL, &options.namespaces)
        .await?;
    live.extend(managed);
    Ok(live)
}

/// Parses `files` and syncs them; a problem in any file stops everything
/// before the cluster is touched.
pub async fn load_and_run<C: Cluster + ?Sized>(
    cluster: &C,
    files: &FileSet,
    paths: &[String],
    scopes: &ScopeTable,
    load_options: &LoadOptions,
    options: &SyncOptions,
) -> Result<SyncReport, SyncError> {
    let desired = parse_files(files, paths, scopes, load_options).map_err(SyncError::Load)?;
    run(cluster, &desired, options).await
}

/// Syncs `desired` onto `cluster`: reads the live state, plans, applies the
/// batches in order, then (if GC is on and nothing failed) lists the marked
/// objects again and deletes what GC finds.
///
/// A failure to apply one object does not stop the others (as in Flux v1),
/// but any failure stops all deletion (stricter than Flux v1).
pub async fn run<C: Cluster + ?Sized>(
    cluster: &C,
    desired: &Manifests,
    options: &SyncOptions,
) -> Result<SyncReport, SyncError> {
    run_gated(cluster, desired, options, &Open).await
}

/// [`run`], asking `gate` before each write (see
/// [`Cluster::apply_gated`]); once it refuses, the objects not yet written
/// fail and, as with any failure, nothing is deleted.
pub async fn run_gated<C: Cluster + ?Sized>(
    cluster: &C,
    desired: &Manifests,
    options: &SyncOptions,
    gate: &dyn WriteGate,
) -> Result<SyncReport, SyncError> {
    let LiveRead {
        exported: mut live,
        managed,
    } = cluster
        .read_live(GC_MARK_LABEL, &options.namespaces)
        .await
        .map_err(SyncError::ReadCluster)?;
    let exported_len = live.len();
    live.extend(managed);
    let plan = plan_sync(desired, &live, options);
    live.truncate(exported_len);
    let exported = live;

    let mut applied: PerObject<Applied> = Vec::with_capacity(plan.apply_count());
    for batch in &plan.batches {
        let results = cluster.apply_gated(&batch.objects, gate).await;
        applied.extend(complete(
            batch.objects.iter().map(|o| &o.id),
            results,
            "apply",
        ));
    }

    let mut report = SyncReport {
        gc: GcReport {
            mode: options.gc,
            ..GcReport::default()
        },
        plan,
        applied,
    };
    if options.gc == GcMode::Off {
        return Ok(report);
    }
    let mut blocked = report.plan.gc.blocked.clone();
    let failed = report.apply_errors().count();
    if failed > 0 {
        blocked.push(GcBlocked::ApplyFailed { count: failed });
    }
    if !blocked.is_empty() {
        report.gc.blocked = blocked;
        return Ok(report);
    }

    let managed = match cluster
        .list_managed(GC_MARK_LABEL, &options.namespaces)
        .await
    {
        Ok(managed) => managed,
        Err(e) => {
            report.gc.blocked = vec![GcBlocked::ListFailed {
                message: e.to_string(),
            }];
            return Ok(report);
        }
    };
    let view = LiveView::new(exported.iter().chain(&managed));
    report.gc.not_updated = not_updated(&report, &view);
    let gc_plan = gc::plan_with(desired, &view, options, Vec::new());
    let to_delete = gc_plan.to_delete();
    if !to_delete.is_empty() {
        let results = cluster.delete_gated(to_delete, gate).await;
        report.gc.deleted = complete(to_delete.iter(), results, "delete");
    }
    report.gc.plan = Some(gc_plan);
    Ok(report)
}

/// Objects applied successfully whose live checksum differs from the one
/// written.
fn not_updated(report: &SyncReport, view: &LiveView<'_>) -> Vec<ResourceId> {
    let ok: BTreeSet<&ResourceId> = report
        .applied
        .iter()
        .filter(|(_, r)| r.is_ok())
        .map(|(id, _)| id)
        .collect();
    report
        .plan
        .applies()
        .filter(|o| ok.contains(&o.id))
        .filter(|o| {
            let written = checksum_of(&o.object);
            view.get(&o.id)
                .is_some_and(|copies| copies.iter().any(|c| checksum_of(c) != written))
        })
        .map(|o| o.id.clone())
        .collect()
}

/// Pairs each requested ID with its result, treating a result the cluster
/// did not return (or returned for another ID) as a failure.
fn complete<'a, T>(
    ids: impl Iterator<Item = &'a ResourceId>,
    results: PerObject<T>,
    operation: &str,
) -> PerObject<T> {
    let mut results = results.into_iter();
    ids.map(|id| match results.next() {
        Some((got, result)) if &got == id => (got, result),
        other => {
            let message = match other {
                Some((got, _)) => format!("{operation}: the cluster answered for {got} instead"),
                None => format!("{operation}: the cluster returned no result"),
            };
            (
                id.clone(),
                Err(ClusterError::new(
                    ClusterErrorKind::Other,
                    Some(id.clone()),
                    message,
                )),
            )
        }
    })
    .collect()
}
