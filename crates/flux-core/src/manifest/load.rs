//! Reading manifest files from a directory on disk.
//!
//! This is the only file-system access in flux-core, and it only reads. It is
//! what `fluxctl --local DIR` and the demo use; the daemon reads git trees
//! through flux-git instead. Symbolic links are followed only while they stay
//! inside the root, so a repository cannot make Flux read `/etc/shadow`:
//! every component of a `--git-path` is checked, not only the last, and a
//! git path that cannot be followed (dangling, a loop) is an error.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::files::{FileSet, is_manifest_file, normalize_git_paths};
use super::{LoadError, LoadErrors, LoadOptions, Manifests, parse_files};
use crate::resource::ScopeTable;
use crate::source::{ManifestSource, Snapshot, SourceError};

/// Reads the manifest files under `paths` (the `--git-path` values) of the
/// directory `root` into a [`FileSet`].
///
/// Hidden entries and Helm chart directories are not descended into; files
/// over `options.max_file_size` and links leading outside `root` are errors.
pub fn read_dir_files<S: AsRef<str>>(
    root: &Path,
    paths: &[S],
    options: &LoadOptions,
) -> Result<FileSet, LoadErrors> {
    let paths = normalize_git_paths(paths)?;
    let canonical_root = fs::canonicalize(root).map_err(|source| LoadError::Io {
        path: root.to_owned(),
        source,
    })?;
    let mut walker = Walker {
        root: &canonical_root,
        options,
        to_read: Vec::new(),
        errors: Vec::new(),
        visited: HashSet::new(),
    };
    for path in &paths {
        match resolve_git_path(&canonical_root, path) {
            Ok(full) => walker.visit(&full, path, true),
            Err(e) => walker.errors.push(e),
        }
    }
    let mut errors = walker.errors;
    // Reading thousands of small files is latency-bound: overlap the reads.
    let read: Vec<Result<(String, Vec<u8>), LoadError>> = walker
        .to_read
        .into_par_iter()
        .map(|(rel, path)| match fs::read(&path) {
            Ok(bytes) => Ok((rel, bytes)),
            Err(source) => Err(LoadError::Io { path, source }),
        })
        .collect();
    let mut files = FileSet::new();
    for r in read {
        match r {
            Ok((rel, bytes)) => files.insert(rel, bytes),
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(files)
    } else {
        Err(LoadErrors(errors))
    }
}

/// Where git path `rel` really is under `root` (canonical): each component
/// in turn, following symbolic links only while they stay inside `root`.
/// Checking only the whole path (or its last component) would let a link
/// in a parent (`--git-path link/apps`, `link` → `/etc`) lead outside.
/// A git path that cannot be followed (missing, a dangling link, a loop) is
/// an error: read as empty, it would sync nothing and garbage-collect all.
fn resolve_git_path(root: &Path, rel: &str) -> Result<PathBuf, LoadError> {
    let not_found = || LoadError::PathNotFound {
        path: rel.to_owned(),
    };
    let mut at = root.to_owned();
    let mut walked = String::new();
    for component in rel.split('/').filter(|c| !c.is_empty()) {
        if !walked.is_empty() {
            walked.push('/');
        }
        walked.push_str(component);
        let next = at.join(component);
        let meta = match fs::symlink_metadata(&next) {
            Ok(m) => m,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                ) =>
            {
                return Err(not_found());
            }
            Err(source) => return Err(LoadError::Io { path: next, source }),
        };
        if !meta.file_type().is_symlink() {
            at = next; // canonical: a real entry of a canonical directory
            continue;
        }
        match fs::canonicalize(&next) {
            Ok(target) if target.starts_with(root) => at = target,
            Ok(target) => {
                return Err(LoadError::SymlinkOutsideRoot {
                    path: walked,
                    target,
                });
            }
            Err(e) => {
                return Err(LoadError::Io {
                    path: PathBuf::from(walked),
                    source: std::io::Error::new(
                        e.kind(),
                        format!("symbolic link cannot be followed (dangling, or a loop): {e}"),
                    ),
                });
            }
        }
    }
    Ok(at)
}

struct Walker<'a> {
    root: &'a Path,
    options: &'a LoadOptions,
    /// Files found by the walk, read afterwards in parallel.
    to_read: Vec<(String, PathBuf)>,
    errors: Vec<LoadError>,
    visited: HashSet<PathBuf>,
}

