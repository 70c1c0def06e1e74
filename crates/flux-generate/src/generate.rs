//! What a sync applies: plain files and the output of generators, with the
//! output kept by tree id so an unchanged tree runs no command.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use flux_core::ScopeTable;
use flux_core::generation::lookup::candidates;
use flux_core::generation::{GeneratedOutput, Generation, Plan, View, build_view, plan};
use flux_core::manifest::{FileSet, LoadOptions, normalize_git_path, read_dir_files};

use crate::error::GenerateError;
use crate::run::{self, Spec};
use crate::{Generator, Source};

/// The manifests of one revision (or directory) with generation.
#[derive(Debug, Clone)]
pub struct Generated {
    /// Plain files and generated output as one set of resources.
    pub view: View,
    /// How each git path was read.
    pub plan: Plan,
    /// The commit read (`None` for a directory).
    pub revision: Option<String>,
    /// Its tree id (`None` for a directory).
    pub tree: Option<String>,
}

fn git_error(e: flux_git::Error) -> GenerateError {
    GenerateError::Git(Box::new(e))
}

/// Reads the regular file `rel` under `root`, if there is one inside it.
fn read_inside(root: &Path, rel: &str) -> Result<Option<Vec<u8>>, GenerateError> {
    let path = root.join(rel);
    let Ok(real) = std::fs::canonicalize(&path) else {
        return Ok(None);
    };
    let Ok(real_root) = std::fs::canonicalize(root) else {
        return Ok(None);
    };
    if !real.starts_with(&real_root) || !real.is_file() {
        return Ok(None);
    }
    std::fs::read(&real)
        .map(Some)
        .map_err(|source| GenerateError::Io { path, source })
}

impl Generator {
    /// Everything a sync of `git_paths` in `source` applies: the plain YAML
    /// files of paths without a generating `.flux.yaml`, and the output of
    /// the generators of the others, each patched by its patch file. Any
    /// problem (an invalid `.flux.yaml`, a failing command, invalid output,
    /// a duplicate) is an error and nothing is returned.
    pub async fn view(
        &self,
        source: Source<'_>,
        git_paths: &[String],
        scopes: &ScopeTable,
        load: &LoadOptions,
    ) -> Result<Generated, GenerateError> {
        let _one_at_a_time = self.inner.lock.lock().await;
        let mut wanted: Vec<String> = Vec::new();
        for p in git_paths {
            let Ok(p) = normalize_git_path(p) else {
                continue;
            };
            for c in candidates(&p) {
                if !wanted.contains(&c) {
                    wanted.push(c);
                }
            }
        }
        if git_paths.is_empty() {
            wanted = candidates("");
        }
        let present: BTreeMap<String, Vec<u8>> = match source {
            Source::Git { repo, revision } => repo
                .read_paths(revision, &wanted)
                .await
                .map_err(git_error)?,
            Source::Dir(root) => {
                let mut out = BTreeMap::new();
                for c in &wanted {
                    if let Some(bytes) = read_inside(root, c)? {
                        out.insert(c.clone(), bytes);
                    }
                }
                out
            }
        };
        let plan = plan(git_paths, |p| present.get(p).cloned())?;
        let (files, revision) = match source {
            Source::Git { repo, revision } => {
                if plan.files.is_empty() {
                    (
                        FileSet::new(),
                        Some(repo.tree_of(revision).await.map_err(git_error)?.commit),
                    )
                } else {
                    let snapshot = repo
                        .snapshot_at(revision, &plan.files)
                        .await
                        .map_err(git_error)?;
                    (snapshot.files, snapshot.revision)
                }
            }
            Source::Dir(root) => {
                let files = if plan.files.is_empty() {
                    FileSet::new()
                } else {
                    read_dir_files(root, &plan.files, load).map_err(GenerateError::Read)?
                };
                (files, None)
            }
        };
        let mut outputs = Vec::new();
        let mut tree = None;
        if plan.generates() {
            let (root, guard, key): (PathBuf, _, Option<String>) = match source {
                Source::Git { repo, revision } => {
                    let id = repo.tree_of(revision).await.map_err(git_error)?;
                    let cached = plan
                        .generations
                        .iter()
                        .all(|g| self.cached(&id.tree, g).is_some());
                    if cached {
                        (PathBuf::new(), None, Some(id.tree.clone()))
                    } else {
                        let (dir, written) = self.inner.trees.get(repo, &id).await?;
                        if written {
                            self.inner.trees_written.fetch_add(1, Ordering::Relaxed);
                        }
                        (dir.path.clone(), Some(dir), Some(id.tree.clone()))
                    }
                }
                Source::Dir(root) => (root.to_owned(), None, None),
            };
            for g in &plan.generations {
                let outs = match key.as_deref().and_then(|k| self.cached(k, g)) {
                    Some(outs) => {
                        self.inner.cache_hits.fetch_add(1, Ordering::Relaxed);
                        outs
                    }
                    None => {
                        let outs = Arc::new(self.run_generators(&root, g).await?);
                        if let Some(k) = &key {
                            self.remember(k, g, Arc::clone(&outs));
                        }
                        outs
                    }
                };
                let patch = match (&g.patch_path, source) {
                    (None, _) => None,
                    (Some(p), Source::Git { repo, revision }) => {
                        let read = repo
                            .read_paths(revision, std::slice::from_ref(p))
                            .await
                            .map_err(git_error)?;
                        read.get(p).cloned()
                    }
                    (Some(p), Source::Dir(dir)) => read_inside(dir, p)?,
                };
                outputs.push(GeneratedOutput {
                    generation: g.clone(),
                    outputs: outs.as_ref().clone(),
                    patch,
                });
            }
            drop(guard);
            tree = key;
        }
        let view = build_view(&files, &plan.files, outputs, scopes, load)?;
        Ok(Generated {
            view,
            plan,
            revision,
            tree,
        })
    }

