//! `fluxctl completion bash|zsh|fish`: shell completion scripts generated
//! from the same flag table clap parses with.

use std::io::Write;

use clap::CommandFactory as _;

use crate::args::{Cli, Shell};

/// Writes the completion script for `shell`.
pub fn write(shell: Shell, out: &mut dyn Write) -> anyhow::Result<()> {
    let mut cmd = Cli::command();
    let shell = match shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    clap_complete::generate(shell, &mut cmd, "fluxctl", out);
    Ok(())
}
