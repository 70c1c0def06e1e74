//! fluxd itself, measured as users run it, for `benches/compare/fluxd.sh`:
//! the real `fluxd` binary in its own process (so `/proc/PID/status` is
//! its memory alone) against flux-daemon's test bed in this process: a bare
//! repository behind sshd with strict host keys, and the API emulator with
//! its request counters.
//!
//! One run at one size: the first sync of a generated repository, no-op
//! periodic syncs (their duration from fluxd's own
//! `flux_daemon_sync_duration_seconds`, and the requests the emulator
//! received meanwhile), fluxd's RSS, then commits applied after
//! `/v11/notify` (the time from the notify to the changed object in the
//! emulator's store), with the phases of each read from fluxd's JSON logs.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use chrono::{DateTime, Utc};
use flux_api::client::{Client, ClientOptions};
use flux_api::v9::{Change, GitUpdate};
use flux_daemon::testing::TestBed;
use flux_testbed::git::WorkClone;
use kube_emulator::StatsSnapshot;
use serde_json::{Value, json};

/// What to measure.
#[derive(Debug, Clone)]
pub struct Options {
    /// The `fluxd` binary to run.
    pub fluxd: PathBuf,
    /// Resources in the generated repository (about; the count synced is
    /// reported).
    pub resources: usize,
    /// Periodic no-op syncs to time.
    pub noop_syncs: usize,
    /// `--sync-interval` (the no-op syncs' spacing).
    pub sync_interval: Duration,
    /// Commits applied after notify to time.
    pub notify_runs: usize,
    /// Tags in the registry cache file fluxd starts with (0: none).
    pub cached_tags: usize,
}

/// The ConfigMap each notify run changes.
fn probe(n: usize) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: probe\n  namespace: team-0\ndata:\n  count: \"{n}\"\n"
    )
}

/// Writes the generated repository (`resources` resources in about 4/5 as
/// many files, [`crate::manifest`]'s shapes) and the probe into `work`;
/// returns the resource count.
fn write_repo(work: &WorkClone, resources: usize) -> anyhow::Result<usize> {
    let files = resources * 4 / 5;
    let mut count = 1;
    for i in 0..files {
        let path = format!("apps-{:03}/m-{i:05}.yaml", i / 100);
        work.write(&path, crate::manifest(i).as_bytes())?;
        count += if i % 4 == 1 { 2 } else { 1 };
    }
    work.write("bench/probe.yaml", probe(0).as_bytes())?;
    Ok(count)
}

/// A free loopback port (bound, then released for fluxd to take).
fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// `VmRSS` and `VmHWM` of process `pid`, in bytes.
pub fn rss_of(pid: u32) -> anyhow::Result<(u64, u64)> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| path.clone())?;
    let field = |name: &str| -> anyhow::Result<u64> {
        let kb: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .with_context(|| format!("no {name} in {path}"))?;
        Ok(kb * 1024)
    };
    Ok((field("VmRSS:")?, field("VmHWM:")?))
}

/// The body of `GET path` from `addr` (plain HTTP/1.1, connection closed).
async fn http_get(addr: &str, path: &str) -> anyhow::Result<String> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await?;
    let mut resp = String::new();
    s.read_to_string(&mut resp).await?;
    match resp.split_once("\r\n\r\n") {
        Some((head, body)) if head.starts_with("HTTP/1.1 200") => Ok(body.to_owned()),
        _ => bail!("GET {path}: {}", resp.lines().next().unwrap_or_default()),
    }
}

/// The sum and count of fluxd's `flux_daemon_sync_duration_seconds`
/// (every outcome).
pub(crate) async fn sync_metric(addr: &str) -> anyhow::Result<(f64, u64)> {
    let text = http_get(addr, "/metrics").await?;
    let (mut sum, mut count) = (0.0, 0);
    for line in text.lines() {
        let Some((name, value)) = line.rsplit_once(' ') else {
            continue;
        };
        if name.starts_with("flux_daemon_sync_duration_seconds_sum") {
            sum += value.parse::<f64>().unwrap_or(0.0);
        } else if name.starts_with("flux_daemon_sync_duration_seconds_count") {
            count += value.parse::<u64>().unwrap_or(0);
        }
    }
    Ok((sum, count))
}

