//! Sets of field paths: what each manager owns (`managedFields`), what an
//! applied configuration specifies, and what changed between two objects.
//!
//! The encoding is the API server's `FieldsV1`: `f:<name>` for a field,
//! `k:<json>` for an element of a keyed list, `v:<json>` for an element of a
//! set, `i:<index>` for an element of any other list, and `.` marking that a
//! path with children is itself a member.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Map, Value};

use crate::schema::{ListKind, Node};

/// One step of a field path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PathElem {
    /// A field of an object.
    Field(String),
    /// An element of a keyed list, by its key fields (canonical JSON object).
    Key(String),
    /// An element of a set, by value (canonical JSON).
    Value(String),
    /// An element of a list, by position.
    Index(usize),
}

impl PathElem {
    /// The `FieldsV1` spelling.
    pub fn encode(&self) -> String {
        match self {
            PathElem::Field(f) => format!("f:{f}"),
            PathElem::Key(k) => format!("k:{k}"),
            PathElem::Value(v) => format!("v:{v}"),
            PathElem::Index(i) => format!("i:{i}"),
        }
    }

    fn decode(s: &str) -> Result<PathElem, String> {
        let (tag, rest) = s
            .split_once(':')
            .ok_or_else(|| format!("invalid FieldsV1 key {s:?}"))?;
        match tag {
            "f" => Ok(PathElem::Field(rest.to_owned())),
            "k" => {
                let v: Value =
                    serde_json::from_str(rest).map_err(|e| format!("invalid key {s:?}: {e}"))?;
                Ok(PathElem::Key(canonical(&v)))
            }
            "v" => {
                let v: Value =
                    serde_json::from_str(rest).map_err(|e| format!("invalid value {s:?}: {e}"))?;
                Ok(PathElem::Value(canonical(&v)))
            }
            "i" => rest
                .parse()
                .map(PathElem::Index)
                .map_err(|_| format!("invalid index {s:?}")),
            _ => Err(format!("invalid FieldsV1 key {s:?}")),
        }
    }
}

impl fmt::Display for PathElem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathElem::Field(x) => write!(f, ".{x}"),
            PathElem::Key(k) => {
                // [name="app",port=80], as the API server prints keys.
                let v: Value = serde_json::from_str(k).unwrap_or(Value::Null);
                let parts: Vec<String> = v
                    .as_object()
                    .map(|m| m.iter().map(|(k, v)| format!("{k}={v}")).collect())
                    .unwrap_or_default();
                write!(f, "[{}]", parts.join(","))
            }
            PathElem::Value(v) => write!(f, "[={v}]"),
            PathElem::Index(i) => write!(f, "[{i}]"),
        }
    }
}

/// Canonical JSON text of a value (object keys sorted, compact).
pub fn canonical(v: &Value) -> String {
    // serde_json's Map is ordered by key, so to_string is canonical.
    v.to_string()
}

/// A set of field paths, as a tree.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldSet {
    member: bool,
    children: BTreeMap<PathElem, FieldSet>,
}

impl FieldSet {
    /// The empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether the set holds no path.
    pub fn is_empty(&self) -> bool {
        !self.member && self.children.values().all(FieldSet::is_empty)
    }

    /// Adds `path`.
    pub fn insert(&mut self, path: &[PathElem]) {
        let mut node = self;
        for pe in path {
            node = node.children.entry(pe.clone()).or_default();
        }
        node.member = true;
    }

    /// Makes `path` a non-member, keeping what is below it.
    pub fn unmark(&mut self, path: &[PathElem]) {
        let mut node = self;
        for pe in path {
            match node.children.get_mut(pe) {
                Some(n) => node = n,
                None => return,
            }
        }
        node.member = false;
    }

    /// Whether `path` is a member.
    #[cfg(test)]
    pub fn contains(&self, path: &[PathElem]) -> bool {
        let mut node = self;
        for pe in path {
            match node.children.get(pe) {
                Some(n) => node = n,
                None => return false,
            }
        }
        node.member
    }

    /// Whether this node is itself a member.
    pub fn is_member(&self) -> bool {
        self.member
    }

    /// The children of this node.
    pub fn children(&self) -> impl Iterator<Item = (&PathElem, &FieldSet)> {
        self.children.iter()
    }

    /// Adds every path of `other`.
    pub fn union_with(&mut self, other: &FieldSet) {
        self.member |= other.member;
        for (pe, child) in &other.children {
            self.children
                .entry(pe.clone())
                .or_default()
                .union_with(child);
        }
    }

