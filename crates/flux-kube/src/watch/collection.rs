//! One watched collection: a kube-runtime watcher (with its backoff) feeding
//! a reflector store, its progress and counters, and the change notices it
//! raises.
//!
//! Objects are kept without `managedFields` other than the Apply entry of
//! Flux's field manager (what the unchanged check reads), frozen into a
//! compact form ([`Cached`]). A re-list replaces the store at once when it is
//! complete (kube-runtime's reflector does this); the objects it finds
//! changed or gone are reported, as the watch events missed in between
//! would have been.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use flux_core::ResourceId;
use futures::StreamExt as _;
use kube::api::{Api, DynamicObject};
use kube::runtime::reflector::{Lookup as _, ObjectRef, Store, store::Writer};
use kube::runtime::{WatchStreamExt as _, watcher};
use tokio::sync::{Notify, broadcast};

use super::cached::{self, Cached};
use super::notice::{Change, Notice};
use super::own::Own;
use super::scope::{Scope, Selector, Spec};

/// How far a collection has got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Its first list is not complete yet.
    Listing,
    /// Listed and watching.
    Ready,
    /// Listing again (after an expired watch); the previous, complete
    /// contents stay until the new list is complete.
    Relisting,
    /// The server refused to list it (403, 404, 405) before it was ever
    /// listed: treated as empty, as the listing adapter skips such kinds;
    /// still retried.
    Skipped,
}

/// What one collection is doing, for metrics and logs.
#[derive(Debug, Clone)]
pub struct CollectionStatus {
    /// apiVersion of the kind.
    pub api_version: String,
    /// The kind.
    pub kind: String,
    /// The namespace watched (namespaced kinds under an allow-list).
    pub namespace: Option<String>,
    /// The one object watched (a Namespace under an allow-list).
    pub name: Option<String>,
    /// The label selector (`None`: every object).
    pub label: Option<String>,
    /// How far it has got.
    pub phase: Phase,
    /// Objects in its store.
    pub objects: usize,
    /// Lists started (the first and every re-list, retries included).
    pub lists: u64,
    /// Errors from the watcher (each one restarts the watch after a
    /// backoff).
    pub errors: u64,
    /// Watch events applied to the store.
    pub events: u64,
    /// The last error, if any.
    pub last_error: Option<String>,
}

/// What collections share: change signals, notices, counters.
pub struct Hub {
    /// Bumped after every store or phase change.
    pub changed: tokio::sync::watch::Sender<u64>,
    /// Drift notices.
    pub notices: broadcast::Sender<Notice>,
    /// Own writes, to keep them out of the notices.
    pub own: Mutex<Own>,
    /// Signalled when CustomResourceDefinitions change.
    pub crds_changed: Notify,
    /// The GC mark label.
    pub label: String,
    /// Notices sent.
    pub notices_sent: AtomicU64,
}

impl Hub {
    pub fn bump(&self) {
        self.changed.send_modify(|n| *n += 1);
    }

    fn own(&self) -> std::sync::MutexGuard<'_, Own> {
        self.own
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Sends `n` unless it is an own write's echo.
    pub fn emit(&self, n: Notice) {
        let n = self.own().filter(n);
        if let Some(n) = n {
            self.send(n);
        }
    }

    /// Sends notices released by a finished write.
    pub fn release(&self, notice: Option<Notice>) {
        if let Some(n) = notice {
            self.send(n);
        }
    }

    fn send(&self, n: Notice) {
        tracing::debug!(id = %n.id, change = ?n.change, "change seen by a watch");
        self.notices_sent.fetch_add(1, Ordering::Relaxed);
        // No receiver is fine: nobody is listening for drift.
        let _ = self.notices.send(n);
    }

    /// Runs `f` on the own-write record.
    pub fn with_own<T>(&self, f: impl FnOnce(&mut Own) -> T) -> T {
        f(&mut self.own())
    }
}

#[derive(Debug)]
struct State {
    phase: Phase,
    lists: u64,
    errors: u64,
    events: u64,
    last_error: Option<String>,
}