/// Waits until fluxd has finished `count` syncs; returns the metric then.
async fn wait_syncs(addr: &str, count: u64, patience: Duration) -> anyhow::Result<(f64, u64)> {
    let deadline = Instant::now() + patience;
    loop {
        if let Ok(m) = sync_metric(addr).await
            && m.1 >= count
        {
            return Ok(m);
        }
        if Instant::now() > deadline {
            bail!("fluxd did not finish sync {count} within {patience:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Requests other than watches, and watches opened, between two snapshots.
pub(crate) fn window(before: &StatsSnapshot, after: &StatsSnapshot) -> Value {
    json!({
        "requests_not_watch": (after.requests - after.watches) - (before.requests - before.watches),
        "watches_opened": after.watches - before.watches,
        "lists": after.lists - before.lists,
        "gets": after.gets - before.gets,
        "writes": (after.creates + after.updates + after.patches + after.deletes)
            - (before.creates + before.updates + before.patches + before.deletes),
    })
}

/// The middle value (mean of the two middle ones for an even count).
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 0 => f64::midpoint(v[n / 2 - 1], v[n / 2]),
        n => v[n / 2],
    }
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e4).round() / 10.0
}

/// One fluxd log line: its time and message.
struct LogLine {
    time: DateTime<Utc>,
    message: String,
}

fn read_log(path: &Path) -> Vec<LogLine> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| {
            let time = v["timestamp"].as_str()?.parse().ok()?;
            let message = v["fields"]["message"].as_str()?.to_owned();
            Some(LogLine { time, message })
        })
        .collect()
}

/// For a notify at `sent`: milliseconds from it to the first log line of
/// each phase fluxd logs after it.
fn phases(log: &[LogLine], sent: DateTime<Utc>) -> Value {
    let after = |what: &str| {
        log.iter()
            .find(|l| l.time >= sent && l.message.starts_with(what))
            .map(|l| (l.time - sent).num_microseconds().unwrap_or(0) as f64 / 1000.0)
    };
    json!({
        "notified": after("notified of a git change"),
        "fetched": after("git branch moved"),
        "sync_finished": after("sync finished"),
        "tag_moved": after("moved sync tag"),
    })
}