    /// The paths of `self` that are not in `other`.
    pub fn difference(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet {
            member: self.member && !other.member,
            children: BTreeMap::new(),
        };
        for (pe, child) in &self.children {
            let d = match other.children.get(pe) {
                Some(o) => child.difference(o),
                None => child.clone(),
            };
            if !d.is_empty() {
                out.children.insert(pe.clone(), d);
            }
        }
        out
    }

    /// The paths in both sets.
    pub fn intersection(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet {
            member: self.member && other.member,
            children: BTreeMap::new(),
        };
        for (pe, child) in &self.children {
            if let Some(o) = other.children.get(pe) {
                let i = child.intersection(o);
                if !i.is_empty() {
                    out.children.insert(pe.clone(), i);
                }
            }
        }
        out
    }

    /// The set with every named field that has members below it made a
    /// member too (so removing it removes the whole field).
    pub fn with_named_fields_as_members(&self) -> FieldSet {
        let mut out = self.clone();
        out.mark_named(false);
        out
    }

    fn mark_named(&mut self, is_field: bool) {
        if is_field && !self.children.is_empty() {
            self.member = true;
        }
        for (pe, child) in self.children.iter_mut() {
            child.mark_named(matches!(pe, PathElem::Field(_)));
        }
    }

    /// Every member path, in order.
    pub fn paths(&self) -> Vec<Vec<PathElem>> {
        let mut out = Vec::new();
        self.collect(&mut Vec::new(), &mut out);
        out
    }

    fn collect(&self, prefix: &mut Vec<PathElem>, out: &mut Vec<Vec<PathElem>>) {
        if self.member && !prefix.is_empty() {
            out.push(prefix.clone());
        }
        for (pe, child) in &self.children {
            prefix.push(pe.clone());
            child.collect(prefix, out);
            prefix.pop();
        }
    }

    /// Removes `path` and everything below it.
    pub fn remove_subtree(&mut self, path: &[PathElem]) {
        match path {
            [] => *self = FieldSet::default(),
            [last] => {
                self.children.remove(last);
            }
            [first, rest @ ..] => {
                if let Some(c) = self.children.get_mut(first) {
                    c.remove_subtree(rest);
                    if c.is_empty() {
                        self.children.remove(first);
                    }
                }
            }
        }
    }

    /// Decodes `FieldsV1` JSON.
    pub fn from_fields_v1(v: &Value) -> Result<FieldSet, String> {
        let mut out = FieldSet::default();
        let map = v
            .as_object()
            .ok_or_else(|| "fieldsV1 must be an object".to_owned())?;
        for (k, child) in map {
            if k == "." {
                out.member = true;
                continue;
            }
            let pe = PathElem::decode(k)?;
            let mut c = FieldSet::from_fields_v1(child)?;
            if c.children.is_empty() {
                c.member = true;
            }
            out.children.insert(pe, c);
        }
        Ok(out)
    }

    /// Encodes as `FieldsV1` JSON.
    pub fn to_fields_v1(&self) -> Value {
        let mut map = Map::new();
        if self.member && !self.children.is_empty() {
            map.insert(".".into(), Value::Object(Map::new()));
        }
        for (pe, child) in &self.children {
            if child.is_empty() {
                continue;
            }
            map.insert(pe.encode(), child.to_fields_v1());
        }
        Value::Object(map)
    }
}

/// Writes a path the way the API server prints it (`.spec.replicas`).
pub fn path_string(path: &[PathElem]) -> String {
    path.iter().map(ToString::to_string).collect()
}

/// Why a value does not fit its list schema.
pub type ShapeError = String;

/// The path element that identifies `item` within a list of kind `kind`.
pub fn list_elem(kind: &ListKind, index: usize, item: &Value) -> Result<PathElem, ShapeError> {
    match kind {
        ListKind::Atomic => Ok(PathElem::Index(index)),
        ListKind::Set => Ok(PathElem::Value(canonical(item))),
        ListKind::Map { keys, defaults } => {
            let obj = item.as_object().ok_or_else(|| {
                format!("element {index}: associative list elements must be objects")
            })?;
            let mut key = Map::new();
            for k in keys {
                match obj.get(k) {
                    Some(v) => {
                        key.insert(k.clone(), v.clone());
                    }
                    None => {
                        if let Some((_, d)) = defaults.iter().find(|(n, _)| n == k) {
                            key.insert(k.clone(), d.clone());
                        } else {
                            return Err(format!(
                                "element {index}: associative list with keys has an element that omits key field {k:?} (and doesn't have default value)"
                            ));
                        }
                    }
                }
            }
            Ok(PathElem::Key(canonical(&Value::Object(key))))
        }
    }
}

