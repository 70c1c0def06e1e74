//! Reading the cluster: the namespaces and workloads `fluxctl
//! list-workloads` and automation look at, and every object carrying the
//! garbage-collection mark.
//!
//! Objects are read without their `metadata.managedFields` (nothing that
//! reads them needs those; see [`crate::lean`]).
//!
//! Both follow Flux v1: kinds the server does not serve, and kinds or
//! namespaces the identity may not read, are skipped with a log line rather
//! than failing (a limited service account sees what it may); objects with
//! owner references are not Flux's to collect; kube-system add-ons are not
//! exported.

use std::collections::HashSet;

use flux_core::ResourceId;
use flux_core::cluster::{ClusterError, ClusterErrorKind, LiveObject, Namespaces};
use futures::StreamExt as _;
use kube::api::{GetParams, ListParams};
use kube::core::Request;
use serde_json::Value;

use crate::discovery::Served;
use crate::error::cluster_error;
use crate::{KubeCluster, allowed, collection_path};
use crate::{lean, reuse};

/// The workload kinds, by group, in the order they are exported.
pub(crate) const WORKLOADS: &[(&str, &str)] = &[
    ("apps", "Deployment"),
    ("apps", "DaemonSet"),
    ("apps", "StatefulSet"),
    ("batch", "CronJob"),
    ("helm.fluxcd.io", "HelmRelease"),
    ("flux.weave.works", "HelmRelease"),
];

/// A kind, the namespace it was listed in, and what listing it found
/// (`None`: skipped).
type Listed = (Served, Option<String>, Option<Vec<Value>>);

fn key(served: &Served, ns: Option<&str>) -> reuse::Key {
    (
        served.ar.api_version.clone(),
        served.ar.plural.clone(),
        ns.map(str::to_owned),
    )
}

/// Kinds never listed for garbage collection: server-made, numerous, and
/// never synced from git.
pub(crate) const NOT_COLLECTED: &[(&str, &str)] = &[
    ("", "Event"),
    ("events.k8s.io", "Event"),
    ("", "Endpoints"),
    ("discovery.k8s.io", "EndpointSlice"),
    ("", "ComponentStatus"),
];

/// Whether the GC listing reads a kind: listable, and not one of
/// [`NOT_COLLECTED`].
pub(crate) fn collected(s: &Served) -> bool {
    s.listable && !NOT_COLLECTED.contains(&(s.ar.group.as_str(), s.ar.kind.as_str()))
}

/// Whether another object owns `obj` (then it is not Flux's to collect).
pub(crate) fn owned(obj: &Value) -> bool {
    obj.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .is_some_and(|o| !o.is_empty())
}

/// Whether a failed read just means "skip this": the kind is not served,
/// or the identity may not read it.
fn skippable(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if matches!(s.code, 403..=405))
}

/// Whether an object in `namespace` whose labels `label` reads is a
/// cluster add-on (in `kube-system`, managed by the add-on manager): not
/// exported, as in Flux v1.
pub(crate) fn is_addon<'a>(
    namespace: Option<&str>,
    label: impl Fn(&str) -> Option<&'a str>,
) -> bool {
    if namespace != Some("kube-system") {
        return false;
    }
    label("kubernetes.io/cluster-service") == Some("true")
        || matches!(
            label("addonmanager.kubernetes.io/mode"),
            Some("EnsureExists" | "Reconcile")
        )
}

