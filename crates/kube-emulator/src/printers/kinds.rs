//! Cell helpers of the built-in printers: label and selector text as the
//! API server prints them, container lists, and the kinds whose cells take
//! some working out (Pods, Jobs, Nodes, Services).

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::table::human_duration;

pub(super) fn int(obj: &Value, p: &str) -> i64 {
    obj.pointer(p).and_then(Value::as_i64).unwrap_or(0)
}

pub(super) fn str_at<'a>(obj: &'a Value, p: &str, default: &'a str) -> &'a str {
    obj.pointer(p)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .unwrap_or(default)
}

pub(super) fn count(v: Option<&Value>) -> usize {
    v.and_then(Value::as_object).map_or(0, serde_json::Map::len)
}

pub(super) fn len(obj: &Value, p: &str) -> usize {
    obj.pointer(p).and_then(Value::as_array).map_or(0, Vec::len)
}

pub(super) fn since(obj: &Value, p: &str, now: DateTime<Utc>) -> Option<String> {
    let t = obj.pointer(p).and_then(Value::as_str)?;
    let t = DateTime::parse_from_rfc3339(t).ok()?;
    Some(human_duration((now - t.with_timezone(&Utc)).num_seconds()))
}

/// `k=v,k2=v2` in key order, or `<none>` (labels.FormatLabels).
pub fn format_labels(map: Option<&Value>) -> String {
    let Some(m) = map.and_then(Value::as_object).filter(|m| !m.is_empty()) else {
        return "<none>".into();
    };
    let mut pairs: Vec<String> = m
        .iter()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
        .collect();
    pairs.sort();
    pairs.join(",")
}

/// A label selector as the API prints it (`app=web,tier in (a,b),!x`), or
/// `<none>`.
pub fn format_selector(sel: Option<&Value>) -> String {
    let Some(sel) = sel.filter(|s| s.is_object()) else {
        return "<none>".into();
    };
    let mut reqs: Vec<(String, String)> = Vec::new();
    if let Some(m) = sel.get("matchLabels").and_then(Value::as_object) {
        for (k, v) in m {
            reqs.push((k.clone(), format!("{k}={}", v.as_str().unwrap_or(""))));
        }
    }
    for e in sel
        .get("matchExpressions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = e.get("key").and_then(Value::as_str).unwrap_or("");
        let mut values: Vec<&str> = e
            .get("values")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        values.sort_unstable();
        let text = match e.get("operator").and_then(Value::as_str).unwrap_or("") {
            "In" => format!("{key} in ({})", values.join(",")),
            "NotIn" => format!("{key} notin ({})", values.join(",")),
            "Exists" => key.to_owned(),
            "DoesNotExist" => format!("!{key}"),
            other => format!("{key} {other}"),
        };
        reqs.push((key.to_owned(), text));
    }
    if reqs.is_empty() {
        return "<none>".into();
    }
    reqs.sort_by(|a, b| a.0.cmp(&b.0));
    reqs.into_iter()
        .map(|(_, t)| t)
        .collect::<Vec<_>>()
        .join(",")
}

/// Container names and images of a pod spec, comma-separated.
pub(super) fn containers(spec: Option<&Value>) -> (String, String) {
    let list = spec
        .and_then(|s| s.get("containers"))
        .and_then(Value::as_array);
    let (mut names, mut images) = (Vec::new(), Vec::new());
    for c in list.into_iter().flatten() {
        names.push(c.get("name").and_then(Value::as_str).unwrap_or(""));
        images.push(c.get("image").and_then(Value::as_str).unwrap_or(""));
    }
    (names.join(","), images.join(","))
}

pub(super) fn template_cells(obj: &Value, template: &str, selector: Option<&str>) -> Vec<Value> {
    let (names, images) = containers(obj.pointer(&format!("{template}/spec")));
    let mut v = vec![json!(names), json!(images)];
    if let Some(p) = selector {
        v.push(json!(format_selector(obj.pointer(p))));
    }
    v
}

pub(super) fn bool_text(v: Option<&Value>) -> &'static str {
    if v.and_then(Value::as_bool).unwrap_or(false) {
        "True"
    } else {
        "False"
    }
}

pub(super) fn has_condition(obj: &Value, ty: &str) -> bool {
    obj.pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|c| c["type"] == ty && c["status"] == "True")
}

pub(super) fn service_ports(obj: &Value) -> String {
    let ports: Vec<String> = obj
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|p| {
            let port = p.get("port").map_or(String::new(), ToString::to_string);
            let proto = str_at(p, "/protocol", "TCP");
            match p.get("nodePort").and_then(Value::as_i64) {
                Some(n) => format!("{port}:{n}/{proto}"),
                None => format!("{port}/{proto}"),
            }
        })
        .collect();
    if ports.is_empty() {
        "<none>".to_owned()
    } else {
        ports.join(",")
    }
}

