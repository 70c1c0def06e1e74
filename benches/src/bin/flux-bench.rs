//! Helper binary for the comparison scripts in `benches/compare/`.
//!
//! - `flux-bench gen-repo DIR N`: write a synthetic repository of N manifest files.
//! - `flux-bench setup-yaml`: print what a cluster needs before those
//!   manifests apply (their namespaces and the HelmRelease CRD).
//! - `flux-bench load DIR [RUNS]`: load DIR with flux-core RUNS times (default 5)
//!   and print the best wall time in milliseconds and the resource count.
//! - `flux-bench gen-multi FILE N`: write one file of N Deployment documents.
//! - `flux-bench update FILE DOC CONTAINER IMAGE OUT [RUNS]`: set CONTAINER's
//!   image in document DOC of FILE RUNS times (default 5), write the result
//!   to OUT, and print the best wall time in milliseconds.
//! - `flux-bench plan-sync FILES [RUNS]`: plan a sync of FILES generated
//!   files (8,000 hold 10,000 resources) against the benchmark's cluster
//!   RUNS times (default 5) and print the best time in milliseconds and the
//!   plan's counts (for profiling under valgrind/DHAT).
//! - `flux-bench kube-sync DIR KUBECONFIG [RUNS]`: sync DIR into the cluster
//!   of KUBECONFIG as fluxd does (load, read live state, plan, apply with
//!   flux-kube; no GC) RUNS times in one process (default 1) and print one
//!   JSON line per sync: wall time in milliseconds, objects sent to apply,
//!   and how each turned out.
//! - `flux-bench watch-sync DIR KUBECONFIG HOST:PORT [RUNS]`: with DIR
//!   already synced into the emulator at HOST:PORT, start a WatchedCluster,
//!   print the RSS its caches added, then time RUNS (default 10) no-op
//!   syncs through it and through a KubeCluster, with the lists each made
//!   (one JSON line).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, bail};
use flux_core::ScopeTable;
use flux_core::image::ImageRef;
use flux_core::manifest::{LoadOptions, SourceRef, load_dir};
use flux_core::sync::plan_sync;
use flux_core::update::set_container_image;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["setup-yaml"] => print!("{}", flux_benches::cluster_setup_yaml()),
        ["gen-repo", dir, n] => {
            let n: usize = n.parse().context("N must be a number")?;
            flux_benches::generate_repo(&PathBuf::from(dir), n)?;
        }
        ["load", dir, rest @ ..] => {
            let runs: usize = rest
                .first()
                .map_or(Ok(5), |r| r.parse())
                .context("RUNS must be a number")?;
            let scopes = ScopeTable::builtin();
            let options = LoadOptions::default();
            let mut best = f64::MAX;
            let mut count = 0;
            for _ in 0..runs.max(1) {
                let start = Instant::now();
                let m = load_dir(dir.as_ref(), &["."], &scopes, &options)?;
                best = best.min(start.elapsed().as_secs_f64() * 1000.0);
                count = m.resources.len();
            }
            println!("{best:.1} {count}");
        }
        ["gen-multi", file, n] => {
            let n: usize = n.parse().context("N must be a number")?;
            std::fs::write(file, flux_benches::multi_document_file(n))?;
        }
        ["update", file, doc, container, image, out, rest @ ..] => {
            let runs: usize = rest
                .first()
                .map_or(Ok(5), |r| r.parse())
                .context("RUNS must be a number")?;
            let text = std::fs::read_to_string(file).with_context(|| format!("reading {file}"))?;
            let at = SourceRef {
                file: (*file).to_owned(),
                document: doc.parse().context("DOC must be a number")?,
                item: None,
                line: 0,
            };
            let image: ImageRef = image.parse()?;
            let mut best = f64::MAX;
            let mut result = String::new();
            for _ in 0..runs.max(1) {
                let start = Instant::now();
                result = set_container_image(&text, &at, container, &image)?;
                best = best.min(start.elapsed().as_secs_f64() * 1000.0);
            }
            std::fs::write(out, result)?;
            println!("{best:.3}");
        }
        ["plan-sync", files, rest @ ..] => {
            let files: usize = files.parse().context("FILES must be a number")?;
            let runs: usize = rest
                .first()
                .map_or(Ok(5), |r| r.parse())
                .context("RUNS must be a number")?;
            let world = flux_benches::sync::sync_world(files);
            let mut best = f64::MAX;
            let mut counts = (0, 0, 0);
            for _ in 0..runs.max(1) {
                let start = Instant::now();
                let plan = plan_sync(&world.desired, &world.live, &world.options);
                best = best.min(start.elapsed().as_secs_f64() * 1000.0);
                counts = (
                    plan.apply_count(),
                    plan.skipped.len(),
                    plan.gc.to_delete().len(),
                );
            }
            println!(
                "{best:.1} apply={} skip={} delete={}",
                counts.0, counts.1, counts.2
            );
        }
        ["watch-sync", dir, kubeconfig, addr, rest @ ..] => {
            let runs: usize = rest
                .first()
                .map_or(Ok(10), |r| r.parse())
                .context("RUNS must be a number")?;
            let runtime = tokio::runtime::Runtime::new()?;
            let line = runtime.block_on(flux_benches::watch::compare(
                dir.as_ref(),
                kubeconfig.as_ref(),
                addr,
                runs.max(1),
            ))?;
            println!("{line}");
        }
        ["kube-sync", dir, kubeconfig, rest @ ..] => {
            let runs: usize = rest
                .first()
                .map_or(Ok(1), |r| r.parse())
                .context("RUNS must be a number")?;
            let runtime = tokio::runtime::Runtime::new()?;
            let lines = runtime.block_on(flux_benches::kube::sync_dir_runs(
                dir.as_ref(),
                kubeconfig.as_ref(),
                runs,
            ))?;
            for line in lines {
                println!("{line}");
            }
        }
        _ => bail!(
            "usage: flux-bench gen-repo DIR N | load DIR [RUNS] | gen-multi FILE N | update FILE DOC CONTAINER IMAGE OUT [RUNS] | plan-sync FILES [RUNS] | kube-sync DIR KUBECONFIG [RUNS] | watch-sync DIR KUBECONFIG HOST:PORT [RUNS]"
        ),
    }
    Ok(())
}