/// The items of a list, with apiVersion and kind filled in (list items of
/// built-in kinds come without them).
fn items(list: lean::List, served: &Served) -> Vec<Value> {
    list.items
        .unwrap_or_default()
        .into_iter()
        .map(|lean::Lean(mut item)| {
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

/// A listed object as a live object (frozen).
fn live(id: ResourceId, obj: &Value) -> Result<LiveObject, ClusterError> {
    LiveObject::new(id.clone(), obj)
        .map_err(|e| ClusterError::new(ClusterErrorKind::Other, Some(id), e.to_string()))
}

pub(crate) fn id_of(obj: &Value, served: &Served) -> Option<ResourceId> {
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

/// Lists a kind in one namespace or cluster-wide, without the objects'
/// managedFields (see [`crate::lean`]); `None` when skipped.
async fn list(
    cluster: &KubeCluster,
    served: &Served,
    ns: Option<&str>,
    lp: &ListParams,
) -> Result<Option<Vec<Value>>, ClusterError> {
    let path = collection_path(&served.ar, ns);
    match cluster
        .send_as::<lean::List>(|| Request::new(&path).list(lp))
        .await
    {
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
                    .send_as::<lean::Lean>(|| Request::new(&path).get(name, &GetParams::default()))
                    .await
                {
                    Ok(lean::Lean(mut ns)) => {
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

/// Lists each (kind, namespace) job, in order, `concurrency` at a time.
async fn list_jobs(
    cluster: &KubeCluster,
    jobs: Vec<(Served, Option<String>)>,
    lp: &ListParams,
) -> Vec<Result<Listed, ClusterError>> {
    futures::stream::iter(jobs)
        .map(|(s, ns)| async move {
            let r = list(cluster, &s, ns.as_deref(), lp).await?;
            Ok((s, ns, r))
        })
        .buffered(cluster.options.concurrency.max(1))
        .collect()
        .await
}

pub(crate) async fn export_workloads(
    cluster: &KubeCluster,
    allowed_ns: &Namespaces,
) -> Result<Vec<LiveObject>, ClusterError> {
    let epoch = cluster.recent.epoch();
    let began = tokio::time::Instant::now();
    let snap = cluster
        .discovery
        .snapshot()
        .await
        .map_err(|e| cluster_error(None, "discover the API", e))?;
    let kinds: Vec<Served> = WORKLOADS
        .iter()
        .filter_map(|(group, kind)| {
            snap.by_kind(kind)
                .iter()
                .find(|s| s.ar.group == *group)
                .cloned()
        })
        .collect();
    let lp = &ListParams::default();
    // Cluster-wide, the namespaces and the workloads are read at once;
    // limited to some namespaces, the workloads are read in those that exist.
    let (nss, listed) = match allowed_ns {
        Namespaces::All => {
            let jobs = kinds.into_iter().map(|s| (s, None)).collect();
            let (nss, listed) = futures::join!(
                namespaces(cluster, allowed_ns),
                list_jobs(cluster, jobs, lp)
            );
            (nss?, listed)
        }
        Namespaces::Only(_) => {
            let nss = namespaces(cluster, allowed_ns).await?;
            let jobs = kinds
                .iter()
                .flat_map(|s| {
                    nss.iter()
                        .filter_map(|n| n.pointer("/metadata/name").and_then(Value::as_str))
                        .map(|n| (s.clone(), Some(n.to_owned())))
                })
                .collect();
            let listed = list_jobs(cluster, jobs, lp).await;
            (nss, listed)
        }
    };
    let mut out: Vec<LiveObject> = nss
        .into_iter()
        .filter_map(|n| {
            let name = n.pointer("/metadata/name").and_then(Value::as_str)?;
            Some(live(ResourceId::cluster("Namespace", name), &n))
        })
        .collect::<Result<_, _>>()?;
    let mut keep = std::collections::HashMap::new();
    for r in listed {
        let (served, ns, objs) = r?;
        let Some(objs) = objs else { continue };
        for obj in &objs {
            let label = |k: &str| {
                obj.pointer("/metadata/labels")
                    .and_then(|l| l.get(k))
                    .and_then(Value::as_str)
            };
            let namespace = obj.pointer("/metadata/namespace").and_then(Value::as_str);
            if is_addon(namespace, label) {
                continue;
            }
            if let Some(id) = id_of(obj, &served) {
                cluster.remember(&id, &served.ar);
                out.push(live(id, obj)?);
            }
        }
        keep.insert(key(&served, ns.as_deref()), objs);
    }
    cluster.recent.keep(epoch, began, allowed_ns, keep);
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
    let mut reused = cluster
        .recent
        .take(allowed_ns)
        .filter(|_| reuse::is_plain_key(label));
    let mut jobs: Vec<(Served, Option<String>)> = Vec::new();
    for s in snap.preferred() {
        if !collected(s) {
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
    // The export's lists of these kinds, filtered here, if still good.
    let jobs: Vec<(Served, Option<String>, Option<Vec<Value>>)> = jobs
        .into_iter()
        .map(|(s, ns)| {
            let had = reused
                .as_mut()
                .and_then(|r| r.remove(&key(&s, ns.as_deref())))
                .map(|objs| {
                    objs.into_iter()
                        .filter(|o| reuse::has_label(o, label))
                        .collect()
                });
            (s, ns, had)
        })
        .collect();
    let listed: Vec<Result<Listed, ClusterError>> = futures::stream::iter(jobs)
        .map(|(s, ns, had)| async move {
            let r = match had {
                Some(objs) => Some(objs),
                None => list(cluster, &s, ns.as_deref(), lp).await?,
            };
            Ok((s, ns, r))
        })
        // In order, so which of two clashing objects is kept is stable.
        .buffered(cluster.options.concurrency.max(1))
        .collect()
        .await;
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for r in listed {
        let (served, _, objs) = r?;
        for obj in objs.unwrap_or_default() {
            if owned(&obj) {
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
            out.push(live(id, &obj)?);
        }
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(out)
}
