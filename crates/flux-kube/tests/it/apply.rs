//! Applying: created/configured/unchanged, no writes on a no-op re-sync,
//! kubectl agreement, ownership.

use flux_core::Cluster;
use flux_core::cluster::{Applied, ClusterErrorKind};
use kube_emulator::Emulator;
use serde_json::{Value, json};

use crate::{APP, Bed, CRD, fast_retry, objects};

fn outcomes(r: &flux_core::cluster::PerObject<Applied>) -> Vec<String> {
    r.iter()
        .map(|(id, r)| match r {
            Ok(a) => format!("{id} {a:?}"),
            Err(e) => format!("{id} error: {e}"),
        })
        .collect()
}

#[tokio::test]
async fn first_sync_creates_and_a_resync_sends_no_writes() {
    let bed = Bed::new().await;
    let mut objs = objects(APP);
    objs.extend(objects(CRD));
    let first = bed.cluster.apply(&objs).await;
    assert!(
        first.iter().all(|(_, r)| matches!(r, Ok(Applied::Created))),
        "{:#?}",
        outcomes(&first)
    );
    assert_eq!(first.len(), objs.len());
    for ((id, _), o) in first.iter().zip(&objs) {
        assert_eq!(id, &o.id, "results keep the input order");
    }
    let before = bed.server.stats();
    let second = bed.cluster.apply(&objs).await;
    assert!(
        second
            .iter()
            .all(|(_, r)| matches!(r, Ok(Applied::Unchanged))),
        "{:#?}",
        outcomes(&second)
    );
    let after = bed.server.stats();
    assert_eq!(
        after.writes() - before.writes(),
        0,
        "a no-op re-sync sends no writes"
    );
    assert_eq!(after.commits, before.commits);

    // One object changes in git: exactly one write.
    let mut changed = objs.clone();
    let cm = changed
        .iter_mut()
        .find(|o| o.id.kind() == "configmap")
        .unwrap();
    crate::edit(cm, |v| v["data"]["a"] = json!("2"));
    let third = bed.cluster.apply(&changed).await;
    let configured: Vec<_> = third
        .iter()
        .filter(|(_, r)| matches!(r, Ok(Applied::Configured)))
        .collect();
    assert_eq!(configured.len(), 1, "{:#?}", outcomes(&third));
    assert_eq!(bed.server.stats().writes() - after.writes(), 1);
    assert_eq!(
        bed.object("", "configmaps", "demo", "cfg").unwrap()["data"]["a"],
        "2"
    );
}

