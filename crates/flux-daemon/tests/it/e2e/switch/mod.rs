//! Switching from Flux v1: a cluster left exactly as Flux v1 left it (the
//! example repository applied by client-side `kubectl apply` with Flux v1's
//! marks and checksums, its `flux-sync` tag, its deploy key in the
//! `flux-git-deploy` Secret, an HPA's replicas), then fluxd started with
//! the same flags. It must recreate and delete nothing, write only what git
//! changed since, remove fields later removed from git (taking over
//! client-side apply's ownership, leaving the HPA's), move the tag on, use
//! the same key, and automate the workload Flux v1 automated under the
//! legacy `flux.weave.works/` prefix without touching its annotations.

mod flux_v1;

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine as _;
use flux_api::v9::Change;
use flux_core::{Scope, ScopeTable};
use flux_daemon::testing::TestBed;
use serde_json::{Value, json};

use super::*;

/// One object as Flux v1 applied it.
struct Applied {
    /// `namespace:kind/name`.
    id: String,
    /// The emulator's address of it: group, plural, namespace, name.
    at: (String, String, String, String),
    /// What was piped to kubectl.
    object: Value,
}

/// Flux v1's view of the repository: every document of every YAML file
/// outside chart directories, `kind: List` items on their own.
fn documents(files: &[(String, Vec<u8>)]) -> Vec<Value> {
    let charts: Vec<String> = files
        .iter()
        .filter_map(|(p, _)| p.strip_suffix("/Chart.yaml").map(|d| format!("{d}/")))
        .filter(|d| files.iter().any(|(p, _)| *p == format!("{d}values.yaml")))
        .collect();
    let mut docs = Vec::new();
    for (path, bytes) in files {
        if !(path.ends_with(".yaml") || path.ends_with(".yml"))
            || charts.iter().any(|c| path.starts_with(c))
        {
            continue;
        }
        let text = std::str::from_utf8(bytes).expect("UTF-8");
        for doc in serde_saphyr::from_multiple::<Value>(text).expect(path) {
            match doc {
                // No kind: an empty or comment-only document, skipped.
                d if d.get("kind").is_none() => {}
                d if d["kind"].as_str().is_some_and(|k| k.ends_with("List")) => {
                    docs.extend(d["items"].as_array().expect("items").iter().cloned());
                }
                d => docs.push(d),
            }
        }
    }
    docs
}

/// Does what Flux v1's sync did to the cluster for `files`.
fn flux_v1_sync(bed: &TestBed, files: &[(String, Vec<u8>)], sync_set: &str) -> Vec<Applied> {
    let docs = documents(files);
    let mut scopes = ScopeTable::builtin();
    for d in &docs {
        scopes.learn_crd(d);
    }
    let mut applied = Vec::new();
    for doc in docs {
        let s = |p: &str| doc.pointer(p).and_then(Value::as_str).expect(p).to_owned();
        let (api_version, kind, name) = (s("/apiVersion"), s("/kind"), s("/metadata/name"));
        let namespace = match scopes.lookup(&api_version, &kind).expect("a known kind") {
            Scope::Cluster => None,
            Scope::Namespaced => Some(
                doc.pointer("/metadata/namespace")
                    .and_then(Value::as_str)
                    .unwrap_or("default")
                    .to_owned(),
            ),
        };
        let id = format!(
            "{}:{}/{name}",
            namespace.as_deref().unwrap_or("<cluster>"),
            kind.to_lowercase()
        );
        let mark = flux_v1::gc_mark(sync_set, &id);
        let sum = flux_v1::checksum(&doc);
        let object = flux_v1::with_metadata(&doc, namespace.as_deref(), &mark, &sum);
        let group = api_version
            .rsplit_once('/')
            .map_or("", |(g, _)| g)
            .to_owned();
        let plural = format!("{}s", kind.to_lowercase());
        applied.push(Applied {
            id,
            at: (group, plural, namespace.unwrap_or_default(), name),
            object,
        });
    }
    // Flux v1 applied everything in one `kubectl apply -f -` in its kind
    // order, and one by one when that failed (a custom resource whose CRD
    // the same call creates): namespaces and CRDs first is the same end.
    let first = |a: &Applied| {
        a.id.starts_with("<cluster>:namespace/")
            || a.id.starts_with("<cluster>:customresourcedefinition/")
    };
    for batch in [true, false] {
        let multidoc: Vec<String> = applied
            .iter()
            .filter(|a| first(a) == batch)
            .map(|a| format!("---\n{}\n", a.object))
            .collect();
        bed.kubectl
            .run_stdin(&["apply", "-f", "-"], &multidoc.concat())
            .expect_ok("kubectl apply (client-side)");
    }
    applied
}

