//! Whether a kind is namespaced or cluster-scoped.
//!
//! A manifest without `metadata.namespace` lands in the default namespace only
//! if its kind is namespaced, so loading needs to know every kind's scope.
//! The answer comes from a built-in table of the kinds Kubernetes ships, the
//! CustomResourceDefinitions in the same repository, and (in the daemon) API
//! discovery, in that order of increasing authority.

use std::collections::HashMap;

/// The scope of a kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Scope {
    /// Objects live in a namespace.
    Namespaced,
    /// Objects are cluster-wide.
    Cluster,
}

/// Splits an `apiVersion` into its group (`""` for the core group) and version.
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.rsplit_once('/') {
        Some((group, version)) => (group, version),
        None => ("", api_version),
    }
}

/// Built-in scopes: (group, kind, scope). Kinds are compared case-insensitively.
const BUILTIN: &[(&str, &str, Scope)] = {
    use Scope::{Cluster as C, Namespaced as N};
    &[
        ("", "Binding", N),
        ("", "ConfigMap", N),
        ("", "Endpoints", N),
        ("", "Event", N),
        ("", "LimitRange", N),
        ("", "PersistentVolumeClaim", N),
        ("", "Pod", N),
        ("", "PodTemplate", N),
        ("", "ReplicationController", N),
        ("", "ResourceQuota", N),
        ("", "Secret", N),
        ("", "Service", N),
        ("", "ServiceAccount", N),
        ("", "ComponentStatus", C),
        ("", "Namespace", C),
        ("", "Node", C),
        ("", "PersistentVolume", C),
        (
            "admissionregistration.k8s.io",
            "MutatingWebhookConfiguration",
            C,
        ),
        (
            "admissionregistration.k8s.io",
            "ValidatingWebhookConfiguration",
            C,
        ),
        (
            "admissionregistration.k8s.io",
            "ValidatingAdmissionPolicy",
            C,
        ),
        (
            "admissionregistration.k8s.io",
            "ValidatingAdmissionPolicyBinding",
            C,
        ),
        ("admissionregistration.k8s.io", "MutatingAdmissionPolicy", C),
        (
            "admissionregistration.k8s.io",
            "MutatingAdmissionPolicyBinding",
            C,
        ),
        ("apiextensions.k8s.io", "CustomResourceDefinition", C),
        ("apiregistration.k8s.io", "APIService", C),
        ("apps", "ControllerRevision", N),
        ("apps", "DaemonSet", N),
        ("apps", "Deployment", N),
        ("apps", "ReplicaSet", N),
        ("apps", "StatefulSet", N),
        ("autoscaling", "HorizontalPodAutoscaler", N),
        ("batch", "CronJob", N),
        ("batch", "Job", N),
        ("certificates.k8s.io", "CertificateSigningRequest", C),
        ("certificates.k8s.io", "ClusterTrustBundle", C),
        ("coordination.k8s.io", "Lease", N),
        ("discovery.k8s.io", "EndpointSlice", N),
        ("events.k8s.io", "Event", N),
        ("extensions", "DaemonSet", N),
        ("extensions", "Deployment", N),
        ("extensions", "Ingress", N),
        ("extensions", "NetworkPolicy", N),
        ("extensions", "ReplicaSet", N),
        ("flowcontrol.apiserver.k8s.io", "FlowSchema", C),
        (
            "flowcontrol.apiserver.k8s.io",
            "PriorityLevelConfiguration",
            C,
        ),
        ("networking.k8s.io", "Ingress", N),
        ("networking.k8s.io", "NetworkPolicy", N),
        ("networking.k8s.io", "IngressClass", C),
        ("networking.k8s.io", "IPAddress", C),
        ("networking.k8s.io", "ServiceCIDR", C),
        ("node.k8s.io", "RuntimeClass", C),
        ("policy", "PodDisruptionBudget", N),
        ("policy", "PodSecurityPolicy", C),
        ("rbac.authorization.k8s.io", "Role", N),
        ("rbac.authorization.k8s.io", "RoleBinding", N),
        ("rbac.authorization.k8s.io", "ClusterRole", C),
        ("rbac.authorization.k8s.io", "ClusterRoleBinding", C),
        ("resource.k8s.io", "DeviceClass", C),
        ("resource.k8s.io", "ResourceClaim", N),
        ("resource.k8s.io", "ResourceClaimTemplate", N),
        ("resource.k8s.io", "ResourceSlice", C),
        ("scheduling.k8s.io", "PriorityClass", C),
        ("storage.k8s.io", "CSIDriver", C),
        ("storage.k8s.io", "CSINode", C),
        ("storage.k8s.io", "CSIStorageCapacity", N),
        ("storage.k8s.io", "StorageClass", C),
        ("storage.k8s.io", "VolumeAttachment", C),
        ("storage.k8s.io", "VolumeAttributesClass", C),
        // Flux's own custom resources, whose CRDs usually live outside the repo.
        ("helm.fluxcd.io", "HelmRelease", N),
        ("flux.weave.works", "HelmRelease", N),
        ("flux.weave.works", "FluxHelmRelease", N),
    ]
};

