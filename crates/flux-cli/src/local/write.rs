//! Writing edits into a checkout: all files or none.
//!
//! Before anything is written, every file to change is checked:
//! - it still holds what was read (nobody changed it meanwhile);
//! - it and its directory are writable (a read-only checkout, e.g. after
//!   `chmod -R a-w`, is refused by its permission bits, even for root);
//! - in a git checkout, it has no uncommitted changes (modified, staged or
//!   untracked), unless `--allow-dirty`: fluxctl's edit should be a change
//!   of its own that `git diff` shows alone and `git checkout` can undo.
//!   Other files of the checkout may be dirty; only the files written
//!   count. A directory that is not in a git checkout (or a machine
//!   without git) is not checked.
//!
//! Then each new text is written to a temporary file beside its target
//! (keeping the target's permissions), and only when all are written are
//! they renamed over the targets; a failure before that removes the
//! temporary files and leaves every target as it was.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::Context as _;
use flux_core::manifest::FileSet;
use flux_core::release::FileEdit;

/// Checks and writes `edits` into `dir`; `files` holds what was read.
pub fn write_edits(
    dir: &Path,
    files: &FileSet,
    edits: &[FileEdit],
    allow_dirty: bool,
) -> anyhow::Result<()> {
    for e in edits {
        let path = dir.join(&e.file);
        if files.get(&e.file).is_none() && !path.exists() {
            // A new file (a patch file manifest generation starts).
            continue;
        }
        let now = fs::read(&path).with_context(|| format!("reading {}", e.file))?;
        if files.get(&e.file) != Some(now.as_slice()) {
            anyhow::bail!("{} changed since it was read; nothing was written", e.file);
        }
        let meta = fs::metadata(&path).with_context(|| format!("reading {}", e.file))?;
        if meta.permissions().readonly() {
            anyhow::bail!(
                "{} is read-only; nothing was written (make the checkout writable first)",
                e.file
            );
        }
        let parent = path.parent().unwrap_or(dir);
        let dir_meta =
            fs::metadata(parent).with_context(|| format!("reading {}", parent.display()))?;
        if dir_meta.permissions().readonly() {
            anyhow::bail!(
                "the directory of {} is read-only; nothing was written (make the checkout writable first)",
                e.file
            );
        }
    }
    if !allow_dirty {
        let dirty = dirty_files(dir, edits)?;
        if !dirty.is_empty() {
            anyhow::bail!(
                "{} uncommitted changes in git: commit or stash them first so this edit stands alone, or pass --allow-dirty; nothing was written",
                match dirty.as_slice() {
                    [one] => format!("{one} has"),
                    many => format!("{} have", many.join(", ")),
                }
            );
        }
    }
    let mut written: Vec<(PathBuf, PathBuf)> = Vec::new();
    for e in edits {
        let target = dir.join(&e.file);
        let tmp = temp_path(&target);
        let result = match fs::metadata(&target) {
            Ok(m) => fs::write(&tmp, e.text.as_bytes())
                .and_then(|()| fs::set_permissions(&tmp, m.permissions())),
            Err(_) => target
                .parent()
                .map_or(Ok(()), fs::create_dir_all)
                .and_then(|()| fs::write(&tmp, e.text.as_bytes())),
        };
        if let Err(err) = result {
            let _ = fs::remove_file(&tmp);
            for (t, _) in &written {
                let _ = fs::remove_file(t);
            }
            return Err(
                anyhow::Error::new(err).context(format!("writing {}; nothing was written", e.file))
            );
        }
        written.push((tmp, target));
    }
    for (tmp, target) in &written {
        fs::rename(tmp, target).with_context(|| format!("replacing {}", target.display()))?;
    }
    Ok(())
}

fn temp_path(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    target.with_file_name(format!(".{name}.fluxctl-{}", std::process::id()))
}

/// The files among `edits` that differ from git's HEAD (modified, staged
/// or untracked); empty when `dir` is not in a git checkout.
fn dirty_files(dir: &Path, edits: &[FileEdit]) -> anyhow::Result<Vec<String>> {
    let inside = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["rev-parse", "--is-inside-work-tree"])
        .stderr(Stdio::null())
        .output();
    match inside {
        Ok(o) if o.status.success() && o.stdout.starts_with(b"true") => {}
        _ => return Ok(Vec::new()),
    }
    let mut cmd = Command::new("git");
    cmd.arg("-C").arg(dir).args([
        "status",
        "--porcelain=v1",
        "-z",
        "--untracked-files=all",
        "--",
    ]);
    for e in edits {
        cmd.arg(&e.file);
    }
    let out = cmd
        .stderr(Stdio::piped())
        .output()
        .context("running git status")?;
    if !out.status.success() {
        anyhow::bail!(
            "git status failed in {}: {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    // Entries are "XY path\0"; the paths are relative to the top level, so
    // match them against the edits by suffix.
    let mut dirty = Vec::new();
    for entry in out.stdout.split(|b| *b == 0).filter(|e| e.len() > 3) {
        let path = String::from_utf8_lossy(&entry[3..]).into_owned();
        if let Some(e) = edits
            .iter()
            .find(|e| path == e.file || path.ends_with(&format!("/{}", e.file)))
        {
            dirty.push(e.file.clone());
        }
    }
    Ok(dirty)
}
