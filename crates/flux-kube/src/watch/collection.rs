//! One watched collection: a kube-runtime watcher (with its backoff) feeding
//! a reflector store, its progress and counters, and the change notices it
//! raises.
//!
//! Objects are kept without `managedFields` other than the Apply entry of
//! Flux's field manager (what the unchanged check reads), which is most of
//! what an object weighs. A re-list replaces the store at once when it is
//! complete (kube-runtime's reflector does this); the objects it finds
//! changed or gone are reported, as the watch events missed in between
//! would have been.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use flux_core::ResourceId;
use futures::StreamExt as _;
use kube::api::{Api, DynamicObject};
use kube::runtime::reflector::{ObjectRef, Store, store::Writer};
use kube::runtime::{WatchStreamExt as _, watcher};
use tokio::sync::{Notify, broadcast};

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
    /// Flux's field manager (its managedFields entry is kept).
    pub field_manager: String,
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
    pub fn release(&self, notices: Vec<Notice>) {
        for n in notices {
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
    pub store: Store<DynamicObject>,
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
        let writer = Writer::new(ar);
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
    pub fn get(&self, namespace: Option<&str>, name: &str) -> Option<Arc<DynamicObject>> {
        let mut key = ObjectRef::new_with(name, self.spec.served.ar.clone());
        if let Some(ns) = namespace.filter(|_| self.spec.served.namespaced) {
            key = key.within(ns);
        }
        self.store.get(&key)
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

/// Keeps only Flux's Apply entry of managedFields, and fills in the kind
/// (list items of built-in kinds come without it).
fn trim(obj: &mut DynamicObject, spec: &Spec, manager: &str) {
    if let Some(fields) = obj.metadata.managed_fields.as_mut() {
        fields.retain(|f| {
            f.manager.as_deref() == Some(manager)
                && f.operation.as_deref() == Some("Apply")
                && f.subresource.as_deref().is_none_or(str::is_empty)
        });
        if fields.is_empty() {
            obj.metadata.managed_fields = None;
        }
    }
    if obj.types.is_none() {
        obj.types = Some(kube::api::TypeMeta {
            api_version: spec.served.ar.api_version.clone(),
            kind: spec.served.ar.kind.clone(),
        });
    }
}

/// Whether two versions of an object differ in more than status and
/// bookkeeping metadata.
fn same_content(a: &DynamicObject, b: &DynamicObject) -> bool {
    let meta = |o: &DynamicObject| {
        let mut m = o.metadata.clone();
        m.resource_version = None;
        m.managed_fields = None;
        m.generation = None;
        m
    };
    let data = |o: &DynamicObject| match &o.data {
        serde_json::Value::Object(m) => m
            .iter()
            .filter(|(k, _)| k.as_str() != "status")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect::<serde_json::Map<_, _>>(),
        _ => serde_json::Map::new(),
    };
    a.types == b.types && meta(a) == meta(b) && data(a) == data(b)
}

fn notice(obj: &DynamicObject, spec: &Spec, change: Change, label: &str) -> Option<Notice> {
    let marked = obj
        .metadata
        .labels
        .as_ref()
        .is_some_and(|l| l.contains_key(label));
    if !marked && !spec.notify_all {
        return None;
    }
    let name = obj.metadata.name.as_deref()?;
    let id = if spec.served.namespaced {
        ResourceId::new(
            obj.metadata.namespace.as_deref()?,
            &spec.served.ar.kind,
            name,
        )
    } else {
        ResourceId::cluster(&spec.served.ar.kind, name)
    };
    Some(Notice {
        id,
        change,
        marked,
        resource_version: obj.metadata.resource_version.clone(),
    })
}

async fn run(
    api: Api<DynamicObject>,
    config: watcher::Config,
    mut writer: Writer<DynamicObject>,
    spec: Spec,
    state: Arc<Mutex<State>>,
    hub: Arc<Hub>,
) {
    let ar = spec.served.ar.clone();
    let store = writer.as_reader();
    let key = |o: &DynamicObject| ObjectRef::from_obj_with(o, ar.clone());
    let mut stream = watcher::watcher(api, config).default_backoff().boxed();
    let mut ever_listed = false;
    // During a re-list, what the store held before it.
    let mut before: Option<HashMap<ObjectRef<DynamicObject>, Arc<DynamicObject>>> = None;
    while let Some(event) = stream.next().await {
        let event = match event {
            Ok(e) => e.modify(|o| trim(o, &spec, &hub.field_manager)),
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
                        .is_none_or(|old| !same_content(&old, o));
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
                if store.get(&key(o)).is_none_or(|old| !same_content(&old, o)) {
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

    fn obj(v: serde_json::Value) -> DynamicObject {
        serde_json::from_value(v).expect("an object")
    }

    #[test]
    fn status_and_bookkeeping_are_not_changes() {
        let a = obj(json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "w", "namespace": "n", "resourceVersion": "1", "generation": 1},
            "spec": {"replicas": 1}, "status": {"readyReplicas": 0}}));
        let mut b = obj(json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "w", "namespace": "n", "resourceVersion": "2", "generation": 2},
            "spec": {"replicas": 1}, "status": {"readyReplicas": 1}}));
        assert!(same_content(&a, &b));
        b.data["spec"]["replicas"] = json!(2);
        assert!(!same_content(&a, &b));
        let mut c = a.clone();
        c.metadata.labels = Some([("x".to_owned(), "y".to_owned())].into());
        assert!(!same_content(&a, &c));
    }

    #[test]
    fn only_flux_apply_entry_of_managed_fields_is_kept() {
        let spec = Spec {
            served: crate::discovery::Served {
                ar: kube::api::ApiResource::erase::<k8s_openapi::api::core::v1::ConfigMap>(&()),
                namespaced: true,
                listable: true,
                watchable: true,
            },
            scope: Scope::All,
            selector: Selector::Everything,
            notify_all: false,
        };
        let mut o = obj(
            json!({"metadata": {"name": "c", "namespace": "n", "managedFields": [
            {"manager": "flux", "operation": "Apply", "fieldsV1": {"f:data": {}}},
            {"manager": "flux", "operation": "Update"},
            {"manager": "flux", "operation": "Apply", "subresource": "status"},
            {"manager": "kubectl", "operation": "Apply"}]}}),
        );
        trim(&mut o, &spec, "flux");
        let kept = o.metadata.managed_fields.as_ref().expect("one kept");
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].operation.as_deref(), Some("Apply"));
        assert!(kept[0].subresource.is_none());
        assert_eq!(o.types.as_ref().map(|t| t.kind.as_str()), Some("ConfigMap"));
        let mut p = obj(
            json!({"metadata": {"name": "c", "managedFields": [{"manager": "kubectl", "operation": "Update"}]}}),
        );
        trim(&mut p, &spec, "flux");
        assert!(p.metadata.managed_fields.is_none());
        // Unmarked objects of a label-less collection raise no notice.
        assert!(notice(&p, &spec, Change::Changed, "mark").is_none());
    }
}
