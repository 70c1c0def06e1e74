//! Overlap between sync sets: the same resource defined by two sources of
//! one daemon. Applying it from both would make them fight (each apply
//! overwriting the other's, each GC mark claiming it), so neither applies
//! it: this module finds such resources, and the planner skips what
//! [`SyncOptions::overlaps`](super::SyncOptions::overlaps) lists.
//!
//! Only resources a source may touch count (those its allowed namespaces
//! admit, by [`allows`](super::allows)): a resource a source would skip
//! anyway is no overlap.

use std::collections::BTreeMap;

use crate::cluster::Namespaces;
use crate::manifest::Manifests;
use crate::resource::ResourceId;

/// For each source that has overlaps: each overlapping resource, with the
/// other sources defining it (sorted by name).
pub type Overlaps = BTreeMap<String, BTreeMap<ResourceId, Vec<String>>>;

/// One source as overlap detection sees it.
#[derive(Debug, Clone, Copy)]
pub struct SetView<'a> {
    /// The source's name.
    pub name: &'a str,
    /// Its manifests (the last ones read).
    pub manifests: &'a Manifests,
    /// The namespaces it may touch.
    pub namespaces: &'a Namespaces,
}

/// Finds the resources that more than one source defines (within the
/// namespaces each may touch). Sources without overlaps are absent from
/// the result; names are expected to be distinct.
///
/// ```
/// use flux_core::Namespaces;
/// use flux_core::ScopeTable;
/// use flux_core::manifest::{FileSet, LoadOptions, parse_files};
/// use flux_core::sync::{SetView, find_overlaps};
///
/// let load = |yaml: &str| {
///     let mut files = FileSet::new();
///     files.insert("a.yaml", yaml);
///     parse_files(&files, &["".into()], &ScopeTable::builtin(), &LoadOptions::default()).unwrap()
/// };
/// let a = load("kind: ConfigMap\napiVersion: v1\nmetadata: {name: shared, namespace: x}\n");
/// let b = load("kind: ConfigMap\napiVersion: v1\nmetadata: {name: shared, namespace: x}\n");
/// let all = Namespaces::All;
/// let found = find_overlaps(&[
///     SetView { name: "a", manifests: &a, namespaces: &all },
///     SetView { name: "b", manifests: &b, namespaces: &all },
/// ]);
/// let id = "x:configmap/shared".parse().unwrap();
/// assert_eq!(found["a"][&id], vec!["b".to_owned()]);
/// assert_eq!(found["b"][&id], vec!["a".to_owned()]);
/// ```
pub fn find_overlaps(sets: &[SetView<'_>]) -> Overlaps {
    let mut owners: BTreeMap<&ResourceId, Vec<&str>> = BTreeMap::new();
    for set in sets {
        for id in set.manifests.resources.keys() {
            if super::allows(set.namespaces, id) {
                owners.entry(id).or_default().push(set.name);
            }
        }
    }
    let mut out = Overlaps::new();
    for (id, names) in owners.into_iter().filter(|(_, n)| n.len() > 1) {
        for name in &names {
            let mut others: Vec<String> = names
                .iter()
                .filter(|n| *n != name)
                .map(|n| (*n).to_owned())
                .collect();
            others.sort();
            others.dedup();
            out.entry((*name).to_owned())
                .or_default()
                .insert(id.clone(), others);
        }
    }
    out
}

/// The overlaps of one source only: each resource `set` defines (within
/// its namespaces) that one of `others` defines too (within theirs), with
/// those sources' names, sorted. The same as `set`'s entry of
/// [`find_overlaps`] over `set` and `others`, but it looks up only `set`'s
/// resources in each other set instead of indexing every set: a daemon
/// with many sources runs it at each source's sync.
pub fn overlaps_of(set: &SetView<'_>, others: &[SetView<'_>]) -> BTreeMap<ResourceId, Vec<String>> {
    let mut out: BTreeMap<ResourceId, Vec<String>> = BTreeMap::new();
    for id in set.manifests.resources.keys() {
        if !super::allows(set.namespaces, id) {
            continue;
        }
        for other in others.iter().filter(|o| o.name != set.name) {
            if other.manifests.resources.contains_key(id) && super::allows(other.namespaces, id) {
                out.entry(id.clone())
                    .or_default()
                    .push(other.name.to_owned());
            }
        }
    }
    for names in out.values_mut() {
        names.sort();
        names.dedup();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ScopeTable;
    use crate::manifest::{FileSet, LoadOptions, parse_files};

    fn manifests(docs: &[(&str, &str)]) -> Manifests {
        let mut files = FileSet::new();
        let mut text = String::new();
        for (ns, name) in docs {
            text.push_str(&format!(
                "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}, namespace: \"{ns}\"}}\n"
            ));
        }
        files.insert("all.yaml", text);
        parse_files(
            &files,
            &["".into()],
            &ScopeTable::builtin(),
            &LoadOptions::default(),
        )
        .expect("test manifests parse")
    }

    #[test]
    fn three_sources_one_shared_resource() {
        let a = manifests(&[("x", "only-a"), ("x", "shared")]);
        let b = manifests(&[("x", "shared"), ("y", "only-b")]);
        let c = manifests(&[("x", "shared"), ("y", "b-and-c"), ("y", "only-b2")]);
        let b2 = manifests(&[("y", "b-and-c")]);
        let all = Namespaces::All;
        let found = find_overlaps(&[
            SetView {
                name: "c",
                manifests: &c,
                namespaces: &all,
            },
            SetView {
                name: "a",
                manifests: &a,
                namespaces: &all,
            },
            SetView {
                name: "b",
                manifests: &b,
                namespaces: &all,
            },
            SetView {
                name: "d",
                manifests: &b2,
                namespaces: &all,
            },
        ]);
        let shared: ResourceId = "x:configmap/shared".parse().unwrap();
        let bc: ResourceId = "y:configmap/b-and-c".parse().unwrap();
        assert_eq!(found["a"].len(), 1);
        assert_eq!(found["a"][&shared], ["b", "c"]);
        assert_eq!(found["b"][&shared], ["a", "c"]);
        assert_eq!(found["c"][&shared], ["a", "b"]);
        assert_eq!(found["c"][&bc], ["d"]);
        assert_eq!(found["d"][&bc], ["c"]);
        assert_eq!(found["d"].len(), 1);
        // Each source's own view agrees.
        let views = [("a", &a), ("b", &b), ("c", &c), ("d", &b2)].map(|(name, m)| SetView {
            name,
            manifests: m,
            namespaces: &all,
        });
        for (k, set) in views.iter().enumerate() {
            let others: Vec<SetView<'_>> = views
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != k)
                .map(|(_, v)| *v)
                .collect();
            assert_eq!(overlaps_of(set, &others), found[set.name], "{}", set.name);
        }
    }

    #[test]
    fn a_resource_outside_a_sources_namespaces_is_no_overlap() {
        let a = manifests(&[("x", "shared")]);
        let b = manifests(&[("x", "shared")]);
        let only_y = Namespaces::from_list(&["y"]);
        let all = Namespaces::All;
        let found = find_overlaps(&[
            SetView {
                name: "a",
                manifests: &a,
                namespaces: &all,
            },
            SetView {
                name: "b",
                manifests: &b,
                namespaces: &only_y,
            },
        ]);
        assert!(found.is_empty(), "{found:?}");
        let view = |name, manifests, namespaces| SetView {
            name,
            manifests,
            namespaces,
        };
        assert!(overlaps_of(&view("a", &a, &all), &[view("b", &b, &only_y)]).is_empty());
        assert!(overlaps_of(&view("b", &b, &only_y), &[view("a", &a, &all)]).is_empty());
    }

    #[test]
    fn the_planner_skips_overlaps_and_gc_keeps_them() {
        use crate::sync::{GcMode, SkipReason, SyncOptions, SyncSetName, plan_sync};
        let a = manifests(&[("x", "shared"), ("x", "mine")]);
        let mut options = SyncOptions::new(SyncSetName::new("a"));
        options.gc = GcMode::On;
        let shared: ResourceId = "x:configmap/shared".parse().unwrap();
        options.overlaps.insert(shared.clone(), vec!["b".into()]);
        // Both were applied by `a` before the overlap: the live copies carry
        // its mark. `stale` is gone from git, so GC would take it.
        let live: Vec<crate::cluster::LiveObject> = ["shared", "mine", "stale"]
            .into_iter()
            .map(|name| {
                let id: ResourceId = format!("x:configmap/{name}").parse().unwrap();
                let mark = options.sync_set.gc_mark(&id);
                let object = serde_json::json!({
                    "apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": name, "namespace": "x",
                                 "labels": {crate::sync::GC_MARK_LABEL: mark}},
                });
                crate::cluster::LiveObject::new(id, &object).unwrap()
            })
            .collect();
        let plan = plan_sync(&a, &live, &options);
        assert_eq!(
            plan.skip_reason(&shared),
            Some(&SkipReason::Overlap {
                sources: vec!["b".into()]
            })
        );
        let applied: Vec<_> = plan.applies().map(|o| o.id.to_string()).collect();
        assert_eq!(applied, ["x:configmap/mine"]);
        let deletes: Vec<_> = plan.gc.to_delete().iter().map(|i| i.to_string()).collect();
        assert_eq!(
            deletes,
            ["x:configmap/stale"],
            "the overlapping one is kept"
        );
    }
}