/// Maps (API group, kind) to a scope.
///
/// ```
/// use flux_core::{Scope, ScopeTable};
/// let mut scopes = ScopeTable::builtin();
/// assert_eq!(scopes.lookup("apps/v1", "Deployment"), Some(Scope::Namespaced));
/// assert_eq!(scopes.lookup("v1", "namespace"), Some(Scope::Cluster));
/// assert_eq!(scopes.lookup("example.com/v1", "Widget"), None);
/// scopes.insert("example.com", "Widget", Scope::Cluster);
/// assert_eq!(scopes.lookup("example.com/v2", "Widget"), Some(Scope::Cluster));
/// ```
#[derive(Debug, Clone, Default)]
pub struct ScopeTable {
    scopes: HashMap<(String, String), Scope>,
}

impl ScopeTable {
    /// An empty table.
    pub fn empty() -> Self {
        Self::default()
    }

    /// The kinds every Kubernetes cluster serves, plus Flux's HelmRelease.
    pub fn builtin() -> Self {
        let mut table = Self::empty();
        for (group, kind, scope) in BUILTIN {
            table.insert(group, kind, *scope);
        }
        table
    }

    /// Records (or overrides) the scope of a group's kind.
    pub fn insert(&mut self, group: &str, kind: &str, scope: Scope) {
        self.scopes
            .insert((group.to_owned(), kind.to_ascii_lowercase()), scope);
    }

    /// The scope of `kind` in the group of `api_version`, if known.
    pub fn lookup(&self, api_version: &str, kind: &str) -> Option<Scope> {
        let (group, _) = split_api_version(api_version);
        self.scopes
            .get(&(group.to_owned(), kind.to_ascii_lowercase()))
            .copied()
    }

    /// Adds the kind defined by a CustomResourceDefinition object, if it is one
    /// and names its group, kind and scope. Returns whether it added anything.
    pub fn learn_crd(&mut self, object: &serde_json::Value) -> bool {
        let spec = &object["spec"];
        let (Some(group), Some(kind), Some(scope)) = (
            spec["group"].as_str(),
            spec["names"]["kind"].as_str(),
            spec["scope"].as_str(),
        ) else {
            return false;
        };
        let scope = match scope {
            "Namespaced" => Scope::Namespaced,
            "Cluster" => Scope::Cluster,
            _ => return false,
        };
        self.insert(group, kind, scope);
        true
    }

    /// Adds every kind of `other`, overriding this table's scope where both
    /// know a kind.
    pub fn extend(&mut self, other: &ScopeTable) {
        self.scopes
            .extend(other.scopes.iter().map(|(k, v)| (k.clone(), *v)));
    }

    /// The number of known kinds.
    pub fn len(&self) -> usize {
        self.scopes.len()
    }

    /// Whether no kind is known.
    pub fn is_empty(&self) -> bool {
        self.scopes.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn api_version_split() {
        assert_eq!(split_api_version("v1"), ("", "v1"));
        assert_eq!(split_api_version("apps/v1"), ("apps", "v1"));
        assert_eq!(
            split_api_version("helm.fluxcd.io/v1"),
            ("helm.fluxcd.io", "v1")
        );
    }

    #[test]
    fn group_matters() {
        let t = ScopeTable::builtin();
        assert_eq!(t.lookup("v1", "Event"), Some(Scope::Namespaced));
        assert_eq!(t.lookup("apps/v1", "Namespace"), None);
    }

    #[test]
    fn crd_teaches_scope() {
        let mut t = ScopeTable::builtin();
        let crd = json!({"spec": {"group": "example.com", "scope": "Cluster", "names": {"kind": "Widget"}}});
        assert!(t.learn_crd(&crd));
        assert_eq!(
            t.lookup("example.com/v1alpha1", "widget"),
            Some(Scope::Cluster)
        );
        assert!(!t.learn_crd(
            &json!({"spec": {"group": "x", "scope": "Sideways", "names": {"kind": "Y"}}})
        ));
        assert!(!t.learn_crd(&json!({"spec": {}})));
    }
}
