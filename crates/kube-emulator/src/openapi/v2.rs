//! `/openapi/v2`: the Swagger 2.0 document, as JSON or in the protobuf
//! encoding client-go asks for
//! (`application/com.github.proto-openapi.spec.v2@v1.0+protobuf`, the
//! `openapi_v2.Document` message of gnostic's `OpenAPIv2.proto`).
//!
//! The answer's media type is the dot form
//! (`…spec.v2.v1.0+protobuf`): Go's MIME parser refuses the `@` form that
//! clients still ask for, as real servers know.
//!
//! kubectl reads it to validate what OpenAPI v3 does not answer for (the
//! items of a `kind: List`), to check that a kind's PATCH takes
//! `fieldValidation`, and for strategic-merge metadata. So the document
//! has the definitions of the built-in kinds (with their
//! `x-kubernetes-group-version-kind`) and the PATCH operation of every
//! served resource. Custom resources' schemas are left out of v2 (kubectl
//! then skips validating them client-side; v3 has them).

use std::sync::OnceLock;

use serde_json::{Map, Value, json};

use super::{builtin_definitions, definition_name};
use crate::store::Store;

/// The protobuf media type answered with.
pub const PROTOBUF: &str = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

fn paths(store: &Store) -> Map<String, Value> {
    let mut paths = Map::new();
    for t in store.types() {
        for v in &t.versions {
            let prefix = if t.group.is_empty() {
                format!("/api/{v}")
            } else {
                format!("/apis/{}/{v}", t.group)
            };
            let schema = format!("#/definitions/{}", definition_name(&t, v));
            for (p, mut item) in super::resource_paths(&t, &prefix, v, &schema) {
                // Swagger 2.0 parameters carry their type directly.
                for op in item
                    .as_object_mut()
                    .into_iter()
                    .flat_map(|m| m.values_mut())
                {
                    if let Some(o) = op.as_object_mut() {
                        o.remove("requestBody");
                        o.remove("responses");
                        o.insert("responses".into(), json!({"200": {"description": "OK"}}));
                    }
                    for p in op
                        .get_mut("parameters")
                        .and_then(Value::as_array_mut)
                        .into_iter()
                        .flatten()
                    {
                        if let Some(ty) = p.pointer("/schema/type").cloned() {
                            p["type"] = ty;
                            p["uniqueItems"] = json!(true);
                            if let Some(o) = p.as_object_mut() {
                                o.remove("schema");
                            }
                        }
                    }
                }
                paths.insert(p, item);
            }
        }
    }
    paths
}

/// The document as JSON.
pub fn json(store: &Store) -> Value {
    json!({
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": "v1.32.0"},
        "paths": paths(store),
        "definitions": builtin_definitions(),
    })
}

/// The document in gnostic's protobuf encoding.
pub fn protobuf(store: &Store) -> Vec<u8> {
    // The definitions never change; encode them once. Concatenated
    // protobuf messages merge, so the paths are appended per request.
    static STATIC: OnceLock<Vec<u8>> = OnceLock::new();
    let mut out = STATIC
        .get_or_init(|| {
            let mut doc = Vec::new();
            string(&mut doc, 1, "2.0");
            let mut info = Vec::new();
            string(&mut info, 1, "Kubernetes");
            string(&mut info, 2, "v1.32.0");
            message(&mut doc, 2, &info);
            let mut defs = Vec::new();
            for (name, s) in builtin_definitions() {
                message(&mut defs, 1, &named(name, &schema(s)));
            }
            message(&mut doc, 9, &defs);
            doc
        })
        .clone();
    let mut ps = Vec::new();
    for (path, item) in paths(store) {
        let mut pi = Vec::new();
        if let Some(patch) = item.get("patch") {
            message(&mut pi, 8, &operation(patch));
        }
        message(&mut ps, 2, &named(&path, &pi));
    }
    message(&mut out, 8, &ps);
    out
}

// ---- protobuf encoding ----

