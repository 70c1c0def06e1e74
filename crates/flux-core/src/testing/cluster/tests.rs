//! The in-memory cluster against what a real API server does.

use super::*;
use crate::testing::block_on;
use serde_json::json;

fn id(s: &str) -> ResourceId {
    s.parse().unwrap()
}

fn cm(name: &str, ns: &str, data: Value) -> ApplyObject {
    ApplyObject {
        id: ResourceId::new(ns, "configmap", name),
        object: json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": ns}, "data": data}),
    }
}

#[test]
fn apply_created_unchanged_configured() {
    let c = MemoryCluster::with_namespaces(&["a"]);
    let first = cm("x", "a", json!({"k": "1"}));
    let r = block_on(c.apply(std::slice::from_ref(&first)));
    assert_eq!(r[0].1.as_ref().unwrap(), &Applied::Created);
    let r = block_on(c.apply(std::slice::from_ref(&first)));
    assert_eq!(r[0].1.as_ref().unwrap(), &Applied::Unchanged);
    let r = block_on(c.apply(&[cm("x", "a", json!({"k": "2"}))]));
    assert_eq!(r[0].1.as_ref().unwrap(), &Applied::Configured);
    assert_eq!(c.get(&id("a:configmap/x")).unwrap()["data"]["k"], "2");
}

#[test]
fn apply_keeps_fields_of_other_managers_and_drops_its_own() {
    let c = MemoryCluster::with_namespaces(&["a"]);
    let x = id("a:configmap/x");
    block_on(c.apply(&[cm("x", "a", json!({"mine": "1", "gone": "1"}))]));
    assert!(c.set_field(&x, &["data", "theirs"], json!("t")));
    block_on(c.apply(&[cm("x", "a", json!({"mine": "2"}))]));
    assert_eq!(
        c.get(&x).unwrap()["data"],
        json!({"mine": "2", "theirs": "t"})
    );
}

#[test]
fn apply_refuses_missing_namespace_and_mismatched_ids() {
    let c = MemoryCluster::new();
    let r = block_on(c.apply(&[cm("x", "nope", json!({}))]));
    let e = r[0].1.as_ref().unwrap_err();
    assert_eq!(e.kind, ClusterErrorKind::NotFound);
    assert!(
        e.to_string().contains("namespaces \"nope\" not found"),
        "{e}"
    );

    let c = MemoryCluster::with_namespaces(&["a", "b"]);
    let mut wrong = cm("x", "a", json!({}));
    wrong.id = id("b:configmap/x");
    let mut renamed = cm("x", "a", json!({}));
    renamed.id = id("a:configmap/y");
    let mut rekinded = cm("x", "a", json!({}));
    rekinded.id = id("a:secret/x");
    for bad in [wrong, renamed, rekinded] {
        let r = block_on(c.apply(&[bad]));
        assert_eq!(r[0].1.as_ref().unwrap_err().kind, ClusterErrorKind::Invalid);
    }
    assert!(c.ids().iter().all(|i| i.kind() == "namespace"));
}

#[test]
fn delete_cascades_and_tolerates_missing() {
    let c = MemoryCluster::with_namespaces(&["a", "b"]);
    block_on(c.apply(&[cm("x", "a", json!({})), cm("y", "b", json!({}))]));
    let r = block_on(c.delete(&[id("<cluster>:namespace/a"), id("a:configmap/zzz")]));
    assert!(r.iter().all(|(_, r)| r.is_ok()));
    assert_eq!(
        c.ids(),
        vec![id("<cluster>:namespace/b"), id("b:configmap/y")]
    );
    assert_eq!(
        c.journal().last(),
        Some(&Call::Delete {
            id: id("a:configmap/zzz"),
            result: Ok(false)
        })
    );
}

