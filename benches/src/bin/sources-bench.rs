//! One fluxd with many sources against one fluxd per source, for
//! `benches/compare/sources.sh`: both modes in one run, one JSON line (see
//! `flux_benches::sources`).
//!
//! `sources-bench FLUXD [SOURCES] [RESOURCES] [INTERVAL_SECS] [SYNC_INTERVAL_SECS] [GIT_POLL_SECS]`
//! (defaults 20, 500, 60, 10 and 3600). Every fluxd runs with
//! `MALLOC_ARENA_MAX` from `FLUXD_MALLOC_ARENA_MAX` (default 1, as the
//! Docker image sets it; empty: not set).

use std::time::Duration;

use anyhow::Context as _;
use flux_benches::sources::{Options, run};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number = |i: usize, default: u64, what: &str| -> anyhow::Result<u64> {
        args.get(i)
            .map_or(Ok(default), |v| v.parse())
            .with_context(|| format!("{what} must be a number"))
    };
    let Some(fluxd) = args.first() else {
        anyhow::bail!(
            "usage: sources-bench FLUXD [SOURCES] [RESOURCES] [INTERVAL_SECS] [SYNC_INTERVAL_SECS] [GIT_POLL_SECS]"
        );
    };
    let arenas = std::env::var("FLUXD_MALLOC_ARENA_MAX").unwrap_or_else(|_| "1".into());
    let options = Options {
        fluxd: fluxd.into(),
        sources: usize::try_from(number(1, 20, "SOURCES")?)?,
        resources: usize::try_from(number(2, 500, "RESOURCES")?)?,
        interval: Duration::from_secs(number(3, 60, "INTERVAL_SECS")?),
        sync_interval: Duration::from_secs(number(4, 10, "SYNC_INTERVAL_SECS")?),
        git_poll_interval: Duration::from_secs(number(5, 3600, "GIT_POLL_SECS")?),
        malloc_arena_max: (!arenas.is_empty()).then_some(arenas),
        patience: Duration::from_secs(600),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let result = runtime.block_on(run(&options))?;
    println!("{result}");
    Ok(())
}
