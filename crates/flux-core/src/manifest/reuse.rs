//! Parsing the next commit from the last parse.
//!
//! A commit usually changes a few files of thousands. Parsing every file
//! again costs the YAML parse of the whole repository, and while the
//! daemon still holds the last parse (it serves it until the new one is
//! ready), a second copy of every object. [`reparse_files`] parses only the
//! files whose bytes changed and shares the objects of the others with the
//! last parse; everything after parsing (scopes, IDs, duplicates) is done
//! again, so the result equals [`super::parse_files`]'s.

use std::collections::HashMap;
use std::sync::Arc;

use super::files::{FileSet, select};
use super::parse::{Found, Parsed, parse_streams_with};
use super::{LoadErrors, LoadOptions, Manifests, Resource, Skipped};
use crate::resource::ScopeTable;

/// A parse to take unchanged files from: the files, and the manifests
/// [`super::parse_files`] (or [`reparse_files`]) made of them with the same
/// [`LoadOptions`].
#[derive(Debug, Clone, Copy)]
pub struct LastParse<'a> {
    /// The files parsed.
    pub files: &'a FileSet,
    /// What they gave.
    pub manifests: &'a Manifests,
}

/// [`super::parse_files`], reusing `last` for every file whose bytes are
/// the same as when `last` was made (at the same path).
///
/// A last parse that left resources out for want of a scope is not reused
/// (their objects are not kept); everything is parsed again.
pub fn reparse_files(
    files: &FileSet,
    paths: &[String],
    scopes: &ScopeTable,
    options: &LoadOptions,
    last: LastParse<'_>,
) -> Result<Manifests, LoadErrors> {
    let streams = select(files, paths);
    if !last.manifests.unscoped.is_empty() {
        return parse_streams_with(&streams, scopes, options, |_, _| None);
    }
    let mut resources: HashMap<&str, Vec<&Resource>> = HashMap::new();
    for r in last.manifests.resources.values() {
        resources.entry(&r.source.file).or_default().push(r);
    }
    let mut skipped: HashMap<&str, Vec<&Skipped>> = HashMap::new();
    for s in &last.manifests.skipped {
        skipped.entry(&s.file).or_default().push(s);
    }
    parse_streams_with(&streams, scopes, options, |path, bytes| {
        if last.files.get(path) != Some(bytes) {
            return None;
        }
        let mut found: Vec<Found> = resources
            .get(path)
            .into_iter()
            .flatten()
            .map(|r| Found {
                object: Arc::clone(&r.object),
                source: r.source.clone(),
            })
            .collect();
        found.sort_by_key(|f| (f.source.document, f.source.item));
        let skipped = skipped
            .get(path)
            .into_iter()
            .flatten()
            .map(|&s| s.clone())
            .collect();
        Some(Parsed { found, skipped })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::parse_files;

    fn options() -> LoadOptions {
        LoadOptions::default()
    }

    fn set(entries: &[(&str, &str)]) -> FileSet {
        let mut files = FileSet::new();
        for (path, text) in entries {
            files.insert(*path, text.as_bytes());
        }
        files
    }

    const A: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: x}\n";
    const B: &str = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: b1, namespace: x}\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: b2}\n";
    const K: &str = "resources: [a.yaml]\n";

    #[test]
    fn unchanged_files_share_their_objects_and_the_result_is_a_full_parse() {
        let paths = ["".to_owned()];
        let scopes = ScopeTable::builtin();
        let before = set(&[("a.yaml", A), ("b.yaml", B), ("kustomization.yaml", K)]);
        let first = parse_files(&before, &paths, &scopes, &options()).unwrap();
        let changed_a = A.replace("name: a,", "name: a2,");
        let after = set(&[
            ("a.yaml", &changed_a),
            ("b.yaml", B),
            ("kustomization.yaml", K),
            ("c.yaml", &A.replace("name: a,", "name: c,")),
        ]);
        let last = LastParse {
            files: &before,
            manifests: &first,
        };
        let again = reparse_files(&after, &paths, &scopes, &options(), last).unwrap();
        let full = parse_files(&after, &paths, &scopes, &options()).unwrap();
        assert_eq!(again.resources, full.resources);
        assert_eq!(again.skipped, full.skipped);
        assert_eq!(again.resources.len(), 4);

        // b.yaml's items are the last parse's objects; a.yaml's are new.
        let shared = |id: &str| {
            let id = id.parse().unwrap();
            Arc::ptr_eq(&again.resources[&id].object, &first.resources[&id].object)
        };
        assert!(shared("x:configmap/b1"));
        assert!(shared("default:configmap/b2"));
        let a2 = "x:configmap/a2".parse().unwrap();
        assert_eq!(
            again.resources[&a2].object().pointer(&["metadata", "name"]),
            full.resources[&a2].object().pointer(&["metadata", "name"])
        );
    }

    #[test]
    fn errors_and_duplicates_are_found_as_in_a_full_parse() {
        let paths = ["".to_owned()];
        let scopes = ScopeTable::builtin();
        let before = set(&[("a.yaml", A), ("b.yaml", B)]);
        let first = parse_files(&before, &paths, &scopes, &options()).unwrap();
        let last = LastParse {
            files: &before,
            manifests: &first,
        };
        // A new file defining a.yaml's object again, beside unchanged a.yaml.
        let after = set(&[("a.yaml", A), ("b.yaml", B), ("d.yaml", A)]);
        let again = reparse_files(&after, &paths, &scopes, &options(), last).unwrap_err();
        let full = parse_files(&after, &paths, &scopes, &options()).unwrap_err();
        assert_eq!(again.to_string(), full.to_string());
        assert!(again.to_string().contains("d.yaml"), "{again}");

        // A file made unreadable is parsed, not taken from the last parse.
        let after = set(&[("a.yaml", "kind: [\n"), ("b.yaml", B)]);
        let again = reparse_files(&after, &paths, &scopes, &options(), last).unwrap_err();
        assert!(again.to_string().contains("a.yaml"), "{again}");
    }

    #[test]
    fn a_last_parse_with_unplaced_kinds_is_not_reused() {
        let paths = ["".to_owned()];
        let custom = "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n";
        let before = set(&[("w.yaml", custom), ("a.yaml", A)]);
        let first = parse_files(&before, &paths, &ScopeTable::builtin(), &options()).unwrap();
        assert_eq!(first.unscoped.len(), 1);
        // The kind's scope is known now: the object is read again and placed.
        let mut scopes = ScopeTable::builtin();
        scopes.insert("example.com", "Widget", crate::resource::Scope::Namespaced);
        let last = LastParse {
            files: &before,
            manifests: &first,
        };
        let again = reparse_files(&before, &paths, &scopes, &options(), last).unwrap();
        assert!(again.unscoped.is_empty());
        assert!(
            again
                .resources
                .contains_key(&"default:widget/w".parse().unwrap())
        );
    }
}
