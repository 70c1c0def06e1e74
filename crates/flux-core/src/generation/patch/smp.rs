//! Two-way strategic-merge patches of one object: making one from an
//! original and a modified object, and applying one.
//!
//! The directives are Kubernetes': `null` deletes a key; lists with a merge
//! key are merged item by item, `$patch: delete` removing an item and
//! `$setElementOrder/<list>` giving the final order; scalar lists with a
//! merge strategy take `$deleteFromPrimitiveList/<list>`; `$patch: replace`
//! replaces a mapping or list, `$retainKeys` drops the keys not listed. For
//! kinds Kubernetes does not define, patches are JSON merge patches (RFC
//! 7386), as Flux v1 made them. Making then applying a patch gives the
//! modified object back (property-tested), with keys whose value is `null`
//! left out.

use serde_json::{Map, Value};

use super::strategy::{ListStrategy, is_builtin, list_strategy};

const PATCH: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const SET_ORDER: &str = "$setElementOrder/";
const DELETE_PRIMITIVE: &str = "$deleteFromPrimitiveList/";

/// How the object's lists merge.
#[derive(Clone, Copy)]
struct Schema<'a> {
    /// `None` for a JSON merge patch.
    kind: Option<&'a str>,
}

impl<'a> Schema<'a> {
    fn of(object: &'a Value) -> Self {
        let api_version = object["apiVersion"].as_str().unwrap_or_default();
        let kind = object["kind"].as_str().unwrap_or_default();
        Schema {
            kind: is_builtin(api_version).then_some(kind),
        }
    }

    fn list(&self, path: &[&str]) -> ListStrategy {
        match self.kind {
            Some(kind) => list_strategy(kind, path),
            None => ListStrategy::Replace,
        }
    }
}

/// The patch taking `original` to `modified` (an empty mapping when they
/// are the same).
pub(crate) fn create(original: &Value, modified: &Value) -> Map<String, Value> {
    let schema = Schema::of(original);
    match (original, modified) {
        (Value::Object(o), Value::Object(m)) => diff_map(o, m, &mut Vec::new(), schema),
        _ => Map::new(),
    }
}

fn diff_map<'p>(
    original: &Map<String, Value>,
    modified: &'p Map<String, Value>,
    path: &mut Vec<&'p str>,
    schema: Schema<'_>,
) -> Map<String, Value> {
    let mut patch = Map::new();
    for (key, m) in modified {
        let Some(o) = original.get(key) else {
            patch.insert(key.clone(), m.clone());
            continue;
        };
        if o == m {
            continue;
        }
        path.push(key);
        match (o, m) {
            (Value::Object(o), Value::Object(m)) => {
                let d = diff_map(o, m, path, schema);
                if !d.is_empty() {
                    patch.insert(key.clone(), Value::Object(d));
                }
            }
            (Value::Array(o), Value::Array(m)) => {
                diff_list(key, o, m, path, schema, &mut patch);
            }
            _ => {
                patch.insert(key.clone(), m.clone());
            }
        }
        path.pop();
    }
    for key in original.keys() {
        if !modified.contains_key(key) {
            patch.insert(key.clone(), Value::Null);
        }
    }
    patch
}

/// The merge key of every item, if all are mappings with distinct scalar
/// keys.
fn keyed<'v>(items: &'v [Value], key: &str) -> Option<Vec<&'v Value>> {
    let mut keys: Vec<&Value> = Vec::with_capacity(items.len());
    for item in items {
        let k = item.as_object()?.get(key)?;
        if k.is_object() || k.is_array() || k.is_null() || keys.contains(&k) {
            return None;
        }
        keys.push(k);
    }
    Some(keys)
}

fn distinct_scalars(items: &[Value]) -> bool {
    items
        .iter()
        .enumerate()
        .all(|(i, v)| !v.is_object() && !v.is_array() && !items[..i].contains(v))
}

