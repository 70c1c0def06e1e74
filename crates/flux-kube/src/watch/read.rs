//! Answering the export and the GC listing from the caches, in the same
//! order and shape as the listing adapter (`crate::export`) answers them,
//! so that flux-core plans the same sync from either. The objects handed
//! out are the cached documents themselves (shared, not copied).

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use flux_core::ResourceId;
use flux_core::cluster::{LiveObject, Namespaces};

use super::cached::Cached;
use super::collection::Collection;
use super::scope::{Key, Scope, workload_kinds};
use crate::allowed_parts;
use crate::discovery::{Served, Snapshot};
use crate::export::{collected, is_addon};

/// The collections, by key.
pub type Collections = BTreeMap<Key, Arc<Collection>>;

/// The objects of a kind that `keep` keeps, over all its collections,
/// ordered by namespace and name (as a list returns them).
fn objects_of(
    collections: &Collections,
    served: &Served,
    keep: impl Fn(&Cached) -> bool,
) -> Vec<Arc<Cached>> {
    let mut out: Vec<Arc<Cached>> = Vec::new();
    for ((av, plural, _), c) in collections {
        if *av != served.ar.api_version || *plural != served.ar.plural {
            continue;
        }
        out.extend(c.store.state().into_iter().filter(|o| keep(o)));
    }
    out.sort_by(|a, b| (a.namespace(), a.name()).cmp(&(b.namespace(), b.name())));
    out
}

/// Whether [`crate::allowed`] allows a cached object of kind `served`,
/// decided before anything else is read from it: one fluxd holding many
/// sources reads the same caches once per source, each allowed a few
/// namespaces.
fn allowed_cached(o: &Cached, served: &Served, ns: &Namespaces) -> bool {
    allowed_parts(&served.ar.kind, o.namespace(), o.name(), ns)
}

/// Namespaces and workloads, as `crate::export::export_workloads` returns
/// them.
pub fn export(collections: &Collections, snap: &Snapshot, ns: &Namespaces) -> Vec<LiveObject> {
    let mut out = Vec::new();
    if let Some(ns_kind) = snap.get("", "v1", "Namespace") {
        for n in objects_of(collections, ns_kind, |o| allowed_cached(o, ns_kind, ns)) {
            out.push(LiveObject {
                id: ResourceId::cluster("Namespace", n.name()),
                object: n.doc(),
            });
        }
    }
    for served in workload_kinds(snap) {
        for obj in objects_of(collections, &served, |o| allowed_cached(o, &served, ns)) {
            if is_addon(obj.namespace(), |k| obj.label(k)) {
                continue;
            }
            if let Some(id) = cached_id(&obj, &served) {
                out.push(LiveObject {
                    id,
                    object: obj.doc(),
                });
            }
        }
    }
    out
}

/// The ID of a cached object of kind `served`, as [`id_of`] gives it.
fn cached_id(o: &Cached, served: &Served) -> Option<ResourceId> {
    Some(if served.namespaced {
        ResourceId::new(o.namespace()?, &served.ar.kind, o.name())
    } else {
        ResourceId::cluster(&served.ar.kind, o.name())
    })
}

/// Marked objects, as `crate::export::list_managed` returns them, but for
/// those whose ID is in `except` (left frozen); with the kinds of each
/// object, for deletes by ID.
pub fn managed(
    collections: &Collections,
    snap: &Snapshot,
    label: &str,
    ns: &Namespaces,
    except: &HashSet<&ResourceId>,
) -> Vec<(LiveObject, Served)> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for served in snap.preferred() {
        if !collected(served) || !served.watchable {
            continue;
        }
        // Unmarked and owned objects are left frozen.
        let keep = |o: &Cached| {
            o.has_label(label)
                && !o.owned()
                && allowed_cached(o, served, ns)
                && (except.is_empty()
                    || cached_id(o, served).is_none_or(|id| !except.contains(&id)))
        };
        for obj in objects_of(collections, served, keep) {
            let Some(id) = cached_id(&obj, served) else {
                continue;
            };
            if !seen.insert(id.clone()) {
                tracing::warn!(%id, group = %served.ar.group, "two API groups serve an object with this ID; keeping the first");
                continue;
            }
            out.push((
                LiveObject {
                    id,
                    object: obj.doc(),
                },
                served.clone(),
            ));
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
