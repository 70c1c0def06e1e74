//! Patch files: the changes Flux made to generated manifests
//! (`patchUpdated`), kept as strategic-merge patches.
//!
//! A patch file is a YAML stream with one document per changed resource,
//! each naming the resource (`apiVersion`, `kind`, `metadata.name` and, if
//! the resource has one, `metadata.namespace`) and holding the two-way
//! strategic-merge patch from the generated resource to Flux's version of
//! it (see [`smp`](self) for the directives). The file is written in one
//! canonical form ([`emit_document`]), resources in ID order, so rewriting
//! it after a change to one resource changes no other bytes, and making the
//! patch again from what it produced gives the same bytes.

mod smp;
mod strategy;

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::emit_document;
use crate::resource::ResourceId;
use crate::yaml;

/// A patch file could not be read or applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatchError {
    /// The file is not valid YAML.
    #[error("{file}:{line}:{column}: not valid YAML: {message}")]
    Yaml {
        /// Repo-relative path of the patch file.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What the parser said.
        message: String,
    },
    /// A document does not name a resource.
    #[error("{file}:{line}: {message}")]
    Document {
        /// Repo-relative path of the patch file.
        file: String,
        /// 1-based line of the document.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// Two documents patch the same resource.
    #[error("{file}:{line}: a second patch for {id}")]
    Duplicate {
        /// Repo-relative path of the patch file.
        file: String,
        /// 1-based line of the second document.
        line: usize,
        /// The resource.
        id: Box<ResourceId>,
    },
    /// A document patches a resource the generators do not produce.
    #[error(
        "{file}:{line}: patch refers to missing resource ({id}): the generators do not produce it"
    )]
    MissingResource {
        /// Repo-relative path of the patch file.
        file: String,
        /// 1-based line of the document.
        line: usize,
        /// The resource.
        id: Box<ResourceId>,
    },
    /// A patch does not apply to its resource.
    #[error("{file}:{line}: cannot apply the patch to {id}: {message}")]
    Apply {
        /// Repo-relative path of the patch file.
        file: String,
        /// 1-based line of the document.
        line: usize,
        /// The resource.
        id: Box<ResourceId>,
        /// Why.
        message: String,
    },
}

/// One document of a patch file.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourcePatch {
    /// 1-based line of the document in the file.
    pub line: usize,
    /// The patch, identifying fields included.
    pub patch: Map<String, Value>,
}

/// Reads a patch file (`file` names it in errors). `id_of` gives the ID of
/// the resource a document names, the way the generated resources' IDs are
/// made (scope, default namespace), or an error saying why it has none.
pub fn parse_patch_file(
    file: &str,
    text: &[u8],
    id_of: impl Fn(&Value) -> Result<ResourceId, String>,
) -> Result<BTreeMap<ResourceId, ResourcePatch>, PatchError> {
    let doc_error = |line: usize, message: String| PatchError::Document {
        file: file.to_owned(),
        line,
        message,
    };
    let text = std::str::from_utf8(text).map_err(|e| {
        doc_error(
            1,
            format!(
                "not UTF-8 text (invalid byte at offset {})",
                e.valid_up_to()
            ),
        )
    })?;
    let docs =
        yaml::parse_documents(text, yaml::Limits::default()).map_err(|e| PatchError::Yaml {
            file: file.to_owned(),
            line: e.line,
            column: e.column,
            message: e.message,
        })?;
    let mut out = BTreeMap::new();
    for doc in docs {
        let patch = match doc.value {
            Value::Null => continue,
            Value::Object(m) => m,
            _ => {
                return Err(doc_error(
                    doc.line,
                    "a patch must be a mapping naming its resource (apiVersion, kind, metadata.name)".into(),
                ));
            }
        };
        let object = Value::Object(patch);
        for field in ["apiVersion", "kind"] {
            if object[field].as_str().is_none_or(str::is_empty) {
                return Err(doc_error(
                    doc.line,
                    format!("{field} is missing: a patch names its resource"),
                ));
            }
        }
        if object["metadata"]["name"]
            .as_str()
            .is_none_or(str::is_empty)
        {
            return Err(doc_error(
                doc.line,
                "metadata.name is missing: a patch names its resource".into(),
            ));
        }
        let id = id_of(&object).map_err(|m| doc_error(doc.line, m))?;
        let Value::Object(patch) = object else {
            unreachable!("checked to be a mapping above")
        };
        if out.contains_key(&id) {
            return Err(PatchError::Duplicate {
                file: file.to_owned(),
                line: doc.line,
                id: Box::new(id),
            });
        }
        out.insert(
            id,
            ResourcePatch {
                line: doc.line,
                patch,
            },
        );
    }
    Ok(out)
}

