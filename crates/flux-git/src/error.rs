//! The one error type of flux-git.
//!
//! Every variant names what it was working on (the remote, branch, revision,
//! path or flag) so that a log line or a `fluxctl` job error is enough to act
//! on. Remote URLs in messages never carry passwords.

use std::path::PathBuf;
use std::time::Duration;

use flux_core::manifest::LoadErrors;

/// A boxed error from a lower layer (gix, the edit function, I/O).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Something flux-git could not do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The git URL cannot be used.
    #[error("invalid git URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as given (password removed).
        url: String,
        /// Why it is refused.
        reason: String,
    },
    /// A setting (one of fluxd's `--git-…` or ssh flags) is invalid.
    #[error("invalid --{flag} {value:?}: {reason}")]
    InvalidConfig {
        /// The flag, without dashes.
        flag: &'static str,
        /// The value given.
        value: String,
        /// Why it is refused.
        reason: String,
    },
    /// A file or directory of flux-git's own state could not be used.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The local mirror could not be opened, read or written.
    #[error("git mirror {}: {what}: {source}", path.display())]
    Mirror {
        /// The mirror's directory.
        path: PathBuf,
        /// What was being done.
        what: String,
        /// The underlying error.
        #[source]
        source: BoxError,
    },
    /// Fetching from the remote failed (unreachable, refused, wrong key…).
    #[error("cannot fetch from {url}: {source}")]
    Fetch {
        /// The remote (password removed).
        url: String,
        /// The underlying error.
        #[source]
        source: BoxError,
    },
    /// A network operation took longer than `--git-timeout`.
    #[error("{operation} {url} timed out after {after:?} (--git-timeout)")]
    Timeout {
        /// What was being done (`fetch from`, `push to`).
        operation: &'static str,
        /// The remote (password removed).
        url: String,
        /// The timeout.
        after: Duration,
    },
    /// The configured branch does not exist on the remote.
    #[error("branch {branch:?} (--git-branch) not found at {url}")]
    BranchNotFound {
        /// The branch.
        branch: String,
        /// The remote (password removed).
        url: String,
    },
    /// Nothing has been fetched yet.
    #[error("git repository {url} has not been fetched yet")]
    NotFetched {
        /// The remote (password removed).
        url: String,
    },
    /// A revision is not in the mirror.
    #[error("revision {revision:?} not found in the mirror of {url}")]
    RevisionNotFound {
        /// The revision asked for.
        revision: String,
        /// The remote (password removed).
        url: String,
    },
    /// The manifest files at a revision could not be read; every problem is
    /// listed, each naming its path.
    #[error("reading manifests at {revision}: {errors}")]
    Manifests {
        /// The commit.
        revision: String,
        /// The problems.
        #[source]
        errors: LoadErrors,
    },
    /// A program (`git`, `ssh-keygen`) could not be started.
    #[error("cannot run {program}: {source}")]
    Spawn {
        /// The program.
        program: &'static str,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A program (`git`, `ssh-keygen`) failed.
    #[error("{program} {args} failed ({status}): {stderr}")]
    Command {
        /// The program.
        program: &'static str,
        /// Its arguments, secrets removed.
        args: String,
        /// How it exited.
        status: String,
        /// What it said on stderr, secrets removed.
        stderr: String,
    },
    /// The remote refused a push for a reason a retry cannot fix (a hook,
    /// a protected branch, no write access).
    #[error("push of {refname} to {url} refused: {reason}")]
    PushRefused {
        /// The remote (password removed).
        url: String,
        /// The ref being pushed.
        refname: String,
        /// What the remote said.
        reason: String,
    },
    /// Every attempt to push an edit was overtaken by other commits.
    #[error(
        "push to {url} (branch {branch:?}) was not a fast-forward {attempts} times in a row; \
         others are committing faster than the edit can be re-applied"
    )]
    TooManyRetries {
        /// The remote (password removed).
        url: String,
        /// The branch.
        branch: String,
        /// How many times the edit was applied and pushed.
        attempts: u32,
    },
    /// The edit failed on the files at a head: it no longer applies.
    #[error("the edit does not apply at {revision} (attempt {attempt}): {source}")]
    Edit {
        /// The head the edit was applied to.
        revision: String,
        /// 1 for the first attempt, more after rejected pushes.
        attempt: u32,
        /// Why the edit failed.
        #[source]
        source: BoxError,
    },
    /// An edit wants to change a path that cannot be changed.
    #[error("the edit changes {path:?}, which {reason}")]
    InvalidChange {
        /// The path as the edit gave it.
        path: String,
        /// Why it is refused.
        reason: String,
    },
    /// A write gate refused a write ([`flux_core::fence::WriteGate`]):
    /// this process may no longer write for the repository.
    #[error("{operation} refused: {reason}")]
    Fenced {
        /// What was refused.
        operation: &'static str,
        /// Why the gate refused.
        reason: String,
    },
    /// A write was asked of a read-only repository.
    #[error("{operation} refused: the git repository is read-only (--git-readonly)")]
    ReadOnly {
        /// What was refused.
        operation: &'static str,
    },
    /// A signature did not verify.
    #[error("signature of {what} does not verify: {message}")]
    Signature {
        /// The commit or tag.
        what: String,
        /// What `git` said.
        message: String,
    },
    /// A tree holds an entry git would not check out.
    #[error("the tree of {revision} has an entry {path:?} that {reason}; refusing to write it out")]
    UnsafeTree {
        /// The commit.
        revision: String,
        /// The entry's path.
        path: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The deploy key is unusable.
    #[error("deploy key {}: {message}", path.display())]
    Identity {
        /// The key file.
        path: PathBuf,
        /// What is wrong (never the key itself).
        message: String,
    },
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
