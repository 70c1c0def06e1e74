//! A cluster and a repository for the sync planning benchmark: 10,000
//! resources in git against 10,000 marked objects in the cluster, half of
//! them changed since the last sync, some new, some gone from git.

use flux_core::ResourceId;
use flux_core::ScopeTable;
use flux_core::cluster::LiveObject;
use flux_core::manifest::{FileSet, LoadOptions, Manifests, parse_files};
use flux_core::sync::{
    CHECKSUM_ANNOTATION, GC_MARK_LABEL, GcMode, SyncOptions, SyncSetName, plan_sync,
};
use flux_core::workload::WORKLOAD_KINDS;
use serde_json::{Value, json};

use crate::manifest;

/// The inputs of one `plan_sync` call, and how they were made.
pub struct SyncWorld {
    /// The resources in git.
    pub desired: Manifests,
    /// The live objects as `read_live` returns them: every marked object,
    /// plus the namespaces and workloads again (export and list overlap).
    pub live: Vec<LiveObject>,
    /// GC on, for the repository's sync set.
    pub options: SyncOptions,
    /// Marked objects in the cluster (the 10,000 of the headline).
    pub marked: usize,
    /// Of the resources in git: up to date, changed, and not yet in the
    /// cluster.
    pub up_to_date: usize,
    /// See `up_to_date`.
    pub changed: usize,
    /// See `up_to_date`.
    pub new: usize,
    /// Marked objects gone from git.
    pub gone: usize,
}

/// Adds what an API server adds: identity, versions, managed fields, status.
fn served(mut object: Value, n: usize) -> Value {
    let meta = &mut object["metadata"];
    meta["uid"] = json!(format!("6f1c2a7e-0000-4000-8000-{n:012}"));
    meta["resourceVersion"] = json!(format!("{}", 100_000 + n));
    meta["generation"] = json!(1);
    meta["creationTimestamp"] = json!("2026-01-01T00:00:00Z");
    meta["managedFields"] = json!([{
        "manager": "flux", "operation": "Apply", "apiVersion": "v1",
        "time": "2026-01-01T00:00:00Z", "fieldsType": "FieldsV1",
        "fieldsV1": {"f:metadata": {"f:labels": {"f:fluxcd.io/sync-gc-mark": {}},
            "f:annotations": {"f:fluxcd.io/sync-checksum": {}}}}
    }]);
    if object["spec"].is_object() {
        object["status"] = json!({"observedGeneration": 1, "conditions": [
            {"type": "Available", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}
        ]});
    }
    object
}

/// Builds the world from `files` generated manifest files (8,000 files hold
/// 10,000 resources): 40% of the resources are up to date in the cluster,
/// 50% changed since, 10% new; a further 10% of marked objects are gone
/// from git.
pub fn sync_world(files: usize) -> SyncWorld {
    let repo: FileSet = (0..files)
        .map(|i| (format!("apps/m-{i:05}.yaml"), manifest(i).into_bytes()))
        .collect();
    let desired = parse_files(
        &repo,
        &[String::new()],
        &ScopeTable::builtin(),
        &LoadOptions::default(),
    )
    .expect("generated manifests load");
    let mut options = SyncOptions::new(SyncSetName::from_git(
        "ssh://git@example.com/org/config",
        "master",
        &["apps"],
    ));
    options.gc = GcMode::On;

    // What Flux applied last time: the plan against an empty cluster.
    let first = plan_sync(&desired, &[], &options);
    let mut live = Vec::new();
    let (mut up_to_date, mut changed, mut new) = (0, 0, 0);
    for (k, applied) in first.applies().enumerate() {
        let mut object = applied.object.to_value();
        match k % 10 {
            0..=3 => up_to_date += 1,
            4..=8 => {
                // An older version: another label, another checksum.
                object["metadata"]["labels"]["release"] = json!("previous");
                object["metadata"]["annotations"][CHECKSUM_ANNOTATION] = json!("0".repeat(40));
                changed += 1;
            }
            _ => {
                new += 1;
                continue;
            }
        }
        live.push(frozen(applied.id.clone(), &served(object, k)));
    }
    let gone = desired.resources.len() / 10;
    for j in 0..gone {
        let id = ResourceId::new(
            format!("team-{}", j % 20),
            "configmap",
            format!("orphan-{j}"),
        );
        let object = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": id.name(), "namespace": id.namespace(),
                "labels": {GC_MARK_LABEL: options.sync_set.gc_mark(&id)},
                "annotations": {CHECKSUM_ANNOTATION: "1".repeat(40)}},
            "data": {"key": "value"}});
        live.push(frozen(id, &served(object, 50_000 + j)));
    }
    let marked = live.len();
    // export_workloads returns namespaces and workloads a second time.
    let exported: Vec<LiveObject> = live
        .iter()
        .filter(|o| {
            WORKLOAD_KINDS
                .iter()
                .any(|k| k.eq_ignore_ascii_case(o.id.kind()))
        })
        .cloned()
        .collect();
    live.extend(exported);
    for ns in (0..crate::NAMESPACES)
        .map(|i| format!("team-{i}"))
        .chain(["default".to_owned()])
    {
        live.push(frozen(
            ResourceId::cluster("namespace", ns.as_str()),
            &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
        ));
    }
    SyncWorld {
        desired,
        live,
        options,
        marked,
        up_to_date,
        changed,
        new,
        gone,
    }
}

/// A generated live object (small: it always freezes).
fn frozen(id: ResourceId, object: &Value) -> LiveObject {
    LiveObject::new(id, object).expect("a generated object is small")
}
