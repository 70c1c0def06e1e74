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
