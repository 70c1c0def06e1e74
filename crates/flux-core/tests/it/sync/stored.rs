//! Up to date as the server stores objects: what the API server normalises
//! on write (a Secret's `stringData`, a cluster-scoped object's namespace)
//! does not make an applied object look changed.

use flux_core::cluster::Applied;
use flux_core::sync::{GcMode, SkipReason, plan_sync, read_live};
use flux_core::testing::{MemoryCluster, block_on};
use serde_json::json;

use super::cases::{id, load, options, sync};

/// The API server stores a Secret's `stringData` base64-encoded in `data`;
/// the planner compares in that form, so such a Secret is applied once and
/// then up to date, and a change to it is applied.
#[test]
fn secret_string_data_is_up_to_date_once_applied() {
    let cluster = MemoryCluster::with_namespaces(&["demo"]);
    let o = options(GcMode::On);
    let secret = |password: &str| {
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{name: creds, namespace: demo}}\ndata:\n  user: YWRtaW4=\n  password: b3ZlcndyaXR0ZW4=\nstringData:\n  password: {password}\n"
        )
    };
    let creds = id("demo:secret/creds");
    let desired = load(&[("s.yaml", &secret("hunter2"))]);
    assert!(sync(&cluster, &desired, &o).is_clean());
    let stored = cluster.get(&creds).expect("applied");
    assert_eq!(
        stored["data"],
        json!({"user": "YWRtaW4=", "password": "aHVudGVyMg=="})
    );
    assert!(stored.get("stringData").is_none());

    let live = block_on(read_live(&cluster, &o)).unwrap();
    let plan = plan_sync(&desired, &live, &o);
    assert_eq!(plan.skip_reason(&creds), Some(&SkipReason::UpToDate));
    assert!(plan.is_noop());

    // A new password in git is applied.
    let desired = load(&[("s.yaml", &secret("correct-horse"))]);
    let report = sync(&cluster, &desired, &o);
    assert!(matches!(&report.applied[..], [(i, Ok(Applied::Configured))] if *i == creds));
    assert_eq!(
        cluster.get(&creds).unwrap()["data"]["password"],
        "Y29ycmVjdC1ob3JzZQ=="
    );

    // Changed by hand in the cluster: applied again.
    cluster.set_field(&creds, &["data", "password"], json!("aGFja2Vk"));
    let live = block_on(read_live(&cluster, &o)).unwrap();
    assert_eq!(plan_sync(&desired, &live, &o).apply_count(), 1);
}

/// The API server drops the namespace a cluster-scoped object names; the
/// planner compares without it, so such an object is up to date once
/// applied.
#[test]
fn a_cluster_scoped_object_naming_a_namespace_is_up_to_date_once_applied() {
    let cluster = MemoryCluster::new();
    let o = options(GcMode::On);
    let role = |verb: &str| {
        format!(
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {{name: reader, namespace: stray}}\nrules:\n- {{apiGroups: [''], resources: [pods], verbs: [{verb}]}}\n"
        )
    };
    let reader = id("<cluster>:clusterrole/reader");
    let desired = load(&[("r.yaml", &role("get"))]);
    assert!(sync(&cluster, &desired, &o).is_clean());
    assert!(
        cluster.get(&reader).expect("applied")["metadata"]
            .get("namespace")
            .is_none()
    );
    let live = block_on(read_live(&cluster, &o)).unwrap();
    let plan = plan_sync(&desired, &live, &o);
    assert_eq!(plan.skip_reason(&reader), Some(&SkipReason::UpToDate));

    let desired = load(&[("r.yaml", &role("list"))]);
    let live = block_on(read_live(&cluster, &o)).unwrap();
    assert_eq!(plan_sync(&desired, &live, &o).apply_count(), 1);
}
