//! Bad input and the behaviours Flux users rely on, one case each.

use flux_core::cluster::Applied;
use flux_core::cluster::ClusterErrorKind;
use flux_core::manifest::{FileSet, LoadOptions, Manifests, parse_files};
use flux_core::sync::{
    CHECKSUM_ANNOTATION, GC_MARK_LABEL, GcBlocked, GcMode, KeptReason, PlanWarning, SkipReason,
    Stage, SyncOptions, SyncReport, SyncSetName, load_and_run, plan_sync, read_live, run,
};
use flux_core::testing::{Failure, MemoryCluster, Operation, block_on};
use flux_core::{Namespaces, ResourceId, ScopeTable};
use serde_json::{Value, json};

pub(super) fn id(s: &str) -> ResourceId {
    s.parse().expect("valid ID")
}

pub(super) fn files(entries: &[(&str, &str)]) -> FileSet {
    entries
        .iter()
        .map(|(p, t)| (p.to_string(), t.as_bytes().to_vec()))
        .collect()
}

pub(super) fn load(entries: &[(&str, &str)]) -> Manifests {
    parse_files(
        &files(entries),
        &[String::new()],
        &ScopeTable::builtin(),
        &LoadOptions::default(),
    )
    .unwrap_or_else(|e| panic!("loads: {e}"))
}

pub(super) fn options(gc: GcMode) -> SyncOptions {
    let mut o = SyncOptions::new(SyncSetName::new("cases"));
    o.gc = gc;
    o
}

pub(super) fn sync(
    cluster: &MemoryCluster,
    desired: &Manifests,
    options: &SyncOptions,
) -> SyncReport {
    block_on(run(cluster, desired, options)).expect("cluster reads work")
}

pub(super) const NS_DEMO: &str = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: demo\n";

pub(super) fn cm(name: &str, value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: demo\ndata:\n  v: \"{value}\"\n"
    )
}

/// An object as Flux (any version) would have left it after applying.
pub(super) fn marked(set: &str, id: &ResourceId, mut object: Value) -> Value {
    object["metadata"]["labels"] = json!({ GC_MARK_LABEL: SyncSetName::new(set).gc_mark(id) });
    object["metadata"]["annotations"] = json!({ CHECKSUM_ANNOTATION: "0000" });
    object
}

pub(super) fn orphan(cluster: &MemoryCluster, set: &str, name: &str) -> ResourceId {
    let orphan = id(&format!("demo:configmap/{name}"));
    cluster.put(
        orphan.clone(),
        marked(
            set,
            &orphan,
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "demo"}}),
        ),
    );
    orphan
}

#[test]
fn duplicate_resources_fail_the_load_and_touch_nothing() {
    let cluster = MemoryCluster::with_namespaces(&["demo"]);
    let gone = orphan(&cluster, "cases", "gone");
    let repo = files(&[
        ("a.yaml", &cm("x", "1")),
        ("b/c.yaml", &format!("# again\n---\n{}", cm("x", "2"))),
    ]);
    let err = block_on(load_and_run(
        &cluster,
        &repo,
        &[String::new()],
        &ScopeTable::builtin(),
        &LoadOptions::default(),
        &options(GcMode::On),
    ))
    .unwrap_err();
    let chain = format!(
        "{err}: {}",
        std::error::Error::source(&err).expect("source")
    );
    assert!(
        chain.contains("nothing applied, nothing deleted"),
        "{chain}"
    );
    assert!(
        chain.contains("duplicate definition of demo:configmap/x (in a.yaml:1 and b/c.yaml:3)"),
        "{chain}"
    );
    assert!(cluster.journal().is_empty());
    assert!(cluster.get(&gone).is_some());
}

