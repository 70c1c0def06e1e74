//! The bundled example repository loads exactly as Flux v1 would load it.

use std::path::PathBuf;

use flux_core::ScopeTable;
use flux_core::manifest::{LoadOptions, Manifests, load_dir};
use flux_core::workload::ContainerKind;

fn example_repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/config-repo")
}

fn load(paths: &[&str]) -> Manifests {
    load_dir(
        &example_repo(),
        paths,
        &ScopeTable::builtin(),
        &LoadOptions::default(),
    )
    .unwrap_or_else(|e| panic!("example repo must load: {e}"))
}

#[test]
fn every_resource_with_its_file() {
    let m = load(&["."]);
    let got: Vec<(String, String)> = m
        .resources
        .values()
        .map(|r| (r.id().to_string(), r.source().to_string()))
        .collect();
    let want = [
        (
            "<cluster>:clusterrole/podinfo-reader",
            "rbac/cluster-role.yaml:1",
        ),
        (
            "<cluster>:clusterrolebinding/podinfo-reader",
            "rbac/cluster-role.yaml:10",
        ),
        (
            "<cluster>:customresourcedefinition/helmreleases.helm.fluxcd.io",
            "crds/helmrelease.yaml:3",
        ),
        ("<cluster>:namespace/demo", "namespaces/demo.yaml:1"),
        (
            "<cluster>:namespace/monitoring",
            "namespaces/monitoring.yaml:2",
        ),
        (
            "default:cronjob/cleanup",
            "workloads/cleanup-cronjob.yaml:3",
        ),
        (
            "demo:configmap/podinfo-config",
            "workloads/config-list.yaml:5",
        ),
        (
            "demo:configmap/redis-config",
            "workloads/config-list.yaml:12",
        ),
        ("demo:deployment/podinfo", "workloads/podinfo-dep.yaml:2"),
        ("demo:deployment/redis", "workloads/redis.yaml:3"),
        ("demo:helmrelease/ghost", "releases/ghost.yaml:1"),
        (
            "demo:horizontalpodautoscaler/podinfo",
            "workloads/podinfo-hpa.yaml:1",
        ),
        ("demo:service/podinfo", "workloads/podinfo-svc.yaml:1"),
        ("demo:service/redis", "workloads/redis.yaml:25"),
        (
            "demo:statefulset/memcached",
            "workloads/memcached-sts.yaml:1",
        ),
        (
            "monitoring:daemonset/node-exporter",
            "workloads/node-exporter-ds.yaml:1",
        ),
    ];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(got, want);
    assert!(m.unscoped.is_empty(), "{:?}", m.unscoped);
}

#[test]
fn charts_and_hidden_directories_are_skipped() {
    let m = load(&["."]);
    for r in m.resources.values() {
        assert!(!r.source().file.starts_with("charts/"), "{}", r.source());
        assert!(!r.source().file.starts_with(".github/"), "{}", r.source());
    }
}

#[test]
fn workloads_and_images() {
    let m = load(&["."]);
    let got: Vec<(String, String, String)> = m
        .workloads()
        .flat_map(|w| {
            let id = w.id().to_string();
            w.containers()
                .expect("example workloads are well formed")
                .into_iter()
                .map(move |c| (id.clone(), c.name, c.image))
        })
        .collect();
    let want = [
        ("default:cronjob/cleanup", "cleanup", "busybox:1.36.1"),
        ("demo:deployment/podinfo", "init", "alpine:3.10"),
        (
            "demo:deployment/podinfo",
            "podinfod",
            "stefanprodan/podinfo:3.1.0",
        ),
        ("demo:deployment/redis", "redis", "redis:6.2.6-alpine"),
        (
            "demo:helmrelease/ghost",
            "chart-image",
            "bitnami/ghost:4.0.1",
        ),
        (
            "demo:helmrelease/ghost",
            "mariadb",
            "docker.io/bitnami/mariadb:10.5.9",
        ),
        (
            "demo:statefulset/memcached",
            "memcached",
            "memcached:1.6.12-alpine",
        ),
        (
            "monitoring:daemonset/node-exporter",
            "node-exporter",
            "quay.io/prometheus/node-exporter:v1.3.1",
        ),
    ];
    let want: Vec<(String, String, String)> = want
        .iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect();
    assert_eq!(got, want);
    let podinfo = &m.resources[&"demo:deployment/podinfo".parse().expect("valid id")];
    assert_eq!(
        podinfo.containers().expect("ok")[0].kind,
        ContainerKind::Init
    );
}

#[test]
fn git_paths_narrow_the_load() {
    let m = load(&["namespaces", "./releases/"]);
    let ids: Vec<String> = m.resources.keys().map(ToString::to_string).collect();
    assert_eq!(
        ids,
        [
            "<cluster>:namespace/demo",
            "<cluster>:namespace/monitoring",
            "demo:helmrelease/ghost"
        ]
    );
}

#[test]
fn default_namespace_is_configurable() {
    let options = LoadOptions {
        default_namespace: "ops".into(),
        ..LoadOptions::default()
    };
    let m = load_dir(
        &example_repo(),
        &["workloads"],
        &ScopeTable::builtin(),
        &options,
    )
    .expect("loads");
    assert!(
        m.resources
            .contains_key(&"ops:cronjob/cleanup".parse().expect("valid id"))
    );
}

#[test]
fn the_object_is_exactly_what_git_says() {
    let m = load(&["workloads"]);
    let podinfo = &m.resources[&"demo:deployment/podinfo".parse().expect("valid id")];
    // No replicas in git: nothing must invent them (the HPA owns them).
    assert!(
        podinfo.object().to_value()["spec"]
            .get("replicas")
            .is_none()
    );
    assert_eq!(podinfo.annotations()["fluxcd.io/automated"], "true");
    let cron = &m.resources[&"default:cronjob/cleanup".parse().expect("valid id")];
    assert!(
        cron.object().to_value()["metadata"]
            .get("namespace")
            .is_none()
    );
}
