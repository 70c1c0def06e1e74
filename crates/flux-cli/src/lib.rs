//! `fluxctl`, the command-line client of fluxd.
//!
//! It lists workloads and images, releases images, changes policies,
//! triggers syncs and shows the deploy key by calling fluxd's HTTP API,
//! with Flux v1's commands, flags, tables and JSON. Unlike Flux v1's, it
//! also works offline: `--local DIR` answers the list commands from a
//! checkout of the config repository and makes releases and policy changes
//! by editing its files in place (with flux-core's byte-keeping edits),
//! and `sync --local DIR --dry-run` previews a sync. `install` prints the
//! repository's `deploy/` manifests with its flags applied ([`install`]).
//!
//! This crate is glue: flags are parsed into [`args::Cli`], checked into a
//! [`request::Invocation`], then run against a checkout ([`local`]) and
//! printed through [`mod@format`] in the shapes of [`view`]. Decisions about
//! manifests, policies and releases are flux-core's.
//!
//! ```
//! let mut out = Vec::new();
//! let mut err = Vec::new();
//! let code = flux_cli::run_with(["fluxctl", "version"], &flux_cli::request::Env::default(), &mut out, &mut err);
//! assert_eq!(code, flux_cli::error::Exit::Success);
//! assert_eq!(String::from_utf8(out).unwrap().trim(), env!("CARGO_PKG_VERSION"));
//! ```

pub mod args;
pub mod completion;
pub mod diff;
pub mod error;
pub mod format;
pub mod install;
pub mod local;
pub mod remote;
pub mod request;
pub mod view;

use std::ffi::OsString;
use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use crate::error::Exit;
use crate::request::{Invocation, Mode, Request};

/// Runs fluxctl with the process's arguments and environment; the exit code.
pub fn main() -> ExitCode {
    let env = request::Env::from_process();
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    run_with(
        std::env::args_os(),
        &env,
        &mut stdout.lock(),
        &mut stderr.lock(),
    )
    .into()
}

/// Parses `args` and runs the command with `env`, writing output to `out`
/// and notes and errors to `err`; returns the exit kind.
pub fn run_with<I, T>(args: I, env: &request::Env, out: &mut dyn Write, err: &mut dyn Write) -> Exit
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match args::Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let use_stderr = e.use_stderr();
            let text = e.render().ansi().to_string();
            let _ = if use_stderr {
                write!(err, "{text}")
            } else {
                write!(out, "{text}")
            };
            return if use_stderr {
                Exit::Usage
            } else {
                Exit::Success
            };
        }
    };
    let result = request::build(&cli, env).and_then(|inv| {
        for note in &inv.notes {
            let _ = writeln!(err, "Note: {note}");
        }
        run(&inv, out, err)
    });
    match result {
        Ok(()) => Exit::Success,
        Err(e) if error::is_broken_pipe(&e) => Exit::Success,
        Err(e) => {
            let exit = error::exit_of(&e);
            let _ = writeln!(err, "Error: {}", error::render(&e));
            if exit == Exit::Usage {
                let _ = writeln!(
                    err,
                    "Run 'fluxctl {} --help' for usage.",
                    command_name(&cli)
                );
            }
            exit
        }
    }
}

fn command_name(cli: &args::Cli) -> String {
    use clap::CommandFactory as _;
    let cmd = args::Cli::command();
    let name = format!("{:?}", cli.command);
    let variant = name.split(['(', ' ']).next().unwrap_or_default();
    cmd.get_subcommands()
        .map(|s| s.get_name().to_owned())
        .find(|n| n.replace('-', "").eq_ignore_ascii_case(variant))
        .unwrap_or_default()
}

/// Runs a checked invocation.
pub fn run(inv: &Invocation, out: &mut dyn Write, err: &mut dyn Write) -> anyhow::Result<()> {
    match (&inv.request, &inv.mode) {
        (Request::Version, _) => {
            writeln!(out, "{}", env!("CARGO_PKG_VERSION"))?;
            Ok(())
        }
        (Request::Completion(shell), _) => completion::write(*shell, out),
        (Request::Install(install), _) => install::run(install, out, err),
        (_, Mode::Local(local)) => local::run(local, &inv.request, out, err),
        (_, Mode::Remote(conn)) => {
            use std::io::IsTerminal as _;
            remote::run(conn, inv, out, err, std::io::stderr().is_terminal())
        }
        (_, Mode::None) => unreachable!("only version, completion and install run without a mode"),
    }
}
