//! A cluster whose live state comes from watches: [`WatchedCluster`].
//!
//! fluxd syncs on every new commit and again every `--sync-interval`.
//! Read through [`KubeCluster`], each sync lists every workload and every
//! marked object of every kind from the API server; with nothing new in
//! git that is all a periodic sync costs, and drift (an object edited or
//! deleted by hand) waits for the next interval. [`WatchedCluster`] keeps
//! those objects in kube-runtime reflector stores instead, fed by one
//! watch per collection (see `scope.rs` for which), so that:
//! - `export_workloads` and `list_managed` read no lists: they are
//!   answered from the stores, in the same order and with the same
//!   objects as [`KubeCluster`] answers them (without managedFields; the
//!   cached documents themselves, shared rather than copied), so
//!   flux-core plans the same sync;
//! - `apply`, `delete` and `image_pull_secrets` go to [`KubeCluster`]
//!   (the apply's unchanged check reads the objects it applies from the
//!   server, as the stores keep no managedFields); after a write, reads wait (bounded)
//!   until the stores show it, and an apply that adds kinds (a CRD)
//!   refreshes discovery and starts watching them;
//! - changes made by others are sent as [`Notice`]s, for the daemon to
//!   debounce ([`Debouncer`]) and sync.
//!
//! Nothing is answered from an incomplete cache: until every collection
//! has its first list (or was refused, as the listing adapter skips kinds
//! it may not read), reads wait up to [`WatchOptions::ready_timeout`], then
//! fail as `Unavailable`. A collection re-listing after an expired watch is
//! waited for the same way. Watches that fail are restarted by
//! kube-runtime's watcher with client-go's backoff; [`WatchedCluster::stats`]
//! and [`WatchedCluster::collections`] show what they do.
//!
//! Not covered by the stores, and so passed to [`KubeCluster`]: a label
//! other than [`WatchOptions::label`], and namespaces wider than the
//! adapter's allow-list. Kinds that can be listed but not watched (metrics)
//! are left out of `list_managed`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use flux_core::cluster::{ClusterError, ClusterErrorKind};
use tokio::sync::broadcast;
use tokio::time::Instant;

use crate::KubeCluster;
use crate::discovery::Snapshot;
use crate::error::cluster_error;

mod cached;
mod cluster;
mod collection;
mod notice;
mod own;
mod read;
mod scope;

pub use collection::{CollectionStatus, Phase};
pub use notice::{Batch, Change, Debouncer, Notice};

use collection::{Collection, Hub};
use read::Collections;

/// How the watched cluster behaves.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    /// The GC mark label the marked collections select on
    /// (`fluxcd.io/sync-gc-mark`).
    pub label: String,
    /// How long a read waits for incomplete caches before failing.
    pub ready_timeout: Duration,
    /// How long a write waits for the caches to show it before returning
    /// anyway (the next read then may not show it yet).
    pub settle_timeout: Duration,
    /// Fetch initial lists as watch streams (`sendInitialEvents`,
    /// Kubernetes 1.27+ with the WatchList feature) instead of lists.
    pub streaming_lists: bool,
    /// How often discovery is read again to find kinds added by others
    /// (CRDs are watched, so this is only for aggregated APIs).
    pub discovery_interval: Duration,
    /// Notices buffered for slow receivers (beyond that they are counted
    /// as lost; see [`Batch::lagged`]).
    pub notice_capacity: usize,
}

impl Default for WatchOptions {
    fn default() -> Self {
        WatchOptions {
            label: flux_core::sync::GC_MARK_LABEL.to_owned(),
            ready_timeout: Duration::from_secs(30),
            settle_timeout: Duration::from_secs(5),
            streaming_lists: false,
            discovery_interval: Duration::from_secs(300),
            notice_capacity: 4096,
        }
    }
}

/// Counters for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WatchStats {
    /// Collections watched.
    pub collections: usize,
    /// Collections whose cache is complete (or skipped).
    pub ready: usize,
    /// Lists started by the watchers (first lists and re-lists, retries
    /// included), over the collections watched now.
    pub lists: u64,
    /// Watcher errors (each restarts a watch after a backoff).
    pub errors: u64,
    /// Watch events applied to the caches.
    pub events: u64,
    /// Objects in the caches.
    pub objects: usize,
    /// Change notices sent.
    pub notices: u64,
    /// Discovery refreshes after the first.
    pub rediscoveries: u64,
}

struct Inner {
    kube: Arc<KubeCluster>,
    options: WatchOptions,
    hub: Arc<Hub>,
    collections: RwLock<Collections>,
    /// The discovery the collections follow.
    snapshot: RwLock<Option<Arc<Snapshot>>>,
    /// Counters of collections no longer watched.
    retired: Mutex<(u64, u64, u64)>,
    rediscoveries: AtomicU64,
    reconciling: tokio::sync::Mutex<()>,
    /// The last discovery failure, for the not-ready message.
    discovery_error: Mutex<Option<String>>,
}

