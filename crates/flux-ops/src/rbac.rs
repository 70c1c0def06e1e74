//! Kubernetes RBAC, evaluated the way the API server's authorizer does, for
//! one service account and the Roles, ClusterRoles and bindings of a set of
//! manifests.
//!
//! The emulator the tests run fluxd against has no RBAC (only identities
//! limited to namespaces), so this is how the tests check that the RBAC in
//! `deploy/` allows every request fluxd made, and nothing it does not need:
//! each request of the emulator's log is turned into [`Attributes`] and
//! asked of an [`Authorizer`] built from the rendered manifests.
//!
//! It covers what those manifests use: rules with API groups, resources
//! (`*`, `res`, `res/sub`, `*/sub`), resource names and non-resource URLs
//! (exact, or a prefix ending in `*`); Roles bound by RoleBindings,
//! ClusterRoles bound by ClusterRoleBindings (everywhere) or RoleBindings
//! (in one namespace); and the API server's request attributes, including
//! its rule that a request for one Namespace is in that namespace.
//! Aggregated ClusterRoles and other subjects (users, groups) are not
//! modelled.
//!
//! ```
//! use flux_ops::rbac::{Attributes, Authorizer};
//! use serde_json::json;
//! let objects = vec![
//!     json!({"kind": "Role", "metadata": {"name": "r", "namespace": "apps"},
//!            "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]}),
//!     json!({"kind": "RoleBinding", "metadata": {"name": "r", "namespace": "apps"},
//!            "roleRef": {"kind": "Role", "name": "r"},
//!            "subjects": [{"kind": "ServiceAccount", "name": "flux", "namespace": "flux"}]}),
//! ];
//! let rbac = Authorizer::for_service_account(&objects, "flux", "flux").unwrap();
//! assert!(rbac.allows(&Attributes::from_request("get", "/api/v1/namespaces/apps/configmaps/x", "")));
//! assert!(!rbac.allows(&Attributes::from_request("list", "/api/v1/configmaps", "")));
//! ```

use serde_json::Value;

/// The manifests hold RBAC this evaluator cannot read.
#[derive(Debug, thiserror::Error)]
#[error("{kind} {name}: {message}")]
pub struct RbacError {
    /// The object's kind.
    pub kind: String,
    /// Its name.
    pub name: String,
    /// What is wrong.
    pub message: String,
}

/// One policy rule.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rule {
    /// `apiGroups`.
    pub api_groups: Vec<String>,
    /// `resources`.
    pub resources: Vec<String>,
    /// `resourceNames` (empty: any).
    pub resource_names: Vec<String>,
    /// `nonResourceURLs`.
    pub non_resource_urls: Vec<String>,
    /// `verbs`.
    pub verbs: Vec<String>,
}

/// Rules granted in one namespace, or everywhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// Where they apply: `None` for cluster-wide (a ClusterRoleBinding).
    pub namespace: Option<String>,
    /// Which role granted them (`Kind/name`), for messages.
    pub from: String,
    /// The rules.
    pub rules: Vec<Rule>,
}

/// What the authorizer is asked: the API server's request attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attributes {
    /// The verb (`get`, `list`, `watch`, `create`, `update`, `patch`,
    /// `delete`, `deletecollection`; for non-resource paths the lower-case
    /// HTTP method).
    pub verb: String,
    /// Whether the path is an API resource (else a non-resource URL).
    pub resource_request: bool,
    /// The path as requested (for non-resource URLs).
    pub path: String,
    /// The API group (`""` for core).
    pub api_group: String,
    /// The resource (plural).
    pub resource: String,
    /// The subresource (`""` if none).
    pub subresource: String,
    /// The namespace (`None`: cluster scope or all namespaces).
    pub namespace: Option<String>,
    /// The object's name (`None` for collections).
    pub name: Option<String>,
}

