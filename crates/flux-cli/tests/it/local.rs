//! `fluxctl --local` against the bundled example repository.

use clap::Parser;
use flux_cli::args::Cli;

fn run(args: &[&str]) -> Result<String, String> {
    let repo = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/config-repo");
    let mut argv = vec!["fluxctl", "--local", repo];
    argv.extend_from_slice(args);
    let cli = Cli::try_parse_from(argv).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    flux_cli::run(&cli, &mut out).map_err(|e| format!("{e:#}"))?;
    String::from_utf8(out).map_err(|e| e.to_string())
}

#[test]
fn list_workloads_in_one_namespace() {
    let out = run(&["list-workloads", "-n", "demo"]).expect("runs");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["WORKLOAD", "CONTAINER", "IMAGE", "RELEASE", "POLICY"]
    );
    let words: Vec<Vec<&str>> = lines[1..]
        .iter()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        words,
        vec![
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
}

#[test]
fn default_namespace_only_without_flags() {
    let out = run(&["list-workloads", "--no-headers"]).expect("runs");
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(out.starts_with("default:cronjob/cleanup"), "{out}");
}

#[test]
fn container_filter_and_json() {
    let out = run(&["list-workloads", "-a", "-c", "node-exporter", "-o", "json"]).expect("runs");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v.as_array().map(Vec::len), Some(1));
    assert_eq!(v[0]["ID"], "monitoring:daemonset/node-exporter");
    assert_eq!(
        v[0]["Automated"], true,
        "the legacy flux.weave.works prefix counts"
    );
    assert_eq!(
        v[0]["Containers"][0]["Current"]["ID"],
        "quay.io/prometheus/node-exporter:v1.3.1"
    );
}

#[test]
fn list_manifests_shows_every_resource_and_file() {
    let out = run(&["list-manifests"]).expect("runs");
    assert!(out.contains("<cluster>:namespace/demo"), "{out}");
    let line = out
        .lines()
        .find(|l| l.starts_with("demo:service/redis"))
        .expect("redis service listed");
    assert!(line.ends_with("workloads/redis.yaml:25"), "{line}");
    assert_eq!(out.lines().count(), 17, "header + 16 resources:\n{out}");
}

#[test]
fn load_errors_are_reported_with_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("bad.yaml"),
        "apiVersion: v1\nkind: ConfigMap\n",
    )
    .expect("write");
    let cli = Cli::try_parse_from([
        "fluxctl",
        "--local",
        dir.path().to_str().expect("utf-8"),
        "list-manifests",
    ])
    .expect("parses");
    let e = flux_cli::run(&cli, &mut Vec::new()).unwrap_err();
    assert!(
        format!("{e:#}").contains("bad.yaml:1: metadata is missing"),
        "{e:#}"
    );
}
