//! Sync against cluster adapters that misbehave: results that go missing,
//! objects another writer changes right after Flux applied them.

use flux_core::cluster::{Applied, ApplyObject, Cluster, ClusterError, LiveObject, PerObject};
use flux_core::registry::Credentials;
use flux_core::sync::{CHECKSUM_ANNOTATION, GcMode, plan_sync, read_live, run};
use flux_core::testing::{MemoryCluster, block_on};
use flux_core::{Namespaces, ResourceId};
use serde_json::json;

use super::cases::{cm, id, load, options, orphan};

/// A cluster adapter that loses the last result of every apply.
struct Lossy(MemoryCluster);

#[async_trait::async_trait]
impl Cluster for Lossy {
    async fn export_workloads(&self, ns: &Namespaces) -> Result<Vec<LiveObject>, ClusterError> {
        self.0.export_workloads(ns).await
    }
    async fn list_managed(
        &self,
        l: &str,
        ns: &Namespaces,
    ) -> Result<Vec<LiveObject>, ClusterError> {
        self.0.list_managed(l, ns).await
    }
    async fn apply(&self, objects: &[ApplyObject]) -> PerObject<Applied> {
        let mut results = self.0.apply(objects).await;
        results.pop();
        results
    }
    async fn delete(&self, ids: &[ResourceId]) -> PerObject<()> {
        self.0.delete(ids).await
    }
    async fn image_pull_secrets(&self, w: &ResourceId) -> Result<Credentials, ClusterError> {
        self.0.image_pull_secrets(w).await
    }
}

#[test]
fn a_missing_apply_result_counts_as_a_failure() {
    let cluster = Lossy(MemoryCluster::with_namespaces(&["demo"]));
    let gone = orphan(&cluster.0, "cases", "gone");
    let desired = load(&[(
        "c.yaml",
        &format!("{}---\n{}", cm("x", "1"), cm("second", "1")),
    )]);
    let report = block_on(run(&cluster, &desired, &options(GcMode::On))).unwrap();
    let errors: Vec<String> = report.apply_errors().map(|(_, e)| e.to_string()).collect();
    assert_eq!(
        errors,
        ["demo:configmap/x: apply: the cluster returned no result"]
    );
    assert!(cluster.0.get(&gone).is_some());
}

/// An adapter after whose applies another writer (a mutating webhook, a
/// second controller) at once rewrites the checksum annotation of one
/// object.
struct Rewritten {
    inner: MemoryCluster,
    target: ResourceId,
}

#[async_trait::async_trait]
impl Cluster for Rewritten {
    async fn export_workloads(&self, ns: &Namespaces) -> Result<Vec<LiveObject>, ClusterError> {
        self.inner.export_workloads(ns).await
    }
    async fn list_managed(
        &self,
        l: &str,
        ns: &Namespaces,
    ) -> Result<Vec<LiveObject>, ClusterError> {
        self.inner.list_managed(l, ns).await
    }
    async fn apply(&self, objects: &[ApplyObject]) -> PerObject<Applied> {
        let results = self.inner.apply(objects).await;
        self.inner.set_field(
            &self.target,
            &["metadata", "annotations", CHECKSUM_ANNOTATION],
            json!("rewritten"),
        );
        results
    }
    async fn delete(&self, ids: &[ResourceId]) -> PerObject<()> {
        self.inner.delete(ids).await
    }
    async fn image_pull_secrets(&self, w: &ResourceId) -> Result<Credentials, ClusterError> {
        self.inner.image_pull_secrets(w).await
    }
}

/// Flux v1 warned that such an object "has not been updated" and did not
/// delete it; so does this sync, and the next sync applies it again.
#[test]
fn an_object_whose_checksum_changed_after_apply_is_reported_and_kept() {
    let x = id("demo:configmap/x");
    let cluster = Rewritten {
        inner: MemoryCluster::with_namespaces(&["demo"]),
        target: x.clone(),
    };
    let gone = orphan(&cluster.inner, "cases", "gone");
    let desired = load(&[("c.yaml", &format!("{}---\n{}", cm("x", "1"), cm("z", "1")))]);
    let o = options(GcMode::On);
    let report = block_on(run(&cluster, &desired, &o)).unwrap();
    assert_eq!(report.gc.not_updated, std::slice::from_ref(&x));
    assert!(cluster.inner.get(&x).is_some());
    // It does not stop the collection of real garbage.
    assert!(cluster.inner.get(&gone).is_none());
    assert!(report.is_clean());

    let live = block_on(read_live(&cluster, &o)).unwrap();
    let plan = plan_sync(&desired, &live, &o);
    let applies: Vec<&ResourceId> = plan.applies().map(|a| &a.id).collect();
    assert_eq!(applies, [&x]);
}