fn diff_list<'p>(
    field: &str,
    original: &[Value],
    modified: &'p [Value],
    path: &mut Vec<&'p str>,
    schema: Schema<'_>,
    patch: &mut Map<String, Value>,
) {
    let strategy = schema.list(path);
    let replace = |patch: &mut Map<String, Value>| {
        let mut items = Vec::with_capacity(modified.len() + 1);
        if strategy != ListStrategy::Replace {
            // A merging list that cannot merge (items without distinct
            // keys): say that the list is replaced.
            let mut directive = Map::new();
            directive.insert(PATCH.to_owned(), Value::String("replace".into()));
            items.push(Value::Object(directive));
        }
        items.extend(modified.iter().cloned());
        patch.insert(field.to_owned(), Value::Array(items));
    };
    match strategy {
        ListStrategy::Replace => replace(patch),
        ListStrategy::MergeByKey(merge_key) => {
            let (Some(okeys), Some(mkeys)) =
                (keyed(original, merge_key), keyed(modified, merge_key))
            else {
                return replace(patch);
            };
            let mut items = Vec::new();
            for (m, mk) in modified.iter().zip(&mkeys) {
                match okeys.iter().position(|k| k == mk) {
                    Some(i) => {
                        let (Value::Object(o), Value::Object(mm)) = (&original[i], m) else {
                            continue;
                        };
                        let mut d = diff_map(o, mm, path, schema);
                        if !d.is_empty() {
                            d.insert(merge_key.to_owned(), (*mk).clone());
                            items.push(Value::Object(d));
                        }
                    }
                    None => items.push(m.clone()),
                }
            }
            for ok in &okeys {
                if !mkeys.contains(ok) {
                    let mut d = Map::new();
                    d.insert(merge_key.to_owned(), (*ok).clone());
                    d.insert(PATCH.to_owned(), Value::String("delete".into()));
                    items.push(Value::Object(d));
                }
            }
            let kept: Vec<&&Value> = okeys.iter().filter(|k| mkeys.contains(k)).collect();
            let common: Vec<&&Value> = mkeys.iter().filter(|k| okeys.contains(k)).collect();
            if items.is_empty() && kept == common {
                return;
            }
            let order = mkeys
                .iter()
                .map(|k| {
                    let mut m = Map::new();
                    m.insert(merge_key.to_owned(), (*k).clone());
                    Value::Object(m)
                })
                .collect();
            patch.insert(format!("{SET_ORDER}{field}"), Value::Array(order));
            if !items.is_empty() {
                patch.insert(field.to_owned(), Value::Array(items));
            }
        }
        ListStrategy::MergePrimitive => {
            if !distinct_scalars(original) || !distinct_scalars(modified) {
                return replace(patch);
            }
            let added: Vec<Value> = modified
                .iter()
                .filter(|v| !original.contains(v))
                .cloned()
                .collect();
            let removed: Vec<Value> = original
                .iter()
                .filter(|v| !modified.contains(v))
                .cloned()
                .collect();
            if !added.is_empty() {
                patch.insert(field.to_owned(), Value::Array(added));
            }
            if !removed.is_empty() {
                patch.insert(format!("{DELETE_PRIMITIVE}{field}"), Value::Array(removed));
            }
            patch.insert(
                format!("{SET_ORDER}{field}"),
                Value::Array(modified.to_vec()),
            );
        }
    }
}

/// Applies `patch` to `original`.
pub(crate) fn apply(original: &Value, patch: &Map<String, Value>) -> Result<Value, String> {
    let schema = Schema::of(original);
    let empty = Map::new();
    let o = original.as_object().unwrap_or(&empty);
    match merge_map(o, patch, &mut Vec::new(), schema)? {
        Some(m) => Ok(Value::Object(m)),
        None => Err("the patch deletes the whole object ($patch: delete)".into()),
    }
}

fn directive_free(value: &Value, schema: Schema<'_>) -> Result<Value, String> {
    match value {
        Value::Object(m) if schema.kind.is_some() => {
            Ok(merge_map(&Map::new(), m, &mut Vec::new(), schema)?
                .map_or(Value::Null, Value::Object))
        }
        other => Ok(other.clone()),
    }
}