impl Attributes {
    /// The attributes of a request with this API verb, path and query
    /// string, parsed as the API server's request-info factory does: a list
    /// or watch narrowed by `fieldSelector=metadata.name=X` names X (so
    /// `resourceNames` rules apply to it), though it stays out of any
    /// namespace when it is of Namespaces.
    pub fn from_request(verb: &str, path: &str, query: &str) -> Self {
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        let mut out = Attributes {
            verb: verb.to_owned(),
            resource_request: false,
            path: path.to_owned(),
            api_group: String::new(),
            resource: String::new(),
            subresource: String::new(),
            namespace: None,
            name: None,
        };
        let rest: &[&str] = match parts.as_slice() {
            ["api", _version, rest @ ..] if !rest.is_empty() => rest,
            ["apis", group, _version, rest @ ..] if !rest.is_empty() => {
                out.api_group = (*group).to_owned();
                rest
            }
            _ => return out,
        };
        let rest = match rest {
            ["namespaces", ns, rest @ ..] if !rest.is_empty() => {
                out.namespace = Some((*ns).to_owned());
                rest
            }
            other => other,
        };
        out.resource_request = true;
        out.resource = rest[0].to_owned();
        if let Some(name) = rest.get(1) {
            out.name = Some((*name).to_owned());
        }
        if let Some(sub) = rest.get(2) {
            out.subresource = (*sub).to_owned();
        }
        // A request for one Namespace (by path) is in that namespace.
        if out.api_group.is_empty() && out.resource == "namespaces" && out.namespace.is_none() {
            out.namespace = out.name.clone();
        }
        if out.name.is_none() && matches!(verb, "list" | "watch") {
            out.name = query
                .split('&')
                .filter_map(|kv| kv.split_once('='))
                .filter(|(k, _)| *k == "fieldSelector")
                .filter_map(|(_, v)| decode(v).strip_prefix("metadata.name=").map(str::to_owned))
                .find(|n| !n.is_empty() && !n.contains(','));
        }
        out
    }
}

