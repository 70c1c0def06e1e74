//! Manifest generation for fluxd and fluxctl (`--manifest-generation`):
//! running the commands of `.flux.yaml` files and turning releases, automation
//! and policy changes into commits of generated repositories.
//!
//! flux-core decides (which `.flux.yaml` governs a git path, how generated
//! output is read and patched, which updaters run with which variables);
//! this crate does the IO around it:
//!
//! - a commit's tree is written out from flux-git's mirror once per tree id
//!   and reused while the tree does not change, and each generation's output
//!   is kept by tree id, so a sync of an unchanged tree runs no command;
//! - commands run with `/bin/sh -c` in the git path's directory, with only
//!   `PATH` (and the documented `FLUX_*` variables for updaters) in their
//!   environment, a timeout (their `timeout`, else [`Options::default_timeout`],
//!   fluxd's `--sync-timeout`), bounded output, in a process group that is
//!   killed on timeout;
//! - [`Generator::view`] gives everything a sync applies (plain files and
//!   generated output, as [`View::manifests`]); [`Generator::edit`] runs a
//!   release or policy calculation on that view and returns the file changes
//!   to commit: the patch file for `patchUpdated`, what the updater commands
//!   changed (in a throw-away copy of the tree) for `commandUpdated`, plain
//!   edits for plain files. [`Generator::commit_edit`] wraps it for
//!   [`flux_git::Repo::commit_and_push`].
//!
//! It is not a sandbox: a `.flux.yaml`'s commands run with fluxd's rights,
//! as in Flux v1, which is why generation is off unless asked for.
//!
//! ```no_run
//! # async fn demo(repo: flux_git::Repo, head: String) -> Result<(), flux_generate::GenerateError> {
//! use flux_core::ScopeTable;
//! use flux_core::manifest::LoadOptions;
//! use flux_generate::{Generator, Options, Source};
//!
//! let generator = Generator::new(Options::new("/var/lib/fluxd/generate"))?;
//! let generated = generator
//!     .view(Source::Git { repo: &repo, revision: &head }, &["envs/staging".into()],
//!           &ScopeTable::builtin(), &LoadOptions::default())
//!     .await?;
//! for (id, resource) in &generated.view.manifests.resources {
//!     println!("{id} from {}", resource.source());
//! }
//! # Ok(()) }
//! ```

mod edit;
mod error;
mod generate;
mod run;
mod trees;

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub use edit::{Calculated, Edited, ResultSlot};
pub use error::{Failure, GenerateError, Tail};
pub use flux_core::generation::View;
pub use generate::Generated;

/// Where a repository's files are.
#[derive(Debug, Clone, Copy)]
pub enum Source<'a> {
    /// A commit in flux-git's mirror (fluxd): written out to run commands.
    Git {
        /// The repository.
        repo: &'a flux_git::Repo,
        /// The commit (an id or a ref of the mirror).
        revision: &'a str,
    },
    /// A directory on disk (`fluxctl --local`): commands run in it; updaters
    /// run in a copy, and their changes are returned, not made.
    Dir(&'a Path),
}

/// Settings of a [`Generator`].
#[derive(Debug, Clone)]
pub struct Options {
    /// A directory of its own for written trees and scratch copies (fluxd:
    /// under its state directory). Emptied when the generator is made.
    pub work_dir: PathBuf,
    /// The timeout of a command without its own (fluxd's `--sync-timeout`).
    pub default_timeout: Duration,
    /// Most bytes a command may print on standard output.
    pub max_output: usize,
    /// Most bytes of a failed command's error output kept for the message
    /// (its end is kept).
    pub max_error_output: usize,
    /// `PATH` for commands; fluxd's own when `None`.
    pub path: Option<OsString>,
}

impl Options {
    /// Defaults: a one-minute timeout (fluxd's `--sync-timeout` default),
    /// 64 MiB of output, 8 KiB of error output, fluxd's `PATH`.
    pub fn new(work_dir: impl Into<PathBuf>) -> Self {
        Options {
            work_dir: work_dir.into(),
            default_timeout: Duration::from_secs(60),
            max_output: 64 * 1024 * 1024,
            max_error_output: 8 * 1024,
            path: None,
        }
    }
}

/// What a generator has done since it was made (for logs, metrics and
/// tests).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Generator commands run.
    pub generator_runs: u64,
    /// Generations answered from the output cache (no command run).
    pub cache_hits: u64,
    /// Trees written out.
    pub trees_written: u64,
    /// Updater commands run.
    pub updater_runs: u64,
}

/// Runs the `.flux.yaml` commands of one repository. Cheap to clone; clones
/// share the written trees and the output cache.
#[derive(Debug, Clone)]
pub struct Generator {
    inner: Arc<Inner>,
}

/// Outputs of one generation, by tree id, git path and commands.
type OutputCache = HashMap<String, Arc<Vec<Vec<u8>>>>;

#[derive(Debug)]
struct Inner {
    options: Options,
    path: OsString,
    trees: trees::Trees,
    /// One generation at a time: commands of a tree run once even when a
    /// sync and a job ask together.
    lock: tokio::sync::Mutex<()>,
    outputs: std::sync::Mutex<(Vec<String>, OutputCache)>,
    generator_runs: AtomicU64,
    cache_hits: AtomicU64,
    trees_written: AtomicU64,
    updater_runs: AtomicU64,
}

impl Generator {
    /// A generator working in `options.work_dir` (emptied now).
    pub fn new(options: Options) -> Result<Self, GenerateError> {
        let path = options
            .path
            .clone()
            .or_else(|| std::env::var_os("PATH"))
            .unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
        let trees = trees::Trees::new(options.work_dir.join("trees"))?;
        Ok(Generator {
            inner: Arc::new(Inner {
                options,
                path,
                trees,
                lock: tokio::sync::Mutex::new(()),
                outputs: std::sync::Mutex::new((Vec::new(), HashMap::new())),
                generator_runs: AtomicU64::new(0),
                cache_hits: AtomicU64::new(0),
                trees_written: AtomicU64::new(0),
                updater_runs: AtomicU64::new(0),
            }),
        })
    }

    /// Its settings.
    pub fn options(&self) -> &Options {
        &self.inner.options
    }

    /// What it has done so far.
    pub fn stats(&self) -> Stats {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Stats {
            generator_runs: get(&self.inner.generator_runs),
            cache_hits: get(&self.inner.cache_hits),
            trees_written: get(&self.inner.trees_written),
            updater_runs: get(&self.inner.updater_runs),
        }
    }
}
