//! GPG signatures, checked with the `git` program (gix does not verify).
//!
//! Flux v1's rule (`--git-verify-signatures-mode`): the sync tag and the
//! commit it points at must verify, and the cluster is only synced up to the
//! newest commit before the first one (oldest first) without a good
//! signature.

use crate::command::GitArgs;
use crate::config::VerifyMode;
use crate::error::Error;
use crate::repo::Repo;

/// A commit and its signature status, as `git log --format=%G?` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCommit {
    /// The commit.
    pub revision: String,
    /// `G` good; `B` bad; `U` good, unknown validity; `X`/`Y` expired
    /// signature/key; `R` revoked key; `E` cannot check; `N` none.
    pub status: char,
    /// The signing key, if any.
    pub key: String,
}

impl SignedCommit {
    /// Whether the signature is good (`G`), the only status Flux accepts.
    pub fn is_valid(&self) -> bool {
        self.status == 'G'
    }
}

/// The newest revision that may be synced: `head` if every commit in
/// `commits` (newest first, those after the sync tag) is validly signed;
/// otherwise the commit just before the oldest invalid one (or the sync tag
/// revision if that is the first), with the offending commit.
///
/// ```
/// use flux_git::signature::{SignedCommit, latest_valid};
/// let c = |r: &str, s| SignedCommit { revision: r.into(), status: s, key: String::new() };
/// let commits = [c("c3", 'G'), c("c2", 'N'), c("c1", 'G')];
/// let (rev, bad) = latest_valid(Some("tag"), "c3", &commits);
/// assert_eq!(rev.as_deref(), Some("c1"));
/// assert_eq!(bad.unwrap().revision, "c2");
/// ```
pub fn latest_valid(
    tag_revision: Option<&str>,
    head: &str,
    commits: &[SignedCommit],
) -> (Option<String>, Option<SignedCommit>) {
    for i in (0..commits.len()).rev() {
        if !commits[i].is_valid() {
            let valid = match commits.get(i + 1) {
                Some(older) => Some(older.revision.clone()),
                None => tag_revision.map(str::to_owned),
            };
            return (valid, Some(commits[i].clone()));
        }
    }
    (Some(head.to_owned()), None)
}

/// Imports the GnuPG keys at `src` (a file, or every regular file directly
/// in a directory: `--git-gpg-key-import`) into `gnupg_home` (or the default
/// GnuPG home), and returns the names of the files imported. With `trust`
/// (Flux v1 does it when verifying signatures) every key in the keyring is
/// given ultimate owner trust, since only signatures from trusted keys count
/// as good (`G`). Blocking: it runs `gpg`.
pub fn import_keys(
    src: &std::path::Path,
    gnupg_home: Option<&std::path::Path>,
    trust: bool,
) -> Result<Vec<String>, Error> {
    let meta = std::fs::metadata(src).map_err(|e| Error::io(src, e))?;
    let mut files = Vec::new();
    if meta.is_dir() {
        for entry in std::fs::read_dir(src).map_err(|e| Error::io(src, e))? {
            let path = entry.map_err(|e| Error::io(src, e))?.path();
            if std::fs::metadata(&path).is_ok_and(|m| m.is_file()) {
                files.push(path);
            }
        }
        files.sort();
    } else {
        files.push(src.to_owned());
    }
    let mut imported = Vec::new();
    let mut failed = Vec::new();
    for path in &files {
        let name = path
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        match gpg(gnupg_home, &["--batch", "--import"], Some(path), None) {
            Ok(_) => imported.push(name),
            Err(e) => failed.push(format!("{name}: {e}")),
        }
    }
    if !failed.is_empty() {
        return Err(Error::Command {
            program: "gpg",
            args: "--import".into(),
            status: format!("{} of {} key files failed", failed.len(), files.len()),
            stderr: failed.join("; "),
        });
    }
    if trust {
        let listing = gpg(
            gnupg_home,
            &["--batch", "--with-colons", "--fingerprint", "--list-keys"],
            None,
            None,
        )?;
        // The fingerprint of each primary key is the `fpr` line after `pub`.
        let mut trust_lines = String::new();
        let mut after_pub = false;
        for line in listing.lines() {
            if line.starts_with("pub:") {
                after_pub = true;
            } else if after_pub && line.starts_with("fpr:") {
                if let Some(fpr) = line.split(':').nth(9) {
                    trust_lines.push_str(&format!("{fpr}:6:\n"));
                }
                after_pub = false;
            }
        }
        gpg(
            gnupg_home,
            &["--batch", "--import-ownertrust"],
            None,
            Some(trust_lines.into_bytes()),
        )?;
    }
    Ok(imported)
}

