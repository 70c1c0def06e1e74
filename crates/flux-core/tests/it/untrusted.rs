//! Every parser of bytes that come from outside (a repository, a registry,
//! an annotation, a flag) fed arbitrary input: none may panic, and what
//! each builds stays within a bound set by its input and its limits, so a
//! hostile repository can cost neither a crash nor unbounded memory.
//!
//! Two kinds of input: raw bytes, and text assembled from YAML and
//! Kubernetes fragments, which reaches deeper into the parsers. Run more
//! cases with `PROPTEST_CASES=10000 cargo nextest run -p flux-core untrusted`.

use std::collections::BTreeMap;

use flux_core::manifest::{LoadError, LoadOptions, SourceRef, parse_streams};
use flux_core::policy::semver::{Range, parse_version};
use flux_core::policy::{AnnotationChange, Policy, TagPattern};
use flux_core::release::ImageSpec;
use flux_core::update::{set_annotations, set_container_image};
use flux_core::yaml::{Limits, parse_documents};
use flux_core::{ImageName, ImageRef, Policies, ResourceId, ScopeTable};
use proptest::prelude::*;
use serde_json::Value;

/// Fragments that make YAML, Kubernetes manifests and annotations.
const FRAGMENTS: &[&str] = &[
    "\n",
    " ",
    "  ",
    "\t",
    ":",
    ": ",
    "- ",
    "-",
    "[",
    "]",
    "{",
    "}",
    ",",
    "'",
    "\"",
    "#",
    "---\n",
    "...\n",
    "|",
    ">",
    "? ",
    "&a ",
    "*a",
    "&b ",
    "*b",
    "!!str ",
    "!!map ",
    "!!binary ",
    "%YAML 1.2\n",
    "\\",
    "\\u00e9",
    "é",
    "\u{feff}",
    "a",
    "x1",
    "0",
    "1.10",
    "0x1f",
    "~",
    "null",
    "true",
    "<<: *a\n",
    "apiVersion: v1\n",
    "apiVersion: apps/v1\n",
    "kind: Deployment\n",
    "kind: List\n",
    "kind: ConfigMap\n",
    "kind: HelmRelease\n",
    "kind: CustomResourceDefinition\n",
    "items:\n",
    "metadata:\n",
    "  name: web\n",
    "  namespace: demo\n",
    "  annotations:\n",
    "    fluxcd.io/tag.app: semver:~1\n",
    "    fluxcd.io/automated: 'true'\n",
    "    fluxcd.io/ignore: sync_only\n",
    "spec:\n",
    "  template:\n",
    "    spec:\n",
    "      containers:\n",
    "      - name: app\n",
    "        image: nginx:1.25\n",
    "  values:\n",
    "    image: {repository: r, tag: t}\n",
    "  scope: Cluster\n",
];

/// Whole documents, valid as they stand.
const DOCUMENTS: &[&str] = &[
    "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  annotations:\n    fluxcd.io/automated: 'true'\n    fluxcd.io/tag.app: glob:1.*\nspec:\n  template:\n    spec:\n      containers:\n      - name: app\n        image: nginx:1.25 # pinned\n      initContainers:\n      - {name: init, image: 'busybox:1'}\n",
    "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: a, namespace: demo}\n- apiVersion: apps/v1\n  kind: DaemonSet\n  metadata: {name: ds}\n  spec: {template: {spec: {containers: [{name: app, image: \"r/x:2\"}]}}}\n",
    "apiVersion: helm.fluxcd.io/v1\nkind: HelmRelease\nmetadata:\n  name: ghost\n  namespace: demo\n  annotations:\n    repository.fluxcd.io/app: image.repository\n    tag.fluxcd.io/app: image.tag\nspec:\n  values:\n    image:\n      repository: bitnami/ghost\n      tag: 4.0.1\n",
    "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: widgets.example.com}\nspec:\n  group: example.com\n  scope: Cluster\n  names: {kind: Widget, plural: widgets}\n",
    "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n",
    "base: &b {apiVersion: v1, kind: ConfigMap}\n",
    "apiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: c\nspec:\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          containers:\n          - name: app\n            image: \"busybox@sha256:0000000000000000000000000000000000000000000000000000000000000000\"\n",
];

