//! Committing edits and pushing them, safely under concurrent writers.
//!
//! An edit is a function from the manifest files at a head to file changes
//! (path → new bytes, or deletion). The commit is built directly on the
//! head's tree (no work tree, no checkout) and pushed as a fast-forward; the
//! branch is never forced. When the push loses a race with another writer,
//! the mirror is fetched, the same edit is re-run on the new head, and the
//! push retried, up to `push_attempts` times. If the edit fails on the new
//! files (it no longer applies), the job fails with that reason and nothing
//! is pushed. So a commit made by anybody else is never lost, and ours lands
//! on top of theirs.

use std::collections::BTreeMap;
use std::time::Duration;

use flux_core::fence::{Open, WriteGate};
use flux_core::source::Snapshot;
use gix::ObjectId;

use crate::command::GitArgs;
use crate::config::Person;
use crate::error::{BoxError, Error};
use crate::push::PushOutcome;
use crate::read::{MAX_FILE_SIZE, TreeReader, read_files};

mod plan;

use crate::repo::{Repo, mirror_error};
use plan::{Target, plan_changes};

/// The file changes an edit makes: repo-relative paths to new contents
/// (`None` deletes the file).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileChanges {
    changes: BTreeMap<String, Option<Vec<u8>>>,
}

impl FileChanges {
    /// No changes.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the contents of `path` (created if missing, with directories).
    pub fn write(&mut self, path: impl Into<String>, bytes: impl Into<Vec<u8>>) {
        self.changes.insert(path.into(), Some(bytes.into()));
    }

    /// Deletes `path`.
    pub fn delete(&mut self, path: impl Into<String>) {
        self.changes.insert(path.into(), None);
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// How many paths change.
    pub fn len(&self) -> usize {
        self.changes.len()
    }

    /// The changes, in path order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, Option<&[u8]>)> {
        self.changes.iter().map(|(p, b)| (p.as_str(), b.as_deref()))
    }
}

/// flux-core's release and policy calculations produce whole new file
/// texts; these are the changes that write them.
impl From<Vec<flux_core::release::FileEdit>> for FileChanges {
    fn from(edits: Vec<flux_core::release::FileEdit>) -> Self {
        edits
            .into_iter()
            .map(|e| (e.file, e.text.into_bytes()))
            .collect()
    }
}

impl FromIterator<(String, Vec<u8>)> for FileChanges {
    fn from_iter<T: IntoIterator<Item = (String, Vec<u8>)>>(iter: T) -> Self {
        FileChanges {
            changes: iter.into_iter().map(|(p, b)| (p, Some(b))).collect(),
        }
    }
}

/// What to say about a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitRequest {
    /// The commit message (`--git-ci-skip-message` is appended).
    pub message: String,
    /// Who asked for it, `Name <email>` (`fluxctl --user`); the commit's
    /// author when `--git-set-author` is on.
    pub user: Option<String>,
    /// A note to attach to the commit under the notes ref (Flux v1: the
    /// job's JSON), pushed with it.
    pub note: Option<Vec<u8>>,
}

impl CommitRequest {
    /// A request with `message` and no user.
    pub fn new(message: impl Into<String>) -> Self {
        CommitRequest {
            message: message.into(),
            user: None,
            note: None,
        }
    }

    /// Attaches a note.
    pub fn note(mut self, note: impl Into<Vec<u8>>) -> Self {
        self.note = Some(note.into());
        self
    }

    /// Names the user who asked for it.
    pub fn user(mut self, user: impl Into<String>) -> Self {
        self.user = Some(user.into());
        self
    }
}

/// A commit that reached the remote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    /// The new commit.
    pub revision: String,
    /// The head it was made on.
    pub parent: String,
    /// How many times the edit was applied (1 if nobody raced us).
    pub attempts: u32,
    /// The files that changed (real paths, after following symbolic links).
    pub files: Vec<String>,
}

/// How a commit job ended, when it did not fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommitOutcome {
    /// A commit was pushed.
    Pushed(Pushed),
    /// The edit changed nothing at `revision`; nothing was committed.
    NoChanges {
        /// The head the edit was applied to.
        revision: String,
    },
}