fn gpg(
    home: Option<&std::path::Path>,
    args: &[&str],
    file: Option<&std::path::Path>,
    stdin: Option<Vec<u8>>,
) -> Result<String, Error> {
    use std::io::Write as _;
    let mut cmd = std::process::Command::new("gpg");
    if let Some(home) = home {
        cmd.arg("--homedir").arg(home);
    }
    cmd.args(args);
    if let Some(file) = file {
        // A file name is never an option, whatever it starts with.
        cmd.arg("--").arg(file);
    }
    cmd.stdin(if stdin.is_some() {
        std::process::Stdio::piped()
    } else {
        std::process::Stdio::null()
    })
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().map_err(|source| Error::Spawn {
        program: "gpg",
        source,
    })?;
    if let (Some(bytes), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(&bytes).map_err(|source| Error::Spawn {
            program: "gpg",
            source,
        })?;
    }
    let out = child.wait_with_output().map_err(|source| Error::Spawn {
        program: "gpg",
        source,
    })?;
    if !out.status.success() {
        return Err(Error::Command {
            program: "gpg",
            args: args.join(" "),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

impl Repo {
    /// Checks the signature of a commit (`git verify-commit`).
    pub async fn verify_commit(&self, revision: &str) -> Result<(), Error> {
        let argv = GitArgs::new(["verify-commit"]).operands([revision]);
        let out = self
            .git()
            .raw(&argv, None, &self.gpg_env(), "verify a commit of")
            .await?;
        if out.status.success() {
            Ok(())
        } else {
            Err(Error::Signature {
                what: format!("commit {revision}"),
                message: out.stderr,
            })
        }
    }

    /// Checks the signature of tag `name` and returns the commit it points
    /// at (`git verify-tag`).
    pub async fn verify_tag(&self, name: &str) -> Result<String, Error> {
        let refname = format!("refs/tags/{name}");
        let argv = GitArgs::new(["verify-tag", "--format=%(object)"]).operands([refname]);
        let out = self
            .git()
            .raw(&argv, None, &self.gpg_env(), "verify a tag of")
            .await?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        } else {
            Err(Error::Signature {
                what: format!("tag {name}"),
                message: out.stderr,
            })
        }
    }

    /// The signature status of each commit after `from` up to `to`, newest
    /// first.
    pub async fn signature_statuses(
        &self,
        from: Option<&str>,
        to: &str,
        first_parent: bool,
    ) -> Result<Vec<SignedCommit>, Error> {
        let mut argv = vec!["log".to_owned(), "--format=%H %G? %GK".to_owned()];
        if first_parent {
            argv.push("--first-parent".into());
        }
        let range = match from {
            Some(f) => format!("{f}..{to}"),
            None => to.to_owned(),
        };
        let argv = GitArgs::new(argv).operands([range, "--".to_owned()]);
        let out = self
            .git()
            .run(&argv, None, &self.gpg_env(), "list signatures of")
            .await?;
        Ok(String::from_utf8_lossy(&out)
            .lines()
            .filter_map(|line| {
                let mut f = line.split(' ');
                Some(SignedCommit {
                    revision: f.next()?.to_owned(),
                    status: f.next()?.chars().next()?,
                    key: f.next().unwrap_or_default().to_owned(),
                })
            })
            .collect())
    }

    /// Flux v1's `latestValidRevision`: the newest revision of the branch
    /// that may be synced under the verification mode, and the first commit
    /// that failed, if any. The sync tag, when present, must verify.
    pub async fn latest_valid_revision(
        &self,
    ) -> Result<(Option<String>, Option<SignedCommit>), Error> {
        let head = self
            .head()
            .ok_or_else(|| Error::NotFetched { url: self.url() })?;
        self.latest_valid_at(head).await
    }

    /// [`Repo::latest_valid_revision`] for a given branch head.
    async fn latest_valid_at(
        &self,
        head: String,
    ) -> Result<(Option<String>, Option<SignedCommit>), Error> {
        let verify = self.inner.config.verify;
        if verify == VerifyMode::None {
            return Ok((Some(head), None));
        }
        let tag = self.sync_revision().await?;
        if let Some(tag) = &tag {
            self.verify_commit(tag).await?;
        }
        let commits = self
            .signature_statuses(tag.as_deref(), &head, verify == VerifyMode::FirstParent)
            .await?;
        Ok(latest_valid(tag.as_deref(), &head, &commits))
    }

    /// Before committing on `head`: every commit up to it must verify
    /// (Flux v1 refuses to build on unverified history).
    pub(crate) async fn verify_head(&self, head: gix::ObjectId) -> Result<(), Error> {
        let head = head.to_string();
        let (valid, bad) = self.latest_valid_at(head.clone()).await?;
        if valid.as_deref() == Some(head.as_str()) {
            return Ok(());
        }
        Err(Error::Signature {
            what: format!("branch head {head}"),
            message: match bad {
                Some(c) => format!(
                    "commit {} has no valid signature (status {}); refusing to commit on top of it",
                    c.revision, c.status
                ),
                None => "the history could not be verified".into(),
            },
        })
    }

    pub(crate) fn gpg_env(&self) -> Vec<(&'static str, String)> {
        self.inner
            .config
            .gnupg_home
            .as_ref()
            .map(|h| ("GNUPGHOME", h.to_string_lossy().into_owned()))
            .into_iter()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_file_named_like_an_option_is_a_file() {
        // Without `--`, gpg would take this relative path for its
        // `--version` option and succeed.
        let home = tempfile::tempdir().unwrap();
        let err = gpg(
            Some(home.path()),
            &["--batch", "--import"],
            Some(std::path::Path::new("--version")),
            None,
        )
        .unwrap_err();
        assert!(matches!(err, Error::Command { .. }), "{err}");
    }

    fn c(r: &str, s: char) -> SignedCommit {
        SignedCommit {
            revision: r.into(),
            status: s,
            key: String::new(),
        }
    }

    #[test]
    fn latest_valid_follows_flux_v1() {
        for (tag, commits, want, bad) in [
            (Some("t"), vec![], Some("h"), None),
            (Some("t"), vec![c("h", 'G'), c("b", 'G')], Some("h"), None),
            (
                Some("t"),
                vec![c("h", 'G'), c("b", 'N')],
                Some("t"),
                Some("b"),
            ),
            (None, vec![c("h", 'G'), c("b", 'B')], None, Some("b")),
            (
                Some("t"),
                vec![c("h", 'U'), c("b", 'G'), c("a", 'G')],
                Some("b"),
                Some("h"),
            ),
            // The oldest bad commit wins, even with good ones after it.
            (
                Some("t"),
                vec![c("h", 'G'), c("c", 'X'), c("b", 'G'), c("a", 'E')],
                Some("t"),
                Some("a"),
            ),
        ] {
            let (rev, first_bad) = latest_valid(tag, "h", &commits);
            assert_eq!(rev.as_deref(), want, "{commits:?}");
            assert_eq!(first_bad.map(|b| b.revision).as_deref(), bad, "{commits:?}");
        }
    }
}
