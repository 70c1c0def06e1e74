//! Applying objects: server-side apply as Flux's field manager, in Flux
//! v1's dependency order, concurrently within each step, skipping objects
//! the cluster already holds as wanted.
//!
//! For each step (namespaces; then CRDs, service accounts, roles,
//! services; then config; then workloads; then everything else):
//! 1. check the allow-list and resolve each kind through discovery;
//! 2. read what the cluster holds: one list per kind (and namespace when
//!    limited to some), narrowed to a label every object carries, or a GET
//!    per object when there are only a few;
//! 3. skip the objects [`crate::unchanged`] says an apply would not change;
//! 4. apply the others, at most `concurrency` at a time.
//!
//! Reads never make an apply fail: an object whose live state could not be
//! read is simply applied.
//!
//! The objects arrive frozen; each request body is made as JSON only while
//! that one object is checked or sent. The live objects are read from the
//! server, never from the watch caches: the unchanged check needs Flux's
//! managedFields entry, which the caches do not keep (it would be nearly
//! half of each cached object), and a sync only applies what it found
//! changed.

use std::collections::{BTreeMap, HashMap};

use flux_core::cluster::{
    Applied, ApplyObject, ClusterError, ClusterErrorKind, PerObject, fenced_error,
};
use flux_core::fence::WriteGate;
use flux_core::frozen::{Frozen, Node};
use futures::StreamExt as _;
use kube::api::{GetParams, ListParams, Patch, PatchParams};
use kube::core::Request;
use serde_json::Value;

use crate::discovery::Served;
use crate::error::cluster_error;
use crate::{KubeCluster, allowed, collection_path, not_allowed, rank};

/// Fewer objects than this of one kind (in one namespace) are read with
/// GETs rather than a list.
const LIST_THRESHOLD: usize = 3;

/// An object ready to apply.
struct Ready<'a> {
    index: usize,
    served: Served,
    namespace: Option<String>,
    name: String,
    object: &'a Frozen,
}

impl Ready<'_> {
    /// The request body.
    fn body(&self) -> Value {
        prepare(self.object)
    }
}

/// What the cluster holds for one object.
enum Live {
    Absent,
    Present(Value),
    Unknown,
}

/// What the cluster held for an object about to be applied: whether it
/// existed, and its resourceVersion.
enum Before {
    Absent,
    Present(Option<String>),
    Unknown,
}

/// The resourceVersion of an object as JSON.
fn resource_version(v: &Value) -> Option<String> {
    v.pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// Metadata the server owns: never sent, never compared.
fn prepare(object: &Frozen) -> Value {
    let mut v = object.to_value();
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        for k in [
            "managedFields",
            "resourceVersion",
            "uid",
            "selfLink",
            "creationTimestamp",
            "generation",
        ] {
            m.remove(k);
        }
    }
    v
}

fn describe(r: &Ready<'_>) -> String {
    match &r.namespace {
        Some(ns) => format!(
            "{} {} {ns}/{}",
            r.served.ar.api_version, r.served.ar.kind, r.name
        ),
        None => format!(
            "{} {} {}",
            r.served.ar.api_version, r.served.ar.kind, r.name
        ),
    }
}

/// What one apply wrote: the result, and the object's resourceVersion
/// after a write (`None` when nothing was written or it failed).
pub(crate) type Outcome = (Result<Applied, ClusterError>, Option<String>);

pub(crate) async fn apply(
    cluster: &KubeCluster,
    objects: &[ApplyObject],
    gate: &dyn WriteGate,
) -> PerObject<Applied> {
    apply_with(cluster, objects, gate)
        .await
        .into_iter()
        .map(|(id, (r, _))| (id, r))
        .collect()
}