/// A [`flux_core::Cluster`] answering reads from watch caches and passing
/// writes to a [`KubeCluster`]; see the module docs. Dropping it stops
/// every watch.
pub struct WatchedCluster {
    inner: Arc<Inner>,
    supervisor: tokio::task::JoinHandle<()>,
}

impl Drop for WatchedCluster {
    fn drop(&mut self) {
        self.supervisor.abort();
        self.inner.write_collections().clear();
    }
}

fn unavailable(message: String) -> ClusterError {
    ClusterError::new(ClusterErrorKind::Unavailable, None, message)
}

impl Inner {
    fn read_collections(&self) -> std::sync::RwLockReadGuard<'_, Collections> {
        self.collections
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write_collections(&self) -> std::sync::RwLockWriteGuard<'_, Collections> {
        self.collections
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn snapshot(&self) -> Option<Arc<Snapshot>> {
        self.snapshot
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Watches what `snap` serves: starts new collections, stops gone ones.
    fn reconcile(&self, snap: Arc<Snapshot>) {
        let specs = scope::plan(&snap, &self.kube.options.namespaces, &self.options.label);
        let mut cols = self.write_collections();
        let wanted: BTreeMap<scope::Key, scope::Spec> =
            specs.into_iter().map(|s| (s.key(), s)).collect();
        let gone: Vec<scope::Key> = cols
            .keys()
            .filter(|k| !wanted.contains_key(*k))
            .cloned()
            .collect();
        for k in gone {
            if let Some(c) = cols.remove(&k) {
                let s = c.status();
                tracing::info!(kind = %s.kind, api_version = %s.api_version, "no longer served; stopped watching");
                let mut r = self
                    .retired
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                r.0 += s.lists;
                r.1 += s.errors;
                r.2 += s.events;
            }
        }
        for (k, spec) in wanted {
            if let std::collections::btree_map::Entry::Vacant(slot) = cols.entry(k) {
                tracing::debug!(kind = %spec.served.ar.kind, scope = ?spec.scope, "watching");
                let c = Collection::start(
                    self.kube.client.clone(),
                    spec,
                    self.hub.clone(),
                    self.options.streaming_lists,
                );
                slot.insert(Arc::new(c));
            }
        }
        drop(cols);
        *self
            .snapshot
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(snap);
        self.hub.bump();
    }

    /// Reads discovery again and follows it.
    async fn rediscover(&self) -> Result<(), kube::Error> {
        let _one = self.reconciling.lock().await;
        let generation = self.kube.discovery.current().map_or(0, |s| s.generation());
        match self.kube.discovery.refresh_after(generation).await {
            Ok(snap) => {
                if self.snapshot().is_some() {
                    self.rediscoveries.fetch_add(1, Ordering::Relaxed);
                }
                *self
                    .discovery_error
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
                self.reconcile(snap);
                Ok(())
            }
            Err(e) => {
                *self
                    .discovery_error
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(e.to_string());
                self.hub.bump();
                Err(e)
            }
        }
    }

    /// Follows the adapter's discovery if it moved on (it reads discovery
    /// again when an apply names a kind it does not know).
    async fn follow_discovery(&self) {
        let ours = self.snapshot().map_or(0, |s| s.generation());
        if let Some(theirs) = self.kube.discovery.current()
            && theirs.generation() > ours
        {
            let _one = self.reconciling.lock().await;
            if self.snapshot().map_or(0, |s| s.generation()) < theirs.generation() {
                self.reconcile(theirs);
            }
        }
    }

    /// Why the caches are not complete, or `None` when they are.
    fn pending(&self) -> Option<String> {
        if self.snapshot().is_none() {
            let why = self
                .discovery_error
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone()
                .map_or_else(String::new, |e| format!(" (last error: {e})"));
            return Some(format!("the API has not been discovered yet{why}"));
        }
        let cols = self.read_collections();
        let waiting: Vec<String> = cols
            .values()
            .filter(|c| !c.usable())
            .map(|c| c.describe())
            .collect();
        if waiting.is_empty() {
            return None;
        }
        let shown: Vec<&str> = waiting.iter().take(3).map(String::as_str).collect();
        Some(format!(
            "{} of {} watched collections not listed yet: {}{}",
            waiting.len(),
            cols.len(),
            shown.join("; "),
            if waiting.len() > 3 { "; …" } else { "" }
        ))
    }

    /// Waits until the caches are complete, at most `timeout`.
    async fn ready(&self, timeout: Duration) -> Result<(), ClusterError> {
        let deadline = Instant::now() + timeout;
        let mut changed = self.hub.changed.subscribe();
        loop {
            let Some(why) = self.pending() else {
                return Ok(());
            };
            if Instant::now() >= deadline
                || tokio::time::timeout_at(deadline, changed.changed())
                    .await
                    .is_ok_and(|r| r.is_err())
            {
                return Err(unavailable(format!(
                    "the watch caches are not complete after {timeout:?}: {why}"
                )));
            }
        }
    }

    /// Waits (at most the settle timeout) until `done` holds.
    async fn settle(&self, what: &str, done: impl Fn(&Collections) -> bool) {
        let deadline = Instant::now() + self.options.settle_timeout;
        let mut changed = self.hub.changed.subscribe();
        loop {
            if done(&self.read_collections()) {
                return;
            }
            let timed_out = tokio::time::timeout_at(deadline, changed.changed())
                .await
                .is_err();
            if timed_out {
                tracing::warn!(
                    "the watch caches did not show {what} within {:?}; the next read may not either",
                    self.options.settle_timeout
                );
                return;
            }
        }
    }
}

impl WatchedCluster {
    /// Starts watching through `kube`'s client, within its allowed
    /// namespaces. Call inside a tokio runtime. Returns at once: reads
    /// wait for the first lists (see [`WatchedCluster::ready`]).
    pub fn new(kube: Arc<KubeCluster>, options: WatchOptions) -> Self {
        let hub = Arc::new(Hub {
            changed: tokio::sync::watch::Sender::new(0),
            notices: broadcast::Sender::new(options.notice_capacity.max(1)),
            own: Mutex::new(own::Own::default()),
            crds_changed: tokio::sync::Notify::new(),
            label: options.label.clone(),
            notices_sent: AtomicU64::new(0),
        });
        let inner = Arc::new(Inner {
            kube,
            options,
            hub,
            collections: RwLock::new(BTreeMap::new()),
            snapshot: RwLock::new(None),
            retired: Mutex::new((0, 0, 0)),
            rediscoveries: AtomicU64::new(0),
            reconciling: tokio::sync::Mutex::new(()),
            discovery_error: Mutex::new(None),
        });
        let supervisor = tokio::spawn(supervise(Arc::downgrade(&inner)));
        WatchedCluster { inner, supervisor }
    }