/// Applies each patch to its resource among `targets`; returns the patched
/// objects. A patch for a resource not among them is an error.
pub fn apply_patches(
    file: &str,
    targets: &BTreeMap<ResourceId, &Value>,
    patches: &BTreeMap<ResourceId, ResourcePatch>,
) -> Result<BTreeMap<ResourceId, Value>, PatchError> {
    let mut out = BTreeMap::new();
    for (id, p) in patches {
        let Some(target) = targets.get(id) else {
            return Err(PatchError::MissingResource {
                file: file.to_owned(),
                line: p.line,
                id: Box::new(id.clone()),
            });
        };
        let patched = smp::apply(target, &p.patch).map_err(|message| PatchError::Apply {
            file: file.to_owned(),
            line: p.line,
            id: Box::new(id.clone()),
            message,
        })?;
        out.insert(id.clone(), patched);
    }
    Ok(out)
}

/// The patch file taking each of `generated` to its version in
/// `modified` (resources only in one of them are left out), in ID order.
/// Empty when nothing differs.
///
/// ```
/// use std::collections::BTreeMap;
/// use serde_json::json;
/// use flux_core::generation::patch::create_patch_file;
/// let id = "default:deployment/helloworld".parse().unwrap();
/// let generated = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "helloworld"},
///     "spec": {"template": {"spec": {"containers": [{"name": "greeter", "image": "helloworld:master-a000001"}]}}}});
/// let mut modified = generated.clone();
/// modified["spec"]["template"]["spec"]["containers"][0]["image"] = json!("repo/image:tag");
/// modified["metadata"]["annotations"] = json!({"fluxcd.io/tag.greeter": "glob:master-*"});
/// let text = create_patch_file(&BTreeMap::from([(&id, &generated)]), &BTreeMap::from([(&id, &modified)]));
/// assert_eq!(text, "\
/// ---
/// apiVersion: apps/v1
/// kind: Deployment
/// metadata:
///   annotations:
///     fluxcd.io/tag.greeter: glob:master-*
///   name: helloworld
/// spec:
///   template:
///     spec:
///       $setElementOrder/containers:
///       - name: greeter
///       containers:
///       - image: repo/image:tag
///         name: greeter
/// ");
/// ```
pub fn create_patch_file(
    generated: &BTreeMap<&ResourceId, &Value>,
    modified: &BTreeMap<&ResourceId, &Value>,
) -> String {
    let mut out = String::new();
    for (id, original) in generated {
        let Some(changed) = modified.get(id) else {
            continue;
        };
        let mut patch = smp::create(original, changed);
        if patch.is_empty() {
            continue;
        }
        identify(&mut patch, original);
        out.push_str("---\n");
        out.push_str(&emit_document(&Value::Object(patch)));
    }
    out
}

