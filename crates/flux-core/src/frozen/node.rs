//! Reading a [`Frozen`] document in place: [`Node`], a borrowed view of one
//! value in it, with the reads a `&Value` offers (and the same answers),
//! equality, and serialisation to the same JSON.

use serde::ser::{SerializeMap as _, SerializeSeq as _};
use serde_json::Value;

use super::{Cell, Frozen, join};

/// One value of a [`Frozen`] document, read in place.
#[derive(Clone, Copy)]
pub struct Node<'a> {
    doc: &'a Frozen,
    at: usize,
}

impl Frozen {
    /// The document's top value.
    pub fn root(&self) -> Node<'_> {
        Node { doc: self, at: 0 }
    }

    /// The value at a path of mapping keys (`["metadata", "name"]`).
    pub fn pointer(&self, path: &[&str]) -> Option<Node<'_>> {
        self.root().pointer(path)
    }
}

impl PartialEq for Frozen {
    fn eq(&self, other: &Frozen) -> bool {
        self.same_except(other, &[])
    }
}

impl serde::Serialize for Frozen {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.root().serialize(s)
    }
}

impl std::fmt::Debug for Node<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.to_value())
    }
}

impl<'a> Node<'a> {
    fn cell(self) -> Cell {
        self.doc.nodes[self.at]
    }

    fn at(self, at: usize) -> Node<'a> {
        Node { doc: self.doc, at }
    }

    /// The value of `key`, if this is a mapping that has it.
    pub fn get(self, key: &str) -> Option<Node<'a>> {
        self.entries().find_map(|(k, v)| (k == key).then_some(v))
    }

    /// The value at a path of mapping keys.
    pub fn pointer(self, path: &[&str]) -> Option<Node<'a>> {
        path.iter().try_fold(self, |node, key| node.get(key))
    }

    /// The text, if this is a string.
    pub fn as_str(self) -> Option<&'a str> {
        match self.cell() {
            Cell::Str { at, len } => Some(self.doc.str_of(at, len)),
            _ => None,
        }
    }

    /// Whether this is `null`.
    pub fn is_null(self) -> bool {
        matches!(self.cell(), Cell::Null)
    }

    /// Whether this is a mapping.
    pub fn is_map(self) -> bool {
        matches!(self.cell(), Cell::Map { .. })
    }

    /// The number of items, if this is a list.
    pub fn list_len(self) -> Option<usize> {
        match self.cell() {
            Cell::List { len, .. } => Some(len as usize),
            _ => None,
        }
    }

    /// The items of a list, in order (none for anything else).
    pub fn items(self) -> impl Iterator<Item = Node<'a>> {
        let (first, len) = match self.cell() {
            Cell::List { first, len } => (first as usize, len as usize),
            _ => (0, 0),
        };
        (first..first + len).map(move |i| self.at(i))
    }

    /// The entries of a mapping, in key order (none for anything else).
    pub fn entries(self) -> impl Iterator<Item = (&'a str, Node<'a>)> {
        let (first, len) = match self.cell() {
            Cell::Map { first, len } => (first, len),
            _ => (0, 0),
        };
        let doc = self.doc;
        doc.entries(first, len)
            .map(move |(k, i)| (k, Node { doc, at: i }))
    }

    /// The value as a `Value`.
    pub fn to_value(self) -> Value {
        self.doc.value(self.at)
    }
}

/// Equal exactly when their [`Node::to_value`]s would be: integers and
/// floats differ, mappings compare by keys.
impl PartialEq for Node<'_> {
    fn eq(&self, other: &Node<'_>) -> bool {
        self.doc.same(self.at, other.doc, other.at, &[], 0)
    }
}

