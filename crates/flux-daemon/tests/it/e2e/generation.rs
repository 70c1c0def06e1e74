//! `--manifest-generation` end to end: `.flux.yaml` generators run by fluxd
//! on the commit it syncs (the real kustomize, through flux-testbed's
//! `kubectl kustomize` shim), releases and automation made through the patch
//! file or the updater commands, committed over ssh and applied. Failures
//! are in `generation_failures.rs`.

use std::path::Path;

use flux_api::job::StatusString;
use flux_daemon::testing::TestBed;
use flux_testbed::kustomize::Kustomize;
use kube_emulator::kubectl::Kubectl;

use super::*;

/// The files of `examples/kustomize-repo`, with podinfo's image moved to
/// `registry` (`host:port`).
fn kustomize_repo(registry: &str) -> Vec<(String, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/kustomize-repo");
    read_tree(&root)
        .expect("example repo")
        .into_iter()
        .map(|(path, bytes)| {
            let text = String::from_utf8(bytes).expect("utf-8");
            let text = text.replace("stefanprodan/podinfo", &format!("{registry}/podinfo"));
            (path, text.into_bytes())
        })
        .collect()
}

/// A test bed whose fluxds find `kustomize` (the shim) on their commands'
/// `PATH`.
pub async fn generation_bed(files: &[(String, Vec<u8>)], registry: bool) -> (TestBed, Kustomize) {
    let mut bed = TestBed::start(&borrowed(files)).await.expect("bed");
    if registry {
        bed = bed.with_registry().expect("registry");
    }
    let kustomize = Kustomize::install().expect("kustomize shim (kubectl)");
    bed.command_path = Some(kustomize.path_var());
    (bed, kustomize)
}

fn get(kubectl: &Kubectl, args: &[&str]) -> Option<String> {
    let out = kubectl.run(args);
    out.ok.then(|| out.stdout.trim().to_owned())
}

