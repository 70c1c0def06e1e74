//! The defaults the API server gives workloads' update strategies, which
//! `kubectl rollout status` reads (it refuses StatefulSets and DaemonSets
//! whose strategy is not `RollingUpdate`).

use serde_json::{Map, Value, json};

/// Fills in what a manifest leaves out, as the API server does.
pub fn workload(kind: &str, spec: &mut Map<String, Value>) {
    let (field, rolling) = match kind {
        "Deployment" => {
            spec.entry("progressDeadlineSeconds").or_insert(json!(600));
            (
                "strategy",
                json!({"maxUnavailable": "25%", "maxSurge": "25%"}),
            )
        }
        "StatefulSet" => {
            spec.entry("podManagementPolicy")
                .or_insert(json!("OrderedReady"));
            spec.entry("persistentVolumeClaimRetentionPolicy")
                .or_insert(json!({"whenDeleted": "Retain", "whenScaled": "Retain"}));
            ("updateStrategy", json!({"partition": 0}))
        }
        "DaemonSet" => (
            "updateStrategy",
            json!({"maxUnavailable": 1, "maxSurge": 0}),
        ),
        _ => return,
    };
    spec.entry("revisionHistoryLimit").or_insert(json!(10));
    let strategy = spec.entry(field).or_insert_with(|| json!({}));
    let Some(s) = strategy.as_object_mut() else {
        return;
    };
    s.entry("type").or_insert(json!("RollingUpdate"));
    if s.get("type") == Some(&json!("RollingUpdate")) {
        let r = s.entry("rollingUpdate").or_insert_with(|| json!({}));
        if let (Some(r), Some(d)) = (r.as_object_mut(), rolling.as_object()) {
            for (k, v) in d {
                r.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strategies() {
        let mut s = Map::new();
        workload("StatefulSet", &mut s);
        assert_eq!(
            s["updateStrategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}})
        );
        let mut d = json!({"strategy": {"type": "Recreate"}});
        workload("Deployment", d.as_object_mut().unwrap());
        assert_eq!(d["strategy"], json!({"type": "Recreate"}));
        assert_eq!(d["revisionHistoryLimit"], 10);
        let mut ds = json!({"updateStrategy": {"rollingUpdate": {"maxUnavailable": "50%"}}});
        workload("DaemonSet", ds.as_object_mut().unwrap());
        assert_eq!(
            ds["updateStrategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "50%", "maxSurge": 0}})
        );
    }
}
