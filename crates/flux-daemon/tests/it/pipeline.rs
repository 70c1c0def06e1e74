//! The pieces fluxd wires, wired by hand, on real parts: a bare repository
//! served by `git daemon`, flux-git's mirror, flux-core's loading, sync,
//! automation and edits, flux-kube against the API emulator, and kubectl as
//! the referee of what the cluster holds. This proves the seams fit before
//! the daemon's loops exist.

use std::path::PathBuf;

use chrono::{TimeZone, Utc};
use flux_core::ScopeTable;
use flux_core::automation::calculate_automation;
use flux_core::image::ImageName;
use flux_core::manifest::{LoadOptions, parse_files};
use flux_core::registry::MemoryRegistry;
use flux_core::release::ReleaseContext;
use flux_core::source::Snapshot;
use flux_core::sync::{GcMode, SyncOptions, SyncReport, SyncSetName, load_and_run};
use flux_git::{CommitRequest, FileChanges, GitConfig, GitFlags, Repo, SshOptions};
use flux_kube::{KubeCluster, Options};
use flux_testbed::git::{BareRepo, GitDaemon};
use kube_emulator::kubectl::Kubectl;

fn example_files() -> Vec<(String, Vec<u8>)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/config-repo");
    let mut out = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read example dir") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(&root).expect("under root");
                let rel = rel.to_str().expect("utf-8 path").to_owned();
                out.push((rel, std::fs::read(&path).expect("read example file")));
            }
        }
    }
    out.sort();
    out
}

/// The registry as automation would see it: newer podinfo tags, one of them
/// outside the `semver:~3.1` filter.
fn registry() -> MemoryRegistry {
    let mut reg = MemoryRegistry::new();
    let podinfo = ImageName::parse("stefanprodan/podinfo").expect("valid name");
    for (tag, day) in [("3.1.0", 1), ("3.1.5", 2), ("3.2.0", 3)] {
        let created = Utc.with_ymd_and_hms(2024, 1, day, 0, 0, 0).single();
        reg.add(&podinfo, tag, created);
    }
    reg
}

struct Bed {
    repo: Repo,
    cluster: KubeCluster,
    options: SyncOptions,
    paths: Vec<String>,
}

impl Bed {
    async fn snapshot(&self) -> (String, Snapshot) {
        let head = self.repo.refresh().await.expect("fetch").head;
        let snapshot = self
            .repo
            .snapshot_at(&head, &self.paths)
            .await
            .expect("read tree");
        (head, snapshot)
    }

    async fn sync(&self) -> SyncReport {
        let (_, snapshot) = self.snapshot().await;
        let report = load_and_run(
            &self.cluster,
            &snapshot.files,
            &self.paths,
            &ScopeTable::builtin(),
            &LoadOptions::default(),
            &self.options,
        )
        .await
        .expect("sync runs");
        let errors: Vec<String> = report
            .apply_errors()
            .chain(report.delete_errors())
            .map(|(id, e)| format!("{id}: {e}"))
            .collect();
        assert!(
            report.is_clean(),
            "sync not clean: {errors:?} {:?}",
            report.gc.blocked
        );
        report
    }
}