/// Adds the fields that say which resource a patch is for.
fn identify(patch: &mut Map<String, Value>, original: &Value) {
    for field in ["apiVersion", "kind"] {
        patch.insert(field.to_owned(), original[field].clone());
    }
    let metadata = patch
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if !metadata.is_object() {
        *metadata = Value::Object(Map::new());
    }
    if let Value::Object(m) = metadata {
        m.insert("name".into(), original["metadata"]["name"].clone());
        if let Some(ns) = original["metadata"]["namespace"]
            .as_str()
            .filter(|s| !s.is_empty())
        {
            m.insert("namespace".into(), Value::String(ns.to_owned()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id_of(v: &Value) -> Result<ResourceId, String> {
        ResourceId::try_new(
            Some(v["metadata"]["namespace"].as_str().unwrap_or("default")),
            v["kind"].as_str().unwrap_or_default(),
            v["metadata"]["name"].as_str().unwrap_or_default(),
        )
        .map_err(|e| e.to_string())
    }

    fn objects(text: &str) -> BTreeMap<ResourceId, Value> {
        yaml::parse_documents(text, yaml::Limits::default())
            .unwrap()
            .into_iter()
            .filter(|d| !d.value.is_null())
            .map(|d| (id_of(&d.value).unwrap(), d.value))
            .collect()
    }

    fn refs(m: &BTreeMap<ResourceId, Value>) -> BTreeMap<&ResourceId, &Value> {
        m.iter().collect()
    }

    const ORIGINAL: &str = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: namespace\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: name\nspec:\n  template:\n    spec:\n      containers:\n      - name: one\n        image: one:one\n---\napiVersion: helm.fluxcd.io/v1\nkind: HelmRelease\nmetadata:\n  name: ghost\n  namespace: demo\n  annotations:\n    fluxcd.io/automated: \"false\"\n    fluxcd.io/tag.chart-image: glob:1.21.*\nspec:\n  values:\n    image: bitnami/ghost\n    tag: 1.21.5-r0\n";
    const MODIFIED: &str = "apiVersion: helm.fluxcd.io/v1\nkind: HelmRelease\nmetadata:\n  name: ghost\n  namespace: demo\n  annotations:\n    fluxcd.io/automated: \"true\"\nspec:\n  values:\n    image: bitnami/ghost\n    tag: 1.21.6\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: namespace\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: name\n  annotations:\n    fluxcd.io/locked: \"true\"\nspec:\n  template:\n    spec:\n      containers:\n      - name: one\n        image: oneplus:oneplus\n";

    #[test]
    fn multiple_documents_round_trip_and_rewrite_the_same_bytes() {
        // Flux v1's "multiple documents" case of TestPatchAndApply.
        let original = objects(ORIGINAL);
        let modified = objects(MODIFIED);
        let text = create_patch_file(&refs(&original), &refs(&modified));
        assert_eq!(
            text.matches("---\n").count(),
            2,
            "only the two changed resources:\n{text}"
        );
        let patches = parse_patch_file("p.yaml", text.as_bytes(), id_of).unwrap();
        let targets: BTreeMap<ResourceId, &Value> =
            original.iter().map(|(k, v)| (k.clone(), v)).collect();
        let patched = apply_patches("p.yaml", &targets, &patches).unwrap();
        for (id, v) in &patched {
            assert_eq!(v, &modified[id], "{id}");
        }
        let mut all = original.clone();
        all.extend(patched);
        assert_eq!(all, modified);
        // Making the patch again from what it produced: the same bytes.
        assert_eq!(create_patch_file(&refs(&original), &refs(&all)), text);
        assert_eq!(create_patch_file(&refs(&original), &refs(&original)), "");
    }

    #[test]
    fn bad_patch_files_are_named() {
        let original = objects(ORIGINAL);
        let targets: BTreeMap<ResourceId, &Value> =
            original.iter().map(|(k, v)| (k.clone(), v)).collect();
        let missing =
            "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: gone\ndata: {a: b}\n";
        let patches = parse_patch_file("flux-patch.yaml", missing.as_bytes(), id_of).unwrap();
        let e = apply_patches("flux-patch.yaml", &targets, &patches).unwrap_err();
        assert_eq!(
            e.to_string(),
            "flux-patch.yaml:2: patch refers to missing resource (default:configmap/gone): the generators do not produce it"
        );
        for (text, want) in [
            ("a: [1\n", "flux-patch.yaml:2:1: not valid YAML"),
            ("- 1\n", "flux-patch.yaml:1: a patch must be a mapping"),
            (
                "kind: Namespace\nmetadata: {name: ns1}\n",
                "flux-patch.yaml:1: apiVersion is missing",
            ),
            (
                "apiVersion: v1\nkind: Namespace\n",
                "flux-patch.yaml:1: metadata.name is missing",
            ),
            (
                "apiVersion: v1\nkind: Namespace\nmetadata: {name: ns1}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: ns1}\n",
                "flux-patch.yaml:5: a second patch for default:namespace/ns1",
            ),
        ] {
            let e = parse_patch_file("flux-patch.yaml", text.as_bytes(), id_of).unwrap_err();
            assert!(e.to_string().starts_with(want), "{text:?}: {e}");
        }
        let bad = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: name}\nspec: {template: {spec: {containers: [{image: x}]}}}\n";
        let patches = parse_patch_file("p.yaml", bad.as_bytes(), id_of).unwrap();
        let e = apply_patches("p.yaml", &targets, &patches).unwrap_err();
        assert!(e.to_string().starts_with("p.yaml:1: cannot apply the patch to default:deployment/name: spec.template.spec.containers: item has no merge key"), "{e}");
    }
}
