//! Watching fluxd from outside: the process (alive? its RSS from
//! `/proc/PID/status`), its `/metrics` (syncs, git readiness, registry
//! scans), and the emulator's request log (what fluxd asked the API server,
//! which answers were injected faults, and every DELETE it sent).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};

/// The `fluxd` program running as a child process.
pub struct FluxdProcess {
    child: Child,
    /// Its process id.
    pub pid: u32,
    /// `http://127.0.0.1:PORT`.
    pub root_url: String,
    /// Where its logs go (stderr, JSON lines).
    pub log_path: PathBuf,
}

impl FluxdProcess {
    /// Starts `program` with `args` (without the program name), its logs
    /// going to `log_path`.
    pub fn spawn(
        program: &Path,
        args: &[String],
        port: u16,
        log_path: &Path,
    ) -> anyhow::Result<Self> {
        let log = std::fs::File::create(log_path)
            .with_context(|| format!("creating {}", log_path.display()))?;
        let child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", program.display()))?;
        Ok(FluxdProcess {
            pid: child.id(),
            child,
            root_url: format!("http://127.0.0.1:{port}"),
            log_path: log_path.to_owned(),
        })
    }

    /// `None` while it runs; how it ended otherwise.
    pub fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(None) => None,
            Ok(Some(status)) => Some(status.to_string()),
            Err(e) => Some(format!("cannot wait for it: {e}")),
        }
    }

    /// Waits until `/readyz` answers 200.
    pub async fn wait_ready(&mut self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        let http = reqwest::Client::new();
        loop {
            if let Ok(r) = http.get(format!("{}/readyz", self.root_url)).send().await
                && r.status().is_success()
            {
                return Ok(());
            }
            if let Some(how) = self.exited() {
                bail!(
                    "fluxd exited before it was ready ({how}):\n{}",
                    self.log_tail(40)
                );
            }
            if Instant::now() > deadline {
                bail!("fluxd not ready after {timeout:?}:\n{}", self.log_tail(40));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The last `n` lines of its log.
    pub fn log_tail(&self, n: usize) -> String {
        let text = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// Sends SIGTERM and waits (at most `timeout`) for it to exit; its exit
    /// code, or an error.
    pub async fn terminate(&mut self, timeout: Duration) -> anyhow::Result<Option<i32>> {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()
            .context("kill -TERM")?;
        if !status.success() {
            bail!("kill -TERM {} failed", self.pid);
        }
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().context("waiting for fluxd")? {
                return Ok(status.code());
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                bail!("fluxd did not stop within {timeout:?} of SIGTERM");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for FluxdProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The resident set size of process `pid` in KiB (`VmRSS`).
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_vm_rss(&status)
}

fn parse_vm_rss(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// What the soak reads from fluxd's `/metrics`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Scrape {
    /// Clean syncs so far.
    pub syncs_clean: u64,
    /// Syncs that failed or finished with errors.
    pub syncs_failed: u64,
    /// `flux_git_ready`.
    pub git_ready: Option<bool>,
    /// Registry scans of a repository that succeeded.
    pub scans_ok: u64,
    /// Registry scans that failed or were skipped (host backing off).
    pub scans_failed: u64,
    /// Commits made by automation.
    pub automation_commits: u64,
    /// Syncs started by drift correction.
    pub drift_syncs: u64,
    /// Watch errors.
    pub watch_errors: u64,
}

/// Reads the metrics the soak needs from Prometheus text.
pub fn parse_metrics(text: &str) -> Scrape {
    let mut s = Scrape::default();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let value: f64 = value.parse().unwrap_or(0.0);
        let name = series.split('{').next().unwrap_or(series);
        let has = |label: &str| series.contains(label);
        let n = value as u64;
        match name {
            "flux_daemon_sync_duration_seconds_count" if has("success=\"true\"") => {
                s.syncs_clean += n
            }
            "flux_daemon_sync_duration_seconds_count" => s.syncs_failed += n,
            "flux_git_ready" => s.git_ready = Some(value >= 1.0),
            "flux_registry_scans_total" if has("result=\"Ok\"") => s.scans_ok += n,
            "flux_registry_scans_total" => s.scans_failed += n,
            "flux_daemon_automation_commits_total" => s.automation_commits += n,
            "flux_daemon_drift_syncs_total" => s.drift_syncs += n,
            "flux_kube_watch_errors" => s.watch_errors += n,
            _ => {}
        }
    }
    s
}

/// A window in which a fault was active (for attributing what fluxd met).
#[derive(Debug, Clone)]
pub struct Window {
    /// Which fault.
    pub kind: crate::soak::faults::Kind,
    /// When it was put in place.
    pub start: DateTime<Utc>,
    /// When it was removed (`None` while active).
    pub end: Option<DateTime<Utc>>,
}

impl Window {
    fn covers(&self, t: DateTime<Utc>) -> bool {
        t >= self.start && self.end.is_none_or(|e| t <= e)
    }
}

/// A DELETE fluxd sent to the API server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delete {
    /// When.
    pub time: DateTime<Utc>,
    /// `delete` or `deletecollection`.
    pub verb: String,
    /// The request path.
    pub path: String,
    /// The status answered.
    pub status: u16,
}

/// Everything the monitor has seen, shared with the other workers.
#[derive(Debug, Default)]
pub struct Seen {
    /// `(seconds since start, KiB)` samples of fluxd's RSS.
    pub rss: Vec<(f64, u64)>,
    /// The latest scrape of `/metrics`.
    pub scrape: Scrape,
    /// How fluxd ended, if it did while watched.
    pub exited: Option<String>,
    /// Fault windows, added by the injector.
    pub windows: Vec<Window>,
    /// Requests fluxd sent to the API server.
    pub api_requests: u64,
    /// Requests of fluxd that met an API fault, by fault kind.
    pub api_faults_met: BTreeMap<crate::soak::faults::Kind, u64>,
    /// Git outages during which fluxd reported git not ready.
    pub git_outages_noticed: u64,
    /// Every DELETE fluxd sent.
    pub deletes: Vec<Delete>,
    /// Scrapes of `/metrics` that failed (fluxd's API not answering).
    pub scrape_failures: u64,
    /// Request log records the monitor did not read in time (the log
    /// keeps the last 100,000): DELETEs among them would go unseen.
    pub log_missed: u64,
    /// The sequence number of the next request log record to read.
    cursor: u64,
    /// Whether the current git outage window was noticed already.
    git_noticed_in_window: bool,
}

/// Shared handle to what the monitor saw.
pub type SeenHandle = Arc<Mutex<Seen>>;

/// Locks `seen` (a poisoned lock still holds the data).
pub fn lock(seen: &SeenHandle) -> std::sync::MutexGuard<'_, Seen> {
    seen.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Takes the new records of the emulator's request log into `seen`.
pub fn take_requests(seen: &mut Seen, tail: kube_emulator::requests::RequestTail) {
    use crate::soak::faults::Kind;
    seen.cursor = tail.next;
    seen.log_missed += tail.missed;
    for r in tail.records {
        if !r.user_agent.starts_with("fluxd/") {
            continue;
        }
        seen.api_requests += 1;
        let kinds: Vec<Kind> = seen
            .windows
            .iter()
            .filter(|w| w.covers(r.time))
            .map(|w| w.kind)
            .collect();
        for kind in kinds {
            let met = match kind {
                Kind::Api500 => r.status == 500,
                Kind::Api429 => r.status == 429,
                Kind::ApiDrop => r.status == 0,
                Kind::ApiLatency => true,
                _ => false,
            };
            if met {
                *seen.api_faults_met.entry(kind).or_default() += 1;
            }
        }
        if matches!(r.verb.as_str(), "delete" | "deletecollection") {
            seen.deletes.push(Delete {
                time: r.time,
                verb: r.verb,
                path: r.path,
                status: r.status,
            });
        }
    }
}

/// Watches fluxd every `period` until `stop` turns true: liveness, RSS,
/// metrics, the request log.
pub async fn watch(
    seen: SeenHandle,
    pid: u32,
    root_url: String,
    emulator: Arc<kube_emulator::Server>,
    started: Instant,
    period: Duration,
    stop: Arc<std::sync::atomic::AtomicBool>,
) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("a reqwest client with a timeout builds");
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        sample(&seen, pid, &root_url, &emulator, started, &http).await;
        tokio::time::sleep(period).await;
    }
}

/// One round of watching (also called once more at the end).
pub async fn sample(
    seen: &SeenHandle,
    pid: u32,
    root_url: &str,
    emulator: &kube_emulator::Server,
    started: Instant,
    http: &reqwest::Client,
) {
    let rss = rss_kib(pid);
    let scrape = match http.get(format!("{root_url}/metrics")).send().await {
        Ok(r) => r.text().await.ok().map(|t| parse_metrics(&t)),
        Err(_) => None,
    };
    let mut s = lock(seen);
    let tail = emulator.request_log_since(s.cursor);
    if let Some(kib) = rss {
        s.rss.push((started.elapsed().as_secs_f64(), kib));
    }
    match scrape {
        Some(scrape) => {
            let git_down = seen_git_window_open(&s);
            if git_down && scrape.git_ready == Some(false) && !s.git_noticed_in_window {
                s.git_noticed_in_window = true;
                s.git_outages_noticed += 1;
            }
            s.scrape = scrape;
        }
        None => s.scrape_failures += 1,
    }
    take_requests(&mut s, tail);
}

fn seen_git_window_open(s: &Seen) -> bool {
    s.windows
        .iter()
        .any(|w| w.kind == crate::soak::faults::Kind::GitRestart && w.end.is_none())
}

/// Records that a fault window opened.
pub fn open_window(seen: &SeenHandle, kind: crate::soak::faults::Kind) {
    let mut s = lock(seen);
    if kind == crate::soak::faults::Kind::GitRestart {
        s.git_noticed_in_window = false;
    }
    s.windows.push(Window {
        kind,
        start: Utc::now(),
        end: None,
    });
}

/// Records that every open window of `kind` closed.
pub fn close_window(seen: &SeenHandle, kind: crate::soak::faults::Kind) {
    let now = Utc::now();
    for w in lock(seen)
        .windows
        .iter_mut()
        .filter(|w| w.kind == kind && w.end.is_none())
    {
        w.end = Some(now);
    }
}

/// `(namespace, plural, name)` of a request path naming one object
/// (`/api/v1/namespaces/NS/PLURAL/NAME`, `/apis/G/V/namespaces/NS/PLURAL/NAME`,
/// or a cluster-scoped `/api/v1/PLURAL/NAME`).
pub fn object_of_path(path: &str) -> Option<(String, String, String)> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let rest = match parts.as_slice() {
        ["api", _v, rest @ ..] => rest,
        ["apis", _g, _v, rest @ ..] => rest,
        _ => return None,
    };
    match rest {
        ["namespaces", ns, plural, name] => {
            Some(((*ns).to_owned(), (*plural).to_owned(), (*name).to_owned()))
        }
        [plural, name] => Some((String::new(), (*plural).to_owned(), (*name).to_owned())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_rss_and_metrics() {
        assert_eq!(
            parse_vm_rss("Name:\tfluxd\nVmPeak:\t  9 kB\nVmRSS:\t   51234 kB\n"),
            Some(51234)
        );
        assert_eq!(parse_vm_rss("Name: x\n"), None);
        let text = "# HELP x\n\
            flux_daemon_sync_duration_seconds_count{source=\"default\",success=\"true\"} 12\n\
            flux_daemon_sync_duration_seconds_count{source=\"default\",success=\"false\"} 3\n\
            flux_daemon_sync_duration_seconds_sum{source=\"default\",success=\"true\"} 1.5\n\
            flux_git_ready{source=\"default\"} 0\n\
            flux_registry_scans_total{host=\"127.0.0.1:5\",result=\"Ok\"} 7\n\
            flux_registry_scans_total{host=\"127.0.0.1:5\",result=\"Error\"} 2\n\
            flux_registry_scans_total{host=\"127.0.0.1:5\",result=\"Skipped\"} 1\n\
            flux_daemon_automation_commits_total{source=\"default\"} 4\n";
        let s = parse_metrics(text);
        assert_eq!(
            s,
            Scrape {
                syncs_clean: 12,
                syncs_failed: 3,
                git_ready: Some(false),
                scans_ok: 7,
                scans_failed: 3,
                automation_commits: 4,
                drift_syncs: 0,
                watch_errors: 0,
            }
        );
    }

    #[test]
    fn paths_name_objects() {
        assert_eq!(
            object_of_path("/api/v1/namespaces/soak/configmaps/cm-1"),
            Some(("soak".into(), "configmaps".into(), "cm-1".into()))
        );
        assert_eq!(
            object_of_path("/apis/apps/v1/namespaces/soak/deployments/d"),
            Some(("soak".into(), "deployments".into(), "d".into()))
        );
        assert_eq!(
            object_of_path("/api/v1/namespaces/soak"),
            Some((String::new(), "namespaces".into(), "soak".into()))
        );
        assert_eq!(object_of_path("/api/v1/namespaces/soak/configmaps"), None);
        assert_eq!(object_of_path("/version"), None);
    }
}
