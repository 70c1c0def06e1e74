//! The list commands with `--local`.

use flux_cli::error::Exit;

use crate::util::{examples, fluxctl, local};

fn words(out: &str) -> Vec<Vec<&str>> {
    out.lines()
        .map(|l| l.split_whitespace().collect())
        .collect()
}

#[test]
fn list_workloads_in_one_namespace_leaves_out_the_release_column() {
    let run = local(&examples(), &["list-workloads", "-n", "demo"]);
    assert_eq!(
        words(run.ok()),
        vec![
            vec!["WORKLOAD", "CONTAINER", "IMAGE", "POLICY"],
            vec![
                "demo:deployment/podinfo",
                "init",
                "alpine:3.10",
                "automated"
            ],
            vec!["podinfod", "stefanprodan/podinfo:3.1.0"],
            vec![
                "demo:deployment/redis",
                "redis",
                "redis:6.2.6-alpine",
                "locked"
            ],
            vec![
                "demo:helmrelease/ghost",
                "chart-image",
                "bitnami/ghost:4.0.1"
            ],
            vec!["mariadb", "docker.io/bitnami/mariadb:10.5.9"],
            vec![
                "demo:statefulset/memcached",
                "memcached",
                "memcached:1.6.12-alpine"
            ],
        ]
    );
    assert_eq!(run.err, "", "no notes for a clean repository");
}

#[test]
fn default_namespace_only_without_flags() {
    let run = local(&examples(), &["list-workloads", "--no-headers"]);
    assert_eq!(
        words(run.ok()),
        vec![vec!["default:cronjob/cleanup", "cleanup", "busybox:1.36.1"]]
    );
}

#[test]
fn container_filter_and_json_shape() {
    let run = local(
        &examples(),
        &["list-workloads", "-a", "-c", "node-exporter", "-o", "json"],
    );
    let v: serde_json::Value = serde_json::from_str(run.ok()).expect("json");
    assert_eq!(v.as_array().map(Vec::len), Some(1));
    let w = &v[0];
    assert_eq!(w["ID"], "monitoring:daemonset/node-exporter");
    assert_eq!(
        w["Automated"], true,
        "the legacy flux.weave.works prefix counts"
    );
    assert_eq!(w["Containers"][0]["Name"], "node-exporter");
    assert_eq!(
        w["Containers"][0]["Current"]["ID"],
        "quay.io/prometheus/node-exporter:v1.3.1"
    );
    assert_eq!(w["Policies"]["tag.node-exporter"], "glob:v1.*");
    assert_eq!(w["Policies"]["automated"], "true");
    assert_eq!(w["Source"], "workloads/node-exporter-ds.yaml:1");
    assert_eq!(w["Status"], "", "no rollout status offline");
    assert!(w.get("Error").is_none(), "{w}");
}

#[test]
fn namespaces_are_chosen_alike_in_list_manifests_and_list_workloads() {
    for cmd in ["list-manifests", "list-workloads"] {
        let run = local(&examples(), &[cmd, "-n", "demo", "-a"]);
        let err = run.fails(Exit::Usage);
        assert!(err.contains("cannot be used with"), "{cmd}: {err}");
    }
    let demo = local(
        &examples(),
        &["list-manifests", "-n", "demo", "--no-headers"],
    );
    assert!(
        demo.ok().lines().all(|l| l.starts_with("demo:")),
        "{}",
        demo.out
    );
    let default = local(&examples(), &["list-manifests", "--no-headers"]);
    assert_eq!(
        words(default.ok()),
        vec![vec![
            "default:cronjob/cleanup",
            "workloads/cleanup-cronjob.yaml:3"
        ]]
    );
}

#[test]
fn list_manifests_shows_every_resource_and_file_with_all_namespaces() {
    let out = local(&examples(), &["list-manifests", "-a"])
        .ok()
        .to_owned();
    assert!(out.contains("<cluster>:namespace/demo"), "{out}");
    let line = out
        .lines()
        .find(|l| l.starts_with("demo:service/redis"))
        .expect("redis service listed");
    assert!(line.ends_with("workloads/redis.yaml:25"), "{line}");
    assert_eq!(out.lines().count(), 17, "header + 16 resources:\n{out}");
    let json = local(&examples(), &["list-manifests", "-a", "-o", "json"]);
    let v: serde_json::Value = serde_json::from_str(json.ok()).expect("json");
    assert_eq!(v.as_array().map(Vec::len), Some(16));
    assert_eq!(v[0]["ID"], "<cluster>:clusterrole/podinfo-reader");
    assert!(v[0]["Source"].is_string());
}