/// Runs the whole measurement at one size; one JSON value.
pub async fn run(options: &Options) -> anyhow::Result<Value> {
    let bed = TestBed::start(&[])
        .await
        .map_err(|e| anyhow::anyhow!("test bed: {e}"))?;
    let setup = bed
        .kubectl
        .run_stdin(&["apply", "-f", "-"], &crate::cluster_setup_yaml());
    if !setup.ok {
        bail!("kubectl apply of the namespaces and CRD: {}", setup.stderr);
    }
    let t = Instant::now();
    eprintln!("fluxd-bench: test bed started");
    let work = WorkClone::new(&bed.repo.file_url(), "master", None)?;
    let resources = write_repo(&work, options.resources)?;
    work.commit("Generated")?;
    work.push()?;
    let commit_ms = ms(t.elapsed());

    let port = free_port()?;
    let addr = format!("127.0.0.1:{port}");
    let interval = format!("--sync-interval={}s", options.sync_interval.as_secs());
    let listen = format!("--listen=127.0.0.1:{port}");
    let mut args = bed
        .fluxd_args(
            "fluxd",
            &[
                &listen,
                "--git-poll-interval=1h",
                &interval,
                "--automation-interval=1h",
                "--log-format=json",
            ],
        )
        .map_err(|e| anyhow::anyhow!("fluxd flags: {e}"))?;
    args.remove(0);
    if options.cached_tags > 0 {
        let state_dir = args
            .iter()
            .find_map(|a| a.strip_prefix("--state-dir="))
            .context("no --state-dir in fluxd's flags")?;
        std::fs::create_dir_all(state_dir)?;
        let cache = Path::new(state_dir).join("registry-cache.json");
        crate::registry::write_file(&cache, options.cached_tags)?;
    }
    let log_path = bed.path("fluxd.log");
    let log = std::fs::File::create(&log_path)?;
    let before_start = bed.emulator.stats();
    let started = Instant::now();
    let mut child = tokio::process::Command::new(&options.fluxd)
        .args(&args)
        .env("RUST_LOG", "info,flux_git=debug,kube=warn,hyper=warn")
        .stdout(log.try_clone()?)
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", options.fluxd.display()))?;
    let pid = child.id().context("fluxd's pid")?;

    // The first sync: start-up, clone, watches, apply of everything.
    let patience = Duration::from_secs(1800);
    let (first_sum, _) = wait_syncs(&addr, 1, patience).await?;
    eprintln!("fluxd-bench: first sync done");
    let first_wall = started.elapsed();
    let after_first = bed.emulator.stats();
    let (rss_first, _) = rss_of(pid)?;
    let synced = bed
        .emulator
        .object("", "configmaps", "team-0", "probe")
        .is_some();
    if !synced {
        bail!("the first sync did not apply the probe ConfigMap (see {log_path:?})");
    }
    if options.cached_tags > 0 {
        let loaded = format!("images: {} }}", options.cached_tags);
        if !std::fs::read_to_string(&log_path)?.contains(&loaded) {
            bail!(
                "fluxd did not load the {} cached tags (see {log_path:?})",
                options.cached_tags
            );
        }
    }

    // Periodic no-op syncs.
    let mut noop = Vec::new();
    let mut prev = first_sum;
    let noop_start = bed.emulator.stats();
    for k in 0..options.noop_syncs {
        let (sum, _) = wait_syncs(&addr, 2 + k as u64, patience).await?;
        noop.push((sum - prev) * 1000.0);
        prev = sum;
    }
    let noop_end = bed.emulator.stats();
    let (rss_noop, _) = rss_of(pid)?;
    eprintln!("fluxd-bench: {} no-op syncs done", noop.len());

    // Commits applied after notify.
    let client = Client::new(
        &format!("http://{addr}{}", flux_api::API_PREFIX),
        ClientOptions::default(),
    )?;
    let change = Change::Git(GitUpdate {
        url: bed.git_url.clone(),
        branch: "master".into(),
    });
    let mut applied = Vec::new();
    let mut sync_ms = Vec::new();
    let mut sends = Vec::new();
    let (mut sum, mut count) = sync_metric(&addr).await?;
    let notify_start = bed.emulator.stats();
    for n in 1..=options.notify_runs {
        work.write("bench/probe.yaml", probe(n).as_bytes())?;
        work.commit(&format!("Probe {n}"))?;
        work.push()?;
        let want = n.to_string();
        sends.push(Utc::now());
        let t = Instant::now();
        client.notify(&change).await?;
        loop {
            let value = bed
                .emulator
                .object("", "configmaps", "team-0", "probe")
                .and_then(|o| o["data"]["count"].as_str().map(str::to_owned));
            if value.as_deref() == Some(want.as_str()) {
                break;
            }
            if t.elapsed() > patience {
                bail!("commit {n} never applied (the probe holds {value:?})");
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        applied.push(ms(t.elapsed()));
        eprintln!(
            "fluxd-bench: commit {n} applied after {} ms",
            ms(t.elapsed())
        );
        // The sync it started, finished before the next commit.
        let (s, c) = wait_syncs(&addr, count + 1, patience).await?;
        sync_ms.push((s - sum) * 1000.0 / (c - count) as f64);
        (sum, count) = (s, c);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let notify_end = bed.emulator.stats();
    let (rss_end, hwm) = rss_of(pid)?;
    child.kill().await.ok();

    let log = read_log(&log_path);
    let per_run: Vec<Value> = sends.iter().map(|s| phases(&log, *s)).collect();
    let phase_median = |key: &str| {
        median(
            per_run
                .iter()
                .filter_map(|p| p[key].as_f64())
                .collect::<Vec<_>>(),
        )
    };
    let noop_median = median(noop.clone());
    Ok(json!({
        "resources": resources,
        "cached_tags": options.cached_tags,
        "files": options.resources * 4 / 5 + 1,
        "commit_generated_ms": commit_ms,
        "first_sync": {
            "wall_from_start_ms": ms(first_wall),
            "sync_ms": (first_sum * 1e4).round() / 10.0,
            "emulator": window(&before_start, &after_first),
        },
        "noop_sync": {
            "runs": noop.len(),
            "median_ms": (noop_median * 10.0).round() / 10.0,
            "all_ms": noop.iter().map(|v| (v * 10.0).round() / 10.0).collect::<Vec<_>>(),
            "emulator_per_window": window(&noop_start, &noop_end),
        },
        "notify_applied": {
            "runs": applied.len(),
            "median_ms": median(applied.clone()),
            "min_ms": applied.iter().copied().fold(f64::MAX, f64::min),
            "max_ms": applied.iter().copied().fold(0.0, f64::max),
            "sync_median_ms": (median(sync_ms) * 10.0).round() / 10.0,
            "phases_median_ms": {
                "notified": phase_median("notified"),
                "fetched": phase_median("fetched"),
                "sync_finished": phase_median("sync_finished"),
                "tag_moved": phase_median("tag_moved"),
            },
            "emulator": window(&notify_start, &notify_end),
        },
        "rss_mb": {
            "after_first_sync": rss_first as f64 / 1e6,
            "after_noop_syncs": rss_noop as f64 / 1e6,
            "at_end": rss_end as f64 / 1e6,
            "peak": hwm as f64 / 1e6,
        },
    }))
}
