//! Jobs: what `fluxctl` asks fluxd to do (release, policy changes, sync).
//!
//! Requests go into one queue per source and run one at a time, in the
//! source's loop, between syncs, as in Flux v1: so a job never races a sync
//! or another job for the repository. Each job gets Flux v1's kind of ID (16
//! random bytes written as a UUID) and a status (`queued`, `running`,
//! `succeeded` with the commit and result, `failed` with the error) kept in
//! a bounded cache for `fluxctl` to poll; a job that pushed a commit can
//! also be found after a restart through the note on its commit.

mod queue;
pub mod run;
mod spec;

pub use queue::{JobQueue, Queued, STATUS_CACHE_SIZE};
pub use spec::{Cause, JobSpec, UpdateSpec};

use std::fmt;

use flux_core::release::ReleaseResult;

/// A job's ID: 16 random bytes in the 8-4-4-4-12 hex form Flux v1 used.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct JobId(pub String);

impl JobId {
    /// A new random ID.
    pub fn random() -> Self {
        use ring::rand::SecureRandom as _;
        let mut b = [0u8; 16];
        // The system's random source failing is not something fluxd can
        // work around; IDs then stay unique through the time and a counter.
        if ring::rand::SystemRandom::new().fill(&mut b).is_err() {
            static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or_default();
            b[..8].copy_from_slice(&t.to_be_bytes());
            b[8..].copy_from_slice(&n.to_be_bytes());
        }
        let hex = |s: &[u8]| s.iter().map(|x| format!("{x:02x}")).collect::<String>();
        JobId(format!(
            "{}-{}-{}-{}-{}",
            hex(&b[0..4]),
            hex(&b[4..6]),
            hex(&b[6..8]),
            hex(&b[8..10]),
            hex(&b[10..16])
        ))
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a finished job produced.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobOutcome {
    /// The commit it pushed (or, for a sync job, the head to wait for).
    pub revision: Option<String>,
    /// The spec it ran, as received.
    pub spec: Option<UpdateSpec>,
    /// Per-workload results of a release or policy change.
    pub result: Option<ReleaseResult>,
}

/// Where a job is.
#[derive(Debug, Clone, PartialEq)]
pub enum JobStatus {
    /// Waiting for its turn.
    Queued,
    /// Running now.
    Running,
    /// Done.
    Succeeded(JobOutcome),
    /// Failed; nothing was pushed.
    Failed {
        /// Why.
        error: String,
        /// What it had worked out before failing.
        outcome: JobOutcome,
    },
}

impl JobStatus {
    /// Flux v1's status string.
    pub fn as_str(&self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Succeeded(_) => "succeeded",
            JobStatus::Failed { .. } => "failed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_look_like_flux_v1_ids_and_differ() {
        let a = JobId::random();
        let b = JobId::random();
        assert_ne!(a, b);
        let parts: Vec<usize> = a.0.split('-').map(str::len).collect();
        assert_eq!(parts, [8, 4, 4, 4, 12]);
        assert!(a.0.chars().all(|c| c == '-' || c.is_ascii_hexdigit()));
    }
}
