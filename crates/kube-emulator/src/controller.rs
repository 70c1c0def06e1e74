//! A small workload controller, so that rollouts finish: after a
//! Deployment, StatefulSet or DaemonSet is created or its spec changes, it
//! writes the status a real controller manager would once the new pods
//! come up, in two steps a watcher can follow (`kubectl rollout status`
//! prints "Waiting for … rollout to finish", then "successfully rolled
//! out"):
//!
//! 1. after [`Rollouts::observe_after`], the spec is observed
//!    (`observedGeneration`), every replica updated but none available yet,
//!    condition `Progressing` with reason `NewReplicaSetCreated` (first
//!    rollout) or `ReplicaSetUpdated`;
//! 2. after [`Rollouts::complete_after`] more, every replica ready and
//!    available, `Progressing` with `NewReplicaSetAvailable` and `Available`
//!    with `MinimumReplicasAvailable` (StatefulSets: `currentRevision` =
//!    `updateRevision`; DaemonSets: one pod per node).
//!
//! No ReplicaSets or Pods are made: only the workloads' status changes. It
//! also registers one Node (`kube-emulator`), which DaemonSets are counted
//! against and `kubectl get nodes` shows.
//!
//! It is off unless [`crate::Emulator::rollouts`] turns it on (the binary
//! does by default), so tests that count writes see only their own.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;

use crate::api::Shared;
use crate::ops::{FieldValidation, Mutation, Sub, Target, WriteOptions};
use crate::resources::ResourceType;

/// The controller's timing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rollouts {
    /// From a spec change to the status observing it (step 1).
    pub observe_after: Duration,
    /// From step 1 to the rollout being complete (step 2).
    pub complete_after: Duration,
}

impl Default for Rollouts {
    /// 100 ms, then 1 s: quick, and slow enough to be seen progressing.
    fn default() -> Self {
        Rollouts {
            observe_after: Duration::from_millis(100),
            complete_after: Duration::from_secs(1),
        }
    }
}

/// The name of the Node the controller registers.
pub const NODE: &str = "kube-emulator";

const WORKLOADS: [&str; 3] = ["deployments", "statefulsets", "daemonsets"];
const MANAGER: &str = "kube-controller-manager";

type Key = (String, String, String);

struct Controller {
    shared: Arc<Shared>,
    opts: Rollouts,
    busy: Mutex<HashSet<Key>>,
}

