//! [`WatchedCluster`] as flux-core's [`Cluster`]: reads answered from the
//! caches (filtered to the namespaces asked for, the cached documents
//! handed out shared), writes sent through [`crate::KubeCluster`] with the write gate
//! asked before each request, then waited for until the caches show them.

use std::collections::HashSet;

use flux_core::ResourceId;
use flux_core::cluster::{
    Applied, ApplyObject, Cluster, ClusterError, LiveObject, LiveRead, Namespaces, PerObject,
};
use flux_core::fence::{Open, WriteGate};
use flux_core::registry::Credentials;

use super::WatchedCluster;
use super::read;

/// Whether everything `requested` allows is inside `watched`.
fn covers(watched: &Namespaces, requested: &Namespaces) -> bool {
    match (watched, requested) {
        (Namespaces::All, _) => true,
        (Namespaces::Only(w), Namespaces::Only(r)) => r.is_subset(w),
        (Namespaces::Only(_), Namespaces::All) => false,
    }
}

/// Whether resourceVersion `have` is at or after `want`.
fn caught_up(have: Option<&str>, want: &str) -> bool {
    match (
        have.and_then(|h| h.parse::<u64>().ok()),
        want.parse::<u64>(),
    ) {
        (Some(h), Ok(w)) => h >= w,
        _ => have == Some(want),
    }
}

#[async_trait::async_trait]
impl Cluster for WatchedCluster {
    async fn export_workloads(
        &self,
        namespaces: &Namespaces,
    ) -> Result<Vec<LiveObject>, ClusterError> {
        if !covers(&self.inner.kube.options.namespaces, namespaces) {
            return self.inner.kube.export_workloads(namespaces).await;
        }
        let (snap, cols) = self.before_read().await?;
        Ok(read::export(&cols, &snap, namespaces))
    }

    async fn list_managed(
        &self,
        label: &str,
        namespaces: &Namespaces,
    ) -> Result<Vec<LiveObject>, ClusterError> {
        if label != self.inner.options.label
            || !covers(&self.inner.kube.options.namespaces, namespaces)
        {
            return self.inner.kube.list_managed(label, namespaces).await;
        }
        let (snap, cols) = self.before_read().await?;
        Ok(
            read::managed(&cols, &snap, label, namespaces, &HashSet::new())
                .into_iter()
                .map(|(o, _)| o)
                .collect(),
        )
    }

    /// Both lists from the stores, each object once: a marked workload or
    /// namespace is in `exported` only.
    async fn read_live(
        &self,
        label: &str,
        namespaces: &Namespaces,
    ) -> Result<LiveRead, ClusterError> {
        if label != self.inner.options.label
            || !covers(&self.inner.kube.options.namespaces, namespaces)
        {
            let exported = self.export_workloads(namespaces).await?;
            let managed = self.list_managed(label, namespaces).await?;
            return Ok(LiveRead { exported, managed });
        }
        let (snap, cols) = self.before_read().await?;
        let exported = read::export(&cols, &snap, namespaces);
        let have: HashSet<&ResourceId> = exported.iter().map(|o| &o.id).collect();
        let managed = read::managed(&cols, &snap, label, namespaces, &have)
            .into_iter()
            .map(|(o, _)| o)
            .collect();
        Ok(LiveRead { exported, managed })
    }

    async fn apply(&self, objects: &[ApplyObject]) -> PerObject<Applied> {
        self.apply_gated(objects, &Open).await
    }

    /// Asks `gate` before each object's request.
    async fn apply_gated(
        &self,
        objects: &[ApplyObject],
        gate: &dyn WriteGate,
    ) -> PerObject<Applied> {
        let inner = &self.inner;
        inner
            .hub
            .with_own(|o| o.begin(objects.iter().map(|o| &o.id)));
        let results = crate::apply::apply_with(&inner.kube, objects, gate).await;
        // What was written, as (the object's ID, its resourceVersion,
        // whether it carries the GC mark), borrowed from the results.
        let mut written: Vec<(&ResourceId, &str, bool)> = Vec::new();
        let mut crds = false;
        for ((id, (r, rv)), o) in results.iter().zip(objects) {
            let rv = rv.as_deref().filter(|_| r.is_ok());
            let released = inner.hub.with_own(|own| own.applied(id, rv));
            inner.hub.release(released);
            if let Some(rv) = rv {
                let marked = o
                    .object
                    .pointer(&["metadata", "labels", &inner.options.label])
                    .is_some();
                written.push((id, rv, marked));
                crds |= id.kind() == "customresourcedefinition";
            }
        }
        if crds {
            if let Err(e) = inner.rediscover().await {
                tracing::warn!(error = %e, "cannot read discovery after applying CRDs");
            }
        } else {
            inner.follow_discovery().await;
        }
        if !written.is_empty() {
            inner
                .settle("the applied objects", |cols| {
                    written.iter().all(|&(id, rv, marked)| {
                        let mut holders = read::holders(cols, id, marked).peekable();
                        holders.peek().is_none()
                            || holders.any(|c| {
                                !c.usable()
                                    || c.get(id.namespace(), id.name())
                                        .is_some_and(|o| caught_up(o.resource_version(), rv))
                            })
                    })
                })
                .await;
        }
        results.into_iter().map(|(id, (r, _))| (id, r)).collect()
    }

    async fn delete(&self, ids: &[ResourceId]) -> PerObject<()> {
        self.delete_gated(ids, &Open).await
    }

    /// Asks `gate` before each object's request.
    async fn delete_gated(&self, ids: &[ResourceId], gate: &dyn WriteGate) -> PerObject<()> {
        let inner = &self.inner;
        {
            let cols = inner.read_collections();
            for id in ids {
                if let Some(c) = read::holders(&cols, id, true)
                    .find(|c| c.get(id.namespace(), id.name()).is_some())
                {
                    inner.kube.remember(id, &c.spec.served.ar);
                }
            }
        }
        inner.hub.with_own(|o| o.begin(ids));
        let results = inner.kube.delete_gated(ids, gate).await;
        for (id, r) in &results {
            let released = inner.hub.with_own(|o| o.deleted(id, r.is_ok()));
            inner.hub.release(released);
        }
        inner
            .settle("the deletions", |cols| {
                results.iter().filter(|(_, r)| r.is_ok()).all(|(id, _)| {
                    read::holders(cols, id, true)
                        .all(|c| !c.usable() || c.get(id.namespace(), id.name()).is_none())
                })
            })
            .await;
        results
    }

    async fn image_pull_secrets(&self, workload: &ResourceId) -> Result<Credentials, ClusterError> {
        self.inner.kube.image_pull_secrets(workload).await
    }

    async fn scopes(&self) -> Result<flux_core::ScopeTable, ClusterError> {
        self.inner.kube.scopes().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coverage_and_resource_versions() {
        let ab = Namespaces::from_list(&["a", "b"]);
        let a = Namespaces::from_list(&["a"]);
        assert!(covers(&Namespaces::All, &ab));
        assert!(covers(&ab, &a));
        assert!(!covers(&a, &ab));
        assert!(!covers(&ab, &Namespaces::All));
        assert!(caught_up(Some("10"), "9"));
        assert!(caught_up(Some("9"), "9"));
        assert!(!caught_up(Some("8"), "9"));
        assert!(!caught_up(None, "9"));
        assert!(caught_up(Some("x"), "x"));
    }
}
