//! `fluxctl save`'s source: the cluster's workloads and namespaces as YAML,
//! without what the cluster adds (status, managed fields, resource
//! versions, uids, timestamps), so they can be committed as manifests.

use flux_api::ApiError;
use serde_json::Value;

use std::sync::Arc;

use crate::daemon::Shared;
use crate::source::Source;

const SERVER_FIELDS: &[&str] = &[
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "managedFields",
    "selfLink",
];

/// The export's bytes: one YAML document per object in `source`'s
/// namespaces (fluxd's without a source).
pub async fn export(shared: &Shared, source: Option<&Arc<Source>>) -> Result<Vec<u8>, ApiError> {
    let namespaces = super::workloads::allowed_namespaces(shared, source);
    let live = shared
        .cluster
        .export_workloads(namespaces)
        .await
        .map_err(|e| ApiError::server(format!("exporting from the cluster: {e}")))?;
    let mut out = String::new();
    for o in live {
        let mut obj = o.object.to_value();
        strip(&mut obj);
        let yaml = serde_saphyr_to_string(&obj)
            .map_err(|e| ApiError::server(format!("writing {}: {e}", o.id)))?;
        out.push_str("---\n");
        out.push_str(&yaml);
        if !yaml.ends_with('\n') {
            out.push('\n');
        }
    }
    Ok(out.into_bytes())
}

fn strip(obj: &mut Value) {
    if let Some(map) = obj.as_object_mut() {
        map.remove("status");
    }
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        for f in SERVER_FIELDS {
            meta.remove(*f);
        }
        if let Some(a) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
            a.remove("kubectl.kubernetes.io/last-applied-configuration");
            a.remove("deployment.kubernetes.io/revision");
            if a.is_empty() {
                meta.remove("annotations");
            }
        }
    }
}

fn serde_saphyr_to_string(v: &Value) -> Result<String, String> {
    serde_saphyr::to_string(v).map_err(|e| e.to_string())
}
