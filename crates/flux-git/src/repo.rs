//! The repository handle: a local bare mirror of the remote branch and its
//! tags, and the one place that knows how to reach the remote.
//!
//! A [`Repo`] is cheap to clone and safe to share between tasks. Fetches are
//! serialised (they update the mirror's refs); commit jobs are serialised
//! with each other (fluxd runs jobs one at a time, and a second writer in the
//! same process would only lose races); reads run concurrently with both.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use gix::ObjectId;
use tokio::sync::{Notify, watch};

use crate::command::GitRunner;
use crate::config::GitConfig;
use crate::error::{BoxError, Error};
use crate::ssh::{SshOptions, SshSetup};

/// How far the repository has got (Flux v1's `GitRepoStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RepoState {
    /// Nothing fetched yet.
    New,
    /// Fetched, but write access not confirmed yet.
    Cloned,
    /// Fetched, and either read-only or known to be writable.
    Ready,
}

/// A snapshot of the repository's health, for logs, metrics and the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoStatus {
    /// How far it has got.
    pub state: RepoState,
    /// The branch head at the last successful fetch.
    pub head: Option<String>,
    /// The error of the last failed operation, cleared by a success.
    pub error: Option<String>,
}

/// The result of a fetch: the branch head, and whether it moved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refreshed {
    /// The branch head now.
    pub head: String,
    /// The branch head seen by the previous successful fetch.
    pub previous: Option<String>,
    /// Whether `head` differs from `previous` (true on the first fetch).
    pub moved: bool,
}

/// A git repository fluxd syncs from and commits to.
#[derive(Clone)]
pub struct Repo {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Repo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Repo")
            .field("remote", &self.inner.config.remote)
            .field("branch", &self.inner.config.branch)
            .field("mirror", &self.inner.dir)
            .finish()
    }
}

pub(crate) struct Inner {
    pub(crate) config: GitConfig,
    pub(crate) dir: PathBuf,
    pub(crate) ssh: SshSetup,
    pub(crate) repo: gix::ThreadSafeRepository,
    pub(crate) fetch_lock: Arc<tokio::sync::Mutex<()>>,
    pub(crate) write_lock: tokio::sync::Mutex<()>,
    pub(crate) state: Mutex<RepoStatus>,
    pub(crate) notify: Notify,
    pub(crate) heads: watch::Sender<Option<Refreshed>>,
    pub(crate) write_checked: OnceLock<()>,
    pub(crate) blobs: crate::read::BlobCache,
}