/// What one attempt produced.
enum Attempt {
    NoChanges,
    Commit {
        commit: ObjectId,
        files: Vec<String>,
    },
}

impl Repo {
    /// Applies `edit` to the files under the `--git-path`s at the branch
    /// head, commits the result as Flux (see [`CommitRequest`]) and pushes
    /// it, re-applying the edit on the new head when another writer got
    /// there first. The mirror is fetched before the first attempt.
    ///
    /// Jobs in one process run one at a time. A read-only repository refuses.
    pub async fn commit_and_push<F>(
        &self,
        edit: F,
        request: CommitRequest,
    ) -> Result<CommitOutcome, Error>
    where
        F: Fn(&Snapshot) -> Result<FileChanges, BoxError> + Send + Sync + 'static,
    {
        self.commit_and_push_gated(edit, request, &Open).await
    }

    /// [`Repo::commit_and_push`], asking `gate` right before each push:
    /// once it refuses, nothing more is pushed and the job fails with
    /// [`Error::Fenced`] (the commit built stays in the mirror only).
    pub async fn commit_and_push_gated<F>(
        &self,
        edit: F,
        request: CommitRequest,
        gate: &dyn WriteGate,
    ) -> Result<CommitOutcome, Error>
    where
        F: Fn(&Snapshot) -> Result<FileChanges, BoxError> + Send + Sync + 'static,
    {
        let config = &self.inner.config;
        if config.readonly {
            return Err(Error::ReadOnly {
                operation: "commit",
            });
        }
        let _job = self.inner.write_lock.lock().await;
        let edit = std::sync::Arc::new(edit);
        let committer = config.committer.clone();
        let author = match (&request.user, config.set_author) {
            (Some(user), true) => {
                Person::parse(user, &committer.email).map_err(|reason| Error::InvalidConfig {
                    flag: "user",
                    value: user.clone(),
                    reason,
                })?
            }
            _ => committer.clone(),
        };
        let message = cleanup_message(&format!("{}{}", request.message, config.skip_message));
        let attempts = config.push_attempts.max(1);
        for attempt in 1..=attempts {
            let head = self.fetch().await?;
            if config.verify != crate::config::VerifyMode::None {
                self.verify_head(head).await?;
            }
            let this = self.clone();
            let edit = std::sync::Arc::clone(&edit);
            let job = (author.clone(), committer.clone(), message.clone());
            let built = tokio::task::spawn_blocking(move || {
                let (author, committer, message) = job;
                this.build_commit(head, attempt, &*edit, &author, &committer, &message)
            })
            .await
            .map_err(|e| mirror_error(&self.inner.dir, "building the commit", e))??;
            let (commit, files) = match built {
                Attempt::NoChanges => {
                    return Ok(CommitOutcome::NoChanges {
                        revision: head.to_string(),
                    });
                }
                Attempt::Commit { commit, files } => (commit, files),
            };
            let commit = match &config.signing_key {
                Some(key) => self.sign_commit(commit, key, &author, &committer).await?,
                None => commit,
            };
            gate.check().map_err(|reason| Error::Fenced {
                operation: "push",
                reason,
            })?;
            let outcome = match &request.note {
                None => {
                    self.push_ref(&commit.to_string(), &config.branch_ref(), false)
                        .await?
                }
                Some(note) => self.push_with_note(commit, note).await?,
            };
            match outcome {
                PushOutcome::Pushed => {
                    self.advance_local_branch(head, commit);
                    self.notify();
                    tracing::info!(
                        revision = %commit, parent = %head, attempt, files = files.len(),
                        "pushed commit to {}", self.url()
                    );
                    return Ok(CommitOutcome::Pushed(Pushed {
                        revision: commit.to_string(),
                        parent: head.to_string(),
                        attempts: attempt,
                        files,
                    }));
                }
                PushOutcome::Overtaken(reason) => {
                    tracing::info!(attempt, %reason, "push overtaken by another writer; re-applying the edit on the new head");
                    tokio::time::sleep(backoff(attempt)).await;
                }
                PushOutcome::Refused(reason) => {
                    return Err(Error::PushRefused {
                        url: self.url(),
                        refname: config.branch_ref(),
                        reason,
                    });
                }
            }
        }
        Err(Error::TooManyRetries {
            url: self.url(),
            branch: config.branch.clone(),
            attempts,
        })
    }

