//! The resource types the emulator serves: the built-in kinds Flux touches,
//! and every kind a CustomResourceDefinition adds at run time.
//!
//! One [`ResourceType`] holds what discovery publishes (group, versions,
//! plural, short names, scope, subresources), the merge schema server-side
//! apply needs, and how `kubectl get` prints it.

use std::sync::Arc;

use serde_json::Value;

use crate::schema::{self, Node};

/// Where a scalable kind keeps its replica counts.
#[derive(Debug, Clone, PartialEq)]
pub struct ScalePaths {
    /// JSON pointer of the desired replicas (`/spec/replicas`).
    pub spec_replicas: String,
    /// JSON pointer of the observed replicas.
    pub status_replicas: String,
    /// JSON pointer of the label selector string, if any.
    pub label_selector: Option<String>,
}

/// How `kubectl get` prints a kind (the server renders tables).
#[derive(Debug, Clone, PartialEq)]
pub enum Printer {
    /// Name and age.
    Default,
    /// Built-in columns for a well-known kind.
    Builtin(&'static str),
    /// A CRD's `additionalPrinterColumns`: (name, type, JSON path, priority).
    Columns(Vec<(String, String, String, i64)>),
}

/// One kind served over HTTP.
#[derive(Debug, Clone)]
pub struct ResourceType {
    /// API group (`""` for core).
    pub group: String,
    /// Served versions, preferred first.
    pub versions: Vec<String>,
    /// Kind.
    pub kind: String,
    /// Plural resource name (the URL segment).
    pub plural: String,
    /// Singular name.
    pub singular: String,
    /// Short names (`deploy`, `cm`).
    pub short_names: Vec<String>,
    /// Categories (`all`).
    pub categories: Vec<String>,
    /// Namespaced or cluster-scoped.
    pub namespaced: bool,
    /// Has a `status` subresource.
    pub status: bool,
    /// Has a `scale` subresource.
    pub scale: Option<ScalePaths>,
    /// Merge schema.
    pub schema: Arc<Node>,
    /// Table rendering.
    pub printer: Printer,
    /// The CRD that defines it, if any.
    pub crd: Option<String>,
}

impl ResourceType {
    /// `group/version` for a version (`v1` for the core group).
    pub fn api_version(&self, version: &str) -> String {
        if self.group.is_empty() {
            version.to_owned()
        } else {
            format!("{}/{version}", self.group)
        }
    }

    /// The preferred version.
    pub fn preferred(&self) -> &str {
        self.versions.first().map_or("v1", String::as_str)
    }

    /// The verbs discovery advertises.
    pub fn verbs(&self) -> Vec<&'static str> {
        let mut v = vec![
            "create",
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "update",
            "watch",
        ];
        if self.kind == "Namespace" {
            v.retain(|x| *x != "deletecollection");
        }
        v
    }

    /// The subresources, by name.
    pub fn subresources(&self) -> Vec<&'static str> {
        let mut s = Vec::new();
        if self.status {
            s.push("status");
        }
        if self.scale.is_some() {
            s.push("scale");
        }
        s
    }

    /// `plural` or `plural.group`.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }
}

struct Builtin {
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    short: &'static [&'static str],
    namespaced: bool,
    status: bool,
    scale: bool,
    all: bool,
}

#[allow(clippy::too_many_arguments)]
const fn b(
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    short: &'static [&'static str],
    namespaced: bool,
    status: bool,
    scale: bool,
    all: bool,
) -> Builtin {
    Builtin {
        group,
        version,
        kind,
        plural,
        short,
        namespaced,
        status,
        scale,
        all,
    }
}

const NS: bool = true;
const CL: bool = false;