impl Repo {
    /// Prepares a repository: a fresh bare mirror at `state_dir/mirror.git`
    /// and, for ssh remotes, an ssh config in `state_dir/ssh`. Nothing is
    /// fetched until [`Repo::refresh`] (or [`Repo::ready`]).
    ///
    /// Like Flux v1, the mirror starts empty on every start, so nothing left
    /// over from an earlier configuration can be synced. The settings are
    /// checked again ([`GitConfig::validate`]): they may have been changed
    /// since they were made.
    pub fn new(config: GitConfig, ssh: &SshOptions, state_dir: &Path) -> Result<Self, Error> {
        config.validate()?;
        if matches!(
            config.remote.transport(),
            crate::url::Transport::Http | crate::url::Transport::Https
        ) {
            install_crypto_provider();
        }
        let dir = state_dir.join("mirror.git");
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        }
        std::fs::create_dir_all(state_dir).map_err(|e| Error::io(state_dir, e))?;
        let ssh = SshSetup::write(&state_dir.join("ssh"), ssh, config.timeout)?;
        gix::init_bare(&dir).map_err(|e| mirror_error(&dir, "creating the mirror", e))?;
        let repo = gix::ThreadSafeRepository::open_opts(&dir, open_options(&ssh))
            .map_err(|e| mirror_error(&dir, "opening the mirror", e))?;
        let (heads, _) = watch::channel(None);
        Ok(Repo {
            inner: Arc::new(Inner {
                config,
                dir,
                ssh,
                repo,
                fetch_lock: Arc::new(tokio::sync::Mutex::new(())),
                write_lock: tokio::sync::Mutex::new(()),
                state: Mutex::new(RepoStatus {
                    state: RepoState::New,
                    head: None,
                    error: None,
                }),
                notify: Notify::new(),
                heads,
                write_checked: OnceLock::new(),
                blobs: crate::read::BlobCache::default(),
            }),
        })
    }

    /// The settings it was made with.
    pub fn config(&self) -> &GitConfig {
        &self.inner.config
    }

    /// The mirror's directory (a bare repository).
    pub fn mirror_dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Its health now.
    pub fn status(&self) -> RepoStatus {
        self.lock_state().clone()
    }

    /// The branch head as of the last successful fetch.
    pub fn head(&self) -> Option<String> {
        self.lock_state().head.clone()
    }

    /// Asks the poll loop ([`Repo::run`]) to fetch now (Flux v1's
    /// `Notify`, used after a push or on a webhook). Never blocks.
    pub fn notify(&self) {
        self.inner.notify.notify_one();
    }

    /// Branch heads as the poll loop fetches them.
    pub fn subscribe(&self) -> watch::Receiver<Option<Refreshed>> {
        self.inner.heads.subscribe()
    }

    pub(crate) fn lock_state(&self) -> std::sync::MutexGuard<'_, RepoStatus> {
        // A panic while holding this lock cannot leave the status half
        // written (every update is a single assignment), so carry on.
        self.inner
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn record_error(&self, error: &Error) {
        self.lock_state().error = Some(error.to_string());
    }

    /// A gix handle for this thread.
    pub(crate) fn gix(&self) -> gix::Repository {
        let mut repo = self.inner.repo.to_thread_local();
        // Delta chains are resolved once per pack entry, not once per read.
        repo.object_cache_size_if_unset(16 * 1024 * 1024);
        repo
    }

    /// How to run the `git` program against the mirror.
    pub(crate) fn git(&self) -> GitRunner {
        let remote = &self.inner.config.remote;
        GitRunner {
            git_dir: self.inner.dir.clone(),
            ssh_command: Some(self.inner.ssh.command()),
            secrets: remote.secrets(),
            timeout: self.inner.config.timeout,
            remote_display: remote.to_string(),
        }
    }

    /// The remote for messages (no password).
    pub(crate) fn url(&self) -> String {
        self.inner.config.remote.to_string()
    }

    /// Resolves `revision` (a full or abbreviated id, or a ref) to a commit
    /// in the mirror.
    pub(crate) fn resolve_commit(
        &self,
        repo: &gix::Repository,
        revision: &str,
    ) -> Result<ObjectId, Error> {
        let not_found = || Error::RevisionNotFound {
            revision: revision.to_owned(),
            url: self.url(),
        };
        if revision.starts_with('-') || revision.contains(':') {
            return Err(not_found());
        }
        let id = repo
            .rev_parse_single(revision)
            .map_err(|_| not_found())?
            .object()
            .map_err(|_| not_found())?
            .peel_to_commit()
            .map_err(|_| not_found())?
            .id;
        Ok(id)
    }
}

/// gix's HTTP client (reqwest with rustls, no provider compiled in by
/// choice: the workspace uses ring) panics when building a client if the
/// process has no default crypto provider. Install ring's unless the
/// program already chose one.
fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race with another installer is fine: one is in place.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

fn open_options(ssh: &SshSetup) -> gix::open::Options {
    let mut permissions = gix::open::Permissions::isolated();
    // Proxies are configured through the environment, as for git.
    permissions.env.http_transport = gix::sec::Permission::Allow;
    gix::open::Options::isolated()
        .permissions(permissions)
        // The store can hold this many pack indices at once; fetches add
        // packs until `git gc --auto` folds them (at fetch::PACK_LIMIT), and
        // gix cannot add slots later ("too few index slots").
        .object_store_slots(gix::odb::store::init::Slots::Given(256))
        .config_overrides([
            format!("core.sshCommand={}", ssh.command()),
            "ssh.variant=ssh".to_owned(),
            "protocol.ext.allow=never".to_owned(),
            // Never ask for a user or password on a terminal (what
            // GIT_TERMINAL_PROMPT=0 does for the git program): a daemon
            // started from a shell would hang on the prompt.
            "gitoxide.credentials.terminalPrompt=false".to_owned(),
        ])
}

pub(crate) fn mirror_error(dir: &Path, what: &str, e: impl Into<BoxError>) -> Error {
    Error::Mirror {
        path: dir.to_owned(),
        what: what.to_owned(),
        source: e.into(),
    }
}