#[test]
fn malformed_marks_are_kept_and_reported() {
    let cluster = MemoryCluster::with_namespaces(&["demo"]);
    for (name, value) in [("broken", json!("sha256.tooshort")), ("number", json!(7))] {
        let x = id(&format!("demo:configmap/{name}"));
        cluster.put(
            x,
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": name, "namespace": "demo", "labels": {GC_MARK_LABEL: value}}}),
        );
    }
    let other = orphan(&cluster, "someone-else", "theirs");
    let report = sync(&cluster, &load(&[]), &options(GcMode::On));
    assert!(report.is_clean());
    let gc = report.gc.plan.expect("GC ran");
    assert!(gc.candidates.is_empty());
    let kept: Vec<(String, String)> = gc
        .kept
        .iter()
        .map(|k| (k.id.to_string(), k.reason.to_string()))
        .collect();
    assert_eq!(
        kept,
        [
            (
                "demo:configmap/broken".into(),
                "malformed GC mark \"sha256.tooshort\"".into()
            ),
            (
                "demo:configmap/number".into(),
                "malformed GC mark \"7\"".into()
            ),
            (
                "demo:configmap/theirs".into(),
                "marked by another sync set".into()
            ),
        ]
    );
    assert_eq!(cluster.ids().len(), 4);
    assert!(cluster.get(&other).is_some());
}

#[test]
fn allowed_namespace_that_does_not_exist() {
    let cluster = MemoryCluster::with_namespaces(&["demo"]);
    let gone = orphan(&cluster, "cases", "gone");
    let mut o = options(GcMode::On);
    o.namespaces = Namespaces::from_list(&["demo", "missing"]);
    let desired = load(&[(
        "a.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: missing}\n",
    )]);
    let report = sync(&cluster, &desired, &o);
    assert_eq!(
        report.plan.warnings,
        [PlanWarning::AllowedNamespaceMissing {
            namespace: "missing".into()
        }]
    );
    assert!(
        report.plan.warnings[0]
            .to_string()
            .contains("\"missing\" does not exist")
    );
    let errors: Vec<String> = report.apply_errors().map(|(_, e)| e.to_string()).collect();
    assert_eq!(
        errors,
        ["missing:configmap/x: namespaces \"missing\" not found"]
    );
    assert_eq!(report.gc.blocked, [GcBlocked::ApplyFailed { count: 1 }]);
    assert!(cluster.get(&gone).is_some(), "no GC after an apply error");

    // Defined in git, it is created first and everything applies.
    let desired = load(&[
        (
            "a.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: missing}\n",
        ),
        (
            "ns.yaml",
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: missing}\n",
        ),
    ]);
    let report = sync(&cluster, &desired, &o);
    assert!(report.plan.warnings.is_empty());
    assert_eq!(report.plan.batches[0].stage, Stage::Namespaces);
    assert!(report.is_clean(), "{report:#?}");
    assert!(
        cluster.get(&gone).is_none(),
        "GC runs once everything applied"
    );
}

#[test]
fn unknown_scope_is_left_out_and_blocks_gc() {
    let cluster = MemoryCluster::with_namespaces(&["demo"]);
    let gone = orphan(&cluster, "cases", "gone");
    let desired = load(&[
        ("cm.yaml", &cm("x", "1")),
        (
            "w.yaml",
            "# a custom resource whose CRD is not in the repo\napiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n",
        ),
    ]);
    let report = sync(&cluster, &desired, &options(GcMode::On));
    let warning = report.plan.warnings[0].to_string();
    assert!(warning.starts_with("w.yaml:2 Widget/w"), "{warning}");
    assert!(
        warning.contains("scope of kind Widget in example.com/v1 is unknown"),
        "{warning}"
    );
    assert_eq!(report.applied.len(), 1, "the rest is applied");
    assert_eq!(report.gc.blocked, [GcBlocked::UnknownScope { count: 1 }]);
    assert!(cluster.get(&gone).is_some());
}

#[test]
fn fields_git_does_not_set_stay_with_their_owner() {
    let cluster = MemoryCluster::with_namespaces(&["demo"]);
    let deploy = |image: &str| {
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web, namespace: demo}}\nspec:\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web}}}}\n    spec:\n      containers:\n      - name: app\n        image: {image}\n"
        )
    };
    let o = options(GcMode::On);
    assert!(sync(&cluster, &load(&[("d.yaml", &deploy("app:1"))]), &o).is_clean());
    let web = id("demo:deployment/web");
    // An HPA scales it.
    assert!(cluster.set_field(&web, &["spec", "replicas"], json!(7)));
    let desired = load(&[("d.yaml", &deploy("app:1"))]);
    let live = block_on(read_live(&cluster, &o)).unwrap();
    assert_eq!(
        plan_sync(&desired, &live, &o).skip_reason(&web),
        Some(&SkipReason::UpToDate)
    );
    // A new image is applied without touching replicas.
    let report = sync(&cluster, &load(&[("d.yaml", &deploy("app:2"))]), &o);
    let applied = report.plan.applies().next().expect("applied");
    assert!(applied.object.pointer(&["spec", "replicas"]).is_none());
    let live = cluster.get(&web).unwrap();
    assert_eq!(live["spec"]["replicas"], 7);
    assert_eq!(
        live["spec"]["template"]["spec"]["containers"][0]["image"],
        "app:2"
    );
}

