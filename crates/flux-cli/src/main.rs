//! `fluxctl`: see the `flux_cli` library for everything but process exit.

fn main() -> std::process::ExitCode {
    flux_cli::main()
}
