//! The sync tag: the high-water mark of what has been applied.
//!
//! After a successful sync fluxd moves an annotated tag (`flux-sync`, or the
//! `--git-label`) to the applied revision with the message "Sync pointer",
//! signed when `--git-signing-key` is set, and pushes it (a tag may be moved
//! by force; a branch never is). At start-up the tag is read back from the
//! mirror. Also here: Flux v1's write check, which proves the deploy key
//! can push before the repository is called ready.

use gix::ObjectId;
use gix::refs::transaction::PreviousValue;

use crate::command::GitArgs;
use crate::config::VerifyMode;
use crate::error::Error;
use crate::push::PushOutcome;
use crate::repo::{Repo, RepoState, RepoStatus, mirror_error};

/// The message of the sync tag (Flux v1's).
pub const SYNC_TAG_MESSAGE: &str = "Sync pointer";

/// Prefix of the throw-away tags pushed to check write access (Flux v1's).
pub const WRITE_CHECK_PREFIX: &str = "flux-write-check";

impl Repo {
    /// The commit the sync tag points at in the mirror (as of the last
    /// fetch), or `None` when there is no tag. With signature verification
    /// on, the tag's signature must verify.
    pub async fn sync_revision(&self) -> Result<Option<String>, Error> {
        let Some(id) = self.local_sync_revision()? else {
            return Ok(None);
        };
        if self.inner.config.verify != VerifyMode::None {
            self.verify_tag(&self.inner.config.sync_tag).await?;
        }
        Ok(Some(id))
    }

    fn local_sync_revision(&self) -> Result<Option<String>, Error> {
        let tag_ref = self.inner.config.sync_tag_ref();
        let repo = self.gix();
        let Some(mut reference) = repo
            .try_find_reference(tag_ref.as_str())
            .map_err(|e| mirror_error(&self.inner.dir, "reading the sync tag", e))?
        else {
            return Ok(None);
        };
        let id = reference
            .peel_to_commit()
            .map_err(|e| mirror_error(&self.inner.dir, "reading the sync tag", e))?
            .id;
        Ok(Some(id.to_string()))
    }

    /// Moves the sync tag to `revision` and pushes it.
    pub async fn move_sync_tag(&self, revision: &str) -> Result<(), Error> {
        let config = &self.inner.config;
        if config.readonly {
            return Err(Error::ReadOnly {
                operation: "moving the sync tag",
            });
        }
        let commit = self.resolve_commit(&self.gix(), revision)?;
        let tag_ref = config.sync_tag_ref();
        match &config.signing_key {
            None => {
                let tag = self.write_tag_object(&self.gix(), commit)?;
                self.push_tag(&tag.to_string(), &tag_ref).await?;
                self.gix()
                    .reference(tag_ref.as_str(), tag, PreviousValue::Any, "flux: sync tag")
                    .map_err(|e| mirror_error(&self.inner.dir, "updating the sync tag", e))?;
            }
            Some(key) => {
                // `git tag` moves the local tag before the push; remember
                // where it was so a failed push leaves the mirror as it was.
                let previous = self.local_ref_target(&tag_ref)?;
                let committer = &config.committer;
                let envs = [
                    ("GIT_COMMITTER_NAME", committer.name.clone()),
                    ("GIT_COMMITTER_EMAIL", committer.email.clone()),
                ]
                .into_iter()
                .chain(self.gpg_env())
                .collect::<Vec<_>>();
                let argv = GitArgs::new([
                    "tag".to_owned(),
                    "--force".into(),
                    "--annotate".into(),
                    format!("--local-user={key}"),
                    format!("--message={SYNC_TAG_MESSAGE}"),
                ])
                .operands([config.sync_tag.clone(), commit.to_string()]);
                self.git()
                    .run(&argv, None, &envs, "sign the sync tag of")
                    .await?;
                if let Err(e) = self.push_tag(&tag_ref, &tag_ref).await {
                    self.restore_local_ref(&tag_ref, previous)?;
                    return Err(e);
                }
            }
        }
        tracing::info!(tag = %config.sync_tag, revision = %commit, "moved sync tag");
        Ok(())
    }