    /// Runs the edit on the files at `head` and writes the resulting tree
    /// and (unsigned) commit into the mirror, without moving any ref.
    fn build_commit(
        &self,
        head: ObjectId,
        attempt: u32,
        edit: &dyn Fn(&Snapshot) -> Result<FileChanges, BoxError>,
        author: &Person,
        committer: &Person,
        message: &str,
    ) -> Result<Attempt, Error> {
        let repo = self.gix();
        let dir = &self.inner.dir;
        let files = read_files(
            &repo,
            dir,
            head,
            &self.inner.config.paths,
            MAX_FILE_SIZE,
            &self.inner.blobs,
        )?;
        let snapshot = Snapshot {
            revision: Some(head.to_string()),
            files,
        };
        let changes = edit(&snapshot).map_err(|source| Error::Edit {
            revision: head.to_string(),
            attempt,
            source,
        })?;
        let head_tree = repo
            .find_commit(head)
            .and_then(|c| c.tree_id().map(|id| id.detach()))
            .map_err(|e| mirror_error(dir, &format!("reading commit {head}"), e))?;
        let mut reader = TreeReader::new(&repo, head_tree, dir);
        let targets = plan_changes(&mut reader, &changes)?;
        let mut editor = repo
            .edit_tree(head_tree)
            .map_err(|e| mirror_error(dir, "editing the tree", e))?;
        let mut changed = Vec::new();
        for (path, target) in &targets {
            match target {
                Target::Write { bytes, kind, old } => {
                    let blob = repo
                        .write_blob(bytes)
                        .map_err(|e| mirror_error(dir, "writing a blob", e))?
                        .detach();
                    if Some(blob) != *old {
                        changed.push(path.clone());
                    }
                    editor.upsert(path.as_str(), *kind, blob).map_err(|e| {
                        mirror_error(dir, &format!("writing {path} into the tree"), e)
                    })?;
                }
                Target::Delete => {
                    changed.push(path.clone());
                    editor.remove(path.as_str()).map_err(|e| {
                        mirror_error(dir, &format!("removing {path} from the tree"), e)
                    })?;
                }
            }
        }
        let tree = editor
            .write()
            .map_err(|e| mirror_error(dir, "writing the tree", e))?
            .detach();
        if tree == head_tree {
            return Ok(Attempt::NoChanges);
        }
        let now = gix::date::Time::now_local_or_utc();
        let signature = |p: &Person| gix::actor::Signature {
            name: p.name.as_str().into(),
            email: p.email.as_str().into(),
            time: now,
        };
        let (a, c) = (signature(author), signature(committer));
        let (mut ta, mut tc) = (
            gix::date::parse::TimeBuf::default(),
            gix::date::parse::TimeBuf::default(),
        );
        let commit = repo
            .new_commit_as(c.to_ref(&mut tc), a.to_ref(&mut ta), message, tree, [head])
            .map_err(|e| mirror_error(dir, "writing the commit", e))?
            .id;
        Ok(Attempt::Commit {
            commit,
            files: changed,
        })
    }

    /// Re-makes `commit` (same tree, parents, message) signed with `key`
    /// by `git commit-tree -S`, since gix cannot sign.
    async fn sign_commit(
        &self,
        commit: ObjectId,
        key: &str,
        author: &Person,
        committer: &Person,
    ) -> Result<ObjectId, Error> {
        let (tree, parents, message) = {
            let repo = self.gix();
            let c = repo
                .find_commit(commit)
                .map_err(|e| mirror_error(&self.inner.dir, "reading the commit to sign", e))?;
            let decoded = c
                .decode()
                .map_err(|e| mirror_error(&self.inner.dir, "reading the commit to sign", e))?;
            (
                decoded.tree().to_string(),
                decoded.parents().map(|p| p.to_string()).collect::<Vec<_>>(),
                decoded.message.to_vec(),
            )
        };
        let mut argv = vec!["commit-tree".to_owned()];
        for p in parents {
            argv.push("-p".into());
            argv.push(p);
        }
        argv.push(format!("-S{key}"));
        argv.push("-F".into());
        argv.push("-".into());
        let argv = GitArgs::new(argv).operands([tree]);
        let envs = [
            ("GIT_AUTHOR_NAME", author.name.clone()),
            ("GIT_AUTHOR_EMAIL", author.email.clone()),
            ("GIT_COMMITTER_NAME", committer.name.clone()),
            ("GIT_COMMITTER_EMAIL", committer.email.clone()),
        ]
        .into_iter()
        .chain(self.gpg_env())
        .collect::<Vec<_>>();
        let out = self
            .git()
            .run(&argv, Some(message), &envs, "sign commit for")
            .await?;
        let id = String::from_utf8_lossy(&out).trim().to_owned();
        ObjectId::from_hex(id.as_bytes())
            .map_err(|e| mirror_error(&self.inner.dir, "reading the signed commit id", e))
    }

