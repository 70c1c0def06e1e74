//! Per-host request budgets: a token bucket (`--registry-rps`,
//! `--registry-burst`), backoff after `429 Too Many Requests` (honouring
//! `Retry-After`) and after server errors or failed connections.
//!
//! Modelled on Flux v1's rate limiter: a 429 halves the host's rate (never
//! below 0.1/s), and the rate creeps back up by half again after a fully
//! successful repository scan, once 20 minutes have passed since the last
//! 429. Unlike Flux v1, 5xx answers and unreachable hosts also back off,
//! exponentially, so a registry that is down is not asked again at full rate.
//!
//! All waiting uses tokio's clock, so tests drive it with paused time.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Limits and backoff settings shared by every host.
#[derive(Debug, Clone, PartialEq)]
pub struct RateOptions {
    /// Sustained requests per second per host (Flux v1: `--registry-rps`, 50).
    pub rps: f64,
    /// Requests that may go at once after a quiet spell (`--registry-burst`, 10).
    pub burst: u32,
    /// The longest a request waits for its host before giving up for this scan.
    pub max_wait: Duration,
    /// First backoff after a server error or failed connection; doubles each time.
    pub backoff_base: Duration,
    /// Longest backoff (also caps `Retry-After`).
    pub backoff_max: Duration,
    /// How long after the last 429 the rate may start recovering.
    pub recover_after: Duration,
}

impl Default for RateOptions {
    fn default() -> Self {
        Self {
            rps: 50.0,
            burst: 10,
            max_wait: Duration::from_secs(60),
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(300),
            recover_after: Duration::from_secs(20 * 60),
        }
    }
}

/// The lowest rate a host is ever slowed to.
const MIN_RPS: f64 = 0.1;

/// How a request to a host went, for the limiter's bookkeeping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Any answer that is not a 429 or a 5xx.
    Answered,
    /// `429 Too Many Requests`, with the `Retry-After` it carried.
    TooManyRequests(Option<Duration>),
    /// A 5xx answer, a failed connection or a timeout.
    Failed,
}

/// The host will not take requests within the wait budget.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{host}: backing off for another {}s", .wait.as_secs())]
pub struct Blocked {
    /// The host.
    pub host: String,
    /// How long until it takes requests again.
    pub wait: Duration,
}

/// What the limiter knows about one host (for logs, metrics and tests).
#[derive(Debug, Clone, PartialEq)]
pub struct HostStatus {
    /// Current rate, requests per second.
    pub rps: f64,
    /// Consecutive failures (429, 5xx, connection errors).
    pub failures: u32,
    /// Time left until the host takes requests again, if it is backing off.
    pub blocked_for: Option<Duration>,
}

#[derive(Debug)]
struct Host {
    rate: f64,
    tokens: f64,
    updated: Instant,
    blocked_until: Option<Instant>,
    failures: u32,
    last_429: Option<Instant>,
}

/// Rate limits and backoff state for every registry host seen.
#[derive(Debug)]
pub struct Limiter {
    options: RateOptions,
    hosts: Mutex<HashMap<String, Host>>,
}

impl Limiter {
    /// A limiter with these settings. A rate below 0.1/s (or not a number)
    /// is taken as 0.1/s, the lowest a 429 slows a host to: a limiter that
    /// never lets a request through would only hang scans.
    pub fn new(mut options: RateOptions) -> Self {
        options.rps = options.rps.max(MIN_RPS);
        Self {
            options,
            hosts: Mutex::new(HashMap::new()),
        }
    }

    /// The settings.
    pub fn options(&self) -> &RateOptions {
        &self.options
    }

    fn with_host<T>(&self, host: &str, f: impl FnOnce(&mut Host, &RateOptions) -> T) -> T {
        let mut hosts = self.hosts.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let h = hosts.entry(host.to_owned()).or_insert_with(|| Host {
            rate: self.options.rps,
            tokens: f64::from(self.options.burst.max(1)),
            updated: now,
            blocked_until: None,
            failures: 0,
            last_429: None,
        });
        f(h, &self.options)
    }

