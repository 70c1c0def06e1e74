//! The object store: every object by (group, resource, namespace, name),
//! one global resourceVersion counter, the served resource types, and the
//! event history that watches resume from.
//!
//! Writers read an object, compute its next version without holding the
//! lock, then [`Store::commit`] checks that nobody changed it in between
//! (the optimistic concurrency a real API server gets from etcd) and retry
//! otherwise. Commits also carry the side effects a cluster would have:
//! a CRD adds or removes a resource type, deleting a namespace deletes its
//! contents.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use bytes::Bytes;
use serde_json::Value;
use tokio::sync::broadcast;

use crate::error::ApiError;
use crate::resources::{self, ResourceType};

/// (group, plural): how objects are filed, whatever version they are
/// served in.
pub type GroupResource = (String, String);

/// A stored object, with its JSON encoding made once at commit time so
/// lists, gets and watches copy bytes instead of re-serialising.
#[derive(Debug)]
pub struct Stored {
    /// The object.
    pub value: Value,
    /// `value` as JSON.
    pub json: Bytes,
}

impl Stored {
    fn new(value: Value) -> Self {
        let json = Bytes::from(serde_json::to_vec(&value).unwrap_or_default());
        Stored { value, json }
    }

    /// Whether it is stored in this apiVersion (its JSON can be sent as is).
    pub fn is_in(&self, api_version: &str) -> bool {
        self.value.get("apiVersion").and_then(Value::as_str) == Some(api_version)
    }
}

impl std::ops::Deref for Stored {
    type Target = Value;
    fn deref(&self) -> &Value {
        &self.value
    }
}

/// What happened to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// Created.
    Added,
    /// Changed.
    Modified,
    /// Deleted.
    Deleted,
}

