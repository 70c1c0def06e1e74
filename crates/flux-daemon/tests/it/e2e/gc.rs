//! What a sync leaves alone and what garbage collection deletes: a file
//! removed from git takes its objects with it (only Flux's), a dry run
//! deletes nothing, a malformed file anywhere stops every deletion, the
//! ignore annotation (in git and on the cluster), fields another manager
//! owns (an HPA's replicas), and namespaces outside `--k8s-allow-namespace`.

use flux_daemon::testing::TestBed;

use super::*;

fn cm(name: &str, ns: &str, value: &str, extra_annotations: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {ns}\n  annotations:\n    note: x\n{extra_annotations}data:\n  value: {value}\n"
    )
}

const NAMESPACES: &str = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: demo\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: other\n";

const WEB: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: demo
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.25
";

fn exists(bed: &TestBed, kind: &str, name: &str, ns: &str) -> bool {
    bed.kubectl.run(&["get", kind, name, "-n", ns]).ok
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_ignore_hpa_and_namespaces() {
    let ignored = cm("ignored", "demo", "git", "    fluxcd.io/ignore: \"true\"\n");
    let files = [
        ("namespaces.yaml".to_owned(), NAMESPACES.to_owned()),
        ("a.yaml".to_owned(), cm("a", "demo", "1", "")),
        ("kept.yaml".to_owned(), cm("kept", "demo", "1", "")),
        ("ignored.yaml".to_owned(), ignored),
        (
            "elsewhere.yaml".to_owned(),
            cm("elsewhere", "other", "1", ""),
        ),
        ("web.yaml".to_owned(), WEB.to_owned()),
    ];
    let borrowed: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(p, b)| (p.as_str(), b.as_bytes()))
        .collect();
    let bed = TestBed::start(&borrowed).await.expect("bed");
    let fluxd = bed
        .start_fluxd(
            "fluxd",
            &[
                "--git-poll-interval=1h",
                "--sync-interval=1h",
                "--sync-garbage-collection",
                "--k8s-allow-namespace=demo",
            ],
        )
        .await
        .expect("fluxd");

    // Applied: what is in git and allowed; not: ignored in git, other namespace.
    assert!(exists(&bed, "configmap", "a", "demo"));
    assert!(
        !exists(&bed, "configmap", "ignored", "demo"),
        "ignored in git"
    );
    assert!(
        !exists(&bed, "namespace", "other", ""),
        "namespace not allowed"
    );
    // (the namespace `other` is not allowed, so nothing in it either)

    // An HPA owns replicas: a scale by another manager survives syncs.
    kubectl(
        &bed,
        &[
            "patch",
            "deployment",
            "web",
            "-n",
            "demo",
            "--type=merge",
            "--field-manager=hpa-controller",
            "-p",
            "{\"spec\":{\"replicas\":5}}",
        ],
    );
    // Ignored on the cluster: a hand edit to `kept` then annotated ignore.
    kubectl(
        &bed,
        &[
            "annotate",
            "configmap",
            "kept",
            "-n",
            "demo",
            "fluxcd.io/ignore=true",
        ],
    );
    kubectl(
        &bed,
        &[
            "patch",
            "configmap",
            "kept",
            "-n",
            "demo",
            "--type=merge",
            "-p",
            "{\"data\":{\"value\":\"by-hand\"}}",
        ],
    );
    // Something made by hand is never collected.
    kubectl(&bed, &["create", "configmap", "hand-made", "-n", "demo"]);

    // A malformed file anywhere: nothing applied, nothing deleted.
    let broken = bed
        .repo
        .commit_files(
            &[
                (
                    "broken.yaml",
                    b"apiVersion: v1\nkind: ConfigMap\nmetadata: [oops\n",
                ),
                ("kept.yaml", cm("kept", "demo", "2", "").as_bytes()),
            ],
            "Broken",
        )
        .expect("commit");
    let without_a = remove_file(&bed, "a.yaml", "Remove a");
    sync_now(&bed, &fluxd, &without_a).await;
    let last = fluxd
        .shared()
        .default_source()
        .expect("source")
        .with_status(|s| s.last_sync.clone())
        .expect("a sync");
    assert!(!last.clean);
    assert!(
        last.error
            .as_deref()
            .unwrap_or_default()
            .contains("broken.yaml"),
        "{last:?}"
    );
    assert!(
        exists(&bed, "configmap", "a", "demo"),
        "GC blocked by the malformed file"
    );
    assert_ne!(
        fluxd.synced().as_deref(),
        Some(without_a.as_str()),
        "the high-water mark stays"
    );
    let _ = broken;

    // Fixed: a.yaml's object goes, nothing else.
    let fixed = remove_file(&bed, "broken.yaml", "Fix");
    sync_now(&bed, &fluxd, &fixed).await;
    assert!(!exists(&bed, "configmap", "a", "demo"), "collected");
    assert!(
        exists(&bed, "configmap", "hand-made", "demo"),
        "never Flux's"
    );
    assert!(exists(&bed, "configmap", "kept", "demo"));
    assert_eq!(
        kubectl(
            &bed,
            &[
                "get",
                "configmap",
                "kept",
                "-n",
                "demo",
                "-o",
                "jsonpath={.data.value}"
            ]
        ),
        "by-hand",
        "ignored on the cluster: git's change not applied"
    );
    assert_eq!(
        kubectl(
            &bed,
            &[
                "get",
                "deployment",
                "web",
                "-n",
                "demo",
                "-o",
                "jsonpath={.spec.replicas}"
            ]
        ),
        "5",
        "replicas belong to the HPA"
    );
    assert_eq!(fluxd.synced().as_deref(), Some(fixed.as_str()));
    fluxd.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_gc_deletes_nothing() {
    let bed = TestBed::start(&[
        ("a.yaml", cm("a", "default", "1", "").as_bytes()),
        ("b.yaml", cm("b", "default", "1", "").as_bytes()),
    ])
    .await
    .expect("bed");
    let fluxd = bed
        .start_fluxd(
            "fluxd",
            &[
                "--git-poll-interval=1h",
                "--sync-interval=1h",
                "--sync-garbage-collection-dry",
            ],
        )
        .await
        .expect("fluxd");
    assert!(exists(&bed, "configmap", "a", "default"));
    let before = bed.emulator.stats().deletes;
    let without_a = remove_file(&bed, "a.yaml", "Remove a");
    sync_now(&bed, &fluxd, &without_a).await;
    assert!(exists(&bed, "configmap", "a", "default"), "dry run");
    assert_eq!(bed.emulator.stats().deletes, before, "no DELETE sent");
    fluxd.stop().await;
}

/// Commits the repository's tree without `path` (as someone else).
fn remove_file(bed: &TestBed, path: &str, message: &str) -> String {
    let work = bed.path(&format!("work-{}", path.replace('/', "_")));
    let _ = std::fs::remove_dir_all(&work);
    let url = bed.repo.path().to_string_lossy().into_owned();
    flux_testbed::git::git(
        bed.dir.path(),
        &["clone", "--quiet", &url, &work.to_string_lossy()],
    )
    .expect("clone");
    flux_testbed::git::git(&work, &["rm", "--quiet", path]).expect("rm");
    flux_testbed::git::git(
        &work,
        &[
            "-c",
            "user.name=Someone",
            "-c",
            "user.email=someone@example.com",
            "commit",
            "--quiet",
            "-m",
            message,
        ],
    )
    .expect("commit");
    flux_testbed::git::git(&work, &["push", "--quiet", "origin", "HEAD:master"]).expect("push");
    flux_testbed::git::git(&work, &["rev-parse", "HEAD"])
        .expect("rev-parse")
        .trim()
        .to_owned()
}

const WIDGET_CRD: &str = "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kinds_installed_outside_the_repository_are_placed() {
    let widget = "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n  namespace: default\nspec:\n  size: 3\n";
    let bed = TestBed::start(&[
        ("widget.yaml", widget.as_bytes()),
        ("a.yaml", cm("a", "default", "1", "").as_bytes()),
    ])
    .await
    .expect("bed");
    // The CRD comes from somewhere else (a Helm chart, say), not from git.
    bed.kubectl
        .run_stdin(&["apply", "-f", "-"], WIDGET_CRD)
        .expect_ok("apply the CRD");
    let fluxd = bed
        .start_fluxd(
            "fluxd",
            &[
                "--git-poll-interval=1h",
                "--sync-interval=1h",
                "--sync-garbage-collection",
            ],
        )
        .await
        .expect("fluxd");
    assert_eq!(
        kubectl(&bed, &["get", "widget", "w", "-o", "jsonpath={.spec.size}"]),
        "3"
    );
    // And garbage collection is not blocked by an unplaceable resource.
    let without_a = remove_file(&bed, "a.yaml", "Remove a");
    sync_now(&bed, &fluxd, &without_a).await;
    assert!(!exists(&bed, "configmap", "a", "default"), "collected");
    assert!(exists(&bed, "widget", "w", "default"));
    fluxd.stop().await;
}