    /// Waits until `host` may be sent one request, or fails at once if that
    /// would take longer than [`RateOptions::max_wait`].
    pub async fn acquire(&self, host: &str) -> Result<(), Blocked> {
        let wake = self.with_host(host, |h, o| {
            let now = Instant::now();
            let blocked = h.blocked_until.filter(|&t| t > now);
            // Refill, then reserve one token (it may go negative: the wait pays for it).
            let elapsed = now.saturating_duration_since(h.updated).as_secs_f64();
            h.tokens = (h.tokens + elapsed * h.rate).min(f64::from(o.burst.max(1)));
            h.updated = now;
            let token_wait = if h.tokens >= 1.0 {
                Duration::ZERO
            } else {
                Duration::from_secs_f64((1.0 - h.tokens) / h.rate)
            };
            let start = blocked.unwrap_or(now);
            let wake = start + token_wait;
            let wait = wake - now;
            if wait > o.max_wait {
                return Err(Blocked {
                    host: host.to_owned(),
                    wait,
                });
            }
            h.tokens -= 1.0;
            Ok(wake)
        })?;
        tokio::time::sleep_until(wake).await;
        // A 429 or failure seen by another request while we slept blocks us too.
        loop {
            let until = self.with_host(host, |h, _| h.blocked_until);
            match until {
                Some(t) if t > Instant::now() => {
                    if t - Instant::now() > self.options.max_wait {
                        return Err(Blocked {
                            host: host.to_owned(),
                            wait: t - Instant::now(),
                        });
                    }
                    tokio::time::sleep_until(t).await;
                }
                _ => return Ok(()),
            }
        }
    }

    /// Records how a request to `host` went.
    pub fn record(&self, host: &str, outcome: Outcome) {
        self.with_host(host, |h, o| {
            let now = Instant::now();
            match outcome {
                Outcome::Answered => {
                    h.failures = 0;
                }
                Outcome::TooManyRequests(retry_after) => {
                    h.failures = h.failures.saturating_add(1);
                    let new_rate = (h.rate / 2.0).max(MIN_RPS);
                    if new_rate < h.rate {
                        tracing::info!(
                            host,
                            rps = new_rate,
                            "registry said 429: reducing rate limit"
                        );
                    }
                    h.rate = new_rate;
                    h.last_429 = Some(now);
                    let wait = retry_after
                        .unwrap_or_else(|| backoff(o, h.failures))
                        .min(o.backoff_max);
                    extend_block(h, now + wait);
                }
                Outcome::Failed => {
                    h.failures = h.failures.saturating_add(1);
                    extend_block(h, now + backoff(o, h.failures));
                }
            }
        });
    }

    /// Raises the host's rate by half again (up to the configured rate), if
    /// no 429 came in the last [`RateOptions::recover_after`]. Called after a
    /// repository was scanned without incident.
    pub fn recover(&self, host: &str) {
        self.with_host(host, |h, o| {
            let now = Instant::now();
            if h.last_429
                .is_some_and(|t| now.saturating_duration_since(t) < o.recover_after)
            {
                return;
            }
            let new_rate = (h.rate * 1.5).min(o.rps);
            if new_rate > h.rate {
                tracing::info!(host, rps = new_rate, "increasing rate limit");
            }
            h.rate = new_rate;
        });
    }

    /// What the limiter knows about `host`.
    pub fn status(&self, host: &str) -> HostStatus {
        self.with_host(host, |h, _| {
            let now = Instant::now();
            HostStatus {
                rps: h.rate,
                failures: h.failures,
                blocked_for: h.blocked_until.filter(|&t| t > now).map(|t| t - now),
            }
        })
    }
}

fn backoff(o: &RateOptions, failures: u32) -> Duration {
    let exp = failures.saturating_sub(1).min(20);
    o.backoff_base.saturating_mul(1 << exp).min(o.backoff_max)
}

