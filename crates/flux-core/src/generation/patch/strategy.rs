//! How the lists of Kubernetes' built-in kinds merge in a strategic-merge
//! patch: the `patchStrategy`/`patchMergeKey` tags of the Kubernetes API
//! types that a manifest patch meets (pod templates, services, metadata).
//!
//! Flux v1 used the Kubernetes Go types for built-in kinds and a JSON merge
//! patch (RFC 7386, lists replaced whole) for every other kind, HelmRelease
//! included; so does this. A list not in this table is replaced whole, which
//! is what Kubernetes does for a list without a patch strategy.

/// How a list field merges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ListStrategy {
    /// The patch's list replaces the original.
    Replace,
    /// Items are mappings matched by this key.
    MergeByKey(&'static str),
    /// Items are scalars, merged as a set.
    MergePrimitive,
}

/// API groups of the kinds Kubernetes itself defines (and Flux v1's client
/// library knew the patch strategies of).
const BUILTIN_GROUPS: &[&str] = &[
    "",
    "admissionregistration.k8s.io",
    "apps",
    "authentication.k8s.io",
    "authorization.k8s.io",
    "autoscaling",
    "batch",
    "certificates.k8s.io",
    "coordination.k8s.io",
    "discovery.k8s.io",
    "events.k8s.io",
    "extensions",
    "flowcontrol.apiserver.k8s.io",
    "networking.k8s.io",
    "node.k8s.io",
    "policy",
    "rbac.authorization.k8s.io",
    "resource.k8s.io",
    "scheduling.k8s.io",
    "storage.k8s.io",
];

/// Whether objects of `api_version` merge strategically (a built-in kind)
/// rather than as a JSON merge patch.
pub(crate) fn is_builtin(api_version: &str) -> bool {
    let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
    BUILTIN_GROUPS.contains(&group)
}

/// Where the pod spec is in an object of `kind`.
fn pod_spec_path(kind: &str) -> Option<&'static [&'static str]> {
    Some(match kind {
        "Pod" => &["spec"],
        "PodTemplate" => &["template", "spec"],
        "Deployment"
        | "ReplicaSet"
        | "DaemonSet"
        | "StatefulSet"
        | "Job"
        | "ReplicationController" => &["spec", "template", "spec"],
        "CronJob" => &["spec", "jobTemplate", "spec", "template", "spec"],
        _ => return None,
    })
}

/// The strategy of the list at `path` (field names from the object root;
/// list items add nothing) in an object of built-in `kind`.
pub(crate) fn list_strategy(kind: &str, path: &[&str]) -> ListStrategy {
    use ListStrategy::*;
    if let [.., "metadata", last] = path {
        return match *last {
            "finalizers" => MergePrimitive,
            "ownerReferences" => MergeByKey("uid"),
            _ => Replace,
        };
    }
    if kind == "Service" && path == ["spec", "ports"] {
        return MergeByKey("port");
    }
    let Some(prefix) = pod_spec_path(kind) else {
        return Replace;
    };
    let Some(rest) = path.strip_prefix(prefix) else {
        return Replace;
    };
    match rest {
        ["containers" | "initContainers" | "ephemeralContainers"] => MergeByKey("name"),
        [
            "containers" | "initContainers" | "ephemeralContainers",
            field,
        ] => match *field {
            "env" => MergeByKey("name"),
            "ports" => MergeByKey("containerPort"),
            "volumeMounts" => MergeByKey("mountPath"),
            "volumeDevices" => MergeByKey("devicePath"),
            _ => Replace,
        },
        ["volumes" | "imagePullSecrets" | "resourceClaims" | "schedulingGates"] => {
            MergeByKey("name")
        }
        ["hostAliases"] => MergeByKey("ip"),
        ["topologySpreadConstraints"] => MergeByKey("topologyKey"),
        _ => Replace,
    }
}

#[cfg(test)]
mod tests {
    use super::ListStrategy::*;
    use super::*;

    #[test]
    fn table() {
        let cases: &[(&str, &[&str], ListStrategy)] = &[
            (
                "Deployment",
                &["spec", "template", "spec", "containers"],
                MergeByKey("name"),
            ),
            (
                "Deployment",
                &["spec", "template", "spec", "containers", "env"],
                MergeByKey("name"),
            ),
            (
                "Deployment",
                &["spec", "template", "spec", "initContainers", "ports"],
                MergeByKey("containerPort"),
            ),
            (
                "Deployment",
                &["spec", "template", "spec", "volumes"],
                MergeByKey("name"),
            ),
            (
                "Deployment",
                &["spec", "template", "spec", "tolerations"],
                Replace,
            ),
            (
                "Deployment",
                &["spec", "template", "spec", "containers", "args"],
                Replace,
            ),
            (
                "CronJob",
                &[
                    "spec",
                    "jobTemplate",
                    "spec",
                    "template",
                    "spec",
                    "containers",
                ],
                MergeByKey("name"),
            ),
            (
                "Pod",
                &["spec", "containers", "volumeMounts"],
                MergeByKey("mountPath"),
            ),
            ("Pod", &["spec", "template", "spec", "containers"], Replace),
            ("Service", &["spec", "ports"], MergeByKey("port")),
            ("ConfigMap", &["metadata", "finalizers"], MergePrimitive),
            (
                "Deployment",
                &["spec", "template", "metadata", "ownerReferences"],
                MergeByKey("uid"),
            ),
            ("Ingress", &["spec", "rules"], Replace),
        ];
        for (kind, path, want) in cases {
            assert_eq!(list_strategy(kind, path), *want, "{kind} {path:?}");
        }
    }

    #[test]
    fn builtin_groups() {
        assert!(is_builtin("v1"));
        assert!(is_builtin("apps/v1"));
        assert!(is_builtin("networking.k8s.io/v1"));
        assert!(!is_builtin("helm.fluxcd.io/v1"));
        assert!(!is_builtin("example.com/v1"));
    }
}
