//! No-op syncs through `WatchedCluster` and `KubeCluster`, and the memory
//! of the watch caches, for `benches/compare/watch.sh`.

use std::io::{Read as _, Write as _};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use flux_kube::{KubeCluster, Options, WatchOptions, WatchedCluster};
use serde_json::{Value, json};

use crate::kube::sync_dir;

/// The process's resident set size in bytes (Linux `/proc/self/status`).
pub fn rss_bytes() -> anyhow::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status").context("/proc/self/status")?;
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .context("no VmRSS line")?;
    Ok(kb * 1024)
}

/// The emulator's request counters (`GET /emulator/stats` on its plain
/// HTTP address `host:port`).
pub fn emulator_stats(addr: &str) -> anyhow::Result<Value> {
    let mut s = std::net::TcpStream::connect(addr).with_context(|| format!("connect {addr}"))?;
    write!(
        s,
        "GET /emulator/stats HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut resp = String::new();
    s.read_to_string(&mut resp)?;
    let Some((_, body)) = resp.split_once("\r\n\r\n") else {
        bail!("no body in the emulator's answer");
    };
    serde_json::from_str(body).context("the emulator's stats")
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return 0.0;
    }
    let m = v.len() / 2;
    if v.len().is_multiple_of(2) {
        f64::midpoint(v[m - 1], v[m])
    } else {
        v[m]
    }
}

fn count(stats: &Value, key: &str) -> u64 {
    stats[key].as_u64().unwrap_or(0)
}

/// Medians of no-op syncs through one cluster.
#[derive(Default)]
struct Runs {
    total: Vec<f64>,
    read: Vec<f64>,
    sent: u64,
    lists: u64,
    requests: u64,
}

impl Runs {
    /// One no-op sync of `dir` through `cluster`, with the emulator's
    /// counters around it.
    async fn one<C: flux_core::Cluster>(
        &mut self,
        cluster: &C,
        dir: &Path,
        addr: &str,
    ) -> anyhow::Result<()> {
        let before = emulator_stats(addr)?;
        let r = sync_dir(cluster, dir, Instant::now()).await?;
        let after = emulator_stats(addr)?;
        let f = |k: &str| r[k].as_f64().unwrap_or(0.0);
        self.total.push(f("ms"));
        self.read.push(f("export_ms") + f("list_managed_ms"));
        self.sent += r["sent"].as_u64().unwrap_or(0);
        self.lists += count(&after, "lists") - count(&before, "lists");
        // The stats request itself is counted once.
        self.requests += (count(&after, "requests") - count(&before, "requests")).saturating_sub(1);
        Ok(())
    }

    fn summary(self) -> Value {
        let runs = self.total.len().max(1) as f64;
        json!({
            "median_ms": median(self.total),
            "median_read_ms": median(self.read),
            "runs": runs,
            "lists_per_sync": self.lists as f64 / runs,
            "requests_per_sync": self.requests as f64 / runs,
            "sent_to_apply": self.sent,
        })
    }
}

/// Starts a WatchedCluster on `kubeconfig` and measures the RSS it adds
/// once its caches are complete, then times `runs` no-op syncs of `dir`
/// through it and through a KubeCluster. `dir` must be synced already.
pub async fn compare(
    dir: &Path,
    kubeconfig: &Path,
    addr: &str,
    runs: usize,
) -> anyhow::Result<Value> {
    let kube = KubeCluster::from_kubeconfig(kubeconfig, Options::default()).await?;
    // Discovery and connections first, so the RSS step is the caches.
    flux_core::Cluster::export_workloads(&kube, &flux_core::cluster::Namespaces::All).await?;
    let kube = Arc::new(kube);
    let rss0 = rss_bytes()?;
    let lists0 = count(&emulator_stats(addr)?, "lists");
    let t = Instant::now();
    let watched = WatchedCluster::new(kube.clone(), WatchOptions::default());
    watched
        .ready(Duration::from_secs(600))
        .await
        .context("caches ready")?;
    let ready_ms = t.elapsed().as_secs_f64() * 1000.0;
    let rss1 = rss_bytes()?;
    let lists1 = count(&emulator_stats(addr)?, "lists");
    let stats = watched.stats();
    // Alternating, so the machine's load falls on both alike.
    let (mut via_watch, mut via_lists) = (Runs::default(), Runs::default());
    for _ in 0..runs {
        via_watch.one(&watched, dir, addr).await?;
        via_lists.one(kube.as_ref(), dir, addr).await?;
    }
    let added = rss1.saturating_sub(rss0);
    Ok(json!({
        "cached_objects": stats.objects,
        "collections": stats.collections,
        "caches_ready_ms": (ready_ms * 10.0).round() / 10.0,
        "initial_lists": lists1 - lists0,
        "rss_before_mb": rss0 as f64 / 1e6,
        "rss_added_mb": added as f64 / 1e6,
        "rss_added_bytes_per_object": added / (stats.objects.max(1) as u64),
        "watched": via_watch.summary(),
        "listed": via_lists.summary(),
    }))
}