/// [`apply`], asking `gate` before each write request, with the
/// resourceVersion each write left.
pub(crate) async fn apply_with(
    cluster: &KubeCluster,
    objects: &[ApplyObject],
    gate: &dyn WriteGate,
) -> Vec<(flux_core::ResourceId, Outcome)> {
    let _writing = cluster.recent.writing();
    let mut results: Vec<Option<Outcome>> = objects.iter().map(|_| None).collect();
    let mut tiers: BTreeMap<u8, Vec<usize>> = BTreeMap::new();
    for (i, o) in objects.iter().enumerate() {
        tiers.entry(rank(o.id.kind())).or_default().push(i);
    }
    for indices in tiers.values() {
        for (i, r) in apply_tier(cluster, objects, indices, gate).await {
            results[i] = Some(r);
        }
    }
    objects
        .iter()
        .zip(results)
        .map(|(o, r)| {
            let r = r.unwrap_or_else(|| {
                let e =
                    ClusterError::new(ClusterErrorKind::Other, Some(o.id.clone()), "not applied");
                (Err(e), None)
            });
            (o.id.clone(), r)
        })
        .collect()
}

async fn apply_tier(
    cluster: &KubeCluster,
    objects: &[ApplyObject],
    indices: &[usize],
    gate: &dyn WriteGate,
) -> Vec<(usize, Outcome)> {
    let mut out = Vec::with_capacity(indices.len());
    let mut ready = Vec::with_capacity(indices.len());
    for &i in indices {
        match prepare_one(cluster, &objects[i], i).await {
            Ok(r) => ready.push(r),
            Err(e) => out.push((i, (Err(e), None))),
        }
    }
    let live = read_from_server(cluster, &ready).await;
    let manager = cluster.options.field_manager.as_str();
    let mut to_apply = Vec::new();
    for (r, l) in ready.into_iter().zip(live) {
        let before = match l {
            Live::Present(current) if crate::unchanged(&r.body(), &current, manager) => {
                cluster.remember(&objects[r.index].id, &r.served.ar);
                out.push((r.index, (Ok(Applied::Unchanged), None)));
                continue;
            }
            Live::Present(current) => Before::Present(resource_version(&current)),
            Live::Absent => Before::Absent,
            Live::Unknown => Before::Unknown,
        };
        to_apply.push((r, before));
    }
    // Indices into `to_apply`: items borrowing from it would trip the
    // compiler's check that the future is `Send` for every lifetime.
    let to_apply = &to_apply;
    let done: Vec<(usize, Outcome)> = futures::stream::iter(0..to_apply.len())
        .map(|k| async move {
            let (r, before) = &to_apply[k];
            let id = &objects[r.index].id;
            if let Err(why) = gate.check() {
                return (r.index, (Err(fenced_error(id, &why)), None));
            }
            let res = patch_one(cluster, r, before)
                .await
                .map_err(|e| cluster_error(Some(id), &format!("apply {}", describe(r)), e));
            if res.is_ok() {
                cluster.remember(id, &r.served.ar);
            }
            let outcome = match res {
                Ok((applied, rv)) => (Ok(applied), rv),
                Err(e) => (Err(e), None),
            };
            (r.index, outcome)
        })
        .buffer_unordered(cluster.options.concurrency.max(1))
        .collect()
        .await;
    out.extend(done);
    out
}

async fn prepare_one<'a>(
    cluster: &KubeCluster,
    o: &'a ApplyObject,
    index: usize,
) -> Result<Ready<'a>, ClusterError> {
    let id = &o.id;
    if !allowed(id, &cluster.options.namespaces) {
        return Err(not_allowed(id));
    }
    let invalid = |m: String| ClusterError::new(ClusterErrorKind::Invalid, Some(id.clone()), m);
    let s = |p: &[&str]| {
        o.object
            .pointer(p)
            .and_then(Node::as_str)
            .map(str::to_owned)
    };
    let api_version =
        s(&["apiVersion"]).ok_or_else(|| invalid("the object has no apiVersion".into()))?;
    let kind = s(&["kind"]).ok_or_else(|| invalid("the object has no kind".into()))?;
    let name = s(&["metadata", "name"])
        .ok_or_else(|| invalid("the object has no metadata.name".into()))?;
    let served = cluster
        .discovery
        .resolve(&api_version, &kind)
        .await
        .map_err(|e| cluster_error(Some(id), "discover the API", e))?
        .ok_or_else(|| invalid(format!("the server does not serve kind {kind} in {api_version} (is its CustomResourceDefinition applied?)")))?;
    let namespace = if served.namespaced {
        let ns = s(&["metadata", "namespace"])
            .or_else(|| id.namespace().map(str::to_owned))
            .ok_or_else(|| invalid("a namespaced object without metadata.namespace".into()))?;
        if !cluster.options.namespaces.allows(&ns) {
            return Err(not_allowed(id));
        }
        Some(ns)
    } else {
        None
    };
    Ok(Ready {
        index,
        served,
        namespace,
        name,
        object: &o.object,
    })
}

