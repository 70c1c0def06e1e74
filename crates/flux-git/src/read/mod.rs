//! Reading the manifest files of a commit straight from its tree (no work
//! tree), with the same rules as reading a directory on disk.
//!
//! Only what a sync needs is read: `.yaml`/`.yml` files under the
//! `--git-path`s, skipping hidden entries and Helm charts (a directory
//! holding `Chart.yaml`), as `flux_core::manifest::read_dir_files` does. A
//! git path that does not exist is an error. Symbolic links are resolved
//! inside the tree; one that leads outside the repository (an absolute
//! target, or `..` past the root) is an error naming it, as is a dangling
//! link to a manifest file. Every problem is collected, so one failed read
//! lists them all.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;

use flux_core::manifest::{FileSet, LoadError, LoadErrors, is_manifest_file, normalize_git_paths};
use flux_core::source::{ManifestSource, Snapshot, SourceError};
use gix::ObjectId;

use crate::error::Error;
use crate::repo::{Repo, mirror_error};

mod blobs;

pub(crate) use blobs::BlobCache;
use blobs::read_blobs;

/// Largest manifest file read, in bytes (as flux-core's default).
pub const MAX_FILE_SIZE: u64 = 16 * 1024 * 1024;

/// How many symbolic links one path may go through.
const MAX_LINK_HOPS: usize = 40;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Tree,
    Blob,
    Link,
    Submodule,
}

#[derive(Debug, Clone)]
struct Entry {
    name: String,
    kind: Kind,
    id: ObjectId,
    executable: bool,
}

/// Where a path leads inside the tree.
#[derive(Debug, Clone)]
pub(crate) enum Resolved {
    /// A directory.
    Tree { id: ObjectId, real: String },
    /// A file.
    Blob {
        id: ObjectId,
        real: String,
        executable: bool,
    },
    /// A submodule (a commit of another repository).
    Submodule,
}

#[derive(Debug)]
pub(crate) enum Unresolved {
    /// Nothing there.
    NotFound,
    /// A link leads out of the repository.
    Escapes { target: String },
    /// Too many links.
    Loop,
    /// A tree could not be read.
    Broken(Error),
}

/// Reads trees of one commit, remembering what it decoded.
pub(crate) struct TreeReader<'r> {
    repo: &'r gix::Repository,
    root: ObjectId,
    dir: &'r std::path::Path,
    trees: HashMap<ObjectId, Vec<Entry>>,
}

impl<'r> TreeReader<'r> {
    pub(crate) fn new(repo: &'r gix::Repository, root: ObjectId, dir: &'r std::path::Path) -> Self {
        TreeReader {
            repo,
            root,
            dir,
            trees: HashMap::new(),
        }
    }

    fn entries(&mut self, tree: ObjectId) -> Result<&[Entry], Error> {
        if !self.trees.contains_key(&tree) {
            let t = self
                .repo
                .find_tree(tree)
                .map_err(|e| mirror_error(self.dir, &format!("reading tree {tree}"), e))?;
            let decoded = t
                .decode()
                .map_err(|e| mirror_error(self.dir, &format!("decoding tree {tree}"), e))?;
            let entries = decoded
                .entries
                .iter()
                .map(|e| {
                    let kind = if e.mode.is_tree() {
                        Kind::Tree
                    } else if e.mode.is_link() {
                        Kind::Link
                    } else if e.mode.is_commit() {
                        Kind::Submodule
                    } else {
                        Kind::Blob
                    };
                    Entry {
                        name: String::from_utf8_lossy(e.filename).into_owned(),
                        kind,
                        id: e.oid.to_owned(),
                        executable: e.mode.is_executable(),
                    }
                })
                .collect();
            self.trees.insert(tree, entries);
        }
        Ok(self.trees.get(&tree).map(Vec::as_slice).unwrap_or_default())
    }

    fn blob(&self, id: ObjectId) -> Result<Vec<u8>, Error> {
        self.repo
            .find_blob(id)
            .map(|mut b| b.take_data())
            .map_err(|e| mirror_error(self.dir, &format!("reading blob {id}"), e))
    }