impl Walker<'_> {
    fn io(&mut self, path: &Path, source: std::io::Error) {
        self.errors.push(LoadError::Io {
            path: path.to_owned(),
            source,
        });
    }

    /// Visits `full` (repo-relative `rel`). `explicit` is true for a git path
    /// itself, which is read even if its name is hidden.
    fn visit(&mut self, full: &Path, rel: &str, explicit: bool) {
        let name = rel.rsplit('/').next().unwrap_or(rel);
        if !explicit && name.starts_with('.') {
            return;
        }
        let meta = match fs::symlink_metadata(full) {
            Ok(m) => m,
            Err(e) => return self.io(full, e),
        };
        let target = if meta.file_type().is_symlink() {
            match fs::canonicalize(full) {
                Ok(t) if t.starts_with(self.root) => t,
                Ok(t) => {
                    self.errors.push(LoadError::SymlinkOutsideRoot {
                        path: rel.to_owned(),
                        target: t,
                    });
                    return;
                }
                Err(e) => {
                    // A dangling link to something that is not a manifest is harmless.
                    if is_manifest_file(name) {
                        self.io(full, e);
                    }
                    return;
                }
            }
        } else {
            full.to_owned()
        };
        let meta = match fs::metadata(&target) {
            Ok(m) => m,
            Err(e) => return self.io(full, e),
        };
        if meta.is_dir() {
            self.visit_dir(&target, rel);
        } else if meta.is_file() && (is_manifest_file(name) || explicit) {
            if meta.len() > self.options.max_file_size {
                self.errors.push(LoadError::TooLarge {
                    path: rel.to_owned(),
                    size: meta.len(),
                    limit: self.options.max_file_size,
                });
                return;
            }
            self.to_read.push((rel.to_owned(), target));
        }
    }

    fn visit_dir(&mut self, dir: &Path, rel: &str) {
        let canonical = fs::canonicalize(dir).unwrap_or_else(|_| dir.to_owned());
        if !self.visited.insert(canonical) {
            return; // a link loop, or a directory reached twice
        }
        if dir.join("Chart.yaml").exists() {
            return; // a Helm chart: templates are not manifests
        }
        let entries = match fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) => return self.io(dir, e),
        };
        let mut names: Vec<String> = Vec::new();
        for entry in entries {
            match entry {
                Ok(entry) => match entry.file_name().into_string() {
                    Ok(n) => names.push(n),
                    Err(raw) => self.errors.push(LoadError::Io {
                        path: dir.join(raw),
                        source: std::io::Error::new(
                            std::io::ErrorKind::InvalidData,
                            "file name is not UTF-8",
                        ),
                    }),
                },
                Err(e) => self.io(dir, e),
            }
        }
        names.sort();
        for name in names {
            let child_rel = if rel.is_empty() {
                name.clone()
            } else {
                format!("{rel}/{name}")
            };
            self.visit(&dir.join(&name), &child_rel, false);
        }
    }
}

/// Reads and parses the manifests under `paths` of directory `root`.
///
/// ```no_run
/// use flux_core::manifest::{load_dir, LoadOptions};
/// use flux_core::ScopeTable;
/// let manifests = load_dir("examples/config-repo".as_ref(), &["."], &ScopeTable::builtin(), &LoadOptions::default())?;
/// for (id, resource) in &manifests.resources {
///     println!("{id} {}", resource.source());
/// }
/// # Ok::<(), flux_core::manifest::LoadErrors>(())
/// ```
pub fn load_dir<S: AsRef<str>>(
    root: &Path,
    paths: &[S],
    scopes: &ScopeTable,
    options: &LoadOptions,
) -> Result<Manifests, LoadErrors> {
    let normalized = normalize_git_paths(paths)?;
    let files = read_dir_files(root, &normalized, options)?;
    parse_files(&files, &normalized, scopes, options)
}

/// A [`ManifestSource`] over a plain directory (for `fluxctl --local` and
/// tests). It has no revisions; reads are blocking file-system calls.
#[derive(Debug, Clone)]
pub struct DirSource {
    root: PathBuf,
    options: LoadOptions,
}

impl DirSource {
    /// A source reading `root`.
    pub fn new(root: impl Into<PathBuf>, options: LoadOptions) -> Self {
        DirSource {
            root: root.into(),
            options,
        }
    }
}

#[async_trait::async_trait]
impl ManifestSource for DirSource {
    async fn snapshot(&self, paths: &[String]) -> Result<Snapshot, SourceError> {
        let files = read_dir_files(&self.root, paths, &self.options).map_err(|e| SourceError {
            message: e.to_string(),
            source: Some(Box::new(e)),
        })?;
        Ok(Snapshot {
            revision: None,
            files,
        })
    }
}