/// A watched collection; dropping it stops its watch.
pub struct Collection {
    /// What is watched.
    pub spec: Spec,
    /// The cache.
    pub store: Store<Cached>,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Collection {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Collection {
    /// Starts watching.
    pub fn start(client: kube::Client, spec: Spec, hub: Arc<Hub>, streaming: bool) -> Self {
        let ar = spec.served.ar.clone();
        let api: Api<DynamicObject> = match &spec.scope {
            Scope::Namespace(ns) => Api::namespaced_with(client, ns, &ar),
            Scope::All | Scope::Named(_) => Api::all_with(client, &ar),
        };
        let mut config = watcher::Config::default();
        if let Selector::Label(l) = &spec.selector {
            config = config.labels(l);
        }
        if let Scope::Named(name) = &spec.scope {
            config = config.fields(&format!("metadata.name={name}"));
        }
        if streaming {
            config = config.streaming_lists();
        }
        let writer = Writer::new(());
        let store = writer.as_reader();
        let state = Arc::new(Mutex::new(State {
            phase: Phase::Listing,
            lists: 0,
            errors: 0,
            events: 0,
            last_error: None,
        }));
        let task = tokio::spawn(run(api, config, writer, spec.clone(), state.clone(), hub));
        Collection {
            spec,
            store,
            state,
            task,
        }
    }

    /// Its phase.
    pub fn phase(&self) -> Phase {
        lock(&self.state).phase
    }

    /// Whether reads may use it: listed, or skipped.
    pub fn usable(&self) -> bool {
        matches!(self.phase(), Phase::Ready | Phase::Skipped)
    }

    /// What it is doing.
    pub fn status(&self) -> CollectionStatus {
        let st = lock(&self.state);
        let ar = &self.spec.served.ar;
        CollectionStatus {
            api_version: ar.api_version.clone(),
            kind: ar.kind.clone(),
            namespace: match &self.spec.scope {
                Scope::Namespace(n) => Some(n.clone()),
                _ => None,
            },
            name: match &self.spec.scope {
                Scope::Named(n) => Some(n.clone()),
                _ => None,
            },
            label: match &self.spec.selector {
                Selector::Label(l) => Some(l.clone()),
                Selector::Everything => None,
            },
            phase: st.phase,
            objects: self.store.len(),
            lists: st.lists,
            errors: st.errors,
            events: st.events,
            last_error: st.last_error.clone(),
        }
    }

    /// A description for error messages.
    pub fn describe(&self) -> String {
        let s = self.status();
        let mut out = format!("{} {}", s.api_version, s.kind);
        if let Some(ns) = &s.namespace {
            out.push_str(&format!(" in {ns}"));
        }
        if let Some(n) = &s.name {
            out.push_str(&format!(" {n}"));
        }
        if let Some(e) = &s.last_error {
            out.push_str(&format!(" (last error: {e})"));
        }
        out
    }

    /// The object named `name` in `namespace`, if cached.
    pub fn get(&self, namespace: Option<&str>, name: &str) -> Option<Arc<Cached>> {
        let namespace = namespace.filter(|_| self.spec.served.namespaced);
        self.store.get(&cached::key(namespace, name))
    }
}

/// Whether an error means the kind cannot be listed by us at all.
fn refused(e: &watcher::Error) -> bool {
    match e {
        watcher::Error::InitialListFailed(kube::Error::Api(s))
        | watcher::Error::WatchStartFailed(kube::Error::Api(s)) => matches!(s.code, 403..=405),
        _ => false,
    }
}

fn notice(obj: &Cached, spec: &Spec, change: Change, label: &str) -> Option<Notice> {
    let marked = obj.has_label(label);
    if !marked && !spec.notify_all {
        return None;
    }
    let name = obj.name();
    let id = if spec.served.namespaced {
        ResourceId::new(obj.namespace()?, &spec.served.ar.kind, name)
    } else {
        ResourceId::cluster(&spec.served.ar.kind, name)
    };
    Some(Notice {
        id,
        change,
        marked,
        resource_version: obj.resource_version().map(str::to_owned),
    })
}

async fn run(
    api: Api<DynamicObject>,
    config: watcher::Config,
    mut writer: Writer<Cached>,
    spec: Spec,
    state: Arc<Mutex<State>>,
    hub: Arc<Hub>,
) {
    let ar = spec.served.ar.clone();
    let store = writer.as_reader();
    let key = |o: &Cached| o.to_object_ref(());
    let mut stream = watcher::watcher(api, config).default_backoff().boxed();
    let mut ever_listed = false;
    // During a re-list, what the store held before it.
    let mut before: Option<HashMap<ObjectRef<Cached>, Arc<Cached>>> = None;
    while let Some(event) = stream.next().await {
        let event = match event {
            Ok(e) => match cached::freeze_event(e, &spec) {
                Some(e) => e,
                None => {
                    tracing::warn!(kind = %ar.kind, scope = ?spec.scope, "a watch event without an object name; left out of the cache");
                    continue;
                }
            },
            Err(e) => {
                tracing::warn!(kind = %ar.kind, api_version = %ar.api_version, scope = ?spec.scope, error = %e, "watch failed; retrying after a backoff");
                let mut st = lock(&state);
                st.errors += 1;
                st.last_error = Some(e.to_string());
                if st.phase == Phase::Listing && refused(&e) {
                    tracing::info!(kind = %ar.kind, scope = ?spec.scope, "not watching a kind the server does not serve or we may not read (treated as empty)");
                    st.phase = Phase::Skipped;
                }
                drop(st);
                hub.bump();
                continue;
            }
        };
        let mut notices = Vec::new();
        let mut crds = false;
        match &event {
            watcher::Event::Init => {
                let mut st = lock(&state);
                st.lists += 1;
                if ever_listed {
                    st.phase = Phase::Relisting;
                    before = Some(store.state().into_iter().map(|o| (key(&o), o)).collect());
                }
            }
            watcher::Event::InitApply(o) => {
                lock(&state).events += 1;
                if let Some(before) = before.as_mut() {
                    let changed = before
                        .remove(&key(o))
                        .is_none_or(|old| !old.same_content(o));
                    if changed {
                        notices.extend(notice(o, &spec, Change::Changed, &hub.label));
                    }
                }
            }
            watcher::Event::InitDone => {
                // A re-list may have found new or removed CRDs.
                crds = before.is_some();
                if let Some(gone) = before.take() {
                    notices.extend(
                        gone.values()
                            .filter_map(|o| notice(o, &spec, Change::Deleted, &hub.label)),
                    );
                }
            }
            watcher::Event::Apply(o) => {
                lock(&state).events += 1;
                if store.get(&key(o)).is_none_or(|old| !old.same_content(o)) {
                    notices.extend(notice(o, &spec, Change::Changed, &hub.label));
                    crds = true;
                }
            }
            watcher::Event::Delete(o) => {
                lock(&state).events += 1;
                notices.extend(notice(o, &spec, Change::Deleted, &hub.label));
                crds = true;
            }
        }
        writer.apply_watcher_event(&event);
        if matches!(event, watcher::Event::InitDone) {
            ever_listed = true;
            let mut st = lock(&state);
            st.phase = Phase::Ready;
            st.last_error = None;
        }
        for n in notices {
            hub.emit(n);
        }
        if crds && spec.is_crds() {
            hub.crds_changed.notify_one();
        }
        hub.bump();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn notices_name_the_object_and_its_mark() {
        let mut spec = crate::watch::scope::configmaps();
        let obj = |v: serde_json::Value| {
            Cached::new(&serde_json::from_value::<DynamicObject>(v).expect("an object"))
                .expect("named")
        };
        let unmarked = obj(json!({"metadata": {"name": "c", "namespace": "n"}}));
        // Unmarked objects of a label-less collection raise no notice.
        assert!(notice(&unmarked, &spec, Change::Changed, "mark").is_none());
        let marked = obj(
            json!({"metadata": {"name": "c", "namespace": "n", "resourceVersion": "5", "labels": {"mark": "x"}}}),
        );
        let n = notice(&marked, &spec, Change::Deleted, "mark").expect("marked");
        assert_eq!(n.id.to_string(), "n:configmap/c");
        assert!(n.marked && n.change == Change::Deleted);
        assert_eq!(n.resource_version.as_deref(), Some("5"));
        spec.notify_all = true;
        let n = notice(&unmarked, &spec, Change::Changed, "mark").expect("notify_all");
        assert!(!n.marked && n.resource_version.is_none());
    }
}
