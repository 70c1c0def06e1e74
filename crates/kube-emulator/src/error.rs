//! Errors: the API server's `Status` bodies, and the emulator's own
//! start-up failures.

use serde_json::{Value, json};

/// A failed API request, rendered as a `Status` object.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// HTTP status code.
    pub code: u16,
    /// Machine-readable reason (`NotFound`, `Conflict`…).
    pub reason: &'static str,
    /// Human-readable message.
    pub message: String,
    /// `details` of the Status, if any.
    pub details: Option<Value>,
}

impl ApiError {
    fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            reason,
            message: message.into(),
            details: None,
        }
    }

    fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    /// 404: `<resource> "<name>" not found`.
    pub fn not_found(group: &str, plural: &str, name: &str) -> Self {
        Self::new(
            404,
            "NotFound",
            format!("{} {name:?} not found", qualified(group, plural)),
        )
        .with_details(json!({"name": name, "group": group, "kind": plural}))
    }

    /// 404 for a path the server does not serve.
    pub fn no_route(path: &str) -> Self {
        Self::new(
            404,
            "NotFound",
            format!("the server could not find the requested resource ({path})"),
        )
        .with_details(json!({}))
    }

    /// 409: the object already exists.
    pub fn already_exists(group: &str, plural: &str, name: &str) -> Self {
        Self::new(
            409,
            "AlreadyExists",
            format!("{} {name:?} already exists", qualified(group, plural)),
        )
        .with_details(json!({"name": name, "group": group, "kind": plural}))
    }

    /// 409: the resourceVersion precondition failed.
    pub fn stale(group: &str, plural: &str, name: &str) -> Self {
        Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} {name:?}: the object has been modified; please apply your changes to the latest version and try again",
                qualified(group, plural)
            ),
        )
        .with_details(json!({"name": name, "group": group, "kind": plural}))
    }

    /// 409: server-side apply conflicts, one cause per field.
    pub fn apply_conflicts(
        group: &str,
        plural: &str,
        name: &str,
        conflicts: &[(String, String, String)],
    ) -> Self {
        let n = conflicts.len();
        let mut lines = Vec::new();
        let causes: Vec<Value> = conflicts
            .iter()
            .map(|(manager, api_version, field)| {
                lines.push(format!(
                    "- conflict with {manager:?} using {api_version}: {field}"
                ));
                json!({
                    "type": "FieldManagerConflict",
                    "message": format!("conflict with {manager:?} using {api_version}"),
                    "field": field,
                })
            })
            .collect();
        let message = if n == 1 {
            let (m, v, f) = &conflicts[0];
            format!("Apply failed with 1 conflict: conflict with {m:?} using {v}: {f}")
        } else {
            format!("Apply failed with {n} conflicts: {}", lines.join("\n"))
        };
        Self::new(409, "Conflict", message)
            .with_details(json!({"name": name, "group": group, "kind": plural, "causes": causes}))
    }

    /// 422: the object is invalid; `causes` are (field, message).
    pub fn invalid(group: &str, kind: &str, name: &str, causes: &[(String, String)]) -> Self {
        let text: Vec<String> = causes.iter().map(|(f, m)| format!("{f}: {m}")).collect();
        let what = qualified(group, kind);
        let message = match text.len() {
            1 => format!("{what} {name:?} is invalid: {}", text[0]),
            _ => format!("{what} {name:?} is invalid: [{}]", text.join(", ")),
        };
        let causes: Vec<Value> = causes
            .iter()
            .map(|(f, m)| json!({"reason": "FieldValueInvalid", "message": m, "field": f}))
            .collect();
        Self::new(422, "Invalid", message)
            .with_details(json!({"name": name, "group": group, "kind": kind, "causes": causes}))
    }

    /// 400.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    /// 403 for an identity that may not touch `plural` in `namespace`.
    pub fn forbidden(
        user: &str,
        verb: &str,
        group: &str,
        plural: &str,
        namespace: Option<&str>,
    ) -> Self {
        let scope = match namespace {
            Some(ns) => format!("in the namespace {ns:?}"),
            None => "at the cluster scope".to_owned(),
        };
        Self::new(
            403,
            "Forbidden",
            format!(
                "{} is forbidden: User {user:?} cannot {verb} resource {plural:?} in API group {group:?} {scope}",
                qualified(group, plural)
            ),
        )
        .with_details(json!({"group": group, "kind": plural}))
    }

    /// 401.
    pub fn unauthorized() -> Self {
        Self::new(401, "Unauthorized", "Unauthorized")
    }

    /// 405.
    pub fn method_not_allowed(method: &str) -> Self {
        Self::new(
            405,
            "MethodNotAllowed",
            format!("the server does not allow this method on the requested resource ({method})"),
        )
    }

    /// 415.
    pub fn unsupported_media_type(ct: &str) -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got {ct:?})"
            ),
        )
    }

    /// 410: a watch asked for history the server no longer has.
    pub fn gone(message: impl Into<String>) -> Self {
        Self::new(410, "Expired", message)
    }

    /// 429 with a retry delay.
    pub fn too_many_requests(retry_after: u64) -> Self {
        Self::new(
            429,
            "TooManyRequests",
            "the server has received too many requests and has asked us to try again later",
        )
        .with_details(json!({"retryAfterSeconds": retry_after}))
    }

    /// 500.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "InternalError", message)
    }

    /// The `Status` object.
    pub fn to_status(&self) -> Value {
        let mut v = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(d) = &self.details {
            v["details"] = d.clone();
        }
        v
    }
}

