//! A whole sync into a cluster, as fluxd runs one, for `benches/compare/apply.sh`.

use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use flux_core::cluster::{
    Applied, ApplyObject, Cluster, ClusterError, LiveObject, Namespaces, PerObject,
};
use flux_core::manifest::{LoadOptions, load_dir};
use flux_core::registry::Credentials;
use flux_core::sync::{SyncOptions, SyncSetName, run};
use flux_core::{ResourceId, ScopeTable};
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

/// Time spent in each of the cluster's calls during one sync.
#[derive(Default)]
struct Spent {
    export: Duration,
    list_managed: Duration,
    apply: Duration,
}

/// A cluster that times the calls `run` makes to it.
struct Timed<'a, C> {
    inner: &'a C,
    spent: Mutex<Spent>,
}

impl<C> Timed<'_, C> {
    fn add(&self, f: impl FnOnce(&mut Spent) -> &mut Duration, since: Instant) {
        let mut s = self
            .spent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *f(&mut s) += since.elapsed();
    }
}

#[async_trait::async_trait]
impl<C: Cluster> Cluster for Timed<'_, C> {
    async fn export_workloads(
        &self,
        namespaces: &Namespaces,
    ) -> Result<Vec<LiveObject>, ClusterError> {
        let t = Instant::now();
        let r = self.inner.export_workloads(namespaces).await;
        self.add(|s| &mut s.export, t);
        r
    }

    async fn list_managed(
        &self,
        label: &str,
        namespaces: &Namespaces,
    ) -> Result<Vec<LiveObject>, ClusterError> {
        let t = Instant::now();
        let r = self.inner.list_managed(label, namespaces).await;
        self.add(|s| &mut s.list_managed, t);
        r
    }

    async fn apply(&self, objects: &[ApplyObject]) -> PerObject<Applied> {
        let t = Instant::now();
        let r = self.inner.apply(objects).await;
        self.add(|s| &mut s.apply, t);
        r
    }

    async fn delete(&self, ids: &[ResourceId]) -> PerObject<()> {
        self.inner.delete(ids).await
    }

    async fn image_pull_secrets(&self, workload: &ResourceId) -> Result<Credentials, ClusterError> {
        self.inner.image_pull_secrets(workload).await
    }
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 10_000.0).round() / 10.0
}

/// Loads `dir` and syncs it (no GC); returns a JSON summary: `ms` (wall
/// time since `start`, through reading the files, reading the cluster,
/// planning and the last apply), `sent` (objects handed to the adapter),
/// `created`, `configured`, `unchanged` (by the adapter), `skipped` (by
/// the planner), `errors`, and where the time went: `load_ms` (reading
/// and parsing the files), `export_ms`, `list_managed_ms` and `apply_ms`
/// (inside flux-kube), and `other_ms` (the rest: planning, and for a
/// first sync the client's start).
pub async fn sync_dir<C: Cluster>(
    cluster: &C,
    dir: &Path,
    start: Instant,
) -> anyhow::Result<serde_json::Value> {
    let t = Instant::now();
    let desired = load_dir(dir, &["."], &ScopeTable::builtin(), &LoadOptions::default())?;
    let load = t.elapsed();
    let options = SyncOptions::new(SyncSetName::new("bench"));
    let timed = Timed {
        inner: cluster,
        spent: Mutex::new(Spent::default()),
    };
    let report = run(&timed, &desired, &options).await?;
    let total = start.elapsed();
    let spent = timed
        .spent
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
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
    let other = total.saturating_sub(load + spent.export + spent.list_managed + spent.apply);
    Ok(json!({
        "ms": ms(total),
        "load_ms": ms(load),
        "export_ms": ms(spent.export),
        "list_managed_ms": ms(spent.list_managed),
        "apply_ms": ms(spent.apply),
        "other_ms": ms(other),
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