#[test]
fn drift_is_corrected() {
    let cluster = MemoryCluster::with_namespaces(&["demo"]);
    let o = options(GcMode::Off);
    let desired = load(&[("c.yaml", &cm("x", "1"))]);
    sync(&cluster, &desired, &o);
    let x = id("demo:configmap/x");
    cluster.set_field(&x, &["data", "v"], json!("edited by hand"));
    let report = sync(&cluster, &desired, &o);
    assert_eq!(report.applied.len(), 1);
    assert!(matches!(&report.applied[0], (i, Ok(Applied::Configured)) if *i == x));
    assert_eq!(cluster.get(&x).unwrap()["data"]["v"], "1");
}

#[test]
fn labels_that_are_not_a_mapping_are_refused_and_block_gc() {
    let cluster = MemoryCluster::with_namespaces(&["demo"]);
    let gone = orphan(&cluster, "cases", "gone");
    let desired = load(&[(
        "bad.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: demo, labels: [a, b]}\n",
    )]);
    let report = sync(&cluster, &desired, &options(GcMode::On));
    assert_eq!(
        report.plan.skip_reason(&id("demo:configmap/x")),
        Some(&SkipReason::InvalidMetadata {
            message: "metadata.labels is not a mapping".into()
        })
    );
    assert_eq!(
        report.gc.blocked,
        [GcBlocked::InvalidResources { count: 1 }]
    );
    assert!(cluster.get(&gone).is_some());
}

#[test]
fn namespaces_are_collected_only_when_cascading_is_on_and_they_are_empty() {
    let setup = || {
        let cluster = MemoryCluster::new();
        let ns = id("<cluster>:namespace/demo");
        cluster.put(
            ns.clone(),
            marked(
                "cases",
                &ns,
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "demo"}}),
            ),
        );
        let gone = orphan(&cluster, "cases", "gone");
        (cluster, ns, gone)
    };
    // Off by default: the contents go, the namespace stays.
    let (cluster, ns, gone) = setup();
    let report = sync(&cluster, &load(&[]), &options(GcMode::On));
    assert_eq!(report.gc.deleted.len(), 1);
    assert!(cluster.get(&gone).is_none());
    assert!(cluster.get(&ns).is_some());
    let kept = &report.gc.plan.unwrap().kept;
    assert_eq!(kept[0].reason, KeptReason::Cascading);

    // On, with something Flux did not apply inside: kept, naming it.
    let (cluster, ns, _) = setup();
    cluster
        .create(json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "hand-made", "namespace": "demo"},
            "spec": {"selector": {"matchLabels": {"app": "h"}}, "template": {"metadata": {"labels": {"app": "h"}}}}}))
        .unwrap();
    let mut o = options(GcMode::On);
    o.gc_cascading = true;
    let report = sync(&cluster, &load(&[]), &o);
    assert!(cluster.get(&ns).is_some());
    assert_eq!(
        report.gc.plan.unwrap().kept[0].reason,
        KeptReason::CascadingNotEmpty {
            holds: id("demo:deployment/hand-made")
        }
    );

    // On, and everything visible inside is garbage too: all of it goes,
    // the namespace last.
    let (cluster, ns, gone) = setup();
    let report = sync(&cluster, &load(&[]), &o);
    let order: Vec<ResourceId> = report.gc.deleted.iter().map(|(i, _)| i.clone()).collect();
    assert_eq!(order, [gone, ns]);
    assert!(cluster.ids().is_empty());
}

#[test]
fn owned_objects_are_kept() {
    let cluster = MemoryCluster::with_namespaces(&["demo"]);
    let x = orphan(&cluster, "cases", "owned");
    cluster.set_field(
        &x,
        &["metadata", "ownerReferences"],
        json!([{"apiVersion": "v1", "kind": "Thing", "name": "t", "uid": "u"}]),
    );
    let report = sync(&cluster, &load(&[]), &options(GcMode::On));
    assert_eq!(report.gc.plan.unwrap().kept[0].reason, KeptReason::Owned);
    assert!(cluster.get(&x).is_some());
}