#[rustfmt::skip]
const BUILTINS: &[Builtin] = &[
    b("", "v1", "Namespace", "namespaces", &["ns"], CL, true, false, false),
    b("", "v1", "ConfigMap", "configmaps", &["cm"], NS, false, false, false),
    b("", "v1", "Secret", "secrets", &[], NS, false, false, false),
    b("", "v1", "Service", "services", &["svc"], NS, true, false, true),
    b("", "v1", "ServiceAccount", "serviceaccounts", &["sa"], NS, false, false, false),
    b("", "v1", "Pod", "pods", &["po"], NS, true, false, true),
    b("", "v1", "PodTemplate", "podtemplates", &[], NS, false, false, false),
    b("", "v1", "ReplicationController", "replicationcontrollers", &["rc"], NS, true, true, true),
    b("", "v1", "Endpoints", "endpoints", &["ep"], NS, false, false, false),
    b("", "v1", "Event", "events", &["ev"], NS, false, false, false),
    b("", "v1", "LimitRange", "limitranges", &["limits"], NS, false, false, false),
    b("", "v1", "ResourceQuota", "resourcequotas", &["quota"], NS, true, false, false),
    b("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", &["pvc"], NS, true, false, false),
    b("", "v1", "PersistentVolume", "persistentvolumes", &["pv"], CL, true, false, false),
    b("", "v1", "Node", "nodes", &["no"], CL, true, false, false),
    b("apps", "v1", "Deployment", "deployments", &["deploy"], NS, true, true, true),
    b("apps", "v1", "DaemonSet", "daemonsets", &["ds"], NS, true, false, true),
    b("apps", "v1", "StatefulSet", "statefulsets", &["sts"], NS, true, true, true),
    b("apps", "v1", "ReplicaSet", "replicasets", &["rs"], NS, true, true, true),
    b("apps", "v1", "ControllerRevision", "controllerrevisions", &[], NS, false, false, false),
    b("batch", "v1", "Job", "jobs", &[], NS, true, false, true),
    b("batch", "v1", "CronJob", "cronjobs", &["cj"], NS, true, false, true),
    b("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", &["hpa"], NS, true, false, true),
    b("networking.k8s.io", "v1", "Ingress", "ingresses", &["ing"], NS, true, false, false),
    b("networking.k8s.io", "v1", "IngressClass", "ingressclasses", &[], CL, false, false, false),
    b("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", &["netpol"], NS, false, false, false),
    b("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", &["pdb"], NS, true, false, false),
    b("rbac.authorization.k8s.io", "v1", "Role", "roles", &[], NS, false, false, false),
    b("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", &[], NS, false, false, false),
    b("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", &[], CL, false, false, false),
    b("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", &[], CL, false, false, false),
    b("apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions", &["crd", "crds"], CL, true, false, false),
    b("storage.k8s.io", "v1", "StorageClass", "storageclasses", &["sc"], CL, false, false, false),
    b("scheduling.k8s.io", "v1", "PriorityClass", "priorityclasses", &["pc"], CL, false, false, false),
    b("coordination.k8s.io", "v1", "Lease", "leases", &[], NS, false, false, false),
    b("admissionregistration.k8s.io", "v1", "MutatingWebhookConfiguration", "mutatingwebhookconfigurations", &[], CL, false, false, false),
    b("admissionregistration.k8s.io", "v1", "ValidatingWebhookConfiguration", "validatingwebhookconfigurations", &[], CL, false, false, false),
];

/// The built-in resource types.
pub fn builtins() -> Vec<Arc<ResourceType>> {
    BUILTINS
        .iter()
        .map(|x| {
            Arc::new(ResourceType {
                group: x.group.into(),
                versions: vec![x.version.into()],
                kind: x.kind.into(),
                plural: x.plural.into(),
                singular: x.kind.to_ascii_lowercase(),
                short_names: x.short.iter().map(|s| (*s).into()).collect(),
                categories: if x.all { vec!["all".into()] } else { vec![] },
                namespaced: x.namespaced,
                status: x.status,
                scale: x.scale.then(|| ScalePaths {
                    spec_replicas: "/spec/replicas".into(),
                    status_replicas: "/status/replicas".into(),
                    label_selector: Some("/status/selector".into()),
                }),
                schema: Arc::new(schema::builtin(x.group, x.kind)),
                printer: if crate::printers::has_printer(x.kind) {
                    Printer::Builtin(x.kind)
                } else {
                    Printer::Default
                },
                crd: None,
            })
        })
        .collect()
}

