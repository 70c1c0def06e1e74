//! What the API server does to an object between decoding and storing it:
//! validation (422 with field causes), defaulting, and the system metadata
//! (uid, creationTimestamp, generation).
//!
//! Only the checks that matter to people syncing manifests are here: names,
//! labels, workload selectors that must match their template and never
//! change, required containers and ports, ConfigMap and Secret keys, CRDs.

use base64::Engine as _;
use serde_json::{Map, Value, json};

use crate::resources::{self, ResourceType};
use crate::selector::LabelSelector;

/// Field errors: (field path, message).
pub type Causes = Vec<(String, String)>;

const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const DNS1035_MSG: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";
const LABEL_VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

fn dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// An RFC 1123 subdomain (most object names).
pub fn dns_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(dns_label)
}

fn label_value(s: &str) -> bool {
    s.is_empty()
        || (s.len() <= 63
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            && s.as_bytes()[0].is_ascii_alphanumeric()
            && s.as_bytes()[s.len() - 1].is_ascii_alphanumeric())
}

fn label_key(k: &str) -> bool {
    let (prefix, name) = match k.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, k),
    };
    prefix.is_none_or(dns_subdomain) && !name.is_empty() && label_value(name)
}

/// Checks a name for a kind; `None` when valid.
pub fn name_error(rt: &ResourceType, name: &str) -> Option<String> {
    let (ok, msg) = match (rt.group.as_str(), rt.kind.as_str()) {
        ("", "Namespace") => (dns_label(name), LABEL_MSG),
        ("", "Service") => (
            dns_label(name) && name.as_bytes()[0].is_ascii_lowercase(),
            DNS1035_MSG,
        ),
        ("rbac.authorization.k8s.io", _) => (
            !name.is_empty()
                && !name.contains('/')
                && !name.contains('%')
                && name != "."
                && name != "..",
            "may not contain '/' or '%'",
        ),
        _ => (dns_subdomain(name), SUBDOMAIN_MSG),
    };
    (!ok).then(|| format!("Invalid value: {name:?}: {msg}"))
}

fn s<'a>(v: &'a Value, p: &str) -> Option<&'a str> {
    v.pointer(p).and_then(Value::as_str)
}

/// Validates an object about to be stored (`old` is the stored version on
/// update).
pub fn validate(rt: &ResourceType, obj: &Value, old: Option<&Value>) -> Result<(), Causes> {
    let mut c: Causes = Vec::new();
    let name = s(obj, "/metadata/name").unwrap_or("");
    if let Some(e) = name_error(rt, name) {
        c.push(("metadata.name".into(), e));
    }
    for (field, is_label) in [("labels", true), ("annotations", false)] {
        if let Some(m) = obj.pointer(&format!("/metadata/{field}")) {
            let Some(m) = m.as_object() else {
                c.push((
                    format!("metadata.{field}"),
                    "Invalid value: must be a map of strings".into(),
                ));
                continue;
            };
            for (k, v) in m {
                if !label_key(k) {
                    c.push((format!("metadata.{field}"), format!("Invalid value: {k:?}: name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character")));
                }
                match v.as_str() {
                    Some(v) if is_label && !label_value(v) => c.push((
                        format!("metadata.{field}"),
                        format!("Invalid value: {v:?}: {LABEL_VALUE_MSG}"),
                    )),
                    Some(_) => {}
                    None => c.push((
                        format!("metadata.{field}.{k}"),
                        "Invalid value: must be a string".into(),
                    )),
                }
            }
        }
    }
    match (rt.group.as_str(), rt.kind.as_str()) {
        ("apps", "Deployment" | "ReplicaSet" | "DaemonSet" | "StatefulSet") => {
            workload(obj, old, "/spec", "spec", &mut c);
        }
        ("batch", "CronJob") => {
            if s(obj, "/spec/schedule").is_none_or(str::is_empty) {
                c.push(("spec.schedule".into(), "Required value".into()));
            }
            containers(
                obj,
                "/spec/jobTemplate/spec/template/spec",
                "spec.jobTemplate.spec.template.spec",
                &mut c,
            );
        }
        ("batch", "Job") => containers(obj, "/spec/template/spec", "spec.template.spec", &mut c),
        ("", "Pod") => containers(obj, "/spec", "spec", &mut c),
        ("", "Service") => service(obj, &mut c),
        ("", "ConfigMap") => {
            for f in ["data", "binaryData"] {
                config_keys(obj, f, &mut c);
            }
        }
        ("", "Secret") => config_keys(obj, "data", &mut c),
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            if let Err(errs) = resources::from_crd(obj) {
                c.extend(errs);
            }
        }
        _ => {}
    }
    if c.is_empty() { Ok(()) } else { Err(c) }
}

