//! Throttling and server errors are retried; a dropped connection fails
//! the object cleanly.

use flux_core::Cluster;
use flux_core::cluster::ClusterErrorKind;
use kube_emulator::{FaultAction, FaultRule};

use crate::{APP, Bed, objects};

#[tokio::test]
async fn throttling_and_server_errors_are_retried() {
    let bed = Bed::new().await;
    bed.server.faults().add(
        FaultRule::always(FaultAction::Status {
            code: 429,
            retry_after: Some(0),
        })
        .method("PATCH")
        .times(2),
    );
    bed.server.faults().add(
        FaultRule::always(FaultAction::Status {
            code: 500,
            retry_after: None,
        })
        .method("PATCH")
        .times(1),
    );
    bed.server.faults().add(
        FaultRule::always(FaultAction::Status {
            code: 503,
            retry_after: None,
        })
        .method("GET")
        .path("/configmaps")
        .times(1),
    );
    let r = bed.cluster.apply(&objects(APP)).await;
    assert!(r.iter().all(|(_, r)| r.is_ok()), "{r:?}");
    assert!(bed.server.faults().rules().is_empty(), "every fault fired");
    assert!(bed.object("", "configmaps", "demo", "cfg").is_some());
}

#[tokio::test]
async fn persistent_server_errors_give_up_with_the_status() {
    let bed = Bed::new().await;
    assert!(
        bed.cluster
            .apply(&objects(APP))
            .await
            .iter()
            .all(|(_, r)| r.is_ok())
    );
    bed.server.faults().add(
        FaultRule::always(FaultAction::Status {
            code: 500,
            retry_after: None,
        })
        .method("PATCH")
        .path("/configmaps/"),
    );
    let mut objs = objects(APP);
    let cm = objs
        .iter_mut()
        .find(|o| o.id.kind() == "configmap")
        .unwrap();
    crate::edit(cm, |v| v["data"]["a"] = serde_json::json!("2"));
    let r = bed.cluster.apply(&objs).await;
    let (_, cm) = r.iter().find(|(id, _)| id.kind() == "configmap").unwrap();
    let e = cm.as_ref().unwrap_err();
    assert_eq!(e.kind, ClusterErrorKind::Unavailable);
    assert!(e.message.contains("HTTP 500"), "{e}");
    assert_eq!(r.iter().filter(|(_, r)| r.is_err()).count(), 1);
}

#[tokio::test]
async fn a_dropped_connection_fails_the_object_cleanly() {
    let bed = Bed::new().await;
    bed.server.faults().add(
        FaultRule::always(FaultAction::Drop)
            .method("PATCH")
            .path("/deployments/"),
    );
    let r = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        bed.cluster.apply(&objects(APP)),
    )
    .await
    .expect("no hang");
    let (_, d) = r.iter().find(|(id, _)| id.kind() == "deployment").unwrap();
    let e = d.as_ref().unwrap_err();
    assert_eq!(e.kind, ClusterErrorKind::Unavailable);
    assert!(
        e.to_string()
            .starts_with("demo:deployment/web: apply apps/v1 Deployment demo/web: "),
        "{e}"
    );
    assert!(bed.object("apps", "deployments", "demo", "web").is_none());
    assert_eq!(
        r.iter().filter(|(_, r)| r.is_ok()).count(),
        r.len() - 1,
        "the rest is applied"
    );
}
