//! A whole sync into a cluster, as fluxd runs one, for `benches/compare/apply.sh`.

use std::path::Path;
use std::time::Instant;

use anyhow::Context as _;
use flux_core::ScopeTable;
use flux_core::cluster::Applied;
use flux_core::manifest::{LoadOptions, load_dir};
use flux_core::sync::{SyncOptions, SyncSetName, run};
use flux_kube::{KubeCluster, Options};
use serde_json::json;

/// Syncs `dir` into the cluster of `kubeconfig` `runs` times in one
/// process (the first with a cold client, the others as a running fluxd
/// would: discovery cached, connections open) and returns one JSON summary
/// per sync.
pub async fn sync_dir_runs(
    dir: &Path,
    kubeconfig: &Path,
    runs: usize,
) -> anyhow::Result<Vec<serde_json::Value>> {
    let start = Instant::now();
    let mut options = Options::default();
    if let Some(n) = std::env::var("FLUX_BENCH_CONCURRENCY")
        .ok()
        .and_then(|n| n.parse().ok())
    {
        options.concurrency = n;
    }
    let cluster = KubeCluster::from_kubeconfig(kubeconfig, options)
        .await
        .with_context(|| format!("kubeconfig {}", kubeconfig.display()))?;
    let mut out = Vec::with_capacity(runs);
    for i in 0..runs.max(1) {
        let from = if i == 0 { start } else { Instant::now() };
        out.push(sync_dir(&cluster, dir, from).await?);
    }
    Ok(out)
}

/// Loads `dir` and syncs it (no GC); returns a JSON summary: `ms` (wall
/// time since `start`, through reading the files, reading the cluster,
/// planning and the last apply), `sent` (objects handed to the adapter),
/// `created`, `configured`, `unchanged` (by the adapter), `skipped` (by
/// the planner) and `errors`.
pub async fn sync_dir(
    cluster: &KubeCluster,
    dir: &Path,
    start: Instant,
) -> anyhow::Result<serde_json::Value> {
    let desired = load_dir(dir, &["."], &ScopeTable::builtin(), &LoadOptions::default())?;
    let options = SyncOptions::new(SyncSetName::new("bench"));
    let report = run(cluster, &desired, &options).await?;
    let ms = start.elapsed().as_secs_f64() * 1000.0;
    let count = |want: Applied| {
        report
            .applied
            .iter()
            .filter(|(_, r)| matches!(r, Ok(a) if *a == want))
            .count()
    };
    let errors: Vec<String> = report
        .apply_errors()
        .take(3)
        .map(|(id, e)| format!("{id}: {e}"))
        .collect();
    Ok(json!({
        "ms": (ms * 10.0).round() / 10.0,
        "resources": desired.resources.len(),
        "sent": report.applied.len(),
        "created": count(Applied::Created),
        "configured": count(Applied::Configured),
        "unchanged": count(Applied::Unchanged),
        "skipped": report.plan.skipped.len(),
        "errors": report.apply_errors().count(),
        "first_errors": errors,
    }))
}
