//! Compact, immutable JSON documents.
//!
//! A `serde_json::Value` spends a B-tree node (about 600 bytes) on every
//! non-empty mapping and an allocation on every string; an object as the
//! API server returns it holds dozens of each, so a daemon holding ten
//! thousand of them (its watch caches, the manifests of its repository)
//! spends most of its memory on tree overhead. A [`Frozen`] document keeps
//! the same tree in two allocations: its cells in one array (the children
//! of a mapping or list side by side, 12 bytes a cell) and its keys and
//! strings in one text (each distinct string once).
//!
//! It is read in place through [`Node`] (as a `&Value` would be), turned
//! back into exactly the `Value` it was made from with [`Frozen::to_value`],
//! and serialises to the same JSON. It is not for editing: a document to
//! change is thawed, changed and frozen again.

use std::collections::HashMap;

use serde_json::{Map, Number, Value};

mod node;

pub use node::Node;

/// One node: a scalar, or where its string or children are.
#[derive(Debug, Clone, Copy)]
enum Cell {
    Null,
    Bool(bool),
    /// A non-negative integer, as high and low halves.
    PosInt(u32, u32),
    /// A negative integer's bits, as high and low halves.
    NegInt(u32, u32),
    /// A float's bits, as high and low halves.
    Float(u32, u32),
    /// `len` bytes of the text from `at`.
    Str {
        at: u32,
        len: u32,
    },
    /// `len` nodes from `first`.
    List {
        first: u32,
        len: u32,
    },
    /// `len` entries from `first`: each a key (`Str`) node then its value.
    Map {
        first: u32,
        len: u32,
    },
}

fn split(bits: u64) -> (u32, u32) {
    ((bits >> 32) as u32, bits as u32)
}

fn join(hi: u32, lo: u32) -> u64 {
    (u64::from(hi) << 32) | u64::from(lo)
}

/// A document too large to freeze: 2^32 cells or bytes of text or more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("document too large to hold in compact form (4 GiB or more)")]
pub struct TooLarge;

/// A JSON document in compact, read-only form.
#[derive(Clone)]
pub struct Frozen {
    nodes: Box<[Cell]>,
    text: Box<str>,
}

impl std::fmt::Debug for Frozen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Frozen({})", self.to_value())
    }
}

/// Nodes and text needed for a value (an upper bound for the text, which
/// keeps repeated strings once).
fn size(v: &Value) -> (usize, usize) {
    match v {
        Value::String(s) => (1, s.len()),
        Value::Array(items) => items.iter().fold((1, 0), |(n, t), i| {
            let (a, b) = size(i);
            (n + a, t + b)
        }),
        Value::Object(map) => map.iter().fold((1, 0), |(n, t), (k, i)| {
            let (a, b) = size(i);
            (n + 1 + a, t + k.len() + b)
        }),
        _ => (1, 0),
    }
}

struct Builder<'v> {
    nodes: Vec<Cell>,
    text: String,
    strings: HashMap<&'v str, Cell>,
}

impl<'v> Builder<'v> {
    fn string(&mut self, s: &'v str) -> Option<Cell> {
        if let Some(n) = self.strings.get(s) {
            return Some(*n);
        }
        let node = Cell::Str {
            at: u32::try_from(self.text.len()).ok()?,
            len: u32::try_from(s.len()).ok()?,
        };
        self.text.push_str(s);
        self.strings.insert(s, node);
        Some(node)
    }

    /// Appends `n` placeholder nodes; the index of the first.
    fn reserve(&mut self, n: usize) -> Option<u32> {
        let first = self.nodes.len();
        u32::try_from(first + n).ok()?;
        self.nodes.resize(first + n, Cell::Null);
        u32::try_from(first).ok()
    }

    fn fill(&mut self, slot: usize, v: &'v Value) -> Option<()> {
        let node = match v {
            Value::Null => Cell::Null,
            Value::Bool(b) => Cell::Bool(*b),
            Value::Number(n) => {
                if let Some(u) = n.as_u64() {
                    let (h, l) = split(u);
                    Cell::PosInt(h, l)
                } else if let Some(i) = n.as_i64() {
                    let (h, l) = split(i as u64);
                    Cell::NegInt(h, l)
                } else {
                    let (h, l) = split(n.as_f64()?.to_bits());
                    Cell::Float(h, l)
                }
            }
            Value::String(s) => self.string(s)?,
            Value::Array(items) => {
                let first = self.reserve(items.len())?;
                for (i, item) in items.iter().enumerate() {
                    self.fill(first as usize + i, item)?;
                }
                Cell::List {
                    first,
                    len: u32::try_from(items.len()).ok()?,
                }
            }
            Value::Object(map) => {
                let first = self.reserve(2 * map.len())?;
                for (i, (k, item)) in map.iter().enumerate() {
                    let at = first as usize + 2 * i;
                    self.nodes[at] = self.string(k)?;
                    self.fill(at + 1, item)?;
                }
                Cell::Map {
                    first,
                    len: u32::try_from(map.len()).ok()?,
                }
            }
        };
        self.nodes[slot] = node;
        Some(())
    }
}