fn varint(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

fn bytes(out: &mut Vec<u8>, field: u64, data: &[u8]) {
    varint(out, field << 3 | 2);
    varint(out, data.len() as u64);
    out.extend_from_slice(data);
}

fn string(out: &mut Vec<u8>, field: u64, s: &str) {
    bytes(out, field, s.as_bytes());
}

fn message(out: &mut Vec<u8>, field: u64, m: &[u8]) {
    bytes(out, field, m);
}

fn boolean(out: &mut Vec<u8>, field: u64, b: bool) {
    if b {
        varint(out, field << 3);
        varint(out, 1);
    }
}

fn int(out: &mut Vec<u8>, field: u64, v: i64) {
    varint(out, field << 3);
    varint(out, v as u64);
}

/// A `Named…` message: name (1) and value (2).
fn named(name: &str, value: &[u8]) -> Vec<u8> {
    let mut m = Vec::new();
    string(&mut m, 1, name);
    message(&mut m, 2, value);
    m
}

/// An `Any` message holding `v` as YAML (JSON is YAML).
fn any(v: &Value) -> Vec<u8> {
    let mut m = Vec::new();
    string(&mut m, 2, &v.to_string());
    m
}

fn extensions(out: &mut Vec<u8>, field: u64, obj: &Map<String, Value>) {
    for (k, v) in obj.iter().filter(|(k, _)| k.starts_with("x-")) {
        message(out, field, &named(k, &any(v)));
    }
}

/// A `Schema` message.
fn schema(v: &Value) -> Vec<u8> {
    let mut m = Vec::new();
    let Some(o) = v.as_object() else {
        return m;
    };
    let s = |k: &str| o.get(k).and_then(Value::as_str);
    if let Some(r) = s("$ref") {
        string(&mut m, 1, r);
    }
    if let Some(f) = s("format") {
        string(&mut m, 2, f);
    }
    if let Some(t) = s("title") {
        string(&mut m, 3, t);
    }
    if let Some(d) = s("description") {
        string(&mut m, 4, d);
    }
    if let Some(d) = o.get("default") {
        message(&mut m, 5, &any(d));
    }
    for (k, f) in [
        ("maxLength", 11),
        ("minLength", 12),
        ("maxItems", 14),
        ("minItems", 15),
    ] {
        if let Some(n) = o.get(k).and_then(Value::as_i64) {
            int(&mut m, f, n);
        }
    }
    if let Some(p) = s("pattern") {
        string(&mut m, 13, p);
    }
    boolean(
        &mut m,
        16,
        o.get("uniqueItems").and_then(Value::as_bool) == Some(true),
    );
    for r in o
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(r) = r.as_str() {
            string(&mut m, 19, r);
        }
    }
    for e in o
        .get("enum")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        message(&mut m, 20, &any(e));
    }
    match o.get("additionalProperties") {
        Some(Value::Bool(b)) => {
            let mut a = Vec::new();
            varint(&mut a, 2 << 3);
            varint(&mut a, u64::from(*b));
            message(&mut m, 21, &a);
        }
        Some(x @ Value::Object(_)) => {
            let mut a = Vec::new();
            message(&mut a, 1, &schema(x));
            message(&mut m, 21, &a);
        }
        _ => {}
    }
    if let Some(t) = s("type") {
        let mut ty = Vec::new();
        string(&mut ty, 1, t);
        message(&mut m, 22, &ty);
    }
    if let Some(items) = o.get("items") {
        let mut it = Vec::new();
        message(&mut it, 1, &schema(items));
        message(&mut m, 23, &it);
    }
    for a in o
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        message(&mut m, 24, &schema(a));
    }
    if let Some(props) = o.get("properties").and_then(Value::as_object) {
        let mut p = Vec::new();
        for (k, v) in props {
            message(&mut p, 1, &named(k, &schema(v)));
        }
        message(&mut m, 25, &p);
    }
    boolean(
        &mut m,
        27,
        o.get("readOnly").and_then(Value::as_bool) == Some(true),
    );
    extensions(&mut m, 31, o);
    m
}

/// An `Operation` message with its query parameters.
fn operation(op: &Value) -> Vec<u8> {
    let mut m = Vec::new();
    if let Some(id) = op.get("operationId").and_then(Value::as_str) {
        string(&mut m, 5, id);
    }
    for p in op
        .get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let s = |k: &str| p.get(k).and_then(Value::as_str).unwrap_or("");
        let mut q = Vec::new();
        string(&mut q, 2, s("in"));
        string(&mut q, 4, s("name"));
        string(&mut q, 6, s("type"));
        boolean(&mut q, 20, true);
        let mut non_body = Vec::new();
        message(&mut non_body, 3, &q);
        let mut param = Vec::new();
        message(&mut param, 2, &non_body);
        let mut item = Vec::new();
        message(&mut item, 1, &param);
        message(&mut m, 8, &item);
    }
    let mut responses = Vec::new();
    let mut ok = Vec::new();
    string(&mut ok, 1, "OK");
    let mut rv = Vec::new();
    message(&mut rv, 1, &ok);
    message(&mut responses, 1, &named("200", &rv));
    message(&mut m, 9, &responses);
    if let Some(o) = op.as_object() {
        extensions(&mut m, 13, o);
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protobuf_starts_with_the_swagger_version_and_names_every_kind() {
        let store = Store::new();
        let b = protobuf(&store);
        assert_eq!(&b[..5], b"\x0a\x032.0");
        let text = String::from_utf8_lossy(&b);
        for needle in [
            "io.k8s.api.apps.v1.Deployment",
            "x-kubernetes-group-version-kind",
            "/apis/apps/v1/namespaces/{namespace}/deployments/{name}",
            "fieldValidation",
            "x-kubernetes-patch-merge-key",
        ] {
            assert!(text.contains(needle), "{needle}");
        }
        let j = json(&store);
        assert_eq!(
            j["paths"]["/api/v1/namespaces/{namespace}/configmaps/{name}"]["patch"]["parameters"]
                [2]["type"],
            "string"
        );
    }
}