fn workload(obj: &Value, old: Option<&Value>, base: &str, field: &str, c: &mut Causes) {
    let selector = obj.pointer(&format!("{base}/selector"));
    match selector {
        None | Some(Value::Null) => c.push((format!("{field}.selector"), "Required value".into())),
        Some(sel) => {
            let labels = obj
                .pointer(&format!("{base}/template/metadata/labels"))
                .cloned()
                .unwrap_or(json!({}));
            if !selector_matches(sel, &labels) {
                c.push((
                    format!("{field}.template.metadata.labels"),
                    format!(
                        "Invalid value: {}: `selector` does not match template `labels`",
                        go_map(&labels)
                    ),
                ));
            }
            if sel.get("matchLabels").is_none() && sel.get("matchExpressions").is_none() {
                c.push((
                    format!("{field}.selector"),
                    "Invalid value: \"null\": empty selector is invalid for deployment".into(),
                ));
            }
            if let Some(old_sel) = old.and_then(|o| o.pointer(&format!("{base}/selector")))
                && old_sel != sel
            {
                c.push((
                    format!("{field}.selector"),
                    format!("Invalid value: {sel}: field is immutable"),
                ));
            }
        }
    }
    containers(
        obj,
        &format!("{base}/template/spec"),
        &format!("{field}.template.spec"),
        c,
    );
}

fn go_map(labels: &Value) -> String {
    let inner: Vec<String> = labels
        .as_object()
        .map(|m| m.iter().map(|(k, v)| format!("{k:?}:{v}")).collect())
        .unwrap_or_default();
    format!("map[string]string{{{}}}", inner.join(", "))
}

/// Whether a LabelSelector object selects these labels.
fn selector_matches(sel: &Value, labels: &Value) -> bool {
    let obj = json!({"metadata": {"labels": labels}});
    let mut parts = Vec::new();
    if let Some(ml) = sel.get("matchLabels").and_then(Value::as_object) {
        for (k, v) in ml {
            parts.push(format!("{k}={}", v.as_str().unwrap_or("")));
        }
    }
    if let Some(exprs) = sel.get("matchExpressions").and_then(Value::as_array) {
        for e in exprs {
            let key = e.get("key").and_then(Value::as_str).unwrap_or("");
            let values: Vec<&str> = e
                .get("values")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            match e.get("operator").and_then(Value::as_str) {
                Some("In") => parts.push(format!("{key} in ({})", values.join(","))),
                Some("NotIn") => parts.push(format!("{key} notin ({})", values.join(","))),
                Some("Exists") => parts.push(key.to_owned()),
                Some("DoesNotExist") => parts.push(format!("!{key}")),
                _ => return false,
            }
        }
    }
    LabelSelector::parse(&parts.join(",")).is_ok_and(|s| s.matches(&obj))
}

fn containers(obj: &Value, base: &str, field: &str, c: &mut Causes) {
    let list = obj
        .pointer(&format!("{base}/containers"))
        .and_then(Value::as_array);
    match list {
        None => c.push((format!("{field}.containers"), "Required value".into())),
        Some(l) if l.is_empty() => c.push((format!("{field}.containers"), "Required value".into())),
        Some(l) => {
            for (i, ct) in l.iter().enumerate() {
                if s(ct, "/name").is_none_or(str::is_empty) {
                    c.push((
                        format!("{field}.containers[{i}].name"),
                        "Required value".into(),
                    ));
                }
                if s(ct, "/image").is_none_or(str::is_empty) {
                    c.push((
                        format!("{field}.containers[{i}].image"),
                        "Required value".into(),
                    ));
                }
            }
        }
    }
}

fn service(obj: &Value, c: &mut Causes) {
    let ty = s(obj, "/spec/type").unwrap_or("ClusterIP");
    let headless = s(obj, "/spec/clusterIP") == Some("None");
    let ports = obj.pointer("/spec/ports").and_then(Value::as_array);
    if ty != "ExternalName" && !headless && ports.is_none_or(Vec::is_empty) {
        c.push(("spec.ports".into(), "Required value".into()));
    }
    for (i, p) in ports.into_iter().flatten().enumerate() {
        match p.get("port").and_then(Value::as_i64) {
            Some(n) if (1..=65535).contains(&n) => {}
            Some(n) => c.push((
                format!("spec.ports[{i}].port"),
                format!("Invalid value: {n}: must be between 1 and 65535, inclusive"),
            )),
            None => c.push((format!("spec.ports[{i}].port"), "Required value".into())),
        }
    }
}

