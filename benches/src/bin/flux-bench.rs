//! Helper binary for the comparison scripts in `benches/compare/`.
//!
//! - `flux-bench gen-repo DIR N`: write a synthetic repository of N manifest files.
//! - `flux-bench load DIR [RUNS]`: load DIR with flux-core RUNS times (default 5)
//!   and print the best wall time in milliseconds and the resource count.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, bail};
use flux_core::ScopeTable;
use flux_core::manifest::{LoadOptions, load_dir};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
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
        _ => bail!("usage: flux-bench gen-repo DIR N | flux-bench load DIR [RUNS]"),
    }
    Ok(())
}
