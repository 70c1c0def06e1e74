//! The git poll loop: fetch every `--git-poll-interval`, or at once when
//! notified, and publish each new head.
//!
//! The loop itself is generic over what a "refresh" is, so that its timing
//! is tested with paused tokio time against a fake; [`Repo::run`] runs it
//! with real fetches.

use std::future::Future;
use std::time::Duration;

use tokio::sync::Notify;

use crate::error::Error;
use crate::repo::{Refreshed, Repo};

/// After a failed fetch, try again this soon (Flux v1 retried after 10s),
/// unless the poll interval is shorter.
pub const RETRY_AFTER_ERROR: Duration = Duration::from_secs(10);

/// Something the loop can refresh.
#[async_trait::async_trait]
pub trait Refresh: Send + Sync {
    /// Fetches and reports the head.
    async fn refresh(&self) -> Result<Refreshed, Error>;
}

#[async_trait::async_trait]
impl Refresh for Repo {
    async fn refresh(&self) -> Result<Refreshed, Error> {
        Repo::refresh(self).await
    }
}

/// Refreshes at once, then every `interval` (or `RETRY_AFTER_ERROR` after a
/// failure, if sooner), and whenever `notify` fires, until `shutdown`
/// completes. Each result is handed to `report`.
pub async fn poll<R, S, F>(
    target: &R,
    interval: Duration,
    notify: &Notify,
    shutdown: S,
    mut report: F,
) where
    R: Refresh + ?Sized,
    S: Future<Output = ()>,
    F: FnMut(&Result<Refreshed, Error>),
{
    tokio::pin!(shutdown);
    loop {
        let result = tokio::select! {
            biased;
            () = &mut shutdown => return,
            result = target.refresh() => result,
        };
        let wait = if result.is_ok() {
            interval
        } else {
            interval.min(RETRY_AFTER_ERROR)
        };
        report(&result);
        tokio::select! {
            biased;
            () = &mut shutdown => return,
            () = notify.notified() => {}
            () = tokio::time::sleep(wait) => {}
        }
    }
}

impl Repo {
    /// Runs the poll loop until `shutdown`: fetches every
    /// `--git-poll-interval` and on [`Repo::notify`]; new heads go to
    /// [`Repo::subscribe`]rs, failures to the log and [`Repo::status`].
    pub async fn run(&self, shutdown: impl Future<Output = ()>) {
        let interval = self.inner.config.poll_interval;
        poll(
            self,
            interval,
            &self.inner.notify,
            shutdown,
            |result| match result {
                Ok(r) if r.moved => {
                    tracing::info!(head = %r.head, previous = ?r.previous, "git branch moved")
                }
                Ok(_) => tracing::debug!("git branch unchanged"),
                Err(e) => tracing::warn!(error = %e, "git fetch failed"),
            },
        )
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Counts refreshes and when they happened; fails every `fail_every`th.
    struct Fake {
        calls: AtomicUsize,
        at: Mutex<Vec<Duration>>,
        start: tokio::time::Instant,
        fail: bool,
    }

    impl Fake {
        fn new(fail: bool) -> Self {
            Fake {
                calls: AtomicUsize::new(0),
                at: Mutex::new(Vec::new()),
                start: tokio::time::Instant::now(),
                fail,
            }
        }
        fn times(&self) -> Vec<u64> {
            self.at
                .lock()
                .unwrap()
                .iter()
                .map(|d| d.as_secs())
                .collect()
        }
    }

    #[async_trait::async_trait]
    impl Refresh for Fake {
        async fn refresh(&self) -> Result<Refreshed, Error> {
            let n = self.calls.fetch_add(1, Ordering::SeqCst);
            self.at.lock().unwrap().push(self.start.elapsed());
            if self.fail {
                return Err(Error::NotFetched { url: "x".into() });
            }
            Ok(Refreshed {
                head: n.to_string(),
                previous: None,
                moved: true,
            })
        }
    }

    #[tokio::test(start_paused = true)]
    async fn polls_on_the_interval_and_when_notified() {
        let fake = Fake::new(false);
        let notify = Notify::new();
        let shutdown = tokio::time::sleep(Duration::from_secs(1000));
        let run = poll(&fake, Duration::from_secs(300), &notify, shutdown, |_| {});
        let poke = async {
            tokio::time::sleep(Duration::from_secs(400)).await;
            notify.notify_one();
        };
        tokio::join!(run, poke);
        // At once, at 300, notified at 400 (which resets the interval), 700.
        assert_eq!(fake.times(), [0, 300, 400, 700]);
    }

    #[tokio::test(start_paused = true)]
    async fn failures_are_retried_sooner() {
        let fake = Fake::new(true);
        let notify = Notify::new();
        let shutdown = tokio::time::sleep(Duration::from_secs(35));
        let mut errors = 0;
        poll(&fake, Duration::from_secs(300), &notify, shutdown, |r| {
            errors += usize::from(r.is_err())
        })
        .await;
        assert_eq!(fake.times(), [0, 10, 20, 30]);
        assert_eq!(errors, 4);
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_stops_the_loop() {
        let fake = Fake::new(false);
        let notify = Notify::new();
        poll(&fake, Duration::from_secs(5), &notify, async {}, |_| {}).await;
        assert!(fake.calls.load(Ordering::SeqCst) <= 1);
    }
}