fn qualified(group: &str, plural: &str) -> String {
    if group.is_empty() {
        plural.to_owned()
    } else {
        format!("{plural}.{group}")
    }
}

/// The emulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Binding the listening socket failed.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: std::net::SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Writing a kubeconfig failed.
    #[error("cannot write kubeconfig {path}: {source}")]
    Kubeconfig {
        /// The file.
        path: std::path::PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Making the TLS certificates failed.
    #[error("cannot make the TLS certificates: {source}")]
    Certificate {
        /// The cause.
        #[source]
        source: rcgen::Error,
    },
    /// Setting up TLS failed.
    #[error("cannot set up TLS: {source}")]
    Tls {
        /// The cause.
        #[source]
        source: rustls::Error,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_bodies() {
        let cases = [
            (
                ApiError::not_found("", "configmaps", "x"),
                404,
                "NotFound",
                "configmaps \"x\" not found",
            ),
            (
                ApiError::not_found("apps", "deployments", "web"),
                404,
                "NotFound",
                "deployments.apps \"web\" not found",
            ),
            (
                ApiError::already_exists("", "namespaces", "a"),
                409,
                "AlreadyExists",
                "namespaces \"a\" already exists",
            ),
            (
                ApiError::forbidden("flux", "list", "", "secrets", Some("b")),
                403,
                "Forbidden",
                "secrets is forbidden: User \"flux\" cannot list resource \"secrets\" in API group \"\" in the namespace \"b\"",
            ),
        ];
        for (e, code, reason, msg) in cases {
            let s = e.to_status();
            assert_eq!(s["code"], code);
            assert_eq!(s["reason"], reason);
            assert_eq!(s["message"], msg);
            assert_eq!(s["kind"], "Status");
        }
        let c = ApiError::apply_conflicts(
            "apps",
            "deployments",
            "web",
            &[("hpa".into(), "apps/v1".into(), ".spec.replicas".into())],
        );
        assert_eq!(
            c.message,
            "Apply failed with 1 conflict: conflict with \"hpa\" using apps/v1: .spec.replicas"
        );
        assert_eq!(
            c.to_status()["details"]["causes"][0]["field"],
            ".spec.replicas"
        );
    }
}