    /// What `name` points at in the mirror (not peeled), if it exists.
    fn local_ref_target(&self, name: &str) -> Result<Option<ObjectId>, Error> {
        let repo = self.gix();
        let reference = repo
            .try_find_reference(name)
            .map_err(|e| mirror_error(&self.inner.dir, &format!("reading {name}"), e))?;
        Ok(reference.and_then(|r| r.target().try_id().map(ToOwned::to_owned)))
    }

    /// Puts `name` back to `previous` (deletes it if there was none).
    fn restore_local_ref(&self, name: &str, previous: Option<ObjectId>) -> Result<(), Error> {
        let repo = self.gix();
        match previous {
            Some(id) => repo
                .reference(name, id, PreviousValue::Any, "flux: sync tag not pushed")
                .map(|_| ())
                .map_err(|e| mirror_error(&self.inner.dir, &format!("restoring {name}"), e)),
            None => self.delete_local_ref(&repo, name),
        }
    }

    fn write_tag_object(
        &self,
        repo: &gix::Repository,
        commit: ObjectId,
    ) -> Result<ObjectId, Error> {
        let committer = &self.inner.config.committer;
        let tag = gix::objs::Tag {
            target: commit,
            target_kind: gix::object::Kind::Commit,
            name: self.inner.config.sync_tag.as_str().into(),
            tagger: Some(gix::actor::Signature {
                name: committer.name.as_str().into(),
                email: committer.email.as_str().into(),
                time: gix::date::Time::now_local_or_utc(),
            }),
            message: format!("{SYNC_TAG_MESSAGE}\n").into(),
            signature: None,
        };
        repo.write_object(&tag)
            .map(|id| id.detach())
            .map_err(|e| mirror_error(&self.inner.dir, "writing the sync tag", e))
    }

    async fn push_tag(&self, src: &str, tag_ref: &str) -> Result<(), Error> {
        match self.push_ref(src, tag_ref, true).await? {
            PushOutcome::Pushed => Ok(()),
            PushOutcome::Overtaken(reason) | PushOutcome::Refused(reason) => {
                Err(Error::PushRefused {
                    url: self.url(),
                    refname: tag_ref.to_owned(),
                    reason,
                })
            }
        }
    }

    /// Flux v1's write check: pushes a uniquely named tag at the branch head
    /// and deletes it again; a cloned repository is then ready. Errors mean
    /// the deploy key cannot push.
    pub async fn check_write(&self) -> Result<(), Error> {
        if self.inner.config.readonly {
            return Err(Error::ReadOnly {
                operation: "the write check",
            });
        }
        let head = self
            .head()
            .ok_or_else(|| Error::NotFetched { url: self.url() })?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let tag_ref = format!(
            "refs/tags/{WRITE_CHECK_PREFIX}-{:x}{:x}",
            nanos & 0xff_ffff_ffff,
            std::process::id()
        );
        // The status says why the repository is not ready.
        self.push_tag(&head, &tag_ref)
            .await
            .inspect_err(|e| self.record_error(e))?;
        match self.push_ref("", &tag_ref, false).await? {
            PushOutcome::Pushed => {}
            PushOutcome::Overtaken(reason) | PushOutcome::Refused(reason) => {
                tracing::warn!(tag = %tag_ref, %reason, "could not delete the write-check tag");
            }
        }
        let _ = self.inner.write_checked.set(());
        let mut state = self.lock_state();
        if state.state == RepoState::Cloned {
            state.state = RepoState::Ready;
            state.error = None;
        }
        Ok(())
    }

    /// Flux v1's readiness: fetch, then (unless read-only) the write check.
    /// Returns the status reached; the error says what blocks the next step.
    pub async fn ready(&self) -> Result<RepoStatus, Error> {
        self.refresh().await?;
        if !self.inner.config.readonly && self.inner.write_checked.get().is_none() {
            if let Err(e) = self.check_write().await {
                self.record_error(&e);
                return Err(e);
            }
            let mut state = self.lock_state();
            state.state = RepoState::Ready;
            state.error = None;
        }
        Ok(self.status())
    }
}
