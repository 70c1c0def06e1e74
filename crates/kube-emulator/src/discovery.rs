//! Discovery documents: `/version`, `/api`, `/apis`, `/apis/<group>`,
//! `/api/v1` and `/apis/<group>/<version>`, in the legacy form and in the
//! aggregated form (`apidiscovery.k8s.io/v2` and `v2beta1`) that current
//! kubectl and kube-rs ask for first.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};

use crate::resources::ResourceType;

/// The version the emulator reports.
pub fn version() -> Value {
    json!({
        "major": "1",
        "minor": "32",
        "gitVersion": "v1.32.0-kube-emulator",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.23.0",
        "compiler": "gc",
        "platform": "linux/amd64"
    })
}

/// Which aggregated discovery version an `Accept` header prefers, if any.
pub fn aggregated_version(accept: &str) -> Option<&'static str> {
    for part in accept.split(',') {
        let p = part.replace(' ', "");
        if p.contains("as=APIGroupDiscoveryList") {
            if p.contains("v=v2beta1") {
                return Some("v2beta1");
            }
            if p.contains("v=v2") {
                return Some("v2");
            }
        } else if p.starts_with("application/json") || p.starts_with("*/*") {
            return None;
        }
    }
    None
}

/// Groups (other than core) with their types, in a stable order: built-in
/// groups first as registered, then CRD groups by name.
fn groups(types: &[Arc<ResourceType>]) -> Vec<(String, Vec<&Arc<ResourceType>>)> {
    let mut order: Vec<String> = Vec::new();
    let mut by: BTreeMap<String, Vec<&Arc<ResourceType>>> = BTreeMap::new();
    for t in types.iter().filter(|t| !t.group.is_empty()) {
        if !by.contains_key(&t.group) {
            order.push(t.group.clone());
        }
        by.entry(t.group.clone()).or_default().push(t);
    }
    order
        .into_iter()
        .map(|g| {
            let ts = by.remove(&g).unwrap_or_default();
            (g, ts)
        })
        .collect()
}

/// Versions served by a group, preferred first.
fn group_versions(types: &[&Arc<ResourceType>]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for t in types {
        for v in &t.versions {
            if !out.contains(v) {
                out.push(v.clone());
            }
        }
    }
    out
}

/// `GET /api` (legacy).
pub fn core_versions(server: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server}]
    })
}

fn group_json(name: &str, versions: &[String]) -> Value {
    let gv = |v: &String| json!({"groupVersion": format!("{name}/{v}"), "version": v});
    json!({
        "name": name,
        "versions": versions.iter().map(gv).collect::<Vec<_>>(),
        "preferredVersion": versions.first().map(gv).unwrap_or(Value::Null),
    })
}

/// `GET /apis` (legacy).
pub fn group_list(types: &[Arc<ResourceType>]) -> Value {
    let groups: Vec<Value> = groups(types)
        .iter()
        .map(|(g, ts)| group_json(g, &group_versions(ts)))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `GET /apis/<group>`.
pub fn group(types: &[Arc<ResourceType>], name: &str) -> Option<Value> {
    groups(types)
        .into_iter()
        .find(|(g, _)| g == name)
        .map(|(g, ts)| {
            let mut v = group_json(&g, &group_versions(&ts));
            v["kind"] = json!("APIGroup");
            v["apiVersion"] = json!("v1");
            v
        })
}

/// `GET /api/v1` or `/apis/<group>/<version>`.
pub fn resource_list(types: &[Arc<ResourceType>], group: &str, version: &str) -> Option<Value> {
    let ts: Vec<&Arc<ResourceType>> = types
        .iter()
        .filter(|t| t.group == group && t.versions.iter().any(|v| v == version))
        .collect();
    if ts.is_empty() {
        return None;
    }
    let mut resources = Vec::new();
    for t in ts {
        resources.push(json!({
            "name": t.plural,
            "singularName": t.singular,
            "namespaced": t.namespaced,
            "kind": t.kind,
            "verbs": t.verbs(),
            "shortNames": t.short_names,
            "categories": t.categories,
        }));
        for sub in t.subresources() {
            let mut r = json!({
                "name": format!("{}/{sub}", t.plural),
                "singularName": "",
                "namespaced": t.namespaced,
                "kind": t.kind,
                "verbs": ["get", "patch", "update"],
            });
            if sub == "scale" {
                r["group"] = json!("autoscaling");
                r["version"] = json!("v1");
                r["kind"] = json!("Scale");
            }
            resources.push(r);
        }
    }
    let gv = if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    };
    Some(
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}),
    )
}