/// Waits until `kubectl args` (against any cluster) satisfies `check`.
async fn eventually_in(kubectl: &Kubectl, args: &[&str], check: impl Fn(&str) -> bool) -> String {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        if let Some(out) = get(kubectl, args).filter(|o| check(o)) {
            return out;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "kubectl {args:?} never satisfied the check; last: {:?}",
            kubectl.run(args)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

const IMAGE: &str = "jsonpath={.spec.template.spec.containers[0].image}";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clusters_get_their_overlays_and_automation_writes_only_the_overlays_patch() {
    let (bed, _kustomize) = generation_bed(&[], true).await;
    let registry = bed.registry_addr().expect("registry").to_owned();
    push(
        &registry,
        "podinfo",
        &[
            ("3.1.0", "2024-01-01T00:00:00Z"),
            ("3.1.5", "2024-01-02T00:00:00Z"),
            ("3.2.0", "2024-01-03T00:00:00Z"),
        ],
    )
    .await;
    let files = kustomize_repo(&registry);
    let initial = bed
        .commit(&borrowed(&files), "Kustomize overlays")
        .expect("commit");

    // The production cluster: a second emulator.
    let production = kube_emulator::Emulator::new()
        .start()
        .await
        .expect("second emulator");
    let production_config = bed.path("production-kubeconfig");
    production
        .write_kubeconfig(&production_config, None)
        .expect("kubeconfig");
    let production_kubectl = Kubectl::new(&production.url(), None).expect("kubectl");

    let common = [
        "--manifest-generation",
        "--sync-garbage-collection",
        "--git-poll-interval=1h",
        "--sync-interval=1h",
    ];
    let staging_flags: Vec<&str> = common
        .iter()
        .copied()
        .chain(["--git-path=staging", "--git-sync-tag=flux-sync-staging"])
        .collect();
    let production_kubeconfig = format!("--kube-config={}", production_config.display());
    let production_flags: Vec<&str> = common
        .iter()
        .copied()
        .chain([
            "--git-path=production",
            "--git-sync-tag=flux-sync-production",
            "--automation-interval=1h",
            production_kubeconfig.as_str(),
        ])
        .collect();
    let staging_fluxd = bed
        .start_fluxd("staging", &staging_flags)
        .await
        .expect("staging fluxd");
    let production_fluxd = bed
        .start_fluxd("production", &production_flags)
        .await
        .expect("production fluxd");

    // Each cluster has its overlay: its namespace, its labels, its patches
    // (production's replicas and flux-patch.yaml's lock), and not the other's.
    let staging_kubectl = &bed.kubectl;
    let labels = "jsonpath={.metadata.labels.environment}";
    assert_eq!(
        eventually_in(
            staging_kubectl,
            &[
                "-n",
                "staging",
                "get",
                "deployment",
                "podinfo",
                "-o",
                labels
            ],
            |s| !s.is_empty()
        )
        .await,
        "staging"
    );
    assert!(get(staging_kubectl, &["get", "namespace", "production"]).is_none());
    assert_eq!(
        eventually_in(
            &production_kubectl,
            &[
                "-n",
                "production",
                "get",
                "deployment",
                "podinfo",
                "-o",
                "jsonpath={.metadata.labels.environment} {.spec.replicas} {.metadata.annotations.fluxcd\\.io/locked}",
            ],
            |s| !s.is_empty()
        )
        .await,
        "production 3 true"
    );
    assert!(get(&production_kubectl, &["get", "namespace", "staging"]).is_none());
    assert_eq!(
        get(
            &production_kubectl,
            &[
                "-n",
                "production",
                "get",
                "service",
                "podinfo",
                "-o",
                "name"
            ]
        )
        .as_deref(),
        Some("service/podinfo")
    );

    // Automation (staging's workload is automated with semver:~3.1 in the
    // base; production's patch locks it): the newest 3.1 tag goes to
    // staging only, through staging/flux-patch.yaml.
    let want = format!("{registry}/podinfo:3.1.5");
    eventually_in(
        staging_kubectl,
        &["-n", "staging", "get", "deployment", "podinfo", "-o", IMAGE],
        |s| s == want,
    )
    .await;
    let subjects = bed.repo.subjects("master").expect("log");
    assert_eq!(
        subjects,
        [
            format!("Auto-release {want}"),
            "Kustomize overlays".to_owned()
        ]
    );
    let changed = bed
        .repo
        .git(&["diff", "--name-only", &initial, "master"])
        .expect("diff");
    assert_eq!(changed.trim(), "staging/flux-patch.yaml", "only the patch");
    let patch = String::from_utf8(
        bed.repo
            .show("master", "staging/flux-patch.yaml")
            .expect("patch"),
    )
    .expect("utf-8");
    assert!(patch.contains(&want), "{patch}");
    assert!(patch.contains("namespace: staging"), "{patch}");

    // The commit is synced: staging's high-water mark reaches it.
    let head = bed.repo.head("master").expect("head").expect("head");
    staging_fluxd
        .wait_for("staging synced the automation commit", PATIENCE, |_| {
            staging_fluxd.synced().as_deref() == Some(head.as_str())
        })
        .await
        .expect("synced");

    // Production syncs the new commit too, unchanged: still 3.1.0, locked.
    production_fluxd
        .shared()
        .default_source()
        .expect("source")
        .repo
        .notify();
    production_fluxd
        .wait_for("production synced the automation commit", PATIENCE, |_| {
            production_fluxd.synced().as_deref() == Some(head.as_str())
        })
        .await
        .expect("synced");
    assert_eq!(
        get(
            &production_kubectl,
            &[
                "-n",
                "production",
                "get",
                "deployment",
                "podinfo",
                "-o",
                IMAGE
            ]
        )
        .as_deref(),
        Some(format!("{registry}/podinfo:3.1.0").as_str())
    );

    // list-workloads reads the generated resources: staging's workload is
    // in the repository (not read-only) and automated.
    let workloads = client(&staging_fluxd)
        .list_services("staging")
        .await
        .expect("list-workloads");
    assert_eq!(workloads.len(), 1, "{workloads:?}");
    assert_eq!(workloads[0].id, "staging:deployment/podinfo");
    assert!(workloads[0].automated, "{workloads:?}");
    assert_eq!(workloads[0].containers[0].current.id, want);
    let workloads = client(&production_fluxd)
        .list_services("production")
        .await
        .expect("list-workloads");
    assert!(workloads[0].locked, "{workloads:?}");

    staging_fluxd.stop().await;
    production_fluxd.stop().await;
}

/// A `commandUpdated` repository: the generator prints `app.yaml`, the
/// image updater edits it with sed, the policy updater keeps a log; both
/// record the `FLUX_*` variables they were given.
fn command_repo(image: &str) -> Vec<(String, Vec<u8>)> {
    let flux_yaml = r#"version: 1
commandUpdated:
  generators:
  - command: cat app.yaml
  updaters:
  - containerImage:
      command: >-
        sed -i "s|image: .*|image: $FLUX_IMG:$FLUX_TAG|" app.yaml &&
        env | grep '^FLUX_' | sort > image-update.env
    policy:
      command: >-
        echo "$FLUX_WORKLOAD $FLUX_POLICY=$FLUX_POLICY_VALUE" >> policies.log
"#;
    vec![
        (".flux.yaml".to_owned(), flux_yaml.as_bytes().to_vec()),
        (
            "app.yaml".to_owned(),
            deployment("app", image, "").into_bytes(),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_and_a_policy_change_run_the_updaters_and_are_applied() {
    let (bed, _kustomize) = generation_bed(&[], true).await;
    let registry = bed.registry_addr().expect("registry").to_owned();
    push(
        &registry,
        "demo/app",
        &[
            ("1.0", "2024-01-01T00:00:00Z"),
            ("1.1", "2024-01-02T00:00:00Z"),
        ],
    )
    .await;
    let files = command_repo(&format!("{registry}/demo/app:1.0"));
    bed.commit(&borrowed(&files), "App").expect("commit");
    let fluxd = bed
        .start_fluxd(
            "fluxd",
            &[
                "--manifest-generation",
                "--git-poll-interval=1h",
                "--sync-interval=1h",
                "--automation-interval=1h",
            ],
        )
        .await
        .expect("fluxd");
    assert_eq!(
        eventually(&bed, &["get", "deployment", "app", "-o", IMAGE], |s| !s
            .is_empty())
        .await,
        format!("{registry}/demo/app:1.0")
    );
    wait_scanned(&fluxd, &format!("{registry}/demo/app"), 2).await;

    // A release through the API: the image updater makes the change.
    let release = image_release(
        "default:deployment/app",
        &format!("{registry}/demo/app:1.1"),
        "execute",
        "Jo <jo@example.com>",
    );
    let (code, body) = post(&fluxd, "/v9/update-manifests", &release).await;
    assert_eq!(code, 200, "{body}");
    let id: String = serde_json::from_str(&body).expect("job ID");
    let status = wait_job(&fluxd, &id).await;
    assert_eq!(status.status_string, StatusString::Succeeded, "{status:?}");
    let revision = status.result.revision.clone();
    assert_eq!(
        bed.repo.head("master").expect("head").as_deref(),
        Some(revision.as_str())
    );
    let app = String::from_utf8(bed.repo.show("master", "app.yaml").expect("app")).expect("utf-8");
    assert_eq!(
        app,
        deployment("app", &format!("{registry}/demo/app:1.1"), "")
    );
    let env = String::from_utf8(
        bed.repo
            .show("master", "image-update.env")
            .expect("the updater's record"),
    )
    .expect("utf-8");
    assert_eq!(
        env,
        format!(
            "FLUX_CONTAINER=app\nFLUX_IMG={registry}/demo/app\nFLUX_TAG=1.1\nFLUX_WL_KIND=deployment\nFLUX_WL_NAME=app\nFLUX_WL_NS=default\nFLUX_WORKLOAD=default:deployment/app\n"
        )
    );
    let want = format!("{registry}/demo/app:1.1");
    eventually(&bed, &["get", "deployment", "app", "-o", IMAGE], |s| {
        s == want
    })
    .await;

    // A policy change: the policy updater, with its variables.
    let lock = r#"{"type":"policy","cause":{"Message":"","User":""},"spec":{"default:deployment/app":{"add":{"locked":"true"},"remove":{}}}}"#;
    let (code, body) = post(&fluxd, "/v9/update-manifests", lock).await;
    assert_eq!(code, 200, "{body}");
    let status = wait_job(&fluxd, &serde_json::from_str::<String>(&body).expect("id")).await;
    assert_eq!(status.status_string, StatusString::Succeeded, "{status:?}");
    let log =
        String::from_utf8(bed.repo.show("master", "policies.log").expect("log")).expect("utf-8");
    assert_eq!(log, "default:deployment/app locked=true\n");
    assert_eq!(
        bed.repo.subjects("master").expect("log")[0],
        "Locked: default:deployment/app"
    );
    fluxd.stop().await;
}
