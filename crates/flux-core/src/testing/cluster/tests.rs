//! The in-memory cluster against what a real API server does.

use super::*;
use crate::frozen::Frozen;
use crate::testing::block_on;
use serde_json::json;

fn id(s: &str) -> ResourceId {
    s.parse().unwrap()
}

fn cm(name: &str, ns: &str, data: Value) -> ApplyObject {
    ApplyObject {
        id: ResourceId::new(ns, "configmap", name),
        object: Frozen::new(&json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": ns}, "data": data}))
        .unwrap(),
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
            "metadata": {"name": "d", "namespace": ns, "labels": {"m": "1"}},
            "spec": {"selector": {"matchLabels": {"app": "d"}},
                "template": {"metadata": {"labels": {"app": "d"}}}}}))
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
            "spec": {"selector": {"matchLabels": {"app": "d"}},
                "template": {"metadata": {"labels": {"app": "d"}}, "spec": {"serviceAccountName": "builder",
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
        object: Frozen::new(&json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "s", "namespace": "a"},
            "data": {"kept": "eA==", "k": "b2xk"}, "stringData": string_data}))
        .unwrap(),
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

/// Regression (found by flux-kube's differential test against the API
/// emulator): a real API server labels every Namespace with its name
/// (`kubernetes.io/metadata.name`, Kubernetes 1.21+), whatever the
/// client sent; the in-memory cluster did not.
#[test]
fn namespaces_get_their_name_label_as_from_a_server() {
    let c = MemoryCluster::with_namespaces(&["default"]);
    let label = |id: &ResourceId| c.get(id).unwrap()["metadata"]["labels"].clone();
    assert_eq!(
        label(&id("<cluster>:namespace/default")),
        json!({"kubernetes.io/metadata.name": "default"})
    );
    let team = ResourceId::cluster("namespace", "team");
    let applied = ApplyObject {
        id: team.clone(),
        object: Frozen::new(&json!({"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": "team", "labels": {"kubernetes.io/metadata.name": "other", "app": "x"}}})).unwrap(),
    };
    let r = block_on(c.apply(std::slice::from_ref(&applied)));
    assert_eq!(r[0].1.as_ref().unwrap(), &Applied::Created);
    assert_eq!(
        label(&team),
        json!({"kubernetes.io/metadata.name": "team", "app": "x"})
    );
    let made = c
        .create(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "made"}}))
        .unwrap();
    assert_eq!(label(&made), json!({"kubernetes.io/metadata.name": "made"}));
}

/// Regression (found by flux-kube's differential test against the API
/// emulator): an apps/v1 workload without a selector, or whose selector
/// does not match its pod template's labels, is refused as Invalid by a
/// real API server; the in-memory cluster created it.
#[test]
fn a_workload_without_a_matching_selector_is_invalid_as_on_a_server() {
    let c = MemoryCluster::with_namespaces(&["a"]);
    let deployment = |spec: Value| ApplyObject {
        id: ResourceId::new("a", "deployment", "web"),
        object: Frozen::new(&json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "a"}, "spec": spec}))
        .unwrap(),
    };
    let containers = json!([{"name": "app", "image": "nginx"}]);
    for spec in [
        json!({"template": {"spec": {"containers": containers}}}),
        json!({"selector": {"matchLabels": {}}, "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": containers}}}),
        json!({"selector": {"matchLabels": {"app": "api"}}, "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": containers}}}),
    ] {
        let r = block_on(c.apply(&[deployment(spec.clone())]));
        let err = r[0].1.as_ref().unwrap_err();
        assert_eq!(err.kind, ClusterErrorKind::Invalid, "{spec}");
        assert!(err.to_string().contains("selector"), "{err}");
    }
    assert!(c.get(&id("a:deployment/web")).is_none());
    let good = json!({"selector": {"matchLabels": {"app": "web"}}, "template": {"metadata": {"labels": {"app": "web", "tier": "x"}}, "spec": {"containers": containers}}});
    let r = block_on(c.apply(&[deployment(good)]));
    assert_eq!(r[0].1.as_ref().unwrap(), &Applied::Created);
}

/// Regression (found by flux-kube's differential test): with an allow-list,
/// Flux v1 (and flux-kube) leave out of the managed objects the Namespaces
/// whose name is not allowed (other cluster-scoped objects stay); the
/// in-memory cluster listed every cluster-scoped object, so GC reported a
/// disallowed Namespace as kept where the real adapter never saw it.
#[test]
fn list_managed_leaves_out_namespaces_not_allowed() {
    let c = MemoryCluster::new();
    for name in ["a", "b"] {
        c.create(json!({"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name, "labels": {"m": "1"}}}))
            .unwrap();
    }
    c.create(
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": "r", "labels": {"m": "1"}}}),
    )
    .unwrap();
    let listed = |ns: Namespaces| -> Vec<String> {
        block_on(c.list_managed("m", &ns))
            .unwrap()
            .into_iter()
            .map(|o| o.id.to_string())
            .collect()
    };
    let only_a = Namespaces::Only(["a".to_owned()].into());
    assert_eq!(
        listed(only_a),
        ["<cluster>:clusterrole/r", "<cluster>:namespace/a"]
    );
    assert_eq!(
        listed(Namespaces::Only(Default::default())),
        ["<cluster>:clusterrole/r"]
    );
    assert_eq!(listed(Namespaces::All).len(), 3);
}

/// Regression (found by flux-kube's differential test): an object of a
/// kind the cluster does not serve (a custom resource whose CRD was never
/// applied) is refused, as a server refuses it; the in-memory cluster
/// stored it.
#[test]
fn applying_a_kind_the_cluster_does_not_serve_is_refused() {
    let c = MemoryCluster::with_namespaces(&["a"]);
    let widget = ApplyObject {
        id: ResourceId::new("a", "widget", "w"),
        object: Frozen::new(&json!({"apiVersion": "example.com/v1", "kind": "Widget",
            "metadata": {"name": "w", "namespace": "a"}}))
        .unwrap(),
    };
    let r = block_on(c.apply(std::slice::from_ref(&widget)));
    let err = r[0].1.as_ref().unwrap_err();
    assert_eq!(err.kind, ClusterErrorKind::Invalid);
    assert!(err.to_string().contains("Widget"), "{err}");
    assert!(c.get(&widget.id).is_none());
    let crd = ApplyObject {
        id: ResourceId::cluster("customresourcedefinition", "widgets.example.com"),
        object: Frozen::new(
            &json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.example.com"},
            "spec": {"group": "example.com", "scope": "Namespaced",
                "names": {"kind": "Widget", "plural": "widgets"},
                "versions": [{"name": "v1", "served": true, "storage": true}]}}),
        )
        .unwrap(),
    };
    let r = block_on(c.apply(&[crd, widget]));
    assert!(r.iter().all(|(_, r)| r.is_ok()), "{r:?}");
}
