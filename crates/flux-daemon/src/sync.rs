//! One sync of a source: read the manifests at the head (reusing the last
//! parse when the head has not moved; with `--manifest-generation`, the
//! files and generated output of [`crate::generation::view`]), let flux-core plan and carry it out
//! against the cluster, record what happened, and move the high-water mark
//! after a clean sync.
//!
//! Nothing here decides what to apply or delete: that is
//! [`flux_core::sync::run`]. A failure to read any manifest stops the sync
//! before the cluster is touched; a failure to apply some objects leaves the
//! others applied (as in Flux v1) but blocks garbage collection and keeps
//! the high-water mark where it was.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::Semaphore;

use flux_core::Cluster;
use flux_core::ResourceId;
use flux_core::cluster::Applied;
use flux_core::source::Snapshot;
use flux_core::sync::{GcMode, SetView, SyncReport, overlaps_of};
use std::collections::BTreeMap;

use crate::metrics::{Metrics, ObjectLabels, Outcome, SourceLabel};
use crate::source::{Loaded, Source, SyncSummary};

/// A sync that did not run to the end.
#[derive(Debug, thiserror::Error)]
pub enum SyncFailure {
    /// The repository has not been fetched yet.
    #[error("the git repository has not been fetched yet{}", .0.as_deref().map(|e| format!(": {e}")).unwrap_or_default())]
    NotFetched(Option<String>),
    /// git could not give the files (or the head is not verified).
    #[error("reading the repository: {0}")]
    Git(#[source] flux_git::Error),
    /// A manifest could not be read; nothing was applied or deleted.
    #[error("{0}")]
    Load(String),
    /// The cluster could not be read; nothing was applied or deleted.
    #[error("{0}")]
    Cluster(String),
    /// The sync took longer than `--sync-timeout`.
    #[error("the sync took longer than --sync-timeout ({0:?}); it will be tried again")]
    Timeout(Duration),
}

/// Reads and parses the manifests at `revision` (generating them with the
/// source's generator, if it has one), reusing the last parse when it was
/// of the same revision. A generator that fails fails the load: nothing is
/// applied and nothing deleted.
pub async fn load(source: &Source, revision: &str) -> Result<Arc<Loaded>, SyncFailure> {
    // A parse is reused unless some resource's kind could not be placed
    // then (its CRD may have been installed since).
    if let Some(loaded) = source
        .loaded()
        .filter(|l| l.revision == revision && l.manifests.unscoped.is_empty())
    {
        return Ok(loaded);
    }
    let (snapshot, manifests) = match &source.generator {
        Some(generator) => {
            let scopes = source.scopes();
            match crate::generation::view(source, generator, revision, &scopes, &source.load).await
            {
                Ok((snapshot, manifests)) => (snapshot, Ok(manifests)),
                Err(flux_generate::GenerateError::Git(e)) => return Err(SyncFailure::Git(*e)),
                Err(e) => (Snapshot::default(), Err(e.to_string())),
            }
        }
        None => {
            let snapshot = source
                .repo
                .snapshot_at(revision, &source.paths)
                .await
                .map_err(SyncFailure::Git)?;
            // The files of the last parse that did not change are taken
            // from it, objects shared, rather than parsed again.
            let reader = source.manifest_reader();
            tokio::task::spawn_blocking(move || {
                let manifests = reader
                    .parse(&snapshot.files)
                    .map_err(|errors| errors.to_string());
                (snapshot, manifests)
            })
            .await
            .map_err(|e| SyncFailure::Load(format!("parsing the manifests panicked: {e}")))?
        }
    };
    match manifests {
        Ok(manifests) => {
            let loaded = Arc::new(Loaded {
                revision: revision.to_owned(),
                snapshot,
                manifests,
            });
            source.with_status(|s| {
                s.loaded = Some(loaded.clone());
                s.load_error = None;
            });
            Ok(loaded)
        }
        Err(errors) => {
            let message = format!(
                "cannot read the manifests at {}; nothing applied, nothing deleted: {errors}",
                short(revision)
            );
            source.with_status(|s| s.load_error = Some(message.clone()));
            Err(SyncFailure::Load(message))
        }
    }
}

/// Adds the kinds the cluster serves to the source's scope table, so that
/// resources of kinds whose CRD is not in the repository can be placed
/// (without them, such resources are left out and garbage collection is
/// blocked). A failure leaves the table as it was.
pub async fn learn_scopes(source: &Source, cluster: &dyn Cluster) {
    match cluster.scopes().await {
        Ok(served) if !served.is_empty() => source.merge_scopes(&served),
        Ok(_) => {}
        Err(e) => {
            tracing::debug!(source = %source.name, error = %e, "cannot read the cluster's kinds")
        }
    }
}

/// The revision to sync: the branch head, or with signature verification
/// the newest verified commit.
pub async fn target_revision(source: &Source) -> Result<String, SyncFailure> {
    let Some(head) = source.repo.head() else {
        return Err(SyncFailure::NotFetched(source.repo.status().error));
    };
    if source.repo.config().verify == flux_git::VerifyMode::None {
        return Ok(head);
    }
    match source.repo.latest_valid_revision().await {
        Ok((Some(valid), invalid)) => {
            if let Some(bad) = invalid {
                tracing::warn!(source = %source.name, ?bad, "found a commit without a valid signature; syncing up to the last verified commit");
            }
            Ok(valid)
        }
        Ok((None, _)) => Err(SyncFailure::Load(
            "no commit with a valid signature after the sync tag; nothing to sync".into(),
        )),
        Err(e) => Err(SyncFailure::Git(e)),
    }
}

/// Syncs `source` to its target revision, leaving alone what another of
/// `all` (the daemon's sources) also defines.
///
/// At most as many syncs as `slots` has permits run at once in a daemon
/// (one permit per core): a fluxd holding many sources would otherwise
/// plan and apply all of them together after a start, and keep the peak
/// of that burst as its resident memory. Waiting for a permit does not
/// count toward `timeout` or the sync's duration. A source's first sync
/// parses its manifests and waits for the other sources' before it takes
/// a permit, so that sources waiting on each other hold none.
pub async fn sync_source(
    source: &Source,
    all: &[Arc<Source>],
    cluster: &dyn Cluster,
    timeout: Duration,
    metrics: &Metrics,
    slots: &Semaphore,
) -> Result<SyncSummary, SyncFailure> {
    if !source.with_status(|s| s.tried) && all.len() > 1 {
        match tokio::time::timeout(timeout, first_load(source, cluster)).await {
            Ok(true) => others_loaded(source, all).await,
            Ok(false) => {}
            Err(_) => return Err(SyncFailure::Timeout(timeout)),
        }
    }
    // The semaphore is never closed; without a permit the sync still runs.
    let _permit = slots.acquire().await.ok();
    let started = Instant::now();
    let result = tokio::time::timeout(timeout, run(source, all, cluster, metrics))
        .await
        .unwrap_or(Err(SyncFailure::Timeout(timeout)));
    let ok = matches!(&result, Ok(s) if s.clean);
    metrics
        .sync_duration
        .get_or_create(&Outcome::new(&source.name, ok))
        .observe(started.elapsed().as_secs_f64());
    source.with_status(|s| {
        s.tried = true;
        match &result {
            Ok(summary) => s.last_sync = Some(summary.clone()),
            Err(e) => {
                s.last_sync = Some(SyncSummary {
                    revision: source.repo.head().unwrap_or_default(),
                    finished: SystemTime::now(),
                    clean: false,
                    created: 0,
                    configured: 0,
                    unchanged: 0,
                    deleted: 0,
                    error: Some(e.to_string()),
                })
            }
        }
    });
    result
}

/// The resources of `source`'s `loaded` manifests that another of `all`
/// defines too (in their last loaded manifests), with those sources. When
/// the set changed since the last sync, the other sources involved are
/// asked to sync, so both sides stop (or resume) applying them promptly.
pub fn overlaps(
    source: &Source,
    loaded: &Loaded,
    all: &[Arc<Source>],
) -> BTreeMap<ResourceId, Vec<String>> {
    if all.len() < 2 {
        return BTreeMap::new();
    }
    let others: Vec<(Arc<Source>, Arc<Loaded>)> = all
        .iter()
        .filter(|o| o.name != source.name)
        .filter_map(|o| o.loaded().map(|l| (o.clone(), l)))
        .collect();
    let this = SetView {
        name: &source.name,
        manifests: &loaded.manifests,
        namespaces: &source.sync.namespaces,
    };
    let views: Vec<SetView<'_>> = others
        .iter()
        .map(|(o, l)| SetView {
            name: &o.name,
            manifests: &l.manifests,
            namespaces: &o.sync.namespaces,
        })
        .collect();
    let found = overlaps_of(&this, &views);
    let before = source.with_status(|s| std::mem::replace(&mut s.overlaps, found.clone()));
    if before != found {
        let mut involved: Vec<&String> = before.values().chain(found.values()).flatten().collect();
        involved.sort();
        involved.dedup();
        for (other, _) in others.iter().filter(|(o, _)| involved.contains(&&o.name)) {
            other.ask_sync();
        }
        for (id, with) in &found {
            tracing::warn!(source = %source.name, resource = %id, also_in = %with.join(","), "resource defined by more than one source: neither applies it until one drops it");
        }
    }
    found
}

/// Parses the manifests a source's first sync will apply (the sync reuses
/// the parse); whether they could be read. When they cannot, the sync
/// fails before the cluster is touched, so it need not wait for others.
async fn first_load(source: &Source, cluster: &dyn Cluster) -> bool {
    let Ok(revision) = target_revision(source).await else {
        return false;
    };
    learn_scopes(source, cluster).await;
    load(source, &revision).await.is_ok()
}

/// How long a source's first sync waits for the other sources' manifests.
const FIRST_SYNC_WAIT: Duration = Duration::from_secs(30);

/// Waits (at most [`FIRST_SYNC_WAIT`]) until every other source has loaded
/// its manifests or failed to, so that a resource two sources define is
/// not applied by whichever syncs first after a start.
async fn others_loaded(source: &Source, all: &[Arc<Source>]) {
    let settled = |o: &Source| {
        o.repo.status().error.is_some()
            || o.with_status(|s| s.loaded.is_some() || s.load_error.is_some() || s.tried)
    };
    let deadline = tokio::time::Instant::now() + FIRST_SYNC_WAIT;
    loop {
        let waiting: Vec<&str> = all
            .iter()
            .filter(|o| o.name != source.name && !settled(o))
            .map(|o| o.name.as_str())
            .collect();
        if waiting.is_empty() {
            return;
        }
        if tokio::time::Instant::now() >= deadline {
            tracing::warn!(source = %source.name, waiting = %waiting.join(","), "first sync goes ahead without these sources' manifests: overlaps with them are found at a later sync");
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn run(
    source: &Source,
    all: &[Arc<Source>],
    cluster: &dyn Cluster,
    metrics: &Metrics,
) -> Result<SyncSummary, SyncFailure> {
    let revision = target_revision(source).await?;
    learn_scopes(source, cluster).await;
    let loaded = load(source, &revision).await?;
    let overlapping = overlaps(source, &loaded, all);
    let options;
    let sync_options = if overlapping.is_empty() {
        &source.sync
    } else {
        options = flux_core::sync::SyncOptions {
            overlaps: overlapping,
            ..source.sync.clone()
        };
        &options
    };
    metrics
        .overlaps
        .get_or_create(&SourceLabel {
            source: source.name.clone(),
        })
        .set(sync_options.overlaps.len() as i64);
    let report =
        flux_core::sync::run_gated(cluster, &loaded.manifests, sync_options, source.gate())
            .await
            .map_err(|e| SyncFailure::Cluster(format!("{e}: {}", error_chain(&e))))?;
    let summary = summarise(source, &revision, &report, metrics);
    log_report(source, &revision, &report);
    if summary.clean {
        let previous = source.with_status(|s| s.synced.clone());
        if previous.as_deref() != Some(revision.as_str()) {
            let recorded = match source.gate().check() {
                Ok(()) => source
                    .state
                    .record(&revision)
                    .await
                    .map_err(|e| e.to_string()),
                Err(why) => Err(format!("not recorded: {why}")),
            };
            match recorded {
                Ok(()) => {
                    tracing::info!(source = %source.name, state = %source.state.describe(), old = ?previous, new = %revision, "moved the sync high-water mark")
                }
                Err(e) => {
                    // The sync itself is done; the mark is moved at the next
                    // clean sync. Until then fluxctl sync keeps waiting.
                    tracing::warn!(source = %source.name, error = %e, "could not record the synced revision");
                    return Ok(SyncSummary {
                        clean: false,
                        error: Some(format!(
                            "applied, but could not record the synced revision: {e}"
                        )),
                        ..summary
                    });
                }
            }
            source.with_status(|s| s.synced = Some(revision.clone()));
        }
        metrics
            .last_sync
            .get_or_create(&SourceLabel {
                source: source.name.clone(),
            })
            .set(
                SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map(|d| d.as_secs_f64())
                    .unwrap_or_default(),
            );
    }
    Ok(summary)
}

fn summarise(
    source: &Source,
    revision: &str,
    report: &SyncReport,
    metrics: &Metrics,
) -> SyncSummary {
    let (mut created, mut configured, mut unchanged_applied, mut failed) = (0, 0, 0, 0);
    let mut errors = std::collections::BTreeMap::new();
    for (id, r) in &report.applied {
        match r {
            Ok(Applied::Created) => created += 1,
            Ok(Applied::Configured) => configured += 1,
            Ok(Applied::Unchanged) => unchanged_applied += 1,
            Err(e) => {
                failed += 1;
                errors.insert(id.clone(), e.to_string());
            }
        }
    }
    let up_to_date = report
        .plan
        .skipped
        .iter()
        .filter(|s| s.reason == flux_core::sync::SkipReason::UpToDate)
        .count();
    let skipped = report.plan.skipped.len() - up_to_date;
    let deleted = report.gc.deleted.iter().filter(|(_, r)| r.is_ok()).count();
    for (id, e) in report.delete_errors() {
        errors.insert(id.clone(), format!("deleting: {e}"));
    }
    // Overlaps are not failures (the sync is clean), but each is reported
    // on the resource, as its sync error.
    for s in &report.plan.skipped {
        if let flux_core::sync::SkipReason::Overlap { .. } = &s.reason {
            errors.insert(s.id.clone(), format!("not applied: {}", s.reason));
        }
    }
    let label = |action: &str| ObjectLabels {
        source: source.name.clone(),
        action: action.to_owned(),
    };
    for (action, n) in [
        ("created", created),
        ("configured", configured),
        ("unchanged", unchanged_applied + up_to_date),
        ("failed", failed),
        ("deleted", deleted),
        ("skipped", skipped),
    ] {
        metrics
            .sync_objects
            .get_or_create(&label(action))
            .inc_by(n as u64);
    }
    let clean = report.is_clean();
    metrics
        .sync_manifests
        .get_or_create(&Outcome::new(&source.name, clean))
        .set(report.applied.len() as i64 + up_to_date as i64);
    let error = if clean {
        None
    } else {
        let mut parts: Vec<String> = errors
            .iter()
            .take(5)
            .map(|(id, e)| format!("{id}: {e}"))
            .collect();
        if errors.len() > 5 {
            parts.push(format!("and {} more", errors.len() - 5));
        }
        for b in &report.gc.blocked {
            parts.push(format!("garbage collection blocked: {b}"));
        }
        Some(parts.join("; "))
    };
    source.with_status(|s| s.resource_errors = errors);
    SyncSummary {
        revision: revision.to_owned(),
        finished: SystemTime::now(),
        clean,
        created,
        configured,
        unchanged: unchanged_applied + up_to_date,
        deleted,
        error,
    }
}

fn log_report(source: &Source, revision: &str, report: &SyncReport) {
    for s in &report.plan.skipped {
        if s.reason != flux_core::sync::SkipReason::UpToDate {
            tracing::info!(source = %source.name, resource = %s.id, file = %s.source, reason = ?s.reason, "not applied");
        }
    }
    for w in &report.plan.warnings {
        tracing::warn!(source = %source.name, warning = ?w, "sync");
    }
    for (id, e) in report.apply_errors() {
        tracing::warn!(source = %source.name, resource = %id, error = %e, "apply failed");
    }
    if report.gc.mode != GcMode::Off {
        for b in &report.gc.blocked {
            tracing::warn!(source = %source.name, reason = %b, "garbage collection blocked: nothing deleted");
        }
        if let Some(plan) = report
            .gc
            .plan
            .as_ref()
            .filter(|_| report.gc.mode == GcMode::DryRun)
        {
            for id in &plan.candidates {
                tracing::info!(source = %source.name, resource = %id, "garbage collection (dry run): would delete");
            }
        }
        for (id, r) in &report.gc.deleted {
            match r {
                Ok(()) => {
                    tracing::info!(source = %source.name, resource = %id, "garbage collected")
                }
                Err(e) => {
                    tracing::warn!(source = %source.name, resource = %id, error = %e, "garbage collection failed")
                }
            }
        }
    }
    let changed = report
        .applied
        .iter()
        .filter(|(_, r)| matches!(r, Ok(Applied::Created | Applied::Configured)))
        .count();
    tracing::info!(
        source = %source.name,
        revision = %short(revision),
        applied = changed,
        up_to_date = report.plan.skipped.len(),
        deleted = report.gc.deleted.len(),
        clean = report.is_clean(),
        "sync finished"
    );
}

/// The first 8 characters of a revision, as Flux v1 printed them.
pub fn short(revision: &str) -> &str {
    revision.get(..8).unwrap_or(revision)
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut parts = Vec::new();
    let mut cur = e.source();
    while let Some(s) = cur {
        parts.push(s.to_string());
        cur = s.source();
    }
    parts.join(": ")
}
