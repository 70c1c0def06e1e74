//! WatchedCluster against the emulator: the same answers as the listing
//! adapter, syncs with nothing new that read no lists, drift reported and
//! put back, new kinds picked up, allowed namespaces kept to, and watches
//! the server drops re-established.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use flux_core::cluster::{ClusterErrorKind, Namespaces};
use flux_core::manifest::{FileSet, LoadOptions, Manifests, parse_files};
use flux_core::sync::{GcMode, SyncOptions, SyncSetName, plan_sync, read_live, run};
use flux_core::{Cluster, ScopeTable};
use flux_kube::watch::{Change, Notice, Phase};
use flux_kube::{KubeCluster, Options, WatchOptions, WatchedCluster};
use kube_emulator::{Emulator, FaultAction, FaultRule};
use tokio::sync::broadcast;

use crate::{APP, Bed, CRD, MARK, fast_retry, limited, objects};

fn watch_options() -> WatchOptions {
    WatchOptions {
        ready_timeout: Duration::from_secs(20),
        ..WatchOptions::default()
    }
}

fn options() -> Options {
    Options {
        retry: fast_retry(),
        ..Options::default()
    }
}

async fn watched_with(bed: &Bed, options: Options) -> WatchedCluster {
    let kube = Arc::new(bed.adapter(options).await);
    let w = WatchedCluster::new(kube, watch_options());
    w.ready(Duration::from_secs(20))
        .await
        .expect("caches ready");
    w
}

async fn watched(bed: &Bed) -> WatchedCluster {
    watched_with(bed, options()).await
}

fn manifests(yaml: &str) -> Manifests {
    let mut files = FileSet::new();
    files.insert("app.yaml", yaml);
    parse_files(
        &files,
        &[String::new()],
        &ScopeTable::builtin(),
        &LoadOptions::default(),
    )
    .expect("test manifests parse")
}

fn sync_options() -> SyncOptions {
    let mut o = SyncOptions::new(SyncSetName::new("test"));
    o.gc = GcMode::On;
    o
}