/// A query value with `%XX` escapes and `+` decoded.
fn decode(v: &str) -> String {
    let hex = |b: u8| (b as char).to_digit(16);
    let bytes = v.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match (
            bytes[i],
            bytes.get(i + 1).copied(),
            bytes.get(i + 2).copied(),
        ) {
            (b'%', Some(h), Some(l)) if hex(h).is_some() && hex(l).is_some() => {
                let value = hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0);
                out.push(u8::try_from(value).unwrap_or(b'?'));
                i += 3;
            }
            (b'+', _, _) => {
                out.push(b' ');
                i += 1;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The rules one service account holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorizer {
    /// What it was granted.
    pub grants: Vec<Grant>,
}

fn strings(v: &Value, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn meta<'a>(o: &'a Value, key: &str) -> Option<&'a str> {
    o.get("metadata")?.get(key)?.as_str()
}

fn rules_of(role: &Value) -> Vec<Rule> {
    role.get("rules")
        .and_then(Value::as_array)
        .map(|rs| {
            rs.iter()
                .map(|r| Rule {
                    api_groups: strings(r, "apiGroups"),
                    resources: strings(r, "resources"),
                    resource_names: strings(r, "resourceNames"),
                    non_resource_urls: strings(r, "nonResourceURLs"),
                    verbs: strings(r, "verbs"),
                })
                .collect()
        })
        .unwrap_or_default()
}

impl Authorizer {
    /// The rules the service account `namespace/name` holds through the
    /// bindings among `objects`.
    pub fn for_service_account(
        objects: &[Value],
        namespace: &str,
        name: &str,
    ) -> Result<Self, RbacError> {
        fn kind(o: &Value) -> &str {
            o.get("kind").and_then(Value::as_str).unwrap_or("")
        }
        let find = |k: &str, n: &str, ns: Option<&str>| -> Option<&Value> {
            objects
                .iter()
                .find(|o| kind(o) == k && meta(o, "name") == Some(n) && meta(o, "namespace") == ns)
        };
        let mut grants = Vec::new();
        for binding in objects {
            let bkind = kind(binding);
            if bkind != "RoleBinding" && bkind != "ClusterRoleBinding" {
                continue;
            }
            let bname = meta(binding, "name").unwrap_or_default();
            let error = |message: String| RbacError {
                kind: bkind.to_owned(),
                name: bname.to_owned(),
                message,
            };
            let binds_it = binding
                .get("subjects")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .any(|s| {
                    s.get("kind").and_then(Value::as_str) == Some("ServiceAccount")
                        && s.get("name").and_then(Value::as_str) == Some(name)
                        && s.get("namespace").and_then(Value::as_str) == Some(namespace)
                });
            if !binds_it {
                continue;
            }
            let role_kind = binding
                .pointer("/roleRef/kind")
                .and_then(Value::as_str)
                .ok_or_else(|| error("no roleRef.kind".into()))?;
            let role_name = binding
                .pointer("/roleRef/name")
                .and_then(Value::as_str)
                .ok_or_else(|| error("no roleRef.name".into()))?;
            let binding_ns = meta(binding, "namespace");
            let role = match role_kind {
                "Role" => find("Role", role_name, binding_ns),
                "ClusterRole" => find("ClusterRole", role_name, None),
                other => return Err(error(format!("roleRef.kind {other:?}"))),
            }
            .ok_or_else(|| error(format!("{role_kind} {role_name} is not among the objects")))?;
            grants.push(Grant {
                namespace: if bkind == "ClusterRoleBinding" {
                    None
                } else {
                    Some(binding_ns.unwrap_or("default").to_owned())
                },
                from: format!("{role_kind}/{role_name}"),
                rules: rules_of(role),
            });
        }
        Ok(Authorizer { grants })
    }

    /// Adds what every authenticated identity may do in a cluster with the
    /// default RBAC (`system:discovery`, `system:public-info-viewer`):
    /// read the API's discovery, OpenAPI, version and health paths.
    pub fn with_default_discovery(mut self) -> Self {
        let urls = [
            "/api",
            "/api/*",
            "/apis",
            "/apis/*",
            "/openapi",
            "/openapi/*",
            "/version",
            "/version/",
            "/healthz",
            "/livez",
            "/readyz",
        ];
        self.grants.push(Grant {
            namespace: None,
            from: "ClusterRole/system:discovery".into(),
            rules: vec![Rule {
                non_resource_urls: urls.iter().map(|s| (*s).to_owned()).collect(),
                verbs: vec!["get".into()],
                ..Rule::default()
            }],
        });
        self
    }

    /// Whether any grant allows the request.
    pub fn allows(&self, a: &Attributes) -> bool {
        self.allowed_by(a).is_some()
    }

    /// The first grant allowing the request (its role, for messages).
    pub fn allowed_by(&self, a: &Attributes) -> Option<&Grant> {
        self.grants.iter().find(|g| {
            let in_scope = match (&g.namespace, &a.namespace) {
                (None, _) => true,
                (Some(g), Some(n)) => g == n,
                (Some(_), None) => false,
            };
            // Non-resource URLs are cluster-wide only.
            let in_scope = in_scope && (a.resource_request || g.namespace.is_none());
            in_scope && g.rules.iter().any(|r| rule_allows(r, a))
        })
    }
}

fn has(list: &[String], want: &str) -> bool {
    list.iter().any(|x| x == "*" || x == want)
}

fn rule_allows(r: &Rule, a: &Attributes) -> bool {
    if !has(&r.verbs, &a.verb) {
        return false;
    }
    if !a.resource_request {
        return r
            .non_resource_urls
            .iter()
            .any(|u| match u.strip_suffix('*') {
                Some(prefix) => a.path.starts_with(prefix),
                None => *u == a.path,
            });
    }
    if !has(&r.api_groups, &a.api_group) {
        return false;
    }
    let resource_ok = r.resources.iter().any(|res| {
        if a.subresource.is_empty() {
            res == "*" || *res == a.resource
        } else {
            res == "*"
                || *res == format!("{}/{}", a.resource, a.subresource)
                || *res == format!("*/{}", a.subresource)
        }
    });
    if !resource_ok {
        return false;
    }
    r.resource_names.is_empty()
        || a.name
            .as_ref()
            .is_some_and(|n| r.resource_names.iter().any(|x| x == n))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn objects() -> Vec<Value> {
        vec![
            json!({"kind": "Role", "metadata": {"name": "key", "namespace": "flux"},
                   "rules": [{"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["flux-git-deploy"], "verbs": ["get", "patch"]},
                             {"apiGroups": [""], "resources": ["secrets"], "verbs": ["create"]}]}),
            json!({"kind": "RoleBinding", "metadata": {"name": "key", "namespace": "flux"},
                   "roleRef": {"kind": "Role", "name": "key"},
                   "subjects": [{"kind": "ServiceAccount", "name": "flux", "namespace": "flux"}]}),
            json!({"kind": "Role", "metadata": {"name": "all", "namespace": "apps"},
                   "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]}),
            json!({"kind": "RoleBinding", "metadata": {"name": "all", "namespace": "apps"},
                   "roleRef": {"kind": "Role", "name": "all"},
                   "subjects": [{"kind": "ServiceAccount", "name": "flux", "namespace": "flux"}]}),
            json!({"kind": "ClusterRole", "metadata": {"name": "scale"},
                   "rules": [{"apiGroups": ["apps"], "resources": ["deployments/scale"], "verbs": ["update"]}]}),
            json!({"kind": "RoleBinding", "metadata": {"name": "scale", "namespace": "web"},
                   "roleRef": {"kind": "ClusterRole", "name": "scale"},
                   "subjects": [{"kind": "ServiceAccount", "name": "flux", "namespace": "flux"}]}),
            json!({"kind": "ClusterRole", "metadata": {"name": "ns"},
                   "rules": [{"apiGroups": [""], "resources": ["namespaces"], "resourceNames": ["apps"], "verbs": ["get", "list", "watch"]}]}),
            json!({"kind": "ClusterRoleBinding", "metadata": {"name": "ns"},
                   "roleRef": {"kind": "ClusterRole", "name": "ns"},
                   "subjects": [{"kind": "ServiceAccount", "name": "flux", "namespace": "flux"}]}),
            // Someone else's binding.
            json!({"kind": "ClusterRoleBinding", "metadata": {"name": "other"},
                   "roleRef": {"kind": "ClusterRole", "name": "scale"},
                   "subjects": [{"kind": "ServiceAccount", "name": "flux", "namespace": "elsewhere"}]}),
        ]
    }

    #[test]
    fn requests_against_rules() {
        let rbac = Authorizer::for_service_account(&objects(), "flux", "flux")
            .unwrap()
            .with_default_discovery();
        let cases = [
            (
                "get",
                "/api/v1/namespaces/flux/secrets/flux-git-deploy",
                true,
            ),
            (
                "patch",
                "/api/v1/namespaces/flux/secrets/flux-git-deploy",
                true,
            ),
            ("create", "/api/v1/namespaces/flux/secrets", true),
            ("get", "/api/v1/namespaces/flux/secrets/other", false),
            (
                "delete",
                "/api/v1/namespaces/flux/secrets/flux-git-deploy",
                false,
            ),
            ("list", "/api/v1/namespaces/flux/secrets", false),
            ("list", "/apis/apps/v1/namespaces/apps/deployments", true),
            ("watch", "/apis/batch/v1/namespaces/apps/cronjobs", true),
            ("list", "/apis/apps/v1/deployments", false),
            ("get", "/api/v1/namespaces/apps", true),
            ("patch", "/api/v1/namespaces/apps", true),
            ("get", "/api/v1/namespaces/web", false),
            ("list", "/api/v1/namespaces", false),
            (
                "watch",
                "/api/v1/namespaces?fieldSelector=metadata.name%3Dapps",
                true,
            ),
            (
                "list",
                "/api/v1/namespaces?fieldSelector=metadata.name=apps&limit=500",
                true,
            ),
            (
                "list",
                "/api/v1/namespaces?fieldSelector=metadata.name%3Dweb",
                false,
            ),
            (
                "list",
                "/api/v1/namespaces/apps/secrets?fieldSelector=metadata.name%3Dx",
                true,
            ),
            (
                "list",
                "/api/v1/namespaces/flux/secrets?fieldSelector=metadata.name%3Dflux-git-deploy",
                false,
            ),
            (
                "get",
                "/api/v1/namespaces/flux/secrets/flux-git-deploy?resourceVersion=0",
                true,
            ),
            (
                "list",
                "/apis/rbac.authorization.k8s.io/v1/clusterroles",
                false,
            ),
            (
                "update",
                "/apis/apps/v1/namespaces/web/deployments/d/scale",
                true,
            ),
            (
                "update",
                "/apis/apps/v1/namespaces/web/deployments/d",
                false,
            ),
            ("get", "/apis", true),
            ("get", "/apis/apps/v1", true),
            ("get", "/openapi/v3/apis/apps/v1", true),
            ("get", "/version", true),
            ("post", "/apis", false),
            ("get", "/metrics", false),
        ];
        for (verb, path, want) in cases {
            let (path, query) = path.split_once('?').unwrap_or((path, ""));
            assert_eq!(
                rbac.allows(&Attributes::from_request(verb, path, query)),
                want,
                "{verb} {path}?{query}"
            );
        }
    }

    #[test]
    fn attributes_follow_the_request_info_factory() {
        let a =
            Attributes::from_request("get", "/apis/apps/v1/namespaces/n/deployments/d/status", "");
        assert_eq!(
            (
                a.api_group.as_str(),
                a.resource.as_str(),
                a.subresource.as_str(),
                a.namespace.as_deref(),
                a.name.as_deref()
            ),
            ("apps", "deployments", "status", Some("n"), Some("d"))
        );
        let ns = Attributes::from_request("get", "/api/v1/namespaces/n", "");
        assert_eq!(
            (ns.namespace.as_deref(), ns.name.as_deref()),
            (Some("n"), Some("n"))
        );
        assert!(!Attributes::from_request("get", "/api/v1", "").resource_request);
    }

    #[test]
    fn a_binding_to_a_missing_role_is_an_error() {
        let objects = vec![
            json!({"kind": "RoleBinding", "metadata": {"name": "b", "namespace": "x"},
            "roleRef": {"kind": "Role", "name": "gone"},
            "subjects": [{"kind": "ServiceAccount", "name": "flux", "namespace": "flux"}]}),
        ];
        let e = Authorizer::for_service_account(&objects, "flux", "flux").unwrap_err();
        assert_eq!(
            e.to_string(),
            "RoleBinding b: Role gone is not among the objects"
        );
    }
}
