//! One repository fluxd syncs from: its mirror, sync set, sync state, job
//! queue and what the last sync found. Everything about a repository lives
//! in one [`Source`] value, so one process can hold several.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use flux_core::manifest::{
    FileSet, LastParse, LoadErrors, LoadOptions, Manifests, parse_files, reparse_files,
};
use flux_core::source::Snapshot;
use flux_core::sync::{SyncOptions, SyncSetName};
use flux_core::{ResourceId, ScopeTable};
use flux_git::Repo;
use tokio::sync::Notify;

use crate::job::JobQueue;
use crate::state::SyncState;

/// The manifests of one revision, parsed.
#[derive(Debug)]
pub struct Loaded {
    /// The commit.
    pub revision: String,
    /// Its files under the `--git-path`s.
    pub snapshot: Snapshot,
    /// The resources in them.
    pub manifests: Manifests,
}

/// How a source's manifests are parsed: its paths, scopes and load
/// options, and its last parse, whose unchanged files are taken rather than
/// parsed again (the same result, without the YAML parse of every file or
/// a second copy of every object while the last parse is still held).
#[derive(Debug, Clone)]
pub struct ManifestReader {
    /// The source's `--git-path`s.
    pub paths: Vec<String>,
    /// The scopes to place kinds with.
    pub scopes: ScopeTable,
    /// The load options.
    pub load: LoadOptions,
    /// The last parse (see [`Source::last_parse`]).
    pub last: Option<Arc<Loaded>>,
}

impl ManifestReader {
    /// Parses the manifests of `files`.
    pub fn parse(&self, files: &FileSet) -> Result<Manifests, LoadErrors> {
        match &self.last {
            Some(last) => reparse_files(
                files,
                &self.paths,
                &self.scopes,
                &self.load,
                LastParse {
                    files: &last.snapshot.files,
                    manifests: &last.manifests,
                },
            ),
            None => parse_files(files, &self.paths, &self.scopes, &self.load),
        }
    }
}

/// How the last sync went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncSummary {
    /// The revision synced.
    pub revision: String,
    /// When it finished.
    pub finished: SystemTime,
    /// Whether everything applied (and GC, if on, was not blocked).
    pub clean: bool,
    /// Objects created, configured, unchanged (skipped as up to date) and deleted.
    pub created: usize,
    /// Objects changed.
    pub configured: usize,
    /// Objects already up to date.
    pub unchanged: usize,
    /// Objects garbage-collected.
    pub deleted: usize,
    /// The error that stopped the sync, or a summary of per-object errors.
    pub error: Option<String>,
}

/// What the source knows now.
#[derive(Debug, Default)]
pub struct SourceStatus {
    /// The last sync, clean or not.
    pub last_sync: Option<SyncSummary>,
    /// The revision of the last clean sync (the high-water mark).
    pub synced: Option<String>,
    /// The last manifests loaded (the branch head's, normally).
    pub loaded: Option<Arc<Loaded>>,
    /// The error that stopped the last load, if it failed.
    pub load_error: Option<String>,
    /// Objects that failed to apply in the last sync, with why.
    pub resource_errors: BTreeMap<ResourceId, String>,
    /// Whether a sync has been tried since start.
    pub tried: bool,
    /// Resources another source also defines (with those sources), left
    /// alone by both, as the last sync found them.
    pub overlaps: BTreeMap<ResourceId, Vec<String>>,
}

