//! Workloads: the resources that run containers, and where their images are.
//!
//! Flux updates images in Deployments, DaemonSets, StatefulSets, CronJobs,
//! Jobs, Pods and HelmReleases (and the older FluxHelmRelease). Jobs and
//! Pods are this project's addition: Flux v1 did not list them as workloads.
//! Kubernetes refuses changes to their pod template, so a release to one
//! applies only once the object is recreated.
//!
//! For each workload this reports the containers (init containers
//! included) with the image string and the exact field path(s) holding it,
//! so that an editor can change that field and nothing else. The same code
//! reads git manifests and live objects, since both are JSON here.

mod helm;

use std::fmt;

use serde_json::Value;

use crate::frozen::{Frozen, Node};

pub use helm::{HELM_CHART_CONTAINER, HelmImageMap};

/// Kinds whose containers Flux can list and update.
pub const WORKLOAD_KINDS: &[&str] = &[
    "Deployment",
    "DaemonSet",
    "StatefulSet",
    "CronJob",
    "Job",
    "Pod",
    "HelmRelease",
    "FluxHelmRelease",
];

/// Whether objects of `kind` (as written, e.g. `Deployment`) are workloads.
pub fn is_workload_kind(kind: &str) -> bool {
    WORKLOAD_KINDS.contains(&kind)
}

/// One step of a path into an object.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(untagged)]
pub enum PathSegment {
    /// A mapping key.
    Key(String),
    /// A sequence index.
    Index(usize),
}

/// A path from the object root to a field.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default, serde::Serialize)]
pub struct FieldPath(pub Vec<PathSegment>);

impl FieldPath {
    /// A path of mapping keys.
    pub fn keys<S: AsRef<str>>(keys: &[S]) -> Self {
        FieldPath(
            keys.iter()
                .map(|k| PathSegment::Key(k.as_ref().to_owned()))
                .collect(),
        )
    }

    /// This path extended by a key.
    pub fn key(&self, key: &str) -> Self {
        let mut p = self.clone();
        p.0.push(PathSegment::Key(key.to_owned()));
        p
    }

    /// This path extended by an index.
    pub fn index(&self, index: usize) -> Self {
        let mut p = self.clone();
        p.0.push(PathSegment::Index(index));
        p
    }

    /// The value at this path in `object`, if there is one.
    pub fn get<'v>(&self, object: &'v Value) -> Option<&'v Value> {
        self.0.iter().try_fold(object, |v, seg| match seg {
            PathSegment::Key(k) => v.get(k),
            PathSegment::Index(i) => v.get(i),
        })
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                PathSegment::Key(k) if i == 0 => write!(f, "{k}")?,
                PathSegment::Key(k) => write!(f, ".{k}")?,
                PathSegment::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// Where a container's image is written.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum ImageFields {
    /// One field holds the whole reference, e.g. a container's `image`.
    Whole(FieldPath),
    /// The reference is split across fields, as Helm charts like it: the
    /// registry (optional), the repository (which may carry the tag when
    /// there is no tag field), and the tag (optional).
    Parts {
        /// The registry host field.
        registry: Option<FieldPath>,
        /// The repository (image name) field.
        repository: FieldPath,
        /// The tag field.
        tag: Option<FieldPath>,
    },
}

/// What sort of container this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum ContainerKind {
    /// An entry of a pod spec's `containers`.
    Container,
    /// An entry of a pod spec's `initContainers`.
    Init,
    /// An image found in a HelmRelease's values.
    HelmValues,
}

/// A container of a workload and its image.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Container {
    /// The container's name (for HelmReleases, the values key, or
    /// `chart-image` for a top-level `image`).
    pub name: String,
    /// The image reference as written (joined from its parts if split).
    pub image: String,
    /// Container, init container or HelmRelease value.
    pub kind: ContainerKind,
    /// The field(s) holding the image.
    pub fields: ImageFields,
}

/// Why a workload's containers could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkloadError {
    /// A field has the wrong shape, e.g. `image: {a: b}`.
    #[error("{field}: {message}")]
    Malformed {
        /// The field.
        field: FieldPath,
        /// What is wrong.
        message: String,
    },
}

fn malformed(field: FieldPath, message: impl Into<String>) -> WorkloadError {
    WorkloadError::Malformed {
        field,
        message: message.into(),
    }
}

/// The path to the pod spec of a workload kind, if it has one.
pub fn pod_spec_path(kind: &str) -> Option<FieldPath> {
    let keys: &[&str] = match kind {
        "Deployment" | "DaemonSet" | "StatefulSet" | "Job" => &["spec", "template", "spec"],
        "CronJob" => &["spec", "jobTemplate", "spec", "template", "spec"],
        "Pod" => &["spec"],
        _ => return None,
    };
    Some(FieldPath::keys(keys))
}

/// The containers of a workload object, in the order Flux v1 lists them:
/// init containers then containers for pod specs; `chart-image` first, then
/// by name, for HelmReleases. Non-workloads have none.
///
/// ```
/// use flux_core::workload::containers;
/// let deployment = serde_json::json!({
///     "kind": "Deployment",
///     "spec": {"template": {"spec": {"containers": [{"name": "app", "image": "nginx:1.25"}]}}}
/// });
/// let found = containers(&deployment).unwrap();
/// assert_eq!((found[0].name.as_str(), found[0].image.as_str()), ("app", "nginx:1.25"));
/// ```
pub fn containers(object: &Value) -> Result<Vec<Container>, WorkloadError> {
    let kind = object["kind"].as_str().unwrap_or_default();
    if let Some(path) = pod_spec_path(kind) {
        return pod_containers(object, &path);
    }
    if is_helm_release(kind) {
        return Ok(helm::containers(object));
    }
    Ok(Vec::new())
}