fn get(kubectl: &Kubectl, args: &[&str]) -> String {
    kubectl
        .run(args)
        .expect_ok(&args.join(" "))
        .trim()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_automate_and_collect_through_real_git_and_the_emulator() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let bare = BareRepo::create(tmp.path(), "config.git").expect("bare repo");
    let files = example_files();
    let borrowed: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(p, b)| (p.as_str(), b.as_slice()))
        .collect();
    bare.commit_files(&borrowed, "Example config")
        .expect("initial commit");
    let daemon = GitDaemon::start(tmp.path()).expect("git daemon");
    let url = daemon.url("config.git");

    let config = GitConfig::from_flags(&GitFlags {
        url: url.clone(),
        ..GitFlags::default()
    })
    .expect("git flags");
    let state = tmp.path().join("fluxd-state");
    std::fs::create_dir_all(&state).expect("state dir");
    let repo = Repo::new(config, &SshOptions::default(), &state).expect("repo");

    let emulator = kube_emulator::Emulator::new()
        .start()
        .await
        .expect("emulator");
    let kubeconfig = tmp.path().join("kubeconfig");
    emulator
        .write_kubeconfig(&kubeconfig, None)
        .expect("kubeconfig");
    let cluster = KubeCluster::from_kubeconfig(&kubeconfig, Options::default())
        .await
        .expect("kube client");
    let kubectl = Kubectl::new(&emulator.url(), None).expect("kubectl");

    let paths = vec![String::new()];
    let mut options = SyncOptions::new(SyncSetName::from_git(&url, "master", &["."]));
    options.gc = GcMode::On;
    let bed = Bed {
        repo,
        cluster,
        options,
        paths,
    };

    // 1. First sync: everything in the example repository lands, marked.
    let first = bed.sync().await;
    assert_eq!(first.applied.len(), 16, "every example resource is applied");
    let image = |list: &str, container: &str| {
        get(
            &kubectl,
            &[
                "get",
                "deployment",
                "podinfo",
                "-n",
                "demo",
                "-o",
                &format!(
                    "jsonpath={{.spec.template.spec.{list}[?(@.name==\"{container}\")].image}}"
                ),
            ],
        )
    };
    assert_eq!(
        image("containers", "podinfod"),
        "stefanprodan/podinfo:3.1.0"
    );
    let marked = get(
        &kubectl,
        &[
            "get",
            "deployments",
            "-A",
            "-l",
            "fluxcd.io/sync-gc-mark",
            "-o",
            "name",
        ],
    );
    assert_eq!(marked.lines().count(), 2, "{marked}");
    assert_eq!(
        get(
            &kubectl,
            &["get", "helmrelease", "ghost", "-n", "demo", "-o", "name"]
        ),
        "helmrelease.helm.fluxcd.io/ghost"
    );
    // No replicas in git: the apply must not invent them.
    let replicas = get(
        &kubectl,
        &[
            "get",
            "deployment",
            "podinfo",
            "-n",
            "demo",
            "-o",
            "jsonpath={.spec.replicas}",
        ],
    );
    assert!(
        replicas.is_empty() || replicas == "1",
        "defaulted by the server at most: {replicas:?}"
    );

    // 2. A no-op re-sync writes nothing.
    let before = emulator.stats();
    bed.sync().await;
    let after = emulator.stats();
    assert_eq!(
        (after.creates, after.updates, after.patches, after.deletes),
        (
            before.creates,
            before.updates,
            before.patches,
            before.deletes
        ),
        "a sync of an unchanged repository must not write"
    );

    // 3. Automation: newest allowed podinfo tag, committed to git byte-exactly.
    let (_, snapshot) = bed.snapshot().await;
    let original = snapshot
        .files
        .get("workloads/podinfo-dep.yaml")
        .expect("in git")
        .to_vec();
    let reg = registry();
    let outcome = bed
        .repo
        .commit_and_push(
            move |snap: &Snapshot| {
                let manifests = parse_files(
                    &snap.files,
                    &[String::new()],
                    &ScopeTable::builtin(),
                    &LoadOptions::default(),
                )?;
                let cx = ReleaseContext {
                    manifests: &manifests,
                    files: &snap.files,
                    in_cluster: None,
                    registry: &reg,
                };
                let result = calculate_automation(&cx);
                let mut changes = FileChanges::new();
                for edit in result.edits {
                    changes.write(edit.file, edit.text);
                }
                Ok(changes)
            },
            CommitRequest::new("Auto-release stefanprodan/podinfo:3.1.5"),
        )
        .await
        .expect("commit and push");
    assert!(format!("{outcome:?}").contains("Pushed"), "{outcome:?}");
    let committed = bare
        .show("master", "workloads/podinfo-dep.yaml")
        .expect("file in the bare repo");
    let want = String::from_utf8(original)
        .expect("utf-8")
        .replace("podinfo:3.1.0", "podinfo:3.1.5");
    assert_eq!(
        String::from_utf8(committed).expect("utf-8"),
        want,
        "only the tag changed"
    );
    bed.sync().await;
    assert_eq!(
        image("containers", "podinfod"),
        "stefanprodan/podinfo:3.1.5"
    );
    assert_eq!(
        image("initContainers", "init"),
        "alpine:3.10",
        "no alpine tags known: untouched"
    );

    // 4. GC: a file removed from git takes its resource with it, nothing else.
    bed.repo
        .commit_and_push(
            |_: &Snapshot| {
                let mut changes = FileChanges::new();
                changes.delete("workloads/memcached-sts.yaml");
                Ok(changes)
            },
            CommitRequest::new("Remove memcached"),
        )
        .await
        .expect("commit and push");
    let report = bed.sync().await;
    let deleted: Vec<String> = report
        .gc
        .deleted
        .iter()
        .map(|(id, _)| id.to_string())
        .collect();
    assert_eq!(deleted, ["demo:statefulset/memcached"]);
    let gone = kubectl.run(&["get", "statefulset", "memcached", "-n", "demo"]);
    assert!(!gone.ok && gone.stderr.contains("NotFound"), "{gone:?}");
    assert_eq!(
        get(
            &kubectl,
            &["get", "deployment", "redis", "-n", "demo", "-o", "name"]
        ),
        "deployment.apps/redis"
    );

    // 5. Objects Flux did not create are never collected.
    kubectl
        .run(&["create", "configmap", "hand-made", "-n", "demo"])
        .expect_ok("create configmap");
    bed.sync().await;
    assert_eq!(
        get(
            &kubectl,
            &["get", "configmap", "hand-made", "-n", "demo", "-o", "name"]
        ),
        "configmap/hand-made"
    );
    drop(daemon);
}