fn extend_block(h: &mut Host, until: Instant) {
    if h.blocked_until.is_none_or(|t| t < until) {
        h.blocked_until = Some(until);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(rps: f64, burst: u32) -> Limiter {
        Limiter::new(RateOptions {
            rps,
            burst,
            ..RateOptions::default()
        })
    }

    #[tokio::test(start_paused = true)]
    async fn burst_then_steady_rate() {
        let l = limiter(50.0, 10);
        let start = Instant::now();
        for _ in 0..10 {
            l.acquire("h").await.unwrap();
        }
        assert_eq!(start.elapsed(), Duration::ZERO, "burst goes at once");
        for _ in 0..100 {
            l.acquire("h").await.unwrap();
        }
        // 100 more at 50/s take two seconds.
        let took = start.elapsed().as_secs_f64();
        assert!((1.99..2.01).contains(&took), "{took}");
        // Another host is not slowed by the first.
        let t = Instant::now();
        l.acquire("other").await.unwrap();
        assert_eq!(t.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_waiters_share_the_rate() {
        let l = std::sync::Arc::new(limiter(10.0, 1));
        let start = Instant::now();
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let l = l.clone();
                tokio::spawn(async move { l.acquire("h").await })
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        let took = start.elapsed().as_secs_f64();
        assert!((1.89..1.91).contains(&took), "{took}");
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_is_honoured_and_rate_halves() {
        let l = limiter(50.0, 10);
        l.acquire("h").await.unwrap();
        l.record("h", Outcome::TooManyRequests(Some(Duration::from_secs(7))));
        assert_eq!(l.status("h").rps, 25.0);
        let t = Instant::now();
        l.acquire("h").await.unwrap();
        assert_eq!(t.elapsed(), Duration::from_secs(7));
        // Repeated 429s never drop below the floor.
        for _ in 0..20 {
            l.record("h", Outcome::TooManyRequests(Some(Duration::ZERO)));
        }
        assert_eq!(l.status("h").rps, MIN_RPS);
    }

    #[tokio::test(start_paused = true)]
    async fn failures_back_off_exponentially_and_reset() {
        let l = limiter(50.0, 10);
        let mut waits = Vec::new();
        for _ in 0..5 {
            l.record("h", Outcome::Failed);
            waits.push(l.status("h").blocked_for.unwrap().as_secs());
            tokio::time::advance(Duration::from_secs(600)).await;
        }
        assert_eq!(waits, vec![1, 2, 4, 8, 16]);
        l.record("h", Outcome::Answered);
        l.record("h", Outcome::Failed);
        assert_eq!(l.status("h").blocked_for, Some(Duration::from_secs(1)));
        // Capped.
        for _ in 0..30 {
            l.record("h", Outcome::Failed);
        }
        assert_eq!(l.status("h").blocked_for, Some(Duration::from_secs(300)));
    }

    #[tokio::test(start_paused = true)]
    async fn waits_beyond_the_budget_fail_fast() {
        let l = Limiter::new(RateOptions {
            max_wait: Duration::from_secs(10),
            ..RateOptions::default()
        });
        l.record(
            "h",
            Outcome::TooManyRequests(Some(Duration::from_secs(120))),
        );
        let t = Instant::now();
        let e = l.acquire("h").await.unwrap_err();
        assert_eq!(t.elapsed(), Duration::ZERO);
        assert_eq!(e.wait, Duration::from_secs(120));
        assert!(e.to_string().contains("backing off"), "{e}");
        // Other hosts carry on.
        l.acquire("other").await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn rates_of_zero_or_nan_wait_at_the_lowest_rate_instead_of_panicking() {
        // Regression: these made the token wait infinite or overflowing,
        // and Duration::from_secs_f64 panicked.
        for rps in [0.0, -1.0, f64::NAN, 1e-300] {
            let l = limiter(rps, 1);
            assert_eq!(l.options().rps, MIN_RPS, "{rps}");
            l.acquire("h").await.unwrap();
            let t = Instant::now();
            l.acquire("h").await.unwrap();
            assert_eq!(t.elapsed(), Duration::from_secs(10), "{rps}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_seen_while_waiting_delays_waiters() {
        let l = std::sync::Arc::new(limiter(1.0, 1));
        l.acquire("h").await.unwrap();
        // The next token is due in 1s; a 429 with Retry-After 5s arrives meanwhile.
        let waiter = {
            let l = l.clone();
            tokio::spawn(async move {
                let t = Instant::now();
                l.acquire("h").await.unwrap();
                t.elapsed()
            })
        };
        tokio::task::yield_now().await;
        l.record("h", Outcome::TooManyRequests(Some(Duration::from_secs(5))));
        assert_eq!(waiter.await.unwrap(), Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn rate_recovers_only_after_cool_down() {
        let l = limiter(40.0, 10);
        l.record("h", Outcome::TooManyRequests(Some(Duration::ZERO)));
        l.record("h", Outcome::TooManyRequests(Some(Duration::ZERO)));
        assert_eq!(l.status("h").rps, 10.0);
        l.recover("h");
        assert_eq!(l.status("h").rps, 10.0, "too soon after a 429");
        tokio::time::advance(Duration::from_secs(20 * 60)).await;
        l.recover("h");
        assert_eq!(l.status("h").rps, 15.0);
        for _ in 0..10 {
            l.recover("h");
        }
        assert_eq!(l.status("h").rps, 40.0, "never above the configured rate");
    }
}
