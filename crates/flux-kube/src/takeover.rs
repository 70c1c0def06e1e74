//! Taking over the fields client-side `kubectl apply` owns, so that a field
//! removed from git is removed from an object Flux v1 (or a person with
//! `kubectl apply`) applied before.
//!
//! Server-side apply removes only fields the applier owned and no one else
//! does. An object last written by client-side apply has its fields owned
//! by an `Update` manager (`kubectl-client-side-apply`; plain `kubectl`
//! before kubectl 1.18), so Flux's applies would share them and never
//! remove one. kubectl itself meets this when moving to
//! `--server-side`, and does what this module does (as Flux v2 does too):
//! the `Update` managers that own the
//! `kubectl.kubernetes.io/last-applied-configuration` annotation are the
//! client-side appliers; their fields are merged into Flux's `Apply`
//! entry and they are dropped, by a JSON patch of `metadata.managedFields`
//! guarded by the object's `resourceVersion`; then the object is applied
//! again, which removes what git no longer sets (the last-applied record
//! included). Other managers keep theirs: an HPA's replicas, written
//! through the `scale` subresource, stay.

use serde_json::{Map, Value, json};

/// Whether a `managedFields` entry is a client-side applier's: an
/// `Update` of the object itself that owns the last-applied annotation.
fn client_side_applier(entry: &Value) -> bool {
    entry.get("operation").and_then(Value::as_str) == Some("Update")
        && entry
            .get("subresource")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        && entry
            .pointer("/fieldsV1/f:metadata/f:annotations")
            .and_then(|a| a.get(format!("f:{}", flux_core::sync::LAST_APPLIED_ANNOTATION)))
            .is_some()
}

fn own_apply_entry(entry: &Value, manager: &str) -> bool {
    entry.get("manager").and_then(Value::as_str) == Some(manager)
        && entry.get("operation").and_then(Value::as_str) == Some("Apply")
        && entry
            .get("subresource")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
}

/// Adds every path of field set `from` to `into` (both `fieldsV1` tries).
fn union(into: &mut Value, from: &Value) {
    let (Some(into), Some(from)) = (into.as_object_mut(), from.as_object()) else {
        return;
    };
    for (key, sub) in from {
        let slot = into
            .entry(key.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        union(slot, sub);
    }
}

/// The JSON patch (as a JSON value) moving the client-side appliers' fields
/// of `object` to `manager`'s apply entry, or `None` when no client-side
/// applier owns anything.
pub(crate) fn patch(object: &Value, manager: &str) -> Option<Value> {
    let entries = object.pointer("/metadata/managedFields")?.as_array()?;
    let appliers: Vec<usize> = (0..entries.len())
        .filter(|&i| client_side_applier(&entries[i]))
        .collect();
    let &first = appliers.first()?;
    let resource_version = object.pointer("/metadata/resourceVersion")?.as_str()?;
    let target = entries
        .iter()
        .position(|e| own_apply_entry(e, manager))
        .unwrap_or(first);
    let mut merged = entries[target].clone();
    if target == first {
        // No apply entry yet: the client-side one becomes it.
        merged["manager"] = json!(manager);
        merged["operation"] = json!("Apply");
    }
    let mut fields = merged.get("fieldsV1").cloned().unwrap_or_else(|| json!({}));
    for &i in &appliers {
        if let Some(f) = entries[i].get("fieldsV1") {
            union(&mut fields, f);
        }
    }
    merged["fieldsV1"] = fields;
    let mut out: Vec<Value> = Vec::with_capacity(entries.len());
    for (i, e) in entries.iter().enumerate() {
        if i == target {
            out.push(merged.clone());
        } else if !appliers.contains(&i) {
            out.push(e.clone());
        }
    }
    Some(json!([
        {"op": "replace", "path": "/metadata/managedFields", "value": out},
        // A replace, not a test: the server answers a stale version with a
        // 409 Conflict, which is retried with a fresh read.
        {"op": "replace", "path": "/metadata/resourceVersion", "value": resource_version},
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csa(manager: &str, fields: Value) -> Value {
        json!({"manager": manager, "operation": "Update", "apiVersion": "apps/v1",
               "time": "2020-01-01T00:00:00Z", "fieldsType": "FieldsV1", "fieldsV1": fields})
    }

    fn last_applied_and(extra: Value) -> Value {
        let mut f = json!({"f:metadata": {"f:annotations": {
            ".": {}, "f:kubectl.kubernetes.io/last-applied-configuration": {}}}});
        union(&mut f, &extra);
        f
    }

    fn object(entries: Vec<Value>) -> Value {
        json!({"metadata": {"name": "x", "resourceVersion": "7", "managedFields": entries}})
    }

    #[test]
    fn client_side_fields_become_flux_apply_fields() {
        let scale = json!({"manager": "kube-controller-manager", "operation": "Update",
            "apiVersion": "apps/v1", "subresource": "scale", "fieldsType": "FieldsV1",
            "fieldsV1": {"f:spec": {"f:replicas": {}}}});
        let obj = object(vec![
            csa(
                "kubectl-client-side-apply",
                last_applied_and(json!({"f:data": {"f:a": {}}})),
            ),
            scale.clone(),
        ]);
        let p = patch(&obj, "flux").expect("a patch");
        let entries = p[0]["value"].as_array().expect("entries");
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0]["manager"], "flux");
        assert_eq!(entries[0]["operation"], "Apply");
        assert!(entries[0]["fieldsV1"]["f:data"].get("f:a").is_some());
        assert_eq!(entries[1], scale, "other managers are untouched");
        assert_eq!(
            p[1],
            json!({"op": "replace", "path": "/metadata/resourceVersion", "value": "7"})
        );
    }

    #[test]
    fn merged_into_an_existing_apply_entry_and_every_applier_dropped() {
        let flux = json!({"manager": "flux", "operation": "Apply", "apiVersion": "apps/v1",
            "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {"f:b": {}}}});
        let obj = object(vec![
            flux,
            csa(
                "kubectl-client-side-apply",
                last_applied_and(json!({"f:data": {"f:a": {}}})),
            ),
            csa("kubectl", last_applied_and(json!({"f:data": {"f:c": {}}}))),
            // kubectl edit owns no last-applied record: someone else's.
            csa("kubectl-edit", json!({"f:data": {"f:d": {}}})),
        ]);
        let p = patch(&obj, "flux").expect("a patch");
        let entries = p[0]["value"].as_array().expect("entries");
        let names: Vec<&str> = entries
            .iter()
            .filter_map(|e| e["manager"].as_str())
            .collect();
        assert_eq!(names, ["flux", "kubectl-edit"]);
        let data = &entries[0]["fieldsV1"]["f:data"];
        for f in ["f:a", "f:b", "f:c"] {
            assert!(data.get(f).is_some(), "{f} in {data}");
        }
    }

    #[test]
    fn nothing_to_do_without_a_client_side_applier() {
        let flux = json!({"manager": "flux", "operation": "Apply", "fieldsV1": {"f:data": {}}});
        assert_eq!(patch(&object(vec![flux]), "flux"), None);
        assert_eq!(patch(&json!({"metadata": {"name": "x"}}), "flux"), None);
        // An apply manager owning the record (kubectl --server-side) is not
        // a client-side applier.
        let ssa = json!({"manager": "kubectl", "operation": "Apply",
                         "fieldsV1": last_applied_and(json!({}))});
        assert_eq!(patch(&object(vec![ssa]), "flux"), None);
    }
}
