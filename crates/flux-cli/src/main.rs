//! `fluxctl`: see the `flux_cli` library for everything but process exit.

use std::process::ExitCode;

fn main() -> ExitCode {
    flux_cli::main_with_args(std::env::args_os())
}
