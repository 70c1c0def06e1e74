//! fluxd's own benchmark, for `benches/compare/fluxd.sh`: runs the `fluxd`
//! binary against flux-daemon's test bed at one size and prints one JSON
//! line (see `flux_benches::fluxd`).
//!
//! `fluxd-bench FLUXD RESOURCES [NOOP_SYNCS] [SYNC_INTERVAL_SECS] [NOTIFY_RUNS] [CACHED_TAGS]`
//! (defaults 5, 5, 20 and 0; with CACHED_TAGS, fluxd starts on a registry
//! cache file holding that many tags).

use std::time::Duration;

use anyhow::Context as _;
use flux_benches::fluxd::{Options, run};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number = |i: usize, default: u64, what: &str| -> anyhow::Result<u64> {
        args.get(i)
            .map_or(Ok(default), |v| v.parse())
            .with_context(|| format!("{what} must be a number"))
    };
    let (Some(fluxd), Some(_)) = (args.first(), args.get(1)) else {
        anyhow::bail!(
            "usage: fluxd-bench FLUXD RESOURCES [NOOP_SYNCS] [SYNC_INTERVAL_SECS] [NOTIFY_RUNS] [CACHED_TAGS]"
        );
    };
    let options = Options {
        fluxd: fluxd.into(),
        resources: usize::try_from(number(1, 0, "RESOURCES")?)?,
        noop_syncs: usize::try_from(number(2, 5, "NOOP_SYNCS")?)?,
        sync_interval: Duration::from_secs(number(3, 5, "SYNC_INTERVAL_SECS")?),
        notify_runs: usize::try_from(number(4, 20, "NOTIFY_RUNS")?)?,
        cached_tags: usize::try_from(number(5, 0, "CACHED_TAGS")?)?,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let result = runtime.block_on(run(&options))?;
    println!("{result}");
    Ok(())
}
