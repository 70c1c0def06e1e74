//! Exit codes, and errors printed once.
//!
//! Commands return `anyhow::Error`s; the kind of failure a script may want
//! to tell apart is carried by a [`Failure`] somewhere in the error's chain
//! and becomes the exit code (see [`crate::args::EXIT_CODES_HELP`]).
//! Printing walks the chain but leaves out any cause whose text the message
//! already holds, so a path or a reason is printed once even when the
//! errors that carry it also show their source.

use std::fmt;
use std::process::ExitCode;

/// What kind of failure ended the command: decides the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: the command did what was asked.
    Success,
    /// 1: the command failed.
    Failed,
    /// 2: the flags or arguments are wrong; nothing was done.
    Usage,
    /// 3: fluxd could not be reached.
    Unreachable,
    /// 4: fluxd did not answer in time; the outcome is unknown.
    Timeout,
}

impl Exit {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::Failed => 1,
            Exit::Usage => 2,
            Exit::Unreachable => 3,
            Exit::Timeout => 4,
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> Self {
        ExitCode::from(e.code())
    }
}

/// An error that says which exit code it means.
#[derive(Debug)]
pub struct Failure {
    /// The exit code's kind.
    pub exit: Exit,
    /// What went wrong.
    pub message: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

/// A usage error: wrong or conflicting flags.
pub fn usage(message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Failure {
        exit: Exit::Usage,
        message: message.into(),
    })
}

/// fluxd could not be reached.
pub fn unreachable(message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Failure {
        exit: Exit::Unreachable,
        message: message.into(),
    })
}

/// Waiting for fluxd timed out.
pub fn timeout(message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Failure {
        exit: Exit::Timeout,
        message: message.into(),
    })
}

/// The exit kind an error means: the outermost [`Failure`], whether added
/// as context or in its chain of causes, else [`Exit::Failed`].
pub fn exit_of(e: &anyhow::Error) -> Exit {
    // `downcast_ref` sees a `Failure` given as context (which `chain`
    // yields wrapped, where it cannot be downcast).
    e.downcast_ref::<Failure>()
        .or_else(|| e.chain().find_map(|c| c.downcast_ref::<Failure>()))
        .map_or(Exit::Failed, |f| f.exit)
}

/// The error as one line per distinct message: the outermost message,
/// then each cause not already contained in what is printed.
///
/// ```
/// use anyhow::Context as _;
/// let io = std::io::Error::other("x.yaml: permission denied");
/// let e = anyhow::Error::new(io).context("writing x.yaml: permission denied");
/// assert_eq!(flux_cli::error::render(&e), "writing x.yaml: permission denied");
/// ```
pub fn render(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if text.is_empty() || out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

/// Whether the error is a closed pipe (`fluxctl … | head`), which is not a
/// failure.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("{path}: {source}")]
    struct WithSource {
        path: String,
        #[source]
        source: std::io::Error,
    }

    #[test]
    fn a_cause_already_shown_is_not_repeated() {
        let e = anyhow::Error::new(WithSource {
            path: "a/b.yaml".into(),
            source: std::io::Error::other("is a directory"),
        })
        .context("reading manifests in /repo");
        assert_eq!(
            render(&e),
            "reading manifests in /repo: a/b.yaml: is a directory"
        );
    }

    #[test]
    fn exit_codes_come_from_the_chain() {
        let e = usage("bad flag").context("while parsing");
        assert_eq!(exit_of(&e), Exit::Usage);
        assert_eq!(exit_of(&anyhow::anyhow!("plain")), Exit::Failed);
        assert_eq!(exit_of(&timeout("slow")), Exit::Timeout);
        assert_eq!(Exit::Unreachable.code(), 3);
    }

    #[test]
    fn a_failure_given_as_context_decides_over_causes() {
        let cause = timeout("connection closed");
        let e = cause.context(Failure {
            exit: Exit::Unreachable,
            message: "the port-forward failed".into(),
        });
        assert_eq!(exit_of(&e), Exit::Unreachable);
        let plain = anyhow::anyhow!("closed").context(Failure {
            exit: Exit::Unreachable,
            message: "the port-forward failed".into(),
        });
        assert_eq!(exit_of(&plain), Exit::Unreachable);
    }
}