/// Everything but what the server assigns per run.
fn normalised(mut v: Value) -> Value {
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        for k in ["uid", "creationTimestamp", "resourceVersion"] {
            m.remove(k);
        }
        if let Some(Value::Array(mf)) = m.get_mut("managedFields") {
            for e in mf {
                e.as_object_mut().expect("entry").remove("time");
            }
        }
    }
    if let Some(s) = v.get_mut("spec").and_then(Value::as_object_mut) {
        s.remove("clusterIP");
        s.remove("clusterIPs");
    }
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_adapter_and_kubectl_store_the_same_objects() {
    let ours = Bed::new().await;
    let theirs = Bed::new().await;
    let objs = objects(APP);
    let r = ours.cluster.apply(&objs).await;
    assert!(r.iter().all(|(_, r)| r.is_ok()), "{:#?}", outcomes(&r));
    let yaml: String = objs
        .iter()
        .map(|o| format!("---\n{}\n", o.object.to_value()))
        .collect();
    let out = theirs
        .kubectl_run(
            &["apply", "--server-side", "--field-manager=flux", "-f", "-"],
            Some(&yaml),
        )
        .await;
    out.expect_ok("kubectl apply");
    for (group, plural) in [
        ("", "namespaces"),
        ("apps", "deployments"),
        ("", "configmaps"),
        ("", "secrets"),
        ("", "services"),
        ("rbac.authorization.k8s.io", "clusterroles"),
    ] {
        let a: Vec<Value> = ours
            .server
            .objects(group, plural)
            .into_iter()
            .map(normalised)
            .collect();
        let b: Vec<Value> = theirs
            .server
            .objects(group, plural)
            .into_iter()
            .map(normalised)
            .collect();
        assert!(!a.is_empty());
        assert_eq!(a, b, "{plural}");
    }
    // And kubectl reads back from our emulator what the adapter applied.
    let got = ours
        .kubectl_ok(&[
            "get",
            "deployment",
            "web",
            "-n",
            "demo",
            "-o",
            "jsonpath={.spec.template.spec.containers[0].image}",
        ])
        .await;
    assert_eq!(got, "nginx:1.25");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_set_by_another_manager_survive_a_sync_without_them() {
    let bed = Bed::new().await;
    let r = bed.cluster.apply(&objects(APP)).await;
    assert!(r.iter().all(|(_, r)| r.is_ok()));
    bed.kubectl_ok(&["scale", "deployment", "web", "-n", "demo", "--replicas=7"])
        .await;
    let without = objects(&APP.replace("  replicas: 2\n", ""));
    let r = bed.cluster.apply(&without).await;
    assert!(r.iter().all(|(_, r)| r.is_ok()), "{:#?}", outcomes(&r));
    let d = bed.object("apps", "deployments", "demo", "web").unwrap();
    assert_eq!(d["spec"]["replicas"], 7);
    // A second sync does not touch it either.
    let before = bed.server.stats().writes();
    let r = bed.cluster.apply(&without).await;
    assert!(
        r.iter().all(|(_, r)| matches!(r, Ok(Applied::Unchanged))),
        "{:#?}",
        outcomes(&r)
    );
    assert_eq!(bed.server.stats().writes(), before);
    // With replicas back in git, git wins (force, as Flux v1's kubectl apply did).
    let r = bed.cluster.apply(&objects(APP)).await;
    assert!(r.iter().all(|(_, r)| r.is_ok()), "{:#?}", outcomes(&r));
    assert_eq!(
        bed.object("apps", "deployments", "demo", "web").unwrap()["spec"]["replicas"],
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_force_a_conflict_is_reported() {
    let bed = Bed::with(
        Emulator::new(),
        None,
        flux_kube::Options {
            force: false,
            retry: fast_retry(),
            ..Default::default()
        },
    )
    .await;
    assert!(
        bed.cluster
            .apply(&objects(APP))
            .await
            .iter()
            .all(|(_, r)| r.is_ok())
    );
    bed.kubectl_ok(&["scale", "deployment", "web", "-n", "demo", "--replicas=7"])
        .await;
    let mut objs = objects(APP);
    let web = objs
        .iter_mut()
        .find(|o| o.id.kind() == "deployment")
        .unwrap();
    crate::edit(web, |v| {
        v["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:2")
    });
    let r = bed.cluster.apply(&objs).await;
    let (id, e) = r.iter().find(|(_, r)| r.is_err()).expect("one conflict");
    let e = e.as_ref().unwrap_err();
    assert_eq!(id.to_string(), "demo:deployment/web");
    assert_eq!(e.kind, ClusterErrorKind::Conflict);
    assert!(e.message.contains(".spec.replicas"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_is_corrected_and_fields_gone_from_git_are_pruned() {
    let bed = Bed::new().await;
    let mut objs = objects(APP);
    let cm = objs
        .iter_mut()
        .find(|o| o.id.kind() == "configmap")
        .unwrap();
    crate::edit(cm, |v| v["metadata"]["annotations"]["team"] = json!("a"));
    assert!(
        bed.cluster
            .apply(&objs)
            .await
            .iter()
            .all(|(_, r)| r.is_ok())
    );
    // Someone edits a field flux owns.
    bed.kubectl_ok(&[
        "set",
        "image",
        "deployment/web",
        "-n",
        "demo",
        "app=nginx:evil",
    ])
    .await;
    let r = bed.cluster.apply(&objs).await;
    let d = r.iter().find(|(id, _)| id.kind() == "deployment").unwrap();
    assert!(matches!(d.1, Ok(Applied::Configured)), "{:?}", d.1);
    let image = &bed.object("apps", "deployments", "demo", "web").unwrap()["spec"]["template"]["spec"]
        ["containers"][0]["image"];
    assert_eq!(image, "nginx:1.25");
    // The annotation leaves git: it leaves the cluster.
    let r = bed.cluster.apply(&objects(APP)).await;
    let c = r.iter().find(|(id, _)| id.kind() == "configmap").unwrap();
    assert!(matches!(c.1, Ok(Applied::Configured)), "{:?}", c.1);
    let cm = bed.object("", "configmaps", "demo", "cfg").unwrap();
    assert!(cm["metadata"]["annotations"].get("team").is_none(), "{cm}");
}

#[tokio::test]
async fn bad_objects_fail_alone_with_clear_errors() {
    let bed = Bed::new().await;
    let mut objs = objects(APP);
    objs.extend(objects(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: broken, namespace: demo}\nspec:\n  selector: {matchLabels: {app: a}}\n  template:\n    metadata: {labels: {app: b}}\n    spec: {containers: [{name: c, image: i}]}\n---\napiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w, namespace: demo}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: lost, namespace: nowhere}\n",
    ));
    let r = bed.cluster.apply(&objs).await;
    let err = |name: &str| {
        r.iter()
            .find(|(id, _)| id.name() == name)
            .and_then(|(_, r)| r.as_ref().err())
            .unwrap_or_else(|| panic!("{name} should fail: {:#?}", outcomes(&r)))
    };
    let broken = err("broken");
    assert_eq!(broken.kind, ClusterErrorKind::Invalid);
    assert!(
        broken.to_string().contains("demo:deployment/broken"),
        "{broken}"
    );
    assert!(
        broken
            .message
            .contains("`selector` does not match template `labels`"),
        "{broken}"
    );
    let widget = err("w");
    assert_eq!(widget.kind, ClusterErrorKind::Invalid);
    assert!(
        widget
            .message
            .contains("does not serve kind Widget in example.com/v1"),
        "{widget}"
    );
    let lost = err("lost");
    assert_eq!(lost.kind, ClusterErrorKind::NotFound);
    assert!(
        lost.message.contains("namespaces \"nowhere\" not found"),
        "{lost}"
    );
    assert_eq!(
        r.iter().filter(|(_, r)| r.is_ok()).count(),
        objects(APP).len()
    );
}

/// Regression (found by the differential test against flux-core's
/// in-memory cluster): with several objects of a kind to apply, the live
/// ones were read with a list narrowed by the GC mark label, and an object
/// that existed without the mark (a `default` Namespace, anything made by
/// hand) was taken for absent and reported Created instead of Configured.
#[tokio::test]
async fn an_existing_object_without_the_mark_is_configured_not_created() {
    let bed = Bed::new().await;
    let ns = |name: &str| {
        flux_core::cluster::ApplyObject::new(
            flux_core::ResourceId::cluster("namespace", name),
            &json!({"apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": name, "labels": {crate::MARK: "m"}}}),
        )
        .unwrap()
    };
    let objs = vec![ns("default"), ns("team-a"), ns("team-b"), ns("team-c")];
    let first = bed.cluster.apply(&objs).await;
    assert_eq!(
        outcomes(&first),
        [
            "<cluster>:namespace/default Configured",
            "<cluster>:namespace/team-a Created",
            "<cluster>:namespace/team-b Created",
            "<cluster>:namespace/team-c Created",
        ]
    );
}

#[tokio::test]
async fn fields_client_side_apply_owned_go_when_git_drops_them() {
    // An object Flux v1 (or a person) applied with client-side kubectl
    // apply: its fields belong to `kubectl-client-side-apply`.
    let bed = Bed::new().await;
    let csa = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: demo\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\n  namespace: demo\n  labels: {team: a}\ndata:\n  a: \"1\"\n  b: \"2\"\n";
    bed.kubectl_run(&["apply", "-f", "-"], Some(csa))
        .await
        .expect_ok("client-side apply");
    // Someone else owns one key as well.
    bed.kubectl_ok(&[
        "patch",
        "configmap",
        "cfg",
        "-n",
        "demo",
        "--type=merge",
        "-p",
        r#"{"data":{"c":"3"}}"#,
    ])
    .await;
    let uid = bed.object("", "configmaps", "demo", "cfg").expect("cfg")["metadata"]["uid"].clone();

    // Git now has the ConfigMap without `b` and without the label.
    let dropped = objects(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\n  namespace: demo\ndata:\n  a: \"1\"\n",
    );
    let r = bed.cluster.apply(&dropped).await;
    assert!(
        matches!(r[0].1, Ok(Applied::Configured)),
        "{:#?}",
        outcomes(&r)
    );
    let cm = bed.object("", "configmaps", "demo", "cfg").expect("cfg");
    assert_eq!(cm["metadata"]["uid"], uid, "configured, not recreated");
    assert_eq!(cm["data"], json!({"a": "1", "c": "3"}), "{cm}");
    assert!(cm["metadata"]["labels"].get("team").is_none(), "{cm}");
    assert!(
        cm["metadata"]["annotations"]
            .get("kubectl.kubernetes.io/last-applied-configuration")
            .is_none(),
        "the client-side record goes too: {cm}"
    );
    let mut managers: Vec<String> = cm["metadata"]["managedFields"]
        .as_array()
        .expect("managedFields")
        .iter()
        .map(|e| {
            format!(
                "{}/{}",
                e["manager"].as_str().unwrap_or(""),
                e["operation"].as_str().unwrap_or("")
            )
        })
        .collect();
    managers.sort();
    assert_eq!(managers, ["flux/Apply", "kubectl-patch/Update"]);

    // Taken over once: the next apply of the same object writes nothing.
    let before = bed.server.stats();
    let again = bed.cluster.apply(&dropped).await;
    assert!(
        matches!(again[0].1, Ok(Applied::Unchanged)),
        "{:#?}",
        outcomes(&again)
    );
    assert_eq!(bed.server.stats().writes(), before.writes());
}

/// A write gate that allows its first `n` checks.
struct Allows(std::sync::atomic::AtomicUsize);

impl flux_core::fence::WriteGate for Allows {
    fn check(&self) -> Result<(), String> {
        use std::sync::atomic::Ordering::SeqCst;
        self.0
            .fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1))
            .map(|_| ())
            .map_err(|_| "lease lost".to_owned())
    }
}

