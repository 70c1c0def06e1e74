//! Deleting by resource ID.

use flux_core::Cluster;
use flux_core::ResourceId;
use flux_core::cluster::{ClusterErrorKind, Namespaces};

use crate::{APP, Bed, CRD, MARK, objects};

#[tokio::test]
async fn deletes_what_it_is_told_and_tolerates_what_is_gone() {
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
    let ids: Vec<ResourceId> = [
        "demo:configmap/cfg",
        "demo:helmrelease/podinfo",
        "<cluster>:clusterrole/reader",
        "demo:secret/never-existed",
    ]
    .iter()
    .map(|s| s.parse().unwrap())
    .collect();
    let r = bed.cluster.delete(&ids).await;
    assert!(r.iter().all(|(_, r)| r.is_ok()), "{r:?}");
    assert!(bed.object("", "configmaps", "demo", "cfg").is_none());
    assert!(
        bed.object("helm.fluxcd.io", "helmreleases", "demo", "podinfo")
            .is_none()
    );
    assert!(
        bed.object("rbac.authorization.k8s.io", "clusterroles", "", "reader")
            .is_none()
    );
    assert!(bed.object("apps", "deployments", "demo", "web").is_some());
    let left = bed
        .cluster
        .list_managed(MARK, &Namespaces::All)
        .await
        .unwrap();
    assert!(left.iter().all(|o| !ids.contains(&o.id)));
    // A kind nobody serves is an error, not a guess.
    let r = bed.cluster.delete(&["demo:gizmo/x".parse().unwrap()]).await;
    assert_eq!(r[0].1.as_ref().unwrap_err().kind, ClusterErrorKind::Invalid);
}
