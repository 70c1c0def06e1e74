//! Manifest generation in fluxd (`--manifest-generation`): the sources'
//! [`flux_generate::Generator`]s, and the generated view a sync, a job or
//! automation reads in place of the plain files.
//!
//! Without the flag no source has a generator, `.flux.yaml` files are
//! ignored (they are hidden files, never read as manifests) and no command
//! ever runs. With it, everything that reads manifests goes through
//! [`flux_generate::Generator::view`] of the commit it works on, and every
//! commit of a job or of automation through
//! [`flux_generate::Generator::commit_edit`], so a release in a
//! `patchUpdated` repository changes only the patch file and one in a
//! `commandUpdated` repository is made by its updater commands.

use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;

use flux_core::ScopeTable;
use flux_core::manifest::{LoadOptions, Manifests};
use flux_core::source::Snapshot;
use flux_generate::{GenerateError, Generator, Options};

use crate::source::Source;

/// The generator of a source, working in `work_dir` (emptied now), with
/// `default_timeout` (`--sync-timeout`) for commands without a `timeout`
/// and `path` as their `PATH` (fluxd's own when `None`).
pub fn generator(
    work_dir: &Path,
    default_timeout: Duration,
    path: Option<OsString>,
) -> Result<Generator, GenerateError> {
    let mut options = Options::new(work_dir);
    options.default_timeout = default_timeout;
    options.path = path;
    Generator::new(options)
}

/// The files and resources of `revision` as `generator` sees them: plain
/// files, and the (patched) output of the `.flux.yaml` generators of the
/// source's git paths. The snapshot's files are the plain files read and
/// each generator's output under its name (what release calculations
/// edit).
pub async fn view(
    source: &Source,
    generator: &Generator,
    revision: &str,
    scopes: &ScopeTable,
    load: &LoadOptions,
) -> Result<(Snapshot, Manifests), GenerateError> {
    let before = generator.stats();
    let generated = generator
        .view(
            flux_generate::Source::Git {
                repo: &source.repo,
                revision,
            },
            &source.paths,
            scopes,
            load,
        )
        .await?;
    let after = generator.stats();
    if after.generator_runs != before.generator_runs {
        tracing::info!(
            source = %source.name,
            revision = %crate::sync::short(revision),
            commands = after.generator_runs - before.generator_runs,
            "ran the .flux.yaml generators"
        );
    }
    let view = generated.view;
    Ok((
        Snapshot {
            revision: Some(revision.to_owned()),
            files: view.files,
        },
        view.manifests,
    ))
}
