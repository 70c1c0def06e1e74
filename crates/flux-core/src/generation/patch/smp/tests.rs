//! Patches made and applied: Flux v1's cases (patch_test.go) and
//! generated pairs of objects.

use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;

fn round_trip(original: &Value, modified: &Value) -> Map<String, Value> {
    let patch = create(original, modified);
    let applied = apply(original, &patch).expect("the patch applies");
    assert_eq!(
        &applied,
        modified,
        "patch: {}",
        Value::Object(patch.clone())
    );
    patch
}

fn deployment(containers: Value) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "name"},
           "spec": {"template": {"spec": {"containers": containers}}}})
}

#[test]
fn unchanged_gives_an_empty_patch() {
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "namespace"}});
    assert!(round_trip(&ns, &ns).is_empty());
}

#[test]
fn one_container_image_is_merged_by_name_with_its_order() {
    let original = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "name"},
        "spec": {"template": {"spec": {
            "containers": [{"name": "one", "image": "one:one"}, {"name": "two", "image": "two:two"}],
            "initContainers": [{"name": "one", "image": "one:one"}]}}}});
    let mut modified = original.clone();
    modified["spec"]["template"]["spec"]["containers"][0]["image"] = json!("oneplus:oneplus");
    let patch = round_trip(&original, &modified);
    assert_eq!(
        Value::Object(patch),
        json!({"spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "one"}, {"name": "two"}],
            "containers": [{"name": "one", "image": "oneplus:oneplus"}]}}}})
    );
}

#[test]
fn annotations_added_changed_and_removed() {
    let original = json!({"apiVersion": "helm.fluxcd.io/v1", "kind": "HelmRelease",
        "metadata": {"name": "ghost", "namespace": "demo",
            "annotations": {"fluxcd.io/automated": "false", "fluxcd.io/tag.chart-image": "glob:1.21.*"}},
        "spec": {"values": {"image": "bitnami/ghost", "tag": "1.21.5-r0", "list": [1, 2]}}});
    let modified = json!({"apiVersion": "helm.fluxcd.io/v1", "kind": "HelmRelease",
        "metadata": {"name": "ghost", "namespace": "demo",
            "annotations": {"fluxcd.io/automated": "true"}},
        "spec": {"values": {"image": "bitnami/ghost", "tag": "1.21.6", "list": [2]}}});
    let patch = round_trip(&original, &modified);
    // A custom resource: a JSON merge patch, lists whole.
    assert_eq!(
        Value::Object(patch),
        json!({"metadata": {"annotations": {"fluxcd.io/automated": "true", "fluxcd.io/tag.chart-image": null}},
               "spec": {"values": {"tag": "1.21.6", "list": [2]}}})
    );
}

