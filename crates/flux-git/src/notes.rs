//! Git notes: what Flux records about the commits it makes.
//!
//! Flux v1 attaches a note to each of its commits under `refs/notes/flux`
//! (or the `--git-label`) holding the job that made it (JSON, written by
//! fluxd), and reads them back when syncing to report what was applied.
//! Notes are mirrored with the branch, and a commit with a note is pushed
//! together with it (`git push --atomic`, so neither lands without the
//! other), falling back to one after the other on remotes that cannot push
//! atomically.

use std::collections::HashSet;

use gix::ObjectId;
use gix::object::tree::EntryKind;

use crate::commit::backoff;
use crate::config::Person;
use crate::error::Error;
use crate::push::PushOutcome;
use crate::read::TreeReader;
use crate::repo::{Repo, mirror_error};

/// The message git gives notes commits.
pub const NOTES_MESSAGE: &str = "Notes added by 'git notes add'\n";

impl Repo {
    /// `refs/notes/<notes ref>`.
    pub(crate) fn notes_ref(&self) -> String {
        format!("refs/notes/{}", self.inner.config.notes_ref)
    }

    /// The note on `revision` in the mirror (as of the last fetch or our
    /// last push), if it has one.
    pub async fn note(&self, revision: &str) -> Result<Option<Vec<u8>>, Error> {
        let this = self.clone();
        let revision = revision.to_owned();
        tokio::task::spawn_blocking(move || {
            let repo = this.gix();
            let commit = this.resolve_commit(&repo, &revision)?.to_string();
            let Some(tree) = this.notes_tree(&repo)? else {
                return Ok(None);
            };
            let mut reader = TreeReader::new(&repo, tree, &this.inner.dir);
            for path in [
                commit.clone(),
                format!("{}/{}", &commit[..2], &commit[2..]),
                format!("{}/{}/{}", &commit[..2], &commit[2..4], &commit[4..]),
            ] {
                if let Some(id) = reader.id_at(&path)? {
                    let blob = repo
                        .find_blob(id)
                        .map_err(|e| mirror_error(&this.inner.dir, "reading a note", e))?;
                    return Ok(Some(blob.data.clone()));
                }
            }
            Ok(None)
        })
        .await
        .map_err(|e| mirror_error(&self.inner.dir, "reading a note", e))?
    }