/// The fields an applied configuration specifies, as server-side apply
/// counts them.
pub fn to_field_set(value: &Value, node: &Node) -> Result<FieldSet, ShapeError> {
    let mut set = FieldSet::default();
    walk_set(value, node, &mut Vec::new(), &mut set)?;
    Ok(set)
}

fn walk_set(
    value: &Value,
    node: &Node,
    path: &mut Vec<PathElem>,
    set: &mut FieldSet,
) -> Result<(), ShapeError> {
    match value {
        Value::Object(map) => {
            if node.atomic_object() {
                set.insert(path);
                return Ok(());
            }
            for (k, v) in map {
                path.push(PathElem::Field(k.clone()));
                let child = node.field(k);
                walk_set(v, child, path, set)?;
                let empty = v.is_null() || v.as_object().is_some_and(Map::is_empty);
                if empty || !node.declares(k) {
                    set.insert(path);
                }
                path.pop();
            }
            Ok(())
        }
        Value::Array(items) => {
            let kind = node.list_kind();
            if *kind == ListKind::Atomic {
                set.insert(path);
                return Ok(());
            }
            let mut seen = std::collections::HashSet::new();
            for (i, item) in items.iter().enumerate() {
                let pe =
                    list_elem(kind, i, item).map_err(|e| format!("{}: {e}", path_string(path)))?;
                if !seen.insert(pe.clone()) {
                    return Err(format!(
                        "{}: duplicate entries for key {}",
                        path_string(path),
                        pe.encode()
                    ));
                }
                path.push(pe);
                walk_set(item, node.item(), path, set)?;
                set.insert(path);
                path.pop();
            }
            Ok(())
        }
        _ => {
            set.insert(path);
            Ok(())
        }
    }
}

/// What changed between two objects.
#[derive(Debug, Default, Clone)]
pub struct Comparison {
    /// Paths present only in the new object (with everything below them).
    pub added: FieldSet,
    /// Leaf paths whose value changed.
    pub modified: FieldSet,
    /// Paths present only in the old object (with everything below them).
    pub removed: FieldSet,
}

/// Compares two objects field by field under `node`.
pub fn compare(old: &Value, new: &Value, node: &Node) -> Comparison {
    let mut c = Comparison::default();
    cmp_at(Some(old), Some(new), node, &mut Vec::new(), &mut c);
    c
}

fn cmp_at(
    old: Option<&Value>,
    new: Option<&Value>,
    node: &Node,
    path: &mut Vec<PathElem>,
    c: &mut Comparison,
) {
    match (old, new) {
        (Some(Value::Object(a)), Some(Value::Object(b))) if !node.atomic_object() => {
            for (k, va) in a {
                path.push(PathElem::Field(k.clone()));
                cmp_at(Some(va), b.get(k), node.field(k), path, c);
                path.pop();
            }
            for (k, vb) in b {
                if !a.contains_key(k) {
                    path.push(PathElem::Field(k.clone()));
                    cmp_at(None, Some(vb), node.field(k), path, c);
                    path.pop();
                }
            }
        }
        (Some(Value::Array(a)), Some(Value::Array(b))) if *node.list_kind() != ListKind::Atomic => {
            let kind = node.list_kind();
            let index = |items: &Vec<Value>| -> Vec<(PathElem, usize)> {
                items
                    .iter()
                    .enumerate()
                    .filter_map(|(i, v)| list_elem(kind, i, v).ok().map(|pe| (pe, i)))
                    .collect()
            };
            let ia = index(a);
            let ib = index(b);
            let mb: BTreeMap<&PathElem, usize> = ib.iter().map(|(p, i)| (p, *i)).collect();
            let ma: BTreeMap<&PathElem, usize> = ia.iter().map(|(p, i)| (p, *i)).collect();
            for (pe, i) in &ia {
                path.push(pe.clone());
                cmp_at(
                    Some(&a[*i]),
                    mb.get(pe).map(|j| &b[*j]),
                    node.item(),
                    path,
                    c,
                );
                path.pop();
            }
            for (pe, j) in &ib {
                if !ma.contains_key(pe) {
                    path.push(pe.clone());
                    cmp_at(None, Some(&b[*j]), node.item(), path, c);
                    path.pop();
                }
            }
        }
        (Some(a), Some(b)) => {
            if a != b {
                c.modified.insert(path);
            }
        }
        (Some(a), None) => subtree(a, node, path, &mut c.removed),
        (None, Some(b)) => subtree(b, node, path, &mut c.added),
        (None, None) => {}
    }
}

