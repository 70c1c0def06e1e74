//! Turning manifest files into resources.
//!
//! Files are parsed in parallel (YAML parsing dominates the cost of reading a
//! large repository); everything after that is a short sequential pass so the
//! result, and the order of errors, never depends on thread timing.

use std::sync::Arc;

use rayon::prelude::*;
use serde_json::Value;

use super::files::{FileSet, select};
use super::kustomize::{Skipped, is_kustomization_file, is_kustomize_document};
use super::{LoadError, LoadErrors, LoadOptions, Manifests, Resource, SourceRef, Unscoped};
use crate::frozen::{Frozen, Node};
use crate::resource::{ResourceId, Scope, ScopeTable};
use crate::yaml;

/// One object found in a file, before its scope is known: frozen as soon
/// as it is checked, so a repository's objects are never all held as
/// serde_json trees at once.
pub(super) struct Found {
    pub(super) object: Arc<Frozen>,
    pub(super) source: SourceRef,
}

/// Parses the manifest files of `files` under `paths` (normalised
/// `--git-path`s) into [`Manifests`], or returns every problem found.
///
/// CustomResourceDefinitions in the files teach `scopes` (a copy of it) the
/// scope of their kinds before any ID is made. kustomize's own files and
/// documents are left out with a note in [`Manifests::skipped`].
pub fn parse_files(
    files: &FileSet,
    paths: &[String],
    scopes: &ScopeTable,
    options: &LoadOptions,
) -> Result<Manifests, LoadErrors> {
    parse_streams(&select(files, paths), scopes, options)
}

/// Parses named YAML streams (files, or a generator's output under a name
/// that stands for it) into [`Manifests`], with the same rules, limits and
/// errors as [`parse_files`]; a resource defined in two streams is a
/// duplicate.
pub fn parse_streams(
    streams: &[(&str, &[u8])],
    scopes: &ScopeTable,
    options: &LoadOptions,
) -> Result<Manifests, LoadErrors> {
    parse_streams_with(streams, scopes, options, |_, _| None)
}

/// [`parse_streams`], taking each stream's objects from `reuse` when it
/// has them (an earlier parse of the same bytes) instead of parsing it.
pub(super) fn parse_streams_with(
    streams: &[(&str, &[u8])],
    scopes: &ScopeTable,
    options: &LoadOptions,
    reuse: impl Fn(&str, &[u8]) -> Option<Parsed> + Sync,
) -> Result<Manifests, LoadErrors> {
    let parsed: Vec<Result<Parsed, Vec<LoadError>>> = streams
        .par_iter()
        .map(|(path, bytes)| {
            reuse(path, bytes).map_or_else(|| parse_file(path, bytes, options), Ok)
        })
        .collect();

    let mut errors = Vec::new();
    let mut found = Vec::new();
    let mut skipped = Vec::new();
    for result in parsed {
        match result {
            Ok(p) => {
                found.extend(p.found);
                skipped.extend(p.skipped);
            }
            Err(e) => errors.extend(e),
        }
    }

    let mut scopes = scopes.clone();
    for f in &found {
        if f.object.pointer(&["kind"]).and_then(Node::as_str) == Some("CustomResourceDefinition") {
            scopes.learn_crd(&f.object.to_value());
        }
    }

    let mut manifests = Manifests {
        skipped,
        ..Manifests::default()
    };
    for Found { object, source } in found {
        let text = |path: &[&str]| object.pointer(path).and_then(Node::as_str);
        let kind = text(&["kind"]).unwrap_or_default();
        let api_version = text(&["apiVersion"]).unwrap_or_default();
        let name = text(&["metadata", "name"]).unwrap_or_default();
        let namespace = text(&["metadata", "namespace"]).filter(|s| !s.is_empty());
        let Some(scope) = scopes.lookup(api_version, kind) else {
            manifests.unscoped.push(Unscoped {
                api_version: api_version.to_owned(),
                kind: kind.to_owned(),
                name: name.to_owned(),
                namespace: namespace.map(str::to_owned),
                source,
            });
            continue;
        };
        let ns = match scope {
            Scope::Cluster => None,
            Scope::Namespaced => Some(namespace.unwrap_or(&options.default_namespace)),
        };
        let id = match ResourceId::try_new(ns, kind, name) {
            Ok(id) => id,
            Err(e) => {
                errors.push(LoadError::InvalidField {
                    at: source,
                    field: "metadata",
                    message: e.to_string(),
                });
                continue;
            }
        };
        if let Some(first) = manifests.resources.get(&id) {
            errors.push(LoadError::Duplicate {
                id,
                first: Box::new(first.source.clone()),
                second: Box::new(source),
            });
            continue;
        }
        manifests.resources.insert(
            id.clone(),
            Resource {
                id,
                scope,
                source,
                object,
            },
        );
    }
    if errors.is_empty() {
        Ok(manifests)
    } else {
        Err(LoadErrors(errors))
    }
}

