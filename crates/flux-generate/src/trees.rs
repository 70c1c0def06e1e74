//! Work trees for commands: a commit written out once per tree id and
//! reused while the tree does not change, throw-away copies for updaters,
//! and what an updater changed in one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use flux_git::{Repo, TreeId};
use sha1::{Digest as _, Sha1};

use crate::error::GenerateError;

/// How many written trees are kept (the one synced, and one being
/// released or about to be synced).
const KEEP: usize = 2;

/// A written tree; its directory is removed when the last user drops it.
#[derive(Debug)]
pub(crate) struct TreeDir {
    /// The directory holding the files.
    pub path: PathBuf,
    /// Its commit and tree.
    pub id: TreeId,
}

impl Drop for TreeDir {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.path) {
            tracing::debug!(path = %self.path.display(), error = %e, "work tree not removed");
        }
    }
}

/// The written trees of one repository.
#[derive(Debug)]
pub(crate) struct Trees {
    root: PathBuf,
    kept: tokio::sync::Mutex<Vec<Arc<TreeDir>>>,
}

fn io(path: &Path, source: std::io::Error) -> GenerateError {
    GenerateError::Io {
        path: path.to_owned(),
        source,
    }
}

impl Trees {
    /// Trees under `root`; whatever an earlier process left there is removed.
    pub(crate) fn new(root: PathBuf) -> Result<Self, GenerateError> {
        if root.exists() {
            std::fs::remove_dir_all(&root).map_err(|e| io(&root, e))?;
        }
        std::fs::create_dir_all(&root).map_err(|e| io(&root, e))?;
        Ok(Trees {
            root,
            kept: tokio::sync::Mutex::new(Vec::new()),
        })
    }

    /// The tree `id` written out, reusing the last write of the same tree.
    /// Returns it and whether it was written now.
    pub(crate) async fn get(
        &self,
        repo: &Repo,
        id: &TreeId,
    ) -> Result<(Arc<TreeDir>, bool), GenerateError> {
        let mut kept = self.kept.lock().await;
        if let Some(i) = kept.iter().position(|t| t.id.tree == id.tree) {
            let tree = kept.remove(i);
            kept.push(Arc::clone(&tree));
            return Ok((tree, false));
        }
        let scratch = self.scratch_dir()?;
        let staged = scratch.path().join("tree");
        repo.materialize(&id.commit, &staged)
            .await
            .map_err(|e| GenerateError::Git(Box::new(e)))?;
        let path = self.root.join(&id.tree);
        if path.exists() {
            std::fs::remove_dir_all(&path).map_err(|e| io(&path, e))?;
        }
        std::fs::rename(&staged, &path).map_err(|e| io(&path, e))?;
        let tree = Arc::new(TreeDir {
            path,
            id: id.clone(),
        });
        kept.push(Arc::clone(&tree));
        while kept.len() > KEEP {
            kept.remove(0);
        }
        Ok((tree, true))
    }

    /// A new, empty directory removed on drop.
    pub(crate) fn scratch_dir(&self) -> Result<tempfile::TempDir, GenerateError> {
        tempfile::Builder::new()
            .prefix(".scratch-")
            .tempdir_in(&self.root)
            .map_err(|e| io(&self.root, e))
    }
}

/// What a path of a directory holds, for finding what changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum State {
    /// A regular file with this SHA-1 of its contents.
    File([u8; 20]),
    /// A symbolic link to this target.
    Link(PathBuf),
}

/// Every file and link under `root` (`.git` directories left out).
pub(crate) fn states(root: &Path) -> Result<BTreeMap<String, State>, GenerateError> {
    let mut out = BTreeMap::new();
    let mut stack = vec![(root.to_owned(), String::new())];
    while let Some((dir, rel)) = stack.pop() {
        for entry in std::fs::read_dir(&dir).map_err(|e| io(&dir, e))? {
            let entry = entry.map_err(|e| io(&dir, e))?;
            let Ok(name) = entry.file_name().into_string() else {
                return Err(io(
                    &entry.path(),
                    std::io::Error::new(std::io::ErrorKind::InvalidData, "file name is not UTF-8"),
                ));
            };
            if name == ".git" {
                continue;
            }
            let path = entry.path();
            let child = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            let meta = std::fs::symlink_metadata(&path).map_err(|e| io(&path, e))?;
            if meta.file_type().is_symlink() {
                let target = std::fs::read_link(&path).map_err(|e| io(&path, e))?;
                out.insert(child, State::Link(target));
            } else if meta.is_dir() {
                stack.push((path, child));
            } else if meta.is_file() {
                let bytes = std::fs::read(&path).map_err(|e| io(&path, e))?;
                out.insert(child, State::File(Sha1::digest(&bytes).into()));
            }
        }
    }
    Ok(out)
}