fn config_keys(obj: &Value, field: &str, c: &mut Causes) {
    if let Some(m) = obj.get(field).and_then(Value::as_object) {
        for k in m.keys() {
            let ok = !k.is_empty()
                && k.len() <= 253
                && k.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b));
            if !ok {
                c.push((format!("{field}[{k:?}]"), format!("Invalid value: {k:?}: a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')")));
            }
        }
    }
}

/// Checks Secret `data` is base64, as decoding a real Secret would.
pub fn decode_check(rt: &ResourceType, obj: &Value) -> Result<(), String> {
    if !(rt.group.is_empty() && rt.kind == "Secret") {
        return Ok(());
    }
    if let Some(m) = obj.get("data").and_then(Value::as_object) {
        for (k, v) in m {
            let text = v
                .as_str()
                .ok_or_else(|| format!("Secret.data[{k:?}]: expected a base64 string"))?;
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|e| format!("Secret in version \"v1\" cannot be handled as a Secret: illegal base64 data in data[{k:?}]: {e}"))?;
        }
    }
    Ok(())
}

/// Server-side defaults, and carrying allocated values across updates.
pub fn default(
    rt: &ResourceType,
    obj: &mut Value,
    old: Option<&Value>,
    alloc_ip: &dyn Fn() -> String,
) {
    let name = s(obj, "/metadata/name").unwrap_or("").to_owned();
    let Some(o) = obj.as_object_mut() else { return };
    match (rt.group.as_str(), rt.kind.as_str()) {
        ("", "Namespace") => {
            let meta = obj_entry(o, "metadata");
            obj_entry(meta, "labels").insert("kubernetes.io/metadata.name".into(), name.into());
            let spec = obj_entry(o, "spec");
            spec.entry("finalizers")
                .or_insert_with(|| json!(["kubernetes"]));
            let status = obj_entry(o, "status");
            status.entry("phase").or_insert_with(|| json!("Active"));
        }
        ("", "Secret") => {
            o.entry("type").or_insert_with(|| json!("Opaque"));
            if let Some(Value::Object(sd)) = o.remove("stringData") {
                let data = obj_entry(o, "data");
                for (k, v) in sd {
                    let text = v.as_str().unwrap_or("").to_owned();
                    data.insert(
                        k,
                        base64::engine::general_purpose::STANDARD
                            .encode(text)
                            .into(),
                    );
                }
            }
        }
        ("", "Service") => {
            let old_spec = old.and_then(|o| o.get("spec")).cloned();
            let spec = obj_entry(o, "spec");
            spec.entry("type").or_insert_with(|| json!("ClusterIP"));
            let external = spec.get("type").and_then(Value::as_str) == Some("ExternalName");
            if !external {
                if !spec.contains_key("clusterIP") {
                    let ip = old_spec
                        .as_ref()
                        .and_then(|s| s.get("clusterIP"))
                        .and_then(Value::as_str)
                        .map_or_else(alloc_ip, str::to_owned);
                    spec.insert("clusterIP".into(), ip.into());
                }
                let ip = spec.get("clusterIP").cloned().unwrap_or(Value::Null);
                spec.entry("clusterIPs").or_insert_with(|| json!([ip]));
                spec.entry("sessionAffinity")
                    .or_insert_with(|| json!("None"));
                spec.entry("ipFamilies").or_insert_with(|| json!(["IPv4"]));
                spec.entry("ipFamilyPolicy")
                    .or_insert_with(|| json!("SingleStack"));
                spec.entry("internalTrafficPolicy")
                    .or_insert_with(|| json!("Cluster"));
            }
            if let Some(Value::Array(ports)) = spec.get_mut("ports") {
                for p in ports.iter_mut().filter_map(Value::as_object_mut) {
                    p.entry("protocol").or_insert_with(|| json!("TCP"));
                    if let Some(port) = p.get("port").cloned() {
                        p.entry("targetPort").or_insert(port);
                    }
                }
            }
        }
        ("apps", "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet") => {
            let spec = obj_entry(o, "spec");
            if rt.kind != "DaemonSet" {
                spec.entry("replicas").or_insert_with(|| json!(1));
            }
            crate::defaults::workload(&rt.kind, spec);
        }
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            let names = o
                .get("spec")
                .and_then(|s| s.get("names"))
                .cloned()
                .unwrap_or(json!({}));
            let stored: Vec<Value> = o
                .get("spec")
                .and_then(|s| s.get("versions"))
                .and_then(Value::as_array)
                .map(|vs| {
                    vs.iter()
                        .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
                        .filter_map(|v| v.get("name").cloned())
                        .collect()
                })
                .unwrap_or_default();
            let now = crate::now();
            o.insert(
                "status".into(),
                json!({
                    "acceptedNames": names,
                    "storedVersions": stored,
                    "conditions": [
                        {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
                         "message": "no conflicts found", "lastTransitionTime": now},
                        {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
                         "message": "the initial names have been accepted", "lastTransitionTime": now}
                    ]
                }),
            );
        }
        _ => {}
    }
}

