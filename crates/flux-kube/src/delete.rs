//! Deleting objects by resource ID (garbage collection).
//!
//! A resource ID names a kind without its group, so the kind is taken from
//! what was seen when the object was listed or applied; failing that, from
//! discovery, refusing when several groups serve a kind of that name
//! rather than guessing. Deletes run in the reverse of the apply order
//! (what depends on others first), concurrently within each step, with
//! background propagation as `kubectl delete` does; an object already gone
//! counts as deleted.

use std::collections::BTreeMap;

use flux_core::ResourceId;
use flux_core::cluster::{ClusterError, ClusterErrorKind, PerObject, fenced_error};
use flux_core::fence::WriteGate;
use futures::StreamExt as _;
use kube::api::DeleteParams;
use kube::core::Request;
use kube::discovery::ApiResource;

use crate::error::cluster_error;
use crate::{KubeCluster, allowed, collection_path, not_allowed, rank};

/// Deletes `ids`, asking `gate` before each request.
pub(crate) async fn delete(
    cluster: &KubeCluster,
    ids: &[ResourceId],
    gate: &dyn WriteGate,
) -> PerObject<()> {
    let _writing = cluster.recent.writing();
    let mut results: Vec<Option<Result<(), ClusterError>>> = ids.iter().map(|_| None).collect();
    let mut tiers: BTreeMap<std::cmp::Reverse<u8>, Vec<usize>> = BTreeMap::new();
    for (i, id) in ids.iter().enumerate() {
        tiers
            .entry(std::cmp::Reverse(rank(id.kind())))
            .or_default()
            .push(i);
    }
    for indices in tiers.values() {
        let done: Vec<(usize, Result<(), ClusterError>)> =
            futures::stream::iter(indices.iter().copied())
                .map(|i| async move {
                    if let Err(why) = gate.check() {
                        return (i, Err(fenced_error(&ids[i], &why)));
                    }
                    (i, delete_one(cluster, &ids[i]).await)
                })
                .buffer_unordered(cluster.options.concurrency.max(1))
                .collect()
                .await;
        for (i, r) in done {
            results[i] = Some(r);
        }
    }
    ids.iter()
        .zip(results)
        .map(|(id, r)| {
            let r = r.unwrap_or_else(|| {
                Err(ClusterError::new(
                    ClusterErrorKind::Other,
                    Some(id.clone()),
                    "not deleted",
                ))
            });
            (id.clone(), r)
        })
        .collect()
}

async fn kind_of(
    cluster: &KubeCluster,
    id: &ResourceId,
) -> Result<(ApiResource, bool), ClusterError> {
    let discover = |e| cluster_error(Some(id), "discover the API", e);
    if let Some(ar) = cluster.recall(id) {
        let snap = cluster.discovery.snapshot().await.map_err(discover)?;
        let namespaced = snap
            .get(&ar.group, &ar.version, &ar.kind)
            .map_or(id.namespace().is_some(), |s| s.namespaced);
        return Ok((ar, namespaced));
    }
    match cluster
        .discovery
        .resolve_id_kind(id.kind())
        .await
        .map_err(discover)?
    {
        Ok(s) => Ok((s.ar, s.namespaced)),
        Err(message) => Err(ClusterError::new(
            ClusterErrorKind::Invalid,
            Some(id.clone()),
            message,
        )),
    }
}

async fn delete_one(cluster: &KubeCluster, id: &ResourceId) -> Result<(), ClusterError> {
    if !allowed(id, &cluster.options.namespaces) {
        return Err(not_allowed(id));
    }
    let (ar, namespaced) = kind_of(cluster, id).await?;
    let ns = if namespaced {
        Some(id.namespace().ok_or_else(|| {
            ClusterError::new(
                ClusterErrorKind::Invalid,
                Some(id.clone()),
                format!("{} is namespaced but the ID has no namespace", ar.kind),
            )
        })?)
    } else {
        None
    };
    let path = collection_path(&ar, ns);
    let dp = DeleteParams::background();
    match cluster
        .send(|| Request::new(&path).delete(id.name(), &dp))
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(cluster_error(
            Some(id),
            &format!("delete {} {} {}", ar.api_version, ar.kind, id.name()),
            e,
        )),
    }
}
