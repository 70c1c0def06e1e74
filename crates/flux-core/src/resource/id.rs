//! Resource IDs: `namespace:kind/name`, the names Flux v1 users type and read.
//!
//! The grammar is Flux v1's: a namespace (or `<cluster>` for cluster-scoped
//! objects) of `[A-Za-z0-9_-]`, a kind of the same characters, and a name that
//! may also hold `.` and `:`. Kinds are case-insensitive and always shown in
//! lower case. The legacy `namespace/name` form still parses and means a
//! `service`, as it did in Flux v1, and is shown in the full form
//! `namespace:service/name` (Flux v1 kept showing it as written). The form
//! `namespace:kind:name` was never accepted by Flux v1 and is rejected here
//! too, with an error that says so.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The namespace part of the ID of a cluster-scoped resource.
pub const CLUSTER_SCOPE: &str = "<cluster>";

/// Identifies one Kubernetes object: namespace, kind (lower case) and name.
///
/// ```
/// use flux_core::ResourceId;
/// let id: ResourceId = "demo:Deployment/podinfo".parse().unwrap();
/// assert_eq!(id.to_string(), "demo:deployment/podinfo");
/// assert_eq!(id.namespace(), Some("demo"));
/// let ns: ResourceId = "<cluster>:namespace/demo".parse().unwrap();
/// assert!(ns.is_cluster_scoped());
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ResourceId {
    namespace: String,
    kind: String,
    name: String,
}

/// Why a string is not a resource ID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid resource ID {input:?}: {reason}")]
pub struct ParseIdError {
    /// The text that failed to parse.
    pub input: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

fn is_ns_or_kind_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

fn is_name_char(c: char) -> bool {
    is_ns_or_kind_char(c) || c == '.' || c == ':'
}

fn check(part: &str, ok: fn(char) -> bool) -> bool {
    !part.is_empty() && part.chars().all(ok)
}

impl ResourceId {
    /// Builds an ID for a namespaced object. The kind is lower-cased.
    ///
    /// Components are not validated; use [`ResourceId::parse`] for text from
    /// users, or [`ResourceId::try_new`] to validate parts.
    pub fn new(namespace: impl Into<String>, kind: &str, name: impl Into<String>) -> Self {
        ResourceId {
            namespace: namespace.into(),
            kind: kind.to_ascii_lowercase(),
            name: name.into(),
        }
    }

    /// Builds an ID for a cluster-scoped object.
    pub fn cluster(kind: &str, name: impl Into<String>) -> Self {
        Self::new(CLUSTER_SCOPE, kind, name)
    }

    /// Builds an ID from parts, checking each against Flux v1's grammar.
    pub fn try_new(namespace: Option<&str>, kind: &str, name: &str) -> Result<Self, ParseIdError> {
        let ns = namespace.unwrap_or(CLUSTER_SCOPE);
        let text = format!("{ns}:{kind}/{name}");
        if ns != CLUSTER_SCOPE && !check(ns, is_ns_or_kind_char) {
            return Err(err(
                &text,
                "the namespace must be <cluster> or [A-Za-z0-9_-]+",
            ));
        }
        if !check(kind, is_ns_or_kind_char) {
            return Err(err(&text, "the kind must be [A-Za-z0-9_-]+"));
        }
        if !check(name, is_name_char) {
            return Err(err(&text, "the name must be [A-Za-z0-9_.:-]+"));
        }
        Ok(Self::new(ns, kind, name))
    }

    /// Parses `namespace:kind/name`, `<cluster>:kind/name`, or the legacy
    /// `namespace/name` (a service).
    pub fn parse(s: &str) -> Result<Self, ParseIdError> {
        Self::parse_with_default_namespace(s, None)
    }

    /// Parses an ID, also accepting the unqualified `kind/name` when a
    /// namespace is given (as `fluxctl -n NS -w kind/name` does).
    ///
    /// With a default namespace, `a/b` means kind `a` name `b` in that
    /// namespace; without one it is the legacy service form.
    pub fn parse_with_default_namespace(
        s: &str,
        default_namespace: Option<&str>,
    ) -> Result<Self, ParseIdError> {
        if s.is_empty() {
            return Err(err(s, "it is empty"));
        }
        if let Some((ns, rest)) = s.split_once(':') {
            let Some((kind, name)) = rest.split_once('/') else {
                if rest.contains(':') {
                    return Err(err(
                        s,
                        "the form namespace:kind:name is not an ID; write namespace:kind/name",
                    ));
                }
                return Err(err(s, "expected namespace:kind/name"));
            };
            return Self::try_new((ns != CLUSTER_SCOPE).then_some(ns), kind, name)
                .map_err(|e| err(s, e.reason));
        }
        let Some((first, second)) = s.split_once('/') else {
            return Err(err(s, "expected namespace:kind/name"));
        };
        match default_namespace {
            Some(ns) => Self::try_new(Some(ns), first, second).map_err(|e| err(s, e.reason)),
            None => {
                if !check(first, is_ns_or_kind_char) || !check(second, is_ns_or_kind_char) {
                    return Err(err(
                        s,
                        "the legacy form namespace/name allows only [A-Za-z0-9_-] in each part",
                    ));
                }
                Ok(Self::new(first, "service", second))
            }
        }
    }

