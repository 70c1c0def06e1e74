//! Releases, automation and policy changes on generated repositories: a
//! calculation of flux-core run on the generated view, and the file changes
//! that carry it out.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use flux_core::ScopeTable;
use flux_core::generation::{Change, View};
use flux_core::manifest::LoadOptions;
use flux_core::policy::PolicyUpdate;
use flux_core::release::ReleaseResult;
use flux_core::resource::ResourceId;
use flux_core::source::Snapshot;
use flux_git::{BoxError, FileChanges, Repo};

use crate::error::GenerateError;
use crate::run::{self, Spec};
use crate::trees::{Changed, copy_dir, diff, states};
use crate::{Generated, Generator, Source};

/// What a calculation on the view decided.
#[derive(Debug, Clone)]
pub enum Calculated {
    /// A release, automation or containers update
    /// ([`flux_core::release::calculate_release`] and friends).
    Release(ReleaseResult),
    /// Policy changes ([`flux_core::release::calculate_policy_updates`]),
    /// with the updates asked for (the updaters need them).
    Policies {
        /// The result.
        result: ReleaseResult,
        /// The updates asked for, per workload.
        updates: BTreeMap<ResourceId, PolicyUpdate>,
    },
}

impl Calculated {
    /// The per-workload result.
    pub fn result(&self) -> &ReleaseResult {
        match self {
            Calculated::Release(r) | Calculated::Policies { result: r, .. } => r,
        }
    }

    fn change(&self) -> Change<'_> {
        match self {
            Calculated::Release(r) => Change::Images(r),
            Calculated::Policies { result, updates } => Change::Policies { result, updates },
        }
    }
}

/// An edit worked out.
#[derive(Debug, Clone)]
pub struct Edited {
    /// The files to write or delete (repo-relative).
    pub changes: FileChanges,
    /// The calculation's result, per workload.
    pub result: ReleaseResult,
}

/// Where [`Generator::commit_edit`] leaves the result of the last attempt
/// of the edit (for the job's status).
#[derive(Debug, Clone, Default)]
pub struct ResultSlot(Arc<Mutex<Option<ReleaseResult>>>);

impl ResultSlot {
    /// The result of the last attempt, if any ran.
    pub fn take(&self) -> Option<ReleaseResult> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }

    fn put(&self, result: ReleaseResult) {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(result);
    }
}

impl Generator {
    /// Runs `calculate` on the generated view of `source` and returns the
    /// file changes that carry its result out: plain files' edits as they
    /// are; for `patchUpdated` output, the new patch file (only if its bytes
    /// change); for `commandUpdated` output, whatever its updater commands
    /// change when run, one after the other, in a copy of the tree. A
    /// failing updater fails the whole edit (nothing is committed). Updaters
    /// that change a symbolic link, or a file the release also edits, are
    /// refused.
    pub async fn edit<F>(
        &self,
        source: Source<'_>,
        git_paths: &[String],
        scopes: &ScopeTable,
        load: &LoadOptions,
        calculate: F,
    ) -> Result<Edited, GenerateError>
    where
        F: FnOnce(&View) -> Result<Calculated, BoxError>,
    {
        let generated = self.view(source, git_paths, scopes, load).await?;
        let calculated = calculate(&generated.view).map_err(GenerateError::Calculation)?;
        self.apply(source, &generated, &calculated).await
    }

