//! Which collections to watch, from what discovery serves and the allowed
//! namespaces.
//!
//! Workloads (the kinds the export reads), Namespaces and
//! CustomResourceDefinitions are watched whole: the export needs every
//! workload, marked or not, and CRD changes tell the watcher to look for
//! new kinds. Every other kind the GC listing reads is watched through a
//! label selector for the GC mark, so the caches hold only Flux's objects.
//! Limited to some namespaces, namespaced kinds are watched in each of them
//! and Namespaces one by one (by name), since an identity bound to those
//! namespaces may watch nothing wider.

use std::collections::BTreeSet;

use flux_core::cluster::Namespaces;

use crate::discovery::{Served, Snapshot};
use crate::export::{WORKLOADS, collected};

/// Where a collection is watched.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// Cluster-wide (all namespaces for a namespaced kind).
    All,
    /// In one namespace.
    Namespace(String),
    /// One cluster-scoped object, by name (an allowed Namespace).
    Named(String),
}

/// Which objects of a collection are watched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// All of them.
    Everything,
    /// Those carrying this label (any value).
    Label(String),
}

/// One collection to watch.
#[derive(Debug, Clone)]
pub struct Spec {
    /// The kind.
    pub served: Served,
    /// Where.
    pub scope: Scope,
    /// Which objects.
    pub selector: Selector,
    /// Whether changes to unmarked objects are worth a notice too
    /// (workloads and namespaces).
    pub notify_all: bool,
}

/// What identifies a collection: apiVersion, plural, scope.
pub type Key = (String, String, Scope);

impl Spec {
    /// Its key.
    pub fn key(&self) -> Key {
        (
            self.served.ar.api_version.clone(),
            self.served.ar.plural.clone(),
            self.scope.clone(),
        )
    }

    /// Whether this is the CustomResourceDefinition collection.
    pub fn is_crds(&self) -> bool {
        is_crd(&self.served)
    }
}

fn is_crd(s: &Served) -> bool {
    s.ar.group == "apiextensions.k8s.io" && s.ar.kind == "CustomResourceDefinition"
}

fn is_namespace(s: &Served) -> bool {
    s.ar.group.is_empty() && s.ar.kind == "Namespace"
}

/// The workload kinds discovery serves, in the export's order.
pub fn workload_kinds(snap: &Snapshot) -> Vec<Served> {
    WORKLOADS
        .iter()
        .filter_map(|(group, kind)| {
            snap.by_kind(kind)
                .iter()
                .find(|s| s.ar.group == *group)
                .cloned()
        })
        .collect()
}

/// The collections to watch.
pub fn plan(snap: &Snapshot, namespaces: &Namespaces, label: &str) -> Vec<Spec> {
    let mut out = Vec::new();
    let mut whole: BTreeSet<(String, String)> = BTreeSet::new();
    let push = |out: &mut Vec<Spec>, served: &Served, selector: Selector, notify_all: bool| {
        let scopes: Vec<Scope> = match namespaces {
            Namespaces::Only(set) if served.namespaced => {
                set.iter().cloned().map(Scope::Namespace).collect()
            }
            Namespaces::Only(set) if is_namespace(served) => {
                set.iter().cloned().map(Scope::Named).collect()
            }
            _ => vec![Scope::All],
        };
        for scope in scopes {
            out.push(Spec {
                served: served.clone(),
                scope,
                selector: selector.clone(),
                notify_all,
            });
        }
    };
    let mut everything: Vec<(Served, bool)> = Vec::new();
    if let Some(ns) = snap.get("", "v1", "Namespace") {
        everything.push((ns.clone(), true));
    }
    everything.extend(workload_kinds(snap).into_iter().map(|s| (s, true)));
    if let Some(crd) = snap.preferred().iter().find(|s| is_crd(s)) {
        everything.push((crd.clone(), false));
    }
    for (served, notify_all) in everything {
        if !(served.listable && served.watchable) {
            continue;
        }
        if whole.insert((served.ar.api_version.clone(), served.ar.plural.clone())) {
            push(&mut out, &served, Selector::Everything, notify_all);
        }
    }
    for served in snap.preferred() {
        if !collected(served) || !served.watchable {
            continue;
        }
        if whole.contains(&(served.ar.api_version.clone(), served.ar.plural.clone())) {
            continue;
        }
        push(&mut out, served, Selector::Label(label.to_owned()), false);
    }
    out
}

/// A spec watching every ConfigMap, for unit tests.
#[cfg(test)]
pub(crate) fn configmaps() -> Spec {
    Spec {
        served: crate::discovery::Served {
            ar: kube::api::ApiResource::erase::<k8s_openapi::api::core::v1::ConfigMap>(&()),
            namespaced: true,
            listable: true,
            watchable: true,
        },
        scope: Scope::All,
        selector: Selector::Everything,
        notify_all: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::api::ApiResource;
    use kube::core::GroupVersionKind;

    fn served(group: &str, version: &str, kind: &str, namespaced: bool) -> Served {
        Served {
            ar: ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, kind)),
            namespaced,
            listable: true,
            watchable: true,
        }
    }

    fn snapshot() -> Snapshot {
        let mut metrics = served("metrics.k8s.io", "v1beta1", "PodMetrics", true);
        metrics.watchable = false;
        Snapshot::from_served(vec![
            served("", "v1", "Namespace", false),
            served("", "v1", "ConfigMap", true),
            served("", "v1", "Event", true),
            served("apps", "v1", "Deployment", true),
            served("rbac.authorization.k8s.io", "v1", "ClusterRole", false),
            served(
                "apiextensions.k8s.io",
                "v1",
                "CustomResourceDefinition",
                false,
            ),
            metrics,
        ])
    }

    fn show(specs: &[Spec]) -> Vec<String> {
        specs
            .iter()
            .map(|s| {
                let sel = match &s.selector {
                    Selector::Everything => "*".to_owned(),
                    Selector::Label(l) => l.clone(),
                };
                format!("{} {:?} {sel}", s.served.ar.kind, s.scope)
            })
            .collect()
    }

    #[test]
    fn everything_for_workloads_namespaces_and_crds_the_mark_for_the_rest() {
        let all = plan(&snapshot(), &Namespaces::All, "mark");
        assert_eq!(
            show(&all),
            [
                "Namespace All *",
                "Deployment All *",
                "CustomResourceDefinition All *",
                "ConfigMap All mark",
                "ClusterRole All mark",
            ],
            "events are never collected; unwatchable kinds are left out"
        );
        let only = plan(&snapshot(), &Namespaces::from_list(&["a", "b"]), "mark");
        assert_eq!(
            show(&only),
            [
                "Namespace Named(\"a\") *",
                "Namespace Named(\"b\") *",
                "Deployment Namespace(\"a\") *",
                "Deployment Namespace(\"b\") *",
                "CustomResourceDefinition All *",
                "ConfigMap Namespace(\"a\") mark",
                "ConfigMap Namespace(\"b\") mark",
                "ClusterRole All mark",
            ]
        );
        assert!(only[4].is_crds() && !only[0].is_crds());
        assert!(only[0].notify_all && only[2].notify_all && !only[4].notify_all);
    }
}