/// Objects left by Flux v1: its mark (computed here independently) and a
/// checksum of YAML bytes this implementation does not reproduce.
#[test]
fn objects_marked_by_flux_v1_are_adopted_and_collected() {
    use base64::Engine as _;
    use sha2::{Digest, Sha256};
    let set = SyncSetName::from_git("git@github.com:org/config", "master", &["deploy"]);
    let v1_mark = |id: &str| {
        let digest = Sha256::digest(format!("{set}{id}"));
        format!(
            "sha256.{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
        )
    };
    let cluster = MemoryCluster::with_namespaces(&["demo"]);
    for name in ["kept", "removed"] {
        cluster.put(
            id(&format!("demo:configmap/{name}")),
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": name, "namespace": "demo",
                    "labels": {GC_MARK_LABEL: v1_mark(&format!("demo:configmap/{name}"))},
                    "annotations": {CHECKSUM_ANNOTATION: "da39a3ee5e6b4b0d3255bfef95601890afd80709"}},
                "data": {"v": "1"}}),
        );
    }
    let mut o = SyncOptions::new(set);
    o.gc = GcMode::On;
    let report = sync(&cluster, &load(&[("c.yaml", &cm("kept", "1"))]), &o);
    assert!(report.is_clean());
    // Applied once to take over the checksum, then up to date.
    assert_eq!(report.applied.len(), 1);
    assert_eq!(report.gc.deleted.len(), 1);
    assert_eq!(report.gc.deleted[0].0, id("demo:configmap/removed"));
    assert!(cluster.get(&id("demo:configmap/kept")).is_some());
}

#[test]
fn listing_after_apply_fails_so_nothing_is_deleted() {
    let cluster = MemoryCluster::with_namespaces(&["demo"]);
    let gone = orphan(&cluster, "cases", "gone");
    cluster.fail(Failure::new(Operation::ListManaged, ClusterErrorKind::Unavailable).after(1));
    let report = sync(
        &cluster,
        &load(&[("c.yaml", &cm("x", "1"))]),
        &options(GcMode::On),
    );
    assert_eq!(report.applied.len(), 1);
    assert!(matches!(
        report.gc.blocked[..],
        [GcBlocked::ListFailed { .. }]
    ));
    assert!(cluster.get(&gone).is_some());
}

#[test]
fn reading_the_cluster_fails_so_nothing_is_applied() {
    let cluster = MemoryCluster::with_namespaces(&["demo"]);
    cluster.fail(Failure::new(
        Operation::ExportWorkloads,
        ClusterErrorKind::Forbidden,
    ));
    let err = block_on(run(
        &cluster,
        &load(&[("c.yaml", &cm("x", "1"))]),
        &options(GcMode::On),
    ))
    .unwrap_err();
    assert!(err.to_string().contains("nothing applied"), "{err}");
    assert!(cluster.get(&id("demo:configmap/x")).is_none());
}

#[test]
fn dry_run_reports_and_deletes_nothing() {
    let cluster = MemoryCluster::with_namespaces(&["demo"]);
    let gone = orphan(&cluster, "cases", "gone");
    let report = sync(&cluster, &load(&[]), &options(GcMode::DryRun));
    assert_eq!(
        report.gc.plan.as_ref().unwrap().candidates,
        std::slice::from_ref(&gone)
    );
    assert!(report.gc.deleted.is_empty());
    assert!(cluster.get(&gone).is_some());
}

#[test]
fn sync_only_is_applied_but_never_collected() {
    let cluster = MemoryCluster::with_namespaces(&["demo"]);
    let o = options(GcMode::On);
    let text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: keep\n  namespace: demo\n  annotations: {fluxcd.io/ignore: sync_only}\n";
    let report = sync(&cluster, &load(&[("c.yaml", text)]), &o);
    assert_eq!(report.applied.len(), 1);
    let report = sync(&cluster, &load(&[]), &o);
    assert_eq!(report.gc.plan.unwrap().kept[0].reason, KeptReason::SyncOnly);
    assert!(cluster.get(&id("demo:configmap/keep")).is_some());
}