    /// The file changes that carry out `calculated`, a calculation made on
    /// `generated` (the view of `source`); see [`Generator::edit`].
    pub async fn apply(
        &self,
        source: Source<'_>,
        generated: &Generated,
        calculated: &Calculated,
    ) -> Result<Edited, GenerateError> {
        let view = &generated.view;
        let mut changes = FileChanges::new();
        let mut edited = BTreeSet::new();
        for edit in view.file_edits(&calculated.result().edits)? {
            edited.insert(edit.file.clone());
            changes.write(edit.file, edit.text);
        }
        let runs = view.updater_runs(calculated.change())?;
        if !runs.is_empty() {
            let scratch = self.inner.trees.scratch_dir()?;
            let root = scratch.path().join("tree");
            match source {
                Source::Git { repo, revision } => {
                    repo.materialize(revision, &root)
                        .await
                        .map_err(|e| GenerateError::Git(Box::new(e)))?;
                }
                Source::Dir(dir) => {
                    let (from, to) = (dir.to_owned(), root.clone());
                    tokio::task::spawn_blocking(move || copy_dir(&from, &to))
                        .await
                        .map_err(|e| GenerateError::Io {
                            path: root.clone(),
                            source: std::io::Error::other(e),
                        })??;
                }
            }
            let before = states(&root)?;
            let options = &self.inner.options;
            let mut config = String::new();
            for r in &runs {
                config.clone_from(&r.config);
                self.inner
                    .updater_runs
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let spec = Spec {
                    command: &r.command.command,
                    dir: &root.join(&r.workdir),
                    path: &self.inner.path,
                    env: &r.env,
                    timeout: r.command.timeout_or(options.default_timeout),
                    max_stdout: options.max_output,
                    max_stderr: options.max_error_output,
                };
                run::run(&spec)
                    .await
                    .map_err(|failure| GenerateError::Updater {
                        config: r.config.clone(),
                        field: r.field,
                        command: r.command.command.clone(),
                        workload: r.env.first().map(|(_, v)| v.clone()).unwrap_or_default(),
                        failure: Box::new(failure),
                    })?;
            }
            let after = states(&root)?;
            for change in diff(&before, &after) {
                let unsupported = |path: &str, reason| GenerateError::Unsupported {
                    config: config.clone(),
                    path: path.to_owned(),
                    reason,
                };
                match change {
                    Changed::Link(p) => return Err(unsupported(&p, "is a symbolic link")),
                    Changed::Write(p) | Changed::Delete(p) if edited.contains(&p) => {
                        return Err(unsupported(&p, "the release also edits"));
                    }
                    Changed::Write(p) => {
                        let path = root.join(&p);
                        let bytes = std::fs::read(&path)
                            .map_err(|source| GenerateError::Io { path, source })?;
                        changes.write(p, bytes);
                    }
                    Changed::Delete(p) => changes.delete(p),
                }
            }
        }
        Ok(Edited {
            changes,
            result: calculated.result().clone(),
        })
    }

    /// The edit for [`flux_git::Repo::commit_and_push`]: on each attempt (the
    /// head it is given), [`Generator::edit`] of that revision of `repo`,
    /// with `calculate`; the attempt's result goes to the returned slot. Call
    /// it inside a tokio runtime: the edit, which flux-git runs on a blocking
    /// thread, drives the commands on that runtime.
    pub fn commit_edit<F>(
        &self,
        repo: Repo,
        git_paths: Vec<String>,
        scopes: ScopeTable,
        load: LoadOptions,
        calculate: F,
    ) -> (
        impl Fn(&Snapshot) -> Result<FileChanges, BoxError> + Send + Sync + 'static,
        ResultSlot,
    )
    where
        F: Fn(&View) -> Result<Calculated, BoxError> + Send + Sync + 'static,
    {
        let handle = tokio::runtime::Handle::current();
        let slot = ResultSlot::default();
        let out = slot.clone();
        let this = self.clone();
        let edit = move |snapshot: &Snapshot| -> Result<FileChanges, BoxError> {
            let revision = snapshot
                .revision
                .clone()
                .ok_or("the snapshot has no revision")?;
            let source = Source::Git {
                repo: &repo,
                revision: &revision,
            };
            let edited =
                handle.block_on(this.edit(source, &git_paths, &scopes, &load, &calculate))?;
            slot.put(edited.result);
            Ok(edited.changes)
        };
        (edit, out)
    }
}
