//! Why generation (or an edit through it) failed. Every variant names the
//! `.flux.yaml`, command, file or revision involved.

use std::path::PathBuf;

use flux_core::generation::{ConfigError, UpdaterError, ViewError};
use flux_core::manifest::LoadErrors;

pub use crate::run::{Failure, Tail};

/// Generation failed; nothing was synced or committed.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    /// A `.flux.yaml` is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Reading the commit from the mirror failed.
    #[error(transparent)]
    Git(Box<flux_git::Error>),
    /// Plain files could not be read from a directory.
    #[error(transparent)]
    Read(LoadErrors),
    /// A generator failed.
    #[error("{config}: generator {index} ({command}) {failure}")]
    Generator {
        /// The `.flux.yaml`, as named in messages (`envs/staging/../.flux.yaml`).
        config: String,
        /// Which generator, from 1.
        index: usize,
        /// Its command.
        command: String,
        /// How it failed.
        #[source]
        failure: Box<Failure>,
    },
    /// An updater failed; nothing is committed.
    #[error("{config}: updater {field} command ({command}) for {workload} {failure}")]
    Updater {
        /// The `.flux.yaml`, as named in messages.
        config: String,
        /// `containerImage` or `policy`.
        field: &'static str,
        /// Its command.
        command: String,
        /// The workload it ran for.
        workload: String,
        /// How it failed.
        #[source]
        failure: Box<Failure>,
    },
    /// The generated output (or its patch file) is not valid.
    #[error(transparent)]
    View(#[from] ViewError),
    /// The updaters cannot do what was asked.
    #[error(transparent)]
    Updaters(#[from] UpdaterError),
    /// An updater changed something a commit cannot carry.
    #[error("{config}: the updaters changed {path}, which {reason}")]
    Unsupported {
        /// The `.flux.yaml`, as named in messages.
        config: String,
        /// The path changed.
        path: String,
        /// Why it cannot be committed.
        reason: &'static str,
    },
    /// The calculation given to an edit failed.
    #[error("{0}")]
    Calculation(#[source] flux_git::BoxError),
    /// A file or directory of the work area could not be used.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}