fn aggregated_resource(t: &ResourceType, version: &str) -> Value {
    let subs: Vec<Value> = t
        .subresources()
        .into_iter()
        .map(|sub| {
            let kind = if sub == "scale" {
                json!({"group": "autoscaling", "version": "v1", "kind": "Scale"})
            } else {
                json!({"group": t.group, "version": version, "kind": t.kind})
            };
            json!({"subresource": sub, "responseKind": kind, "verbs": ["get", "patch", "update"]})
        })
        .collect();
    json!({
        "resource": t.plural,
        "responseKind": {"group": t.group, "version": version, "kind": t.kind},
        "scope": if t.namespaced { "Namespaced" } else { "Cluster" },
        "singularResource": t.singular,
        "verbs": t.verbs(),
        "shortNames": t.short_names,
        "categories": t.categories,
        "subresources": subs,
    })
}

fn aggregated_group(name: &str, types: &[&Arc<ResourceType>]) -> Value {
    let versions: Vec<Value> = group_versions(types)
        .iter()
        .map(|v| {
            let resources: Vec<Value> = types
                .iter()
                .filter(|t| t.versions.contains(v))
                .map(|t| aggregated_resource(t, v))
                .collect();
            json!({"version": v, "resources": resources, "freshness": "Current"})
        })
        .collect();
    let meta = if name.is_empty() {
        json!({})
    } else {
        json!({"name": name})
    };
    json!({"metadata": meta, "versions": versions})
}

/// Aggregated discovery for `/api` (`core`) or `/apis`.
pub fn aggregated(types: &[Arc<ResourceType>], core: bool, api_version: &str) -> Value {
    let items: Vec<Value> = if core {
        let ts: Vec<&Arc<ResourceType>> = types.iter().filter(|t| t.group.is_empty()).collect();
        vec![aggregated_group("", &ts)]
    } else {
        groups(types)
            .iter()
            .map(|(g, ts)| aggregated_group(g, ts))
            .collect()
    };
    json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": format!("apidiscovery.k8s.io/{api_version}"),
        "metadata": {},
        "items": items,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::builtins;

    #[test]
    fn accept_negotiation() {
        let kubectl = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
        assert_eq!(aggregated_version(kubectl), Some("v2"));
        assert_eq!(
            aggregated_version(
                "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"
            ),
            Some("v2beta1")
        );
        assert_eq!(aggregated_version("application/json, */*"), None);
        assert_eq!(aggregated_version(""), None);
    }

    #[test]
    fn documents() {
        let types = builtins();
        let core = resource_list(&types, "", "v1").unwrap();
        let names: Vec<&str> = core["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        assert!(
            names.contains(&"namespaces")
                && names.contains(&"configmaps")
                && names.contains(&"namespaces/status")
        );
        let apps = resource_list(&types, "apps", "v1").unwrap();
        let scale = apps["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == "deployments/scale")
            .unwrap();
        assert_eq!(scale["kind"], "Scale");
        assert!(resource_list(&types, "apps", "v2").is_none());
        let list = group_list(&types);
        assert!(
            list["groups"]
                .as_array()
                .unwrap()
                .iter()
                .any(|g| g["name"] == "rbac.authorization.k8s.io")
        );
        let agg = aggregated(&types, false, "v2");
        let apps = agg["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["metadata"]["name"] == "apps")
            .unwrap();
        let d = apps["versions"][0]["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["resource"] == "deployments")
            .unwrap();
        assert_eq!(d["scope"], "Namespaced");
        assert_eq!(d["shortNames"][0], "deploy");
        let core = aggregated(&types, true, "v2");
        assert_eq!(core["items"][0]["versions"][0]["version"], "v1");
    }
}
