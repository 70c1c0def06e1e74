//! Merging an applied configuration into a live object, and removing field
//! paths from an object: the value half of server-side apply.
//!
//! The ownership half (who owns what, conflicts) is in [`crate::managed`].

use std::collections::HashMap;

use serde_json::Value;

use crate::fieldset::{FieldSet, PathElem, list_elem};
use crate::schema::{ListKind, Node};

/// `applied` merged into `live`: objects field by field, keyed lists and
/// sets element by element, anything else replaced.
pub fn merge(live: &Value, applied: &Value, node: &Node) -> Value {
    match (live, applied) {
        (Value::Object(l), Value::Object(a)) if !node.atomic_object() => {
            let mut out = l.clone();
            for (k, av) in a {
                if av.is_null() {
                    out.remove(k);
                    continue;
                }
                let merged = match l.get(k) {
                    Some(lv) => merge(lv, av, node.field(k)),
                    None => strip_nulls(av),
                };
                out.insert(k.clone(), merged);
            }
            Value::Object(out)
        }
        (Value::Array(l), Value::Array(a)) if *node.list_kind() != ListKind::Atomic => {
            Value::Array(merge_list(l, a, node))
        }
        _ => strip_nulls(applied),
    }
}

fn strip_nulls(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), strip_nulls(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(strip_nulls).collect()),
        other => other.clone(),
    }
}

fn merge_list(live: &[Value], applied: &[Value], node: &Node) -> Vec<Value> {
    let kind = node.list_kind();
    let key = |i: usize, v: &Value| list_elem(kind, i, v).ok();
    let live_keys: Vec<Option<PathElem>> =
        live.iter().enumerate().map(|(i, v)| key(i, v)).collect();
    let applied_keys: Vec<Option<PathElem>> =
        applied.iter().enumerate().map(|(i, v)| key(i, v)).collect();
    let live_pos: HashMap<&PathElem, usize> = live_keys
        .iter()
        .enumerate()
        .filter_map(|(i, k)| k.as_ref().map(|k| (k, i)))
        .collect();
    let in_applied: std::collections::HashSet<&PathElem> = applied_keys.iter().flatten().collect();
    let live_only = |i: usize| {
        live_keys[i]
            .as_ref()
            .is_none_or(|k| !in_applied.contains(k))
    };

    let mut out = Vec::with_capacity(live.len() + applied.len());
    let mut next_live = 0;
    for (ai, av) in applied.iter().enumerate() {
        let counterpart = applied_keys[ai]
            .as_ref()
            .and_then(|k| live_pos.get(k))
            .copied();
        if let Some(li) = counterpart {
            // Keep live-only elements that came before this one in place.
            while next_live < li {
                if live_only(next_live) {
                    out.push(live[next_live].clone());
                }
                next_live += 1;
            }
            next_live = next_live.max(li + 1);
            out.push(merge(&live[li], av, node.item()));
        } else {
            out.push(strip_nulls(av));
        }
    }
    while next_live < live.len() {
        if live_only(next_live) {
            out.push(live[next_live].clone());
        }
        next_live += 1;
    }
    out
}

/// Removes every member path of `set` (and everything below it) from
/// `value`.
pub fn remove_paths(value: &mut Value, set: &FieldSet, node: &Node) {
    match value {
        Value::Object(map) => {
            for (pe, child) in set.children() {
                let PathElem::Field(name) = pe else { continue };
                if child.is_member() {
                    map.remove(name);
                } else if let Some(v) = map.get_mut(name) {
                    remove_paths(v, child, node.field(name));
                }
            }
        }
        Value::Array(items) => {
            let kind = node.list_kind();
            let mut drop = vec![false; items.len()];
            for (pe, child) in set.children() {
                for (i, item) in items.iter_mut().enumerate() {
                    let matches = match pe {
                        PathElem::Index(n) => *n == i,
                        _ => list_elem(kind, i, item).is_ok_and(|k| &k == pe),
                    };
                    if !matches {
                        continue;
                    }
                    if child.is_member() {
                        drop[i] = true;
                    } else {
                        remove_paths(item, child, node.item());
                    }
                }
            }
            let mut i = 0;
            items.retain(|_| {
                let keep = !drop[i];
                i += 1;
                keep
            });
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema;
    use serde_json::json;

    #[test]
    fn merge_table() {
        let node = schema::builtin("apps", "Deployment");
        let cases = [
            // scalars replaced, maps merged
            (
                json!({"spec": {"replicas": 3, "paused": true}}),
                json!({"spec": {"replicas": 1}}),
                json!({"spec": {"replicas": 1, "paused": true}}),
            ),
            // keyed list: merged by name, live-only elements kept in place
            (
                json!({"spec": {"template": {"spec": {"containers": [
                    {"name": "sidecar", "image": "s"}, {"name": "app", "image": "a:1", "tty": true}]}}}}),
                json!({"spec": {"template": {"spec": {"containers": [
                    {"name": "app", "image": "a:2"}]}}}}),
                json!({"spec": {"template": {"spec": {"containers": [
                    {"name": "sidecar", "image": "s"}, {"name": "app", "image": "a:2", "tty": true}]}}}}),
            ),
            // atomic list replaced
            (
                json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "args": ["x", "y"]}]}}}}),
                json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "args": ["z"]}]}}}}),
                json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "args": ["z"]}]}}}}),
            ),
            // atomic struct replaced
            (
                json!({"spec": {"selector": {"matchLabels": {"a": "1", "b": "2"}}}}),
                json!({"spec": {"selector": {"matchLabels": {"a": "1"}}}}),
                json!({"spec": {"selector": {"matchLabels": {"a": "1"}}}}),
            ),
            // null removes
            (
                json!({"spec": {"replicas": 3}}),
                json!({"spec": {"replicas": null}}),
                json!({"spec": {}}),
            ),
            // set: union
            (
                json!({"metadata": {"finalizers": ["a", "b"]}}),
                json!({"metadata": {"finalizers": ["c", "a"]}}),
                json!({"metadata": {"finalizers": ["c", "a", "b"]}}),
            ),
        ];
        for (live, applied, want) in cases {
            assert_eq!(merge(&live, &applied, &node), want, "{live} + {applied}");
        }
    }

    #[test]
    fn remove_paths_by_key_and_field() {
        let node = schema::builtin("apps", "Deployment");
        let mut v = json!({"spec": {"replicas": 2, "template": {"spec": {"containers": [
            {"name": "a", "image": "x", "tty": true}, {"name": "b"}]}}}});
        let set = FieldSet::from_fields_v1(&json!({
            "f:spec": {"f:replicas": {}, "f:template": {"f:spec": {"f:containers": {
                "k:{\"name\":\"b\"}": {}, "k:{\"name\":\"a\"}": {"f:tty": {}}}}}}
        }))
        .unwrap();
        remove_paths(&mut v, &set, &node);
        assert_eq!(
            v,
            json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "x"}]}}}})
        );
    }
}