#[test]
fn deletions_reorders_and_additions_of_items() {
    let original = deployment(json!([
        {"name": "a", "image": "a:1", "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}]},
        {"name": "b", "image": "b:1"},
        {"name": "c", "image": "c:1"}]));
    let modified = deployment(json!([
        {"name": "c", "image": "c:1"},
        {"name": "d", "image": "d:1"},
        {"name": "a", "image": "a:1", "env": [{"name": "Y", "value": "3"}]}]));
    let patch = round_trip(&original, &modified);
    let spec = &Value::Object(patch)["spec"]["template"]["spec"];
    assert_eq!(
        spec["$setElementOrder/containers"],
        json!([{"name": "c"}, {"name": "d"}, {"name": "a"}])
    );
    assert_eq!(
        spec["containers"],
        json!([{"name": "d", "image": "d:1"},
               {"name": "a", "$setElementOrder/env": [{"name": "Y"}], "env": [{"name": "Y", "value": "3"}, {"name": "X", "$patch": "delete"}]},
               {"name": "b", "$patch": "delete"}])
    );
    // Only the order changed.
    let swapped = deployment(json!([{"name": "b", "image": "b:1"}, {"name": "a", "image": "a:1"}]));
    let sorted = deployment(json!([{"name": "a", "image": "a:1"}, {"name": "b", "image": "b:1"}]));
    let patch = round_trip(&sorted, &swapped);
    assert_eq!(
        Value::Object(patch),
        json!({"spec": {"template": {"spec": {"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}]}}}})
    );
}

#[test]
fn items_without_merge_keys_replace_the_list() {
    let original = deployment(json!([{"image": "a:1"}]));
    let modified = deployment(json!([{"image": "a:2"}]));
    let patch = round_trip(&original, &modified);
    assert_eq!(
        patch["spec"]["template"]["spec"]["containers"],
        json!([{"$patch": "replace"}, {"image": "a:2"}])
    );
}

#[test]
fn kubernetes_directives_apply() {
    let original = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "w", "finalizers": ["a", "b"]},
        "spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}},
                 "template": {"spec": {"containers": [{"name": "a", "image": "a:1", "args": ["x"]}], "volumes": [{"name": "v", "emptyDir": {}}]}}}});
    let patch = json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"], "finalizers": ["c"]},
        "spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"},
                 "template": {"spec": {"containers": [{"name": "a", "args": ["y"]}],
                                       "volumes": [{"$patch": "replace"}, {"name": "w", "configMap": {"name": "c"}}]}}}});
    let Value::Object(patch) = patch else {
        unreachable!()
    };
    let out = apply(&original, &patch).unwrap();
    assert_eq!(out["metadata"]["finalizers"], json!(["b", "c"]));
    assert_eq!(out["spec"]["strategy"], json!({"type": "Recreate"}));
    assert_eq!(
        out["spec"]["template"]["spec"]["containers"],
        json!([{"name": "a", "image": "a:1", "args": ["y"]}])
    );
    assert_eq!(
        out["spec"]["template"]["spec"]["volumes"],
        json!([{"name": "w", "configMap": {"name": "c"}}])
    );

    let bad = json!({"spec": {"$patch": "explode"}});
    let Value::Object(bad) = bad else {
        unreachable!()
    };
    assert!(
        apply(&original, &bad)
            .unwrap_err()
            .contains("unknown $patch directive")
    );
    let no_key = json!({"spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}});
    let Value::Object(no_key) = no_key else {
        unreachable!()
    };
    let e = apply(&original, &no_key).unwrap_err();
    assert!(
        e.contains("spec.template.spec.containers: item has no merge key \"name\""),
        "{e}"
    );
}

fn container() -> impl Strategy<Value = Value> {
    (
        prop::sample::select(vec!["a", "b", "c", "d"]),
        prop::sample::select(vec!["x:1", "x:2", "y:1"]),
        prop::collection::vec((prop::sample::select(vec!["E", "F", "G"]), 0..3u8), 0..3),
        prop::option::of(prop::collection::vec(
            prop::sample::select(vec!["-v", "-q", "--x"]),
            0..3,
        )),
    )
        .prop_map(|(name, image, env, args)| {
            let mut c = json!({"name": name, "image": image});
            let mut seen = Vec::new();
            let env: Vec<Value> = env
                .into_iter()
                .filter(|(n, _)| {
                    let fresh = !seen.contains(n);
                    seen.push(*n);
                    fresh
                })
                .map(|(n, v)| json!({"name": n, "value": v.to_string()}))
                .collect();
            if !env.is_empty() {
                c["env"] = json!(env);
            }
            if let Some(args) = args {
                c["args"] = json!(args);
            }
            c
        })
}

fn object(api_version: &'static str, kind: &'static str) -> impl Strategy<Value = Value> {
    (
        prop::collection::vec(container(), 0..4),
        prop::collection::btree_map(
            prop::sample::select(vec!["fluxcd.io/automated", "fluxcd.io/locked", "k"]),
            prop::sample::select(vec!["true", "false", "v"]),
            0..3,
        ),
        prop::option::of(0..3u8),
        prop::collection::vec(prop::sample::select(vec!["f1", "f2", "f3"]), 0..3),
    )
        .prop_map(move |(containers, annotations, replicas, finalizers)| {
            let mut names = Vec::new();
            let containers: Vec<Value> = containers
                .into_iter()
                .filter(|c| {
                    let n = c["name"].clone();
                    let fresh = !names.contains(&n);
                    names.push(n);
                    fresh
                })
                .collect();
            let mut finals: Vec<&str> = Vec::new();
            for f in finalizers {
                if !finals.contains(&f) {
                    finals.push(f);
                }
            }
            let mut v = json!({"apiVersion": api_version, "kind": kind, "metadata": {"name": "w"},
                "spec": {"template": {"spec": {"containers": containers}}}});
            if !annotations.is_empty() {
                v["metadata"]["annotations"] = json!(annotations);
            }
            if !finals.is_empty() {
                v["metadata"]["finalizers"] = json!(finals);
            }
            if let Some(r) = replicas {
                v["spec"]["replicas"] = json!(r);
            }
            v
        })
}

proptest! {
    #[test]
    fn applying_the_made_patch_gives_the_modified_deployment(
        original in object("apps/v1", "Deployment"),
        modified in object("apps/v1", "Deployment"),
    ) {
        let patch = create(&original, &modified);
        prop_assert_eq!(apply(&original, &patch).unwrap(), modified.clone());
        prop_assert!(create(&modified, &modified).is_empty());
    }

    #[test]
    fn applying_the_made_patch_gives_the_modified_custom_resource(
        original in object("example.com/v1", "Widget"),
        modified in object("example.com/v1", "Widget"),
    ) {
        let patch = create(&original, &modified);
        prop_assert_eq!(apply(&original, &patch).unwrap(), modified);
    }
}
