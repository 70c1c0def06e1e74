//! Recognising objects Flux v1 left behind, so switching from it re-applies
//! only what git changed since Flux v1's last sync.
//!
//! Flux v1 applied with client-side `kubectl apply`, and its checksum
//! annotation is SHA-1 of the document as Go's YAML library re-printed it,
//! which this implementation does not reproduce (it hashes a canonical JSON
//! form instead, see [`checksum`](super::checksum)). So an object Flux v1
//! applied never carries this sync's checksum. What it does carry is
//! kubectl's record of exactly what was applied, the
//! `kubectl.kubernetes.io/last-applied-configuration` annotation: the git
//! document plus its namespace, Flux v1's GC mark and Flux v1's checksum.
//! When that record is what Flux v1 would apply from git today, git has not
//! changed the object since, and it is up to date.

use serde_json::{Map, Value};

use super::live::checksum_of;
use super::mark::{CHECKSUM_ANNOTATION, GC_MARK_LABEL};
use crate::frozen::{Frozen, Node};
use crate::resource::ResourceId;

/// The annotation in which client-side `kubectl apply` records the object it
/// applied (without this annotation), as JSON.
pub const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Whether `live` was last applied by Flux v1 (or by this implementation's
/// predecessors using client-side apply) from exactly `git`: its
/// last-applied record equals `git` with the namespace of `id`, the GC mark
/// `mark` and the checksum the live object carries, and nothing else.
pub(crate) fn applied_from(live: &Frozen, git: &Frozen, id: &ResourceId, mark: &str) -> bool {
    let record = live.pointer(&["metadata", "annotations", LAST_APPLIED_ANNOTATION]);
    let Some(record) = record.and_then(Node::as_str) else {
        return false;
    };
    let Some(sum) = checksum_of(live) else {
        return false;
    };
    let Ok(recorded) = serde_json::from_str::<Value>(record) else {
        return false;
    };
    let Some(expected) = as_flux_v1_applied(&git.to_value(), id, mark, sum) else {
        return false;
    };
    same(&expected, &recorded)
}

/// `git` as Flux v1 applied it: namespace (unless cluster-scoped), GC mark
/// label and checksum annotation merged into its metadata.
fn as_flux_v1_applied(git: &Value, id: &ResourceId, mark: &str, sum: &str) -> Option<Value> {
    let mut object = git.clone();
    let metadata = object.get_mut("metadata")?.as_object_mut()?;
    if let Some(ns) = id.namespace() {
        metadata.insert("namespace".into(), Value::String(ns.to_owned()));
    }
    insert(metadata, "labels", GC_MARK_LABEL, mark)?;
    insert(metadata, "annotations", CHECKSUM_ANNOTATION, sum)?;
    Some(object)
}

fn insert(metadata: &mut Map<String, Value>, map: &str, key: &str, value: &str) -> Option<()> {
    let slot = metadata
        .entry(map)
        .or_insert_with(|| Value::Object(Map::new()));
    if slot.is_null() {
        *slot = Value::Object(Map::new());
    }
    slot.as_object_mut()?
        .insert(key.to_owned(), Value::String(value.to_owned()));
    Some(())
}

/// Equality up to what the trip through Go's YAML library and kubectl
/// changes without changing meaning: numbers compare by value (`1.0` was
/// printed `1`), and a key holding `null` is the same as no key (kubectl
/// records `creationTimestamp: null` for some kinds).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let covered = |x: &Map<String, Value>, y: &Map<String, Value>| {
                x.iter().all(|(k, v)| match y.get(k) {
                    Some(w) => same(v, w),
                    None => v.is_null(),
                })
            };
            covered(x, y) && covered(y, x)
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(v, w)| same(v, w))
        }
        (Value::Number(x), Value::Number(y)) => x == y || x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// [`super::applied_from`] of a live object given as JSON.
    fn applied_from(live: &Value, git: &Value, id: &ResourceId, mark: &str) -> bool {
        let (live, git) = (Frozen::new(live).unwrap(), Frozen::new(git).unwrap());
        super::applied_from(&live, &git, id, mark)
    }

    fn id(s: &str) -> ResourceId {
        s.parse().expect("an ID")
    }

    const MARK: &str = "sha256.mark";
    const SUM: &str = "0123456789abcdef0123456789abcdef01234567";

    /// What the cluster holds after Flux v1 applied `git` to `ns`.
    fn left_by_flux_v1(git: &Value, ns: Option<&str>) -> Value {
        let mut applied = git.clone();
        let m = applied["metadata"].as_object_mut().expect("metadata");
        if let Some(ns) = ns {
            m.insert("namespace".into(), json!(ns));
        }
        m.entry("labels")
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .expect("labels")
            .insert(GC_MARK_LABEL.into(), json!(MARK));
        m.entry("annotations")
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .expect("annotations")
            .insert(CHECKSUM_ANNOTATION.into(), json!(SUM));
        let record = serde_json::to_string(&applied).expect("JSON");
        let mut live = applied;
        live["metadata"]["annotations"][LAST_APPLIED_ANNOTATION] = json!(record);
        live["metadata"]["uid"] = json!("u-1");
        live["status"] = json!({"phase": "Active"});
        live
    }

    fn cm(data: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": "c", "labels": {"app": "x"}}, "data": data})
    }

    #[test]
    fn recognises_what_flux_v1_applied_from_the_same_document() {
        let git = cm(json!({"a": "1", "n": 2.0}));
        let live = left_by_flux_v1(&git, Some("default"));
        assert!(applied_from(&live, &git, &id("default:configmap/c"), MARK));
        // Printed `2` by Go's YAML library: the same number.
        let mut printed = live.clone();
        let record = printed["metadata"]["annotations"][LAST_APPLIED_ANNOTATION]
            .as_str()
            .expect("record")
            .replace("2.0", "2");
        printed["metadata"]["annotations"][LAST_APPLIED_ANNOTATION] = json!(record);
        assert!(applied_from(
            &printed,
            &git,
            &id("default:configmap/c"),
            MARK
        ));
        let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "demo"}});
        let live = left_by_flux_v1(&ns, None);
        assert!(applied_from(
            &live,
            &ns,
            &id("<cluster>:namespace/demo"),
            MARK
        ));
    }

    #[test]
    fn anything_else_is_not_recognised() {
        let git = cm(json!({"a": "1", "b": "2"}));
        let live = left_by_flux_v1(&git, Some("default"));
        let cases: Vec<(&str, Value, &str, &str)> = vec![
            (
                "a field changed",
                cm(json!({"a": "1", "b": "3"})),
                "default:configmap/c",
                MARK,
            ),
            (
                "a field removed",
                cm(json!({"a": "1"})),
                "default:configmap/c",
                MARK,
            ),
            (
                "a field added",
                cm(json!({"a": "1", "b": "2", "c": "3"})),
                "default:configmap/c",
                MARK,
            ),
            ("another namespace", git.clone(), "other:configmap/c", MARK),
            (
                "another mark",
                git.clone(),
                "default:configmap/c",
                "sha256.other",
            ),
        ];
        for (what, git, id_, mark) in cases {
            assert!(!applied_from(&live, &git, &id(id_), mark), "{what}");
        }
        let git = cm(json!({"a": "1", "b": "2"}));
        let ok = id("default:configmap/c");
        // The checksum changed since (someone re-annotated it).
        let mut rewritten = live.clone();
        rewritten["metadata"]["annotations"][CHECKSUM_ANNOTATION] = json!("f00");
        assert!(!applied_from(&rewritten, &git, &ok, MARK));
        // No record, an unreadable one, no checksum.
        for pointer in [LAST_APPLIED_ANNOTATION, CHECKSUM_ANNOTATION] {
            let mut without = live.clone();
            without["metadata"]["annotations"]
                .as_object_mut()
                .expect("annotations")
                .remove(pointer);
            assert!(
                !applied_from(&without, &git, &ok, MARK),
                "without {pointer}"
            );
        }
        let mut garbled = live.clone();
        garbled["metadata"]["annotations"][LAST_APPLIED_ANNOTATION] = json!("{not json");
        assert!(!applied_from(&garbled, &git, &ok, MARK));
    }
}