/// Arbitrary bytes; text made of [`FRAGMENTS`]; or whole [`DOCUMENTS`]
/// joined into a stream; the last two sometimes with a byte changed, cut
/// short or a line repeated.
fn untrusted() -> impl Strategy<Value = Vec<u8>> {
    let stream = (
        proptest::sample::subsequence(DOCUMENTS, 1..5),
        prop_oneof![Just("---\n"), Just("\n---\n"), Just("--- # next\n")],
    )
        .prop_map(|(docs, sep)| docs.join(sep));
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..600),
        (
            proptest::collection::vec(proptest::sample::select(FRAGMENTS), 0..80),
            proptest::option::of((any::<usize>(), any::<u8>())),
        )
            .prop_map(|(parts, poke)| mutate(parts.concat().into_bytes(), poke)),
        (
            stream.clone(),
            proptest::option::of((any::<usize>(), any::<u8>()))
        )
            .prop_map(|(text, poke)| mutate(text.into_bytes(), poke)),
        (stream.clone(), any::<usize>()).prop_map(|(text, at)| {
            let mut bytes = text.into_bytes();
            bytes.truncate(at % (bytes.len() + 1));
            bytes
        }),
        (stream, any::<usize>()).prop_map(|(text, at)| {
            let mut lines: Vec<&str> = text.split_inclusive('\n').collect();
            let at = at % lines.len();
            lines.insert(at, lines[at]);
            lines.concat().into_bytes()
        }),
    ]
}

/// `bytes` with the byte at a position replaced, when `poke` says so.
fn mutate(mut bytes: Vec<u8>, poke: Option<(usize, u8)>) -> Vec<u8> {
    if let (Some((at, byte)), false) = (poke, bytes.is_empty()) {
        let at = at % bytes.len();
        bytes[at] = byte;
    }
    bytes
}

/// Short untrusted strings (references, patterns, IDs, annotation values).
fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[a-z0-9:/@._~*^<>=!|, -]{0,40}",
        "(glob|semver|regex|regexp):.{0,30}",
        "[a-z.]{0,12}(:[0-9]{1,6})?/[a-z/]{0,20}(:[a-z0-9.]{0,10})?(@sha256:[0-9a-f]{0,64})?",
    ]
}

/// Nodes and string bytes of a value: what it holds in memory, roughly.
fn cost(v: &Value) -> usize {
    match v {
        Value::String(s) => 1 + s.len(),
        Value::Array(a) => 1 + a.iter().map(cost).sum::<usize>(),
        Value::Object(o) => 1 + o.iter().map(|(k, v)| k.len() + cost(v)).sum::<usize>(),
        _ => 1,
    }
}

const ALIAS_LIMIT: usize = 64;

fn limits() -> Limits {
    Limits {
        max_depth: 32,
        max_alias_nodes: ALIAS_LIMIT,
    }
}

