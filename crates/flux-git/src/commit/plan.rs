//! Planning an edit's changes on a tree: which real paths change, and which
//! changes are refused before anything is written.

use std::collections::BTreeMap;

use gix::ObjectId;
use gix::object::tree::EntryKind;

use super::FileChanges;
use crate::error::Error;
use crate::read::{Resolved, TreeReader, Unresolved};

/// A planned change to one real path of the tree.
#[derive(Debug)]
pub(super) enum Target {
    Write {
        bytes: Vec<u8>,
        kind: EntryKind,
        old: Option<ObjectId>,
    },
    Delete,
}

/// Checks every changed path and resolves it to the path really changed: a
/// symbolic link to a file inside the repository is written through (the
/// link stays a link); paths through links that leave the repository, into
/// `.git`, or onto directories are refused.
pub(super) fn plan_changes(
    reader: &mut TreeReader<'_>,
    changes: &FileChanges,
) -> Result<BTreeMap<String, Target>, Error> {
    let mut targets: BTreeMap<String, Target> = BTreeMap::new();
    for (path, bytes) in changes.iter() {
        let refuse = |reason: &str| Error::InvalidChange {
            path: path.to_owned(),
            reason: reason.to_owned(),
        };
        check_path(path).map_err(&refuse)?;
        let (real, old, executable) = match bytes {
            Some(_) => match reader.resolve(path, true) {
                Ok(Resolved::Blob {
                    id,
                    real,
                    executable,
                }) => (real, Some(id), executable),
                Ok(Resolved::Tree { .. }) => return Err(refuse("is a directory")),
                Ok(Resolved::Submodule) => return Err(refuse("is a submodule")),
                Err(Unresolved::NotFound) => (
                    new_file_path(reader, path).map_err(|r| refuse(&r))?,
                    None,
                    false,
                ),
                Err(Unresolved::Escapes { target }) => {
                    return Err(refuse(&format!(
                        "leads outside the repository through a symbolic link (to {target})"
                    )));
                }
                Err(Unresolved::Loop) => {
                    return Err(refuse("goes through a loop of symbolic links"));
                }
                Err(Unresolved::Broken(e)) => return Err(e),
            },
            None => match reader.id_at(path)? {
                Some(_) => (path.to_owned(), None, false),
                None => return Err(refuse("does not exist, so cannot be deleted")),
            },
        };
        let target = match bytes {
            Some(b) => Target::Write {
                bytes: b.to_vec(),
                kind: if executable {
                    EntryKind::BlobExecutable
                } else {
                    EntryKind::Blob
                },
                old,
            },
            None => Target::Delete,
        };
        if let Some(previous) = targets.get(&real) {
            let same = match (previous, &target) {
                (Target::Write { bytes: a, .. }, Target::Write { bytes: b, .. }) => a == b,
                (Target::Delete, Target::Delete) => true,
                _ => false,
            };
            if !same {
                return Err(refuse(&format!(
                    "is the same file as another changed path ({real}) with different contents"
                )));
            }
        }
        targets.insert(real, target);
    }
    Ok(targets)
}

/// A path the edit may name: relative, `/`-separated, no `.`/`..`
/// components, nothing under `.git`.
pub(super) fn check_path(path: &str) -> Result<(), &'static str> {
    if path.is_empty() || path.starts_with('/') {
        return Err("is not a path relative to the repository root");
    }
    for c in path.split('/') {
        match c {
            "" | "." | ".." => return Err("has an empty, '.' or '..' component"),
            c if c.eq_ignore_ascii_case(".git") => return Err("is inside .git"),
            c if c.contains(['\0', '\\']) => return Err("contains a NUL or backslash"),
            _ => {}
        }
    }
    Ok(())
}

/// For a file that does not exist yet: its parent directories must be real
/// directories (or not exist), not files or symbolic links.
fn new_file_path(reader: &mut TreeReader<'_>, path: &str) -> Result<String, String> {
    let parts: Vec<&str> = path.split('/').collect();
    for i in 1..parts.len() {
        let prefix = parts[..i].join("/");
        match reader.resolve(&prefix, false) {
            Ok(Resolved::Tree { .. }) => {}
            Err(Unresolved::NotFound) => break,
            Ok(Resolved::Blob { .. }) => {
                return Err(format!("has a parent {prefix} that is a file or link"));
            }
            Ok(Resolved::Submodule) => {
                return Err(format!("has a parent {prefix} that is a submodule"));
            }
            Err(Unresolved::Broken(e)) => return Err(e.to_string()),
            Err(_) => return Err(format!("has a parent {prefix} that is a symbolic link")),
        }
    }
    Ok(path.to_owned())
}
