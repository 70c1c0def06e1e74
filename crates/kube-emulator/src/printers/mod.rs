//! The Table columns and cells of the built-in kinds, as a real API
//! server's printers give them: the columns `kubectl get` shows, and the
//! priority-1 ones `kubectl get -o wide` adds (containers, images,
//! selectors, pod IPs and nodes, node addresses and versions).

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

mod kinds;

use kinds::{
    bool_text, count, format_labels, int, job_cells, len, node_cells, pod_cells, service_ports,
    since, str_at, template_cells,
};

/// One column: name, type, format, priority.
pub type Column = (String, &'static str, &'static str, i64);

fn col(name: &str, ty: &'static str) -> Column {
    (name.to_owned(), ty, "", 0)
}

fn wide(name: &str) -> Column {
    (name.to_owned(), "string", "", 1)
}

fn name_col() -> Column {
    ("Name".to_owned(), "string", "name", 0)
}

fn age_col() -> Column {
    col("Age", "string")
}

/// Containers, images and selector, the wide columns of workloads.
fn template_wide(selector: bool) -> Vec<Column> {
    let mut v = vec![wide("Containers"), wide("Images")];
    if selector {
        v.push(wide("Selector"));
    }
    v
}

/// Whether the emulator has printers for this built-in kind.
pub fn has_printer(kind: &str) -> bool {
    !columns(kind).is_empty()
}

/// The columns of a built-in kind (empty when it has no printer).
pub fn columns(kind: &str) -> Vec<Column> {
    let mut v = vec![name_col()];
    match kind {
        "Namespace" => v.extend([col("Status", "string"), age_col()]),
        "ConfigMap" => v.extend([col("Data", "integer"), age_col()]),
        "Secret" => v.extend([col("Type", "string"), col("Data", "integer"), age_col()]),
        "ServiceAccount" => v.extend([col("Secrets", "integer"), age_col()]),
        "Service" => v.extend([
            col("Type", "string"),
            col("Cluster-IP", "string"),
            col("External-IP", "string"),
            col("Port(s)", "string"),
            age_col(),
            wide("Selector"),
        ]),
        "Deployment" => {
            v.extend([
                col("Ready", "string"),
                col("Up-to-date", "string"),
                col("Available", "string"),
                age_col(),
            ]);
            v.extend(template_wide(true));
        }
        "ReplicaSet" => {
            v.extend([
                col("Desired", "integer"),
                col("Current", "integer"),
                col("Ready", "integer"),
                age_col(),
            ]);
            v.extend(template_wide(true));
        }
        "StatefulSet" => {
            v.extend([col("Ready", "string"), age_col()]);
            v.extend(template_wide(false));
        }
        "DaemonSet" => {
            v.extend([
                col("Desired", "integer"),
                col("Current", "integer"),
                col("Ready", "integer"),
                col("Up-to-date", "integer"),
                col("Available", "integer"),
                col("Node Selector", "string"),
                age_col(),
            ]);
            v.extend(template_wide(true));
        }
        "Pod" => v.extend([
            col("Ready", "string"),
            col("Status", "string"),
            col("Restarts", "string"),
            age_col(),
            wide("IP"),
            wide("Node"),
            wide("Nominated Node"),
            wide("Readiness Gates"),
        ]),
        "Job" => {
            v.extend([
                col("Status", "string"),
                col("Completions", "string"),
                col("Duration", "string"),
                age_col(),
            ]);
            v.extend(template_wide(true));
        }
        "CronJob" => {
            v.extend([
                col("Schedule", "string"),
                col("Timezone", "string"),
                col("Suspend", "boolean"),
                col("Active", "integer"),
                col("Last Schedule", "string"),
                age_col(),
            ]);
            v.extend(template_wide(true));
        }
        "Node" => v.extend([
            col("Status", "string"),
            col("Roles", "string"),
            age_col(),
            col("Version", "string"),
            wide("Internal-IP"),
            wide("External-IP"),
            wide("OS-Image"),
            wide("Kernel-Version"),
            wide("Container-Runtime"),
        ]),
        "Lease" => v.extend([col("Holder", "string"), age_col()]),
        "CustomResourceDefinition" => v.push(("Created At".into(), "date", "", 0)),
        _ => return Vec::new(),
    }
    v
}

