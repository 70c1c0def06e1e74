//! A workload's rollout as Flux v1 summed it up for `list-workloads`: pod
//! counts and a status word (`started`, `updating`, `ready`, `error`),
//! read from the object's `status` as the API server (and its
//! controllers) keep it.

use flux_api::v6::RolloutStatus;
use serde_json::Value;

fn int(v: &Value, path: &[&str]) -> i32 {
    let mut cur = v;
    for p in path {
        cur = &cur[*p];
    }
    cur.as_i64()
        .and_then(|n| i32::try_from(n).ok())
        .unwrap_or(0)
}

fn generation_observed(object: &Value) -> bool {
    let generation = object["metadata"]["generation"].as_i64().unwrap_or(0);
    let observed = object["status"]["observedGeneration"].as_i64().unwrap_or(0);
    observed >= generation
}

/// The status word and rollout counts of a live workload object.
pub fn rollout(kind: &str, object: &Value) -> (String, RolloutStatus) {
    let status = &object["status"];
    match kind {
        "deployment" => {
            let desired = object["spec"]["replicas"].as_i64().map_or(1, |n| n as i32);
            let mut messages = Vec::new();
            for c in status["conditions"].as_array().into_iter().flatten() {
                let (t, s) = (c["type"].as_str(), c["status"].as_str());
                let failing = matches!((t, s), (Some("ReplicaFailure"), Some("True")))
                    || (t == Some("Progressing")
                        && c["reason"].as_str() == Some("ProgressDeadlineExceeded"));
                if failing && let Some(m) = c["message"].as_str() {
                    messages.push(m.to_owned());
                }
            }
            let r = RolloutStatus {
                desired,
                updated: int(status, &["updatedReplicas"]),
                ready: int(status, &["readyReplicas"]),
                available: int(status, &["availableReplicas"]),
                outdated: int(status, &["replicas"]) - int(status, &["updatedReplicas"]),
                messages,
            };
            let word = if !generation_observed(object) {
                "started"
            } else if !r.messages.is_empty() {
                "error"
            } else if r.updated == r.desired && r.available == r.desired && r.outdated == 0 {
                "ready"
            } else {
                "updating"
            };
            (word.into(), r)
        }
        "daemonset" => {
            let r = RolloutStatus {
                desired: int(status, &["desiredNumberScheduled"]),
                updated: int(status, &["updatedNumberScheduled"]),
                ready: int(status, &["numberReady"]),
                available: int(status, &["numberAvailable"]),
                outdated: int(status, &["currentNumberScheduled"])
                    - int(status, &["updatedNumberScheduled"]),
                messages: Vec::new(),
            };
            let word = if !generation_observed(object) {
                "started"
            } else if r.updated == r.desired && r.available == r.desired && r.outdated == 0 {
                "ready"
            } else {
                "updating"
            };
            (word.into(), r)
        }
        "statefulset" => {
            let spec_desired = object["spec"]["replicas"].as_i64().map_or(1, |n| n as i32);
            let mut desired = spec_desired;
            if let Some(partition) =
                object["spec"]["updateStrategy"]["rollingUpdate"]["partition"].as_i64()
            {
                desired = (desired - partition as i32).max(0);
            }
            let updated = if status["currentRevision"] != status["updateRevision"] {
                int(status, &["updatedReplicas"])
            } else {
                int(status, &["currentReplicas"])
            };
            let ready = int(status, &["readyReplicas"]);
            let r = RolloutStatus {
                desired,
                updated,
                ready,
                available: ready,
                outdated: desired - updated,
                messages: Vec::new(),
            };
            let word = if !generation_observed(object) {
                "started"
            } else if r.updated == r.desired && r.ready == spec_desired && r.outdated == 0 {
                "ready"
            } else {
                "updating"
            };
            (word.into(), r)
        }
        "cronjob" => ("ready".into(), RolloutStatus::default()),
        _ => (String::new(), RolloutStatus::default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn deployment_words() {
        let done = json!({
            "metadata": {"generation": 2},
            "spec": {"replicas": 2},
            "status": {"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "readyReplicas": 2, "availableReplicas": 2}
        });
        let (word, r) = rollout("deployment", &done);
        assert_eq!(word, "ready");
        assert_eq!(
            (r.desired, r.updated, r.ready, r.available, r.outdated),
            (2, 2, 2, 2, 0)
        );

        let rolling = json!({
            "metadata": {"generation": 3},
            "spec": {"replicas": 2},
            "status": {"observedGeneration": 3, "replicas": 3, "updatedReplicas": 1, "availableReplicas": 2}
        });
        let (word, r) = rollout("deployment", &rolling);
        assert_eq!(word, "updating");
        assert_eq!(r.outdated, 2);

        let unseen = json!({"metadata": {"generation": 4}, "status": {"observedGeneration": 3}});
        assert_eq!(rollout("deployment", &unseen).0, "started");

        let stuck = json!({
            "metadata": {"generation": 1},
            "status": {"observedGeneration": 1, "conditions": [
                {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded", "message": "ReplicaSet \"web-1\" has timed out progressing."}
            ]}
        });
        let (word, r) = rollout("deployment", &stuck);
        assert_eq!(word, "error");
        assert_eq!(
            r.messages,
            ["ReplicaSet \"web-1\" has timed out progressing."]
        );
    }

    #[test]
    fn statefulset_partition_and_daemonset() {
        let sts = json!({
            "metadata": {"generation": 1},
            "spec": {"replicas": 3, "updateStrategy": {"rollingUpdate": {"partition": 1}}},
            "status": {"observedGeneration": 1, "currentRevision": "a", "updateRevision": "b", "updatedReplicas": 2, "readyReplicas": 3}
        });
        let (word, r) = rollout("statefulset", &sts);
        assert_eq!((r.desired, r.updated, r.outdated), (2, 2, 0));
        assert_eq!(word, "ready");
        let ds = json!({
            "metadata": {"generation": 1},
            "status": {"observedGeneration": 1, "desiredNumberScheduled": 3, "updatedNumberScheduled": 3, "numberReady": 3, "numberAvailable": 3, "currentNumberScheduled": 3}
        });
        assert_eq!(rollout("daemonset", &ds).0, "ready");
    }
}
