//! Reading workloads and GC-marked objects.

use std::collections::BTreeSet;

use flux_core::Cluster;
use flux_core::cluster::Namespaces;

use crate::{APP, Bed, CRD, MARK, objects};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_lists_namespaces_and_workloads() {
    let bed = Bed::new().await;
    let mut objs = objects(APP);
    objs.extend(objects(CRD));
    objs.extend(objects("apiVersion: v1\nkind: Namespace\nmetadata: {name: other}\n---\napiVersion: batch/v1\nkind: CronJob\nmetadata: {name: tick, namespace: other}\nspec:\n  schedule: '* * * * *'\n  jobTemplate: {spec: {template: {spec: {restartPolicy: Never, containers: [{name: c, image: busybox}]}}}}\n"));
    assert!(
        bed.cluster
            .apply(&objs)
            .await
            .iter()
            .all(|(_, r)| r.is_ok())
    );
    bed.kubectl_run(
        &["apply", "--server-side", "-f", "-"],
        Some("apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: addon, namespace: kube-system, labels: {addonmanager.kubernetes.io/mode: Reconcile}}\nspec:\n  selector: {matchLabels: {a: b}}\n  template: {metadata: {labels: {a: b}}, spec: {containers: [{name: c, image: i}]}}\n"),
    )
    .await
    .expect_ok("apply addon");
    let all = bed
        .cluster
        .export_workloads(&Namespaces::All)
        .await
        .unwrap();
    let ids: BTreeSet<String> = all.iter().map(|o| o.id.to_string()).collect();
    for want in [
        "<cluster>:namespace/demo",
        "<cluster>:namespace/default",
        "demo:deployment/web",
        "demo:helmrelease/podinfo",
        "other:cronjob/tick",
    ] {
        assert!(ids.contains(want), "{want} missing from {ids:?}");
    }
    assert!(
        !ids.contains("kube-system:daemonset/addon"),
        "add-ons are not exported"
    );
    assert!(!ids.contains("demo:configmap/cfg"), "not a workload");
    let web = all
        .iter()
        .find(|o| o.id.to_string() == "demo:deployment/web")
        .unwrap();
    let web = web.object.to_value();
    assert_eq!(web["kind"], "Deployment");
    assert_eq!(web["spec"]["replicas"], 2);
    let only = bed
        .cluster
        .export_workloads(&Namespaces::Only(BTreeSet::from([
            "other".to_owned(),
            "missing".to_owned(),
        ])))
        .await
        .unwrap();
    let ids: Vec<String> = only.iter().map(|o| o.id.to_string()).collect();
    assert_eq!(ids, ["<cluster>:namespace/other", "other:cronjob/tick"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_managed_finds_marked_objects_of_every_kind() {
    let bed = Bed::new().await;
    let mut objs = objects(APP);
    objs.extend(objects(CRD));
    assert!(
        bed.cluster
            .apply(&objs)
            .await
            .iter()
            .all(|(_, r)| r.is_ok())
    );
    // Not marked, and marked but owned by another object: neither is listed.
    bed.kubectl_ok(&["create", "configmap", "unmarked", "-n", "demo"])
        .await;
    bed.kubectl_run(
        &["apply", "--server-side", "-f", "-"],
        Some(&format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: owned\n  namespace: demo\n  labels: {{{MARK}: x}}\n  ownerReferences: [{{apiVersion: apps/v1, kind: Deployment, name: web, uid: \"123\"}}]\n")),
    )
    .await
    .expect_ok("apply owned");
    let managed = bed
        .cluster
        .list_managed(MARK, &Namespaces::All)
        .await
        .unwrap();
    let ids: BTreeSet<String> = managed.iter().map(|o| o.id.to_string()).collect();
    let want: BTreeSet<String> = objs.iter().map(|o| o.id.to_string()).collect();
    assert_eq!(ids, want);
    let hr = managed
        .iter()
        .find(|o| o.id.kind() == "helmrelease")
        .unwrap();
    assert_eq!(hr.object.to_value()["apiVersion"], "helm.fluxcd.io/v1");
    // Limited to a namespace: its objects and cluster-scoped ones, but only allowed Namespaces.
    let only = bed
        .cluster
        .list_managed(
            MARK,
            &Namespaces::Only(BTreeSet::from(["default".to_owned()])),
        )
        .await
        .unwrap();
    let ids: Vec<String> = only.iter().map(|o| o.id.to_string()).collect();
    assert_eq!(
        ids,
        [
            "<cluster>:clusterrole/reader",
            "<cluster>:customresourcedefinition/helmreleases.helm.fluxcd.io"
        ]
    );
}

fn deployment(name: &str, marked: bool) -> String {
    let labels = if marked {
        format!("{{app: {name}, {MARK}: sha256.x}}")
    } else {
        format!("{{app: {name}}}")
    };
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {name}, namespace: demo, labels: {labels}}}\nspec:\n  selector: {{matchLabels: {{app: {name}}}}}\n  template: {{metadata: {{labels: {{app: {name}}}}}, spec: {{containers: [{{name: c, image: i}}]}}}}\n"
    )
}

fn names(objs: &[flux_core::cluster::LiveObject], kind: &str) -> Vec<String> {
    objs.iter()
        .filter(|o| o.id.kind() == kind)
        .map(|o| o.id.name().to_owned())
        .collect()
}

/// Lists of deployments the server was asked for: (with a label selector?).
fn deployment_lists(bed: &Bed) -> Vec<bool> {
    bed.server
        .requests()
        .iter()
        .filter(|r| r.starts_with("GET /apis/apps/v1/") && r.contains("/deployments?"))
        .map(|r| r.contains("labelSelector"))
        .collect()
}

/// The GC listing right after an export takes the export's workload lists
/// (filtered by the mark) instead of reading them again; any later listing,
/// or one after a write, reads the cluster.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gc_listing_reuses_the_export_once_and_never_across_writes() {
    let bed = Bed::new().await;
    let r = bed.cluster.apply(&objects(APP)).await;
    assert!(r.iter().all(|(_, r)| r.is_ok()), "{r:?}");
    bed.kubectl_run(
        &["apply", "--server-side", "-f", "-"],
        Some(&deployment("unmarked", false)),
    )
    .await
    .expect_ok("apply unmarked");
    let all = Namespaces::All;

    // A sync's reads: export, then the GC listing.
    bed.server.clear_requests();
    let exported = bed.cluster.export_workloads(&all).await.unwrap();
    let managed = bed.cluster.list_managed(MARK, &all).await.unwrap();
    assert_eq!(names(&exported, "deployment"), ["unmarked", "web"]);
    assert_eq!(
        names(&managed, "deployment"),
        ["web"],
        "filtered by the mark"
    );
    assert_eq!(names(&managed, "configmap"), ["cfg"]);
    assert_eq!(deployment_lists(&bed), [false], "deployments read once");
    for o in exported.iter().chain(&managed) {
        assert!(
            o.object.pointer(&["metadata", "managedFields"]).is_none(),
            "{} carries managedFields",
            o.id
        );
    }
    assert!(
        bed.server
            .requests()
            .iter()
            .any(|r| r.starts_with("GET /api/v1/configmaps?labelSelector")),
        "other kinds are listed by the mark"
    );

    // The next listing (the next sync's, or GC's after applying) reads the
    // cluster, and sees what another writer did in between.
    bed.kubectl_run(
        &["apply", "--server-side", "-f", "-"],
        Some(&deployment("other", true)),
    )
    .await
    .expect_ok("apply other");
    bed.server.clear_requests();
    let managed = bed.cluster.list_managed(MARK, &all).await.unwrap();
    assert_eq!(names(&managed, "deployment"), ["other", "web"]);
    assert_eq!(deployment_lists(&bed), [true]);

    // A write through the adapter after the export voids the export's lists.
    bed.server.clear_requests();
    bed.cluster.export_workloads(&all).await.unwrap();
    let r = bed.cluster.apply(&objects(&deployment("late", true))).await;
    assert!(r[0].1.is_ok(), "{r:?}");
    let managed = bed.cluster.list_managed(MARK, &all).await.unwrap();
    assert_eq!(names(&managed, "deployment"), ["late", "other", "web"]);
    let lists = deployment_lists(&bed);
    assert_eq!(lists.last(), Some(&true), "{lists:?}");

    // Another allow-list than the export's: read again.
    bed.server.clear_requests();
    bed.cluster.export_workloads(&all).await.unwrap();
    let only = Namespaces::Only(BTreeSet::from(["demo".to_owned()]));
    let managed = bed.cluster.list_managed(MARK, &only).await.unwrap();
    assert_eq!(names(&managed, "deployment"), ["late", "other", "web"]);
    assert_eq!(deployment_lists(&bed), [false, true]);
}