#[test]
fn load_errors_name_the_file_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("bad.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: 5\n",
    )
    .expect("write");
    let run = local(dir.path(), &["list-manifests"]);
    let err = run.fails(Exit::Failed);
    assert_eq!(err.matches("bad.yaml").count(), 1, "{err}");
    assert!(
        err.contains("bad.yaml:1: metadata: must be a mapping, not a number"),
        "{err}"
    );
}

#[test]
fn local_given_a_file_says_it_is_not_a_directory() {
    let file = examples().join("README.md");
    let err = local(&file, &["list-workloads"])
        .fails(Exit::Usage)
        .to_owned();
    assert!(err.contains("not a directory"), "{err}");
    let missing = examples().join("nope");
    assert!(
        local(&missing, &["list-workloads"])
            .fails(Exit::Usage)
            .contains("no such directory")
    );
}

const BAD_IMAGES: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata: {name: number, namespace: demo}
spec:
  template:
    spec:
      containers:
      - {name: app, image: 42}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: colons, namespace: demo}
spec:
  template:
    spec:
      containers:
      - {name: app, image: 'nginx:1.0:2.0'}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: good, namespace: demo}
spec:
  template:
    spec:
      containers:
      - {name: app, image: 'nginx:1.27'}
";

#[test]
fn a_bad_image_is_reported_on_its_workload_while_the_others_list() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("apps.yaml"), BAD_IMAGES).expect("write");
    let run = local(dir.path(), &["list-workloads", "-n", "demo"]);
    assert_eq!(
        words(run.ok()),
        vec![
            vec!["WORKLOAD", "CONTAINER", "IMAGE", "POLICY"],
            vec![
                "demo:deployment/colons",
                "app",
                "nginx:1.0:2.0",
                "(invalid)"
            ],
            vec!["demo:deployment/good", "app", "nginx:1.27"],
            vec!["demo:deployment/number"],
        ]
    );
    let notes: Vec<&str> = run.err.lines().collect();
    assert_eq!(notes.len(), 2, "{}", run.err);
    assert!(notes[0].starts_with("Note: demo:deployment/colons (apps.yaml:10): container app: invalid image reference \"nginx:1.0:2.0\""), "{}", notes[0]);
    assert!(
        notes[1].starts_with("Note: demo:deployment/number (apps.yaml:1): "),
        "{}",
        notes[1]
    );
    assert!(notes[1].contains("image"), "{}", notes[1]);
    let json = local(dir.path(), &["list-workloads", "-n", "demo", "-o", "json"]);
    let v: serde_json::Value = serde_json::from_str(json.ok()).expect("json");
    assert!(v[0]["Containers"][0]["Current"]["Error"].is_string(), "{v}");
    assert!(v[2]["Error"].is_string(), "{v}");
    assert!(v[1].get("Error").is_none());
}

#[test]
fn list_images_without_a_registry_shows_what_runs() {
    let run = local(
        &examples(),
        &["list-images", "-w", "demo:deployment/podinfo"],
    );
    assert_eq!(
        words(run.ok()),
        vec![
            vec!["WORKLOAD", "CONTAINER", "IMAGE", "CREATED"],
            vec![
                "demo:deployment/podinfo",
                "init",
                "alpine",
                "tags",
                "not",
                "looked",
                "up",
                "(add",
                "--registry)"
            ],
            vec!["'->", "3.10", "?"],
            vec![
                "podinfod",
                "stefanprodan/podinfo",
                "tags",
                "not",
                "looked",
                "up",
                "(add",
                "--registry)"
            ],
            vec!["'->", "3.1.0", "?"],
        ]
    );
    let missing = local(&examples(), &["list-images", "-w", "demo:deployment/nope"]);
    let err = missing.fails(Exit::Failed);
    assert!(
        err.contains("workload demo:deployment/nope is not defined in"),
        "{err}"
    );
    assert!(
        err.contains("demo:deployment/podinfo"),
        "names the workloads there: {err}"
    );
}

#[test]
fn list_manifests_needs_local() {
    let err = fluxctl(&["list-manifests"]).fails(Exit::Usage).to_owned();
    assert!(err.contains("give --local DIR"), "{err}");
}
