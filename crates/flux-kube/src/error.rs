//! Turning kube-rs errors into flux-core's [`ClusterError`], with what was
//! being done to which object, and this crate's own set-up errors.

use flux_core::ResourceId;
use flux_core::cluster::{ClusterError, ClusterErrorKind};

/// The adapter could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No usable kubeconfig or in-cluster configuration.
    #[error("cannot load the Kubernetes client configuration: {source}")]
    Config {
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The client could not be built from the configuration.
    #[error("cannot build a Kubernetes client: {source}")]
    Client {
        /// The cause.
        #[source]
        source: kube::Error,
    },
}

/// The kind of failure behind a kube-rs error.
pub fn kind_of(e: &kube::Error) -> ClusterErrorKind {
    match e {
        kube::Error::Api(s) => match s.code {
            404 | 410 => ClusterErrorKind::NotFound,
            401 | 403 => ClusterErrorKind::Forbidden,
            409 => ClusterErrorKind::Conflict,
            400 | 415 | 422 => ClusterErrorKind::Invalid,
            429 | 500..=599 => ClusterErrorKind::Unavailable,
            _ => ClusterErrorKind::Other,
        },
        kube::Error::SerdeError(_) | kube::Error::BuildRequest(_) | kube::Error::Discovery(_) => {
            ClusterErrorKind::Other
        }
        // Transport failures: refused or dropped connections, timeouts.
        _ => ClusterErrorKind::Unavailable,
    }
}

/// A [`ClusterError`] for an operation (`what`, e.g. "apply apps/v1
/// Deployment demo/web") that failed with `e`.
pub fn cluster_error(id: Option<&ResourceId>, what: &str, e: kube::Error) -> ClusterError {
    let kind = kind_of(&e);
    let message = match &e {
        kube::Error::Api(s) => format!("{what}: {} (HTTP {} {})", s.message, s.code, s.reason),
        other => format!("{what}: {other}"),
    };
    ClusterError {
        kind,
        id: id.cloned(),
        message,
        source: Some(Box::new(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::Status;

    fn api(code: u16, reason: &str, message: &str) -> kube::Error {
        kube::Error::Api(Box::new(Status {
            code,
            reason: reason.into(),
            message: message.into(),
            ..Status::failure(message, reason)
        }))
    }

    #[test]
    fn kinds_and_messages() {
        let cases = [
            (404, ClusterErrorKind::NotFound),
            (403, ClusterErrorKind::Forbidden),
            (401, ClusterErrorKind::Forbidden),
            (409, ClusterErrorKind::Conflict),
            (422, ClusterErrorKind::Invalid),
            (400, ClusterErrorKind::Invalid),
            (429, ClusterErrorKind::Unavailable),
            (503, ClusterErrorKind::Unavailable),
            (418, ClusterErrorKind::Other),
        ];
        for (code, kind) in cases {
            assert_eq!(kind_of(&api(code, "X", "m")), kind, "{code}");
        }
        let id: ResourceId = "demo:configmap/x".parse().unwrap();
        let e = cluster_error(
            Some(&id),
            "apply v1 ConfigMap demo/x",
            api(403, "Forbidden", "configmaps is forbidden"),
        );
        assert_eq!(
            e.to_string(),
            "demo:configmap/x: apply v1 ConfigMap demo/x: configmaps is forbidden (HTTP 403 Forbidden)"
        );
        assert_eq!(e.kind, ClusterErrorKind::Forbidden);
    }
}