fn obj_entry<'a>(o: &'a mut Map<String, Value>, k: &str) -> &'a mut Map<String, Value> {
    let v = o.entry(k.to_owned()).or_insert_with(|| json!({}));
    if !v.is_object() {
        *v = json!({});
    }
    match v {
        Value::Object(m) => m,
        _ => unreachable!("replaced by an object just above"),
    }
}

/// Whether a kind counts `metadata.generation` (kinds with a spec a
/// controller acts on; not ConfigMaps, Secrets, Services, RBAC…).
fn tracks_generation(rt: &ResourceType) -> bool {
    if rt.crd.is_some() {
        return true;
    }
    match rt.group.as_str() {
        "" => rt.kind == "ReplicationController",
        "rbac.authorization.k8s.io"
        | "coordination.k8s.io"
        | "scheduling.k8s.io"
        | "storage.k8s.io" => false,
        _ => true,
    }
}

/// Sets identity and system metadata: apiVersion and kind of the request,
/// name, namespace, uid, creationTimestamp, generation.
pub fn system_metadata(
    rt: &ResourceType,
    api_version: &str,
    obj: &mut Value,
    old: Option<&Value>,
    ns: &str,
    name: &str,
    uid: &dyn Fn() -> String,
) {
    let spec_changed = match old {
        None => true,
        Some(o) => {
            let strip = |v: &Value| -> Value {
                let mut v = v.clone();
                if let Some(m) = v.as_object_mut() {
                    m.remove("metadata");
                    m.remove("status");
                    m.remove("apiVersion");
                    m.remove("kind");
                }
                v
            };
            strip(o) != strip(obj)
        }
    };
    let Some(top) = obj.as_object_mut() else {
        return;
    };
    top.insert("apiVersion".into(), api_version.into());
    top.insert("kind".into(), rt.kind.clone().into());
    let meta = obj_entry(top, "metadata");
    meta.insert("name".into(), name.into());
    if rt.namespaced {
        meta.insert("namespace".into(), ns.into());
    } else {
        meta.remove("namespace");
    }
    meta.remove("selfLink");
    meta.remove("resourceVersion");
    let keep = |k: &str| {
        old.and_then(|o| o.pointer(&format!("/metadata/{k}")))
            .cloned()
    };
    meta.insert("uid".into(), keep("uid").unwrap_or_else(|| uid().into()));
    meta.insert(
        "creationTimestamp".into(),
        keep("creationTimestamp").unwrap_or_else(|| crate::now().into()),
    );
    match keep("deletionTimestamp") {
        Some(t) => {
            meta.insert("deletionTimestamp".into(), t);
        }
        None => {
            meta.remove("deletionTimestamp");
        }
    }
    if tracks_generation(rt) {
        let generation = keep("generation").and_then(|g| g.as_i64()).unwrap_or(0);
        let generation = if spec_changed {
            generation + 1
        } else {
            generation.max(1)
        };
        meta.insert("generation".into(), generation.into());
    } else {
        meta.remove("generation");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::builtins;

    fn rt(kind: &str) -> ResourceType {
        (*builtins().into_iter().find(|r| r.kind == kind).unwrap()).clone()
    }

    fn deploy(labels: Value, sel: Value) -> Value {
        json!({"metadata": {"name": "web"}, "spec": {"selector": {"matchLabels": sel},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "a", "image": "x"}]}}}})
    }

    #[test]
    fn validation_table() {
        let d = rt("Deployment");
        let cases: Vec<(&ResourceType, Value, Option<Value>, Option<&str>)> = vec![
            (
                &d,
                deploy(json!({"app": "web"}), json!({"app": "web"})),
                None,
                None,
            ),
            (
                &d,
                deploy(json!({"app": "web"}), json!({"app": "db"})),
                None,
                Some("spec.template.metadata.labels"),
            ),
            (
                &d,
                deploy(json!({"app": "web", "v": "1"}), json!({"app": "web"})),
                Some(deploy(
                    json!({"app": "web", "v": "1"}),
                    json!({"app": "web", "v": "1"}),
                )),
                Some("spec.selector"),
            ),
            (
                &d,
                json!({"metadata": {"name": "Web"}, "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "a", "image": "x"}]}}}}),
                None,
                Some("metadata.name"),
            ),
            (
                &d,
                json!({"metadata": {"name": "w"}, "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "a"}]}}}}),
                None,
                Some("spec.template.spec.containers[0].image"),
            ),
        ];
        for (rt, obj, old, want) in cases {
            let got = validate(rt, &obj, old.as_ref());
            match want {
                None => assert!(got.is_ok(), "{obj}: {got:?}"),
                Some(field) => {
                    let errs = got.unwrap_err();
                    assert!(errs.iter().any(|(f, _)| f == field), "{obj}: {errs:?}");
                }
            }
        }
        let svc = rt("Service");
        assert!(validate(&svc, &json!({"metadata": {"name": "s"}, "spec": {}}), None).is_err());
        assert!(
            validate(
                &svc,
                &json!({"metadata": {"name": "1s"}, "spec": {"ports": [{"port": 80}]}}),
                None
            )
            .is_err()
        );
        let cm = rt("ConfigMap");
        assert!(
            validate(
                &cm,
                &json!({"metadata": {"name": "c", "labels": {"a": "bad value"}}}),
                None
            )
            .is_err()
        );
        assert!(
            validate(
                &cm,
                &json!({"metadata": {"name": "c"}, "data": {"a/b": "x"}}),
                None
            )
            .is_err()
        );
        assert!(validate(&cm, &json!({"metadata": {"name": "c", "labels": {"example.com/a": "ok"}}, "data": {"a.b": "x"}}), None).is_ok());
        let ns = rt("Namespace");
        assert!(validate(&ns, &json!({"metadata": {"name": "a.b"}}), None).is_err());
    }

    #[test]
    fn defaults() {
        let mut secret = json!({"metadata": {"name": "s"}, "stringData": {"k": "v"}});
        default(&rt("Secret"), &mut secret, None, &|| "10.96.0.1".into());
        assert_eq!(
            secret,
            json!({"metadata": {"name": "s"}, "type": "Opaque", "data": {"k": "dg=="}})
        );
        let mut svc = json!({"metadata": {"name": "s"}, "spec": {"ports": [{"port": 80}]}});
        default(&rt("Service"), &mut svc, None, &|| "10.96.0.7".into());
        assert_eq!(svc["spec"]["clusterIP"], "10.96.0.7");
        assert_eq!(svc["spec"]["ports"][0]["targetPort"], 80);
        let mut again = json!({"metadata": {"name": "s"}, "spec": {"ports": [{"port": 80}]}});
        default(&rt("Service"), &mut again, Some(&svc), &|| {
            "10.96.0.8".into()
        });
        assert_eq!(again["spec"]["clusterIP"], "10.96.0.7", "allocated IP kept");
        assert!(decode_check(&rt("Secret"), &json!({"data": {"k": "not base64!"}})).is_err());
    }

    #[test]
    fn generation_counts_spec_changes() {
        let d = rt("Deployment");
        let mut a = json!({"metadata": {"name": "w"}, "spec": {"replicas": 1}});
        system_metadata(&d, "apps/v1", &mut a, None, "ns", "w", &|| "u1".into());
        assert_eq!(a["metadata"]["generation"], 1);
        let mut b = a.clone();
        b["metadata"]["labels"] = json!({"x": "y"});
        system_metadata(&d, "apps/v1", &mut b, Some(&a), "ns", "w", &|| "u2".into());
        assert_eq!(b["metadata"]["generation"], 1);
        assert_eq!(b["metadata"]["uid"], "u1");
        let mut c = b.clone();
        c["spec"]["replicas"] = json!(2);
        system_metadata(&d, "apps/v1", &mut c, Some(&b), "ns", "w", &|| "u3".into());
        assert_eq!(c["metadata"]["generation"], 2);
        assert_eq!(c["metadata"]["namespace"], "ns");
    }
}
