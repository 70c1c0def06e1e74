//! An in-memory Kubernetes cluster behind the [`Cluster`] trait.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use base64::Engine as _;
use serde_json::{Map, Value};

use super::apply::{overlay, remove_dropped, selector_problem, validate};
use super::journal::Failures;
pub use super::journal::{Call, Failure, Operation};
use crate::cluster::{
    Applied, ApplyObject, Cluster, ClusterError, ClusterErrorKind, LiveObject, Namespaces,
    PerObject,
};
use crate::registry::Credentials;
use crate::resource::{ResourceId, Scope, ScopeTable, split_api_version};
use crate::sync::{allows, as_stored};
use crate::workload::{WORKLOAD_KINDS, pod_spec_path};

/// The label a server puts on every Namespace, with its name (Kubernetes
/// 1.21 and later), whatever the client sent.
const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// Sets [`NAMESPACE_NAME_LABEL`] on a Namespace object.
fn name_label(object: &mut Value, name: &str) {
    if let Some(meta) = object["metadata"].as_object_mut() {
        let labels = meta
            .entry("labels")
            .or_insert_with(|| Value::Object(Map::new()));
        if !labels.is_object() {
            *labels = Value::Object(Map::new());
        }
        labels[NAMESPACE_NAME_LABEL] = name.into();
    }
}

struct Stored {
    object: Value,
    /// What Flux last applied: the fields it owns.
    applied: Option<Value>,
}

#[derive(Default)]
struct State {
    objects: BTreeMap<ResourceId, Stored>,
    failures: Failures,
    journal: Vec<Call>,
    version: u64,
    scopes: ScopeTable,
}

/// A Kubernetes cluster in memory, for tests of anything that syncs.
///
/// What it does, as a real API server would:
/// - `apply` is a simplified server-side apply with one field manager for
///   Flux: fields Flux applied before and no longer applies are removed,
///   fields set by others ([`MemoryCluster::set_field`]) are kept, maps
///   merge, lists are replaced whole. It answers `Created`, `Configured` or
///   `Unchanged`, sets `metadata.uid` and `metadata.resourceVersion` (and a
///   Namespace's `kubernetes.io/metadata.name` label), refuses
///   an object whose name, kind or namespace disagrees with its ID
///   (`Invalid`), an object of a kind it does not serve (`Invalid`: a
///   custom resource whose CRD was never applied) and a namespaced object
///   whose Namespace does not exist
///   (`NotFound`), and learns the scope of kinds from CRDs applied to it.
///   Objects are stored as a server stores them ([`as_stored`]: a Secret's
///   `stringData` base64-encoded into `data`; and no namespace on a
///   cluster-scoped object), by `apply` and `create`.
/// - `delete` of a missing object succeeds; deleting a Namespace deletes
///   everything in it, deleting a CRD every object of its kind.
/// - `export_workloads` returns the allowed Namespaces and workloads;
///   `list_managed` every object with the label, namespaced ones in the
///   allowed namespaces, cluster-scoped ones all but Namespaces not
///   allowed (as Flux v1).
/// - `image_pull_secrets` reads `imagePullSecrets` of the pod spec and of
///   its service account (`default` unless named) from docker config
///   Secrets, skipping missing or unreadable ones as Flux v1 did.
///
/// Every call is recorded in a journal ([`MemoryCluster::journal`]), and
/// any operation can be made to fail ([`MemoryCluster::fail`]).
///
/// ```
/// use flux_core::cluster::{ApplyObject, Applied, Cluster, ClusterErrorKind};
/// use flux_core::testing::{Failure, MemoryCluster, Operation, block_on};
/// use serde_json::json;
///
/// let cluster = MemoryCluster::new();
/// cluster.create(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "demo"}})).unwrap();
/// let cm = ApplyObject::new(
///     "demo:configmap/x".parse().unwrap(),
///     &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "demo"}}),
/// ).unwrap();
/// let result = block_on(cluster.apply(&[cm.clone()]));
/// assert_eq!(result[0].1.as_ref().unwrap(), &Applied::Created);
///
/// cluster.fail(Failure::new(Operation::Apply, ClusterErrorKind::Forbidden).times(1));
/// let result = block_on(cluster.apply(&[cm]));
/// assert_eq!(result[0].1.as_ref().unwrap_err().kind, ClusterErrorKind::Forbidden);
/// ```
pub struct MemoryCluster {
    state: Mutex<State>,
}

impl Default for MemoryCluster {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for MemoryCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryCluster")
            .field("objects", &self.ids())
            .finish_non_exhaustive()
    }
}

impl MemoryCluster {
    /// An empty cluster that knows the built-in kinds.
    pub fn new() -> Self {
        MemoryCluster {
            state: Mutex::new(State {
                scopes: ScopeTable::builtin(),
                ..State::default()
            }),
        }
    }