/// Notices until every `(id, change)` of `want` was seen, failing after
/// 10 seconds.
async fn notices_until(
    rx: &mut broadcast::Receiver<Notice>,
    want: &[(&str, Change)],
) -> Vec<Notice> {
    let mut seen: Vec<Notice> = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !want.iter().all(|(id, c)| {
        seen.iter()
            .any(|n| n.id.to_string() == *id && n.change == *c)
    }) {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Ok(n)) => seen.push(n),
            Ok(Err(e)) => panic!("notices: {e}"),
            Err(_) => panic!("not all of {want:?} within 10 s; saw {seen:?}"),
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_as_the_listing_adapter_does() {
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
    bed.kubectl_ok(&["create", "configmap", "unmarked", "-n", "demo"])
        .await;
    for extra in [
        format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: owned\n  namespace: demo\n  labels: {{{MARK}: x}}\n  ownerReferences: [{{apiVersion: apps/v1, kind: Deployment, name: web, uid: \"123\"}}]\n"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: plain, namespace: other}\nspec:\n  selector: {matchLabels: {a: b}}\n  template: {metadata: {labels: {a: b}}, spec: {containers: [{name: c, image: i}]}}\n".to_owned(),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: plain, namespace: other}\nspec:\n  selector: {matchLabels: {a: b}}\n  template: {metadata: {labels: {a: b}}, spec: {containers: [{name: c, image: i}]}}\n".to_owned(),
        "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: addon, namespace: kube-system, labels: {addonmanager.kubernetes.io/mode: Reconcile}}\nspec:\n  selector: {matchLabels: {a: b}}\n  template: {metadata: {labels: {a: b}}, spec: {containers: [{name: c, image: i}]}}\n".to_owned(),
    ] {
        bed.kubectl_run(&["apply", "--server-side", "-f", "-"], Some(&extra))
            .await
            .expect_ok("apply extra");
    }
    let w = watched(&bed).await;
    let only = |names: &[&str]| Namespaces::from_list(names);
    for ns in [
        Namespaces::All,
        only(&["other", "missing"]),
        only(&["demo"]),
    ] {
        let want = bed.cluster.export_workloads(&ns).await.expect("listed");
        let got = w.export_workloads(&ns).await.expect("cached");
        assert!(!want.is_empty());
        assert_eq!(got, want, "export_workloads({ns:?})");
        let want = bed.cluster.list_managed(MARK, &ns).await.expect("listed");
        let got = w.list_managed(MARK, &ns).await.expect("cached");
        assert_eq!(got, want, "list_managed({ns:?})");
    }
    assert!(
        w.export_workloads(&Namespaces::All)
            .await
            .unwrap()
            .iter()
            .all(|o| o.object.pointer(&["metadata", "managedFields"]).is_none()),
        "without managedFields, as listed"
    );
    // So flux-core plans the same sync from either.
    let desired = manifests(APP);
    let options = sync_options();
    let from_lists = read_live(&bed.cluster, &options).await.unwrap();
    let from_cache = read_live(&w, &options).await.unwrap();
    // The cache converts each object once: a marked workload comes in the
    // exported part only, where the two lists give it twice.
    let exported = bed
        .cluster
        .export_workloads(&options.namespaces)
        .await
        .unwrap();
    let exported_ids: std::collections::HashSet<_> = exported.iter().map(|o| &o.id).collect();
    let once: Vec<_> = from_lists
        .iter()
        .enumerate()
        .filter(|(i, o)| *i < exported.len() || !exported_ids.contains(&o.id))
        .map(|(_, o)| o.clone())
        .collect();
    assert!(
        once.len() < from_lists.len(),
        "a marked workload is listed twice"
    );
    assert_eq!(from_cache, once);
    assert_eq!(
        plan_sync(&desired, &from_cache, &options),
        plan_sync(&desired, &from_lists, &options)
    );
    let stats = w.stats();
    assert_eq!(stats.ready, stats.collections);
    let marked = bed
        .cluster
        .list_managed(MARK, &Namespaces::All)
        .await
        .unwrap();
    assert!(stats.objects >= marked.len(), "{stats:?}");
    assert_eq!(stats.errors, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_with_nothing_new_reads_no_lists() {
    let bed = Bed::new().await;
    let w = watched(&bed).await;
    let desired = manifests(APP);
    let mut options = sync_options();
    let first = run(&w, &desired, &options).await.expect("first sync");
    assert!(first.is_clean(), "{first:?}");
    assert_eq!(first.applied.len(), 6);
    assert!(
        first.gc.not_updated.is_empty(),
        "the caches showed the applies before GC listed"
    );
    let before = bed.server.stats();
    let again = run(&w, &desired, &options).await.expect("no-op sync");
    assert!(again.is_clean());
    assert_eq!(again.applied.len(), 0, "every object up to date");
    // Flux v1's mode: everything is sent to apply, which skips what is
    // unchanged by Flux's managedFields entry, read from the server (the
    // caches do not keep managedFields): reads, but no writes.
    options.apply_unchanged = true;
    let v1 = run(&w, &desired, &options)
        .await
        .expect("apply-everything sync");
    assert_eq!(v1.applied.len(), 6);
    assert!(
        v1.applied
            .iter()
            .all(|(_, r)| matches!(r, Ok(flux_core::cluster::Applied::Unchanged))),
        "{:?}",
        v1.applied
    );
    let after = bed.server.stats();
    assert!(
        after.lists + after.gets > before.lists + before.gets,
        "read from the server"
    );
    assert_eq!(after.writes(), before.writes(), "no writes");
    // The listing adapter, for contrast, lists.
    run(&bed.cluster, &desired, &sync_options())
        .await
        .expect("listing sync");
    assert!(bed.server.stats().lists > after.lists);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_is_reported_and_the_next_sync_puts_it_back() {
    let bed = Bed::new().await;
    let w = watched(&bed).await;
    let mut rx = w.notices();
    let desired = manifests(APP);
    let first = run(&w, &desired, &sync_options())
        .await
        .expect("first sync");
    assert!(first.is_clean(), "{first:?}");

    bed.kubectl_ok(&[
        "patch",
        "configmap",
        "cfg",
        "-n",
        "demo",
        "--type=merge",
        "-p",
        r#"{"data":{"a":"changed by hand"}}"#,
    ])
    .await;
    bed.kubectl_ok(&["delete", "service", "web", "-n", "demo"])
        .await;
    bed.kubectl_ok(&["label", "clusterrole", "reader", &format!("{MARK}-")])
        .await;
    let seen = notices_until(
        &mut rx,
        &[
            ("demo:configmap/cfg", Change::Changed),
            ("demo:service/web", Change::Deleted),
            ("<cluster>:clusterrole/reader", Change::Deleted),
        ],
    )
    .await;
    // Only drift: none of the first sync's own writes.
    let ids: BTreeSet<String> = seen.iter().map(|n| n.id.to_string()).collect();
    assert_eq!(
        ids,
        BTreeSet::from([
            "demo:configmap/cfg".to_owned(),
            "demo:service/web".to_owned(),
            "<cluster>:clusterrole/reader".to_owned()
        ]),
        "{seen:?}"
    );
    assert!(seen.iter().all(|n| n.marked));

    let fix = run(&w, &desired, &sync_options()).await.expect("sync");
    assert!(fix.is_clean(), "{fix:?}");
    let fixed: BTreeSet<String> = fix.applied.iter().map(|(id, _)| id.to_string()).collect();
    assert_eq!(fixed, ids, "exactly the drifted objects are applied");
    let cm = bed.object("", "configmaps", "demo", "cfg").expect("cfg");
    assert_eq!(cm["data"]["a"], "1");
    assert!(bed.object("", "services", "demo", "web").is_some());
    let role = bed
        .object("rbac.authorization.k8s.io", "clusterroles", "", "reader")
        .expect("reader");
    assert!(role["metadata"]["labels"].get(MARK).is_some());
    // Putting it back is Flux's own write: no notice for it.
    let quiet = tokio::time::timeout(Duration::from_millis(500), rx.recv()).await;
    assert!(quiet.is_err(), "no notice for our own repairs: {quiet:?}");
    let again = run(&w, &desired, &sync_options()).await.expect("sync");
    assert!(again.applied.is_empty(), "{:?}", again.applied);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kinds_added_later_are_watched() {
    let bed = Bed::new().await;
    let w = watched(&bed).await;
    let before = w.stats().collections;
    // A CRD and an object of it made by someone else: the CRD watch sees
    // the new kind, discovery is read again, and the kind is watched.
    let (crd, hr) = CRD.split_once("---").expect("two documents");
    bed.kubectl_run(&["apply", "--server-side", "-f", "-"], Some(crd))
        .await
        .expect_ok("apply CRD");
    bed.kubectl_ok(&["create", "namespace", "demo"]).await;
    let hr = hr.replace(
        "  namespace: demo\n",
        &format!("  namespace: demo\n  labels: {{{MARK}: x}}\n"),
    );
    bed.kubectl_run(&["apply", "--server-side", "-f", "-"], Some(&hr))
        .await
        .expect_ok("apply HelmRelease");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let managed = w
            .list_managed(MARK, &Namespaces::All)
            .await
            .expect("cached");
        if managed
            .iter()
            .any(|o| o.id.to_string() == "demo:helmrelease/podinfo")
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the HelmRelease was not seen: {managed:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(w.stats().collections > before);
    assert!(w.stats().rediscoveries >= 1);
    // HelmReleases are workloads: exported too.
    let exported = w.export_workloads(&Namespaces::All).await.unwrap();
    assert!(
        exported
            .iter()
            .any(|o| o.id.to_string() == "demo:helmrelease/podinfo")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_that_applies_a_crd_watches_its_kind_before_collecting_garbage() {
    let bed = Bed::new().await;
    let w = watched(&bed).await;
    let desired = manifests(&format!(
        "{}\n---\n{}",
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: demo}", CRD
    ));
    let report = run(&w, &desired, &sync_options()).await.expect("sync");
    assert!(report.is_clean(), "{report:?}");
    // Right after the sync, with no waiting: the kind is watched and its
    // object cached.
    let managed = w
        .list_managed(MARK, &Namespaces::All)
        .await
        .expect("cached");
    assert!(
        managed
            .iter()
            .any(|o| o.id.to_string() == "demo:helmrelease/podinfo"),
        "{managed:?}"
    );
    let before = bed.server.stats().lists;
    let again = run(&w, &desired, &sync_options()).await.expect("sync");
    assert!(again.applied.is_empty());
    assert_eq!(bed.server.stats().lists, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_namespaces_are_watched_one_by_one_and_nothing_else() {
    let mut access = limited("flux", &["demo"]);
    access.rules[0].cluster_read = false;
    let bed = Bed::with(
        Emulator::new().access(access).tls(),
        Some("root"),
        options(),
    )
    .await;
    // As the administrator: the namespaces, a marked object outside.
    bed.cluster
        .apply(&objects("apiVersion: v1\nkind: Namespace\nmetadata: {name: demo}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: elsewhere}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: out, namespace: elsewhere}\n"))
        .await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("flux");
    bed.server
        .write_kubeconfig(&kubeconfig, Some("flux"))
        .unwrap();
    let limited_options = Options {
        namespaces: Namespaces::from_list(&["demo"]),
        ..options()
    };
    let kube = Arc::new(
        KubeCluster::from_kubeconfig(&kubeconfig, limited_options.clone())
            .await
            .unwrap(),
    );
    bed.server.clear_requests();
    let w = WatchedCluster::new(kube.clone(), watch_options());
    w.ready(Duration::from_secs(20))
        .await
        .expect("ready despite cluster-wide 403s");
    let desired = manifests(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg, namespace: demo}\ndata: {a: '1'}\n",
    );
    let report = run(
        &w,
        &desired,
        &SyncOptions {
            namespaces: limited_options.namespaces.clone(),
            ..sync_options()
        },
    )
    .await
    .expect("sync");
    assert!(report.is_clean(), "{report:?}");
    let ns = &limited_options.namespaces;
    assert_eq!(
        w.export_workloads(ns).await.unwrap(),
        kube.export_workloads(ns).await.unwrap()
    );
    let managed = w.list_managed(MARK, ns).await.unwrap();
    let ids: Vec<String> = managed.iter().map(|o| o.id.to_string()).collect();
    // The allowed Namespace is watched by name, so its mark is seen; the
    // listing adapter, refused a cluster-wide list of namespaces, skips it.
    assert_eq!(ids, ["<cluster>:namespace/demo", "demo:configmap/cfg"]);
    let listed = kube.list_managed(MARK, ns).await.unwrap();
    assert_eq!(managed[1..], listed[..]);
    // Every namespaced request was in demo; cluster-scoped kinds were
    // refused, and so skipped, except the demo Namespace by name.
    for r in bed.server.requests() {
        if let Some((_, rest)) = r.split_once("/namespaces/") {
            assert!(rest.starts_with("demo"), "{r}");
        }
        assert!(!r.contains("elsewhere"), "{r}");
    }
    let skipped: Vec<String> = w
        .collections()
        .into_iter()
        .filter(|c| c.phase == Phase::Skipped)
        .map(|c| c.kind)
        .collect();
    assert!(skipped.contains(&"ClusterRole".to_owned()), "{skipped:?}");
    assert!(!skipped.contains(&"Namespace".to_owned()), "{skipped:?}");
    // A wider request than the allow-list is not answered from caches
    // that do not hold it: it goes to the listing adapter.
    let requests = bed.server.stats().requests;
    assert!(w.export_workloads(&Namespaces::All).await.is_ok());
    assert!(bed.server.stats().requests > requests);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_wait_for_complete_caches_and_fail_clearly() {
    let bed = Bed::new().await;
    bed.server.faults().add(
        FaultRule::always(FaultAction::Status {
            code: 503,
            retry_after: None,
        })
        .method("GET")
        .path("/configmaps"),
    );
    let kube = Arc::new(bed.adapter(options()).await);
    let w = WatchedCluster::new(
        kube,
        WatchOptions {
            ready_timeout: Duration::from_secs(2),
            ..watch_options()
        },
    );
    let e = w.list_managed(MARK, &Namespaces::All).await.unwrap_err();
    assert_eq!(e.kind, ClusterErrorKind::Unavailable);
    assert!(
        e.message.contains("v1 ConfigMap") && e.message.contains("503"),
        "{e}"
    );
    assert!(!w.is_ready());
    bed.server.faults().clear();
    w.ready(Duration::from_secs(20))
        .await
        .expect("ready once the server answers");
    assert!(w.list_managed(MARK, &Namespaces::All).await.is_ok());
    assert!(w.stats().errors >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_and_expired_watches_are_reestablished_and_the_caches_stay_right() {
    let bed = Bed::new().await;
    let w = watched(&bed).await;
    let mut rx = w.notices();
    let desired = manifests(APP);
    assert!(
        run(&w, &desired, &sync_options())
            .await
            .expect("sync")
            .is_clean()
    );
    let lists = bed.server.stats().lists;

    // The server ends every watch; a change made right after is still seen,
    // without a list.
    bed.server.close_watches();
    bed.kubectl_ok(&[
        "patch",
        "configmap",
        "cfg",
        "-n",
        "demo",
        "--type=merge",
        "-p",
        r#"{"data":{"a":"2"}}"#,
    ])
    .await;
    notices_until(&mut rx, &[("demo:configmap/cfg", Change::Changed)]).await;
    assert_eq!(bed.server.stats().lists, lists, "resumed, not listed again");

    // Watches of config maps fail for a while; meanwhile one is deleted and
    // the history the watch would resume from is compacted away. The
    // watcher gets a 410, lists again, and the deletion missed is reported.
    bed.server.faults().add(
        FaultRule::always(FaultAction::Status {
            code: 503,
            retry_after: None,
        })
        .method("GET")
        .path("/configmaps"),
    );
    bed.server.close_watches();
    let errors = w.stats().errors;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while w.stats().errors == errors {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the watch did not fail"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // (--wait=false: kubectl waits with a watch, which fails now.)
    bed.kubectl_ok(&["delete", "configmap", "cfg", "-n", "demo", "--wait=false"])
        .await;
    bed.server.forget_history();
    bed.server.faults().clear();
    notices_until(&mut rx, &[("demo:configmap/cfg", Change::Deleted)]).await;
    let cm = w
        .collections()
        .into_iter()
        .find(|c| c.kind == "ConfigMap")
        .expect("config maps watched");
    assert_eq!(cm.phase, Phase::Ready);
    assert!(cm.lists >= 2, "{cm:?}");
    assert!(cm.errors >= 1, "{cm:?}");
    let managed = w.list_managed(MARK, &Namespaces::All).await.unwrap();
    assert_eq!(
        managed,
        bed.cluster
            .list_managed(MARK, &Namespaces::All)
            .await
            .unwrap()
    );
    assert!(
        !managed
            .iter()
            .any(|o| o.id.to_string() == "demo:configmap/cfg")
    );
    // And the next sync puts it back.
    let fix = run(&w, &desired, &sync_options()).await.expect("sync");
    let ids: Vec<String> = fix.applied.iter().map(|(id, _)| id.to_string()).collect();
    assert_eq!(ids, ["demo:configmap/cfg"]);
}
