//! Deciding, without a request, that applying an object would change
//! nothing, so a sync of an unchanged repository sends no writes.
//!
//! A server-side apply by manager M of a desired object D onto a live
//! object L changes nothing when
//! 1. every field of D is in L with the same value (D ⊆ L): nothing to set
//!    or take over; and
//! 2. every field M owns in L is still in D: nothing to prune; and
//! 3. M already has an apply entry in L's managedFields.
//!
//! The check is conservative: lists must match element by element, so a
//! list with extra live elements (a sidecar injected by a webhook) or a
//! value the server normalised (`cpu: 0.5` stored as `500m`) makes the
//! object count as changed and it is applied, which is correct, just not
//! free. It never calls an object unchanged that an apply would change.

use flux_core::sync::as_stored;
use serde_json::Value;

/// Whether applying `desired` as `manager` onto `live` would change
/// nothing.
pub fn unchanged(desired: &Value, live: &Value, manager: &str) -> bool {
    let Some(entry) = apply_entry(live, manager) else {
        return false;
    };
    subset(&as_stored(desired), live)
        && owned_within(entry.get("fieldsV1").unwrap_or(&Value::Null), desired)
}

/// The managedFields entry of `manager`'s applies to the object itself.
fn apply_entry<'a>(live: &'a Value, manager: &str) -> Option<&'a Value> {
    live.pointer("/metadata/managedFields")?
        .as_array()?
        .iter()
        .find(|e| {
            e.get("manager").and_then(Value::as_str) == Some(manager)
                && e.get("operation").and_then(Value::as_str) == Some("Apply")
                && e.get("subresource")
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty)
        })
}

/// Whether every field of `d` is in `l` with the same value.
pub fn subset(d: &Value, l: &Value) -> bool {
    match (d, l) {
        (Value::Object(dm), Value::Object(lm)) => dm.iter().all(|(k, dv)| match lm.get(k) {
            Some(lv) => subset(dv, lv),
            None => dv.is_null(),
        }),
        (Value::Array(da), Value::Array(la)) => {
            da.len() == la.len() && da.iter().zip(la).all(|(x, y)| subset(x, y))
        }
        (Value::Number(a), Value::Number(b)) => a == b || a.as_f64() == b.as_f64(),
        (a, b) => a == b,
    }
}

