//! A commit's files for programs that need them on disk: the whole tree
//! written out (manifest generation runs kustomize and other commands in a
//! checkout), and the exact files at given paths (the `.flux.yaml` files a
//! sync looks for), both straight from the mirror's objects, without a
//! work tree or an index.
//!
//! Writing follows `git checkout`: regular files with their executable bit,
//! symbolic links as links (their targets as written), submodules as empty
//! directories. An entry git itself would refuse to check out (`.`, `..`,
//! `.git` in any case, a name with `/` or NUL) stops the write with an error
//! naming it, so a crafted tree cannot write outside the directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use flux_core::manifest::{LoadError, LoadErrors};
use gix::ObjectId;

use crate::error::Error;
use crate::read::{Resolved, TreeReader, Unresolved};
use crate::repo::{Repo, mirror_error};

/// A commit and its root tree.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TreeId {
    /// The commit id (hex).
    pub commit: String,
    /// The id of its root tree (hex): the same for two commits with the
    /// same files.
    pub tree: String,
}

/// What an entry of a written tree is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A regular file with the executable bit.
    Executable,
    /// A symbolic link.
    Link,
    /// A submodule, written as an empty directory.
    Submodule,
}

/// One file (or link, or submodule) of a written tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeEntry {
    /// Repo-relative path, `/`-separated.
    pub path: String,
    /// The blob id (hex): git's hash of the contents (of the link target
    /// for a link; the commit for a submodule).
    pub blob: String,
    /// What it is.
    pub kind: EntryKind,
}

/// A tree written to disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Materialized {
    /// The commit and tree written.
    pub id: TreeId,
    /// Every entry written, in path order (directories are implied).
    pub entries: Vec<TreeEntry>,
}

fn check_name(name: &str) -> Result<(), &'static str> {
    match name {
        "" | "." | ".." => Err("is empty, '.' or '..'"),
        n if n.eq_ignore_ascii_case(".git") => Err("is a .git directory"),
        n if n.contains(['/', '\0']) => Err("contains '/' or NUL"),
        _ => Ok(()),
    }
}

impl Repo {
    /// The commit `revision` names and its root tree.
    pub async fn tree_of(&self, revision: &str) -> Result<TreeId, Error> {
        let this = self.clone();
        let revision = revision.to_owned();
        tokio::task::spawn_blocking(move || {
            let repo = this.gix();
            let commit = this.resolve_commit(&repo, &revision)?;
            let tree = this.root_tree(&repo, commit)?;
            Ok(TreeId {
                commit: commit.to_string(),
                tree: tree.to_string(),
            })
        })
        .await
        .map_err(|e| mirror_error(&self.inner.dir, "reading a tree", e))?
    }

    fn root_tree(&self, repo: &gix::Repository, commit: ObjectId) -> Result<ObjectId, Error> {
        repo.find_commit(commit)
            .and_then(|c| c.tree_id().map(|id| id.detach()))
            .map_err(|e| mirror_error(&self.inner.dir, &format!("reading commit {commit}"), e))
    }

    /// The bytes of the regular files at exactly `paths` of `revision`,
    /// following symbolic links inside the tree. Paths that are missing,
    /// directories or submodules are left out; a link leading outside the
    /// repository is an error.
    pub async fn read_paths(
        &self,
        revision: &str,
        paths: &[String],
    ) -> Result<BTreeMap<String, Vec<u8>>, Error> {
        let this = self.clone();
        let revision = revision.to_owned();
        let paths = paths.to_vec();
        tokio::task::spawn_blocking(move || {
            let repo = this.gix();
            let dir = &this.inner.dir;
            let commit = this.resolve_commit(&repo, &revision)?;
            let root = this.root_tree(&repo, commit)?;
            let mut reader = TreeReader::new(&repo, root, dir);
            let mut out = BTreeMap::new();
            for path in paths {
                match reader.resolve(&path, true) {
                    Ok(Resolved::Blob { id, .. }) => {
                        let data = repo
                            .find_blob(id)
                            .map(|mut b| b.take_data())
                            .map_err(|e| mirror_error(dir, &format!("reading blob {id}"), e))?;
                        out.insert(path, data);
                    }
                    Ok(Resolved::Tree { .. } | Resolved::Submodule)
                    | Err(Unresolved::NotFound | Unresolved::Loop) => {}
                    Err(Unresolved::Escapes { target }) => {
                        return Err(Error::Manifests {
                            revision: commit.to_string(),
                            errors: LoadErrors::from(LoadError::SymlinkOutsideRoot {
                                path,
                                target: PathBuf::from(target),
                            }),
                        });
                    }
                    Err(Unresolved::Broken(e)) => return Err(e),
                }
            }
            Ok(out)
        })
        .await
        .map_err(|e| mirror_error(&self.inner.dir, "reading files", e))?
    }