pub(super) fn pod_cells(obj: &Value) -> Vec<Value> {
    let total = len(obj, "/spec/containers");
    let statuses = obj
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array);
    let ready = statuses
        .into_iter()
        .flatten()
        .filter(|s| s.get("ready").and_then(Value::as_bool) == Some(true))
        .count();
    let restarts: i64 = statuses
        .into_iter()
        .flatten()
        .filter_map(|s| s.get("restartCount").and_then(Value::as_i64))
        .sum();
    let mut reason = str_at(
        obj,
        "/status/reason",
        str_at(obj, "/status/phase", "Pending"),
    )
    .to_owned();
    for s in statuses.into_iter().flatten() {
        if let Some(r) = s.pointer("/state/waiting/reason").and_then(Value::as_str) {
            reason = r.to_owned();
        }
    }
    if obj.pointer("/metadata/deletionTimestamp").is_some() {
        reason = "Terminating".into();
    }
    let gates = len(obj, "/spec/readinessGates");
    let gates = if gates == 0 {
        "<none>".to_owned()
    } else {
        let passed = obj
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|c| {
                c["status"] == "True"
                    && obj
                        .pointer("/spec/readinessGates")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .any(|g| g["conditionType"] == c["type"])
            })
            .count();
        format!("{passed}/{gates}")
    };
    vec![
        json!(format!("{ready}/{total}")),
        json!(reason),
        json!(restarts.to_string()),
    ]
    .into_iter()
    .chain(std::iter::once(Value::Null))
    .chain([
        json!(str_at(obj, "/status/podIP", "<none>")),
        json!(str_at(obj, "/spec/nodeName", "<none>")),
        json!(str_at(obj, "/status/nominatedNodeName", "<none>")),
        json!(gates),
    ])
    .collect()
}

pub(super) fn job_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let succeeded = int(obj, "/status/succeeded");
    let completions = match (
        obj.pointer("/spec/completions").and_then(Value::as_i64),
        obj.pointer("/spec/parallelism").and_then(Value::as_i64),
    ) {
        (Some(c), _) => format!("{succeeded}/{c}"),
        (None, Some(p)) if p > 1 => format!("{succeeded}/1 of {p}"),
        _ => format!("{succeeded}/1"),
    };
    let start = obj
        .pointer("/status/startTime")
        .and_then(Value::as_str)
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok());
    let end = obj
        .pointer("/status/completionTime")
        .and_then(Value::as_str)
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok());
    let duration = match (start, end) {
        (None, _) => String::new(),
        (Some(s), None) => human_duration((now - s.with_timezone(&Utc)).num_seconds()),
        (Some(s), Some(e)) => human_duration((e - s).num_seconds()),
    };
    let status = if has_condition(obj, "Complete") {
        "Complete"
    } else if has_condition(obj, "Failed") {
        "Failed"
    } else if obj.pointer("/metadata/deletionTimestamp").is_some() {
        "Terminating"
    } else if has_condition(obj, "Suspended") {
        "Suspended"
    } else if has_condition(obj, "FailureTarget") {
        "FailureTarget"
    } else {
        "Running"
    };
    vec![json!(status), json!(completions), json!(duration)]
}

pub(super) fn node_cells(obj: &Value) -> (Vec<Value>, Vec<Value>) {
    let ready = obj
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|c| c["type"] == "Ready")
        .map(|c| match c["status"].as_str() {
            Some("True") => "Ready",
            Some("False") => "NotReady",
            _ => "Unknown",
        })
        .unwrap_or("Unknown");
    let mut status = ready.to_owned();
    if obj.pointer("/spec/unschedulable").and_then(Value::as_bool) == Some(true) {
        status.push_str(",SchedulingDisabled");
    }
    let mut roles: Vec<String> = obj
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| {
            if let Some(r) = k.strip_prefix("node-role.kubernetes.io/") {
                (!r.is_empty()).then(|| r.to_owned())
            } else if k == "kubernetes.io/role" {
                v.as_str().filter(|s| !s.is_empty()).map(str::to_owned)
            } else {
                None
            }
        })
        .collect();
    roles.sort();
    roles.dedup();
    let roles = if roles.is_empty() {
        "<none>".to_owned()
    } else {
        roles.join(",")
    };
    let address = |ty: &str| {
        obj.pointer("/status/addresses")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|a| a["type"] == ty)
            .and_then(|a| a["address"].as_str())
            .unwrap_or("<none>")
            .to_owned()
    };
    let info = |k: &str| str_at(obj, &format!("/status/nodeInfo/{k}"), "<unknown>").to_owned();
    (
        vec![json!(status), json!(roles)],
        vec![
            json!(str_at(obj, "/status/nodeInfo/kubeletVersion", "")),
            json!(address("InternalIP")),
            json!(address("ExternalIP")),
            json!(info("osImage")),
            json!(info("kernelVersion")),
            json!(info("containerRuntimeVersion")),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_print_as_the_api_server_does() {
        let cases = [
            (json!(null), "<none>"),
            (json!({}), "<none>"),
            (json!({"matchLabels": {"b": "2", "a": "1"}}), "a=1,b=2"),
            (
                json!({"matchLabels": {"app": "web"}, "matchExpressions": [
                    {"key": "tier", "operator": "In", "values": ["b", "a"]},
                    {"key": "x", "operator": "DoesNotExist"},
                    {"key": "canary", "operator": "Exists"}]}),
                "app=web,canary,tier in (a,b),!x",
            ),
        ];
        for (sel, want) in cases {
            assert_eq!(format_selector(Some(&sel)), want, "{sel}");
        }
        assert_eq!(format_labels(Some(&json!({"z": "1", "a": "2"}))), "a=2,z=1");
        assert_eq!(format_labels(None), "<none>");
    }
}