/// Runs the controller until the task is aborted.
pub async fn run(shared: Arc<Shared>, opts: Rollouts) {
    register_node(&shared);
    let c = Arc::new(Controller {
        shared,
        opts,
        busy: Mutex::new(HashSet::new()),
    });
    let mut rx = c.shared.store.events();
    // Rollout tasks end with this one (aborting it aborts them).
    let mut tasks = tokio::task::JoinSet::new();
    c.scan(&mut tasks);
    loop {
        tokio::select! {
            r = rx.recv() => match r {
                Ok(ev) => {
                    if ev.gr.0 == "apps" && WORKLOADS.contains(&ev.gr.1.as_str()) {
                        let name = ev.object.pointer("/metadata/name").and_then(Value::as_str);
                        if let Some(name) = name {
                            c.consider((ev.gr.1.clone(), ev.namespace.clone(), name.to_owned()), &mut tasks);
                        }
                    }
                }
                Err(RecvError::Lagged(_)) => c.scan(&mut tasks),
                Err(RecvError::Closed) => return,
            },
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
}

impl Controller {
    fn rt(&self, plural: &str) -> Option<Arc<ResourceType>> {
        self.shared.store.resolve("apps", "v1", plural)
    }

    fn scan(self: &Arc<Self>, tasks: &mut tokio::task::JoinSet<()>) {
        for plural in WORKLOADS {
            let Some(rt) = self.rt(plural) else { continue };
            for obj in self.shared.store.list(&rt, None).0 {
                let s = |p: &str| obj.pointer(p).and_then(Value::as_str).unwrap_or("");
                self.consider(
                    (
                        plural.to_owned(),
                        s("/metadata/namespace").to_owned(),
                        s("/metadata/name").to_owned(),
                    ),
                    tasks,
                );
            }
        }
    }

    fn current(&self, key: &Key) -> Option<(Arc<ResourceType>, Value)> {
        let rt = self.rt(&key.0)?;
        let obj = self.shared.store.get(&rt, &key.1, &key.2)?;
        Some((rt, obj.value.clone()))
    }

    fn needs_work(&self, key: &Key) -> bool {
        self.current(key).is_some_and(|(rt, obj)| {
            status_for(&rt.kind, &obj, Stage::Complete, self.nodes())
                != obj.get("status").cloned().unwrap_or(Value::Null)
        })
    }

    /// Starts a rollout task for the object unless one runs already (that
    /// one reads the object again before each step).
    fn consider(self: &Arc<Self>, key: Key, tasks: &mut tokio::task::JoinSet<()>) {
        {
            let mut busy = self
                .busy
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if busy.contains(&key) || !self.needs_work(&key) {
                return;
            }
            busy.insert(key.clone());
        }
        let c = self.clone();
        tasks.spawn(async move { c.roll(key).await });
    }

    async fn roll(self: Arc<Self>, key: Key) {
        loop {
            tokio::time::sleep(self.opts.observe_after).await;
            self.step(&key, Stage::Progressing);
            tokio::time::sleep(self.opts.complete_after).await;
            self.step(&key, Stage::Complete);
            let mut busy = self
                .busy
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if !self.needs_work(&key) {
                busy.remove(&key);
                return;
            }
        }
    }

    fn nodes(&self) -> Vec<Value> {
        self.shared
            .store
            .resolve("", "v1", "nodes")
            .map(|rt| {
                self.shared
                    .store
                    .list(&rt, None)
                    .0
                    .iter()
                    .map(|n| n.value.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Writes the status of `stage`, retrying when another writer changed
    /// the object in between.
    fn step(&self, key: &Key, stage: Stage) {
        for _ in 0..10 {
            let Some((rt, obj)) = self.current(key) else {
                return;
            };
            let status = status_for(&rt.kind, &obj, stage, self.nodes());
            if obj.get("status") == Some(&status) {
                return;
            }
            let mut body = obj.clone();
            body["status"] = status;
            match write(
                &self.shared,
                &rt,
                &key.1,
                &key.2,
                Sub::Status,
                Mutation::Replace(body),
            ) {
                Err(e) if e.code == 409 => continue,
                Err(e) => {
                    tracing::warn!(error = %e.message, object = %key.2, "rollout status not written");
                    return;
                }
                Ok(()) => return,
            }
        }
    }
}

fn write(
    shared: &Shared,
    rt: &Arc<ResourceType>,
    ns: &str,
    name: &str,
    sub: Sub,
    mutation: Mutation,
) -> Result<(), crate::ApiError> {
    let target = Target {
        store: &shared.store,
        alloc: &shared.alloc,
        rt,
        version: rt.preferred(),
        ns,
        name,
    };
    let opts = WriteOptions {
        manager: MANAGER,
        dry_run: false,
        validation: FieldValidation::Ignore,
    };
    target.write(sub, &mutation, &opts).map(|_| ())
}

/// Which step of a rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Observed, pods updated, none available.
    Progressing,
    /// Every pod ready and available.
    Complete,
}

fn int(obj: &Value, p: &str, default: i64) -> i64 {
    obj.pointer(p).and_then(Value::as_i64).unwrap_or(default)
}

/// Kubernetes' "safe" encoding of a hash (no vowels, no look-alikes).
fn safe_encode(s: &str) -> String {
    const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    s.bytes()
        .map(|b| ALPHANUMS[usize::from(b) % ALPHANUMS.len()] as char)
        .collect()
}

/// A stable hash of a pod template, as in `pod-template-hash` and
/// controller revision names.
pub fn template_hash(obj: &Value) -> String {
    let text = obj
        .pointer("/spec/template")
        .map(Value::to_string)
        .unwrap_or_default();
    let mut h: u32 = 0x811c_9dc5;
    for b in text.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    safe_encode(&h.to_string())
}

fn condition(old: &Value, ty: &str, status: &str, reason: &str, message: &str, now: &str) -> Value {
    let prev = old
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| c["type"] == ty));
    let same = prev.is_some_and(|p| p["status"] == status && p["reason"] == reason);
    let keep = |k: &str| {
        prev.filter(|_| same)
            .and_then(|p| p.get(k).cloned())
            .unwrap_or_else(|| now.into())
    };
    let transition = prev
        .filter(|p| p["status"] == status)
        .and_then(|p| p.get("lastTransitionTime").cloned())
        .unwrap_or_else(|| now.into());
    json!({"type": ty, "status": status, "lastUpdateTime": keep("lastUpdateTime"),
           "lastTransitionTime": transition, "reason": reason, "message": message})
}

/// Drops counters that are zero (the API leaves them out).
fn without_zeros(mut v: Value, keep: &[&str]) -> Value {
    if let Some(m) = v.as_object_mut() {
        m.retain(|k, x| keep.contains(&k.as_str()) || x.as_i64() != Some(0));
    }
    v
}

/// Whether a pod template with `selector` (nodeSelector) may run on `node`.
fn fits(obj: &Value, node: &Value) -> bool {
    let Some(sel) = obj
        .pointer("/spec/template/spec/nodeSelector")
        .and_then(Value::as_object)
    else {
        return true;
    };
    sel.iter()
        .all(|(k, v)| node.pointer("/metadata/labels").and_then(|l| l.get(k)) == Some(v))
}

/// The status a workload has at `stage` of rolling out its current spec.
pub fn status_for(kind: &str, obj: &Value, stage: Stage, nodes: Vec<Value>) -> Value {
    let generation = int(obj, "/metadata/generation", 1);
    let replicas = int(obj, "/spec/replicas", 1);
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let hash = template_hash(obj);
    let done = stage == Stage::Complete;
    let now = crate::now();
    let ready = if done { replicas } else { 0 };
    match kind {
        "Deployment" => {
            let first = obj.pointer("/status/observedGeneration").is_none()
                || (obj
                    .pointer("/status/conditions")
                    .and_then(Value::as_array)
                    .is_none_or(Vec::is_empty));
            let rs = format!("{name}-{hash}");
            let progressing = if done {
                condition(
                    obj,
                    "Progressing",
                    "True",
                    "NewReplicaSetAvailable",
                    &format!("ReplicaSet \"{rs}\" has successfully progressed."),
                    &now,
                )
            } else if first {
                condition(
                    obj,
                    "Progressing",
                    "True",
                    "NewReplicaSetCreated",
                    &format!("Created new replica set \"{rs}\""),
                    &now,
                )
            } else {
                condition(
                    obj,
                    "Progressing",
                    "True",
                    "ReplicaSetUpdated",
                    &format!("ReplicaSet \"{rs}\" is progressing."),
                    &now,
                )
            };
            let available = if done || !first || replicas == 0 {
                condition(
                    obj,
                    "Available",
                    "True",
                    "MinimumReplicasAvailable",
                    "Deployment has minimum availability.",
                    &now,
                )
            } else {
                condition(
                    obj,
                    "Available",
                    "False",
                    "MinimumReplicasUnavailable",
                    "Deployment does not have minimum availability.",
                    &now,
                )
            };
            let mut s = without_zeros(
                json!({"observedGeneration": generation, "replicas": replicas,
                       "updatedReplicas": replicas, "readyReplicas": ready,
                       "availableReplicas": ready, "unavailableReplicas": replicas - ready}),
                &["observedGeneration"],
            );
            s["conditions"] = json!([available, progressing]);
            s
        }
        "StatefulSet" => {
            let rev = format!("{name}-{hash}");
            let current = if done {
                rev.clone()
            } else {
                obj.pointer("/status/currentRevision")
                    .and_then(Value::as_str)
                    .map_or_else(|| rev.clone(), str::to_owned)
            };
            let mut s = without_zeros(
                json!({"observedGeneration": generation, "replicas": replicas,
                       "readyReplicas": ready, "currentReplicas": if done { replicas } else { 0 },
                       "updatedReplicas": replicas, "availableReplicas": ready}),
                &["observedGeneration", "replicas"],
            );
            s["currentRevision"] = json!(current);
            s["updateRevision"] = json!(rev);
            s["collisionCount"] = json!(0);
            s
        }
        "DaemonSet" => {
            let desired = i64::try_from(nodes.iter().filter(|n| fits(obj, n)).count()).unwrap_or(0);
            let ready = if done { desired } else { 0 };
            without_zeros(
                json!({"observedGeneration": generation, "desiredNumberScheduled": desired,
                       "currentNumberScheduled": desired, "updatedNumberScheduled": desired,
                       "numberMisscheduled": 0, "numberReady": ready, "numberAvailable": ready,
                       "numberUnavailable": desired - ready}),
                &[
                    "observedGeneration",
                    "desiredNumberScheduled",
                    "currentNumberScheduled",
                    "numberMisscheduled",
                    "numberReady",
                ],
            )
        }
        _ => obj.get("status").cloned().unwrap_or(Value::Null),
    }
}

/// Registers the emulator's one Node, Ready.
fn register_node(shared: &Shared) {
    let Some(rt) = shared.store.resolve("", "v1", "nodes") else {
        return;
    };
    if shared.store.get(&rt, "", NODE).is_some() {
        return;
    }
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "unknown".into());
    let body = json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": NODE, "labels": {
            "kubernetes.io/hostname": NODE, "kubernetes.io/os": "linux",
            "kubernetes.io/arch": std::env::consts::ARCH.replace("x86_64", "amd64").replace("aarch64", "arm64"),
            "node-role.kubernetes.io/control-plane": ""}},
        "spec": {"podCIDR": "10.244.0.0/24", "podCIDRs": ["10.244.0.0/24"]},
    });
    if write(shared, &rt, "", NODE, Sub::Main, Mutation::Create(body)).is_err() {
        return;
    }
    let now = crate::now();
    let Some(cur) = shared.store.get(&rt, "", NODE) else {
        return;
    };
    let mut obj = cur.value.clone();
    obj["status"] = json!({
        "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                        "message": "kubelet is posting ready status",
                        "lastHeartbeatTime": now, "lastTransitionTime": now}],
        "addresses": [{"type": "InternalIP", "address": "127.0.0.1"},
                      {"type": "Hostname", "address": NODE}],
        "nodeInfo": {"kubeletVersion": "v1.32.0", "kubeProxyVersion": "v1.32.0",
                     "osImage": "kube-emulator", "kernelVersion": kernel,
                     "containerRuntimeVersion": "kube-emulator://0.1.0",
                     "operatingSystem": "linux",
                     "architecture": std::env::consts::ARCH.replace("x86_64", "amd64").replace("aarch64", "arm64"),
                     "machineID": "", "systemUUID": "", "bootID": ""},
        "capacity": {"cpu": "2", "memory": "4Gi", "pods": "110"},
        "allocatable": {"cpu": "2", "memory": "4Gi", "pods": "110"},
    });
    let _ = write(shared, &rt, "", NODE, Sub::Status, Mutation::Replace(obj));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployment_steps() {
        let d = json!({"metadata": {"name": "web", "generation": 2},
                       "spec": {"replicas": 3, "template": {"spec": {"containers": [{"name": "a"}]}}}});
        let p = status_for("Deployment", &d, Stage::Progressing, vec![]);
        assert_eq!(p["observedGeneration"], 2);
        assert_eq!(p["updatedReplicas"], 3);
        assert!(
            p.get("availableReplicas").is_none(),
            "zeros are left out: {p}"
        );
        assert_eq!(p["conditions"][1]["reason"], "NewReplicaSetCreated");
        assert_eq!(p["conditions"][0]["status"], "False");
        let mut d2 = d.clone();
        d2["status"] = p;
        let c = status_for("Deployment", &d2, Stage::Complete, vec![]);
        assert_eq!(c["availableReplicas"], 3);
        assert_eq!(c["conditions"][0]["reason"], "MinimumReplicasAvailable");
        assert_eq!(c["conditions"][1]["reason"], "NewReplicaSetAvailable");
        let msg = c["conditions"][1]["message"].as_str().unwrap();
        assert!(
            msg.starts_with("ReplicaSet \"web-")
                && msg.ends_with("\" has successfully progressed."),
            "{msg}"
        );
        // Same template, same hash; another template, another.
        let mut other = d.clone();
        other["spec"]["template"]["spec"]["containers"][0]["name"] = json!("b");
        assert_eq!(template_hash(&d), template_hash(&d2));
        assert_ne!(template_hash(&d), template_hash(&other));
    }

    #[test]
    fn daemonsets_count_fitting_nodes() {
        let node = json!({"metadata": {"labels": {"kubernetes.io/os": "linux"}}});
        let ds = json!({"metadata": {"name": "x"}, "spec": {"template": {"spec": {"nodeSelector": {"kubernetes.io/os": "windows"}}}}});
        let s = status_for("DaemonSet", &ds, Stage::Complete, vec![node.clone()]);
        assert_eq!(s["desiredNumberScheduled"], 0);
        let ds = json!({"metadata": {"name": "x"}, "spec": {"template": {"spec": {}}}});
        let s = status_for("DaemonSet", &ds, Stage::Complete, vec![node]);
        assert_eq!(s["numberAvailable"], 1);
    }
}
