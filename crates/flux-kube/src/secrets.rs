//! Registry credentials of a workload: the image pull secrets of its
//! service account, then those of its pod template, as Flux v1 gathered
//! them.
//!
//! A secret that is missing, unreadable or of another type is logged and
//! skipped (the registry may not need credentials at all); only failing to
//! read the workload itself is an error.

use base64::Engine as _;
use flux_core::ResourceId;
use flux_core::cluster::{ClusterError, ClusterErrorKind};
use flux_core::registry::Credentials;
use kube::api::GetParams;
use kube::core::Request;
use serde_json::Value;

use crate::error::cluster_error;
use crate::{KubeCluster, allowed, collection_path, not_allowed};

/// Where a workload kind keeps its pod spec (JSON pointer), `None` for kinds
/// without one (HelmRelease: only the namespace's default service account).
fn pod_spec_pointer(kind: &str) -> Option<&'static str> {
    match kind {
        "deployment"
        | "daemonset"
        | "statefulset"
        | "replicaset"
        | "job"
        | "replicationcontroller" => Some("/spec/template/spec"),
        "cronjob" => Some("/spec/jobTemplate/spec/template/spec"),
        "pod" => Some("/spec"),
        _ => None,
    }
}

fn secret_names(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.get("name").and_then(Value::as_str).map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Decodes a pull secret; `Ok(None)` for secrets of other types.
pub fn decode_pull_secret(secret: &Value) -> Result<Option<Credentials>, String> {
    let (key, json) = match secret.get("type").and_then(Value::as_str) {
        Some("kubernetes.io/dockerconfigjson") => (".dockerconfigjson", true),
        Some("kubernetes.io/dockercfg") => (".dockercfg", false),
        _ => return Ok(None),
    };
    let data = secret
        .pointer(&format!("/data/{}", key.replace('/', "~1")))
        .and_then(Value::as_str)
        .ok_or_else(|| format!("has no {key} entry"))?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data)
        .map_err(|_| format!("its {key} entry is not base64"))?;
    let creds = if json {
        Credentials::from_dockerconfigjson(&bytes)
    } else {
        Credentials::from_dockercfg(&bytes)
    };
    creds.map(Some).map_err(|e| e.to_string())
}

pub(crate) async fn image_pull_secrets(
    cluster: &KubeCluster,
    workload: &ResourceId,
) -> Result<Credentials, ClusterError> {
    if !allowed(workload, &cluster.options.namespaces) {
        return Err(not_allowed(workload));
    }
    let Some(ns) = workload.namespace() else {
        return Err(ClusterError::new(
            ClusterErrorKind::Invalid,
            Some(workload.clone()),
            "a workload is namespaced",
        ));
    };
    let served = match cluster.recall(workload) {
        Some(ar) => ar,
        None => {
            cluster
                .discovery
                .resolve_id_kind(workload.kind())
                .await
                .map_err(|e| cluster_error(Some(workload), "discover the API", e))?
                .map_err(|m| {
                    ClusterError::new(ClusterErrorKind::Invalid, Some(workload.clone()), m)
                })?
                .ar
        }
    };
    let path = collection_path(&served, Some(ns));
    let obj = cluster
        .send(|| Request::new(&path).get(workload.name(), &GetParams::default()))
        .await
        .map_err(|e| {
            cluster_error(
                Some(workload),
                &format!(
                    "get {} {} {ns}/{}",
                    served.api_version,
                    served.kind,
                    workload.name()
                ),
                e,
            )
        })?;
    let pod = pod_spec_pointer(workload.kind()).and_then(|p| obj.pointer(p));
    let sa = pod
        .and_then(|p| {
            p.get("serviceAccountName")
                .or_else(|| p.get("serviceAccount"))
        })
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .unwrap_or("default");

    let mut names = Vec::new();
    let sa_path = format!("/api/v1/namespaces/{ns}/serviceaccounts");
    match cluster
        .send(|| Request::new(&sa_path).get(sa, &GetParams::default()))
        .await
    {
        Ok(account) => names.extend(secret_names(account.get("imagePullSecrets"))),
        Err(e) => {
            tracing::warn!(workload = %workload, service_account = sa, error = %e, "cannot read the service account; using the pod's pull secrets only")
        }
    }
    names.extend(secret_names(pod.and_then(|p| p.get("imagePullSecrets"))));

    let mut creds = Credentials::default();
    let secret_path = format!("/api/v1/namespaces/{ns}/secrets");
    let mut done = std::collections::HashSet::new();
    for name in names {
        if !done.insert(name.clone()) {
            continue;
        }
        let secret = match cluster
            .send(|| Request::new(&secret_path).get(&name, &GetParams::default()))
            .await
        {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(workload = %workload, secret = %name, error = %e, "cannot read an image pull secret; skipping it");
                continue;
            }
        };
        match decode_pull_secret(&secret) {
            Ok(Some(c)) => creds.merge(c),
            Ok(None) => {
                tracing::info!(workload = %workload, secret = %name, "not a docker registry secret; skipping it")
            }
            Err(why) => {
                tracing::warn!(workload = %workload, secret = %name, "image pull secret {ns}:secret/{name} {why}; skipping it")
            }
        }
    }
    Ok(creds)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    #[test]
    fn pull_secret_types() {
        let cfg = r#"{"auths":{"registry.example.com":{"auth":"YWxpY2U6czNjcmV0"}}}"#;
        let s = json!({"type": "kubernetes.io/dockerconfigjson", "data": {".dockerconfigjson": b64(cfg)}});
        let c = decode_pull_secret(&s).unwrap().unwrap();
        assert_eq!(c.entries["registry.example.com"].username, "alice");
        let legacy = json!({"type": "kubernetes.io/dockercfg", "data": {".dockercfg": b64(r#"{"old.io":{"auth":"dTpw"}}"#)}});
        assert_eq!(
            decode_pull_secret(&legacy).unwrap().unwrap().entries["old.io"].password,
            "p"
        );
        assert!(
            decode_pull_secret(&json!({"type": "Opaque", "data": {}}))
                .unwrap()
                .is_none()
        );
        let broken =
            json!({"type": "kubernetes.io/dockerconfigjson", "data": {".dockerconfigjson": "!!"}});
        assert!(
            decode_pull_secret(&broken)
                .unwrap_err()
                .contains("not base64")
        );
        let missing = json!({"type": "kubernetes.io/dockerconfigjson", "data": {}});
        assert!(
            decode_pull_secret(&missing)
                .unwrap_err()
                .contains("no .dockerconfigjson")
        );
        assert_eq!(
            pod_spec_pointer("cronjob"),
            Some("/spec/jobTemplate/spec/template/spec")
        );
        assert_eq!(pod_spec_pointer("helmrelease"), None);
    }
}
