//! The in-memory cluster's server-side apply: checks an object against its
//! ID, and merges it into the live object as one field manager would.

use serde_json::Value;

use crate::cluster::{ClusterError, ClusterErrorKind};
use crate::resource::ResourceId;

/// Checks `object`, to be applied as `id`, as an API server would.
pub(super) fn validate(id: &ResourceId, object: &Value) -> Result<(), ClusterError> {
    let invalid = |message: String| {
        Err(ClusterError::new(
            ClusterErrorKind::Invalid,
            Some(id.clone()),
            message,
        ))
    };
    let name = object["metadata"]["name"].as_str().unwrap_or_default();
    if name != id.name() {
        return invalid(format!(
            "the name of the object ({name}) does not match the name on the URL ({})",
            id.name()
        ));
    }
    let kind = object["kind"].as_str().unwrap_or_default();
    if !kind.eq_ignore_ascii_case(id.kind()) {
        return invalid(format!("kind {kind} does not match {}", id.kind()));
    }
    if object["kind"] == "Secret"
        && object["apiVersion"] == "v1"
        && let Some(string_data) = object.get("stringData").filter(|v| !v.is_null())
        && !string_data
            .as_object()
            .is_some_and(|m| m.values().all(Value::is_string))
    {
        return invalid("stringData must be a map of strings".to_owned());
    }
    if let (Some(ns), Some(given)) = (id.namespace(), object["metadata"]["namespace"].as_str())
        && ns != given
    {
        return invalid(format!(
            "the namespace of the provided object ({given}) does not match the namespace sent on the request ({ns})"
        ));
    }
    if let Some(reason) = selector_problem(object) {
        return invalid(reason);
    }
    Ok(())
}

/// Why an apps/v1 workload's selector is refused, as a server refuses it:
/// missing, empty, or not matching the pod template's labels. (Only
/// `matchLabels` is checked against the labels; `matchExpressions` alone
/// counts as a selector.)
pub(super) fn selector_problem(object: &Value) -> Option<String> {
    let workload = object["apiVersion"] == "apps/v1"
        && matches!(
            object["kind"].as_str(),
            Some("Deployment" | "DaemonSet" | "StatefulSet" | "ReplicaSet")
        );
    if !workload {
        return None;
    }
    let selector = &object["spec"]["selector"];
    let match_labels = selector["matchLabels"].as_object();
    let expressions = selector["matchExpressions"]
        .as_array()
        .is_some_and(|e| !e.is_empty());
    if match_labels.is_none_or(|m| m.is_empty()) && !expressions {
        return Some("spec.selector: Required value (a non-empty selector)".to_owned());
    }
    let labels = &object["spec"]["template"]["metadata"]["labels"];
    let mismatch = match_labels
        .into_iter()
        .flatten()
        .any(|(k, v)| labels.get(k) != Some(v));
    mismatch.then(|| {
        "spec.template.metadata.labels: Invalid value: `selector` does not match template `labels`"
            .to_owned()
    })
}

/// Removes from `live` the fields Flux applied before (`previous`) and no
/// longer applies (`next`).
pub(super) fn remove_dropped(live: &mut Value, previous: &Value, next: &Value) {
    if let (Value::Object(live), Value::Object(previous)) = (live, previous) {
        for (key, was) in previous {
            match next.get(key) {
                None => {
                    live.remove(key);
                }
                Some(now) => {
                    if let Some(field) = live.get_mut(key) {
                        remove_dropped(field, was, now);
                    }
                }
            }
        }
    }
}

/// Writes `applied` over `live`: maps merge, everything else is replaced.
pub(super) fn overlay(live: &mut Value, applied: &Value) {
    match (live, applied) {
        (Value::Object(live), Value::Object(applied)) => {
            for (key, value) in applied {
                match live.get_mut(key) {
                    Some(field) if field.is_object() && value.is_object() => overlay(field, value),
                    _ => {
                        live.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (live, applied) => *live = applied.clone(),
    }
}
