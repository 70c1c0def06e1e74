//! OpenAPI as kubectl uses it: `kind: List` files validated against
//! `/openapi/v2`, `kubectl explain` from `/openapi/v3`, and client-side
//! apply computing strategic merge patches from the schemas' merge keys.

use crate::{APP, Emu};

const LIST: &str = "apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: from-list, namespace: demo}
  data: {a: \"1\"}
- apiVersion: v1
  kind: Secret
  metadata: {name: from-list, namespace: demo}
  stringData: {b: \"2\"}
";

const BAD_LIST: &str = "apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: bad, namespace: demo}
  datta: {a: b}
- apiVersion: apps/v1
  kind: Deployment
  metadata: {name: bad, namespace: demo}
  spec: {replicas: two, selector: {matchLabels: {a: b}}, template: {metadata: {labels: {a: b}}, spec: {containers: [{name: c, image: i}]}}}
";

#[test]
fn a_directory_with_a_list_file_is_applied_recursively() {
    let emu = Emu::start();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    std::fs::write(dir.path().join("app.yaml"), APP).unwrap();
    std::fs::write(dir.path().join("sub/list.yaml"), LIST).unwrap();
    let path = dir.path().to_str().unwrap();
    let out = emu.ok(&["apply", "--server-side", "-R", "-f", path]);
    assert!(
        out.contains("configmap/from-list serverside-applied"),
        "{out}"
    );
    assert!(out.contains("secret/from-list serverside-applied"), "{out}");
    assert!(
        out.contains("deployment.apps/web serverside-applied"),
        "{out}"
    );
    let cm = emu.get_json(&["configmap", "from-list", "-n", "demo"]);
    assert_eq!(cm["data"]["a"], "1");
    // kubectl asked for the v2 document in protobuf, as from a real server.
    let (code, _) = emu.http("GET", "/openapi/v2", "");
    assert_eq!(code, 200);

    // A List is validated client-side against the v2 schemas: unknown
    // fields and wrong types are named, and nothing of it is applied.
    std::fs::write(dir.path().join("bad.yaml"), BAD_LIST).unwrap();
    let bad = dir.path().join("bad.yaml");
    let out = emu
        .kubectl
        .run(&["apply", "--server-side", "-f", bad.to_str().unwrap()]);
    assert!(!out.ok);
    assert!(
        out.stderr
            .contains("unknown field \"datta\" in io.k8s.api.core.v1.ConfigMap"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains(
            "invalid type for io.k8s.api.apps.v1.DeploymentSpec.replicas: got \"string\", expected \"integer\""
        ),
        "{}",
        out.stderr
    );
    assert!(
        !emu.kubectl
            .run(&["get", "configmap", "bad", "-n", "demo"])
            .ok
    );
}

#[test]
fn explain_prints_the_schemas_of_builtin_and_custom_kinds() {
    let emu = Emu::start();
    let out = emu.ok(&["explain", "deployment.spec.template"]);
    for line in [
        "GROUP:      apps",
        "KIND:       Deployment",
        "VERSION:    v1",
        "FIELD: template <PodTemplateSpec>",
        "Template describes the pods that will be created.",
        "spec\t<PodSpec>",
    ] {
        assert!(out.contains(line), "{line:?} missing in\n{out}");
    }
    let out = emu.ok(&["explain", "pods.spec.containers.ports"]);
    assert!(out.contains("containerPort\t<integer> -required-"), "{out}");
    let out = emu.ok(&["explain", "svc.spec.type"]);
    assert!(out.contains("FIELD: type <string>"), "{out}");
    let missing = emu.kubectl.run(&["explain", "deployment.spec.nope"]);
    assert!(!missing.ok);
    assert!(
        missing.stderr.contains("field \"nope\" does not exist"),
        "{}",
        missing.stderr
    );

    emu.apply(
        "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  names: {kind: Widget, plural: widgets}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            description: What a widget should be.
            properties:
              size: {type: integer, description: How big the widget is.}
",
        &[],
    )
    .expect_ok("apply CRD");
    let out = emu.ok(&["explain", "widgets.spec"]);
    assert!(out.contains("KIND:       Widget"), "{out}");
    assert!(out.contains("size\t<integer>"), "{out}");
    assert!(out.contains("How big the widget is."), "{out}");
    let out = emu.ok(&["explain", "widgets.metadata.name"]);
    assert!(out.contains("FIELD: name <string>"), "{out}");
}

#[test]
fn client_side_apply_merges_lists_by_their_keys() {
    let emu = Emu::start();
    emu.ok(&["create", "namespace", "demo"]);
    let v1 = "apiVersion: apps/v1
kind: Deployment
metadata: {name: csa, namespace: demo}
spec:
  selector: {matchLabels: {a: b}}
  template:
    metadata: {labels: {a: b}}
    spec:
      containers:
      - {name: one, image: one:1, env: [{name: A, value: \"1\"}, {name: B, value: \"2\"}]}
      - {name: two, image: two:1}
";
    emu.ok_stdin(&["apply", "-f", "-"], v1);
    // Someone else adds an env var; a client-side apply that drops one
    // container and one of its own vars keeps the other writer's.
    emu.ok(&[
        "set",
        "env",
        "deployment/csa",
        "-n",
        "demo",
        "-c",
        "one",
        "C=3",
    ]);
    let v2 = v1
        .replace("- {name: two, image: two:1}\n", "")
        .replace(", {name: B, value: \"2\"}", "");
    emu.ok_stdin(&["apply", "-f", "-"], &v2);
    let d = emu.get_json(&["deployment", "csa", "-n", "demo"]);
    let containers = d["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap();
    assert_eq!(containers.len(), 1, "{containers:?}");
    let env: Vec<&str> = containers[0]["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(env, ["A", "C"]);
}