fn line_of(bytes: &[u8], offset: usize) -> usize {
    1 + bytes[..offset].iter().filter(|&&b| b == b'\n').count()
}

/// What one file gave.
pub(super) struct Parsed {
    pub(super) found: Vec<Found>,
    pub(super) skipped: Vec<Skipped>,
}

fn parse_file(path: &str, bytes: &[u8], options: &LoadOptions) -> Result<Parsed, Vec<LoadError>> {
    let name = path.rsplit('/').next().unwrap_or(path);
    if is_kustomization_file(name) {
        return Ok(Parsed {
            found: Vec::new(),
            skipped: vec![Skipped::file(path)],
        });
    }
    if bytes.len() as u64 > options.max_file_size {
        return Err(vec![LoadError::TooLarge {
            path: path.to_owned(),
            size: bytes.len() as u64,
            limit: options.max_file_size,
        }]);
    }
    let text = std::str::from_utf8(bytes).map_err(|e| {
        vec![LoadError::NotUtf8 {
            path: path.to_owned(),
            line: line_of(bytes, e.valid_up_to()),
            offset: e.valid_up_to(),
        }]
    })?;
    let docs = yaml::parse_documents(text, options.yaml_limits).map_err(|e| {
        vec![LoadError::Yaml {
            path: path.to_owned(),
            line: e.line,
            column: e.column,
            message: e.message,
        }]
    })?;
    let mut found = Vec::new();
    let mut skipped = Vec::new();
    let mut errors = Vec::new();
    for doc in docs {
        if doc.value.is_null() {
            continue; // an empty document, e.g. only comments
        }
        if is_kustomize_document(&doc.value) {
            skipped.push(Skipped::document(path, doc.line, &doc.value));
            continue;
        }
        let source = SourceRef {
            file: path.to_owned(),
            document: doc.index,
            item: None,
            line: doc.line,
        };
        collect(
            doc.value,
            source,
            &doc.item_lines,
            0,
            &mut found,
            &mut errors,
        );
    }
    if errors.is_empty() {
        Ok(Parsed { found, skipped })
    } else {
        Err(errors)
    }
}

fn kind_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "sequence",
        Value::Object(_) => "mapping",
    }
}

/// The problem with a field that must be a non-empty string, if any.
fn string_field(v: &Value, field: &'static str, at: &SourceRef) -> Option<LoadError> {
    match v {
        Value::String(s) if !s.is_empty() => None,
        Value::Null => Some(LoadError::MissingField {
            at: at.clone(),
            field,
        }),
        Value::String(_) => Some(LoadError::InvalidField {
            at: at.clone(),
            field,
            message: "must not be empty".into(),
        }),
        other => Some(LoadError::InvalidField {
            at: at.clone(),
            field,
            message: format!("must be a string, not a {}", kind_name(other)),
        }),
    }
}

/// Whether an object is a list of objects to flatten: a kind ending in `List`
/// with an `items` field that is a sequence (or null, an empty list), as
/// kubectl decides. Flux v1 looked at the kind alone, which swallowed custom
/// kinds such as `AllowList`.
fn is_list(object: &Value) -> bool {
    object["kind"].as_str().is_some_and(|k| k.ends_with("List"))
        && matches!(object.get("items"), Some(Value::Null | Value::Array(_)))
}

