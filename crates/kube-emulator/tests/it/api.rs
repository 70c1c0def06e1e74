//! CRUD, selectors and Status errors as kubectl sees them.

use serde_json::json;

use crate::{APP, Emu};

#[test]
fn server_side_apply_then_get_shows_the_applied_objects() {
    let emu = Emu::start();
    let out = emu.apply(APP, &[]);
    let text = out.expect_ok("apply");
    for line in [
        "namespace/demo serverside-applied",
        "deployment.apps/web serverside-applied",
        "service/web serverside-applied",
    ] {
        assert!(text.contains(line), "{text}");
    }
    // The emulator's workload controller finishes the rollout (a status
    // write) before the no-op check below.
    emu.ok(&["rollout", "status", "deployment/web", "-n", "demo"]);
    let d = emu.get_json(&["deployment", "web", "-n", "demo"]);
    assert_eq!(d["spec"]["replicas"], 2);
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.25"
    );
    assert_eq!(d["metadata"]["generation"], 1);
    let mf = &d["metadata"]["managedFields"][0];
    assert_eq!(
        (mf["manager"].as_str(), mf["operation"].as_str()),
        (Some("kubectl"), Some("Apply"))
    );
    assert!(mf["fieldsV1"]["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"app\"}"]["f:image"].is_object());
    // The server's own work: Secret stringData stored as data, a cluster IP.
    let s = emu.get_json(&["secret", "creds", "-n", "demo"]);
    assert_eq!(s["data"], json!({"password": "aHVudGVyMg=="}));
    assert_eq!(s["type"], "Opaque");
    assert!(s.get("stringData").is_none());
    let svc = emu.get_json(&["service", "web", "-n", "demo"]);
    assert!(
        svc["spec"]["clusterIP"]
            .as_str()
            .is_some_and(|ip| ip.starts_with("10.96."))
    );
    // A server-side dry run changes nothing, and fails where a real write
    // would.
    let dry = emu.apply(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: dry, namespace: demo}\n",
        &["--dry-run=server"],
    );
    assert!(
        dry.expect_ok("dry run")
            .contains("configmap/dry serverside-applied (server dry run)")
    );
    assert!(
        !emu.kubectl
            .run(&["get", "configmap", "dry", "-n", "demo"])
            .ok
    );
    let nowhere = emu.apply(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: dry, namespace: nowhere}\n",
        &["--dry-run=server"],
    );
    assert!(
        nowhere.stderr.contains("namespaces \"nowhere\" not found"),
        "{}",
        nowhere.stderr
    );
    // Applying the same manifests again changes nothing.
    let rv = d["metadata"]["resourceVersion"].clone();
    emu.apply(APP, &[]).expect_ok("re-apply");
    let again = emu.get_json(&["deployment", "web", "-n", "demo"]);
    assert_eq!(
        again["metadata"]["resourceVersion"], rv,
        "a no-op apply does not write"
    );
    // YAML, as kubectl prints it (managed fields hidden by default).
    let yaml = emu.ok(&["get", "configmap", "cfg", "-n", "demo", "-o", "yaml"]);
    for line in [
        "apiVersion: v1",
        "kind: ConfigMap",
        "  a: \"1\"",
        "  name: cfg",
        "  namespace: demo",
        "    app: web",
    ] {
        assert!(
            yaml.lines().any(|l| l == line),
            "{line:?} missing from:\n{yaml}"
        );
    }
    assert!(!yaml.contains("managedFields"), "{yaml}");
    // The table kubectl prints.
    let table = emu.ok(&["get", "deployments", "-n", "demo"]);
    assert!(
        table.starts_with("NAME") && table.contains("web") && table.contains("2/2"),
        "{table}"
    );
}

#[test]
fn label_and_field_selectors() {
    let emu = Emu::start();
    emu.apply(APP, &[]).expect_ok("apply");
    let names = |args: &[&str]| -> String {
        let mut a = vec!["get"];
        a.extend_from_slice(args);
        a.extend_from_slice(&["-o", "name"]);
        emu.ok(&a).trim().to_owned()
    };
    assert_eq!(
        names(&["deploy,cm", "-n", "demo", "--selector", "app=web"]),
        "deployment.apps/web\nconfigmap/cfg"
    );
    assert_eq!(
        names(&["deploy,cm", "-n", "demo", "-l", "tier=front"]),
        "deployment.apps/web"
    );
    assert_eq!(names(&["deploy,cm", "-n", "demo", "-l", "app in (db)"]), "");
    assert_eq!(
        names(&["cm", "-A", "--field-selector", "metadata.name=cfg"]),
        "configmap/cfg"
    );
    assert_eq!(
        names(&["cm", "-A", "--field-selector", "metadata.namespace=default"]),
        ""
    );
}