/// Whether every path of a `fieldsV1` set is present in `d`.
fn owned_within(fields: &Value, d: &Value) -> bool {
    let Some(map) = fields.as_object() else {
        return fields.is_null();
    };
    map.iter().all(|(key, child)| {
        if key == "." {
            return true;
        }
        let Some((tag, rest)) = key.split_once(':') else {
            return false;
        };
        let next: Vec<&Value> = match tag {
            "f" => d.get(rest).into_iter().collect(),
            "k" => {
                let Ok(Value::Object(want)) = serde_json::from_str::<Value>(rest) else {
                    return false;
                };
                d.as_array()
                    .into_iter()
                    .flatten()
                    .filter(|item| {
                        want.iter().all(|(k, v)| match item.get(k) {
                            Some(x) => x == v,
                            // The one key default Kubernetes applies.
                            None => k == "protocol" && v == "TCP",
                        })
                    })
                    .collect()
            }
            "v" => {
                let Ok(want) = serde_json::from_str::<Value>(rest) else {
                    return false;
                };
                d.as_array()
                    .into_iter()
                    .flatten()
                    .filter(|x| **x == want)
                    .collect()
            }
            "i" => rest
                .parse::<usize>()
                .ok()
                .and_then(|i| d.as_array().and_then(|a| a.get(i)))
                .into_iter()
                .collect(),
            _ => return false,
        };
        match next.as_slice() {
            [one] => owned_within(child, one),
            _ => false,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn live(fields: Value, extra: Value) -> Value {
        let mut l = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "demo", "uid": "u", "resourceVersion": "7",
                         "labels": {"app": "web", "fluxcd.io/sync-gc-mark": "sha256.x"},
                         "managedFields": [
                            {"manager": "flux", "operation": "Apply", "apiVersion": "apps/v1", "fieldsType": "FieldsV1",
                             "fieldsV1": fields},
                            {"manager": "hpa", "operation": "Update", "subresource": "scale", "fieldsV1": {"f:spec": {"f:replicas": {}}}}]},
            "spec": {"replicas": 5, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "app", "image": "nginx:1", "terminationMessagePath": "/dev/termination-log",
                                                           "ports": [{"containerPort": 80, "protocol": "TCP"}]}]}}}
        });
        if let (Some(m), Some(e)) = (l.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                m.insert(k.clone(), v.clone());
            }
        }
        l
    }

    fn flux_fields() -> Value {
        json!({"f:metadata": {"f:labels": {"f:app": {}, "f:fluxcd.io/sync-gc-mark": {}}},
               "f:spec": {"f:selector": {}, "f:template": {"f:metadata": {"f:labels": {"f:app": {}}},
                 "f:spec": {"f:containers": {"k:{\"name\":\"app\"}": {".": {}, "f:image": {}, "f:name": {},
                   "f:ports": {"k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {".": {}, "f:containerPort": {}}}}}}}}})
    }

    fn desired() -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "demo", "labels": {"app": "web", "fluxcd.io/sync-gc-mark": "sha256.x"}},
            "spec": {"selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "app", "image": "nginx:1", "ports": [{"containerPort": 80}]}]}}}
        })
    }

    #[test]
    fn table() {
        let base = live(flux_fields(), json!({}));
        // Same content; replicas owned by the HPA and server defaults do not matter.
        assert!(unchanged(&desired(), &base, "flux"));
        // Another manager.
        assert!(!unchanged(&desired(), &base, "kubectl"));
        // Git changed the image.
        let mut d = desired();
        d["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:2");
        assert!(!unchanged(&d, &base, "flux"));
        // Someone edited a field flux owns in the cluster.
        let mut drifted = base.clone();
        drifted["metadata"]["labels"]["app"] = json!("other");
        assert!(!unchanged(&desired(), &drifted, "flux"));
        // A field flux applied before is gone from git: it must be pruned.
        let mut owned = flux_fields();
        owned["f:spec"]["f:paused"] = json!({});
        let mut with_paused = base.clone();
        with_paused["spec"]["paused"] = json!(true);
        with_paused["metadata"]["managedFields"][0]["fieldsV1"] = owned;
        assert!(!unchanged(&desired(), &with_paused, "flux"));
        // Git now sets replicas, which the HPA owns.
        let mut d = desired();
        d["spec"]["replicas"] = json!(2);
        assert!(!unchanged(&d, &base, "flux"));
        // An extra live list element (a sidecar) makes it count as changed.
        let mut sidecar = base.clone();
        sidecar["spec"]["template"]["spec"]["containers"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "proxy", "image": "envoy"}));
        assert!(!unchanged(&desired(), &sidecar, "flux"));
        // No managedFields at all.
        let mut bare = base.clone();
        bare["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("managedFields");
        assert!(!unchanged(&desired(), &bare, "flux"));
    }

    #[test]
    fn owned_paths_resolve_through_keys_sets_and_indexes() {
        let d = json!({"a": [{"name": "x", "v": 1}], "s": ["p", "q"], "l": [10, 20],
                       "ports": [{"containerPort": 80}]});
        let cases = [
            (
                json!({"f:a": {"k:{\"name\":\"x\"}": {".": {}, "f:v": {}}}}),
                true,
            ),
            (json!({"f:a": {"k:{\"name\":\"y\"}": {}}}), false),
            (json!({"f:a": {"k:{\"name\":\"x\"}": {"f:w": {}}}}), false),
            (json!({"f:s": {"v:\"q\"": {}}}), true),
            (json!({"f:s": {"v:\"r\"": {}}}), false),
            (json!({"f:l": {"i:1": {}}}), true),
            (json!({"f:l": {"i:2": {}}}), false),
            (
                json!({"f:ports": {"k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {}}}),
                true,
            ),
            (
                json!({"f:ports": {"k:{\"containerPort\":80,\"protocol\":\"UDP\"}": {}}}),
                false,
            ),
            (json!({"x:bogus": {}}), false),
        ];
        for (fields, want) in cases {
            assert_eq!(owned_within(&fields, &d), want, "{fields}");
        }
        assert!(subset(&json!({"n": 1}), &json!({"n": 1.0})));
        let secret = json!({"apiVersion": "v1", "kind": "Secret", "stringData": {"k": "v"}, "data": {"a": "Yg=="}});
        assert_eq!(
            *as_stored(&secret),
            json!({"apiVersion": "v1", "kind": "Secret", "data": {"a": "Yg==", "k": "dg=="}})
        );
        assert!(!subset(&json!({"n": 1}), &json!({"n": 2})));
        assert!(subset(&json!({"gone": null}), &json!({})));
    }
}