    fn cache_key(tree: &str, g: &Generation) -> String {
        let mut key = format!("{tree}\0{}\0{}", g.workdir, g.config.path);
        for c in g.config.mode.generators() {
            key.push('\0');
            key.push_str(&c.command);
        }
        key
    }

    fn cached(&self, tree: &str, g: &Generation) -> Option<Arc<Vec<Vec<u8>>>> {
        let cache = self
            .inner
            .outputs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        cache.1.get(&Self::cache_key(tree, g)).cloned()
    }

    /// Keeps `outputs` for `tree`; outputs of all but the two most recent
    /// trees are forgotten.
    fn remember(&self, tree: &str, g: &Generation, outputs: Arc<Vec<Vec<u8>>>) {
        let mut cache = self
            .inner
            .outputs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (recent, map) = &mut *cache;
        recent.retain(|t| t != tree);
        recent.push(tree.to_owned());
        if recent.len() > 2 {
            let old = recent.remove(0);
            map.retain(|k, _| !k.starts_with(&format!("{old}\0")));
        }
        map.insert(Self::cache_key(tree, g), outputs);
    }

    /// Runs the generators of `g` in `root`/`g.workdir`, in order, stopping
    /// at the first failure.
    async fn run_generators(
        &self,
        root: &Path,
        g: &Generation,
    ) -> Result<Vec<Vec<u8>>, GenerateError> {
        let dir = root.join(&g.workdir);
        let options = &self.inner.options;
        let mut outs = Vec::new();
        for (i, command) in g.config.mode.generators().iter().enumerate() {
            self.inner.generator_runs.fetch_add(1, Ordering::Relaxed);
            let spec = Spec {
                command: &command.command,
                dir: &dir,
                path: &self.inner.path,
                env: &[],
                timeout: command.timeout_or(options.default_timeout),
                max_stdout: options.max_output,
                max_stderr: options.max_error_output,
            };
            let started = std::time::Instant::now();
            let out = run::run(&spec)
                .await
                .map_err(|failure| GenerateError::Generator {
                    config: g.name.clone(),
                    index: i + 1,
                    command: command.command.clone(),
                    failure: Box::new(failure),
                })?;
            tracing::debug!(
                config = %g.name, command = %command.command, bytes = out.stdout.len(),
                elapsed_ms = started.elapsed().as_millis() as u64, "generator ran"
            );
            outs.push(out.stdout);
        }
        Ok(outs)
    }
}
