//! The loops: one per source (git heads, periodic syncs, jobs, automation,
//! all taken one at a time so nothing races for the repository or the
//! cluster), registry scanning, and drift correction.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use flux_git::RepoState;
use flux_kube::watch::{Debouncer, Notice};
use tokio::sync::broadcast;

use crate::automation::{AutomationOutcome, automate};
use crate::daemon::{DRIFT_MAX_DELAY, DRIFT_QUIET, Shared};
use crate::job::run::{JobContext, SharedRegistry, execute};
use crate::job::{JobSpec, JobStatus, Queued};
use crate::metrics::{JobLabels, SourceLabel};
use crate::source::Source;
use crate::sync::sync_source;

/// How often registries are scanned for new tags.
pub const SCAN_INTERVAL: Duration = Duration::from_secs(60);

fn label(source: &Source) -> SourceLabel {
    SourceLabel {
        source: source.name.clone(),
    }
}

/// The registry cache as the calculations read it.
pub fn registry_view(shared: &Shared) -> SharedRegistry {
    shared.registry.cache.clone()
}

/// A source's loop: sync on a new head, on request, and every
/// `--sync-interval`; run jobs; run automation every
/// `--automation-interval` and when asked.
pub async fn source_loop(source: Arc<Source>, shared: Arc<Shared>, stop: impl Future<Output = ()>) {
    tokio::pin!(stop);
    let config = &shared.config;
    let mut heads = source.repo.subscribe();
    let mut next_sync = tokio::time::Instant::now() + source.sync_interval;
    let mut next_automation = tokio::time::Instant::now() + source.automation_interval;
    let mut last_head: Option<String> = None;
    let mut mark_read = false;
    let automation_on = !config.registry.disabled && !source.repo.config().readonly;
    if !automation_on {
        tracing::info!(source = %source.name, "no automation: {}", if config.registry.disabled { "registry scanning is disabled" } else { "the repository is read-only" });
    }
    loop {
        enum Step {
            Sync(&'static str),
            Job(Box<Queued>),
            Automate,
            Head,
            Stop,
        }
        let step = tokio::select! {
            biased;
            () = &mut stop => Step::Stop,
            Some(job) = source.jobs.next() => Step::Job(Box::new(job)),
            r = heads.changed() => match r { Ok(()) => Step::Head, Err(_) => Step::Stop },
            () = source.sync_soon.notified() => Step::Sync("requested"),
            () = tokio::time::sleep_until(next_sync) => Step::Sync("interval"),
            () = source.automation_soon.notified(), if automation_on => Step::Automate,
            () = tokio::time::sleep_until(next_automation), if automation_on => Step::Automate,
        };
        // With --ha, a source whose Lease this replica does not hold is
        // fetched (reads are answered) but not synced, automated or
        // written to; its jobs are refused.
        let owned = source.may_write();
        match step {
            Step::Stop => break,
            Step::Job(job) if owned.is_err() => {
                refuse_job(&source, *job, owned.err());
            }
            Step::Sync(_) if owned.is_err() => {
                next_sync = tokio::time::Instant::now() + source.sync_interval;
            }
            Step::Automate if owned.is_err() => {
                next_automation = tokio::time::Instant::now() + source.automation_interval;
            }
            Step::Head => {
                let head = heads.borrow_and_update().as_ref().map(|r| r.head.clone());
                if !mark_read && head.is_some() {
                    mark_read = true;
                    match source.state.revision().await {
                        Ok(rev) => {
                            tracing::info!(source = %source.name, state = %source.state.describe(), revision = ?rev, "sync high-water mark");
                            source.with_status(|s| s.synced = rev);
                        }
                        Err(e) => {
                            tracing::warn!(source = %source.name, error = %e, "cannot read the sync high-water mark")
                        }
                    }
                }
                if owned.is_err() {
                    // Synced once this replica takes the Lease (it asks).
                    continue;
                }
                if head.is_some() && head != last_head {
                    last_head = head.clone();
                    do_sync(&source, &shared, "new commit").await;
                    next_sync = tokio::time::Instant::now() + source.sync_interval;
                }
                if head.is_some() && source.repo.status().state == RepoState::Cloned {
                    write_check(&source).await;
                }
            }
            Step::Sync(why) => {
                do_sync(&source, &shared, why).await;
                next_sync = tokio::time::Instant::now() + source.sync_interval;
            }
            Step::Job(job) => {
                shared
                    .metrics
                    .queue_length
                    .get_or_create(&label(&source))
                    .set(source.jobs.len() as i64);
                run_job(&source, &shared, *job).await;
            }
            Step::Automate => {
                next_automation = tokio::time::Instant::now() + source.automation_interval;
                if source.repo.head().is_none() {
                    continue;
                }
                match automate(
                    &source,
                    &*shared.cluster,
                    registry_view(&shared),
                    &shared.metrics,
                )
                .await
                {
                    Ok(AutomationOutcome::Committed { .. }) => {
                        // Sync the commit now, once the mirror has it.
                        refresh_after_push(&source).await;
                        do_sync(&source, &shared, "automation commit").await;
                        next_sync = tokio::time::Instant::now() + source.sync_interval;
                    }
                    Ok(outcome) => tracing::debug!(source = %source.name, ?outcome, "automation"),
                    Err(e) => {
                        tracing::warn!(source = %source.name, error = %e, "automation failed")
                    }
                }
            }
        }
    }
}

/// Fails a job of a source this replica does not own, naming the owner.
fn refuse_job(source: &Source, job: Queued, why: Option<crate::ha::FenceError>) {
    let error = why.map_or_else(|| "not owned by this replica".to_owned(), |e| e.to_string());
    tracing::info!(source = %source.name, job = %job.id, %error, "job refused");
    source.jobs.set_status(
        &job.id,
        JobStatus::Failed {
            error,
            outcome: Default::default(),
        },
    );
}

async fn do_sync(source: &Source, shared: &Shared, why: &str) {
    let before = source.loaded().map(|l| l.revision.clone());
    tracing::debug!(source = %source.name, reason = why, "sync");
    match sync_source(
        source,
        &shared.sources,
        &*shared.cluster,
        shared.config.sync.timeout,
        &shared.metrics,
        &shared.sync_slots,
    )
    .await
    {
        Ok(summary) if summary.clean => {}
        Ok(summary) => {
            tracing::warn!(source = %source.name, error = ?summary.error, "sync finished with errors")
        }
        Err(e) => tracing::warn!(source = %source.name, error = %e, "sync failed"),
    }
    // New manifests may name new images: scan for them soon.
    if source.loaded().map(|l| l.revision.clone()) != before {
        shared.registry.scan_soon.notify_one();
    }
}

async fn run_job(source: &Source, shared: &Shared, job: Queued) {
    let Queued {
        id,
        spec,
        queued_at,
    } = job;
    shared
        .metrics
        .queue_duration
        .get_or_create(&label(source))
        .observe(queued_at.elapsed().as_secs_f64());
    source.jobs.set_status(&id, JobStatus::Running);
    tracing::info!(source = %source.name, job = %id, kind = spec.kind(), "job started");
    let started = Instant::now();
    let cx = JobContext {
        source,
        cluster: &*shared.cluster,
        registry: registry_view(shared),
    };
    let result = execute(&cx, &id, &spec).await;
    let ok = result.is_ok();
    shared
        .metrics
        .job_duration
        .get_or_create(&JobLabels {
            source: source.name.clone(),
            kind: spec.kind().to_owned(),
            success: ok.to_string(),
        })
        .observe(started.elapsed().as_secs_f64());
    match result {
        Ok(outcome) => {
            tracing::info!(source = %source.name, job = %id, revision = ?outcome.revision, "job succeeded");
            let synced_now = outcome.revision.is_some();
            // A sync job fetched already; the others pushed a commit.
            let pushed = synced_now && !matches!(spec, JobSpec::Sync { .. });
            source.jobs.set_status(&id, JobStatus::Succeeded(outcome));
            if pushed {
                refresh_after_push(source).await;
            }
            if synced_now {
                do_sync(source, shared, "job commit").await;
            }
        }
        Err(failure) => {
            tracing::warn!(source = %source.name, job = %id, error = %failure.error, "job failed");
            source.jobs.set_status(
                &id,
                JobStatus::Failed {
                    error: failure.error,
                    outcome: failure.outcome,
                },
            );
        }
    }
}

/// Flux v1's write check once the repository is cloned (a tag pushed at
/// the head fetched and deleted; no fetch of its own): the repository's
/// status turns `ready`, which `fluxctl sync` requires. On failure (a
/// read-only deploy key) it is tried again after the next fetch.
async fn write_check(source: &Source) {
    match source.repo.check_write().await {
        Ok(()) => tracing::info!(source = %source.name, "git write access checked"),
        Err(e) => {
            tracing::warn!(source = %source.name, error = %e, "cannot write to the git repository; fluxd cannot commit or move the sync tag")
        }
    }
}

/// Fetches after fluxd pushed a commit, as Flux v1 did after every job, so
/// that the sync and the automation run asked for next start from that
/// commit rather than from the head the poll loop last saw (an automation
/// run right after `fluxctl automate` would otherwise read the workload as
/// not yet automated and wait for `--automation-interval`).
async fn refresh_after_push(source: &Source) {
    if let Err(e) = source.repo.refresh().await {
        tracing::warn!(source = %source.name, error = %e, "cannot fetch after pushing; the poll loop will");
    }
}

/// How often `--ha` replicas read their deploy keys' Secrets again.
pub const KEY_RELOAD_INTERVAL: Duration = Duration::from_secs(30);

/// With `--ha`: reads each deploy key's Secret every
/// [`KEY_RELOAD_INTERVAL`] and switches to the key it holds if another
/// replica regenerated it (`fluxctl identity --regenerate` reaches one
/// replica only), so that every replica fetches and pushes with the key the
/// git host was given.
pub async fn key_reload_loop(shared: Arc<Shared>, stop: impl Future<Output = ()>) {
    tokio::pin!(stop);
    let mut identities: Vec<Arc<crate::deploykey::Identity>> = Vec::new();
    for id in shared
        .sources
        .iter()
        .filter_map(|s| s.identity.clone())
        .chain(shared.identity.clone())
    {
        if !identities.iter().any(|i| Arc::ptr_eq(i, &id)) {
            identities.push(id);
        }
    }
    if identities.is_empty() {
        return;
    }
    loop {
        tokio::select! {
            () = &mut stop => return,
            () = tokio::time::sleep(KEY_RELOAD_INTERVAL) => {}
        }
        for identity in &identities {
            if let Err(e) = identity.reload().await {
                tracing::warn!(error = %e, "cannot read the deploy key's secret again; keeping the key in use");
            }
        }
    }
}

/// Scans registries every [`SCAN_INTERVAL`] and when asked; wakes the
/// sources' automation when new tags appear.
pub async fn scan_loop(shared: Arc<Shared>, stop: impl Future<Output = ()>) {
    tokio::pin!(stop);
    if shared.registry.scanner.is_none() {
        tracing::info!("registry scanning is disabled");
        return;
    }
    loop {
        let targets = tokio::select! {
            () = &mut stop => return,
            t = shared.registry.targets(&shared.sources, &*shared.cluster, &shared.config.k8s.namespaces) => t,
        };
        let report = tokio::select! {
            () = &mut stop => return,
            r = shared.registry.scan(&targets) => r,
        };
        if report.is_some_and(|r| !r.changed.is_empty()) {
            for s in &shared.sources {
                s.ask_automation();
            }
        }
        tokio::select! {
            () = &mut stop => return,
            () = tokio::time::sleep(SCAN_INTERVAL) => {}
            () = shared.registry.scan_soon.notified() => {}
        }
    }
}

/// Drift correction: gathers change notices from the watches (a burst is
/// one batch), and when one concerns an object Flux applied, asks every
/// source for a sync, which puts back what git says.
pub async fn drift_loop(
    shared: Arc<Shared>,
    notices: broadcast::Receiver<Notice>,
    stop: impl Future<Output = ()>,
) {
    tokio::pin!(stop);
    let mut debouncer = Debouncer::new(notices, DRIFT_QUIET, DRIFT_MAX_DELAY);
    loop {
        let batch = tokio::select! {
            () = &mut stop => return,
            b = debouncer.next() => match b { Some(b) => b, None => return },
        };
        if !batch.touches_marked() {
            continue;
        }
        let first = batch
            .notices
            .iter()
            .find(|n| n.marked)
            .map(|n| n.id.to_string());
        tracing::info!(changed = batch.notices.len(), lagged = batch.lagged, first = ?first, "objects Flux applied were changed in the cluster; syncing");
        for s in &shared.sources {
            shared.metrics.drift_syncs.get_or_create(&label(s)).inc();
            s.ask_sync();
        }
    }
}
