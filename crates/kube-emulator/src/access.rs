//! Who may do what: bearer tokens mapped to identities, some of which are
//! restricted to a few namespaces, the way a service account bound by
//! RoleBindings in those namespaces only is.
//!
//! This is not RBAC (there are no Role objects behind it); it is enough to
//! test that a client limited to some namespaces never reads or writes
//! others, and that it reports the 403s it gets.

use std::collections::BTreeSet;

use crate::error::ApiError;
use crate::resources::ResourceType;

/// An identity limited to some namespaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessRule {
    /// The bearer token that authenticates it.
    pub token: String,
    /// The user name shown in 403 messages.
    pub user: String,
    /// Namespaces it may use (any verb on namespaced objects there).
    pub namespaces: BTreeSet<String>,
    /// Whether it may get, list and watch cluster-scoped objects.
    pub cluster_read: bool,
}

impl AccessRule {
    /// A rule for `token` allowing `namespaces`, with cluster-wide reads.
    pub fn namespaces<S: AsRef<str>>(token: &str, user: &str, namespaces: &[S]) -> Self {
        AccessRule {
            token: token.to_owned(),
            user: user.to_owned(),
            namespaces: namespaces.iter().map(|s| s.as_ref().to_owned()).collect(),
            cluster_read: true,
        }
    }
}

/// The authentication and authorization settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    /// Tokens with full access.
    pub admin_tokens: Vec<String>,
    /// Limited identities.
    pub rules: Vec<AccessRule>,
    /// Whether requests without a token have full access.
    pub anonymous_admin: bool,
}

impl Default for Access {
    fn default() -> Self {
        Access {
            admin_tokens: Vec::new(),
            rules: Vec::new(),
            anonymous_admin: true,
        }
    }
}

/// Who is asking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// Full access.
    Admin,
    /// Limited by a rule (index into [`Access::rules`]).
    Limited(usize),
}

/// Whether a verb only reads.
pub fn is_read(verb: &str) -> bool {
    matches!(verb, "get" | "list" | "watch")
}

impl Access {
    /// Identifies the caller from its `Authorization` header.
    pub fn authenticate(&self, authorization: Option<&str>) -> Result<Identity, ApiError> {
        let token = authorization
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim);
        match token {
            None => {
                if self.anonymous_admin {
                    Ok(Identity::Admin)
                } else {
                    Err(ApiError::unauthorized())
                }
            }
            Some(t) if self.admin_tokens.iter().any(|a| a == t) => Ok(Identity::Admin),
            Some(t) => match self.rules.iter().position(|r| r.token == t) {
                Some(i) => Ok(Identity::Limited(i)),
                None if self.anonymous_admin
                    && self.rules.is_empty()
                    && self.admin_tokens.is_empty() =>
                {
                    Ok(Identity::Admin)
                }
                None => Err(ApiError::unauthorized()),
            },
        }
    }

    /// The user name a request's `Authorization` header maps to: a limited
    /// rule's user, `admin` for full access, `""` if it does not
    /// authenticate.
    pub fn user_name(&self, authorization: Option<&str>) -> String {
        match self.authenticate(authorization) {
            Ok(Identity::Admin) => "admin".into(),
            Ok(Identity::Limited(i)) => self
                .rules
                .get(i)
                .map(|r| r.user.clone())
                .unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// Whether `who` may `verb` objects of `rt` in `ns` (`None`: all
    /// namespaces, or cluster scope); `name` is the object named, if any.
    pub fn authorize(
        &self,
        who: &Identity,
        verb: &str,
        rt: &ResourceType,
        ns: Option<&str>,
        name: Option<&str>,
    ) -> Result<(), ApiError> {
        let Identity::Limited(i) = who else {
            return Ok(());
        };
        let Some(rule) = self.rules.get(*i) else {
            return Err(ApiError::unauthorized());
        };
        let allowed = if rt.namespaced {
            ns.is_some_and(|n| rule.namespaces.contains(n))
        } else if rt.group.is_empty()
            && rt.kind == "Namespace"
            && name.is_some_and(|n| rule.namespaces.contains(n))
        {
            is_read(verb)
        } else {
            rule.cluster_read && is_read(verb)
        };
        if allowed {
            Ok(())
        } else {
            Err(ApiError::forbidden(
                &rule.user,
                verb,
                &rt.group,
                &rt.plural,
                if rt.namespaced { ns } else { None },
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::builtins;

    #[test]
    fn limited_identity() {
        let access = Access {
            admin_tokens: vec!["root".into()],
            rules: vec![AccessRule {
                cluster_read: false,
                ..AccessRule::namespaces("t1", "system:serviceaccount:flux:flux", &["a", "b"])
            }],
            anonymous_admin: false,
        };
        assert_eq!(
            access.authenticate(Some("Bearer root")).unwrap(),
            Identity::Admin
        );
        assert!(access.authenticate(None).is_err());
        assert!(access.authenticate(Some("Bearer nope")).is_err());
        let who = access.authenticate(Some("Bearer t1")).unwrap();
        let types = builtins();
        let cm = types.iter().find(|t| t.kind == "ConfigMap").unwrap();
        let ns = types.iter().find(|t| t.kind == "Namespace").unwrap();
        let cr = types.iter().find(|t| t.kind == "ClusterRole").unwrap();
        let cases = [
            (cm, "create", Some("a"), None, true),
            (cm, "list", Some("b"), None, true),
            (cm, "get", Some("c"), None, false),
            (cm, "list", None, None, false),
            (ns, "get", None, Some("a"), true),
            (ns, "delete", None, Some("a"), false),
            (ns, "get", None, Some("c"), false),
            (cr, "list", None, None, false),
        ];
        for (rt, verb, n, name, ok) in cases {
            assert_eq!(
                access.authorize(&who, verb, rt, n, name).is_ok(),
                ok,
                "{verb} {} {n:?} {name:?}",
                rt.plural
            );
        }
        let e = access
            .authorize(&who, "list", cm, Some("c"), None)
            .unwrap_err();
        assert_eq!(e.code, 403);
        assert!(
            e.message.contains("in the namespace \"c\""),
            "{}",
            e.message
        );
    }
}
