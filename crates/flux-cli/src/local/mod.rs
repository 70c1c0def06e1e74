//! `--local DIR`: commands answered from a checkout of the config
//! repository, with no fluxd and no cluster.
//!
//! The list commands read the manifests as fluxd would; `release`,
//! `automate`, `deautomate`, `lock`, `unlock` and `policy` make the same
//! edits fluxd would commit, in the files of the checkout (see [`edit`]
//! for when a checkout is refused); `sync --dry-run` shows what a sync
//! would do. Manifests are read with flux-core, all or nothing: one broken
//! file stops every command, naming the file and line.

pub mod edit;
pub mod list;
pub mod registry;
pub mod sync;
pub mod write;

use std::io::Write;
use std::path::Path;

use anyhow::Context as _;
use flux_core::ScopeTable;
use flux_core::manifest::{
    FileSet, LoadOptions, Manifests, normalize_git_paths, parse_files, read_dir_files,
};

use crate::request::{Local, Request};

/// A checkout read: its files and the manifests parsed from them.
#[derive(Debug)]
pub struct Checkout {
    /// The directory.
    pub dir: std::path::PathBuf,
    /// The manifest files read (repository-relative paths).
    pub files: FileSet,
    /// What they define.
    pub manifests: Manifests,
    /// `--allow-dirty`.
    pub allow_dirty: bool,
}

impl Checkout {
    /// Reads the manifests under `local.git_paths` of `local.dir`.
    pub fn open(local: &Local) -> anyhow::Result<Checkout> {
        check_dir(&local.dir)?;
        let options = LoadOptions {
            default_namespace: local.default_namespace.clone(),
            ..LoadOptions::default()
        };
        let paths = normalize_git_paths(&local.git_paths)
            .map_err(|e| crate::error::usage(format!("--git-path: {e}")))?;
        let context = || format!("reading manifests in {}", local.dir.display());
        let files = read_dir_files(&local.dir, &paths, &options).with_context(context)?;
        let manifests =
            parse_files(&files, &paths, &ScopeTable::builtin(), &options).with_context(context)?;
        Ok(Checkout {
            dir: local.dir.clone(),
            files,
            manifests,
            allow_dirty: local.allow_dirty,
        })
    }
}

/// Refuses a `--local` that is missing or not a directory, in plain words.
fn check_dir(dir: &Path) -> anyhow::Result<()> {
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(crate::error::usage(format!(
            "--local {}: not a directory; give the directory of a config repository checkout",
            dir.display()
        ))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(crate::error::usage(format!(
            "--local {}: no such directory",
            dir.display()
        ))),
        Err(e) => Err(anyhow::Error::new(e).context(format!("--local {}", dir.display()))),
    }
}

/// Runs `request` against the checkout `local`.
pub fn run(
    local: &Local,
    request: &Request,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<()> {
    let checkout = Checkout::open(local)?;
    for u in &checkout.manifests.unscoped {
        writeln!(err, "Note: skipped {u}")?;
    }
    match request {
        Request::ListWorkloads {
            namespace,
            container,
            table,
        } => list::workloads(
            &checkout,
            namespace.as_deref(),
            container.as_deref(),
            *table,
            out,
            err,
        ),
        Request::ListManifests { namespace, table } => {
            list::manifests(&checkout, namespace.as_deref(), *table, out)
        }
        Request::ListImages {
            namespace,
            workload,
            limit,
            table,
            registry,
        } => list::images(
            &checkout,
            namespace,
            workload.as_ref(),
            *limit,
            *table,
            registry,
            out,
            err,
        ),
        Request::Release(r) => edit::release(&checkout, r, out, err),
        Request::Policy(p) => edit::policy(&checkout, p, out, err),
        Request::Sync(s) => sync::dry_run(local, &checkout, s, out, err),
        Request::Identity { .. }
        | Request::Save { .. }
        | Request::Install(_)
        | Request::Version
        | Request::Completion(_) => unreachable!("refused or run before reading a checkout"),
    }
}
