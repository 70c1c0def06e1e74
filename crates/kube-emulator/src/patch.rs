//! The non-apply patch types: JSON merge patch (RFC 7386), Kubernetes
//! strategic merge patch, and JSON patch (RFC 6902).
//!
//! `kubectl annotate`, `label` and `scale` send merge patches; `kubectl
//! edit`, `set image` and `patch` default to strategic merge patches, whose
//! keyed lists merge by the same keys server-side apply uses.

use serde_json::{Map, Value};

use crate::schema::{ListKind, Node};

/// RFC 7386: objects merge, `null` deletes, anything else replaces.
pub fn merge_patch(target: &Value, patch: &Value) -> Value {
    match patch {
        Value::Object(p) => {
            let mut out = match target {
                Value::Object(t) => t.clone(),
                _ => Map::new(),
            };
            for (k, v) in p {
                if v.is_null() {
                    out.remove(k);
                } else {
                    let merged = merge_patch(out.get(k).unwrap_or(&Value::Null), v);
                    out.insert(k.clone(), merged);
                }
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

/// A Kubernetes strategic merge patch.
pub fn strategic_merge_patch(target: &Value, patch: &Value, node: &Node) -> Result<Value, String> {
    match (target, patch) {
        (_, Value::Object(p)) => {
            let directive = p.get("$patch").and_then(Value::as_str);
            match directive {
                Some("replace") => {
                    let mut rest = p.clone();
                    rest.remove("$patch");
                    return Ok(Value::Object(strip_directives(rest)));
                }
                Some("delete") => return Ok(Value::Null),
                Some(other) if other != "merge" => {
                    return Err(format!("unknown patch type: {other}"));
                }
                _ => {}
            }
            let mut out = match target {
                Value::Object(t) => t.clone(),
                _ => Map::new(),
            };
            if let Some(retain) = p.get("$retainKeys").and_then(Value::as_array) {
                let keep: Vec<&str> = retain.iter().filter_map(Value::as_str).collect();
                out.retain(|k, _| keep.contains(&k.as_str()));
            }
            for (k, v) in p {
                if k.starts_with('$') {
                    continue;
                }
                if v.is_null() {
                    out.remove(k);
                    continue;
                }
                let child = node.field(k);
                let merged = strategic_merge_patch(out.get(k).unwrap_or(&Value::Null), v, child)?;
                if merged.is_null() {
                    out.remove(k);
                } else {
                    out.insert(k.clone(), merged);
                }
            }
            for (k, v) in p {
                if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/")
                    && let (Some(Value::Array(items)), Some(del)) =
                        (out.get_mut(field), v.as_array())
                {
                    items.retain(|x| !del.contains(x));
                }
                if let Some(field) = k.strip_prefix("$setElementOrder/") {
                    let kind = node.field(field).list_kind().clone();
                    if let (Some(Value::Array(items)), Some(order)) =
                        (out.get_mut(field), v.as_array())
                    {
                        reorder(items, order, &kind);
                    }
                }
            }
            Ok(Value::Object(out))
        }
        (Value::Array(t), Value::Array(p)) => patch_list(t, p, node),
        (_, other) => Ok(strip_value(other)),
    }
}

fn strip_directives(m: Map<String, Value>) -> Map<String, Value> {
    m.into_iter()
        .filter(|(k, _)| !k.starts_with('$'))
        .map(|(k, v)| (k, strip_value(&v)))
        .collect()
}

fn strip_value(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(strip_directives(m.clone())),
        Value::Array(a) => Value::Array(a.iter().map(strip_value).collect()),
        other => other.clone(),
    }
}

fn merge_key(kind: &ListKind) -> Option<&str> {
    match kind {
        ListKind::Map { keys, .. } => keys.first().map(String::as_str),
        _ => None,
    }
}

fn patch_list(target: &[Value], patch: &[Value], node: &Node) -> Result<Value, String> {
    let kind = node.list_kind();
    if patch
        .iter()
        .any(|e| e.get("$patch").and_then(Value::as_str) == Some("replace"))
    {
        let rest: Vec<Value> = patch
            .iter()
            .filter(|e| e.get("$patch").is_none())
            .map(strip_value)
            .collect();
        return Ok(Value::Array(rest));
    }
    match kind {
        ListKind::Map { .. } => {
            let key = merge_key(kind).unwrap_or("name");
            let mut out: Vec<Value> = target.to_vec();
            for pe in patch {
                let k = pe.get(key);
                let pos = k.and_then(|k| out.iter().position(|t| t.get(key) == Some(k)));
                let delete = pe.get("$patch").and_then(Value::as_str) == Some("delete");
                match (pos, delete) {
                    (Some(i), true) => {
                        out.remove(i);
                    }
                    (None, true) => {}
                    (Some(i), false) => {
                        out[i] = strategic_merge_patch(&out[i], pe, node.item())?;
                    }
                    (None, false) => out.push(strip_value(pe)),
                }
            }
            Ok(Value::Array(out))
        }
        ListKind::Set => {
            let mut out = target.to_vec();
            for v in patch {
                if !out.contains(v) {
                    out.push(v.clone());
                }
            }
            Ok(Value::Array(out))
        }
        ListKind::Atomic => Ok(Value::Array(patch.iter().map(strip_value).collect())),
    }
}

fn reorder(items: &mut Vec<Value>, order: &[Value], kind: &ListKind) {
    let key = merge_key(kind);
    let ident = |v: &Value| -> Value {
        match key {
            Some(k) => v.get(k).cloned().unwrap_or(Value::Null),
            None => v.clone(),
        }
    };
    let mut ordered = Vec::with_capacity(items.len());
    let mut rest: Vec<Value> = std::mem::take(items);
    for o in order {
        let want = ident(o);
        if let Some(i) = rest.iter().position(|x| ident(x) == want) {
            ordered.push(rest.remove(i));
        }
    }
    ordered.extend(rest);
    *items = ordered;
}

/// RFC 6902 JSON patch.
pub fn json_patch(target: &Value, ops: &Value) -> Result<Value, String> {
    let ops = ops
        .as_array()
        .ok_or("a JSON patch must be a list of operations")?;
    let mut doc = target.clone();
    for (i, op) in ops.iter().enumerate() {
        let name = op
            .get("op")
            .and_then(Value::as_str)
            .ok_or(format!("operation {i}: missing op"))?;
        let path = op
            .get("path")
            .and_then(Value::as_str)
            .ok_or(format!("operation {i}: missing path"))?;
        let value = || {
            op.get("value")
                .cloned()
                .ok_or(format!("operation {i}: missing value"))
        };
        let from = || {
            op.get("from")
                .and_then(Value::as_str)
                .ok_or(format!("operation {i}: missing from"))
        };
        match name {
            "add" => add(&mut doc, path, value()?)?,
            "remove" => {
                remove(&mut doc, path)?;
            }
            "replace" => {
                remove(&mut doc, path)?;
                add(&mut doc, path, value()?)?;
            }
            "move" => {
                let v = remove(&mut doc, from()?)?;
                add(&mut doc, path, v)?;
            }
            "copy" => {
                let v = doc
                    .pointer(from()?)
                    .cloned()
                    .ok_or(format!("operation {i}: from not found"))?;
                add(&mut doc, path, v)?;
            }
            "test" => {
                if doc.pointer(path) != Some(&value()?) {
                    return Err(format!("operation {i}: test failed at {path}"));
                }
            }
            other => return Err(format!("operation {i}: unknown op {other:?}")),
        }
    }
    Ok(doc)
}

fn split_pointer(path: &str) -> Result<(String, String), String> {
    let idx = path
        .rfind('/')
        .ok_or(format!("invalid JSON pointer {path:?}"))?;
    let last = path[idx + 1..].replace("~1", "/").replace("~0", "~");
    Ok((path[..idx].to_owned(), last))
}

fn add(doc: &mut Value, path: &str, v: Value) -> Result<(), String> {
    if path.is_empty() {
        *doc = v;
        return Ok(());
    }
    let (parent, last) = split_pointer(path)?;
    match doc.pointer_mut(&parent) {
        Some(Value::Object(m)) => {
            m.insert(last, v);
            Ok(())
        }
        Some(Value::Array(a)) => {
            if last == "-" {
                a.push(v);
                return Ok(());
            }
            let i: usize = last
                .parse()
                .map_err(|_| format!("invalid index in {path:?}"))?;
            if i > a.len() {
                return Err(format!("index out of range in {path:?}"));
            }
            a.insert(i, v);
            Ok(())
        }
        _ => Err(format!("doc is missing path: {path:?}")),
    }
}

fn remove(doc: &mut Value, path: &str) -> Result<Value, String> {
    let (parent, last) = split_pointer(path)?;
    match doc.pointer_mut(&parent) {
        Some(Value::Object(m)) => m
            .remove(&last)
            .ok_or(format!("doc is missing path: {path:?}")),
        Some(Value::Array(a)) => {
            let i: usize = last
                .parse()
                .map_err(|_| format!("invalid index in {path:?}"))?;
            if i >= a.len() {
                return Err(format!("index out of range in {path:?}"));
            }
            Ok(a.remove(i))
        }
        _ => Err(format!("doc is missing path: {path:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema;
    use serde_json::json;

    #[test]
    fn merge_patch_table() {
        let cases = [
            (
                json!({"a": 1, "b": {"c": 2}}),
                json!({"b": {"d": 3}}),
                json!({"a": 1, "b": {"c": 2, "d": 3}}),
            ),
            (json!({"a": 1, "b": 2}), json!({"a": null}), json!({"b": 2})),
            (json!({"l": [1, 2]}), json!({"l": [3]}), json!({"l": [3]})),
            (
                json!({"a": 1}),
                json!({"metadata": {"annotations": {"x": "y"}}}),
                json!({"a": 1, "metadata": {"annotations": {"x": "y"}}}),
            ),
        ];
        for (t, p, want) in cases {
            assert_eq!(merge_patch(&t, &p), want, "{t} + {p}");
        }
    }

    #[test]
    fn strategic_merge_patch_table() {
        let node = schema::builtin("apps", "Deployment");
        let live = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "a", "image": "a:1"}, {"name": "b", "image": "b:1"}]}}}});
        let cases = [
            // set image merges by name
            (
                json!({"spec": {"template": {"spec": {"containers": [{"name": "b", "image": "b:2"}]}}}}),
                json!({"spec": {"template": {"spec": {"containers": [
                    {"name": "a", "image": "a:1"}, {"name": "b", "image": "b:2"}]}}}}),
            ),
            // delete directive
            (
                json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "$patch": "delete"}]}}}}),
                json!({"spec": {"template": {"spec": {"containers": [{"name": "b", "image": "b:1"}]}}}}),
            ),
            // element order
            (
                json!({"spec": {"template": {"spec": {"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}]}}}}),
                json!({"spec": {"template": {"spec": {"containers": [
                    {"name": "b", "image": "b:1"}, {"name": "a", "image": "a:1"}]}}}}),
            ),
            // replace directive on a list
            (
                json!({"spec": {"template": {"spec": {"containers": [{"$patch": "replace"}, {"name": "c"}]}}}}),
                json!({"spec": {"template": {"spec": {"containers": [{"name": "c"}]}}}}),
            ),
        ];
        for (p, want) in cases {
            assert_eq!(
                strategic_merge_patch(&live, &p, &node).unwrap(),
                want,
                "{p}"
            );
        }
    }

    #[test]
    fn json_patch_ops() {
        let doc = json!({"a": [1, 2], "b": {"c": 1}});
        let ops = json!([
            {"op": "add", "path": "/a/-", "value": 3},
            {"op": "replace", "path": "/b/c", "value": 2},
            {"op": "add", "path": "/b/d~1e", "value": true},
            {"op": "remove", "path": "/a/0"},
            {"op": "test", "path": "/b/c", "value": 2},
            {"op": "copy", "from": "/b/c", "path": "/x"},
            {"op": "move", "from": "/x", "path": "/y"}
        ]);
        assert_eq!(
            json_patch(&doc, &ops).unwrap(),
            json!({"a": [2, 3], "b": {"c": 2, "d/e": true}, "y": 2})
        );
        assert!(json_patch(&doc, &json!([{"op": "remove", "path": "/nope"}])).is_err());
        assert!(json_patch(&doc, &json!([{"op": "test", "path": "/a/0", "value": 9}])).is_err());
    }
}