#[test]
fn crds_teach_scope_and_take_their_objects_along() {
    let c = MemoryCluster::with_namespaces(&["a"]);
    let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced", "names": {"kind": "Widget", "plural": "widgets"}}});
    let crd_id = c.create(crd).unwrap();
    let w = c
        .create(json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": "a"}}))
        .unwrap();
    assert_eq!(w, id("a:widget/w"));
    block_on(c.delete(&[crd_id]));
    assert!(c.get(&w).is_none());
}

#[test]
fn failures_on_demand() {
    let c = MemoryCluster::with_namespaces(&["a"]);
    c.fail(
        Failure::new(Operation::Apply, ClusterErrorKind::Conflict)
            .on(id("a:configmap/x"))
            .times(1),
    );
    let r = block_on(c.apply(&[cm("x", "a", json!({})), cm("y", "a", json!({}))]));
    assert_eq!(
        r[0].1.as_ref().unwrap_err().kind,
        ClusterErrorKind::Conflict
    );
    assert!(r[1].1.is_ok());
    let r = block_on(c.apply(&[cm("x", "a", json!({}))]));
    assert!(r[0].1.is_ok());
    c.fail(Failure::new(
        Operation::ListManaged,
        ClusterErrorKind::Unavailable,
    ));
    assert!(block_on(c.list_managed("l", &Namespaces::All)).is_err());
    c.heal();
    assert!(block_on(c.list_managed("l", &Namespaces::All)).is_ok());
}

#[test]
fn export_and_list_respect_namespaces() {
    let c = MemoryCluster::with_namespaces(&["a", "b"]);
    for ns in ["a", "b"] {
        c.create(json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "d", "namespace": ns, "labels": {"m": "1"}}}))
            .unwrap();
    }
    c.create(
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": "r", "labels": {"m": "1"}}}),
    )
    .unwrap();
    let only_a = Namespaces::from_list(&["a"]);
    let exported: Vec<String> = block_on(c.export_workloads(&only_a))
        .unwrap()
        .iter()
        .map(|o| o.id.to_string())
        .collect();
    assert_eq!(exported, ["<cluster>:namespace/a", "a:deployment/d"]);
    let managed: Vec<String> = block_on(c.list_managed("m", &only_a))
        .unwrap()
        .iter()
        .map(|o| o.id.to_string())
        .collect();
    assert_eq!(managed, ["<cluster>:clusterrole/r", "a:deployment/d"]);
}

#[test]
fn pull_secrets_of_pod_spec_and_service_account() {
    let c = MemoryCluster::with_namespaces(&["a"]);
    let secret = |name: &str, host: &str| {
        let config =
            format!(r#"{{"auths":{{"{host}":{{"username":"u-{name}","password":"p"}}}}}}"#);
        json!({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/dockerconfigjson",
            "metadata": {"name": name, "namespace": "a"},
            "data": {".dockerconfigjson": base64::engine::general_purpose::STANDARD.encode(config)}})
    };
    c.create(secret("pod", "one.io")).unwrap();
    c.create(secret("sa", "two.io")).unwrap();
    c.create(json!({"apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": {"name": "builder", "namespace": "a"}, "imagePullSecrets": [{"name": "sa"}]}))
        .unwrap();
    let d = c
        .create(json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "d", "namespace": "a"},
            "spec": {"template": {"spec": {"serviceAccountName": "builder",
                "imagePullSecrets": [{"name": "pod"}, {"name": "missing"}], "containers": []}}}}))
        .unwrap();
    let creds = block_on(c.image_pull_secrets(&d)).unwrap();
    let hosts: Vec<&str> = creds.entries.keys().map(String::as_str).collect();
    assert_eq!(hosts, ["one.io", "two.io"]);
    assert_eq!(
        block_on(c.image_pull_secrets(&id("a:deployment/none")))
            .unwrap_err()
            .kind,
        ClusterErrorKind::NotFound
    );
}

#[test]
fn secrets_are_stored_as_a_server_stores_them() {
    let c = MemoryCluster::with_namespaces(&["a"]);
    let secret = |string_data: Value| ApplyObject {
        id: id("a:secret/s"),
        object: json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "s", "namespace": "a"},
            "data": {"kept": "eA==", "k": "b2xk"}, "stringData": string_data}),
    };
    let r = block_on(c.apply(&[secret(json!({"k": "new"}))]));
    assert_eq!(r[0].1.as_ref().unwrap(), &Applied::Created);
    let stored = c.get(&id("a:secret/s")).unwrap();
    assert_eq!(stored["data"], json!({"kept": "eA==", "k": "bmV3"}));
    assert!(stored.get("stringData").is_none());
    let r = block_on(c.apply(&[secret(json!({"k": "new"}))]));
    assert_eq!(r[0].1.as_ref().unwrap(), &Applied::Unchanged);
    // Not a map of strings: refused, as the API server does.
    let r = block_on(c.apply(&[secret(json!({"port": 80}))]));
    assert_eq!(r[0].1.as_ref().unwrap_err().kind, ClusterErrorKind::Invalid);
    let created = c
        .create(json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "t", "namespace": "a"}, "stringData": {"k": "v"}}))
        .unwrap();
    assert_eq!(c.get(&created).unwrap()["data"], json!({"k": "dg=="}));
}
