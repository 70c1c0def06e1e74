//! The sync high-water mark: how far the cluster is synced, kept where
//! `--sync-state` says (the `flux-sync` tag in git, or an annotation on the
//! deploy key Secret), so that a restart knows what was applied and
//! `fluxctl sync` can wait for its commit.

use std::sync::Arc;

use flux_git::Repo;

use crate::secret::{SYNC_HWM_ANNOTATION, SecretStore};

/// The high-water mark could not be read or moved.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The sync tag could not be read or pushed.
    #[error("sync tag: {0}")]
    Git(#[source] flux_git::Error),
    /// The Secret could not be read or written.
    #[error(transparent)]
    Secret(#[from] crate::secret::SecretError),
    /// The Secret does not exist (it holds the deploy key; with
    /// `--sync-state=secret` it must exist).
    #[error(
        "secret {0} does not exist; create it (it holds the deploy key) or use --sync-state=git"
    )]
    NoSecret(String),
}

/// Where the high-water mark is kept.
#[derive(Clone)]
pub enum SyncState {
    /// The sync tag, moved and pushed by flux-git.
    GitTag(Repo),
    /// An annotation on a Secret: [`SYNC_HWM_ANNOTATION`] for the
    /// `default` source, that with `.<source name>` appended for the others
    /// (so sources sharing a Secret keep their marks apart).
    Secret(Arc<dyn SecretStore>, String),
}

/// The annotation holding source `name`'s high-water mark.
pub fn hwm_annotation(name: &str) -> String {
    if name == crate::config::DEFAULT_SOURCE {
        SYNC_HWM_ANNOTATION.to_owned()
    } else {
        format!("{SYNC_HWM_ANNOTATION}.{name}")
    }
}

impl std::fmt::Debug for SyncState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SyncState::GitTag(repo) => write!(f, "git tag {}", repo.config().sync_tag),
            SyncState::Secret(s, key) => write!(f, "secret {} ({key})", s.describe()),
        }
    }
}

impl SyncState {
    /// The revision last recorded as synced, if any.
    pub async fn revision(&self) -> Result<Option<String>, StateError> {
        match self {
            SyncState::GitTag(repo) => repo.sync_revision().await.map_err(StateError::Git),
            SyncState::Secret(store, key) => Ok(store
                .get()
                .await?
                .and_then(|s| s.annotations.get(key).cloned())
                .filter(|r| !r.is_empty())),
        }
    }

    /// Records `revision` as synced.
    pub async fn record(&self, revision: &str) -> Result<(), StateError> {
        match self {
            SyncState::GitTag(repo) => repo.move_sync_tag(revision).await.map_err(StateError::Git),
            SyncState::Secret(store, key) => {
                if store.get().await?.is_none() {
                    return Err(StateError::NoSecret(store.describe()));
                }
                store.set_annotation(key, Some(revision)).await?;
                Ok(())
            }
        }
    }

    /// A name for logs (`git tag flux-sync`, `secret flux/flux-git-deploy`).
    pub fn describe(&self) -> String {
        format!("{self:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::MemorySecret;

    #[tokio::test]
    async fn secret_state_round_trips_and_needs_the_secret() {
        let store = Arc::new(MemorySecret::new());
        let state = SyncState::Secret(store.clone(), hwm_annotation("default"));
        assert_eq!(state.revision().await.unwrap(), None);
        assert!(matches!(
            state.record("abc").await,
            Err(StateError::NoSecret(_))
        ));
        store.set_data("identity", b"key").await.unwrap();
        state.record("abc").await.unwrap();
        assert_eq!(state.revision().await.unwrap().as_deref(), Some("abc"));
        let content = store.get().await.unwrap().unwrap();
        assert_eq!(content.annotations[SYNC_HWM_ANNOTATION], "abc");
        assert_eq!(content.data["identity"], b"key", "the key is left alone");
        let other = SyncState::Secret(store.clone(), hwm_annotation("apps"));
        assert_eq!(
            other.revision().await.unwrap(),
            None,
            "each source its own mark"
        );
        other.record("def").await.unwrap();
        assert_eq!(state.revision().await.unwrap().as_deref(), Some("abc"));
        assert_eq!(
            store.get().await.unwrap().unwrap().annotations["flux.weave.works/sync-hwm.apps"],
            "def"
        );
    }
}
