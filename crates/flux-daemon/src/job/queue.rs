//! The queue and the status cache.

use std::collections::VecDeque;
use std::sync::Mutex;

use tokio::sync::mpsc;

use super::{JobId, JobSpec, JobStatus};

/// How many job statuses are remembered (oldest forgotten first).
pub const STATUS_CACHE_SIZE: usize = 256;

/// A job waiting in the queue.
#[derive(Debug)]
pub struct Queued {
    /// Its ID.
    pub id: JobId,
    /// What to do.
    pub spec: JobSpec,
    /// When it was queued.
    pub queued_at: std::time::Instant,
}

/// One source's jobs: the queue its loop takes from, and every job's status.
#[derive(Debug)]
pub struct JobQueue {
    tx: mpsc::UnboundedSender<Queued>,
    rx: tokio::sync::Mutex<mpsc::UnboundedReceiver<Queued>>,
    statuses: Mutex<VecDeque<(JobId, JobStatus)>>,
    len: std::sync::atomic::AtomicUsize,
    closed: std::sync::atomic::AtomicBool,
}

/// The queue no longer takes jobs (fluxd is shutting down).
#[derive(Debug, thiserror::Error)]
#[error("fluxd is shutting down and takes no new jobs")]
pub struct Closed;

impl Default for JobQueue {
    fn default() -> Self {
        Self::new()
    }
}

impl JobQueue {
    /// An empty queue.
    pub fn new() -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        JobQueue {
            tx,
            rx: tokio::sync::Mutex::new(rx),
            statuses: Mutex::new(VecDeque::new()),
            len: Default::default(),
            closed: Default::default(),
        }
    }

    /// Queues a job and returns its ID.
    pub fn enqueue(&self, spec: JobSpec) -> Result<JobId, Closed> {
        if self.closed.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(Closed);
        }
        let id = JobId::random();
        self.set_status(&id, JobStatus::Queued);
        self.len.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.tx
            .send(Queued {
                id: id.clone(),
                spec,
                queued_at: std::time::Instant::now(),
            })
            .map_err(|_| Closed)?;
        Ok(id)
    }

    /// Stops taking jobs; jobs already queued are failed as abandoned by
    /// [`JobQueue::abandon_queued`].
    pub fn close(&self) {
        self.closed.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Marks every job still queued as failed (at shutdown): nothing was
    /// pushed for them, and the caller is told so.
    pub async fn abandon_queued(&self) {
        let mut rx = self.rx.lock().await;
        while let Ok(job) = rx.try_recv() {
            self.len.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            self.set_status(
                &job.id,
                JobStatus::Failed {
                    error: "fluxd shut down before the job ran; nothing was changed".into(),
                    outcome: Default::default(),
                },
            );
        }
    }

    /// Waits for the next job.
    pub async fn next(&self) -> Option<Queued> {
        let job = self.rx.lock().await.recv().await;
        if job.is_some() {
            self.len.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        }
        job
    }

    /// Jobs waiting.
    pub fn len(&self) -> usize {
        self.len.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Whether no job is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Records a job's status (the oldest is forgotten past
    /// [`STATUS_CACHE_SIZE`]).
    pub fn set_status(&self, id: &JobId, status: JobStatus) {
        let mut statuses = self
            .statuses
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(entry) = statuses.iter_mut().find(|(i, _)| i == id) {
            entry.1 = status;
            return;
        }
        if statuses.len() >= STATUS_CACHE_SIZE {
            statuses.pop_front();
        }
        statuses.push_back((id.clone(), status));
    }

    /// A job's status, if remembered.
    pub fn status(&self, id: &JobId) -> Option<JobStatus> {
        self.statuses
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .find(|(i, _)| i == id)
            .map(|(_, s)| s.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::{Cause, JobOutcome};

    #[tokio::test]
    async fn jobs_come_out_in_order_with_statuses() {
        let q = JobQueue::new();
        let a = q
            .enqueue(JobSpec::Sync {
                cause: Cause::default(),
            })
            .unwrap();
        let b = q
            .enqueue(JobSpec::Sync {
                cause: Cause::default(),
            })
            .unwrap();
        assert_eq!(q.len(), 2);
        assert_eq!(q.status(&a), Some(JobStatus::Queued));
        let first = q.next().await.unwrap();
        assert_eq!(first.id, a);
        q.set_status(&a, JobStatus::Running);
        assert_eq!(q.status(&a).unwrap().as_str(), "running");
        q.set_status(&a, JobStatus::Succeeded(JobOutcome::default()));
        assert_eq!(q.next().await.unwrap().id, b);
        assert!(q.is_empty());
    }

    #[tokio::test]
    async fn the_cache_forgets_the_oldest() {
        let q = JobQueue::new();
        let first = JobId::random();
        q.set_status(&first, JobStatus::Queued);
        for _ in 0..STATUS_CACHE_SIZE {
            q.set_status(&JobId::random(), JobStatus::Queued);
        }
        assert_eq!(q.status(&first), None);
    }

    #[tokio::test]
    async fn closing_refuses_and_abandons() {
        let q = JobQueue::new();
        let a = q
            .enqueue(JobSpec::Sync {
                cause: Cause::default(),
            })
            .unwrap();
        q.close();
        assert!(
            q.enqueue(JobSpec::Sync {
                cause: Cause::default()
            })
            .is_err()
        );
        q.abandon_queued().await;
        assert!(matches!(q.status(&a), Some(JobStatus::Failed { .. })));
        assert!(q.is_empty());
    }
}
