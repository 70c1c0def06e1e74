//! Server-side apply ownership, refereed by kubectl.

use crate::{APP, Emu};

#[test]
fn replicas_set_by_another_manager_survive_an_apply_that_omits_them() {
    let emu = Emu::start();
    emu.apply(APP, &[]).expect_ok("apply");
    // The HPA (here kubectl scale, through the scale subresource) sets 5.
    emu.ok(&["scale", "deployment", "web", "-n", "demo", "--replicas=5"]);
    let without_replicas = APP.replace("  replicas: 2\n", "");
    emu.apply(&without_replicas, &[])
        .expect_ok("apply without replicas");
    let d = emu.get_json(&["deployment", "web", "-n", "demo"]);
    assert_eq!(
        d["spec"]["replicas"], 5,
        "replicas owned by the scaler survive"
    );
    let owners: Vec<String> = d["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["fieldsV1"]["f:spec"].get("f:replicas").is_some())
        .map(|m| {
            format!(
                "{}/{}",
                m["manager"].as_str().unwrap(),
                m["subresource"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(owners, ["kubectl/scale"]);
    // Applying replicas again conflicts with the scaler…
    let conflict = emu.apply(APP, &[]);
    assert!(!conflict.ok);
    assert!(
        conflict.stderr.contains(
            "Apply failed with 1 conflict: conflict with \"kubectl\" using apps/v1: .spec.replicas"
        ),
        "{}",
        conflict.stderr
    );
    // …unless forced, which moves ownership.
    emu.apply(APP, &["--force-conflicts"])
        .expect_ok("forced apply");
    let d = emu.get_json(&["deployment", "web", "-n", "demo"]);
    assert_eq!(d["spec"]["replicas"], 2);
}

#[test]
fn fields_a_manager_stops_applying_are_removed() {
    let emu = Emu::start();
    let with = APP.replace(
        "  labels: {app: web, tier: front}\n",
        "  labels: {app: web, tier: front}\n  annotations: {one: \"1\", two: \"2\"}\n",
    );
    emu.apply(&with, &[]).expect_ok("apply");
    // Another manager co-owns annotation "two".
    emu.apply(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: demo, annotations: {two: \"2\"}}\n",
        &["--field-manager", "other"],
    )
    .expect_ok("apply by other");
    emu.apply(APP, &[]).expect_ok("apply without annotations");
    let d = emu.get_json(&["deployment", "web", "-n", "demo"]);
    assert_eq!(
        d["metadata"]["annotations"],
        serde_json::json!({"two": "2"})
    );
    // A container port no longer applied goes too.
    let no_port = APP.replace("        ports:\n        - containerPort: 80\n", "");
    emu.apply(&no_port, &[]).expect_ok("apply without ports");
    let d = emu.get_json(&["deployment", "web", "-n", "demo"]);
    assert!(
        d["spec"]["template"]["spec"]["containers"][0]
            .get("ports")
            .is_none(),
        "{d}"
    );
}

/// The managers of a Deployment as `manager/operation/subresource`, but
/// the workload controller's status writes.
fn managers(d: &serde_json::Value) -> Vec<String> {
    let mut m: Vec<String> = d["metadata"]["managedFields"]
        .as_array()
        .expect("managedFields")
        .iter()
        .filter(|e| e["subresource"] != "status")
        .map(|e| {
            format!(
                "{}/{}/{}",
                e["manager"].as_str().unwrap_or(""),
                e["operation"].as_str().unwrap_or(""),
                e["subresource"].as_str().unwrap_or("")
            )
        })
        .collect();
    m.sort();
    m
}

#[test]
fn client_side_apply_then_kubectl_server_side_migrates_ownership() {
    // What kubectl does when a user moves from `kubectl apply` to
    // `kubectl apply --server-side`: after the first server-side apply it
    // sees an Update manager owning the last-applied annotation, replaces
    // managedFields with a JSON patch giving those fields to its apply
    // manager, and applies again. The server must take managedFields from
    // that patch, or fields removed from the file stay forever.
    let emu = Emu::start();
    // The namespace and the Deployment only: the emulator gives an update
    // ownership of fields before defaulting (a real server after it, so a
    // Secret's `stringData` is owned as `data` there), which would make a
    // client-side applied Secret conflict here and not on a real server.
    let app: Vec<&str> = APP.split("\n---\n").take(2).collect();
    let with = app.join("\n---\n").replace(
        "  labels: {app: web, tier: front}\n",
        "  labels: {app: web, tier: front}\n  annotations: {one: \"1\", two: \"2\"}\n",
    );
    emu.ok_stdin(&["apply", "-f", "-"], &with);
    let d = emu.get_json(&["deployment", "web", "-n", "demo"]);
    assert_eq!(managers(&d), ["kubectl-client-side-apply/Update/"]);
    let csa = &d["metadata"]["managedFields"]
        .as_array()
        .expect("managedFields")
        .iter()
        .find(|e| e["manager"] == "kubectl-client-side-apply")
        .expect("the client-side entry")["fieldsV1"];
    assert!(
        csa["f:metadata"]["f:annotations"]
            .get("f:kubectl.kubernetes.io/last-applied-configuration")
            .is_some(),
        "client-side apply owns its annotation: {csa}"
    );
    assert!(
        d["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
            .is_string()
    );
    // Another manager scales it (as an HPA would, through `scale`).
    emu.ok(&["scale", "deployment", "web", "-n", "demo", "--replicas=5"]);

    let without_one = with
        .replace(
            "annotations: {one: \"1\", two: \"2\"}",
            "annotations: {two: \"2\"}",
        )
        .replace("  replicas: 2\n", "");
    emu.apply(&without_one, &[])
        .expect_ok("server-side apply after client-side");
    let d = emu.get_json(&["deployment", "web", "-n", "demo"]);
    assert_eq!(
        managers(&d),
        // kubectl keeps the last-applied record up to date as its own
        // apply manager, `kubectl-last-applied`.
        [
            "kubectl-last-applied/Apply/",
            "kubectl/Apply/",
            "kubectl/Update/scale"
        ],
        "the client-side manager's fields went to kubectl's apply manager"
    );
    assert!(d["metadata"]["annotations"].get("one").is_none(), "{d}");
    assert_eq!(d["metadata"]["annotations"]["two"], "2");
    assert_eq!(d["spec"]["replicas"], 5, "the scaler's replicas stay");
}

#[test]
fn managed_fields_set_by_a_write_replace_or_keep_the_live_ones() {
    let emu = Emu::start();
    emu.apply(APP, &[]).expect_ok("apply");
    let d = emu.get_json(&["configmap", "cfg", "-n", "demo"]);
    assert_eq!(managers(&d), ["kubectl/Apply/"]);
    // A merge patch that does not mention managedFields keeps them (and
    // gains its own entry for what it changed).
    emu.ok(&[
        "patch",
        "configmap",
        "cfg",
        "-n",
        "demo",
        "--type=merge",
        "-p",
        r#"{"data":{"b":"2"}}"#,
    ]);
    let d = emu.get_json(&["configmap", "cfg", "-n", "demo"]);
    assert_eq!(managers(&d), ["kubectl-patch/Update/", "kubectl/Apply/"]);
    // `[{}]` clears them, as on a real API server.
    emu.ok(&[
        "patch",
        "configmap",
        "cfg",
        "-n",
        "demo",
        "--type=merge",
        "-p",
        r#"{"metadata":{"managedFields":[{}]}}"#,
    ]);
    let d = emu.get_json(&["configmap", "cfg", "-n", "demo"]);
    assert!(d["metadata"].get("managedFields").is_none(), "{d}");
    // Set outright, they are what the object says.
    let set = r#"[{"op":"add","path":"/metadata/managedFields","value":[{"manager":"someone","operation":"Apply","apiVersion":"v1","fieldsType":"FieldsV1","fieldsV1":{"f:data":{"f:a":{}}}}]}]"#;
    emu.ok(&[
        "patch",
        "configmap",
        "cfg",
        "-n",
        "demo",
        "--type=json",
        "-p",
        set,
    ]);
    let d = emu.get_json(&["configmap", "cfg", "-n", "demo"]);
    assert_eq!(managers(&d), ["someone/Apply/"]);
}