    /// A cluster holding these Namespaces.
    pub fn with_namespaces<S: AsRef<str>>(names: &[S]) -> Self {
        let cluster = Self::new();
        for name in names {
            cluster.put(
                ResourceId::cluster("namespace", name.as_ref()),
                serde_json::json!({
                    "apiVersion": "v1",
                    "kind": "Namespace",
                    "metadata": {
                        "name": name.as_ref(),
                        "labels": {NAMESPACE_NAME_LABEL: name.as_ref()},
                    },
                }),
            );
        }
        cluster
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Creates an object as another client would (`kubectl create`): its
    /// ID comes from the object, its scope from the kinds the cluster knows.
    /// Replaces an object with the same ID.
    pub fn create(&self, object: Value) -> Result<ResourceId, ClusterError> {
        let mut state = self.lock();
        let kind = object["kind"].as_str().unwrap_or_default();
        let api_version = object["apiVersion"].as_str().unwrap_or_default();
        let name = object["metadata"]["name"].as_str().unwrap_or_default();
        let invalid = |message: String| ClusterError::new(ClusterErrorKind::Invalid, None, message);
        let scope = state
            .scopes
            .lookup(api_version, kind)
            .ok_or_else(|| invalid(format!("no kind {kind} in {api_version}")))?;
        let namespace = match scope {
            Scope::Cluster => None,
            Scope::Namespaced => Some(
                object["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or("default")
                    .to_owned(),
            ),
        };
        let id = ResourceId::try_new(namespace.as_deref(), kind, name)
            .map_err(|e| invalid(e.to_string()))?;
        state.check_namespace(&id)?;
        if let Some(reason) = selector_problem(&object) {
            return Err(invalid(reason));
        }
        let object = state.server_fields(&id, as_stored(&object).into_owned());
        state.learn(&object);
        state.objects.insert(
            id.clone(),
            Stored {
                object,
                applied: None,
            },
        );
        Ok(id)
    }

    /// Stores an object under `id` exactly as given, with no checks: for
    /// fixtures a real server would not produce (broken marks, say).
    pub fn put(&self, id: ResourceId, object: Value) {
        let mut state = self.lock();
        state.learn(&object);
        state.objects.insert(
            id,
            Stored {
                object,
                applied: None,
            },
        );
    }

    /// Stores an object under `id` as if Flux had applied `applied` to it
    /// earlier: the next apply removes the fields of `applied` it no longer
    /// sets, as server-side apply does for a field manager's own fields.
    pub fn put_applied(&self, id: ResourceId, object: Value, applied: Value) {
        let mut state = self.lock();
        state.learn(&object);
        state.objects.insert(
            id,
            Stored {
                object,
                applied: Some(applied),
            },
        );
    }

    /// What Flux last applied to the object `id` (the fields it owns).
    pub fn applied(&self, id: &ResourceId) -> Option<Value> {
        self.lock().objects.get(id).and_then(|s| s.applied.clone())
    }

    /// The object with this ID.
    pub fn get(&self, id: &ResourceId) -> Option<Value> {
        self.lock().objects.get(id).map(|s| s.object.clone())
    }

    /// Every object's ID, in order.
    pub fn ids(&self) -> Vec<ResourceId> {
        self.lock().objects.keys().cloned().collect()
    }

    /// Every object, by ID.
    pub fn objects(&self) -> BTreeMap<ResourceId, Value> {
        self.lock()
            .objects
            .iter()
            .map(|(id, s)| (id.clone(), s.object.clone()))
            .collect()
    }

    /// Sets a field as another field manager would (an HPA setting
    /// `spec.replicas`, `kubectl annotate`), creating maps on the way.
    /// Returns whether the object exists.
    pub fn set_field(&self, id: &ResourceId, path: &[&str], value: Value) -> bool {
        let mut state = self.lock();
        let Some(stored) = state.objects.get_mut(id) else {
            return false;
        };
        let mut at = &mut stored.object;
        for key in path {
            if !at.is_object() {
                *at = Value::Object(Map::new());
            }
            let Value::Object(map) = at else {
                return false;
            };
            at = map.entry(key.to_string()).or_insert(Value::Null);
        }
        *at = value;
        true
    }

    /// Removes an object behind Flux's back (no cascade, not journalled).
    pub fn remove(&self, id: &ResourceId) -> Option<Value> {
        self.lock().objects.remove(id).map(|s| s.object)
    }

    /// Makes calls fail, as `failure` describes.
    pub fn fail(&self, failure: Failure) {
        self.lock().failures.push(failure);
    }

    /// Stops all injected failures.
    pub fn heal(&self) {
        self.lock().failures.clear();
    }

    /// Every call so far, in order.
    pub fn journal(&self) -> Vec<Call> {
        self.lock().journal.clone()
    }

    /// Every call so far, clearing the journal.
    pub fn take_journal(&self) -> Vec<Call> {
        std::mem::take(&mut self.lock().journal)
    }
}

impl State {
    fn check_namespace(&self, id: &ResourceId) -> Result<(), ClusterError> {
        match id.namespace() {
            Some(ns)
                if !self
                    .objects
                    .contains_key(&ResourceId::cluster("namespace", ns)) =>
            {
                Err(ClusterError::new(
                    ClusterErrorKind::NotFound,
                    Some(id.clone()),
                    format!("namespaces \"{ns}\" not found"),
                ))
            }
            _ => Ok(()),
        }
    }

    fn server_fields(&mut self, id: &ResourceId, mut object: Value) -> Value {
        self.version += 1;
        if let Some(meta) = object["metadata"].as_object_mut() {
            match id.namespace() {
                Some(ns) => meta.insert("namespace".into(), ns.into()),
                // The server clears a cluster-scoped object's namespace.
                None => meta.remove("namespace"),
            };
            meta.insert("uid".into(), format!("uid-{}", self.version).into());
            meta.insert("resourceVersion".into(), self.version.to_string().into());
        }
        if id.kind() == "namespace" {
            name_label(&mut object, id.name());
        }
        object
    }

    fn learn(&mut self, object: &Value) {
        if object["kind"] == "CustomResourceDefinition" {
            self.scopes.learn_crd(object);
        }
    }

    fn apply_one(&mut self, request: &ApplyObject) -> Result<Applied, ClusterError> {
        let id = &request.id;
        if let Some(e) = self.failures.check(Operation::Apply, Some(id)) {
            return Err(e);
        }
        let object = request.object.to_value();
        validate(id, &object)?;
        let api_version = object["apiVersion"].as_str().unwrap_or_default();
        let kind = object["kind"].as_str().unwrap_or_default();
        if self.scopes.lookup(api_version, kind).is_none() {
            return Err(ClusterError::new(
                ClusterErrorKind::Invalid,
                Some(id.clone()),
                format!("no kind {kind} is served in {api_version} (is its CRD applied?)"),
            ));
        }
        self.check_namespace(id)?;
        self.learn(&object);
        // What Flux owns is what the server stores: a Secret's `stringData`
        // keys become `data` keys.
        let mut applied = as_stored(&object).into_owned();
        if id.is_cluster_scoped()
            && let Some(metadata) = applied["metadata"].as_object_mut()
        {
            metadata.remove("namespace");
        }
        let Some(stored) = self.objects.get_mut(id) else {
            let object = self.server_fields(id, applied.clone());
            self.objects.insert(
                id.clone(),
                Stored {
                    object,
                    applied: Some(applied),
                },
            );
            return Ok(Applied::Created);
        };
        let mut merged = stored.object.clone();
        if let Some(previous) = &stored.applied {
            remove_dropped(&mut merged, previous, &applied);
        }
        overlay(&mut merged, &applied);
        stored.applied = Some(applied);
        if merged == stored.object {
            return Ok(Applied::Unchanged);
        }
        self.version += 1;
        merged["metadata"]["resourceVersion"] = self.version.to_string().into();
        if let Some(stored) = self.objects.get_mut(id) {
            stored.object = merged;
        }
        Ok(Applied::Configured)
    }

    fn delete_one(&mut self, id: &ResourceId) -> Result<bool, ClusterError> {
        if let Some(e) = self.failures.check(Operation::Delete, Some(id)) {
            return Err(e);
        }
        let Some(stored) = self.objects.remove(id) else {
            return Ok(false);
        };
        if id.is_cluster_scoped() && id.kind() == "namespace" {
            self.objects
                .retain(|other, _| other.namespace() != Some(id.name()));
        } else if id.is_cluster_scoped() && id.kind() == "customresourcedefinition" {
            let spec = &stored.object["spec"];
            if let (Some(group), Some(kind)) =
                (spec["group"].as_str(), spec["names"]["kind"].as_str())
            {
                let kind = kind.to_ascii_lowercase();
                self.objects.retain(|other, s| {
                    other.kind() != kind
                        || split_api_version(s.object["apiVersion"].as_str().unwrap_or_default()).0
                            != group
                });
            }
        }
        Ok(true)
    }

    fn live(
        &self,
        keep: impl Fn(&ResourceId, &Value) -> bool,
    ) -> Result<Vec<LiveObject>, ClusterError> {
        self.objects
            .iter()
            .filter(|(id, s)| keep(id, &s.object))
            .map(|(id, s)| {
                LiveObject::new(id.clone(), &s.object).map_err(|e| {
                    ClusterError::new(ClusterErrorKind::Other, Some(id.clone()), e.to_string())
                })
            })
            .collect()
    }

    fn credentials(&self, namespace: &str, secret: &str) -> Option<Credentials> {
        let object = &self
            .objects
            .get(&ResourceId::new(namespace, "secret", secret))?
            .object;
        let (key, parse): (_, fn(&[u8]) -> _) = match object["type"].as_str()? {
            "kubernetes.io/dockerconfigjson" => {
                (".dockerconfigjson", Credentials::from_dockerconfigjson)
            }
            "kubernetes.io/dockercfg" => (".dockercfg", Credentials::from_dockercfg),
            _ => return None,
        };
        let data = base64::engine::general_purpose::STANDARD
            .decode(object["data"][key].as_str()?)
            .ok()?;
        parse(&data).ok()
    }
}

#[async_trait::async_trait]
impl Cluster for MemoryCluster {
    async fn export_workloads(
        &self,
        namespaces: &Namespaces,
    ) -> Result<Vec<LiveObject>, ClusterError> {
        let mut state = self.lock();
        state.journal.push(Call::ExportWorkloads);
        if let Some(e) = state.failures.check(Operation::ExportWorkloads, None) {
            return Err(e);
        }
        state.live(|id, _| {
            let exported = (id.is_cluster_scoped() && id.kind() == "namespace")
                || WORKLOAD_KINDS
                    .iter()
                    .any(|k| k.eq_ignore_ascii_case(id.kind()));
            exported && allows(namespaces, id)
        })
    }

    async fn list_managed(
        &self,
        label: &str,
        namespaces: &Namespaces,
    ) -> Result<Vec<LiveObject>, ClusterError> {
        let mut state = self.lock();
        state.journal.push(Call::ListManaged {
            label: label.to_owned(),
        });
        if let Some(e) = state.failures.check(Operation::ListManaged, None) {
            return Err(e);
        }
        state.live(|id, object| {
            // As Flux v1: a Namespace itself counts as in its namespace.
            let namespace = id
                .namespace()
                .or((id.kind() == "namespace").then(|| id.name()));
            object["metadata"]["labels"].get(label).is_some()
                && namespace.is_none_or(|ns| namespaces.allows(ns))
        })
    }

    async fn apply(&self, objects: &[ApplyObject]) -> PerObject<Applied> {
        let mut state = self.lock();
        objects
            .iter()
            .map(|request| {
                let result = state.apply_one(request);
                state.journal.push(Call::Apply {
                    id: request.id.clone(),
                    result: result.as_ref().map(|a| *a).map_err(|e| e.kind),
                });
                (request.id.clone(), result)
            })
            .collect()
    }

    async fn delete(&self, ids: &[ResourceId]) -> PerObject<()> {
        let mut state = self.lock();
        ids.iter()
            .map(|id| {
                let result = state.delete_one(id);
                state.journal.push(Call::Delete {
                    id: id.clone(),
                    result: result.as_ref().map(|b| *b).map_err(|e| e.kind),
                });
                (id.clone(), result.map(|_| ()))
            })
            .collect()
    }

    async fn image_pull_secrets(&self, workload: &ResourceId) -> Result<Credentials, ClusterError> {
        let mut state = self.lock();
        state.journal.push(Call::ImagePullSecrets {
            workload: workload.clone(),
        });
        if let Some(e) = state
            .failures
            .check(Operation::ImagePullSecrets, Some(workload))
        {
            return Err(e);
        }
        let not_found = || {
            ClusterError::new(
                ClusterErrorKind::NotFound,
                Some(workload.clone()),
                "workload not found",
            )
        };
        let object = &state.objects.get(workload).ok_or_else(not_found)?.object;
        let namespace = workload.namespace().ok_or_else(not_found)?;
        let kind = object["kind"].as_str().unwrap_or_default();
        let spec = pod_spec_path(kind)
            .and_then(|p| p.get(object))
            .cloned()
            .unwrap_or(Value::Null);
        let names = |v: &Value| -> Vec<String> {
            v["imagePullSecrets"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| s["name"].as_str().map(str::to_owned))
                .collect()
        };
        let account = spec["serviceAccountName"].as_str().unwrap_or("default");
        let mut secrets = names(&spec);
        if let Some(sa) = state
            .objects
            .get(&ResourceId::new(namespace, "serviceaccount", account))
        {
            secrets.extend(names(&sa.object));
        }
        let mut credentials = Credentials::default();
        for secret in secrets {
            if let Some(found) = state.credentials(namespace, &secret) {
                credentials.merge(found);
            }
        }
        Ok(credentials)
    }
}

#[cfg(test)]
mod tests;