/// [`containers`] of a frozen object (a manifest, a live object), thawed
/// only when its kind can have containers.
pub fn frozen_containers(object: &Frozen) -> Result<Vec<Container>, WorkloadError> {
    let kind = object.pointer(&["kind"]).and_then(Node::as_str);
    if !kind.is_some_and(|k| pod_spec_path(k).is_some() || is_helm_release(k)) {
        return Ok(Vec::new());
    }
    containers(&object.to_value())
}

fn is_helm_release(kind: &str) -> bool {
    kind == "HelmRelease" || kind == "FluxHelmRelease"
}

fn pod_containers(object: &Value, spec_path: &FieldPath) -> Result<Vec<Container>, WorkloadError> {
    let Some(spec) = spec_path.get(object) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for (field, kind) in [
        ("initContainers", ContainerKind::Init),
        ("containers", ContainerKind::Container),
    ] {
        let list_path = spec_path.key(field);
        let list = match spec.get(field) {
            None | Some(Value::Null) => continue,
            Some(Value::Array(list)) => list,
            Some(_) => return Err(malformed(list_path, "must be a sequence of containers")),
        };
        for (i, c) in list.iter().enumerate() {
            let at = list_path.index(i);
            let name = c["name"]
                .as_str()
                .filter(|n| !n.is_empty())
                .ok_or_else(|| malformed(at.key("name"), "a container needs a name"))?;
            let image = match c.get("image") {
                Some(Value::String(s)) => s,
                None | Some(Value::Null) => {
                    return Err(malformed(
                        at.key("image"),
                        format!("container {name} has no image"),
                    ));
                }
                Some(_) => {
                    return Err(malformed(
                        at.key("image"),
                        format!("container {name}: image must be a string"),
                    ));
                }
            };
            out.push(Container {
                name: name.to_owned(),
                image: image.clone(),
                kind,
                fields: ImageFields::Whole(at.key("image")),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn frozen_objects_give_the_containers_their_json_gives() {
        let spec = json!({"containers": [{"name": "a", "image": "nginx:1"}],
                          "initContainers": [{"name": "i", "image": "busybox:1"}]});
        for object in [
            pod_spec("Deployment", spec.clone()),
            pod_spec("CronJob", spec.clone()),
            pod_spec("Pod", spec.clone()),
            json!({"kind": "HelmRelease", "spec": {"values": {"image": "repo/app:1"}}}),
            json!({"kind": "ConfigMap", "data": {"containers": "none"}}),
            json!({"data": {}}),
        ] {
            let frozen = Frozen::new(&object).unwrap();
            let (got, want) = (frozen_containers(&frozen), containers(&object));
            assert_eq!(
                got.map_err(|e| e.to_string()),
                want.map_err(|e| e.to_string()),
                "{object}"
            );
        }
        let broken = pod_spec("Deployment", json!({"containers": "not a list"}));
        assert!(frozen_containers(&Frozen::new(&broken).unwrap()).is_err());
    }

    fn pod_spec(kind: &str, spec: Value) -> Value {
        let mut obj = json!({"kind": kind});
        let path = pod_spec_path(kind).unwrap();
        let mut cur = &mut obj;
        for seg in &path.0 {
            let PathSegment::Key(k) = seg else {
                unreachable!()
            };
            cur = &mut cur[k.as_str()];
        }
        *cur = spec;
        obj
    }

    #[test]
    fn every_pod_spec_kind() {
        for kind in [
            "Deployment",
            "DaemonSet",
            "StatefulSet",
            "CronJob",
            "Job",
            "Pod",
        ] {
            let obj = pod_spec(
                kind,
                json!({"initContainers": [{"name": "init", "image": "busybox"}],
                       "containers": [{"name": "a", "image": "nginx:1"}, {"name": "b", "image": "r.io/x@sha256:abc"}]}),
            );
            let cs = containers(&obj).unwrap();
            let names: Vec<_> = cs.iter().map(|c| (c.name.as_str(), c.kind)).collect();
            assert_eq!(
                names,
                [
                    ("init", ContainerKind::Init),
                    ("a", ContainerKind::Container),
                    ("b", ContainerKind::Container)
                ],
                "{kind}"
            );
            let ImageFields::Whole(path) = &cs[2].fields else {
                panic!()
            };
            assert_eq!(path.get(&obj), Some(&json!("r.io/x@sha256:abc")));
        }
    }

    #[test]
    fn cronjob_path_is_job_template() {
        let obj = pod_spec(
            "CronJob",
            json!({"containers": [{"name": "a", "image": "x"}]}),
        );
        let cs = containers(&obj).unwrap();
        let ImageFields::Whole(path) = &cs[0].fields else {
            panic!()
        };
        assert_eq!(
            path.to_string(),
            "spec.jobTemplate.spec.template.spec.containers[0].image"
        );
    }

    #[test]
    fn non_workloads_have_no_containers() {
        assert!(containers(&json!({"kind": "Service"})).unwrap().is_empty());
        assert!(
            containers(&json!({"kind": "Deployment"}))
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn malformed_containers_are_errors() {
        let cases = [
            (
                json!({"containers": {"a": 1}}),
                "spec.template.spec.containers: must be a sequence",
            ),
            (
                json!({"containers": [{"image": "x"}]}),
                "containers[0].name: a container needs a name",
            ),
            (
                json!({"containers": [{"name": "a"}]}),
                "container a has no image",
            ),
            (
                json!({"containers": [{"name": "a", "image": {"repo": "x"}}]}),
                "image must be a string",
            ),
        ];
        for (spec, want) in cases {
            let e = containers(&pod_spec("Deployment", spec))
                .unwrap_err()
                .to_string();
            assert!(e.contains(want), "{e}");
        }
    }
}
