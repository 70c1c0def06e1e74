//! `soak`: runs the real `fluxd` under load and random faults for a bounded
//! time and checks it held up (see `flux_benches::soak`).
//!
//! `soak --fluxd PATH [--seconds N] [--seed N] [--rss-baseline N]
//! [--fluxd-log PATH]`: 600 seconds by default; the seed is random unless
//! given, and printed either way. Exit code 0 when every check held, 1 when
//! one failed, 2 on bad arguments or a soak that could not start.
//! `benches/soak.sh` builds fluxd and this, and runs it.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use flux_benches::soak::{Options, run};

fn parse(args: &[String]) -> anyhow::Result<Options> {
    let mut fluxd = None;
    let mut seconds = 600u64;
    let mut seed = None;
    let mut baseline = None;
    let mut log = None;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) => (f, Some(v.to_owned())),
            None => (arg.as_str(), None),
        };
        let mut value = || -> anyhow::Result<String> {
            match &inline {
                Some(v) => Ok(v.clone()),
                None => it
                    .next()
                    .cloned()
                    .with_context(|| format!("{flag} needs a value")),
            }
        };
        match flag {
            "--fluxd" => fluxd = Some(PathBuf::from(value()?)),
            "--seconds" => seconds = value()?.parse().context("--seconds: a number")?,
            "--seed" => seed = Some(value()?.parse().context("--seed: a number")?),
            "--rss-baseline" => {
                baseline = Some(value()?.parse::<u64>().context("--rss-baseline: seconds")?)
            }
            "--fluxd-log" => log = Some(PathBuf::from(value()?)),
            other => bail!("unknown argument {other}"),
        }
    }
    let fluxd = fluxd.context("--fluxd PATH is required")?;
    if !fluxd.is_file() {
        bail!("--fluxd {}: no such file", fluxd.display());
    }
    let seed = seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
    });
    let mut options = Options::new(fluxd, Duration::from_secs(seconds), seed);
    if let Some(b) = baseline {
        options.rss_baseline = Duration::from_secs(b);
    }
    if options.rss_baseline >= options.duration {
        bail!(
            "--rss-baseline ({}s) must come before the end ({}s)",
            options.rss_baseline.as_secs(),
            seconds
        );
    }
    options.fluxd_log = log;
    Ok(options)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let options = match parse(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("soak: {e:#}");
            return ExitCode::from(2);
        }
    };
    println!(
        "soak: {} s, seed {} (rerun the same choices with --seed {}), fluxd {}",
        options.duration.as_secs(),
        options.seed,
        options.seed,
        options.fluxd.display()
    );
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("soak: cannot start a runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(&options)) {
        Ok(report) => {
            print!("{}", report.render());
            if report.passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("soak: could not run: {e:#}");
            ExitCode::from(2)
        }
    }
}