/// Checks one object (flattening lists) and adds it to `found`.
fn collect(
    object: Value,
    source: SourceRef,
    item_lines: &[usize],
    depth: usize,
    found: &mut Vec<Found>,
    errors: &mut Vec<LoadError>,
) {
    if !object.is_object() {
        errors.push(LoadError::NotAMapping {
            at: source,
            found: kind_name(&object),
        });
        return;
    }
    for field in ["apiVersion", "kind"] {
        if let Some(e) = string_field(&object[field], field, &source) {
            errors.push(e);
            return;
        }
    }
    if is_list(&object) && depth < 8 {
        let Value::Object(mut map) = object else {
            return;
        };
        let items = match map.remove("items") {
            Some(Value::Array(items)) => items,
            _ => Vec::new(),
        };
        for (i, item) in items.into_iter().enumerate() {
            let line = if depth == 0 {
                item_lines.get(i).copied().unwrap_or(source.line)
            } else {
                source.line
            };
            let item_source = SourceRef {
                item: Some(source.item.unwrap_or(i)),
                line,
                ..source.clone()
            };
            collect(item, item_source, &[], depth + 1, found, errors);
        }
        return;
    }
    let meta = &object["metadata"];
    if meta.is_null() {
        errors.push(LoadError::MissingField {
            at: source,
            field: "metadata",
        });
        return;
    }
    if !meta.is_object() {
        errors.push(LoadError::InvalidField {
            at: source,
            field: "metadata",
            message: format!("must be a mapping, not a {}", kind_name(meta)),
        });
        return;
    }
    if let Some(v @ (Value::Bool(_) | Value::Number(_))) = meta.get("name") {
        errors.push(LoadError::InvalidField {
            at: source,
            field: "metadata.name",
            message: format!(
                "YAML reads this unquoted name as the {} {v}, not a string: quote it",
                kind_name(v)
            ),
        });
        return;
    }
    if let Some(e) = string_field(&meta["name"], "metadata.name", &source) {
        errors.push(e);
        return;
    }
    if !matches!(
        meta.get("namespace"),
        None | Some(Value::Null | Value::String(_))
    ) {
        errors.push(LoadError::InvalidField {
            at: source,
            field: "metadata.namespace",
            message: "must be a string".into(),
        });
        return;
    }
    if let Some(annotations) = meta.get("annotations").filter(|a| !a.is_null()) {
        let ok = annotations
            .as_object()
            .is_some_and(|m| m.values().all(Value::is_string));
        if !ok {
            errors.push(LoadError::InvalidField {
                at: source,
                field: "metadata.annotations",
                message: "must be a mapping of strings to strings (quote values such as \"true\")"
                    .into(),
            });
            return;
        }
    }
    match Frozen::new(&object) {
        Ok(object) => found.push(Found {
            object: Arc::new(object),
            source,
        }),
        Err(e) => errors.push(LoadError::InvalidField {
            at: source,
            field: "document",
            message: e.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(entries: &[(&str, &str)]) -> FileSet {
        entries
            .iter()
            .map(|(p, t)| (p.to_string(), t.as_bytes().to_vec()))
            .collect()
    }

    fn parse(entries: &[(&str, &str)]) -> Result<Manifests, LoadErrors> {
        parse_files(
            &files(entries),
            &[String::new()],
            &ScopeTable::builtin(),
            &LoadOptions::default(),
        )
    }

    fn ids(m: &Manifests) -> Vec<String> {
        m.resources.keys().map(ToString::to_string).collect()
    }

    fn error_text(entries: &[(&str, &str)]) -> String {
        parse(entries).expect_err("should fail").to_string()
    }

    const DEPLOY: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n";

    #[test]
    fn resources_are_read_in_place_as_written() {
        let text = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  \
                    labels: {app: web, tier: \"2\"}\n  annotations: {a: x}\n\
                    spec:\n  template:\n    spec:\n      containers:\n      - {name: c, image: nginx:1}\n";
        let m = parse(&[
            ("a.yaml", text),
            (
                "b.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
            ),
        ])
        .unwrap();
        let web = &m.resources[&"default:deployment/web".parse().unwrap()];
        assert_eq!((web.api_version(), web.kind()), ("apps/v1", "Deployment"));
        let labels: Vec<(&str, &str)> = web.labels().into_iter().collect();
        assert_eq!(labels, [("app", "web"), ("tier", "2")]);
        assert_eq!(web.annotations().get("a"), Some(&"x"));
        assert_eq!(web.containers().unwrap()[0].image, "nginx:1");
        let value = web.object().to_value();
        assert_eq!(value["metadata"]["labels"]["tier"], "2");
        assert!(value["metadata"].get("namespace").is_none(), "as written");
        let cm = &m.resources[&"default:configmap/c".parse().unwrap()];
        assert!(cm.labels().is_empty() && cm.annotations().is_empty());
        assert!(cm.containers().unwrap().is_empty());
    }

    #[test]
    fn default_namespace_only_for_namespaced_kinds() {
        let m = parse(&[
            ("a.yaml", DEPLOY),
            (
                "b.yaml",
                "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: demo\n  namespace: ignored\n",
            ),
        ])
        .unwrap();
        assert_eq!(
            ids(&m),
            ["<cluster>:namespace/demo", "default:deployment/web"]
        );
    }

    #[test]
    fn configured_default_namespace() {
        let opts = LoadOptions {
            default_namespace: "team".into(),
            ..LoadOptions::default()
        };
        let m = parse_files(
            &files(&[("a.yaml", DEPLOY)]),
            &[String::new()],
            &ScopeTable::builtin(),
            &opts,
        )
        .unwrap();
        assert_eq!(ids(&m), ["team:deployment/web"]);
    }

    #[test]
    fn multi_document_and_lists_with_lines() {
        let text = "---\n# only a comment\n---\napiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: a}\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: b, namespace: x}\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: s\n";
        let m = parse(&[("multi.yaml", text)]).unwrap();
        assert_eq!(
            ids(&m),
            ["default:configmap/a", "default:service/s", "x:configmap/b"]
        );
        let b = &m.resources[&"x:configmap/b".parse().unwrap()];
        assert_eq!(
            (b.source().document, b.source().item, b.source().line),
            (1, Some(1), 10)
        );
        let s = &m.resources[&"default:service/s".parse().unwrap()];
        assert_eq!((s.source().document, s.source().line), (2, 14));
    }

    #[test]
    fn typed_list_kind_flattens_but_crd_named_list_does_not() {
        let m = parse(&[
            ("a.yaml", "apiVersion: v1\nkind: ConfigMapList\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}\n"),
            ("crd.yaml", "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: allowlists.x.io}\nspec: {group: x.io, scope: Namespaced, names: {kind: AllowList}}\n"),
            ("b.yaml", "apiVersion: x.io/v1\nkind: AllowList\nmetadata: {name: mine}\nspec: {}\n"),
        ])
        .unwrap();
        assert_eq!(
            ids(&m),
            [
                "<cluster>:customresourcedefinition/allowlists.x.io",
                "default:allowlist/mine",
                "default:configmap/a"
            ]
        );
    }

    #[test]
    fn crd_in_repo_gives_scope_and_unknown_kinds_are_set_aside() {
        let m = parse(&[
            ("crd.yaml", "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: w.example.com}\nspec:\n  group: example.com\n  scope: Cluster\n  names: {kind: Widget, plural: widgets}\n"),
            ("w.yaml", "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w1, namespace: ignored}\n"),
            ("g.yaml", "apiVersion: other.io/v1\nkind: Gadget\nmetadata: {name: g1}\n"),
        ])
        .unwrap();
        assert!(
            m.resources
                .contains_key(&"<cluster>:widget/w1".parse().unwrap())
        );
        assert_eq!(m.unscoped.len(), 1);
        assert_eq!(m.unscoped[0].kind, "Gadget");
        assert!(
            m.unscoped[0].to_string().contains("g.yaml:1"),
            "{}",
            m.unscoped[0]
        );
    }

    #[test]
    fn duplicates_name_both_files() {
        let e = error_text(&[
            ("a.yaml", DEPLOY),
            (
                "b/c.yaml",
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: default\n",
            ),
        ]);
        assert!(
            e.contains(
                "duplicate definition of default:deployment/web (in a.yaml:1 and b/c.yaml:1)"
            ),
            "{e}"
        );
    }

    #[test]
    fn bad_documents_are_named() {
        let cases: &[(&str, &str)] = &[
            ("- just\n- a list\n", "x.yaml:1: document is a sequence"),
            ("plain words\n", "x.yaml:1: document is a string"),
            (
                "apiVersion: v1\nmetadata: {name: a}\n",
                "x.yaml:1: kind is missing",
            ),
            (
                "kind: ConfigMap\nmetadata: {name: a}\n",
                "x.yaml:1: apiVersion is missing",
            ),
            (
                "apiVersion: v1\nkind: ConfigMap\n",
                "x.yaml:1: metadata is missing",
            ),
            (
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {labels: {}}\n",
                "metadata.name is missing",
            ),
            (
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: 12}\n",
                "the number 12, not a string: quote it",
            ),
            (
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: y}\n",
                "the boolean true, not a string: quote it",
            ),
            (
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ''}\n",
                "x.yaml:1: metadata.name: must not be empty",
            ),
            (
                "apiVersion: v1\nkind: ConfigMap\nmetadata: 5\n",
                "x.yaml:1: metadata: must be a mapping, not a number",
            ),
            (
                "apiVersion: v1\nkind: [ConfigMap]\nmetadata: {name: a}\n",
                "x.yaml:1: kind: must be a string, not a sequence",
            ),
            (
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: [x]}\n",
                "metadata.namespace: must be a string",
            ),
            (
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, annotations: {x: true}}\n",
                "quote values",
            ),
            (
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: 'a b'}\n",
                "x.yaml:1: metadata: invalid resource ID",
            ),
            ("a: b\n  c: d\n", "x.yaml:2:"),
            (
                "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n[1,\n",
                "x.yaml:7:",
            ),
        ];
        for (text, want) in cases {
            let e = error_text(&[("x.yaml", text)]);
            assert!(e.contains(want), "for {text:?}: {e}");
        }
    }

    #[test]
    fn kustomize_files_and_documents_are_skipped_with_a_note() {
        let m = parse(&[
            ("app/kustomization.yaml", "resources:\n- deploy.yaml\n"),
            ("app/kustomization.yml", "resources: [deploy.yaml]\n"),
            // Not a .yaml file, so never read.
            ("app/Kustomization", "{not: yaml: at all"),
            ("app/deploy.yaml", DEPLOY),
            (
                "app/component.yaml",
                "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
            ),
            (
                "flux2.yaml",
                "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {name: apps, namespace: flux-system}\n",
            ),
        ])
        .unwrap();
        assert_eq!(ids(&m), ["default:configmap/c", "default:deployment/web"]);
        let notes: Vec<String> = m.skipped.iter().map(ToString::to_string).collect();
        assert_eq!(
            notes,
            [
                "app/component.yaml:1: kustomize.config.k8s.io/v1alpha1 Component is kustomize's own document, not a Kubernetes object; skipped",
                "app/kustomization.yaml: kustomization.yaml is kustomize's own file, not a Kubernetes object; skipped",
                "app/kustomization.yml: kustomization.yml is kustomize's own file, not a Kubernetes object; skipped",
            ]
        );
        // Flux v2's Kustomization is a custom resource, not kustomize's.
        assert_eq!(m.unscoped.len(), 1, "{:?}", m.unscoped);
        assert_eq!(m.unscoped[0].kind, "Kustomization");
    }

    #[test]
    fn other_kindless_documents_stay_errors() {
        for (name, text, field) in [
            ("settings.yaml", "resources:\n- deploy.yaml\n", "apiVersion"),
            (
                "my-kustomization.yaml",
                "resources:\n- deploy.yaml\n",
                "apiVersion",
            ),
            (
                "x.yaml",
                "apiVersion: kustomize.config.k8s.io\nresources: []\n",
                "kind",
            ),
            ("y.yaml", "apiVersion: v1\nresources: []\n", "kind"),
        ] {
            let e = error_text(&[(name, text), ("d.yaml", DEPLOY)]);
            assert!(e.contains(&format!("{name}:1: {field} is missing")), "{e}");
        }
    }

    #[test]
    fn all_errors_are_reported_and_nothing_is_returned() {
        let e = parse(&[
            ("a.yaml", "kind: X\n"),
            ("b.yaml", "apiVersion: v1\n"),
            ("c.yaml", DEPLOY),
        ])
        .unwrap_err();
        assert_eq!(e.0.len(), 2, "{e}");
        assert!(e.to_string().starts_with("2 problems"), "{e}");
    }

    #[test]
    fn non_utf8_names_the_line() {
        let mut f = FileSet::new();
        f.insert("bin.yaml", b"a: 1\nb: \xff\xfe\n".to_vec());
        let e = parse_files(
            &f,
            &[String::new()],
            &ScopeTable::builtin(),
            &LoadOptions::default(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("bin.yaml:2: not UTF-8"), "{e}");
    }

    #[test]
    fn size_limit_applies_to_git_files_too() {
        let opts = LoadOptions {
            max_file_size: 10,
            ..LoadOptions::default()
        };
        let e = parse_files(
            &files(&[("big.yaml", DEPLOY)]),
            &[String::new()],
            &ScopeTable::builtin(),
            &opts,
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("big.yaml: 59 bytes is over the limit of 10 bytes"),
            "{e}"
        );
    }

    #[test]
    fn alias_bomb_is_an_error_not_an_oom() {
        let mut text = String::from(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bomb}\na0: &a0 [x, x, x, x, x, x, x, x, x, x]\n",
        );
        for i in 1..12 {
            let p = i - 1;
            text.push_str(&format!("a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"));
        }
        let e = error_text(&[("bomb.yaml", &text)]);
        assert!(e.contains("bomb.yaml:") && e.contains("alias bomb"), "{e}");
    }
}