/// A change an updater made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Changed {
    /// A file written (new or changed).
    Write(String),
    /// A file removed.
    Delete(String),
    /// A symbolic link made, changed or removed, or a file turned into one.
    Link(String),
}

/// The differences between two states of one directory, in path order.
pub(crate) fn diff(
    before: &BTreeMap<String, State>,
    after: &BTreeMap<String, State>,
) -> Vec<Changed> {
    let mut out = Vec::new();
    for (path, state) in after {
        match (before.get(path), state) {
            (Some(b), a) if b == a => {}
            (Some(State::Link(_)), _) | (_, State::Link(_)) => {
                out.push(Changed::Link(path.clone()))
            }
            (_, State::File(_)) => out.push(Changed::Write(path.clone())),
        }
    }
    for (path, state) in before {
        if !after.contains_key(path) {
            out.push(match state {
                State::File(_) => Changed::Delete(path.clone()),
                State::Link(_) => Changed::Link(path.clone()),
            });
        }
    }
    out.sort_by(|a, b| key(a).cmp(key(b)));
    out
}

fn key(c: &Changed) -> &str {
    match c {
        Changed::Write(p) | Changed::Delete(p) | Changed::Link(p) => p,
    }
}

/// Copies the directory `from` to `to` (created): files with their
/// permissions, links as links, no `.git`.
pub(crate) fn copy_dir(from: &Path, to: &Path) -> Result<(), GenerateError> {
    std::fs::create_dir_all(to).map_err(|e| io(to, e))?;
    for entry in std::fs::read_dir(from).map_err(|e| io(from, e))? {
        let entry = entry.map_err(|e| io(from, e))?;
        if entry.file_name() == ".git" {
            continue;
        }
        let src = entry.path();
        let dst = to.join(entry.file_name());
        let meta = std::fs::symlink_metadata(&src).map_err(|e| io(&src, e))?;
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&src).map_err(|e| io(&src, e))?;
            std::os::unix::fs::symlink(target, &dst).map_err(|e| io(&dst, e))?;
        } else if meta.is_dir() {
            copy_dir(&src, &dst)?;
        } else if meta.is_file() {
            std::fs::copy(&src, &dst).map_err(|e| io(&src, e))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_between_states() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("a/.git")).unwrap();
        std::fs::write(root.join("a/keep.yaml"), "k").unwrap();
        std::fs::write(root.join("a/change.yaml"), "1").unwrap();
        std::fs::write(root.join("a/gone.yaml"), "g").unwrap();
        std::fs::write(root.join("a/.git/HEAD"), "x").unwrap();
        std::os::unix::fs::symlink("keep.yaml", root.join("a/link")).unwrap();
        let before = states(root).unwrap();
        assert_eq!(before.len(), 4, "{before:?}");

        let copy = tempfile::tempdir().unwrap();
        copy_dir(root, &copy.path().join("c")).unwrap();
        assert_eq!(states(&copy.path().join("c")).unwrap(), before);

        std::fs::write(root.join("a/change.yaml"), "2").unwrap();
        std::fs::remove_file(root.join("a/gone.yaml")).unwrap();
        std::fs::write(root.join("new.yaml"), "n").unwrap();
        std::fs::remove_file(root.join("a/link")).unwrap();
        std::os::unix::fs::symlink("change.yaml", root.join("a/link")).unwrap();
        std::fs::write(root.join("a/.git/HEAD"), "y").unwrap();
        let after = states(root).unwrap();
        assert_eq!(
            diff(&before, &after),
            [
                Changed::Write("a/change.yaml".into()),
                Changed::Delete("a/gone.yaml".into()),
                Changed::Link("a/link".into()),
                Changed::Write("new.yaml".into()),
            ]
        );
    }
}