fn object(bed: &TestBed, a: &Applied) -> Value {
    let (g, p, ns, n) = &a.at;
    bed.emulator
        .object(g, p, ns, n)
        .unwrap_or_else(|| panic!("{} is in the cluster", a.id))
}

fn managers(v: &Value) -> BTreeSet<String> {
    v["metadata"]["managedFields"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| {
                    format!(
                        "{}/{}{}",
                        e["manager"].as_str().unwrap_or(""),
                        e["operation"].as_str().unwrap_or(""),
                        e["subresource"]
                            .as_str()
                            .map(|s| format!("/{s}"))
                            .unwrap_or_default()
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn sync_tag(bed: &TestBed) -> String {
    bed.repo
        .git(&["rev-parse", "flux-sync^{commit}"])
        .expect("the tag")
        .trim()
        .to_owned()
}

fn edit(files: &[(String, Vec<u8>)], path: &str, from: &str, to: &str) -> (String, Vec<u8>) {
    let (_, bytes) = files.iter().find(|(p, _)| p == path).expect(path);
    let text = String::from_utf8(bytes.clone()).expect("UTF-8");
    assert!(text.contains(from), "{path} has {from:?}");
    (path.to_owned(), text.replacen(from, to, 1).into_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switching_from_flux_v1_changes_only_what_git_changed() {
    // The example, its automated DaemonSet's image served by this bed's
    // registry.
    let (bed, registry) = super::bed_with_registry().await;
    let node_exporter = format!("{registry}/prometheus/node-exporter");
    push(
        &registry,
        "prometheus/node-exporter",
        &[("v1.3.1", "2022-01-01T00:00:00Z")],
    )
    .await;
    let mut files = example_files();
    let ds = edit(
        &files,
        "workloads/node-exporter-ds.yaml",
        "quay.io/prometheus/node-exporter:v1.3.1",
        &format!("{node_exporter}:v1.3.1"),
    );
    files.retain(|(p, _)| *p != ds.0);
    files.push(ds);
    let synced_by_v1 = bed
        .commit(&borrowed(&files), "Initial config")
        .expect("commit");

    // The cluster as Flux v1 left it at that commit.
    let sync_set = flux_v1::sync_set_name(&bed.git_url, "master", &[]);
    let applied = flux_v1_sync(&bed, &files, &sync_set);
    assert!(applied.len() >= 15, "{} objects", applied.len());
    // The HPA scaled podinfo, through the scale subresource.
    kubectl(
        &bed,
        &[
            "patch",
            "deployment",
            "podinfo",
            "-n",
            "demo",
            "--subresource=scale",
            "--type=merge",
            "-p",
            r#"{"spec":{"replicas":3}}"#,
            "--field-manager=kube-controller-manager",
        ],
    );
    // Its deploy key, which Flux v1 generated into the Secret its manifests
    // created (and which is mounted where fluxd reads it).
    bed.kubectl
        .run_stdin(
            &["apply", "-f", "-"],
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: flux-git-deploy\n  namespace: default\ntype: Opaque\n",
        )
        .expect_ok("the Secret");
    let key = std::fs::read(bed.sshd.client_key()).expect("the key");
    let patch =
        json!({"data": {"identity": base64::engine::general_purpose::STANDARD.encode(&key)}});
    kubectl(
        &bed,
        &[
            "patch",
            "secret",
            "flux-git-deploy",
            "-n",
            "default",
            "-p",
            &patch.to_string(),
        ],
    );
    // Its sync tag.
    flux_testbed::git::run({
        let mut c = flux_testbed::git::git_command(Some(bed.repo.path()));
        c.args([
            "tag",
            "--force",
            "-a",
            "-m",
            "Sync pointer",
            "flux-sync",
            &synced_by_v1,
        ])
        .env("GIT_COMMITTER_NAME", "Weave Flux")
        .env("GIT_COMMITTER_EMAIL", "support@weave.works");
        c
    })
    .expect("git tag");

    // Every object carries Flux v1's mark and checksum, and kubectl's
    // client-side bookkeeping.
    let before: BTreeMap<String, Value> = applied
        .iter()
        .map(|a| (a.id.clone(), object(&bed, a)))
        .collect();
    for a in &applied {
        let live = &before[&a.id];
        let meta = &live["metadata"];
        assert_eq!(
            meta["labels"]["fluxcd.io/sync-gc-mark"],
            flux_v1::gc_mark(&sync_set, &a.id)
        );
        assert_eq!(
            meta["annotations"]["fluxcd.io/sync-checksum"]
                .as_str()
                .map(str::len),
            Some(40),
            "{}",
            a.id
        );
        assert!(
            meta["annotations"]["kubectl.kubernetes.io/last-applied-configuration"].is_string(),
            "{}",
            a.id
        );
        assert!(
            managers(live).contains("kubectl-client-side-apply/Update"),
            "{}: {:?}",
            a.id,
            managers(live)
        );
    }

    // Meanwhile, git moved on: one value changed, one object added.
    let changed = edit(
        &files,
        "workloads/config-list.yaml",
        "level: info",
        "level: debug",
    );
    let added = (
        "workloads/added.yaml".to_owned(),
        b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: added\n  namespace: demo\ndata:\n  new: \"yes\"\n".to_vec(),
    );
    let head = bed
        .commit(
            &borrowed(&[changed.clone(), added.clone()]),
            "Change the log level",
        )
        .expect("commit");
    files.retain(|(p, _)| *p != changed.0);
    files.push(changed);
    files.push(added);

    bed.emulator.clear_requests();
    let fluxd = bed
        .start_fluxd(
            "state",
            &["--sync-garbage-collection", "--automation-interval=1h"],
        )
        .await
        .expect("fluxd");
    assert_eq!(fluxd.synced().as_deref(), Some(head.as_str()));

    // Nothing recreated, nothing deleted; writes only for what git changed.
    let log = bed.emulator.request_log();
    let writes: Vec<String> = log
        .iter()
        .filter(|r| r.is_write())
        .map(|r| r.line())
        .collect();
    assert!(
        log.iter()
            .all(|r| r.method != "DELETE" && r.method != "POST" && r.method != "PUT"),
        "{writes:#?}"
    );
    let written: BTreeSet<&str> = log
        .iter()
        .filter(|r| r.is_write())
        .map(|r| r.path.as_str())
        .collect();
    assert_eq!(
        written,
        BTreeSet::from([
            "/api/v1/namespaces/demo/configmaps/added",
            "/api/v1/namespaces/demo/configmaps/podinfo-config",
        ]),
        "{writes:#?}"
    );
    for a in &applied {
        let live = object(&bed, a);
        assert_eq!(
            live["metadata"]["uid"], before[&a.id]["metadata"]["uid"],
            "{}",
            a.id
        );
        if a.id != "demo:configmap/podinfo-config" {
            assert_eq!(live, before[&a.id], "{} untouched", a.id);
        }
    }
    let cm = object(
        &bed,
        applied
            .iter()
            .find(|a| a.id == "demo:configmap/podinfo-config")
            .expect("config"),
    );
    assert_eq!(cm["data"]["level"], "debug");
    assert_eq!(
        managers(&cm),
        BTreeSet::from(["flux/Apply".to_owned()]),
        "{cm}"
    );
    assert!(
        cm["metadata"]["annotations"]
            .get("kubectl.kubernetes.io/last-applied-configuration")
            .is_none()
    );
    assert_eq!(
        cm["metadata"]["labels"]["fluxcd.io/sync-gc-mark"],
        flux_v1::gc_mark(&sync_set, "demo:configmap/podinfo-config")
    );

    // The tag moved on from Flux v1's, and the deploy key is the Secret's.
    assert_eq!(sync_tag(&bed), head);
    let public = flux_testbed::git::run({
        let mut c = std::process::Command::new("ssh-keygen");
        c.arg("-y").arg("-f").arg(bed.sshd.client_key());
        c
    })
    .expect("ssh-keygen -y");
    let served = client(&fluxd).public_ssh_key().await.expect("identity");
    let words = |k: &str| {
        k.split_whitespace()
            .take(2)
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(words(&served.key), words(&public));

    // Later, fields removed from git are removed from the cluster; the
    // HPA's replicas stay.
    let podinfo = edit(
        &files,
        "workloads/podinfo-dep.yaml",
        "      annotations:\n        prometheus.io/scrape: \"true\"\n",
        "",
    );
    let namespace = edit(
        &files,
        "namespaces/demo.yaml",
        "  labels:\n    team: demo\n",
        "",
    );
    let next = bed
        .commit(
            &borrowed(&[podinfo, namespace]),
            "Drop an annotation and a label",
        )
        .expect("commit");
    sync_now(&bed, &fluxd, &next).await;
    let find = |id: &str| applied.iter().find(|a| a.id == id).expect(id);
    let dep = object(&bed, find("demo:deployment/podinfo"));
    assert!(
        dep["spec"]["template"]["metadata"]
            .get("annotations")
            .is_none_or(|a| a.get("prometheus.io/scrape").is_none()),
        "{dep}"
    );
    assert_eq!(dep["spec"]["replicas"], 3, "the HPA's replicas stay");
    assert_eq!(
        dep["metadata"]["annotations"]["fluxcd.io/automated"],
        "true"
    );
    assert_eq!(
        managers(&dep),
        BTreeSet::from([
            "flux/Apply".to_owned(),
            "kube-controller-manager/Update/scale".to_owned()
        ]),
    );
    let ns = object(&bed, find("<cluster>:namespace/demo"));
    assert!(ns["metadata"]["labels"].get("team").is_none(), "{ns}");
    for id in ["demo:deployment/podinfo", "<cluster>:namespace/demo"] {
        assert_eq!(
            object(&bed, find(id))["metadata"]["uid"],
            before[id]["metadata"]["uid"]
        );
    }
    assert_eq!(sync_tag(&bed), next);

    // Automation releases a new tag into the DaemonSet Flux v1 automated
    // under the legacy prefix, and keeps the annotations as they are.
    push(
        &registry,
        "prometheus/node-exporter",
        &[("v1.4.0", "2022-06-01T00:00:00Z")],
    )
    .await;
    client(&fluxd)
        .notify(&Change::Image(flux_api::v9::ImageUpdate {
            name: flux_api::image::ImageName::from_repository(&node_exporter),
        }))
        .await
        .expect("notify");
    let want = format!("{node_exporter}:v1.4.0");
    eventually(
        &bed,
        &[
            "get",
            "daemonset",
            "node-exporter",
            "-n",
            "monitoring",
            "-o",
            "jsonpath={.spec.template.spec.containers[0].image}",
        ],
        |s| s == want,
    )
    .await;
    let path = "workloads/node-exporter-ds.yaml";
    let (_, was) = files.iter().find(|(p, _)| p == path).expect(path);
    let was = String::from_utf8(was.clone()).expect("UTF-8");
    let now = String::from_utf8(bed.repo.show("master", path).expect("file")).expect("UTF-8");
    assert_eq!(
        now,
        was.replace(":v1.3.1", ":v1.4.0"),
        "only the tag changed"
    );
    assert!(now.contains(
        "    flux.weave.works/automated: \"true\"   # the legacy prefix is still read\n"
    ));
    let live = object(&bed, find("monitoring:daemonset/node-exporter"));
    let annotations = &live["metadata"]["annotations"];
    assert_eq!(annotations["flux.weave.works/automated"], "true");
    assert_eq!(annotations["filter.fluxcd.io/node-exporter"], "glob:v1.*");
    assert!(
        annotations.get("fluxcd.io/automated").is_none(),
        "{annotations}"
    );
    assert_eq!(
        live["metadata"]["uid"],
        before["monitoring:daemonset/node-exporter"]["metadata"]["uid"]
    );
    fluxd.stop().await;
}