impl Frozen {
    /// `v` in compact form; an error for a document of 4 GiB or more
    /// (which no API server sends and no repository holds).
    pub fn new(v: &Value) -> Result<Frozen, TooLarge> {
        Frozen::build(v).ok_or(TooLarge)
    }

    fn build(v: &Value) -> Option<Frozen> {
        let (nodes, text) = size(v);
        let mut b = Builder {
            nodes: Vec::with_capacity(nodes),
            text: String::with_capacity(text),
            strings: HashMap::new(),
        };
        b.nodes.push(Cell::Null);
        b.fill(0, v)?;
        Some(Frozen {
            nodes: b.nodes.into_boxed_slice(),
            text: b.text.into_boxed_str(),
        })
    }

    /// The document as a `Value`, equal to the one it was made from.
    pub fn to_value(&self) -> Value {
        self.value(0)
    }

    fn str_of(&self, at: u32, len: u32) -> &str {
        self.text
            .get(at as usize..at as usize + len as usize)
            .unwrap_or_default()
    }

    fn value(&self, i: usize) -> Value {
        match self.nodes[i] {
            Cell::Null => Value::Null,
            Cell::Bool(b) => Value::Bool(b),
            Cell::PosInt(h, l) => Value::Number(Number::from(join(h, l))),
            Cell::NegInt(h, l) => Value::Number(Number::from(join(h, l) as i64)),
            Cell::Float(h, l) => {
                Number::from_f64(f64::from_bits(join(h, l))).map_or(Value::Null, Value::Number)
            }
            Cell::Str { at, len } => Value::String(self.str_of(at, len).to_owned()),
            Cell::List { first, len } => (first as usize..(first + len) as usize)
                .map(|c| self.value(c))
                .collect(),
            Cell::Map { first, len } => {
                let map: Map<String, Value> = self
                    .entries(first, len)
                    .map(|(k, c)| (k.to_owned(), self.value(c)))
                    .collect();
                Value::Object(map)
            }
        }
    }