impl serde::Serialize for Node<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.cell() {
            Cell::Null => s.serialize_unit(),
            Cell::Bool(b) => s.serialize_bool(b),
            Cell::PosInt(h, l) => s.serialize_u64(join(h, l)),
            Cell::NegInt(h, l) => s.serialize_i64(join(h, l) as i64),
            Cell::Float(h, l) => s.serialize_f64(f64::from_bits(join(h, l))),
            Cell::Str { at, len } => s.serialize_str(self.doc.str_of(at, len)),
            Cell::List { len, .. } => {
                let mut seq = s.serialize_seq(Some(len as usize))?;
                for item in self.items() {
                    seq.serialize_element(&item)?;
                }
                seq.end()
            }
            Cell::Map { len, .. } => {
                let mut map = s.serialize_map(Some(len as usize))?;
                for (k, v) in self.entries() {
                    map.serialize_entry(k, &v)?;
                }
                map.end()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> Value {
        json!({"kind": "Deployment",
               "metadata": {"name": "web", "labels": {"app": "web"}, "empty": {}},
               "spec": {"replicas": 2, "paused": false, "none": null, "ratio": 0.5, "neg": -3,
                        "containers": [{"name": "a", "image": "nginx:1"}, {"name": "b"}]}})
    }

    #[test]
    fn reads_as_a_value_would() {
        let v = sample();
        let f = Frozen::new(&v).unwrap();
        let root = f.root();
        assert_eq!(
            root.pointer(&["metadata", "name"]).and_then(Node::as_str),
            Some("web")
        );
        assert_eq!(
            f.pointer(&["metadata", "labels", "app"])
                .unwrap()
                .to_value(),
            json!("web")
        );
        assert!(f.pointer(&["metadata", "labels", "absent"]).is_none());
        assert!(f.pointer(&["spec", "replicas", "deeper"]).is_none());
        assert!(root.get("spec").unwrap().get("none").unwrap().is_null());
        assert!(root.get("metadata").unwrap().is_map());
        assert_eq!(
            f.pointer(&["spec", "containers"]).unwrap().list_len(),
            Some(2)
        );
        assert_eq!(root.list_len(), None);
        let names: Vec<_> = f
            .pointer(&["spec", "containers"])
            .unwrap()
            .items()
            .map(|c| c.get("name").and_then(Node::as_str))
            .collect();
        assert_eq!(names, [Some("a"), Some("b")]);
        let keys: Vec<&str> = root.entries().map(|(k, _)| k).collect();
        assert_eq!(keys, ["kind", "metadata", "spec"]);
        assert_eq!(root.get("kind").unwrap().entries().count(), 0);
        assert_eq!(root.get("kind").unwrap().items().count(), 0);
        assert_eq!(root.get("spec").unwrap().to_value(), v["spec"]);
    }

    #[test]
    fn equals_what_it_was_made_from_and_nothing_else() {
        let v = sample();
        let f = Frozen::new(&v).unwrap();
        assert_eq!(f.root(), Frozen::new(&v).unwrap().root());
        for (path, other) in [
            ("/spec/replicas", json!(2.0)),
            ("/spec/replicas", json!(3)),
            ("/spec/neg", json!(-4)),
            ("/spec/ratio", json!(0.25)),
            ("/spec/paused", json!(true)),
            ("/spec/none", json!(0)),
            ("/metadata/name", json!("Web")),
            ("/metadata/empty", json!([])),
            ("/spec/containers/1", json!({"name": "b", "extra": 1})),
            (
                "/spec/containers",
                json!([{"name": "a", "image": "nginx:1"}]),
            ),
        ] {
            let mut w = v.clone();
            *w.pointer_mut(path).unwrap() = other.clone();
            let w = Frozen::new(&w).unwrap();
            assert!(f.root() != w.root(), "{path} = {other}");
        }
        assert_eq!(f, Frozen::new(&v).unwrap());
        assert_ne!(f, Frozen::new(&json!({"kind": "Deployment"})).unwrap());
    }

    #[test]
    fn serialises_to_the_same_json() {
        for v in [
            sample(),
            json!(null),
            json!([1, -1, 1.5, "x", {}]),
            json!({"a": {"b": []}}),
        ] {
            let f = Frozen::new(&v).unwrap();
            assert_eq!(serde_json::to_string(&f).unwrap(), v.to_string());
            assert_eq!(
                serde_json::to_vec(&f.root()).unwrap(),
                serde_json::to_vec(&v).unwrap()
            );
        }
    }
}
