//! `sync --local DIR --dry-run`, alone and against a cluster (the
//! emulator, seeded by a real sync), which it must leave as it was.

use std::path::Path;

use flux_cli::error::Exit;
use flux_core::ScopeTable;
use flux_core::manifest::{LoadOptions, load_dir};
use flux_core::sync::{GcMode, SyncOptions, SyncSetName};
use kube_emulator::Emulator;

use crate::util::{examples, local};

const GIT_URL: &str = "ssh://git@example.com/config";

fn write(dir: &Path, file: &str, text: &str) {
    std::fs::write(dir.join(file), text).expect("write");
}

const NAMESPACE: &str = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: demo\n";
const CONFIG: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: demo\ndata:\n  colour: blue\n";
const DEPLOYMENT: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: demo\nspec:\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - name: web\n        image: nginx:1.25\n";
const SERVICE: &str = "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: demo\nspec:\n  selector: {app: web}\n  ports:\n  - port: 80\n";

#[test]
fn without_a_cluster_it_lists_what_would_be_applied_in_order() {
    let run = local(&examples(), &["sync", "--dry-run", "--git-url", GIT_URL]);
    let lines: Vec<&str> = run.ok().lines().collect();
    assert!(lines[0].starts_with("ACTION"), "{}", run.out);
    assert!(
        lines[1].starts_with("apply   <cluster>:namespace/demo"),
        "namespaces first: {}",
        run.out
    );
    assert!(
        lines[3].contains("customresourcedefinition"),
        "then CRDs: {}",
        run.out
    );
    assert_eq!(lines.len(), 17, "{}", run.out);
    assert!(run.err.contains("16 to apply"), "{}", run.err);
    let json = local(
        &examples(),
        &["sync", "--dry-run", "-o", "json", "--git-url", GIT_URL],
    );
    let v: serde_json::Value = serde_json::from_str(json.ok()).expect("json");
    assert_eq!(v[0]["ID"], "<cluster>:namespace/demo");
    assert_eq!(v[0]["Action"], "apply");
    assert_eq!(v[0]["Source"], "namespaces/demo.yaml:1");
}

#[test]
fn sync_flags_need_dry_run() {
    let run = local(&examples(), &["sync", "--kubeconfig", "/nonexistent"]);
    assert!(run.fails(Exit::Usage).contains("--dry-run"), "{}", run.err);
}

#[test]
fn against_a_cluster_it_shows_changes_creations_and_garbage_collection() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let server = runtime.block_on(Emulator::new().start()).expect("emulator");
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = dir.path().join("repo");
    std::fs::create_dir(&repo).expect("mkdir");
    write(&repo, "ns.yaml", NAMESPACE);
    write(&repo, "config.yaml", CONFIG);
    write(&repo, "web.yaml", DEPLOYMENT);
    let kubeconfig = dir.path().join("kubeconfig");
    server
        .write_kubeconfig(&kubeconfig, None)
        .expect("kubeconfig");

    // Seed the cluster with a real sync, as fluxd would have done.
    let mut options = SyncOptions::new(SyncSetName::from_git(GIT_URL, "master", &[] as &[&str]));
    options.gc = GcMode::On;
    let manifests = load_dir(
        &repo,
        &[] as &[&str],
        &ScopeTable::builtin(),
        &LoadOptions::default(),
    )
    .expect("loads");
    runtime.block_on(async {
        let cluster =
            flux_kube::KubeCluster::from_kubeconfig(&kubeconfig, flux_kube::Options::default())
                .await
                .expect("cluster");
        let report = flux_core::sync::run(&cluster, &manifests, &options)
            .await
            .expect("syncs");
        assert!(report.is_clean(), "{report:?}");
    });

    // Then the checkout moves on: a new image, a new service, a config map gone.
    write(
        &repo,
        "web.yaml",
        &DEPLOYMENT.replace("nginx:1.25", "nginx:1.27"),
    );
    write(&repo, "svc.yaml", SERVICE);
    std::fs::remove_file(repo.join("config.yaml")).expect("rm");
    let before = server.objects("apps", "deployments");
    server.clear_requests();

    let run = local(
        &repo,
        &[
            "sync",
            "--dry-run",
            "--kubeconfig",
            kubeconfig.to_str().expect("utf-8"),
            "--git-url",
            GIT_URL,
        ],
    );
    let out = run.ok();
    let table: Vec<Vec<&str>> = out
        .lines()
        .take_while(|l| !l.is_empty())
        .map(|l| l.split_whitespace().take(3).collect())
        .collect();
    assert_eq!(
        table,
        vec![
            vec!["ACTION", "RESOURCE", "SOURCE"],
            vec!["create", "demo:service/web", "svc.yaml:1"],
            vec!["configure", "demo:deployment/web", "web.yaml:1"],
            vec!["unchanged", "<cluster>:namespace/demo", "ns.yaml:1"],
            vec!["delete", "demo:configmap/settings", "gone"],
        ],
        "{out}"
    );
    assert!(
        out.contains("--- a/demo:deployment/web\n+++ b/demo:deployment/web\n"),
        "{out}"
    );
    assert!(
        out.contains("\n-      - image: nginx:1.25\n+      - image: nginx:1.27\n"),
        "{out}"
    );
    assert!(
        out.contains("--- /dev/null\n+++ b/demo:service/web\n"),
        "{out}"
    );
    assert!(
        out.contains("--- a/demo:configmap/settings\n+++ /dev/null\n"),
        "{out}"
    );
    assert!(out.contains("-  colour: blue"), "{out}");
    assert!(
        run.err
            .contains("1 to create, 1 to configure, 1 unchanged, 0 skipped, 1 to delete"),
        "{}",
        run.err
    );

    // Nothing was written: only reads and dry-run applies were sent.
    for r in server.requests() {
        let write = r.starts_with("POST")
            || r.starts_with("PUT")
            || r.starts_with("DELETE")
            || r.starts_with("PATCH");
        assert!(
            !write || r.contains("dryRun=All"),
            "a write reached the cluster: {r}"
        );
    }
    assert_eq!(
        server.objects("apps", "deployments"),
        before,
        "deployment unchanged"
    );
    assert_eq!(
        server.objects("", "configmaps").len(),
        1,
        "config map still there"
    );
    assert!(
        server.objects("", "services").is_empty(),
        "service not created"
    );
    drop(server);
    runtime.shutdown_background();
}