    /// Follows `path` from the root through directories and symbolic links
    /// (the last component too when `follow_last`).
    pub(crate) fn resolve(
        &mut self,
        path: &str,
        follow_last: bool,
    ) -> Result<Resolved, Unresolved> {
        let mut pending: VecDeque<String> = components(path).collect();
        let mut stack: Vec<(String, ObjectId)> = Vec::new();
        let mut hops = 0;
        let mut last_target: Option<String> = None;
        while let Some(c) = pending.pop_front() {
            let current = stack.last().map_or(self.root, |(_, id)| *id);
            if c == ".." {
                if stack.pop().is_none() {
                    return Err(Unresolved::Escapes {
                        target: last_target.unwrap_or_else(|| path.to_owned()),
                    });
                }
                continue;
            }
            let entries = self.entries(current).map_err(Unresolved::Broken)?;
            let Some(entry) = entries.iter().find(|e| e.name == c).cloned() else {
                return Err(Unresolved::NotFound);
            };
            match entry.kind {
                Kind::Tree => stack.push((c, entry.id)),
                Kind::Link if follow_last || !pending.is_empty() => {
                    hops += 1;
                    if hops > MAX_LINK_HOPS {
                        return Err(Unresolved::Loop);
                    }
                    let target =
                        String::from_utf8_lossy(&self.blob(entry.id).map_err(Unresolved::Broken)?)
                            .into_owned();
                    if target.starts_with('/') {
                        return Err(Unresolved::Escapes { target });
                    }
                    for t in components(&target).collect::<Vec<_>>().into_iter().rev() {
                        pending.push_front(t);
                    }
                    last_target = Some(target);
                }
                kind => {
                    if !pending.is_empty() {
                        return Err(Unresolved::NotFound);
                    }
                    let mut real: Vec<&str> = stack.iter().map(|(n, _)| n.as_str()).collect();
                    real.push(&c);
                    return Ok(match kind {
                        Kind::Submodule => Resolved::Submodule,
                        _ => Resolved::Blob {
                            id: entry.id,
                            real: real.join("/"),
                            executable: entry.executable,
                        },
                    });
                }
            }
        }
        Ok(Resolved::Tree {
            id: stack.last().map_or(self.root, |(_, id)| *id),
            real: stack
                .iter()
                .map(|(n, _)| n.as_str())
                .collect::<Vec<_>>()
                .join("/"),
        })
    }

    /// The id of whatever is at `path` (links not followed), for diffs.
    pub(crate) fn id_at(&mut self, path: &str) -> Result<Option<ObjectId>, Error> {
        let mut current = self.root;
        let parts: Vec<String> = components(path).collect();
        for (i, c) in parts.iter().enumerate() {
            let Some(entry) = self
                .entries(current)?
                .iter()
                .find(|e| &e.name == c)
                .cloned()
            else {
                return Ok(None);
            };
            if i + 1 == parts.len() {
                return Ok(Some(entry.id));
            }
            if entry.kind != Kind::Tree {
                return Ok(None);
            }
            current = entry.id;
        }
        Ok(Some(current))
    }
}

fn components(path: &str) -> impl Iterator<Item = String> + '_ {
    path.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .map(str::to_owned)
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_owned()
    } else {
        format!("{dir}/{name}")
    }
}

/// Finds the manifest files to read while walking the trees.
struct Walk<'a, 'r> {
    reader: &'a mut TreeReader<'r>,
    files: Vec<(String, ObjectId)>,
    errors: Vec<LoadError>,
    visited: HashSet<String>,
}

impl Walk<'_, '_> {
    fn read_file(&mut self, rel: &str, id: ObjectId) -> Result<(), Error> {
        self.files.push((rel.to_owned(), id));
        Ok(())
    }

    /// Walks the directory `tree` (really at `real`), seen at `rel`.
    fn dir(&mut self, tree: ObjectId, rel: &str, real: &str) -> Result<(), Error> {
        if !self.visited.insert(real.to_owned()) {
            return Ok(()); // a link loop, or a directory reached twice
        }
        let entries = self.reader.entries(tree)?.to_vec();
        if entries.iter().any(|e| e.name == "Chart.yaml") {
            return Ok(()); // a Helm chart: templates are not manifests
        }
        for entry in entries {
            if entry.name.starts_with('.') {
                continue;
            }
            let child_rel = join(rel, &entry.name);
            match entry.kind {
                Kind::Tree => self.dir(entry.id, &child_rel, &join(real, &entry.name))?,
                Kind::Blob if is_manifest_file(&entry.name) => {
                    self.read_file(&child_rel, entry.id)?
                }
                Kind::Blob | Kind::Submodule => {}
                Kind::Link => self.link(&join(real, &entry.name), &child_rel, &entry.name)?,
            }
        }
        Ok(())
    }

    fn link(&mut self, real: &str, rel: &str, name: &str) -> Result<(), Error> {
        let manifest = is_manifest_file(name);
        match self.reader.resolve(real, true) {
            Ok(Resolved::Tree { id, real }) => self.dir(id, rel, &real),
            Ok(Resolved::Blob { id, .. }) if manifest => self.read_file(rel, id),
            Ok(_) => Ok(()),
            Err(Unresolved::Escapes { target }) => {
                self.errors.push(LoadError::SymlinkOutsideRoot {
                    path: rel.to_owned(),
                    target: PathBuf::from(target),
                });
                Ok(())
            }
            Err(Unresolved::NotFound | Unresolved::Loop) if manifest => {
                self.errors.push(LoadError::Io {
                    path: PathBuf::from(rel),
                    source: std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        "symbolic link leads nowhere inside the repository (dangling or a loop)",
                    ),
                });
                Ok(())
            }
            Err(Unresolved::NotFound | Unresolved::Loop) => Ok(()),
            Err(Unresolved::Broken(e)) => Err(e),
        }
    }
}