#[test]
fn ignore_annotation_on_the_cluster_stops_applies() {
    let cluster = MemoryCluster::with_namespaces(&["demo"]);
    let o = options(GcMode::On);
    let deploy = |image: &str| {
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web, namespace: demo}}\nspec: {{selector: {{matchLabels: {{app: web}}}}, template: {{metadata: {{labels: {{app: web}}}}, spec: {{containers: [{{name: a, image: {image}}}]}}}}}}\n"
        )
    };
    sync(&cluster, &load(&[("d.yaml", &deploy("app:1"))]), &o);
    let web = id("demo:deployment/web");
    cluster.set_field(
        &web,
        &["metadata", "annotations", "fluxcd.io/ignore"],
        json!("true"),
    );
    let report = sync(&cluster, &load(&[("d.yaml", &deploy("app:2"))]), &o);
    assert_eq!(
        report.plan.skip_reason(&web),
        Some(&SkipReason::IgnoredOnCluster)
    );
    assert_eq!(
        cluster.get(&web).unwrap()["spec"]["template"]["spec"]["containers"][0]["image"],
        "app:1"
    );
}

#[test]
fn apply_order_is_namespaces_crds_then_flux_v1_kind_order() {
    let desired = load(&[(
        "all.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d, namespace: demo}\nspec: {selector: {matchLabels: {app: d}}, template: {metadata: {labels: {app: d}}}}\n---\n\
         apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: demo}\n---\n\
         apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w, namespace: demo}\n---\n\
         apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: widgets.example.com}\nspec: {group: example.com, scope: Namespaced, names: {kind: Widget, plural: widgets}}\n---\n\
         apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: s, namespace: demo}\n---\n\
         apiVersion: v1\nkind: Namespace\nmetadata: {name: demo}\n",
    )]);
    let plan = plan_sync(&desired, &[], &options(GcMode::Off));
    let order: Vec<(Stage, String)> = plan
        .batches
        .iter()
        .flat_map(|b| b.objects.iter().map(move |o| (b.stage, o.id.to_string())))
        .collect();
    assert_eq!(
        order,
        [
            (Stage::Namespaces, "<cluster>:namespace/demo".into()),
            (
                Stage::CustomResourceDefinitions,
                "<cluster>:customresourcedefinition/widgets.example.com".into()
            ),
            (Stage::Resources, "demo:serviceaccount/s".into()),
            (Stage::Resources, "demo:configmap/c".into()),
            (Stage::Resources, "demo:deployment/d".into()),
            (Stage::Resources, "demo:widget/w".into()),
        ]
    );
    // And the in-memory cluster takes them in that order.
    let cluster = MemoryCluster::new();
    assert!(sync(&cluster, &desired, &options(GcMode::Off)).is_clean());
}

#[test]
fn the_example_namespace_in_the_docs_needs_no_cluster_namespace() {
    let cluster = MemoryCluster::new();
    let report = sync(
        &cluster,
        &load(&[("ns.yaml", NS_DEMO), ("c.yaml", &cm("x", "1"))]),
        &options(GcMode::On),
    );
    assert!(report.is_clean());
}

#[test]
fn an_unreadable_ignore_annotation_is_not_guessed() {
    let cluster = MemoryCluster::with_namespaces(&["demo"]);
    let gone = orphan(&cluster, "cases", "gone");
    let o = options(GcMode::On);
    // In git: not applied, and GC waits until it is fixed.
    let text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  namespace: demo\n  annotations: {fluxcd.io/ignore: \"True\"}\n";
    let report = sync(&cluster, &load(&[("c.yaml", text)]), &o);
    let reason = report
        .plan
        .skip_reason(&id("demo:configmap/x"))
        .unwrap()
        .to_string();
    assert!(
        reason.contains("fluxcd.io/ignore: \"True\" is not valid"),
        "{reason}"
    );
    assert_eq!(
        report.gc.blocked,
        [GcBlocked::InvalidResources { count: 1 }]
    );
    assert!(cluster.get(&gone).is_some());
    assert!(cluster.get(&id("demo:configmap/x")).is_none());
    // On the cluster: treated as ignored, so neither applied nor collected.
    cluster.set_field(
        &gone,
        &["metadata", "annotations", "flux.weave.works/ignore"],
        json!("yes"),
    );
    let report = sync(&cluster, &load(&[]), &o);
    assert_eq!(report.gc.plan.unwrap().kept[0].reason, KeptReason::Ignored);
    assert!(cluster.get(&gone).is_some());
}
