//! Waiting on fluxd: for a job to finish, then for its commit to be
//! applied, polling with backoff (Flux v1's schedule) within `--timeout`,
//! with progress on a terminal (a spinner) and plain lines otherwise.

use std::future::Future;
use std::io::Write;
use std::time::Duration;

use flux_api::client::Client;
use flux_api::job::{self, JobResult, StatusString};
use tokio::time::Instant;

use super::api_error;
use crate::error::timeout;

/// Shows what is being waited for.
pub struct Progress {
    bar: Option<indicatif::ProgressBar>,
}

impl Progress {
    /// A spinner on stderr if it is a terminal; otherwise plain lines (and
    /// no spinner) go to the command's error stream.
    pub fn new(terminal: bool) -> Self {
        let bar = terminal.then(|| {
            let bar = indicatif::ProgressBar::new_spinner();
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Progress { bar }
    }

    /// Says what is happening now.
    pub fn step(&self, err: &mut dyn Write, message: &str) {
        match &self.bar {
            Some(bar) => bar.set_message(message.to_owned()),
            None => {
                let _ = writeln!(err, "{message}");
            }
        }
    }

    /// Removes the spinner.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Calls `f` until it returns `Some`, sleeping `initial`, then twice as
/// long each time up to `max`, until `deadline`; `None` if it passed.
pub async fn poll<T, F, Fut>(
    initial: Duration,
    max: Duration,
    deadline: Instant,
    mut f: F,
) -> anyhow::Result<Option<T>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Option<T>>>,
{
    let mut delay = initial;
    loop {
        if let Some(v) = f().await? {
            return Ok(Some(v));
        }
        let now = Instant::now();
        if now + delay > deadline {
            return Ok(None);
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(max);
    }
}

/// Waits for job `id`; its result, or an error if it failed.
pub async fn job(
    client: &Client,
    id: &job::Id,
    deadline: Instant,
    progress: &Progress,
    err: &mut dyn Write,
) -> anyhow::Result<JobResult> {
    progress.step(err, &format!("Waiting for job {id} ..."));
    let status = poll(
        Duration::from_millis(100),
        Duration::from_secs(5),
        deadline,
        || async {
            let s = client.job_status(id).await.map_err(api_error)?;
            Ok(s.is_finished().then_some(s))
        },
    )
    .await;
    let status = match status {
        Ok(Some(s)) => s,
        Ok(None) => {
            progress.finish();
            return Err(timeout(format!(
                "timed out waiting for job {id}; it may yet succeed: check the git log or the cluster; it is safe to retry"
            )));
        }
        Err(e) => {
            progress.finish();
            return Err(e);
        }
    };
    if status.status_string == StatusString::Failed || !status.err.is_empty() {
        progress.finish();
        let reason = if status.err.is_empty() {
            "no reason given".to_owned()
        } else {
            status.err.clone()
        };
        return Err(JobFailed {
            id: id.to_string(),
            reason,
            result: Box::new(status.result),
        }
        .into());
    }
    Ok(status.result)
}

/// A job that fluxd reports as failed, with whatever result it had.
#[derive(Debug, thiserror::Error)]
#[error("job {id} failed: {reason}")]
pub struct JobFailed {
    /// The job.
    pub id: String,
    /// fluxd's error.
    pub reason: String,
    /// The result so far (per-workload outcomes, if any).
    pub result: Box<JobResult>,
}

/// Waits until fluxd has applied `revision` (SyncStatus lists no commits
/// left); `false` if the deadline passed first.
pub async fn sync(
    client: &Client,
    revision: &str,
    deadline: Instant,
    progress: &Progress,
    err: &mut dyn Write,
) -> anyhow::Result<bool> {
    progress.step(
        err,
        &format!("Waiting for {} to be applied ...", short(revision)),
    );
    let done = poll(
        Duration::from_secs(1),
        Duration::from_secs(10),
        deadline,
        || async {
            let pending = client.sync_status(revision).await.map_err(api_error)?;
            Ok(pending.is_empty().then_some(()))
        },
    )
    .await?;
    Ok(done.is_some())
}

/// The first 7 characters of a revision, as git and Flux v1 show it.
pub fn short(revision: &str) -> &str {
    revision.get(..7).unwrap_or(revision)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn backs_off_and_gives_up_at_the_deadline() {
        let calls = AtomicUsize::new(0);
        let start = Instant::now();
        let got: Option<()> = poll(
            Duration::from_millis(100),
            Duration::from_millis(500),
            start + Duration::from_secs(2),
            || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Ok(None)
            },
        )
        .await
        .expect("no error");
        assert_eq!(got, None);
        // Sleeps 100, 200, 400, 500, 500 ms (1.7 s), then the next 500 ms
        // would pass the deadline.
        assert_eq!(calls.load(Ordering::SeqCst), 6);
        assert_eq!(start.elapsed(), Duration::from_millis(1700));
    }

    #[tokio::test(start_paused = true)]
    async fn returns_as_soon_as_done() {
        let calls = AtomicUsize::new(0);
        let got = poll(
            Duration::from_secs(1),
            Duration::from_secs(10),
            Instant::now() + Duration::from_secs(60),
            || async {
                let n = calls.fetch_add(1, Ordering::SeqCst);
                Ok((n == 2).then_some(n))
            },
        )
        .await
        .expect("no error");
        assert_eq!(got, Some(2));
    }
}