/// Reads the manifest files under `paths` of commit `commit`.
pub(crate) fn read_files(
    repo: &gix::Repository,
    dir: &std::path::Path,
    commit: ObjectId,
    paths: &[String],
    max_size: u64,
    cache: &BlobCache,
) -> Result<FileSet, Error> {
    let revision = commit.to_string();
    let paths = normalize_git_paths(paths).map_err(|e| Error::Manifests {
        revision: revision.clone(),
        errors: LoadErrors::from(e),
    })?;
    let root = repo
        .find_commit(commit)
        .and_then(|c| c.tree_id().map(|id| id.detach()))
        .map_err(|e| mirror_error(dir, &format!("reading commit {commit}"), e))?;
    let mut reader = TreeReader::new(repo, root, dir);
    let mut walk = Walk {
        reader: &mut reader,
        files: Vec::new(),
        errors: Vec::new(),
        visited: HashSet::new(),
    };
    for path in &paths {
        match walk.reader.resolve(path, true) {
            Ok(Resolved::Tree { id, real }) => walk.dir(id, path, &real)?,
            // A path naming a file reads it whatever its extension.
            Ok(Resolved::Blob { id, .. }) => walk.read_file(path, id)?,
            Ok(Resolved::Submodule) => {}
            Err(Unresolved::NotFound | Unresolved::Loop) => {
                walk.errors
                    .push(LoadError::PathNotFound { path: path.clone() });
            }
            Err(Unresolved::Escapes { target }) => {
                walk.errors.push(LoadError::SymlinkOutsideRoot {
                    path: path.clone(),
                    target: PathBuf::from(target),
                })
            }
            Err(Unresolved::Broken(e)) => return Err(e),
        }
    }
    let (found, mut errors) = (walk.files, walk.errors);
    let blobs = cache.read(found, |missing| read_blobs(repo, dir, missing, max_size))?;
    let mut files = FileSet::new();
    for (rel, read) in blobs {
        match read {
            Ok(bytes) => files.insert_shared(rel, bytes),
            Err(size) => errors.push(LoadError::TooLarge {
                path: rel,
                size,
                limit: max_size,
            }),
        }
    }
    if errors.is_empty() {
        Ok(files)
    } else {
        Err(Error::Manifests {
            revision,
            errors: LoadErrors(errors),
        })
    }
}

impl Repo {
    /// The manifest files under `paths` at `revision` (a commit id or ref
    /// in the mirror).
    pub async fn snapshot_at(&self, revision: &str, paths: &[String]) -> Result<Snapshot, Error> {
        let this = self.clone();
        let revision = revision.to_owned();
        let paths = paths.to_vec();
        tokio::task::spawn_blocking(move || {
            let repo = this.gix();
            let commit = this.resolve_commit(&repo, &revision)?;
            let files = read_files(
                &repo,
                &this.inner.dir,
                commit,
                &paths,
                MAX_FILE_SIZE,
                &this.inner.blobs,
            )?;
            Ok(Snapshot {
                revision: Some(commit.to_string()),
                files,
            })
        })
        .await
        .map_err(|e| mirror_error(&self.inner.dir, "reading files", e))?
    }

    /// A [`ManifestSource`] reading this repository at `revision`, or at the
    /// branch head of the last fetch when `None`.
    pub fn source(&self, revision: Option<String>) -> GitSource {
        GitSource {
            repo: self.clone(),
            revision,
        }
    }
}

/// The files of a [`Repo`] at a revision, as flux-core's [`ManifestSource`].
#[derive(Debug, Clone)]
pub struct GitSource {
    repo: Repo,
    revision: Option<String>,
}

#[async_trait::async_trait]
impl ManifestSource for GitSource {
    async fn snapshot(&self, paths: &[String]) -> Result<Snapshot, SourceError> {
        let revision = match &self.revision {
            Some(r) => r.clone(),
            None => self.repo.head().ok_or_else(|| SourceError {
                message: Error::NotFetched {
                    url: self.repo.url(),
                }
                .to_string(),
                source: None,
            })?,
        };
        self.repo
            .snapshot_at(&revision, paths)
            .await
            .map_err(|e| SourceError {
                message: e.to_string(),
                source: Some(Box::new(e)),
            })
    }
}