    /// The namespace, or `None` for a cluster-scoped object.
    pub fn namespace(&self) -> Option<&str> {
        (self.namespace != CLUSTER_SCOPE).then_some(self.namespace.as_str())
    }

    /// The namespace as written in the ID (`<cluster>` for cluster scope).
    pub fn namespace_or_cluster(&self) -> &str {
        &self.namespace
    }

    /// The kind, in lower case.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// The object's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether this names a cluster-scoped object.
    pub fn is_cluster_scoped(&self) -> bool {
        self.namespace == CLUSTER_SCOPE
    }
}

fn err(input: &str, reason: &'static str) -> ParseIdError {
    ParseIdError {
        input: input.to_owned(),
        reason,
    }
}

impl fmt::Display for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}/{}", self.namespace, self.kind, self.name)
    }
}

impl fmt::Debug for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ResourceId({self})")
    }
}

impl FromStr for ResourceId {
    type Err = ParseIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for ResourceId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ResourceId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    macro_rules! ok {
        ($name:ident, $input:expr, $shown:expr) => {
            #[test]
            fn $name() {
                let id = ResourceId::parse($input).expect("valid ID");
                assert_eq!(id.to_string(), $shown);
                assert_eq!(ResourceId::parse(&id.to_string()).expect("round trip"), id);
            }
        };
    }
    macro_rules! bad {
        ($name:ident, $input:expr, $why:expr) => {
            #[test]
            fn $name() {
                let e = ResourceId::parse($input).expect_err("invalid ID");
                assert!(e.to_string().contains($why), "{e}");
            }
        };
    }

    ok!(plain, "demo:deployment/podinfo", "demo:deployment/podinfo");
    ok!(
        kind_lowered,
        "demo:Deployment/podinfo",
        "demo:deployment/podinfo"
    );
    ok!(
        cluster,
        "<cluster>:Namespace/demo",
        "<cluster>:namespace/demo"
    );
    ok!(
        name_with_dots_and_colons,
        "kube-system:clusterrole/system:a.b",
        "kube-system:clusterrole/system:a.b"
    );
    ok!(
        underscores,
        "my_ns:my_kind/my_name",
        "my_ns:my_kind/my_name"
    );
    ok!(
        legacy_service,
        "default/helloworld",
        "default:service/helloworld"
    );

    bad!(empty, "", "empty");
    bad!(
        colon_form,
        "demo:deployment:podinfo",
        "namespace:kind:name is not an ID"
    );
    bad!(no_kind, "demo:/podinfo", "kind");
    bad!(no_name, "demo:deployment/", "name");
    bad!(bad_ns, "de mo:deployment/x", "namespace");
    bad!(slash_in_name, "demo:deployment/a/b", "name");
    bad!(bare_word, "podinfo", "expected");
    bad!(legacy_with_dot, "default/hello.world", "legacy");
    bad!(bad_cluster_spelling, "<Cluster>:namespace/x", "namespace");

    #[test]
    fn case_insensitive_kind_equality() {
        assert_eq!(
            ResourceId::parse("a:DaemonSet/x").unwrap(),
            ResourceId::new("a", "daemonset", "x")
        );
    }

    #[test]
    fn unqualified_uses_default_namespace() {
        let id = ResourceId::parse_with_default_namespace("deployment/x", Some("team")).unwrap();
        assert_eq!(id.to_string(), "team:deployment/x");
        let full =
            ResourceId::parse_with_default_namespace("a:deployment/x", Some("team")).unwrap();
        assert_eq!(full.namespace(), Some("a"));
    }

    #[test]
    fn serde_as_string() {
        let id = ResourceId::parse("demo:deployment/podinfo").unwrap();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, "\"demo:deployment/podinfo\"");
        let back: ResourceId = serde_json::from_str(&json).unwrap();
        assert_eq!(back, id);
        assert!(serde_json::from_str::<ResourceId>("\"nope\"").is_err());
    }

    #[test]
    fn ordering_is_namespace_kind_name() {
        let mut ids: Vec<ResourceId> = ["b:a/a", "a:z/z", "a:a/b", "<cluster>:namespace/a"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        ids.sort();
        let shown: Vec<String> = ids.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["<cluster>:namespace/a", "a:a/b", "a:z/z", "b:a/a"]);
    }
}
