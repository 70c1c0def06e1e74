//! Decoding lists of objects without their `metadata.managedFields`.
//!
//! The field-ownership records are often half of an object's JSON, and
//! nothing that reads exported or GC-marked objects looks at them (only
//! the adapter's own unchanged-check does, from reads of its own). Skipping
//! them while parsing, rather than deleting them afterwards, spares building
//! and freeing those trees: on a re-sync with nothing to do, decoding lists
//! is most of what the adapter spends. `kubectl get` hides them the same way.

use std::fmt;

use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::{Map, Value};

/// A list response: its items only.
#[derive(Debug, serde::Deserialize)]
pub struct List {
    /// The objects, without managedFields (`null` or absent: none).
    #[serde(default)]
    pub items: Option<Vec<Lean>>,
}

/// An object decoded without `metadata.managedFields`.
#[derive(Debug)]
pub struct Lean(pub Value);

/// Metadata without managedFields.
struct Metadata(Map<String, Value>);

impl<'de> Deserialize<'de> for Lean {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Lean;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a Kubernetes object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Lean, A::Error> {
                let mut out = Map::new();
                while let Some(key) = map.next_key::<String>()? {
                    let value = if key == "metadata" {
                        Value::Object(map.next_value::<Metadata>()?.0)
                    } else {
                        map.next_value::<Value>()?
                    };
                    out.insert(key, value);
                }
                Ok(Lean(Value::Object(out)))
            }
        }
        d.deserialize_map(V)
    }
}

impl<'de> Deserialize<'de> for Metadata {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Metadata;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("object metadata")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Metadata, A::Error> {
                let mut out = Map::new();
                while let Some(key) = map.next_key::<String>()? {
                    if key == "managedFields" {
                        map.next_value::<IgnoredAny>()?;
                    } else {
                        out.insert(key, map.next_value::<Value>()?);
                    }
                }
                Ok(Metadata(out))
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn managed_fields_are_left_out_and_nothing_else() {
        let full = json!({
            "apiVersion": "v1", "kind": "ConfigMapList", "metadata": {"resourceVersion": "9"},
            "items": [
                {"metadata": {"name": "a", "namespace": "n", "labels": {"x": "1"},
                              "managedFields": [{"manager": "flux", "fieldsV1": {"f:data": {}}}]},
                 "data": {"managedFields": "kept: not metadata"}},
                {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "b"}},
            ]
        });
        let list: List = serde_json::from_value(full.clone()).unwrap();
        let items: Vec<Value> = list.items.unwrap().into_iter().map(|l| l.0).collect();
        let mut want = full["items"].as_array().unwrap().clone();
        want[0]["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("managedFields");
        assert_eq!(items, want);

        for empty in [r#"{"kind": "List", "items": null}"#, r#"{"kind": "List"}"#] {
            let list: List = serde_json::from_str(empty).unwrap();
            assert!(list.items.unwrap_or_default().is_empty(), "{empty}");
        }
        let bad = serde_json::from_str::<List>(r#"{"items": [{"metadata": []}]}"#);
        assert!(bad.is_err(), "metadata that is not a mapping is refused");
    }
}