    /// The keys and value nodes of a mapping.
    fn entries(&self, first: u32, len: u32) -> impl Iterator<Item = (&str, usize)> + '_ {
        (0..len as usize).map(move |e| {
            let at = first as usize + 2 * e;
            let key = match self.nodes[at] {
                Cell::Str { at, len } => self.str_of(at, len),
                _ => "",
            };
            (key, at + 1)
        })
    }

    /// Whether two documents are equal but for the entries at `skip` (paths
    /// of mapping keys).
    pub fn same_except(&self, other: &Frozen, skip: &[&[&str]]) -> bool {
        self.same(0, other, 0, skip, 0)
    }

    fn same(&self, i: usize, o: &Frozen, j: usize, skip: &[&[&str]], depth: usize) -> bool {
        match (self.nodes[i], o.nodes[j]) {
            (Cell::Null, Cell::Null) => true,
            (Cell::Bool(a), Cell::Bool(b)) => a == b,
            (Cell::PosInt(a, b), Cell::PosInt(c, d)) | (Cell::NegInt(a, b), Cell::NegInt(c, d)) => {
                (a, b) == (c, d)
            }
            (Cell::Float(a, b), Cell::Float(c, d)) => {
                f64::from_bits(join(a, b)) == f64::from_bits(join(c, d))
            }
            (Cell::Str { at, len }, Cell::Str { at: bt, len: bl }) => {
                self.str_of(at, len) == o.str_of(bt, bl)
            }
            (Cell::List { first, len }, Cell::List { first: f2, len: l2 }) => {
                len == l2
                    && (0..len as usize)
                        .all(|k| self.same(first as usize + k, o, f2 as usize + k, &[], depth + 1))
            }
            (Cell::Map { first, len }, Cell::Map { first: f2, len: l2 }) => {
                // The paths still to follow below, and the keys left out here.
                let kept = |key: &str| {
                    !skip
                        .iter()
                        .any(|p| p.len() == depth + 1 && p.get(depth) == Some(&key))
                };
                let below = |key: &str| -> Vec<&[&str]> {
                    skip.iter()
                        .copied()
                        .filter(|p| p.len() > depth + 1 && p.get(depth) == Some(&key))
                        .collect()
                };
                let mut mine = self.entries(first, len).filter(|(k, _)| kept(k));
                let mut theirs = o.entries(f2, l2).filter(|(k, _)| kept(k));
                loop {
                    match (mine.next(), theirs.next()) {
                        (None, None) => return true,
                        (Some((k1, c1)), Some((k2, c2))) => {
                            if k1 != k2 || !self.same(c1, o, c2, &below(k1), depth + 1) {
                                return false;
                            }
                        }
                        _ => return false,
                    }
                }
            }
            _ => false,
        }
    }

    /// Bytes held.
    #[cfg(test)]
    fn heap_bytes(&self) -> usize {
        std::mem::size_of_val(&*self.nodes) + self.text.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "demo", "resourceVersion": "7",
                         "labels": {"app": "web", "fluxcd.io/sync-gc-mark": "sha256.x"},
                         "annotations": {}, "ownerReferences": [],
                         "managedFields": [{"manager": "flux", "operation": "Apply",
                                            "fieldsV1": {"f:spec": {"f:replicas": {}}}}]},
            "spec": {"replicas": 5, "paused": false, "nothing": null,
                     "numbers": [0, 1, -1, 18446744073709551615u64, -9223372036854775808i64,
                                 1.5, -0.25, 1e300, 0.0, 2.0],
                     "template": {"spec": {"containers": [{"name": "web", "image": "nginx:1"},
                                                          {"name": "web", "args": [[], {}, ""]}]}}},
            "status": {"readyReplicas": 5}
        })
    }

    #[test]
    fn round_trips_exactly() {
        for v in [
            sample(),
            json!(null),
            json!("only a string"),
            json!([]),
            json!({}),
            json!({"ünïcode ✓": "é", "": ""}),
        ] {
            let f = Frozen::new(&v).expect("small");
            assert_eq!(f.to_value(), v);
            // Integers stay integers and floats floats.
            assert_eq!(f.to_value().to_string(), v.to_string());
        }
    }

    #[test]
    fn reads_in_place() {
        let f = Frozen::new(&sample()).unwrap();
        let text = |path: &[&str]| f.pointer(path).and_then(Node::as_str);
        assert_eq!(text(&["metadata", "name"]), Some("web"));
        assert_eq!(text(&["metadata", "resourceVersion"]), Some("7"));
        assert_eq!(text(&["metadata", "uid"]), None);
        assert_eq!(text(&["spec", "replicas"]), None, "not a string");
        assert!(f.pointer(&["spec", "nothing"]).is_some());
        assert!(f.pointer(&["spec", "replicas", "deeper"]).is_none());
        let label = |k: &str| f.pointer(&["metadata", "labels", k]).is_some();
        assert!(label("fluxcd.io/sync-gc-mark"));
        assert!(!label("other"));
        assert!(f.pointer(&["metadata", "name", "web"]).is_none());
        let list_len = |path: &[&str]| f.pointer(path).and_then(Node::list_len);
        assert_eq!(list_len(&["metadata", "ownerReferences"]), Some(0));
        assert_eq!(list_len(&["metadata", "managedFields"]), Some(1));
        // Repeated strings are kept once.
        let text: usize = ["web", "nginx:1", "name"].iter().map(|s| s.len()).sum();
        assert!(f.text.matches("web").count() == 1 && f.text.len() > text);
    }

    #[test]
    fn compares_but_for_some_paths() {
        let a = sample();
        let fa = Frozen::new(&a).unwrap();
        let skip: &[&[&str]] = &[&["metadata", "resourceVersion"], &["status"]];
        let mut b = a.clone();
        b["metadata"]["resourceVersion"] = json!("8");
        b["status"] = json!({"readyReplicas": 0});
        assert!(fa.same_except(&Frozen::new(&b).unwrap(), skip));
        assert!(!fa.same_except(&Frozen::new(&b).unwrap(), &[]));
        for change in [
            json!({"spec": {"replicas": 6}}),
            json!({"spec": {"replicas": 5.0}}),
            json!({"metadata": {"labels": {"app": "other"}}}),
            json!({"metadata": {"labels": {"app": "web", "new": "x"}}}),
            json!({"spec": {"template": {"spec": {"containers": []}}}}),
        ] {
            let mut c = a.clone();
            merge(&mut c, &change);
            assert!(!fa.same_except(&Frozen::new(&c).unwrap(), skip), "{change}");
        }
        // A skipped key present on one side only.
        let mut d = a.clone();
        d["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("resourceVersion");
        assert!(fa.same_except(&Frozen::new(&d).unwrap(), skip));
    }

    fn merge(into: &mut Value, from: &Value) {
        match (into, from) {
            (Value::Object(a), Value::Object(b)) => {
                for (k, v) in b {
                    merge(a.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
            (slot, v) => *slot = v.clone(),
        }
    }

    #[test]
    fn is_smaller_than_the_tree() {
        let v = sample();
        let f = Frozen::new(&v).unwrap();
        assert_eq!(std::mem::size_of::<Cell>(), 12);
        // About twice its JSON text (a `Value` tree takes ten times or more).
        let json = v.to_string().len();
        assert!(f.heap_bytes() < 3 * json, "{} vs {json}", f.heap_bytes());
    }
}
