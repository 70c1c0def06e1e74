//! Answering the export and the GC listing from the caches, in the same
//! order and shape as the listing adapter (`crate::export`) answers them,
//! so that flux-core plans the same sync from either.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use flux_core::ResourceId;
use flux_core::cluster::{LiveObject, Namespaces};
use kube::api::DynamicObject;
use serde_json::Value;

use super::collection::Collection;
use super::scope::{Key, Scope, workload_kinds};
use crate::discovery::{Served, Snapshot};
use crate::export::{collected, id_of, is_addon, owned};
use crate::{allowed, reuse};

/// The collections, by key.
pub type Collections = BTreeMap<Key, Arc<Collection>>;

/// An object as JSON, with or without its (trimmed) managedFields.
pub fn to_value(obj: &DynamicObject, managed_fields: bool) -> Value {
    let mut v = serde_json::to_value(obj).unwrap_or(Value::Null);
    if !managed_fields && let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("managedFields");
    }
    v
}

/// The objects of a kind, over all its collections, ordered by namespace
/// and name (as a list returns them).
fn objects_of(collections: &Collections, served: &Served) -> Vec<Value> {
    let mut out: Vec<(Option<String>, String, Value)> = Vec::new();
    for ((av, plural, _), c) in collections {
        if *av != served.ar.api_version || *plural != served.ar.plural {
            continue;
        }
        for o in c.store.state() {
            out.push((
                o.metadata.namespace.clone(),
                o.metadata.name.clone().unwrap_or_default(),
                to_value(&o, false),
            ));
        }
    }
    out.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    out.into_iter().map(|(_, _, v)| v).collect()
}

/// Namespaces and workloads, as `crate::export::export_workloads` returns
/// them.
pub fn export(collections: &Collections, snap: &Snapshot, ns: &Namespaces) -> Vec<LiveObject> {
    let mut out = Vec::new();
    if let Some(ns_kind) = snap.get("", "v1", "Namespace") {
        for n in objects_of(collections, ns_kind) {
            let Some(name) = n.pointer("/metadata/name").and_then(Value::as_str) else {
                continue;
            };
            if ns.allows(name) {
                out.push(LiveObject {
                    id: ResourceId::cluster("Namespace", name),
                    object: n,
                });
            }
        }
    }
    for served in workload_kinds(snap) {
        for obj in objects_of(collections, &served) {
            if is_addon(&obj) {
                continue;
            }
            if let Some(id) = id_of(&obj, &served)
                && id.namespace().is_none_or(|n| ns.allows(n))
            {
                out.push(LiveObject { id, object: obj });
            }
        }
    }
    out
}

/// Marked objects, as `crate::export::list_managed` returns them; with the
/// kinds of each object, for deletes by ID.
pub fn managed(
    collections: &Collections,
    snap: &Snapshot,
    label: &str,
    ns: &Namespaces,
) -> Vec<(LiveObject, Served)> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for served in snap.preferred() {
        if !collected(served) || !served.watchable {
            continue;
        }
        for obj in objects_of(collections, served) {
            if !reuse::has_label(&obj, label) || owned(&obj) {
                continue;
            }
            let Some(id) = id_of(&obj, served) else {
                continue;
            };
            if !allowed(&id, ns) {
                continue;
            }
            if !seen.insert(id.clone()) {
                tracing::warn!(%id, group = %served.ar.group, "two API groups serve an object with this ID; keeping the first");
                continue;
            }
            out.push((LiveObject { id, object: obj }, served.clone()));
        }
    }
    out.sort_by(|a, b| a.0.id.cmp(&b.0.id));
    out
}

/// The collections that would hold `id` (of kind `kind` lower-cased,
/// carrying `label` if `marked`).
pub fn holders<'a>(
    collections: &'a Collections,
    id: &'a ResourceId,
    marked: bool,
) -> impl Iterator<Item = &'a Arc<Collection>> + 'a {
    collections.values().filter(move |c| {
        let s = &c.spec;
        s.served.ar.kind.eq_ignore_ascii_case(id.kind())
            && s.served.namespaced == id.namespace().is_some()
            && (marked || matches!(s.selector, super::scope::Selector::Everything))
            && match (&s.scope, id.namespace()) {
                (Scope::All, _) => true,
                (Scope::Namespace(n), Some(ns)) => n == ns,
                (Scope::Named(n), None) => n == id.name(),
                _ => false,
            }
    })
}
