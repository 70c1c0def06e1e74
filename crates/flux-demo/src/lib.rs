//! The one-command demo (`scripts/demo`, the README's first command): a
//! playground of real parts on loopback ports and a walkthrough of what
//! fluxd does, printed as the commands a user would type with their real
//! output.
//!
//! The [`playground`] starts, in one process and one temporary directory:
//! the Kubernetes API emulator (with its workload controller, so `kubectl
//! rollout status` finishes), a bare git repository made from
//! `examples/config-repo` and served by `sshd` with a deploy key and strict
//! host key checking, Debian's `docker-registry` holding two tags of a small
//! image built in Rust, and fluxd itself, built from its real flags
//! ([`flux_daemon::Config::from_args`]) with its API on a free port. The
//! [`walkthrough`] then shows the first sync, a commit applied after
//! `notify`, automation committing the newer tag (a one-line diff) and
//! garbage collection of a deleted file, checking each outcome as it goes.
//! Commands run for real: `kubectl`, `git` and `curl` as programs, `fluxctl`
//! through its library ([`flux_cli::run_with`], the code of the `fluxctl`
//! binary) against fluxd's URL.
//!
//! It is not a test bed for other crates (that is `flux_daemon::testing`),
//! and nothing here belongs in fluxd: the emulator is a dependency of this
//! crate only.
//!
//! ```no_run
//! # async fn demo() -> Result<(), flux_demo::DemoError> {
//! use flux_demo::{playground::{Options, Playground}, shell::Transcript, walkthrough};
//!
//! let out = Transcript::stdout();
//! let playground = Playground::start(Options::default(), &out).await?;
//! let outcome = walkthrough::run(&playground, &out).await?;
//! println!("notify to applied: {:?}", outcome.notify_to_applied);
//! playground.stop().await;
//! # Ok(()) }
//! ```

pub mod playground;
pub mod shell;
pub mod walkthrough;

use std::time::Duration;

/// Something boxed that went wrong below the demo.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The demo could not go on.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// A part of the playground could not be set up.
    #[error("{what}: {source}")]
    Setup {
        /// What was being set up.
        what: String,
        /// Why it failed.
        #[source]
        source: BoxError,
    },
    /// A command of the walkthrough failed.
    #[error("`{command}` failed ({status}): {stderr}")]
    Command {
        /// The command as shown.
        command: String,
        /// Its exit status.
        status: String,
        /// What it printed on stderr.
        stderr: String,
    },
    /// Something fluxd should have done did not happen in time.
    #[error("timed out after {after:?} waiting for {what}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long.
        after: Duration,
    },
    /// An outcome is not what the walkthrough expects.
    #[error("{0}")]
    Unexpected(String),
}

impl DemoError {
    /// A setup error with its cause.
    pub fn setup(what: impl Into<String>, source: impl Into<BoxError>) -> Self {
        DemoError::Setup {
            what: what.into(),
            source: source.into(),
        }
    }
}