    /// Writes every file of `revision` under `dest`, which must be an
    /// empty directory or not exist (it is created). On an error `dest` may
    /// hold part of the tree: write into a scratch directory and rename it.
    pub async fn materialize(&self, revision: &str, dest: &Path) -> Result<Materialized, Error> {
        let this = self.clone();
        let revision = revision.to_owned();
        let dest = dest.to_owned();
        tokio::task::spawn_blocking(move || {
            let repo = this.gix();
            let commit = this.resolve_commit(&repo, &revision)?;
            let tree = this.root_tree(&repo, commit)?;
            std::fs::create_dir_all(&dest).map_err(|e| Error::io(&dest, e))?;
            let mut writer = Writer {
                repo: &repo,
                mirror: &this.inner.dir,
                revision: commit.to_string(),
                entries: Vec::new(),
            };
            writer.tree(tree, "", &dest)?;
            let mut entries = writer.entries;
            entries.sort_by(|a, b| a.path.cmp(&b.path));
            Ok(Materialized {
                id: TreeId {
                    commit: commit.to_string(),
                    tree: tree.to_string(),
                },
                entries,
            })
        })
        .await
        .map_err(|e| mirror_error(&self.inner.dir, "writing out a tree", e))?
    }
}

struct Writer<'r> {
    repo: &'r gix::Repository,
    mirror: &'r Path,
    revision: String,
    entries: Vec<TreeEntry>,
}

impl Writer<'_> {
    fn tree(&mut self, id: ObjectId, rel: &str, dir: &Path) -> Result<(), Error> {
        let tree = self
            .repo
            .find_tree(id)
            .map_err(|e| mirror_error(self.mirror, &format!("reading tree {id}"), e))?;
        let decoded = tree
            .decode()
            .map_err(|e| mirror_error(self.mirror, &format!("decoding tree {id}"), e))?;
        let children: Vec<(String, gix::objs::tree::EntryMode, ObjectId)> = decoded
            .entries
            .iter()
            .map(|e| {
                (
                    String::from_utf8_lossy(e.filename).into_owned(),
                    e.mode,
                    e.oid.to_owned(),
                )
            })
            .collect();
        for (name, mode, oid) in children {
            let path = if rel.is_empty() {
                name.clone()
            } else {
                format!("{rel}/{name}")
            };
            check_name(&name).map_err(|reason| Error::UnsafeTree {
                revision: self.revision.clone(),
                path: path.clone(),
                reason,
            })?;
            let target = dir.join(&name);
            if mode.is_tree() {
                std::fs::create_dir(&target).map_err(|e| Error::io(&target, e))?;
                self.tree(oid, &path, &target)?;
                continue;
            }
            if mode.is_commit() {
                std::fs::create_dir(&target).map_err(|e| Error::io(&target, e))?;
                self.entries.push(TreeEntry {
                    path,
                    blob: oid.to_string(),
                    kind: EntryKind::Submodule,
                });
                continue;
            }
            let data = self
                .repo
                .find_blob(oid)
                .map(|mut b| b.take_data())
                .map_err(|e| mirror_error(self.mirror, &format!("reading blob {oid}"), e))?;
            let kind = if mode.is_link() {
                let link = String::from_utf8_lossy(&data).into_owned();
                std::os::unix::fs::symlink(&link, &target).map_err(|e| Error::io(&target, e))?;
                EntryKind::Link
            } else {
                std::fs::write(&target, &data).map_err(|e| Error::io(&target, e))?;
                if mode.is_executable() {
                    use std::os::unix::fs::PermissionsExt as _;
                    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o755))
                        .map_err(|e| Error::io(&target, e))?;
                    EntryKind::Executable
                } else {
                    EntryKind::File
                }
            };
            self.entries.push(TreeEntry {
                path,
                blob: oid.to_string(),
                kind,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::check_name;

    #[test]
    fn names_git_would_not_check_out() {
        for (name, ok) in [
            ("a.yaml", true),
            (".flux.yaml", true),
            ("..a", true),
            ("", false),
            (".", false),
            ("..", false),
            (".git", false),
            (".GIT", false),
            ("a/b", false),
            ("a\0b", false),
        ] {
            assert_eq!(check_name(name).is_ok(), ok, "{name:?}");
        }
    }
}
