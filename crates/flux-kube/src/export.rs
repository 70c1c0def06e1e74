//! Reading the cluster: the namespaces and workloads `fluxctl
//! list-workloads` and automation look at, and every object carrying the
//! garbage-collection mark.
//!
//! Both follow Flux v1: kinds the server does not serve, and kinds or
//! namespaces the identity may not read, are skipped with a log line rather
//! than failing (a limited service account sees what it may); objects with
//! owner references are not Flux's to collect; kube-system add-ons are not
//! exported.

use std::collections::HashSet;

use flux_core::ResourceId;
use flux_core::cluster::{ClusterError, LiveObject, Namespaces};
use futures::StreamExt as _;
use kube::api::{GetParams, ListParams};
use kube::core::Request;
use serde_json::Value;

use crate::discovery::Served;
use crate::error::cluster_error;
use crate::{KubeCluster, allowed, collection_path};

/// The workload kinds, by group, in the order they are exported.
const WORKLOADS: &[(&str, &str)] = &[
    ("apps", "Deployment"),
    ("apps", "DaemonSet"),
    ("apps", "StatefulSet"),
    ("batch", "CronJob"),
    ("helm.fluxcd.io", "HelmRelease"),
    ("flux.weave.works", "HelmRelease"),
];

/// A kind and what listing it found (`None`: skipped).
type Listed = (Served, Option<Vec<Value>>);

/// Kinds never listed for garbage collection: server-made, numerous, and
/// never synced from git.
const NOT_COLLECTED: &[(&str, &str)] = &[
    ("", "Event"),
    ("events.k8s.io", "Event"),
    ("", "Endpoints"),
    ("discovery.k8s.io", "EndpointSlice"),
    ("", "ComponentStatus"),
];

/// Whether a failed read just means "skip this": the kind is not served,
/// or the identity may not read it.
fn skippable(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if matches!(s.code, 403..=405))
}

fn is_addon(obj: &Value) -> bool {
    if obj.pointer("/metadata/namespace").and_then(Value::as_str) != Some("kube-system") {
        return false;
    }
    let label = |k: &str| {
        obj.pointer("/metadata/labels")
            .and_then(|l| l.get(k))
            .and_then(Value::as_str)
    };
    label("kubernetes.io/cluster-service") == Some("true")
        || matches!(
            label("addonmanager.kubernetes.io/mode"),
            Some("EnsureExists" | "Reconcile")
        )
}

/// The items of a list, with apiVersion and kind filled in (list items of
/// built-in kinds come without them).
fn items(list: Value, served: &Served) -> Vec<Value> {
    let Value::Object(mut m) = list else {
        return Vec::new();
    };
    let Some(Value::Array(items)) = m.remove("items") else {
        return Vec::new();
    };
    items
        .into_iter()
        .map(|mut item| {
            if let Some(o) = item.as_object_mut() {
                o.entry("apiVersion")
                    .or_insert_with(|| served.ar.api_version.clone().into());
                o.entry("kind")
                    .or_insert_with(|| served.ar.kind.clone().into());
            }
            item
        })
        .collect()
}

fn id_of(obj: &Value, served: &Served) -> Option<ResourceId> {
    let name = obj.pointer("/metadata/name").and_then(Value::as_str)?;
    Some(if served.namespaced {
        ResourceId::new(
            obj.pointer("/metadata/namespace").and_then(Value::as_str)?,
            &served.ar.kind,
            name,
        )
    } else {
        ResourceId::cluster(&served.ar.kind, name)
    })
}

/// Lists a kind in one namespace or cluster-wide; `None` when skipped.
async fn list(
    cluster: &KubeCluster,
    served: &Served,
    ns: Option<&str>,
    lp: &ListParams,
) -> Result<Option<Vec<Value>>, ClusterError> {
    let path = collection_path(&served.ar, ns);
    match cluster.send(|| Request::new(&path).list(lp)).await {
        Ok(list) => Ok(Some(items(list, served))),
        Err(e) if skippable(&e) => {
            tracing::info!(kind = %served.ar.kind, namespace = ns.unwrap_or("<all>"), error = %e, "not listing a kind the server does not serve or we may not read");
            Ok(None)
        }
        Err(e) => Err(cluster_error(
            None,
            &format!(
                "list {} {} in {}",
                served.ar.api_version,
                served.ar.plural,
                ns.unwrap_or("all namespaces")
            ),
            e,
        )),
    }
}