type GroupKey = (String, String, Option<String>);

/// Reads the live state of every object from the server, in order.
async fn read_from_server(cluster: &KubeCluster, ready: &[Ready<'_>]) -> Vec<Live> {
    let limited = !matches!(
        cluster.options.namespaces,
        flux_core::cluster::Namespaces::All
    );
    // Objects of one kind, grouped by the namespace to list in (None:
    // cluster-wide).
    let mut groups: BTreeMap<GroupKey, Vec<usize>> = BTreeMap::new();
    for (i, r) in ready.iter().enumerate() {
        let key = (
            r.served.ar.api_version.clone(),
            r.served.ar.plural.clone(),
            if limited { r.namespace.clone() } else { None },
        );
        groups.entry(key).or_default().push(i);
    }
    // A kind in one namespace only is listed there (the list is smaller).
    let groups: Vec<(Option<String>, Vec<usize>)> = groups
        .into_values()
        .map(|members| {
            let first = ready[members[0]].namespace.clone();
            let one_ns = members.iter().all(|&m| ready[m].namespace == first);
            let ns = if one_ns { first } else { None };
            (ns, members)
        })
        .collect();
    let concurrency = cluster.options.concurrency.max(1);
    let found: Vec<Vec<(usize, Live)>> =
        futures::stream::iter(groups)
            .map(|(ns, members)| async move {
                read_group(cluster, ready, ns.as_deref(), &members).await
            })
            .buffer_unordered(concurrency)
            .collect()
            .await;
    let mut live: Vec<Live> = ready.iter().map(|_| Live::Unknown).collect();
    for (i, l) in found.into_iter().flatten() {
        live[i] = l;
    }
    live
}

/// A label key every member carries (so a list can be narrowed to it
/// without missing any of them); the GC mark if there is one.
fn common_label(ready: &[Ready<'_>], members: &[usize]) -> Option<String> {
    let keys = |r: &Ready<'_>| -> Vec<String> {
        r.object
            .pointer(&["metadata", "labels"])
            .into_iter()
            .flat_map(Node::entries)
            .map(|(k, _)| k.to_owned())
            .collect()
    };
    let mut common = keys(&ready[members[0]]);
    for &m in &members[1..] {
        let k = keys(&ready[m]);
        common.retain(|c| k.contains(c));
    }
    common
        .iter()
        .find(|k| k.ends_with("sync-gc-mark"))
        .or_else(|| common.first())
        .cloned()
}

async fn read_group(
    cluster: &KubeCluster,
    ready: &[Ready<'_>],
    ns: Option<&str>,
    members: &[usize],
) -> Vec<(usize, Live)> {
    let first = &ready[members[0]];
    if members.len() >= LIST_THRESHOLD {
        let path = collection_path(&first.served.ar, ns);
        let mut lp = ListParams::default();
        let label = common_label(ready, members);
        if let Some(label) = &label {
            lp = lp.labels(label);
        }
        let listed = cluster.send(|| Request::new(&path).list(&lp)).await;
        match listed {
            Ok(list) => {
                let mut by_key: HashMap<(String, String), Value> = HashMap::new();
                for item in list
                    .get("items")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default()
                {
                    let s = |p: &str| {
                        item.pointer(p)
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_owned()
                    };
                    by_key.insert((s("/metadata/namespace"), s("/metadata/name")), item);
                }
                let mut found = Vec::new();
                let mut unlisted = Vec::new();
                for &m in members {
                    let r = &ready[m];
                    let key = (r.namespace.clone().unwrap_or_default(), r.name.clone());
                    match by_key.remove(&key) {
                        Some(v) => found.push((m, Live::Present(v))),
                        // A list narrowed by a label the object will carry
                        // proves presence, not absence: the live one may not
                        // carry it yet (made by hand, or by the server).
                        None if label.is_some() => unlisted.push(m),
                        None => found.push((m, Live::Absent)),
                    }
                }
                found.extend(get_each(cluster, ready, &unlisted).await);
                return found;
            }
            Err(e) => {
                tracing::debug!(error = %e, path, "listing failed; reading objects one by one");
            }
        }
    }
    get_each(cluster, ready, members).await
}

/// Reads `members` one by one.
async fn get_each(
    cluster: &KubeCluster,
    ready: &[Ready<'_>],
    members: &[usize],
) -> Vec<(usize, Live)> {
    futures::stream::iter(members.iter().copied())
        .map(|m| async move { (m, get_one(cluster, &ready[m]).await) })
        .buffer_unordered(cluster.options.concurrency.max(1))
        .collect()
        .await
}

async fn get_one(cluster: &KubeCluster, r: &Ready<'_>) -> Live {
    let path = collection_path(&r.served.ar, r.namespace.as_deref());
    match cluster
        .send(|| Request::new(&path).get(&r.name, &GetParams::default()))
        .await
    {
        Ok(v) => Live::Present(v),
        Err(kube::Error::Api(s)) if s.code == 404 => Live::Absent,
        Err(e) => {
            tracing::debug!(error = %e, object = describe(r), "reading the live object failed; applying it anyway");
            Live::Unknown
        }
    }
}

async fn patch_one(
    cluster: &KubeCluster,
    r: &Ready<'_>,
    before: &Before,
) -> Result<(Applied, Option<String>), kube::Error> {
    let path = collection_path(&r.served.ar, r.namespace.as_deref());
    let mut pp = PatchParams::apply(&cluster.options.field_manager);
    pp.force = cluster.options.force;
    let body = r.body();
    let patch = Patch::Apply(&body);
    let mut after = cluster
        .send(|| Request::new(&path).patch(&r.name, &pp, &patch))
        .await?;
    if take_over(cluster, &path, r, after.clone()).await {
        // Applied again: what git no longer sets goes now.
        after = cluster
            .send(|| Request::new(&path).patch(&r.name, &pp, &patch))
            .await?;
    }
    let rv = resource_version(&after);
    let applied = match before {
        Before::Absent => Applied::Created,
        Before::Present(before) if *before == rv => Applied::Unchanged,
        Before::Present(_) | Before::Unknown => Applied::Configured,
    };
    Ok((applied, rv))
}

/// Gives Flux the fields client-side `kubectl apply` owns in `after` (the
/// object as the apply returned it), as [`crate::takeover`] describes.
/// Whether it did (the object must then be applied again). A failure is
/// logged and leaves the object as applied: only fields git no longer sets
/// may linger, until the next change to the object tries again.
async fn take_over(cluster: &KubeCluster, path: &str, r: &Ready<'_>, after: Value) -> bool {
    let url = format!("{path}/{}", r.name);
    let mut current = after;
    for attempt in 0..3 {
        let Some(patch) = crate::takeover::patch(&current, &cluster.options.field_manager) else {
            return false;
        };
        let body = serde_json::to_vec(&patch).expect("a JSON value serialises");
        let sent = cluster
            .send(|| {
                http::Request::patch(url.as_str())
                    .header(http::header::CONTENT_TYPE, "application/json-patch+json")
                    .body(body.clone())
                    .map_err(kube::core::request::Error::BuildRequest)
            })
            .await;
        match sent {
            Ok(_) => {
                tracing::info!(
                    object = describe(r),
                    "took over the fields of client-side kubectl apply"
                );
                return true;
            }
            Err(kube::Error::Api(s)) if s.code == 409 && attempt < 2 => {
                match cluster
                    .send(|| Request::new(path).get(&r.name, &GetParams::default()))
                    .await
                {
                    Ok(v) => current = v,
                    Err(e) => {
                        tracing::warn!(object = describe(r), error = %e, "could not re-read the object to take over client-side apply fields");
                        return false;
                    }
                }
            }
            Err(e) => {
                tracing::warn!(object = describe(r), error = %e, "could not take over the fields of client-side kubectl apply; fields removed from git may stay");
                return false;
            }
        }
    }
    false
}