#[test]
fn annotate_label_create_namespace_and_delete() {
    let emu = Emu::start();
    assert!(
        emu.ok(&["create", "namespace", "team-a"])
            .contains("namespace/team-a created")
    );
    emu.ok(&[
        "create",
        "configmap",
        "c",
        "-n",
        "team-a",
        "--from-literal=k=v",
    ]);
    emu.ok(&[
        "annotate",
        "configmap",
        "c",
        "-n",
        "team-a",
        "fluxcd.io/ignore=true",
    ]);
    emu.ok(&["label", "configmap", "c", "-n", "team-a", "owner=me"]);
    let c = emu.get_json(&["configmap", "c", "-n", "team-a"]);
    assert_eq!(c["metadata"]["annotations"]["fluxcd.io/ignore"], "true");
    assert_eq!(c["metadata"]["labels"]["owner"], "me");
    assert_eq!(c["data"]["k"], "v");
    let mut managers: Vec<&str> = c["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["manager"].as_str().unwrap())
        .collect();
    managers.sort_unstable();
    assert_eq!(
        managers,
        ["kubectl-annotate", "kubectl-create", "kubectl-label"]
    );
    assert!(
        emu.ok(&["delete", "configmap", "c", "-n", "team-a"])
            .contains("configmap \"c\" deleted")
    );
    let gone = emu.kubectl.run(&["get", "configmap", "c", "-n", "team-a"]);
    assert!(!gone.ok);
    assert!(
        gone.stderr
            .contains("Error from server (NotFound): configmaps \"c\" not found"),
        "{}",
        gone.stderr
    );
    // Deleting a namespace deletes what is in it.
    emu.ok(&["create", "configmap", "d", "-n", "team-a"]);
    emu.ok(&["delete", "namespace", "team-a"]);
    assert_eq!(
        emu.ok(&["get", "configmaps", "-A", "-o", "name"]).trim(),
        ""
    );
}

#[test]
fn status_errors_reach_kubectl() {
    let emu = Emu::start();
    emu.ok(&["create", "namespace", "x"]);
    let dup = emu.kubectl.run(&["create", "namespace", "x"]);
    assert!(
        dup.stderr
            .contains("Error from server (AlreadyExists): namespaces \"x\" already exists"),
        "{}",
        dup.stderr
    );
    let missing_ns = emu.apply(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: nowhere}\n",
        &[],
    );
    assert!(
        missing_ns
            .stderr
            .contains("namespaces \"nowhere\" not found"),
        "{}",
        missing_ns.stderr
    );
    let invalid = emu.apply(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d, namespace: x}\nspec:\n  selector: {matchLabels: {app: a}}\n  template:\n    metadata: {labels: {app: b}}\n    spec: {containers: [{name: c, image: i}]}\n",
        &[],
    );
    assert!(
        invalid.stderr.contains("The Deployment \"d\" is invalid: spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"b\"}: `selector` does not match template `labels`"),
        "{}",
        invalid.stderr
    );
    let bad_name = emu.apply(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: Bad_Name, namespace: x}\n",
        &[],
    );
    assert!(
        bad_name
            .stderr
            .contains("metadata.name: Invalid value: \"Bad_Name\""),
        "{}",
        bad_name.stderr
    );
    // A write with a stale resourceVersion conflicts.
    emu.ok(&["create", "configmap", "c", "-n", "x", "--from-literal=k=1"]);
    let stale = emu.get_json(&["configmap", "c", "-n", "x"]);
    emu.ok(&["label", "configmap", "c", "-n", "x", "bump=1"]);
    let mut old = stale.clone();
    old["data"]["k"] = json!("2");
    old["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("managedFields");
    let replace = emu
        .kubectl
        .run_stdin(&["replace", "-f", "-"], &old.to_string());
    assert!(
        replace.stderr.contains("the object has been modified"),
        "{}",
        replace.stderr
    );
    assert!(replace.stderr.contains("Conflict"), "{}", replace.stderr);
}