impl EventType {
    /// The watch event type string.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change, as watches see it.
#[derive(Debug)]
pub struct Event {
    /// The resourceVersion of the change.
    pub rv: u64,
    /// What happened.
    pub kind: EventType,
    /// The object's type.
    pub gr: GroupResource,
    /// The object's namespace (`""` when cluster-scoped).
    pub namespace: String,
    /// The object after the change (before it, for deletions).
    pub object: Arc<Stored>,
    /// The object before a modification, so that watches with selectors
    /// can tell an object entering or leaving them.
    pub previous: Option<Arc<Stored>>,
}

/// What a commit does to one object.
pub enum Change {
    /// Store this version.
    Put(Value),
    /// Remove the object.
    Delete,
}

/// Why a commit did not happen.
#[derive(Debug)]
pub enum CommitError {
    /// The object changed since it was read; read again and retry.
    Retry,
    /// The write is refused.
    Api(ApiError),
}

const HISTORY: usize = 20_000;

/// Past events and a receiver for the following ones.
pub type Subscription = (Vec<Arc<Event>>, broadcast::Receiver<Arc<Event>>);

struct State {
    types: Vec<Arc<ResourceType>>,
    objects: HashMap<GroupResource, BTreeMap<(String, String), Arc<Stored>>>,
    rv: u64,
    history: VecDeque<Arc<Event>>,
    /// Every event with a resourceVersion at or below this was evicted.
    evicted_up_to: u64,
}

/// The store.
pub struct Store {
    state: RwLock<State>,
    events: broadcast::Sender<Arc<Event>>,
    commits: AtomicU64,
    /// Bumped to end every open watch (see [`Store::close_watches`]).
    closer: tokio::sync::watch::Sender<u64>,
}

/// The key of an object within its type.
fn key(ns: &str, name: &str) -> (String, String) {
    (ns.to_owned(), name.to_owned())
}

impl Default for Store {
    fn default() -> Self {
        Self::new()
    }
}

impl Store {
    /// An empty store serving the built-in types.
    pub fn new() -> Self {
        let (events, _) = broadcast::channel(4096);
        Store {
            state: RwLock::new(State {
                types: resources::builtins(),
                objects: HashMap::new(),
                rv: 0,
                history: VecDeque::new(),
                evicted_up_to: 0,
            }),
            events,
            commits: AtomicU64::new(0),
            closer: tokio::sync::watch::Sender::new(0),
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// All served types.
    pub fn types(&self) -> Vec<Arc<ResourceType>> {
        self.read().types.clone()
    }

    /// The type served at `group/version/plural`.
    pub fn resolve(&self, group: &str, version: &str, plural: &str) -> Option<Arc<ResourceType>> {
        self.read()
            .types
            .iter()
            .find(|t| {
                t.group == group && t.plural == plural && t.versions.iter().any(|v| v == version)
            })
            .cloned()
    }

    /// The current resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.read().rv
    }

    /// How many commits changed the store.
    pub fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// One object.
    pub fn get(&self, rt: &ResourceType, ns: &str, name: &str) -> Option<Arc<Stored>> {
        let st = self.read();
        st.objects.get(&gr(rt))?.get(&key(ns, name)).cloned()
    }

    /// Whether a namespace exists.
    pub fn namespace_exists(&self, name: &str) -> bool {
        namespace_exists(&self.read(), name)
    }

    /// Objects of a type, in one namespace or all, in key order, with the
    /// resourceVersion of the list.
    pub fn list(&self, rt: &ResourceType, ns: Option<&str>) -> (Vec<Arc<Stored>>, u64) {
        let st = self.read();
        let items = match st.objects.get(&gr(rt)) {
            None => Vec::new(),
            Some(m) => match ns {
                Some(ns) => m
                    .range(key(ns, "")..)
                    .take_while(|((n, _), _)| n == ns)
                    .map(|(_, v)| v.clone())
                    .collect(),
                None => m.values().cloned().collect(),
            },
        };
        (items, st.rv)
    }

    /// Commits a change to the object that was `expected` when read.
    pub fn commit(
        &self,
        rt: &ResourceType,
        ns: &str,
        name: &str,
        expected: Option<&Arc<Stored>>,
        change: Change,
    ) -> Result<Option<Arc<Stored>>, CommitError> {
        let mut st = self.write();
        let g = gr(rt);
        let current = st
            .objects
            .get(&g)
            .and_then(|m| m.get(&key(ns, name)))
            .cloned();
        let same = match (current.as_ref(), expected) {
            (None, None) => true,
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        };
        if !same {
            return Err(CommitError::Retry);
        }
        if rt.namespaced && current.is_none() && !namespace_exists(&st, ns) {
            return Err(CommitError::Api(ApiError::not_found("", "namespaces", ns)));
        }
        self.commits.fetch_add(1, Ordering::Relaxed);
        match change {
            Change::Put(mut obj) => {
                st.rv += 1;
                let rv = st.rv;
                if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
                    m.insert("resourceVersion".into(), Value::String(rv.to_string()));
                }
                let obj = Arc::new(Stored::new(obj));
                let kind = if current.is_some() {
                    EventType::Modified
                } else {
                    EventType::Added
                };
                st.objects
                    .entry(g.clone())
                    .or_default()
                    .insert(key(ns, name), obj.clone());
                self.record(&mut st, kind, g, ns, obj.clone(), current);
                if rt.crd.is_none() && rt.kind == "CustomResourceDefinition" {
                    register_crd(&mut st, &obj);
                }
                Ok(Some(obj))
            }
            Change::Delete => {
                let Some(old) = st
                    .objects
                    .get_mut(&g)
                    .and_then(|m| m.remove(&key(ns, name)))
                else {
                    return Ok(None);
                };
                if rt.group.is_empty() && rt.kind == "Namespace" {
                    self.delete_namespace_contents(&mut st, name);
                }
                if rt.crd.is_none() && rt.kind == "CustomResourceDefinition" {
                    self.unregister_crd(&mut st, name);
                }
                st.rv += 1;
                let rv = st.rv;
                let mut last = old.value.clone();
                if let Some(m) = last.get_mut("metadata").and_then(Value::as_object_mut) {
                    m.insert("resourceVersion".into(), Value::String(rv.to_string()));
                }
                let last = Arc::new(Stored::new(last));
                self.record(&mut st, EventType::Deleted, g, ns, last.clone(), None);
                Ok(Some(last))
            }
        }
    }