    /// Every commit that has a note.
    pub async fn noted_revisions(&self) -> Result<HashSet<String>, Error> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            let repo = this.gix();
            let mut found = HashSet::new();
            if let Some(tree) = this.notes_tree(&repo)? {
                collect(&repo, &this.inner.dir, tree, String::new(), &mut found)?;
            }
            Ok(found)
        })
        .await
        .map_err(|e| mirror_error(&self.inner.dir, "listing notes", e))?
    }

    fn notes_commit(&self, repo: &gix::Repository) -> Result<Option<ObjectId>, Error> {
        let name = self.notes_ref();
        let Some(mut reference) = repo
            .try_find_reference(name.as_str())
            .map_err(|e| mirror_error(&self.inner.dir, "reading the notes ref", e))?
        else {
            return Ok(None);
        };
        let id = reference
            .peel_to_commit()
            .map_err(|e| mirror_error(&self.inner.dir, "reading the notes ref", e))?
            .id;
        Ok(Some(id))
    }

    fn notes_tree(&self, repo: &gix::Repository) -> Result<Option<ObjectId>, Error> {
        let Some(commit) = self.notes_commit(repo)? else {
            return Ok(None);
        };
        repo.find_commit(commit)
            .and_then(|c| c.tree_id().map(|id| id.detach()))
            .map(Some)
            .map_err(|e| mirror_error(&self.inner.dir, "reading the notes tree", e))
    }

    /// Writes a notes commit adding `note` on `commit` on top of the notes
    /// ref as the mirror has it; returns it and the notes commit it builds on.
    pub(crate) fn build_note(
        &self,
        commit: ObjectId,
        note: &[u8],
        committer: &Person,
    ) -> Result<(ObjectId, Option<ObjectId>), Error> {
        let repo = self.gix();
        let dir = &self.inner.dir;
        let fail = |what: &str, e: gix::Error| mirror_error(dir, what, e);
        let parent = self.notes_commit(&repo)?;
        let base = match parent {
            Some(p) => repo
                .find_commit(p)
                .and_then(|c| c.tree_id().map(|id| id.detach()))
                .map_err(|e| fail("reading the notes tree", e))?,
            None => ObjectId::empty_tree(repo.object_hash()),
        };
        let blob = repo
            .write_blob(note)
            .map_err(|e| fail("writing a note", e))?
            .detach();
        let mut editor = repo
            .edit_tree(base)
            .map_err(|e| fail("editing the notes tree", e))?;
        editor
            .upsert(commit.to_string(), EntryKind::Blob, blob)
            .map_err(|e| fail("editing the notes tree", e))?;
        let tree = editor
            .write()
            .map_err(|e| fail("writing the notes tree", e))?
            .detach();
        let signature = gix::actor::Signature {
            name: committer.name.as_str().into(),
            email: committer.email.as_str().into(),
            time: gix::date::Time::now_local_or_utc(),
        };
        let mut buf = gix::date::parse::TimeBuf::default();
        let mut buf2 = gix::date::parse::TimeBuf::default();
        let notes = repo
            .new_commit_as(
                signature.to_ref(&mut buf),
                signature.to_ref(&mut buf2),
                NOTES_MESSAGE,
                tree,
                parent,
            )
            .map_err(|e| fail("writing the notes commit", e))?
            .id;
        Ok((notes, parent))
    }

    /// Pushes `commit` to the branch together with a notes commit holding
    /// `note`, atomically; on a remote that cannot push atomically, the
    /// branch first and then the note (retried a few times, and only
    /// logged if it still fails: the commit itself has landed).
    pub(crate) async fn push_with_note(
        &self,
        commit: ObjectId,
        note: &[u8],
    ) -> Result<PushOutcome, Error> {
        let branch_ref = self.inner.config.branch_ref();
        let notes_ref = self.notes_ref();
        let (notes, parent) = self.build_note_blocking(commit, note).await?;
        let specs = [
            (format!("{commit}:{branch_ref}"), branch_ref.clone()),
            (format!("{notes}:{notes_ref}"), notes_ref.clone()),
        ];
        match self.push_specs(&specs, true).await {
            Ok(PushOutcome::Pushed) => {
                self.advance_local_notes(parent, notes);
                Ok(PushOutcome::Pushed)
            }
            Ok(other) => Ok(other),
            Err(Error::Command { stderr, .. }) if stderr.contains("does not support --atomic") => {
                let outcome = self
                    .push_ref(&commit.to_string(), &branch_ref, false)
                    .await?;
                if outcome == PushOutcome::Pushed {
                    self.push_note_alone(commit, note).await;
                }
                Ok(outcome)
            }
            Err(e) => Err(e),
        }
    }

    async fn push_note_alone(&self, commit: ObjectId, note: &[u8]) {
        let notes_ref = self.notes_ref();
        for attempt in 1..=3u32 {
            let result = async {
                let (notes, parent) = self.build_note_blocking(commit, note).await?;
                let outcome = self.push_ref(&notes.to_string(), &notes_ref, false).await?;
                if outcome == PushOutcome::Pushed {
                    self.advance_local_notes(parent, notes);
                }
                Ok::<_, Error>(outcome)
            }
            .await;
            match result {
                Ok(PushOutcome::Pushed) => return,
                Ok(PushOutcome::Overtaken(_)) => {
                    tokio::time::sleep(backoff(attempt)).await;
                    if let Err(e) = self.fetch().await {
                        tracing::warn!(error = %e, %commit, "note not pushed: fetch failed");
                        return;
                    }
                }
                Ok(PushOutcome::Refused(reason)) => {
                    tracing::warn!(%reason, %commit, "note not pushed: refused");
                    return;
                }
                Err(e) => {
                    tracing::warn!(error = %e, %commit, "note not pushed");
                    return;
                }
            }
        }
        tracing::warn!(%commit, "note not pushed: others kept moving the notes ref");
    }

    async fn build_note_blocking(
        &self,
        commit: ObjectId,
        note: &[u8],
    ) -> Result<(ObjectId, Option<ObjectId>), Error> {
        let this = self.clone();
        let note = note.to_vec();
        tokio::task::spawn_blocking(move || {
            let committer = this.inner.config.committer.clone();
            this.build_note(commit, &note, &committer)
        })
        .await
        .map_err(|e| mirror_error(&self.inner.dir, "writing a note", e))?
    }

    /// Moves the mirror's notes ref to a notes commit we pushed, if it still
    /// is where we built on.
    pub(crate) fn advance_local_notes(&self, from: Option<ObjectId>, to: ObjectId) {
        use gix::refs::transaction::PreviousValue;
        let expected = match from {
            Some(id) => PreviousValue::MustExistAndMatch(gix::refs::Target::Object(id)),
            None => PreviousValue::MustNotExist,
        };
        if let Err(e) = self
            .gix()
            .reference(self.notes_ref().as_str(), to, expected, "flux: note")
        {
            tracing::debug!(error = %e, "local notes ref not advanced; the next fetch will");
        }
    }
}

/// Collects the commit ids named by a notes tree (flat or fanned out).
fn collect(
    repo: &gix::Repository,
    dir: &std::path::Path,
    tree: ObjectId,
    prefix: String,
    found: &mut HashSet<String>,
) -> Result<(), Error> {
    let t = repo
        .find_tree(tree)
        .map_err(|e| mirror_error(dir, "reading the notes tree", e))?;
    let decoded = t
        .decode()
        .map_err(|e| mirror_error(dir, "reading the notes tree", e))?;
    for entry in &decoded.entries {
        let name = format!("{prefix}{}", entry.filename);
        if !name.bytes().all(|b| b.is_ascii_hexdigit()) {
            continue;
        }
        if entry.mode.is_tree() && name.len() < 40 {
            collect(repo, dir, entry.oid.to_owned(), name, found)?;
        } else if name.len() == 40 {
            found.insert(name);
        }
    }
    Ok(())
}