/// Inserts `path` and every path below it in `value`.
fn subtree(value: &Value, node: &Node, path: &mut Vec<PathElem>, set: &mut FieldSet) {
    set.insert(path);
    match value {
        Value::Object(m) if !node.atomic_object() => {
            for (k, v) in m {
                path.push(PathElem::Field(k.clone()));
                subtree(v, node.field(k), path, set);
                path.pop();
            }
        }
        Value::Array(items) if *node.list_kind() != ListKind::Atomic => {
            for (i, v) in items.iter().enumerate() {
                if let Ok(pe) = list_elem(node.list_kind(), i, v) {
                    path.push(pe);
                    subtree(v, node.item(), path, set);
                    path.pop();
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema;
    use serde_json::json;

    fn f(s: &str) -> PathElem {
        PathElem::Field(s.into())
    }

    #[test]
    fn fields_v1_round_trip() {
        let v = json!({
            "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
            "f:spec": {"f:template": {"f:spec": {"f:containers": {
                "k:{\"name\":\"app\"}": {".": {}, "f:image": {}, "f:name": {}}}}}}
        });
        let set = FieldSet::from_fields_v1(&v).unwrap();
        assert!(set.contains(&[f("metadata"), f("labels"), f("app")]));
        assert!(set.contains(&[f("metadata"), f("labels")]));
        assert!(!set.contains(&[f("metadata")]));
        assert_eq!(set.to_fields_v1(), v);
    }

    #[test]
    fn applied_config_field_set() {
        let node = schema::builtin("apps", "Deployment");
        let obj = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"spec": {"containers": [{"name": "app", "image": "nginx",
                    "ports": [{"containerPort": 80}], "resources": {}}]}}
            }
        });
        let set = to_field_set(&obj, &node).unwrap();
        let enc = set.to_fields_v1();
        assert_eq!(
            enc["f:spec"]["f:selector"],
            json!({}),
            "LabelSelector is atomic"
        );
        let c = &enc["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"app\"}"];
        assert_eq!(c["."], json!({}));
        assert_eq!(c["f:resources"], json!({}), "an empty struct is a member");
        assert!(
            c["f:ports"]
                .get("k:{\"containerPort\":80,\"protocol\":\"TCP\"}")
                .is_some(),
            "protocol defaults to TCP: {c}"
        );
        assert!(
            enc["f:spec"].get(".").is_none(),
            "declared fields are not members"
        );
    }

    #[test]
    fn duplicate_keys_are_refused() {
        let node = schema::builtin("", "Pod");
        let obj = json!({"spec": {"containers": [{"name": "a"}, {"name": "a"}]}});
        let e = to_field_set(&obj, &node).unwrap_err();
        assert!(e.contains("duplicate entries"), "{e}");
        let obj = json!({"spec": {"containers": [{"image": "x"}]}});
        let e = to_field_set(&obj, &node).unwrap_err();
        assert!(e.contains("omits key field \"name\""), "{e}");
    }

    #[test]
    fn compare_finds_added_modified_removed() {
        let node = schema::builtin("apps", "Deployment");
        let old = json!({"spec": {"replicas": 1, "paused": true,
            "template": {"spec": {"containers": [{"name": "a", "image": "x"}]}}}});
        let new = json!({"spec": {"replicas": 2, "minReadySeconds": 5,
            "template": {"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b"}]}}}});
        let c = compare(&old, &new, &node);
        assert!(c.modified.contains(&[f("spec"), f("replicas")]));
        assert!(c.removed.contains(&[f("spec"), f("paused")]));
        assert!(c.added.contains(&[f("spec"), f("minReadySeconds")]));
        let b = PathElem::Key("{\"name\":\"b\"}".into());
        let path = [
            f("spec"),
            f("template"),
            f("spec"),
            f("containers"),
            b.clone(),
            f("name"),
        ];
        assert!(c.added.contains(&path));
        assert_eq!(
            path_string(&path),
            ".spec.template.spec.containers[name=\"b\"].name"
        );
        assert!(!c.modified.contains(&[f("spec"), f("template")]));
    }

    #[test]
    fn set_operations() {
        let mut a = FieldSet::new();
        a.insert(&[f("a"), f("b")]);
        a.insert(&[f("a"), f("c")]);
        let mut b = FieldSet::new();
        b.insert(&[f("a"), f("c")]);
        let d = a.difference(&b);
        assert_eq!(d.paths(), vec![vec![f("a"), f("b")]]);
        assert_eq!(a.intersection(&b).paths(), vec![vec![f("a"), f("c")]]);
        let e = a.with_named_fields_as_members();
        assert!(e.contains(&[f("a")]));
        a.remove_subtree(&[f("a"), f("b")]);
        assert_eq!(a.paths(), vec![vec![f("a"), f("c")]]);
        assert!(FieldSet::new().is_empty());
    }
}