    fn record(
        &self,
        st: &mut State,
        kind: EventType,
        gr: GroupResource,
        ns: &str,
        object: Arc<Stored>,
        previous: Option<Arc<Stored>>,
    ) {
        let ev = Arc::new(Event {
            rv: st.rv,
            kind,
            gr,
            namespace: ns.to_owned(),
            object,
            previous,
        });
        if st.history.len() == HISTORY
            && let Some(old) = st.history.pop_front()
        {
            st.evicted_up_to = old.rv;
        }
        st.history.push_back(ev.clone());
        // No receivers is fine.
        let _ = self.events.send(ev);
    }

    fn delete_namespace_contents(&self, st: &mut State, ns: &str) {
        let groups: Vec<GroupResource> = st.objects.keys().cloned().collect();
        for g in groups {
            let doomed: Vec<(String, String)> = st.objects[&g]
                .range(key(ns, "")..)
                .take_while(|((n, _), _)| n == ns)
                .map(|(k, _)| k.clone())
                .collect();
            for k in doomed {
                if let Some(old) = st.objects.get_mut(&g).and_then(|m| m.remove(&k)) {
                    st.rv += 1;
                    self.record(st, EventType::Deleted, g.clone(), ns, old, None);
                }
            }
        }
    }

    fn unregister_crd(&self, st: &mut State, crd_name: &str) {
        let Some(rt) = st
            .types
            .iter()
            .find(|t| t.crd.as_deref() == Some(crd_name))
            .cloned()
        else {
            return;
        };
        st.types.retain(|t| t.crd.as_deref() != Some(crd_name));
        let g = gr(&rt);
        if let Some(objs) = st.objects.remove(&g) {
            for ((ns, _), old) in objs {
                st.rv += 1;
                self.record(st, EventType::Deleted, g.clone(), &ns, old, None);
            }
        }
    }

    /// A receiver for every change from now on, of every type.
    pub fn events(&self) -> broadcast::Receiver<Arc<Event>> {
        self.events.subscribe()
    }

    /// Ends every watch open now, as an API server restarting or a proxy
    /// timing out idle streams does; clients resume from the last
    /// resourceVersion they saw.
    pub fn close_watches(&self) {
        self.closer.send_modify(|n| *n += 1);
    }

    /// A receiver that changes when [`Store::close_watches`] is called.
    pub fn watch_closer(&self) -> tokio::sync::watch::Receiver<u64> {
        self.closer.subscribe()
    }

    /// Forgets the event history, as an API server's compaction does: a
    /// watch resuming from an earlier resourceVersion is told it expired
    /// (410) and must list again.
    pub fn forget_history(&self) {
        let mut st = self.write();
        st.history.clear();
        st.evicted_up_to = st.rv;
    }

    /// Events after `rv` for a type (and namespace), and a receiver for
    /// later ones; 410 Gone when that history was evicted.
    pub fn subscribe(
        &self,
        rt: &ResourceType,
        ns: Option<&str>,
        rv: u64,
    ) -> Result<Subscription, ApiError> {
        let st = self.read();
        if rv < st.evicted_up_to {
            return Err(ApiError::gone(format!(
                "too old resource version: {rv} ({})",
                st.evicted_up_to + 1
            )));
        }
        let g = gr(rt);
        let past = st
            .history
            .iter()
            .filter(|e| e.rv > rv && e.gr == g && ns.is_none_or(|n| n == e.namespace))
            .cloned()
            .collect();
        Ok((past, self.events.subscribe()))
    }