/// The cells of a built-in kind, in [`columns`] order.
pub fn cells(kind: &str, obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let name = json!(str_at(obj, "/metadata/name", ""));
    let age =
        json!(since(obj, "/metadata/creationTimestamp", now).unwrap_or_else(|| "<unknown>".into()));
    let replicas = obj
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let mut v = vec![name];
    match kind {
        "Namespace" => v.extend([json!(str_at(obj, "/status/phase", "Active")), age]),
        "ConfigMap" => v.extend([
            json!(count(obj.get("data")) + count(obj.get("binaryData"))),
            age,
        ]),
        "Secret" => v.extend([
            json!(str_at(obj, "/type", "Opaque")),
            json!(count(obj.get("data"))),
            age,
        ]),
        "ServiceAccount" => v.extend([json!(len(obj, "/secrets")), age]),
        "Service" => {
            let external = match obj.pointer("/spec/type").and_then(Value::as_str) {
                Some("ExternalName") => str_at(obj, "/spec/externalName", "<none>").to_owned(),
                _ => obj
                    .pointer("/spec/externalIPs")
                    .and_then(Value::as_array)
                    .filter(|a| !a.is_empty())
                    .map_or_else(
                        || "<none>".to_owned(),
                        |a| {
                            a.iter()
                                .filter_map(Value::as_str)
                                .collect::<Vec<_>>()
                                .join(",")
                        },
                    ),
            };
            v.extend([
                json!(str_at(obj, "/spec/type", "ClusterIP")),
                json!(str_at(obj, "/spec/clusterIP", "<none>")),
                json!(external),
                json!(service_ports(obj)),
                age,
                json!(format_labels(obj.pointer("/spec/selector"))),
            ]);
        }
        "Deployment" => {
            v.extend([
                json!(format!("{}/{replicas}", int(obj, "/status/readyReplicas"))),
                json!(int(obj, "/status/updatedReplicas")),
                json!(int(obj, "/status/availableReplicas")),
                age,
            ]);
            v.extend(template_cells(
                obj,
                "/spec/template",
                Some("/spec/selector"),
            ));
        }
        "ReplicaSet" => {
            v.extend([
                json!(replicas),
                json!(int(obj, "/status/replicas")),
                json!(int(obj, "/status/readyReplicas")),
                age,
            ]);
            v.extend(template_cells(
                obj,
                "/spec/template",
                Some("/spec/selector"),
            ));
        }
        "StatefulSet" => {
            v.extend([
                json!(format!("{}/{replicas}", int(obj, "/status/readyReplicas"))),
                age,
            ]);
            v.extend(template_cells(obj, "/spec/template", None));
        }
        "DaemonSet" => {
            v.extend([
                json!(int(obj, "/status/desiredNumberScheduled")),
                json!(int(obj, "/status/currentNumberScheduled")),
                json!(int(obj, "/status/numberReady")),
                json!(int(obj, "/status/updatedNumberScheduled")),
                json!(int(obj, "/status/numberAvailable")),
                json!(format_labels(
                    obj.pointer("/spec/template/spec/nodeSelector")
                )),
                age,
            ]);
            v.extend(template_cells(
                obj,
                "/spec/template",
                Some("/spec/selector"),
            ));
        }
        "Pod" => {
            let mut c = pod_cells(obj);
            c[3] = age;
            v.extend(c);
        }
        "Job" => {
            v.extend(job_cells(obj, now));
            v.push(age);
            v.extend(template_cells(
                obj,
                "/spec/template",
                Some("/spec/selector"),
            ));
        }
        "CronJob" => {
            v.extend([
                json!(str_at(obj, "/spec/schedule", "")),
                json!(str_at(obj, "/spec/timeZone", "<none>")),
                json!(bool_text(obj.pointer("/spec/suspend"))),
                json!(len(obj, "/status/active")),
                json!(
                    since(obj, "/status/lastScheduleTime", now).unwrap_or_else(|| "<none>".into())
                ),
                age,
            ]);
            v.extend(template_cells(
                obj,
                "/spec/jobTemplate/spec/template",
                Some("/spec/jobTemplate/spec/selector"),
            ));
        }
        "Node" => {
            let (head, tail) = node_cells(obj);
            v.extend(head);
            v.push(age);
            v.extend(tail);
        }
        "Lease" => v.extend([json!(str_at(obj, "/spec/holderIdentity", "<none>")), age]),
        "CustomResourceDefinition" => {
            v.push(json!(str_at(obj, "/metadata/creationTimestamp", "")));
        }
        _ => v.push(age),
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_printer_fills_its_columns() {
        let now = Utc::now();
        let obj = json!({"metadata": {"name": "x", "creationTimestamp": "2020-01-01T00:00:00Z"}});
        for kind in [
            "Namespace",
            "ConfigMap",
            "Secret",
            "ServiceAccount",
            "Service",
            "Deployment",
            "ReplicaSet",
            "StatefulSet",
            "DaemonSet",
            "Pod",
            "Job",
            "CronJob",
            "Node",
            "Lease",
            "CustomResourceDefinition",
        ] {
            assert_eq!(columns(kind).len(), cells(kind, &obj, now).len(), "{kind}");
        }
        assert!(!has_printer("Widget"));
    }

    #[test]
    fn workload_wide_cells() {
        let now = Utc::now();
        let d = json!({"metadata": {"name": "web"},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"spec": {"containers": [
                        {"name": "app", "image": "nginx:1.25"}, {"name": "log", "image": "busybox"}]}}},
            "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}});
        let c = cells("Deployment", &d, now);
        assert_eq!(&c[1..4], &[json!("2/3"), json!(3), json!(2)]);
        assert_eq!(
            &c[5..],
            &[
                json!("app,log"),
                json!("nginx:1.25,busybox"),
                json!("app=web")
            ]
        );
        let p = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "a"}], "nodeName": "n1"},
            "status": {"phase": "Running", "podIP": "10.0.0.5",
                       "containerStatuses": [{"ready": true, "restartCount": 2}]}});
        let c = cells("Pod", &p, now);
        assert_eq!(
            c,
            vec![
                json!("p"),
                json!("1/1"),
                json!("Running"),
                json!("2"),
                json!("<unknown>"),
                json!("10.0.0.5"),
                json!("n1"),
                json!("<none>"),
                json!("<none>")
            ]
        );
    }
}