/// The allowed namespaces that exist (with their objects).
async fn namespaces(
    cluster: &KubeCluster,
    allowed_ns: &Namespaces,
) -> Result<Vec<Value>, ClusterError> {
    let snap = cluster
        .discovery
        .snapshot()
        .await
        .map_err(|e| cluster_error(None, "discover the API", e))?;
    let Some(ns_kind) = snap.get("", "v1", "Namespace").cloned() else {
        return Ok(Vec::new());
    };
    match allowed_ns {
        Namespaces::All => Ok(list(cluster, &ns_kind, None, &ListParams::default())
            .await?
            .unwrap_or_default()),
        Namespaces::Only(set) => {
            let path = collection_path(&ns_kind.ar, None);
            let mut out = Vec::new();
            for name in set {
                match cluster
                    .send(|| Request::new(&path).get(name, &GetParams::default()))
                    .await
                {
                    Ok(mut ns) => {
                        if let Some(o) = ns.as_object_mut() {
                            o.entry("apiVersion").or_insert_with(|| "v1".into());
                            o.entry("kind").or_insert_with(|| "Namespace".into());
                        }
                        out.push(ns);
                    }
                    Err(e) if skippable(&e) => {
                        tracing::warn!(namespace = %name, error = %e, "cannot access allowed namespace");
                    }
                    Err(e) => return Err(cluster_error(None, &format!("get namespace {name}"), e)),
                }
            }
            Ok(out)
        }
    }
}

pub(crate) async fn export_workloads(
    cluster: &KubeCluster,
    allowed_ns: &Namespaces,
) -> Result<Vec<LiveObject>, ClusterError> {
    let nss = namespaces(cluster, allowed_ns).await?;
    let names: Vec<String> = nss
        .iter()
        .filter_map(|n| {
            n.pointer("/metadata/name")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .collect();
    let mut out: Vec<LiveObject> = nss
        .into_iter()
        .filter_map(|n| {
            let name = n
                .pointer("/metadata/name")
                .and_then(Value::as_str)?
                .to_owned();
            Some(LiveObject {
                id: ResourceId::cluster("Namespace", name),
                object: n,
            })
        })
        .collect();
    let snap = cluster
        .discovery
        .snapshot()
        .await
        .map_err(|e| cluster_error(None, "discover the API", e))?;
    let mut jobs: Vec<(Served, Option<String>)> = Vec::new();
    for (group, kind) in WORKLOADS {
        let Some(served) = snap.by_kind(kind).iter().find(|s| s.ar.group == *group) else {
            continue;
        };
        match allowed_ns {
            Namespaces::All => jobs.push((served.clone(), None)),
            Namespaces::Only(_) => {
                jobs.extend(names.iter().map(|n| (served.clone(), Some(n.clone()))))
            }
        }
    }
    let lp = &ListParams::default();
    let listed: Vec<Result<Listed, ClusterError>> = futures::stream::iter(jobs)
        .map(|(s, ns)| async move {
            let r = list(cluster, &s, ns.as_deref(), lp).await?;
            Ok((s, r))
        })
        .buffered(cluster.options.concurrency.max(1))
        .collect()
        .await;
    for r in listed {
        let (served, objs) = r?;
        for obj in objs.unwrap_or_default() {
            if is_addon(&obj) {
                continue;
            }
            if let Some(id) = id_of(&obj, &served) {
                cluster.remember(&id, &served.ar);
                out.push(LiveObject { id, object: obj });
            }
        }
    }
    Ok(out)
}

pub(crate) async fn list_managed(
    cluster: &KubeCluster,
    label: &str,
    allowed_ns: &Namespaces,
) -> Result<Vec<LiveObject>, ClusterError> {
    let snap = cluster
        .discovery
        .snapshot()
        .await
        .map_err(|e| cluster_error(None, "discover the API", e))?;
    let lp = ListParams::default().labels(label);
    let mut jobs: Vec<(Served, Option<String>)> = Vec::new();
    for s in snap.preferred() {
        if !s.listable || NOT_COLLECTED.contains(&(s.ar.group.as_str(), s.ar.kind.as_str())) {
            continue;
        }
        match (s.namespaced, allowed_ns) {
            (true, Namespaces::Only(set)) => {
                jobs.extend(set.iter().map(|n| (s.clone(), Some(n.clone()))))
            }
            _ => jobs.push((s.clone(), None)),
        }
    }
    let lp = &lp;
    let listed: Vec<Result<Listed, ClusterError>> = futures::stream::iter(jobs)
        .map(|(s, ns)| async move {
            let r = list(cluster, &s, ns.as_deref(), lp).await?;
            Ok((s, r))
        })
        // In order, so which of two clashing objects is kept is stable.
        .buffered(cluster.options.concurrency.max(1))
        .collect()
        .await;
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for r in listed {
        let (served, objs) = r?;
        for obj in objs.unwrap_or_default() {
            let owned = obj
                .pointer("/metadata/ownerReferences")
                .and_then(Value::as_array)
                .is_some_and(|o| !o.is_empty());
            if owned {
                continue;
            }
            let Some(id) = id_of(&obj, &served) else {
                continue;
            };
            if !allowed(&id, allowed_ns) {
                continue;
            }
            if !seen.insert(id.clone()) {
                tracing::warn!(%id, group = %served.ar.group, "two API groups serve an object with this ID; keeping the first");
                continue;
            }
            cluster.remember(&id, &served.ar);
            out.push(LiveObject { id, object: obj });
        }
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(out)
}