    /// Current objects as synthetic ADDED events, and a receiver for what
    /// follows (a watch without a resourceVersion).
    pub fn subscribe_now(&self, rt: &ResourceType, ns: Option<&str>) -> Subscription {
        let st = self.read();
        let g = gr(rt);
        let objs = st.objects.get(&g);
        let now: Vec<Arc<Event>> = objs
            .into_iter()
            .flat_map(|m| m.iter())
            .filter(|((n, _), _)| ns.is_none_or(|x| x == n))
            .map(|((n, _), o)| {
                Arc::new(Event {
                    rv: st.rv,
                    kind: EventType::Added,
                    gr: g.clone(),
                    namespace: n.clone(),
                    object: o.clone(),
                    previous: None,
                })
            })
            .collect();
        (now, self.events.subscribe())
    }
}

/// The storage key of a type.
pub fn gr(rt: &ResourceType) -> GroupResource {
    (rt.group.clone(), rt.plural.clone())
}

fn namespace_exists(st: &State, name: &str) -> bool {
    st.objects
        .get(&(String::new(), "namespaces".to_owned()))
        .is_some_and(|m| m.contains_key(&key("", name)))
}

fn register_crd(st: &mut State, crd: &Stored) {
    // Validated before the commit; an invalid CRD here defines nothing.
    let Ok(rt) = resources::from_crd(crd) else {
        return;
    };
    let rt = Arc::new(rt);
    st.types.retain(|t| t.crd != rt.crd);
    st.types.push(rt);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ns_type(store: &Store) -> Arc<ResourceType> {
        store.resolve("", "v1", "namespaces").unwrap()
    }

    #[test]
    fn optimistic_commit_and_namespace_cascade() {
        let store = Store::new();
        let nst = ns_type(&store);
        let cm = store.resolve("", "v1", "configmaps").unwrap();
        // A namespaced object needs its namespace.
        let e = store.commit(
            &cm,
            "demo",
            "a",
            None,
            Change::Put(json!({"metadata": {"name": "a"}})),
        );
        assert!(matches!(e, Err(CommitError::Api(ref a)) if a.code == 404));
        store
            .commit(
                &nst,
                "",
                "demo",
                None,
                Change::Put(json!({"metadata": {"name": "demo"}})),
            )
            .unwrap();
        let a = store
            .commit(
                &cm,
                "demo",
                "a",
                None,
                Change::Put(json!({"metadata": {"name": "a"}})),
            )
            .unwrap()
            .unwrap();
        assert_eq!(a["metadata"]["resourceVersion"], "2");
        // A second writer that read nothing must retry.
        let e = store.commit(&cm, "demo", "a", None, Change::Put(json!({})));
        assert!(matches!(e, Err(CommitError::Retry)));
        let (rx_past, _rx) = store.subscribe(&cm, Some("demo"), 0).unwrap();
        assert_eq!(rx_past.len(), 1);
        // Deleting the namespace deletes its contents.
        let ns = store.get(&nst, "", "demo").unwrap();
        store
            .commit(&nst, "", "demo", Some(&ns), Change::Delete)
            .unwrap();
        assert!(store.get(&cm, "demo", "a").is_none());
        assert_eq!(store.list(&cm, None).0.len(), 0);
        let (past, _) = store.subscribe(&cm, None, 2).unwrap();
        assert_eq!(past.len(), 1);
        assert_eq!(past[0].kind, EventType::Deleted);
    }

    #[test]
    fn crd_registers_and_unregisters_a_type() {
        let store = Store::new();
        let crds = store
            .resolve("apiextensions.k8s.io", "v1", "customresourcedefinitions")
            .unwrap();
        let crd = json!({"metadata": {"name": "widgets.example.com"},
            "spec": {"group": "example.com", "scope": "Cluster",
                     "names": {"kind": "Widget", "plural": "widgets"},
                     "versions": [{"name": "v1", "served": true, "storage": true}]}});
        store
            .commit(&crds, "", "widgets.example.com", None, Change::Put(crd))
            .unwrap();
        let w = store.resolve("example.com", "v1", "widgets").unwrap();
        assert!(!w.namespaced);
        store
            .commit(
                &w,
                "",
                "w1",
                None,
                Change::Put(json!({"metadata": {"name": "w1"}})),
            )
            .unwrap();
        let cur = store.get(&crds, "", "widgets.example.com").unwrap();
        store
            .commit(&crds, "", "widgets.example.com", Some(&cur), Change::Delete)
            .unwrap();
        assert!(store.resolve("example.com", "v1", "widgets").is_none());
        assert!(store.get(&w, "", "w1").is_none());
    }
}