proptest! {
    #[test]
    fn yaml_documents(bytes in untrusted()) {
        let text = String::from_utf8_lossy(&bytes);
        if let Ok(docs) = parse_documents(&text, limits()) {
            // Without aliases every node and byte comes from the input;
            // aliases may copy at most ALIAS_LIMIT nodes, each at most
            // the input's size.
            let total: usize = docs.iter().map(|d| cost(&d.value)).sum();
            let bound = (4 + ALIAS_LIMIT) * (text.len() + 1);
            prop_assert!(total <= bound, "{total} > {bound} for {text:?}");
            prop_assert!(docs.len() <= text.len() + 1);
        }
    }

    #[test]
    fn manifest_streams(bytes in untrusted(), limit in prop_oneof![1 => 1u64..800, 3 => Just(1u64 << 20)]) {
        let options = LoadOptions {
            max_file_size: limit,
            yaml_limits: limits(),
            ..LoadOptions::default()
        };
        let streams = [("apps/web.yaml", bytes.as_slice())];
        match parse_streams(&streams, &ScopeTable::builtin(), &options) {
            Ok(m) => {
                prop_assert!(bytes.len() as u64 <= limit, "over the size limit, yet read");
                prop_assert!(m.resources.len() + m.skipped.len() <= bytes.len() + 1);
                for r in m.resources.values() {
                    prop_assert!(cost(&r.object().to_value()) <= (4 + ALIAS_LIMIT) * (bytes.len() + 1));
                }
            }
            Err(errors) => {
                prop_assert!(!errors.0.is_empty());
                prop_assert!(errors.0.len() <= bytes.len() + 2);
                let too_large = errors.0.iter().any(|e| matches!(e, LoadError::TooLarge { .. }));
                prop_assert_eq!(too_large, bytes.len() as u64 > limit);
                // Messages name the file and stay proportionate.
                let text = errors.to_string();
                prop_assert!(text.contains("apps/web.yaml"), "{}", text);
                prop_assert!(text.len() <= 4096 + 16 * (bytes.len() + 1) * errors.0.len());
            }
        }
    }

    #[test]
    fn yaml_edits(bytes in untrusted(), document in 0usize..3, item in proptest::option::of(0usize..3),
                  image in word(), key in word(), value in proptest::option::of(word())) {
        let text = String::from_utf8_lossy(&bytes);
        let at = SourceRef { file: "apps/web.yaml".into(), document, item, line: 1 };
        if let Ok(image) = image.parse::<ImageRef>()
            && let Ok(out) = set_container_image(&text, &at, "app", &image)
        {
            // Only image values change: at most one per field.
            prop_assert!(out.len() <= text.len() + 8 * (image.to_string().len() + 8),
                "{} -> {}", text.len(), out.len());
        }
        let change = AnnotationChange { key: key.clone(), value: value.clone() };
        if let Ok(out) = set_annotations(&text, &at, &[change]) {
            let added = key.len() + value.as_ref().map_or(0, String::len);
            prop_assert!(out.len() <= text.len() + 4 * added + 128, "{} -> {}", text.len(), out.len());
        }
    }

    #[test]
    fn image_references(s in word()) {
        if let Ok(r) = ImageRef::parse(&s) {
            prop_assert!(r.to_string().len() <= s.len() + "docker.io/library/:latest".len());
        }
        if let Ok(n) = ImageName::parse(&s) {
            prop_assert!(n.to_string().len() <= s.len() + "docker.io/library/".len());
        }
        let _ = s.parse::<ImageSpec>();
    }

    #[test]
    fn tag_patterns(pattern in word(), tag in word()) {
        if let Ok(p) = TagPattern::parse(&pattern) {
            let _ = p.matches(&tag);
        }
        if let Ok(range) = Range::parse(&pattern)
            && let Some(v) = parse_version(&tag)
        {
            let _ = range.matches(&v);
        }
        let _ = pattern.parse::<Policy>();
    }

    #[test]
    fn policy_annotations(pairs in proptest::collection::vec((word(), word()), 0..8)) {
        let prefixed: Vec<(String, String)> = pairs
            .iter()
            .enumerate()
            .map(|(i, (k, v))| match i % 4 {
                0 => (format!("fluxcd.io/tag.{k}"), v.clone()),
                1 => (format!("filter.fluxcd.io/{k}"), v.clone()),
                2 => (format!("fluxcd.io/{k}"), v.clone()),
                _ => (k.clone(), v.clone()),
            })
            .collect();
        let annotations: BTreeMap<&str, &str> =
            prefixed.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        if let Ok(policies) = Policies::from_annotations(&annotations) {
            prop_assert!(policies.tags.len() <= annotations.len());
            for (container, pattern) in &policies.tags {
                prop_assert!(annotations.keys().any(|k| k.ends_with(container.as_str())));
                let _ = pattern.matches("1.2.3");
            }
        }
    }

    #[test]
    fn resource_ids(s in word(), ns in proptest::option::of(word())) {
        if let Ok(id) = ResourceId::parse(&s) {
            prop_assert!(id.to_string().len() <= s.len() + "<cluster>".len());
            // What is printed parses back to the same ID.
            prop_assert_eq!(ResourceId::parse(&id.to_string()).ok(), Some(id));
        }
        let _ = ResourceId::parse_with_default_namespace(&s, ns.as_deref());
    }
}

#[test]
fn a_regular_expression_too_big_to_compile_small_is_refused() {
    // A tag filter is a short expression; one that compiles to megabytes
    // (in an annotation of a hostile repository, once per workload) is an
    // error, not memory spent.
    for pattern in [r"regex:\w{200}", r"regexp:(\w{20}){20}"] {
        let err = TagPattern::parse(pattern).unwrap_err().to_string();
        assert!(err.contains("too big"), "{pattern}: {err}");
    }
    for pattern in [
        r"regex:^v?[0-9]+\.[0-9]+\.[0-9]+(-rc[0-9]+)?$",
        r"regex:^\w{1,40}$",
    ] {
        TagPattern::parse(pattern).unwrap_or_else(|e| panic!("{pattern}: {e}"));
    }
}
