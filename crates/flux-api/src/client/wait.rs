//! Waiting for a job to finish and for the daemon to apply a revision, as
//! fluxctl does after a write verb: poll with exponential backoff until done
//! or out of time.
//!
//! Flux v1 polls the job from 100 ms, doubling up to 5 s ([`Backoff::JOB`]),
//! and the sync from 1 s, doubling up to 10 s ([`Backoff::SYNC`]); it stops
//! early rather than sleep past the deadline.

use std::time::Duration;

use tokio::time::Instant;

use super::{Client, Error};
use crate::job::{self, JobResult, StatusString};

/// A polling schedule: the first delay, doubled after each poll up to a cap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// The delay after the first poll.
    pub initial: Duration,
    /// The longest delay.
    pub max: Duration,
}

impl Backoff {
    /// fluxctl's schedule for job status: 100 ms doubling to 5 s.
    pub const JOB: Backoff = Backoff {
        initial: Duration::from_millis(100),
        max: Duration::from_secs(5),
    };

    /// fluxctl's schedule for sync status: 1 s doubling to 10 s.
    pub const SYNC: Backoff = Backoff {
        initial: Duration::from_secs(1),
        max: Duration::from_secs(10),
    };

    /// The delays between polls, without end.
    pub fn delays(self) -> impl Iterator<Item = Duration> {
        std::iter::successors(Some(self.initial.min(self.max)), move |d| {
            Some(d.saturating_mul(2).min(self.max))
        })
    }
}

/// Calls `poll` until it gives a value, an error, or the deadline nears.
async fn poll_until<T, F, Fut>(
    timeout: Duration,
    backoff: Backoff,
    what: impl FnOnce() -> String,
    mut poll: F,
) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>, Error>>,
{
    let finish = Instant::now() + timeout;
    for delay in backoff.delays() {
        if Instant::now() >= finish {
            break;
        }
        if let Some(done) = poll().await? {
            return Ok(done);
        }
        if Instant::now() + delay > finish {
            break;
        }
        tokio::time::sleep(delay).await;
    }
    Err(Error::WaitTimeout {
        what: what(),
        timeout,
    })
}

impl Client {
    /// Polls a job until it succeeds (its result) or fails
    /// ([`Error::JobFailed`], with what it did), within `timeout`
    /// ([`Error::WaitTimeout`]), on fluxctl's schedule.
    pub async fn await_job(&self, id: &job::Id, timeout: Duration) -> Result<JobResult, Error> {
        self.await_job_with(id, timeout, Backoff::JOB).await
    }

    /// [`Client::await_job`] on a given schedule.
    pub async fn await_job_with(
        &self,
        id: &job::Id,
        timeout: Duration,
        backoff: Backoff,
    ) -> Result<JobResult, Error> {
        poll_until(
            timeout,
            backoff,
            || format!("job {id}"),
            || async {
                let status = self.job_status(id).await?;
                let failed = |status: job::Status| Error::JobFailed {
                    id: id.to_string(),
                    error: status.err,
                    result: Box::new(status.result),
                };
                match status.status_string {
                    StatusString::Failed => Err(failed(status)),
                    // Flux v1 treats a success with an error as a failure.
                    StatusString::Succeeded if !status.err.is_empty() => Err(failed(status)),
                    StatusString::Succeeded => Ok(Some(status.result)),
                    _ => Ok(None),
                }
            },
        )
        .await
    }

    /// Polls until the daemon has applied `revision` (no revision up to it
    /// is left to sync), within `timeout`, on fluxctl's schedule.
    pub async fn await_sync(&self, revision: &str, timeout: Duration) -> Result<(), Error> {
        self.await_sync_with(revision, timeout, Backoff::SYNC).await
    }

    /// [`Client::await_sync`] on a given schedule.
    pub async fn await_sync_with(
        &self,
        revision: &str,
        timeout: Duration,
        backoff: Backoff,
    ) -> Result<(), Error> {
        poll_until(
            timeout,
            backoff,
            || format!("the sync of revision {revision}"),
            || async {
                let pending = self.sync_status(revision).await?;
                Ok(pending.is_empty().then_some(()))
            },
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_double_up_to_their_cap() {
        let ms = |b: Backoff, n| {
            b.delays()
                .take(n)
                .map(|d| d.as_millis())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            ms(Backoff::JOB, 8),
            [100, 200, 400, 800, 1600, 3200, 5000, 5000]
        );
        assert_eq!(ms(Backoff::SYNC, 6), [1000, 2000, 4000, 8000, 10000, 10000]);
    }

    #[tokio::test(start_paused = true)]
    async fn polling_stops_before_sleeping_past_the_deadline() {
        let started = Instant::now();
        let mut polls = 0;
        let result: Result<(), Error> = poll_until(
            Duration::from_millis(1000),
            Backoff::JOB,
            || "a thing".to_owned(),
            || {
                polls += 1;
                async { Ok(None) }
            },
        )
        .await;
        // Polls at 0, 100, 300, 700 ms; the next would come at 1500 ms.
        assert_eq!(polls, 4);
        assert_eq!(started.elapsed(), Duration::from_millis(700));
        let err = result.expect_err("never done").to_string();
        assert!(err.contains("a thing") && err.contains("1s"), "{err}");
    }

    #[tokio::test(start_paused = true)]
    async fn polling_returns_the_value_or_the_error_at_once() {
        let mut polls = 0;
        let got = poll_until(Duration::from_secs(60), Backoff::JOB, String::new, || {
            polls += 1;
            let n = polls;
            async move { Ok((n == 3).then_some(n)) }
        })
        .await
        .expect("done on the third poll");
        assert_eq!(got, 3);
        let err = poll_until::<(), _, _>(
            Duration::from_secs(60),
            Backoff::JOB,
            String::new,
            || async {
                Err(Error::InvalidUrl {
                    url: "u".into(),
                    reason: "r".into(),
                })
            },
        )
        .await
        .expect_err("the poll's error");
        assert!(matches!(err, Error::InvalidUrl { .. }));
    }
}
