//! The `scale` subresource: the `autoscaling/v1` Scale view of Deployments,
//! StatefulSets, ReplicaSets and scalable custom resources, which
//! `kubectl scale` and autoscalers write.

use serde_json::{Value, json};

use crate::resources::ResourceType;

/// Sets the value at a JSON pointer, creating objects on the way.
pub fn set_pointer(v: &mut Value, pointer: &str, value: Value) {
    let mut cur = v;
    let parts: Vec<&str> = pointer.trim_start_matches('/').split('/').collect();
    for (i, p) in parts.iter().enumerate() {
        if !cur.is_object() {
            *cur = json!({});
        }
        let Some(m) = cur.as_object_mut() else { return };
        if i == parts.len() - 1 {
            m.insert((*p).to_owned(), value);
            return;
        }
        cur = m.entry((*p).to_owned()).or_insert_with(|| json!({}));
    }
}

/// The `autoscaling/v1` Scale view of a scalable object.
pub fn scale_of(rt: &ResourceType, obj: &Value) -> Value {
    let meta = obj.get("metadata").cloned().unwrap_or(json!({}));
    let pick = |k: &str| meta.get(k).cloned().unwrap_or(Value::Null);
    let paths = rt.scale.as_ref();
    let spec_replicas = paths
        .and_then(|p| obj.pointer(&p.spec_replicas))
        .cloned()
        .unwrap_or(json!(0));
    let status_replicas = paths
        .and_then(|p| obj.pointer(&p.status_replicas))
        .cloned()
        .unwrap_or(json!(0));
    let mut m = serde_json::Map::new();
    for k in [
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "creationTimestamp",
    ] {
        if !pick(k).is_null() {
            m.insert(k.into(), pick(k));
        }
    }
    let mut status = json!({"replicas": status_replicas});
    let selector = paths
        .and_then(|p| p.label_selector.as_deref())
        .and_then(|p| obj.pointer(p))
        .cloned()
        .or_else(|| {
            obj.pointer("/spec/selector/matchLabels")
                .and_then(Value::as_object)
                .map(|ml| {
                    let parts: Vec<String> = ml
                        .iter()
                        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                        .collect();
                    Value::String(parts.join(","))
                })
        });
    if let Some(s) = selector {
        status["selector"] = s;
    }
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": Value::Object(m),
        "spec": {"replicas": spec_replicas},
        "status": status,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::builtins;

    #[test]
    fn scale_view_of_a_deployment() {
        let rt = builtins()
            .into_iter()
            .find(|t| t.kind == "Deployment")
            .unwrap();
        let d = json!({"metadata": {"name": "web", "namespace": "demo"},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}}},
            "status": {"replicas": 2}});
        let s = scale_of(&rt, &d);
        assert_eq!(s["kind"], "Scale");
        assert_eq!(s["spec"]["replicas"], 3);
        assert_eq!(s["status"], json!({"replicas": 2, "selector": "app=web"}));
        let mut v = json!({});
        set_pointer(&mut v, "/spec/replicas", json!(4));
        assert_eq!(v, json!({"spec": {"replicas": 4}}));
    }
}
