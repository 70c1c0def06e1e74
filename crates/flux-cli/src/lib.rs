//! `fluxctl`, the command-line client of fluxd.
//!
//! It lists workloads and images, releases images, edits policies, triggers
//! syncs and shows the deploy key by calling fluxd's HTTP API, with Flux v1's
//! commands and flags. Unlike Flux v1's, it also has an offline mode,
//! `--local DIR`, that answers the read-only commands from a checkout of the
//! config repository using flux-core alone.
//!
//! This crate is glue: flags are parsed into [`args::Cli`], then a command
//! runs against a data source and prints through [`mod@format`]. It holds no
//! logic of its own about manifests or policies.

pub mod args;
pub mod format;
pub mod local;

use std::ffi::OsString;
use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

/// Parses `args` and runs the command, printing errors; returns the exit code.
pub fn main_with_args<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match args::Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match run(&cli, &mut out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if is_broken_pipe(&e) {
                return ExitCode::SUCCESS;
            }
            eprintln!("Error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Runs a parsed command, writing its output to `out`.
pub fn run(cli: &args::Cli, out: &mut dyn Write) -> anyhow::Result<()> {
    match &cli.local {
        Some(dir) => local::run(dir, cli, out),
        None => anyhow::bail!(
            "talking to fluxd is not built yet; use --local DIR to read a config repository checkout"
        ),
    }
}
