//! From fluxd's own types to Flux v1's wire types.

use flux_api::git::GitRepoStatus;
use flux_api::job::{JobResult, Status};
use flux_api::update::UpdateResult;
use flux_git::{FingerprintHash, RepoState, RepoStatus};

use crate::deploykey::Identity;
use crate::job::{JobId, JobOutcome, JobStatus};
use crate::source::Source;

/// A job's status as Flux v1 writes it.
pub fn job_status(status: &JobStatus) -> Status {
    match status {
        JobStatus::Queued => Status::queued(),
        JobStatus::Running => Status::running(),
        JobStatus::Succeeded(o) => Status::succeeded(result(o)),
        JobStatus::Failed { error, outcome } => Status::failed(error.clone(), result(outcome)),
    }
}

fn result(o: &JobOutcome) -> JobResult {
    JobResult {
        revision: o.revision.clone().unwrap_or_default(),
        spec: o.spec.clone().map(Box::new),
        result: o
            .result
            .as_ref()
            .map(UpdateResult::from)
            .unwrap_or_default(),
    }
}

/// The repository's state as Flux v1 names it.
pub fn repo_status(status: &RepoStatus) -> GitRepoStatus {
    match status.state {
        RepoState::New if status.error.is_some() => GitRepoStatus::Unreachable,
        RepoState::New => GitRepoStatus::New,
        RepoState::Cloned => GitRepoStatus::Cloned,
        RepoState::Ready => GitRepoStatus::Ready,
    }
}

/// The deploy key as Flux v1's API shows it (MD5 and SHA256 fingerprints).
pub fn public_key(
    identity: &Identity,
) -> Result<flux_api::ssh::PublicKey, crate::deploykey::KeyError> {
    let mut fingerprints = std::collections::BTreeMap::new();
    for (name, hash) in [
        ("md5", FingerprintHash::Md5),
        ("sha256", FingerprintHash::Sha256),
    ] {
        let f = identity.fingerprint(hash)?;
        fingerprints.insert(
            name.to_owned(),
            flux_api::ssh::Fingerprint {
                hash: f.hash,
                randomart: f.randomart,
            },
        );
    }
    Ok(flux_api::ssh::PublicKey {
        key: identity.public_key(),
        fingerprints,
    })
}

/// How many commits back the notes are searched for a job.
const NOTE_SEARCH_DEPTH: usize = 500;

/// A job found through the note on its commit (`{"jobID", "spec", "result"}`).
pub async fn find_job_in_notes(source: &Source, id: &JobId) -> Option<Status> {
    let head = source.repo.head()?;
    let noted = source.repo.noted_revisions().await.ok()?;
    if noted.is_empty() {
        return None;
    }
    let commits = source
        .repo
        .commits_between(None, &head, false, &[])
        .await
        .ok()?;
    for c in commits.iter().take(NOTE_SEARCH_DEPTH) {
        if !noted.contains(&c.revision) {
            continue;
        }
        let Ok(Some(bytes)) = source.repo.note(&c.revision).await else {
            continue;
        };
        #[derive(serde::Deserialize)]
        struct Note {
            #[serde(rename = "jobID")]
            job_id: String,
            spec: Option<flux_api::update::Spec>,
            #[serde(default)]
            result: UpdateResult,
        }
        let Ok(note) = serde_json::from_slice::<Note>(&bytes) else {
            continue;
        };
        if note.job_id == id.0 {
            return Some(Status::succeeded(JobResult {
                revision: c.revision.clone(),
                spec: note.spec.map(Box::new),
                result: note.result,
            }));
        }
    }
    None
}
