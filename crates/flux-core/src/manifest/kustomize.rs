//! kustomize's own files, which sit beside manifests but are not Kubernetes
//! objects.
//!
//! A repository kept for `kubectl apply -k` holds `kustomization.yaml` files
//! (often without `apiVersion` or `kind`) and may hold `Component`
//! documents. Flux v1 skipped such documents silently, with every other
//! kind-less document; here only kustomize's own are skipped, each with a
//! note, and any other document without `kind` stays an error, so that a typo
//! can never make a resource vanish from git and be garbage-collected.

use std::fmt;

use serde_json::Value;

/// The file names kustomize reads as a kustomization.
pub const KUSTOMIZATION_FILE_NAMES: [&str; 3] =
    ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// The API group of kustomize's own kinds (`Kustomization`, `Component`).
///
/// Flux v2's `kustomize.toolkit.fluxcd.io` Kustomization is a real custom
/// resource and is not in this group.
pub const KUSTOMIZE_GROUP: &str = "kustomize.config.k8s.io";

/// Whether a file name (the last path component) is a kustomization file.
///
/// ```
/// use flux_core::manifest::is_kustomization_file;
/// assert!(is_kustomization_file("kustomization.yaml"));
/// assert!(is_kustomization_file("Kustomization"));
/// assert!(!is_kustomization_file("my-kustomization.yaml"));
/// ```
pub fn is_kustomization_file(name: &str) -> bool {
    KUSTOMIZATION_FILE_NAMES.contains(&name)
}

/// Whether a document is one of kustomize's own (its `apiVersion` is in
/// [`KUSTOMIZE_GROUP`]).
pub fn is_kustomize_document(object: &Value) -> bool {
    object["apiVersion"]
        .as_str()
        .and_then(|v| v.split_once('/'))
        .is_some_and(|(group, _)| group == KUSTOMIZE_GROUP)
}

/// A file or document left out because it is kustomize's, not a Kubernetes
/// object.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Skipped {
    /// Repo-relative path of the file.
    pub file: String,
    /// 1-based line of the document, when one document of a file is skipped.
    pub line: Option<usize>,
    /// What it is.
    pub reason: String,
}

impl Skipped {
    /// A whole kustomization file.
    pub(crate) fn file(path: &str) -> Self {
        let name = path.rsplit('/').next().unwrap_or(path);
        Skipped {
            file: path.to_owned(),
            line: None,
            reason: format!("{name} is kustomize's own file"),
        }
    }

    /// One document of kustomize's group.
    pub(crate) fn document(path: &str, line: usize, object: &Value) -> Self {
        Skipped {
            file: path.to_owned(),
            line: Some(line),
            reason: format!(
                "{} {} is kustomize's own document",
                object["apiVersion"].as_str().unwrap_or_default(),
                object["kind"].as_str().unwrap_or("(no kind)")
            ),
        }
    }
}

impl fmt::Display for Skipped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        write!(f, ": {}, not a Kubernetes object; skipped", self.reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_kustomize_group_documents() {
        for (v, want) in [
            (
                json!({"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization"}),
                true,
            ),
            (
                json!({"apiVersion": "kustomize.config.k8s.io/v1alpha1", "kind": "Component"}),
                true,
            ),
            (
                json!({"apiVersion": "kustomize.config.k8s.io/v1beta1"}),
                true,
            ),
            (
                json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization"}),
                false,
            ),
            (json!({"apiVersion": "v1", "kind": "Kustomization"}), false),
            (json!({"kind": "Kustomization"}), false),
            (json!({"apiVersion": 1}), false),
        ] {
            assert_eq!(is_kustomize_document(&v), want, "{v}");
        }
    }

    #[test]
    fn notes_name_the_file_and_line() {
        assert_eq!(
            Skipped::file("apps/kustomization.yaml").to_string(),
            "apps/kustomization.yaml: kustomization.yaml is kustomize's own file, not a Kubernetes object; skipped"
        );
        let doc = json!({"apiVersion": "kustomize.config.k8s.io/v1alpha1", "kind": "Component"});
        assert_eq!(
            Skipped::document("c.yaml", 4, &doc).to_string(),
            "c.yaml:4: kustomize.config.k8s.io/v1alpha1 Component is kustomize's own document, not a Kubernetes object; skipped"
        );
    }
}
