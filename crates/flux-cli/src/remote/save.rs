//! `save`: the cluster's workloads as fluxd exports them, trimmed of what
//! should not be kept in git (status, server-set metadata, empty values),
//! to stdout or one file per object, as Flux v1's `fluxctl save` did.

use std::io::Write;
use std::path::Path;

use anyhow::Context as _;
use serde_json::{Map, Value};

/// Annotations the cluster sets that do not belong in git.
const DROPPED_ANNOTATIONS: [&str; 3] = [
    "deployment.kubernetes.io/revision",
    "kubectl.kubernetes.io/last-applied-configuration",
    "kubernetes.io/change-cause",
];

/// Writes the objects of `export` (a YAML stream) to `out`, or to files
/// under `dir`.
pub fn save(
    export: &[u8],
    dir: Option<&Path>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<()> {
    let text = std::str::from_utf8(export).context("the export from fluxd is not UTF-8")?;
    let docs: Vec<Value> =
        serde_saphyr::from_multiple(text).context("the export from fluxd is not YAML")?;
    if let Some(dir) = dir {
        let meta = std::fs::metadata(dir).with_context(|| format!("--out {}", dir.display()))?;
        if !meta.is_dir() {
            return Err(crate::error::usage(format!(
                "--out {}: not a directory",
                dir.display()
            )));
        }
    }
    for doc in docs.into_iter().filter(|d| d.is_object()) {
        let object = trim(&doc);
        let yaml = serde_saphyr::to_string(&object).context("writing YAML")?;
        match dir {
            None => write!(out, "---\n{yaml}")?,
            Some(dir) => {
                let path = file_for(dir, &object)?;
                writeln!(
                    err,
                    "Saving {} '{}' to {}",
                    object["kind"].as_str().unwrap_or_default(),
                    object["metadata"]["name"].as_str().unwrap_or_default(),
                    path.display()
                )?;
                std::fs::write(&path, format!("---\n{yaml}"))
                    .with_context(|| format!("writing {}", path.display()))?;
            }
        }
    }
    Ok(())
}

/// The fields worth keeping: apiVersion, kind, metadata (annotations,
/// labels, name, namespace) and spec, without empty values.
fn trim(doc: &Value) -> Value {
    let mut object = Map::new();
    for key in ["apiVersion", "kind"] {
        if let Some(v) = doc.get(key).filter(|v| !v.is_null()) {
            object.insert(key.into(), v.clone());
        }
    }
    let mut metadata = Map::new();
    for key in ["annotations", "labels", "name", "namespace"] {
        if let Some(v) = doc["metadata"].get(key).filter(|v| !v.is_null()) {
            metadata.insert(key.into(), v.clone());
        }
    }
    if let Some(Value::Object(a)) = metadata.get_mut("annotations") {
        for k in DROPPED_ANNOTATIONS {
            a.remove(k);
        }
    }
    let mut spec = doc.get("spec").cloned().unwrap_or(Value::Null);
    if let Some(Value::Object(m)) = spec.get_mut("template").and_then(|t| t.get_mut("metadata")) {
        m.remove("creationTimestamp");
    }
    let mut metadata = Value::Object(metadata);
    drop_empty(&mut metadata);
    drop_empty(&mut spec);
    if !is_empty(&metadata) {
        object.insert("metadata".into(), metadata);
    }
    if !is_empty(&spec) {
        object.insert("spec".into(), spec);
    }
    Value::Object(object)
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

/// Removes empty maps, empty lists and nulls from mappings, depth first.
fn drop_empty(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for child in m.values_mut() {
                drop_empty(child);
            }
            m.retain(|_, child| !is_empty(child));
        }
        Value::Array(a) => a.iter_mut().for_each(drop_empty),
        _ => {}
    }
}

/// `NAME-ns.yaml` for a Namespace, `NAMESPACE/NAME-KIND.yaml` otherwise
/// (`dep` for Deployments), as Flux v1 named them.
fn file_for(dir: &Path, object: &Value) -> anyhow::Result<std::path::PathBuf> {
    let kind = object["kind"].as_str().unwrap_or_default();
    let name = object["metadata"]["name"].as_str().unwrap_or_default();
    let safe = |s: &str| !s.is_empty() && !s.contains(['/', '\\']) && s != "." && s != "..";
    if !safe(name) {
        anyhow::bail!("fluxd exported a {kind} with an unusable name {name:?}");
    }
    if kind == "Namespace" {
        return Ok(dir.join(format!("{name}-ns.yaml")));
    }
    let ns = object["metadata"]["namespace"].as_str().unwrap_or_default();
    let sub = if ns.is_empty() {
        dir.to_owned()
    } else if safe(ns) {
        dir.join(ns)
    } else {
        anyhow::bail!("fluxd exported {kind} {name} with an unusable namespace {ns:?}");
    };
    std::fs::create_dir_all(&sub).with_context(|| format!("creating {}", sub.display()))?;
    let short = if kind == "Deployment" { "dep" } else { kind };
    Ok(sub.join(format!("{name}-{short}.yaml")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_what_git_needs() {
        let export = b"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: app\n  uid: abc\n  annotations:\n    deployment.kubernetes.io/revision: '3'\n    team: a\nspec:\n  replicas: 1\n  template:\n    metadata:\n      creationTimestamp: null\n      labels: {}\n    spec:\n      containers: [{name: c, image: nginx}]\n      volumes: []\nstatus:\n  ready: 1\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: app}\n";
        let mut out = Vec::new();
        save(export, None, &mut out, &mut Vec::new()).expect("saves");
        let text = String::from_utf8(out).expect("utf-8");
        let docs: Vec<Value> = serde_saphyr::from_multiple(&text).expect("yaml");
        assert_eq!(
            docs[0],
            serde_json::json!({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"annotations": {"team": "a"}, "name": "web", "namespace": "app"},
                "spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "c", "image": "nginx"}]}}}
            })
        );
        assert!(text.starts_with("---\n"), "{text}");

        let dir = tempfile::tempdir().expect("tempdir");
        save(export, Some(dir.path()), &mut Vec::new(), &mut Vec::new()).expect("saves");
        assert!(dir.path().join("app/web-dep.yaml").is_file());
        assert!(dir.path().join("app-ns.yaml").is_file());
    }
}