    /// Moves the mirror's branch to a commit we pushed, if nothing else
    /// moved it meanwhile (the next fetch corrects it otherwise).
    fn advance_local_branch(&self, from: ObjectId, to: ObjectId) {
        use gix::refs::transaction::PreviousValue;
        let repo = self.gix();
        let name = self.inner.config.branch_ref();
        if let Err(e) = repo.reference(
            name.as_str(),
            to,
            PreviousValue::MustExistAndMatch(gix::refs::Target::Object(from)),
            "flux: pushed",
        ) {
            tracing::debug!(error = %e, "local branch not advanced; the next fetch will");
        }
    }
}

/// git's "whitespace" clean-up of a message: no trailing spaces, no
/// leading, trailing or repeated blank lines, one final newline.
pub(crate) fn cleanup_message(message: &str) -> String {
    let mut out = String::new();
    let mut blank = false;
    for line in message.lines().map(str::trim_end) {
        if line.is_empty() {
            blank = !out.is_empty();
            continue;
        }
        if blank {
            out.push('\n');
            blank = false;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Wait before re-applying after a lost race: grows with the attempt, with
/// jitter so that competing writers spread out.
pub(crate) fn backoff(attempt: u32) -> Duration {
    let jitter = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::from(d.subsec_nanos() % 50));
    Duration::from_millis(25 * u64::from(attempt) + jitter)
}

#[cfg(test)]
mod tests {
    use super::plan::check_path;
    use super::*;

    #[test]
    fn message_cleanup_matches_git() {
        for (input, want) in [
            ("Release foo", "Release foo\n"),
            ("Release foo\n\n[ci skip]", "Release foo\n\n[ci skip]\n"),
            ("\n\nsubject  \n\n\n\nbody\t\n\n", "subject\n\nbody\n"),
            ("a\nb", "a\nb\n"),
        ] {
            assert_eq!(cleanup_message(input), want, "{input:?}");
        }
    }

    #[test]
    fn change_paths() {
        for (path, ok) in [
            ("a.yaml", true),
            ("apps/web/deploy.yaml", true),
            ("", false),
            ("/etc/passwd", false),
            ("a/../b", false),
            ("./a", false),
            ("a//b", false),
            (".git/config", false),
            ("sub/.GIT/hooks/x", false),
            ("a\\b", false),
        ] {
            assert_eq!(check_path(path).is_ok(), ok, "{path:?}");
        }
    }

    #[test]
    fn backoff_grows_and_stays_small() {
        assert!(backoff(1) < backoff(5) + Duration::from_millis(50));
        assert!(backoff(5) <= Duration::from_millis(175));
    }

    #[test]
    fn file_edits_from_flux_core_become_writes() {
        let edits = vec![flux_core::release::FileEdit {
            file: "apps/web.yaml".into(),
            text: "image: nginx:1.26\n".into(),
        }];
        let c = FileChanges::from(edits);
        assert_eq!(
            c.iter().collect::<Vec<_>>(),
            [("apps/web.yaml", Some(b"image: nginx:1.26\n".as_slice()))]
        );
    }

    #[test]
    fn file_changes_builder() {
        let mut c = FileChanges::new();
        c.write("b", "2");
        c.delete("a");
        assert_eq!(
            c.iter().collect::<Vec<_>>(),
            [("a", None), ("b", Some(b"2".as_slice()))]
        );
    }
}