/// Merges a patch mapping into an original one; `None` deletes it.
fn merge_map<'p>(
    original: &Map<String, Value>,
    patch: &'p Map<String, Value>,
    path: &mut Vec<&'p str>,
    schema: Schema<'_>,
) -> Result<Option<Map<String, Value>>, String> {
    let smp = schema.kind.is_some();
    let mut result = original.clone();
    if smp {
        match patch.get(PATCH).map(|v| v.as_str()) {
            None | Some(Some("merge")) => {}
            Some(Some("delete")) => return Ok(None),
            Some(Some("replace")) => {
                let mut rest = patch.clone();
                rest.remove(PATCH);
                let mut inner: Vec<&str> = path.clone();
                return merge_map(&Map::new(), &rest, &mut inner, schema);
            }
            Some(_) => {
                return Err(format!(
                    "{}: unknown $patch directive {}",
                    show(path),
                    patch[PATCH]
                ));
            }
        }
    }
    for (key, p) in patch {
        if smp && key.starts_with('$') {
            continue;
        }
        if p.is_null() {
            result.remove(key);
            continue;
        }
        path.push(key);
        let merged = match (result.get(key), p) {
            (o, Value::Object(pm)) => {
                let empty = Map::new();
                let om = match o {
                    Some(Value::Object(om)) => om,
                    _ => &empty,
                };
                merge_map(om, pm, path, schema)?.map(Value::Object)
            }
            (o, Value::Array(pa)) if smp => {
                let empty = Vec::new();
                let oa = match o {
                    Some(Value::Array(oa)) => oa,
                    _ => &empty,
                };
                Some(merge_list(
                    oa,
                    pa,
                    patch.get(&format!("{SET_ORDER}{key}")),
                    path,
                    schema,
                )?)
            }
            (_, other) => Some(other.clone()),
        };
        path.pop();
        match merged {
            Some(v) => result.insert(key.clone(), v),
            None => result.remove(key),
        };
    }
    if smp {
        for (key, p) in patch {
            if let Some(field) = key.strip_prefix(DELETE_PRIMITIVE) {
                let remove = p
                    .as_array()
                    .ok_or_else(|| format!("{}: {key} must be a list", show(path)))?;
                if let Some(Value::Array(list)) = result.get_mut(field) {
                    list.retain(|v| !remove.contains(v));
                }
            } else if let Some(field) = key.strip_prefix(SET_ORDER)
                && !patch.contains_key(field)
            {
                path.push(field);
                let strategy = schema.list(path);
                path.pop();
                if let Some(Value::Array(list)) = result.get_mut(field) {
                    reorder(list, p, strategy);
                }
            }
        }
        if let Some(keep) = patch.get(RETAIN_KEYS) {
            let keep = keep
                .as_array()
                .ok_or_else(|| format!("{}: $retainKeys must be a list", show(path)))?;
            result
                .retain(|k, _| keep.iter().any(|v| v.as_str() == Some(k)) || patch.contains_key(k));
        }
    }
    Ok(Some(result))
}

fn merge_list<'p>(
    original: &[Value],
    patch: &'p [Value],
    order: Option<&Value>,
    path: &mut Vec<&'p str>,
    schema: Schema<'_>,
) -> Result<Value, String> {
    let strategy = schema.list(path);
    let replace_all = patch
        .iter()
        .any(|p| p.get(PATCH).and_then(Value::as_str) == Some("replace"));
    if replace_all {
        let items = patch
            .iter()
            .filter(|p| p.get(PATCH).and_then(Value::as_str) != Some("replace"))
            .map(|p| directive_free(p, schema))
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(Value::Array(items));
    }
    let mut result: Vec<Value> = original.to_vec();
    match strategy {
        ListStrategy::Replace => {
            result = patch
                .iter()
                .map(|p| directive_free(p, schema))
                .collect::<Result<_, _>>()?;
        }
        ListStrategy::MergeByKey(merge_key) => {
            for p in patch {
                let Some(pm) = p.as_object() else {
                    return Err(format!("{}: item {p} is not a mapping", show(path)));
                };
                let Some(k) = pm.get(merge_key) else {
                    return Err(format!(
                        "{}: item has no merge key {merge_key:?}",
                        show(path)
                    ));
                };
                let at = result.iter().position(|o| o.get(merge_key) == Some(k));
                if pm.get(PATCH).and_then(Value::as_str) == Some("delete") {
                    result.retain(|o| o.get(merge_key) != Some(k));
                    continue;
                }
                let empty = Map::new();
                let om = match at.map(|i| &result[i]) {
                    Some(Value::Object(om)) => om,
                    _ => &empty,
                };
                let merged = merge_map(om, pm, path, schema)?;
                match (at, merged) {
                    (Some(i), Some(m)) => result[i] = Value::Object(m),
                    (Some(i), None) => {
                        result.remove(i);
                    }
                    (None, Some(m)) => result.push(Value::Object(m)),
                    (None, None) => {}
                }
            }
        }
        ListStrategy::MergePrimitive => {
            for p in patch {
                if !result.contains(p) {
                    result.push(p.clone());
                }
            }
        }
    }
    if let Some(order) = order {
        reorder(&mut result, order, strategy);
    }
    Ok(Value::Array(result))
}

/// Puts the items named by `order` first, in its order; the rest keep
/// their order after them.
fn reorder(list: &mut Vec<Value>, order: &Value, strategy: ListStrategy) {
    let Some(order) = order.as_array() else {
        return;
    };
    let key_of = |v: &Value| -> Option<Value> {
        match strategy {
            ListStrategy::MergeByKey(k) => v.get(k).cloned(),
            _ => Some(v.clone()),
        }
    };
    let wanted: Vec<Value> = order.iter().filter_map(key_of).collect();
    let mut rest = std::mem::take(list);
    for w in &wanted {
        if let Some(i) = rest.iter().position(|v| key_of(v).as_ref() == Some(w)) {
            list.push(rest.remove(i));
        }
    }
    list.append(&mut rest);
}

fn show(path: &[&str]) -> String {
    if path.is_empty() {
        "(the object)".into()
    } else {
        path.join(".")
    }
}

#[cfg(test)]
mod tests;
