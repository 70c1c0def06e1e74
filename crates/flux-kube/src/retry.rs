//! Retrying requests the API server asks to repeat: 429 (throttled) and
//! 5xx, with exponential backoff, honouring `Retry-After`.
//!
//! kube-rs' own retry layer is turned off (it does not retry 500s, and two
//! layers would multiply attempts); this one is used around every call.
//! Transport failures (refused or dropped connections) are not retried:
//! they fail the operation at once, with a clear error.

use std::future::Future;
use std::time::Duration;

/// How requests are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// Delay before the first retry; doubled each time.
    pub base_delay: Duration,
    /// Longest delay, also the cap on a server's `Retry-After`.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// No retries.
    pub fn none() -> Self {
        RetryPolicy {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// The delay before retry number `retry` (0-based), given the server's
    /// `Retry-After`, if any.
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(2u32.saturating_pow(retry))
            .min(self.max_delay);
        match retry_after {
            Some(d) => d.min(self.max_delay),
            None => exp,
        }
    }

    /// Runs `op` until it succeeds, fails for good, or attempts run out.
    pub async fn run<T, F, Fut>(&self, mut op: F) -> Result<T, kube::Error>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, kube::Error>>,
    {
        let mut retry = 0;
        loop {
            match op().await {
                Ok(v) => return Ok(v),
                Err(e) => {
                    let Some(after) = retryable(&e) else {
                        return Err(e);
                    };
                    if retry + 1 >= self.max_attempts {
                        return Err(e);
                    }
                    let d = self.delay(retry, after);
                    tracing::debug!(error = %e, delay_ms = d.as_millis() as u64, "retrying a Kubernetes API request");
                    tokio::time::sleep(d).await;
                    retry += 1;
                }
            }
        }
    }
}

/// `Some(retry_after)` when the error is worth retrying.
fn retryable(e: &kube::Error) -> Option<Option<Duration>> {
    let kube::Error::Api(s) = e else { return None };
    if !matches!(s.code, 429 | 500 | 502 | 503 | 504) {
        return None;
    }
    let after = s
        .details
        .as_ref()
        .map(|d| d.retry_after_seconds)
        .filter(|s| *s > 0)
        .map(|s| Duration::from_secs(u64::from(s)));
    Some(after)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::{Status, response::StatusDetails};
    use std::sync::atomic::{AtomicU32, Ordering};

    fn status(code: u16, retry_after: u32) -> kube::Error {
        let mut s = Status::failure("nope", "X");
        s.code = code;
        if retry_after > 0 {
            s.details = Some(StatusDetails {
                name: String::new(),
                group: String::new(),
                kind: String::new(),
                uid: String::new(),
                causes: Vec::new(),
                retry_after_seconds: retry_after,
            });
        }
        kube::Error::Api(Box::new(s))
    }

    #[test]
    fn delays() {
        let p = RetryPolicy::default();
        let ms = |d: Duration| d.as_millis();
        assert_eq!(ms(p.delay(0, None)), 100);
        assert_eq!(ms(p.delay(3, None)), 800);
        assert_eq!(ms(p.delay(10, None)), 10_000, "capped");
        assert_eq!(ms(p.delay(0, Some(Duration::from_secs(2)))), 2000);
        assert_eq!(ms(p.delay(0, Some(Duration::from_secs(60)))), 10_000);
    }

    #[tokio::test(start_paused = true)]
    async fn throttling_and_server_errors_are_retried_with_backoff() {
        let calls = AtomicU32::new(0);
        let start = tokio::time::Instant::now();
        let r = RetryPolicy::default()
            .run(|| async {
                match calls.fetch_add(1, Ordering::SeqCst) {
                    0 => Err(status(429, 2)),
                    1 => Err(status(500, 0)),
                    _ => Ok(7),
                }
            })
            .await;
        assert_eq!(r.unwrap(), 7);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        // 2 s (Retry-After) then 200 ms (second backoff step).
        assert_eq!(start.elapsed(), Duration::from_millis(2200));
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_after_max_attempts_and_never_retries_client_errors() {
        let calls = AtomicU32::new(0);
        let r: Result<(), _> = RetryPolicy::default()
            .run(|| async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(status(503, 0))
            })
            .await;
        assert!(r.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 5);
        let calls = AtomicU32::new(0);
        let r: Result<(), _> = RetryPolicy::default()
            .run(|| async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(status(409, 0))
            })
            .await;
        assert!(r.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