#[tokio::test]
async fn a_write_gate_is_asked_before_each_request() {
    let bed = Bed::new().await;
    let objs = objects(APP);
    assert!(objs.len() > 2);
    let before = bed.server.stats();
    let gate = Allows(2.into());
    let r = bed.cluster.apply_gated(&objs, &gate).await;
    let written = r.iter().filter(|(_, r)| r.is_ok()).count();
    let fenced: Vec<_> = r
        .iter()
        .filter_map(|(_, r)| r.as_ref().err())
        .filter(|e| e.kind == ClusterErrorKind::Fenced)
        .collect();
    assert_eq!(written, 2, "{:#?}", outcomes(&r));
    assert_eq!(fenced.len(), objs.len() - 2, "{:#?}", outcomes(&r));
    assert!(fenced[0].to_string().ends_with("not written: lease lost"));
    let after = bed.server.stats();
    assert_eq!(
        after.writes() - before.writes(),
        2,
        "one request per allowed check"
    );

    // Deleting through a closed gate sends no request at all.
    let ids: Vec<_> = r
        .iter()
        .filter(|(_, r)| r.is_ok())
        .map(|(id, _)| id.clone())
        .collect();
    let d = bed.cluster.delete_gated(&ids, &Allows(0.into())).await;
    assert!(d.iter().all(|(_, r)| {
        r.as_ref()
            .is_err_and(|e| e.kind == ClusterErrorKind::Fenced)
    }));
    assert_eq!(bed.server.stats().writes(), after.writes());
}