    /// The adapter writes go through.
    pub fn kube(&self) -> &Arc<KubeCluster> {
        &self.inner.kube
    }

    /// Waits until every cache has its first list, at most `timeout`;
    /// `Unavailable`, saying which are missing, after that.
    pub async fn ready(&self, timeout: Duration) -> Result<(), ClusterError> {
        self.inner.ready(timeout).await
    }

    /// Whether every cache is complete now.
    pub fn is_ready(&self) -> bool {
        self.inner.pending().is_none()
    }

    /// A receiver of change notices: objects carrying the GC mark, and
    /// workloads and namespaces, created, changed (beyond status) or
    /// deleted by anyone but this cluster value's own applies and deletes.
    pub fn notices(&self) -> broadcast::Receiver<Notice> {
        self.inner.hub.notices.subscribe()
    }

    /// Counters for metrics.
    pub fn stats(&self) -> WatchStats {
        let cols = self.inner.read_collections();
        let retired = *self
            .inner
            .retired
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut s = WatchStats {
            collections: cols.len(),
            lists: retired.0,
            errors: retired.1,
            events: retired.2,
            notices: self.inner.hub.notices_sent.load(Ordering::Relaxed),
            rediscoveries: self.inner.rediscoveries.load(Ordering::Relaxed),
            ..WatchStats::default()
        };
        for c in cols.values() {
            let st = c.status();
            s.ready += usize::from(matches!(st.phase, Phase::Ready | Phase::Skipped));
            s.lists += st.lists;
            s.errors += st.errors;
            s.events += st.events;
            s.objects += st.objects;
        }
        s
    }

    /// Each collection watched, and what it is doing.
    pub fn collections(&self) -> Vec<CollectionStatus> {
        self.inner
            .read_collections()
            .values()
            .map(|c| c.status())
            .collect()
    }

    /// Reads discovery again now and watches what it adds (the daemon
    /// need not call this: CRD changes and applies of CRDs do it).
    pub async fn rediscover(&self) -> Result<(), ClusterError> {
        self.inner
            .rediscover()
            .await
            .map_err(|e| cluster_error(None, "discover the API", e))
    }

    async fn before_read(&self) -> Result<(Arc<Snapshot>, Collections), ClusterError> {
        self.inner.follow_discovery().await;
        self.inner.ready(self.inner.options.ready_timeout).await?;
        let snap = self
            .inner
            .snapshot()
            .ok_or_else(|| unavailable("the API has not been discovered yet".into()))?;
        Ok((snap, self.inner.read_collections().clone()))
    }
}

/// Discovers, then rediscovers when CRDs change or the interval passes,
/// until the cluster value is dropped.
async fn supervise(inner: std::sync::Weak<Inner>) {
    let mut delay = Duration::from_millis(500);
    loop {
        let Some(i) = inner.upgrade() else { return };
        if i.snapshot().is_none() {
            if let Err(e) = i.rediscover().await {
                tracing::warn!(error = %e, "cannot discover the API; retrying");
                drop(i);
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(30));
            }
            continue;
        }
        let hub = i.hub.clone();
        let interval = i.options.discovery_interval;
        drop(i);
        tokio::select! {
            () = hub.crds_changed.notified() => {}
            () = tokio::time::sleep(interval) => {}
        }
        let Some(i) = inner.upgrade() else { return };
        if let Err(e) = i.rediscover().await {
            tracing::warn!(error = %e, "cannot read discovery again; keeping the kinds watched");
        }
    }
}
