//! Just enough OpenAPI v3 for kubectl.
//!
//! `kubectl apply --server-side` (with its default `--validate=strict`)
//! reads `/openapi/v3`, then the document of the object's group-version, and
//! looks for a PATCH operation tagged with the object's
//! `x-kubernetes-group-version-kind` that lists the `fieldValidation` query
//! parameter. Finding it, kubectl leaves validation to the server; otherwise
//! it falls back to downloading `/openapi/v2`, which the emulator does not
//! serve. So each document lists every resource's paths with their
//! operations and parameters, and no schemas.

use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;

use serde_json::{Map, Value, json};

use crate::resources::ResourceType;

/// `api/v1` or `apis/<group>/<version>` for each served group-version.
fn group_versions(
    types: &[Arc<ResourceType>],
) -> BTreeMap<String, Vec<(&Arc<ResourceType>, String)>> {
    let mut out: BTreeMap<String, Vec<(&Arc<ResourceType>, String)>> = BTreeMap::new();
    for t in types {
        for v in &t.versions {
            let key = if t.group.is_empty() {
                format!("api/{v}")
            } else {
                format!("apis/{}/{v}", t.group)
            };
            out.entry(key).or_default().push((t, v.clone()));
        }
    }
    out
}

fn hash_of(entries: &[(&Arc<ResourceType>, String)]) -> String {
    let mut h = DefaultHasher::new();
    for (t, v) in entries {
        (&t.group, v, &t.plural, &t.kind, t.namespaced).hash(&mut h);
    }
    format!("{:016X}", h.finish())
}

/// `GET /openapi/v3`: the index of group-version documents.
pub fn index(types: &[Arc<ResourceType>]) -> Value {
    let mut paths = Map::new();
    for (gv, entries) in group_versions(types) {
        let url = format!("/openapi/v3/{gv}?hash={}", hash_of(&entries));
        paths.insert(gv, json!({"serverRelativeURL": url}));
    }
    json!({"paths": paths})
}

fn param(name: &str, ty: &str) -> Value {
    json!({"name": name, "in": "query", "schema": {"type": ty, "uniqueItems": true}})
}

fn op(action: &str, gvk: &Value, params: Vec<Value>) -> Value {
    json!({
        "operationId": format!("{action}{}", gvk["kind"].as_str().unwrap_or("")),
        "parameters": params,
        "responses": {"200": {"description": "OK"}, "401": {"description": "Unauthorized"}},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": gvk,
    })
}

/// `GET /openapi/v3/<gv>`: paths and operations of one group-version.
pub fn document(types: &[Arc<ResourceType>], gv: &str) -> Option<Value> {
    let all = group_versions(types);
    let entries = all.get(gv)?;
    let mut paths = Map::new();
    for (t, v) in entries {
        let gvk = json!({"group": t.group, "version": v, "kind": t.kind});
        let prefix = format!("/{gv}");
        let collection = if t.namespaced {
            format!("{prefix}/namespaces/{{namespace}}/{}", t.plural)
        } else {
            format!("{prefix}/{}", t.plural)
        };
        let write = || {
            vec![
                param("dryRun", "string"),
                param("fieldManager", "string"),
                param("fieldValidation", "string"),
            ]
        };
        let mut patch_params = write();
        patch_params.push(param("force", "boolean"));
        paths.insert(
            collection.clone(),
            json!({
                "get": op("list", &gvk, vec![param("labelSelector", "string"), param("fieldSelector", "string"), param("watch", "boolean")]),
                "post": op("post", &gvk, write()),
                "delete": op("deletecollection", &gvk, vec![param("labelSelector", "string")]),
            }),
        );
        paths.insert(
            format!("{collection}/{{name}}"),
            json!({
                "get": op("get", &gvk, vec![]),
                "put": op("put", &gvk, write()),
                "patch": op("patch", &gvk, patch_params.clone()),
                "delete": op("delete", &gvk, vec![param("dryRun", "string"), param("propagationPolicy", "string")]),
            }),
        );
        for sub in t.subresources() {
            paths.insert(
                format!("{collection}/{{name}}/{sub}"),
                json!({
                    "get": op("get", &gvk, vec![]),
                    "put": op("put", &gvk, write()),
                    "patch": op("patch", &gvk, patch_params.clone()),
                }),
            );
        }
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.32.0"},
        "paths": paths,
        "components": {"schemas": {}},
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::builtins;

    #[test]
    fn patch_operations_list_field_validation() {
        let types = builtins();
        let idx = index(&types);
        let url = idx["paths"]["apis/apps/v1"]["serverRelativeURL"]
            .as_str()
            .unwrap();
        assert!(url.starts_with("/openapi/v3/apis/apps/v1?hash="));
        let doc = document(&types, "apis/apps/v1").unwrap();
        let p = &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
        assert_eq!(p["x-kubernetes-group-version-kind"]["kind"], "Deployment");
        assert!(
            p["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .any(|x| x["name"] == "fieldValidation" && x["in"] == "query")
        );
        let core = document(&types, "api/v1").unwrap();
        assert!(core["paths"].get("/api/v1/namespaces/{name}").is_some());
        assert!(document(&types, "apis/nope/v1").is_none());
    }
}