/// One repository and everything fluxd keeps about it.
pub struct Source {
    /// Its name (`default` for the repository of `--git-url`).
    pub name: String,
    /// The mirror.
    pub repo: Repo,
    /// Normalised `--git-path`s.
    pub paths: Vec<String>,
    /// The sync set (GC marks) and what syncs may do.
    pub sync: SyncOptions,
    /// How manifests are read.
    pub load: LoadOptions,
    /// Kinds and their scopes (built-in, plus those the cluster serves).
    pub scopes: Mutex<ScopeTable>,
    /// Where the synced revision is kept.
    pub state: SyncState,
    /// Its jobs.
    pub jobs: JobQueue,
    /// Ask for a sync (coalesced).
    pub sync_soon: Notify,
    /// Ask for an automation run (coalesced).
    pub automation_soon: Notify,
    /// How often it is synced without a new commit (`--sync-interval` or
    /// the source's `syncInterval`).
    pub sync_interval: Duration,
    /// How often automation runs for it.
    pub automation_interval: Duration,
    /// Its deploy key, for ssh remotes.
    pub identity: Option<Arc<crate::deploykey::Identity>>,
    /// Runs `.flux.yaml` commands (`--manifest-generation`); `None`
    /// without the flag, when `.flux.yaml` files are ignored.
    pub generator: Option<flux_generate::Generator>,
    /// With `--ha`: whether this replica may write for the source now
    /// (it holds the source's Lease); `None` without `--ha`.
    pub fence: Option<Arc<crate::ha::Fence>>,
    status: Mutex<SourceStatus>,
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Source")
            .field("name", &self.name)
            .field("repo", &self.repo)
            .field("paths", &self.paths)
            .finish_non_exhaustive()
    }
}

impl Source {
    /// A source for `repo`.
    pub fn new(
        name: impl Into<String>,
        repo: Repo,
        sync_set: SyncSetName,
        load: LoadOptions,
        state: SyncState,
    ) -> Self {
        let paths = repo.config().paths.clone();
        Source {
            name: name.into(),
            repo,
            paths,
            sync: SyncOptions::new(sync_set),
            load,
            scopes: Mutex::new(ScopeTable::builtin()),
            state,
            jobs: JobQueue::new(),
            sync_soon: Notify::new(),
            automation_soon: Notify::new(),
            sync_interval: Duration::from_secs(300),
            automation_interval: Duration::from_secs(300),
            identity: None,
            generator: None,
            fence: None,
            status: Mutex::new(SourceStatus::default()),
        }
    }

    /// Runs `f` on the status.
    pub fn with_status<T>(&self, f: impl FnOnce(&mut SourceStatus) -> T) -> T {
        f(&mut self
            .status
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    /// The last manifests loaded.
    pub fn loaded(&self) -> Option<Arc<Loaded>> {
        self.with_status(|s| s.loaded.clone())
    }

    /// The last manifests loaded, to parse the next revision from: none
    /// when they are generated (they are not a parse of the files).
    pub fn last_parse(&self) -> Option<Arc<Loaded>> {
        self.generator.is_none().then(|| self.loaded()).flatten()
    }

    /// How to parse this source's manifests now.
    pub fn manifest_reader(&self) -> ManifestReader {
        ManifestReader {
            paths: self.paths.clone(),
            scopes: self.scopes(),
            load: self.load.clone(),
            last: self.last_parse(),
        }
    }

    /// The scopes to read manifests with.
    pub fn scopes(&self) -> ScopeTable {
        self.scopes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Adds (or overrides with) the scopes in `served`.
    pub fn merge_scopes(&self, served: &ScopeTable) {
        self.scopes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend(served);
    }

    /// Whether this replica may write for the source now: always without
    /// `--ha`; with it, while it holds the source's Lease.
    pub fn may_write(&self) -> Result<(), crate::ha::FenceError> {
        self.fence.as_ref().map_or(Ok(()), |f| f.check())
    }

    /// What git pushes and cluster writes for the source ask right before
    /// each request: the fence with `--ha`, else always open.
    pub fn gate(&self) -> &dyn flux_core::fence::WriteGate {
        match &self.fence {
            Some(f) => f.as_ref(),
            None => &flux_core::fence::Open,
        }
    }

    /// Asks for a sync soon.
    pub fn ask_sync(&self) {
        self.sync_soon.notify_one();
    }

    /// Asks for an automation run soon.
    pub fn ask_automation(&self) {
        self.automation_soon.notify_one();
    }
}

/// Whether a resource ID names a workload (IDs carry the kind in lower case).
pub fn is_workload(id: &ResourceId) -> bool {
    flux_core::workload::WORKLOAD_KINDS
        .iter()
        .any(|k| k.eq_ignore_ascii_case(id.kind()))
}
