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
use flux_core::release::FileEdit;

use crate::request::{Local, Request};

/// A checkout read: its files and the manifests parsed from them.
///
/// With `--manifest-generation`, the manifests are what fluxd would sync
/// with its flag of that name: the output of the `.flux.yaml` generators
/// (run in the checkout) and the plain files of other paths; `files` holds
/// each generator's output under its `.flux.yaml` name beside the plain
/// files, and edits go through [`Checkout::edits_for`].
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
    /// With `--manifest-generation`: the generator and its output.
    pub generation: Option<Generation>,
}

/// Manifest generation of a checkout (`--manifest-generation`).
#[derive(Debug)]
pub struct Generation {
    generator: flux_generate::Generator,
    generated: flux_generate::Generated,
    /// The generator's scratch area (copies for updaters).
    _work: tempfile::TempDir,
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
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
        if local.manifest_generation {
            let work = tempfile::tempdir().context("making a scratch directory")?;
            let generator = flux_generate::Generator::new(flux_generate::Options::new(work.path()))
                .context("setting up manifest generation")?;
            let source = flux_generate::Source::Dir(&local.dir);
            let generated = runtime()?
                .block_on(generator.view(
                    source,
                    &local.git_paths,
                    &ScopeTable::builtin(),
                    &options,
                ))
                .with_context(context)?;
            return Ok(Checkout {
                dir: local.dir.clone(),
                files: generated.view.files.clone(),
                manifests: generated.view.manifests.clone(),
                allow_dirty: local.allow_dirty,
                generation: Some(Generation {
                    generator,
                    generated,
                    _work: work,
                }),
            });
        }
        let files = read_dir_files(&local.dir, &paths, &options).with_context(context)?;
        let manifests =
            parse_files(&files, &paths, &ScopeTable::builtin(), &options).with_context(context)?;
        Ok(Checkout {
            dir: local.dir.clone(),
            files,
            manifests,
            allow_dirty: local.allow_dirty,
            generation: None,
        })
    }

    /// The edits to write for `calculated` (made on [`Checkout::files`]),
    /// and the files as read to check them against: the calculation's own
    /// edits, or with manifest generation, the new patch files and what
    /// the updaters change (run in a copy of the checkout).
    pub fn edits_for(
        &self,
        calculated: flux_generate::Calculated,
    ) -> anyhow::Result<(Vec<FileEdit>, FileSet)> {
        let Some(g) = &self.generation else {
            return Ok((calculated.result().edits.clone(), self.files.clone()));
        };
        let source = flux_generate::Source::Dir(&self.dir);
        let edited = runtime()?.block_on(g.generator.apply(source, &g.generated, &calculated))?;
        let mut baseline = self.files.clone();
        let mut edits = Vec::new();
        for (path, bytes) in edited.changes.iter() {
            let Some(bytes) = bytes else {
                anyhow::bail!(
                    "the updaters delete {path}; fluxctl --local does not delete files, nothing was written"
                );
            };
            let text = String::from_utf8(bytes.to_vec())
                .map_err(|_| anyhow::anyhow!("the updaters wrote {path} as non-UTF-8 text"))?;
            if baseline.get(path).is_none()
                && let Ok(old) = std::fs::read(self.dir.join(path))
            {
                baseline.insert(path, old);
            }
            edits.push(FileEdit {
                file: path.to_owned(),
                text,
            });
        }
        Ok((edits, baseline))
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
    for s in &checkout.manifests.skipped {
        writeln!(err, "Note: {s}")?;
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
        | Request::ListSources { .. }
        | Request::Save { .. }
        | Request::Install(_)
        | Request::Version
        | Request::Completion(_) => unreachable!("refused or run before reading a checkout"),
    }
}