/// Why a CRD cannot define a resource type.
pub type CrdError = Vec<(String, String)>;

/// The resource type a CustomResourceDefinition object defines.
pub fn from_crd(crd: &Value) -> Result<ResourceType, CrdError> {
    let mut errs = Vec::new();
    let name = crd
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let s = |p: &str| {
        crd.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    let group = s("/spec/group");
    let plural = s("/spec/names/plural");
    let kind = s("/spec/names/kind");
    if group.is_empty() {
        errs.push(("spec.group".into(), "Required value".into()));
    }
    if plural.is_empty() {
        errs.push(("spec.names.plural".into(), "Required value".into()));
    }
    if kind.is_empty() {
        errs.push(("spec.names.kind".into(), "Required value".into()));
    }
    if !group.is_empty() && !plural.is_empty() && name != format!("{plural}.{group}") {
        errs.push((
            "metadata.name".into(),
            format!("Invalid value: {name:?}: must be spec.names.plural+\".\"+spec.group"),
        ));
    }
    let namespaced = match s("/spec/scope").as_str() {
        "Namespaced" => true,
        "Cluster" => false,
        other => {
            errs.push((
                "spec.scope".into(),
                format!(
                    "Unsupported value: {other:?}: supported values: \"Cluster\", \"Namespaced\""
                ),
            ));
            true
        }
    };
    let versions = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let served: Vec<&Value> = versions
        .iter()
        .filter(|v| v.get("served").and_then(Value::as_bool).unwrap_or(false))
        .collect();
    let storage_count = versions
        .iter()
        .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
        .count();
    if storage_count != 1 {
        errs.push((
            "spec.versions".into(),
            "Invalid value: must have exactly one version marked as storage version".into(),
        ));
    }
    if !errs.is_empty() {
        return Err(errs);
    }
    // Kubernetes orders versions by priority (GA > beta > alpha, then
    // number); the first served storage-compatible one is preferred.
    let mut names: Vec<String> = served
        .iter()
        .filter_map(|v| v.get("name").and_then(Value::as_str).map(str::to_owned))
        .collect();
    names.sort_by_key(|v| std::cmp::Reverse(version_priority(v)));
    let first = served.first().copied();
    let schema_of = |v: Option<&Value>| {
        v.and_then(|v| v.pointer("/schema/openAPIV3Schema"))
            .cloned()
    };
    let storage = versions
        .iter()
        .find(|v| v.get("storage").and_then(Value::as_bool) == Some(true));
    let schema_json = schema_of(storage).or_else(|| schema_of(first));
    let subs = storage.and_then(|v| v.get("subresources"));
    let scale = subs.and_then(|s| s.get("scale")).map(|sc| {
        let p = |k: &str| sc.get(k).and_then(Value::as_str).map(json_path_to_pointer);
        ScalePaths {
            spec_replicas: p("specReplicasPath").unwrap_or_else(|| "/spec/replicas".into()),
            status_replicas: p("statusReplicasPath").unwrap_or_else(|| "/status/replicas".into()),
            label_selector: p("labelSelectorPath"),
        }
    });
    let columns = storage
        .and_then(|v| v.get("additionalPrinterColumns"))
        .and_then(Value::as_array)
        .map(|cols| {
            cols.iter()
                .map(|c| {
                    let s = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
                    (
                        s("name"),
                        s("type"),
                        s("jsonPath"),
                        c.get("priority").and_then(Value::as_i64).unwrap_or(0),
                    )
                })
                .collect()
        });
    let str_list = |p: &str| -> Vec<String> {
        crd.pointer(p)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    let singular = match s("/spec/names/singular") {
        x if x.is_empty() => kind.to_ascii_lowercase(),
        x => x,
    };
    Ok(ResourceType {
        group,
        versions: names,
        kind,
        plural,
        singular,
        short_names: str_list("/spec/names/shortNames"),
        categories: str_list("/spec/names/categories"),
        namespaced,
        status: subs.and_then(|s| s.get("status")).is_some(),
        scale,
        schema: Arc::new(schema::from_crd(schema_json.as_ref())),
        printer: columns.map_or(Printer::Default, Printer::Columns),
        crd: Some(name.to_owned()),
    })
}

/// `.spec.replicas` → `/spec/replicas`.
pub fn json_path_to_pointer(p: &str) -> String {
    p.trim_start_matches('.')
        .split('.')
        .fold(String::new(), |mut acc, seg| {
            acc.push('/');
            acc.push_str(seg);
            acc
        })
}

/// Kubernetes version priority: v1 > v1beta2 > v1beta1 > v1alpha1 > other.
fn version_priority(v: &str) -> (u8, u32, u32) {
    let Some(rest) = v.strip_prefix('v') else {
        return (0, 0, 0);
    };
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let Ok(major) = digits.parse::<u32>() else {
        return (0, 0, 0);
    };
    let tail = &rest[digits.len()..];
    if tail.is_empty() {
        return (3, major, 0);
    }
    let (level, num) = if let Some(n) = tail.strip_prefix("beta") {
        (2, n)
    } else if let Some(n) = tail.strip_prefix("alpha") {
        (1, n)
    } else {
        return (0, 0, 0);
    };
    match num.parse::<u32>() {
        Ok(n) => (level, major, n),
        Err(_) => (0, 0, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn builtin_scopes() {
        let all = builtins();
        let find = |k: &str| all.iter().find(|r| r.kind == k).unwrap();
        assert!(!find("Namespace").namespaced);
        assert!(find("Deployment").namespaced);
        assert!(find("Deployment").scale.is_some());
        assert!(!find("ClusterRole").namespaced);
        assert_eq!(
            find("HorizontalPodAutoscaler").api_version("v2"),
            "autoscaling/v2"
        );
        assert_eq!(find("ConfigMap").api_version("v1"), "v1");
        assert!(!find("Namespace").verbs().contains(&"deletecollection"));
    }

    #[test]
    fn crd_defines_a_type() {
        let crd = json!({
            "metadata": {"name": "helmreleases.helm.fluxcd.io"},
            "spec": {"group": "helm.fluxcd.io", "scope": "Namespaced",
                     "names": {"kind": "HelmRelease", "plural": "helmreleases", "shortNames": ["hr"]},
                     "versions": [
                        {"name": "v1beta1", "served": true, "storage": false},
                        {"name": "v1", "served": true, "storage": true,
                         "subresources": {"status": {}},
                         "additionalPrinterColumns": [{"name": "Release", "type": "string", "jsonPath": ".spec.releaseName"}]}]}
        });
        let rt = from_crd(&crd).unwrap();
        assert_eq!(rt.versions, vec!["v1", "v1beta1"]);
        assert_eq!(rt.singular, "helmrelease");
        assert!(rt.status);
        assert_eq!(rt.short_names, vec!["hr"]);
        assert!(matches!(rt.printer, Printer::Columns(ref c) if c[0].2 == ".spec.releaseName"));

        let mut bad = crd.clone();
        bad["metadata"]["name"] = json!("wrong");
        bad["spec"]["scope"] = json!("Global");
        let errs = from_crd(&bad).unwrap_err();
        assert_eq!(errs.len(), 2, "{errs:?}");
    }

    #[test]
    fn version_order() {
        let mut v = vec!["v1alpha1", "v2", "v1beta1", "v1", "v1beta2", "foo"];
        v.sort_by_key(|x| std::cmp::Reverse(version_priority(x)));
        assert_eq!(v, vec!["v2", "v1", "v1beta2", "v1beta1", "v1alpha1", "foo"]);
    }
}
