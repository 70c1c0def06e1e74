//! The routes that queue work on a source or ask about it: `notify`,
//! `update-manifests` (and the legacy `update-images` and `policies`),
//! job status and sync status. Each acts on the request's source
//! ([`Target`]): its job queue, its repository, its sync state.

use std::sync::Arc;

use axum::http::StatusCode;
use flux_api::update::Spec;
use flux_api::{ApiError, v9};

use super::flux::{Failure, bad_request, same_repo};
use super::sources::Target;
use crate::daemon::Shared;
use crate::job::{JobId, JobSpec, JobStatus};
use crate::source::Source;

/// The source, or the error of a fluxd without one.
fn configured<'a>(target: Target<'a>) -> Result<&'a Arc<Source>, ApiError> {
    target
        .source
        .ok_or_else(|| ApiError::server("no git repository is configured (--git-url)"))
}

/// `POST /v11/notify`: a git change makes the source named fetch (without
/// a name: every source, unless the change is for another branch of its
/// repository); an image change makes the registry scan.
pub fn notify(shared: &Shared, target: Target<'_>, change: v9::Change) {
    match change {
        v9::Change::Git(update) => {
            for s in target.searched(shared) {
                let ours = same_repo(&update.url, &s.repo.config().remote.safe_url());
                if ours && !update.branch.is_empty() && update.branch != s.repo.config().branch {
                    tracing::info!(url = %update.url, branch = %update.branch, "notified about another branch; ignored");
                    continue;
                }
                tracing::info!(source = %s.name, "notified of a git change: fetching");
                s.repo.notify();
            }
        }
        v9::Change::Image(update) => {
            tracing::info!(image = ?update.name, "notified of an image change: scanning");
            shared.registry.scan_soon.notify_one();
        }
    }
}

/// Queues `spec` on the source's job queue (a plan runs at once); its
/// job ID.
pub async fn update_manifests(
    shared: &Arc<Shared>,
    target: Target<'_>,
    spec: Spec,
) -> Result<JobId, Failure> {
    let source = target.source.ok_or_else(|| {
        Failure::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::server("no git repository is configured (--git-url)"),
        )
    })?;
    let job = JobSpec::from_api(spec).map_err(bad_request)?;
    if job.is_plan() {
        // A plan writes nothing: run it now, as Flux v1 did.
        let id = JobId::random();
        source.jobs.set_status(&id, JobStatus::Running);
        let cx = crate::job::run::JobContext {
            source,
            cluster: &*shared.cluster,
            registry: crate::run::registry_view(shared),
        };
        let status = match crate::job::run::execute(&cx, &id, &job).await {
            Ok(outcome) => JobStatus::Succeeded(outcome),
            Err(f) => JobStatus::Failed {
                error: f.error,
                outcome: f.outcome,
            },
        };
        source.jobs.set_status(&id, status);
        return Ok(id);
    }
    // With --ha, only the replica holding the source's Lease takes jobs
    // that write; the others say which replica to ask.
    if let Err(e) = source.may_write() {
        return Err(Failure::new(
            StatusCode::CONFLICT,
            ApiError::user(format!(
                "{e}; this is replica {}: send the job to the owner",
                shared
                    .config
                    .ha
                    .as_ref()
                    .map_or("", |h| h.replica_id.as_str())
            )),
        ));
    }
    source.jobs.enqueue(job).map_err(|e| {
        Failure::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ApiError::server(e.to_string()),
        )
    })
}

/// Flux v1's job status for `id`: from the status cache, or else from the
/// notes of fluxd's commits (so a job that pushed is found after a
/// restart). Without a source named, every source's jobs are looked
/// through (job IDs are random, so one source at most knows it).
pub async fn job_status(
    shared: &Shared,
    target: Target<'_>,
    id: &JobId,
) -> Result<flux_api::job::Status, ApiError> {
    let searched = target.searched(shared);
    for source in &searched {
        if let Some(status) = source.jobs.status(id) {
            return Ok(super::convert::job_status(&status));
        }
    }
    for source in searched {
        if let Some(status) = super::convert::find_job_in_notes(source, id).await {
            return Ok(status);
        }
    }
    Err(ApiError::missing(format!("unknown job {id}")))
}

/// The source's revisions up to `reference` not yet synced (newest first).
pub async fn sync_status(target: Target<'_>, reference: &str) -> Result<Vec<String>, ApiError> {
    let source = configured(target)?;
    let synced = source.with_status(|s| s.synced.clone());
    let reference = if reference.is_empty() || reference == "HEAD" {
        source.repo.head().unwrap_or_default()
    } else {
        reference.to_owned()
    };
    let commits = source
        .repo
        .commits_between(synced.as_deref(), &reference, false, &source.paths)
        .await
        .map_err(|e| ApiError::server(e.to_string()))?;
    Ok(commits.into_iter().map(|c| c.revision).collect())
}
