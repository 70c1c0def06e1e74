//! Table of edit cases: every layout the manifest model reads, with the
//! exact output expected (the input with only the intended bytes changed).

use flux_core::manifest::SourceRef;
use flux_core::policy::AnnotationChange;
use flux_core::update::{set_annotations, set_container_image};

fn at(document: usize, item: Option<usize>) -> SourceRef {
    SourceRef {
        file: "f.yaml".into(),
        document,
        item,
        line: 1,
    }
}

/// (name, input, document, item, container, image, text replaced, by)
type ImageCase = (
    &'static str,
    &'static str,
    usize,
    Option<usize>,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
);

const DEPLOY: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web   # the web tier
spec:
  template:
    spec:
      initContainers:
      - name: init
        image: busybox:1.36
      containers:
      - name: app
        image: nginx:1.25 # {\"$imagepolicy\": \"x\"}
";

const IMAGE_CASES: &[ImageCase] = &[
    (
        "plain with comment",
        DEPLOY,
        0,
        None,
        "app",
        "nginx:1.26",
        "image: nginx:1.25 #",
        "image: nginx:1.26 #",
    ),
    (
        "init container",
        DEPLOY,
        0,
        None,
        "init",
        "busybox:1.37",
        "busybox:1.36",
        "busybox:1.37",
    ),
    (
        "double quoted",
        "kind: Deployment\nmetadata: {name: a}\nspec:\n  template:\n    spec:\n      containers:\n      - name: app\n        image: \"r.io/app:1\"\n",
        0,
        None,
        "app",
        "r.io/app:2",
        "\"r.io/app:1\"",
        "\"r.io/app:2\"",
    ),
    (
        "single quoted",
        "kind: Deployment\nmetadata: {name: a}\nspec:\n  template:\n    spec:\n      containers:\n      - name: app\n        image: 'r.io/app:1'\n",
        0,
        None,
        "app",
        "r.io/app:2",
        "'r.io/app:1'",
        "'r.io/app:2'",
    ),
    (
        "flow sequence of flow mappings",
        "kind: Deployment\nmetadata: {name: a}\nspec: {template: {spec: {containers: [{name: app, image: r.io/app:1}, {name: b, image: x:1}]}}}\n",
        0,
        None,
        "app",
        "r.io/app:2",
        "image: r.io/app:1}",
        "image: r.io/app:2}",
    ),
    (
        "flow mapping item in a block sequence",
        "kind: Deployment\nmetadata: {name: a}\nspec:\n  template:\n    spec:\n      containers:\n        - { name: app, image: 'r.io/app:1' }\n",
        0,
        None,
        "app",
        "r.io/app:2",
        "'r.io/app:1'",
        "'r.io/app:2'",
    ),
    (
        "odd indentation and unindented sequences",
        "kind: Deployment\nmetadata:\n     name: a\nspec:\n template:\n         spec:\n          containers:\n          -   name: app\n              image:   r.io/app:1\n",
        0,
        None,
        "app",
        "r.io/app:2",
        "r.io/app:1",
        "r.io/app:2",
    ),
    (
        "value on the next line after a comment",
        "kind: Deployment\nmetadata: {name: a}\nspec:\n  template:\n    spec:\n      containers:\n      - name: app\n        image: # pinned\n          r.io/app:1\n",
        0,
        None,
        "app",
        "r.io/app:2",
        "r.io/app:1",
        "r.io/app:2",
    ),
    (
        "CRLF line ends",
        "kind: Deployment\r\nmetadata:\r\n  name: a\r\nspec:\r\n  template:\r\n    spec:\r\n      containers:\r\n      - name: app\r\n        image: r.io/app:1\r\n",
        0,
        None,
        "app",
        "r.io/app:2",
        "r.io/app:1",
        "r.io/app:2",
    ),
    (
        "third document of several",
        "# leading comment\n---\nkind: ConfigMap\nmetadata: {name: c}\ndata: {image: r.io/app:1}\n---\n---\nkind: Deployment\nmetadata: {name: a}\nspec:\n  template:\n    spec:\n      containers:\n      - name: app\n        image: r.io/app:1\n...\n---\nkind: Deployment\nmetadata: {name: b}\nspec:\n  template:\n    spec:\n      containers:\n      - name: app\n        image: r.io/app:1\n",
        2,
        None,
        "app",
        "r.io/app:2",
        "{name: a}\nspec:\n  template:\n    spec:\n      containers:\n      - name: app\n        image: r.io/app:1",
        "{name: a}\nspec:\n  template:\n    spec:\n      containers:\n      - name: app\n        image: r.io/app:2",
    ),
    (
        "List item",
        "apiVersion: v1\nkind: List\nitems:\n- kind: Deployment\n  metadata: {name: a}\n  spec: {template: {spec: {containers: [{name: app, image: 'x:1'}]}}}\n- kind: Deployment\n  metadata: {name: b}\n  spec: {template: {spec: {containers: [{name: app, image: 'x:1'}]}}}\n",
        0,
        Some(1),
        "app",
        "x:2",
        "{name: b}\n  spec: {template: {spec: {containers: [{name: app, image: 'x:1'}",
        "{name: b}\n  spec: {template: {spec: {containers: [{name: app, image: 'x:2'}",
    ),
    (
        "CronJob",
        "kind: CronJob\nmetadata: {name: j}\nspec:\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          containers:\n          - name: job\n            image: \"alpine:3.1\"\n",
        0,
        None,
        "job",
        "alpine:3.2",
        "alpine:3.1",
        "alpine:3.2",
    ),
    (
        "multibyte text before the value",
        "kind: Deployment\nmetadata:\n  name: a\n  annotations: {note: \"déjà vu ✓\"}\nspec:\n  template:\n    spec:\n      containers:\n      - name: app # ünïcode\n        image: r.io/app:1\n",
        0,
        None,
        "app",
        "r.io/app:2",
        "r.io/app:1",
        "r.io/app:2",
    ),
    (
        "HelmRelease values.image string",
        "apiVersion: helm.fluxcd.io/v1\nkind: HelmRelease\nmetadata: {name: r}\nspec:\n  values:\n    image: repo/app:1.0\n",
        0,
        None,
        "chart-image",
        "repo/app:1.1",
        "repo/app:1.0",
        "repo/app:1.1",
    ),
    (
        "HelmRelease image map with repository and tag",
        "apiVersion: helm.fluxcd.io/v1\nkind: HelmRelease\nmetadata: {name: r}\nspec:\n  values:\n    image:\n      repository: stefanprodan/podinfo\n      tag: 3.2.0\n",
        0,
        None,
        "chart-image",
        "stefanprodan/podinfo:3.2.1",
        "tag: 3.2.0",
        "tag: 3.2.1",
    ),
    (
        "HelmRelease tag that must be quoted",
        "apiVersion: helm.fluxcd.io/v1\nkind: HelmRelease\nmetadata: {name: r}\nspec:\n  values:\n    sidecar:\n      image: repo/side\n      tag: v1.9\n",
        0,
        None,
        "sidecar",
        "repo/side:1.10",
        "tag: v1.9",
        "tag: \"1.10\"",
    ),
    (
        "HelmRelease registry, image and tag",
        "apiVersion: helm.fluxcd.io/v1\nkind: HelmRelease\nmetadata: {name: r}\nspec:\n  values:\n    db:\n      image:\n        registry: docker.io\n        repository: bitnami/postgresql\n        tag: '15.1'\n",
        0,
        None,
        "db",
        "docker.io/bitnami/postgresql:15.2",
        "'15.1'",
        "'15.2'",
    ),
    (
        "HelmRelease registry and image with the tag in it",
        "apiVersion: helm.fluxcd.io/v1\nkind: HelmRelease\nmetadata: {name: r}\nspec:\n  values:\n    proxy:\n      registry: gcr.io/team\n      image: envoy:1\n",
        0,
        None,
        "proxy",
        "gcr.io/team/envoy:2",
        "envoy:1",
        "envoy:2",
    ),
    (
        "HelmRelease mapped by annotations",
        "apiVersion: helm.fluxcd.io/v1\nkind: HelmRelease\nmetadata:\n  name: r\n  annotations:\n    repository.fluxcd.io/app: custom.img.name\n    tag.fluxcd.io/app: custom.img.version\nspec:\n  values:\n    custom:\n      img: {name: mapped/app, version: \"3.1\"}\n",
        0,
        None,
        "app",
        "mapped/app:3.2",
        "\"3.1\"",
        "\"3.2\"",
    ),
];

#[test]
fn image_edits() {
    for (name, input, document, item, container, image, from, to) in IMAGE_CASES {
        let out = set_container_image(
            input,
            &at(*document, *item),
            container,
            &image.parse().unwrap(),
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        let want = input.replacen(from, to, 1);
        assert_ne!(
            &want, input,
            "{name}: the case's replacement text is not in the input"
        );
        assert_eq!(out, want, "{name}");
    }
}

#[test]
fn image_edit_errors() {
    let deployment = |containers: &str| {
        format!(
            "kind: Deployment\nmetadata: {{name: a}}\nspec:\n  template:\n    spec:\n{containers}"
        )
    };
    let cases = [
        ("unknown container", deployment("      containers:\n      - name: app\n        image: x:1\n"),
         "nope", "no container \"nope\" (it has: app)"),
        ("alias", "kind: Deployment\nmetadata: {name: a}\nimg: &img 'x:1'\nspec:\n  template:\n    spec:\n      containers:\n      - name: app\n        image: *img\n".to_owned(),
         "app", "YAML alias"),
        ("anchored value", deployment("      containers:\n      - name: app\n        image: &img x:1\n"),
         "app", "the value has a YAML anchor or tag"),
        ("block scalar", deployment("      containers:\n      - name: app\n        image: >-\n          x:1\n"),
         "app", "block scalar"),
        ("merge key", "kind: Deployment\nmetadata: {name: a}\nbase: &base {name: app, image: 'x:1'}\nspec:\n  template:\n    spec:\n      containers:\n      - <<: *base\n".to_owned(),
         "app", "merge key"),
        ("not a string", deployment("      containers:\n      - name: app\n        image: 5\n"),
         "app", "image must be a string"),
    ];
    for (name, input, container, want) in cases {
        let r = set_container_image(&input, &at(0, None), container, &"x:2".parse().unwrap());
        let e = r.expect_err(name).to_string();
        assert!(e.contains(want), "{name}: {e}");
    }
    let e = set_container_image(
        &deployment(""),
        &at(3, None),
        "app",
        &"x:2".parse().unwrap(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("f.yaml: has no document 3"), "{e}");
}

fn set(key: &str, value: &str) -> AnnotationChange {
    AnnotationChange {
        key: key.into(),
        value: Some(value.into()),
    }
}

fn remove(key: &str) -> AnnotationChange {
    AnnotationChange {
        key: key.into(),
        value: None,
    }
}

#[test]
fn annotation_edits() {
    type Case = (
        &'static str,
        &'static str,
        Option<usize>,
        Vec<AnnotationChange>,
        &'static str,
    );
    let cases: Vec<Case> = vec![
        (
            "add to block annotations",
            "kind: Deployment\nmetadata:\n  name: a\n  annotations:\n      x.io/a: b   # note\nspec: {}\n",
            None,
            vec![set("fluxcd.io/automated", "true")],
            "kind: Deployment\nmetadata:\n  name: a\n  annotations:\n      x.io/a: b   # note\n      fluxcd.io/automated: \"true\"\nspec: {}\n",
        ),
        (
            "change keeps place and quotes",
            "metadata:\n  annotations:\n    fluxcd.io/tag.app: 'glob:1.*'\n    x: y\n  name: a\nkind: Deployment\n",
            None,
            vec![set("fluxcd.io/tag.app", "semver:~2")],
            "metadata:\n  annotations:\n    fluxcd.io/tag.app: 'semver:~2'\n    x: y\n  name: a\nkind: Deployment\n",
        ),
        (
            "remove one of two",
            "kind: Deployment\nmetadata:\n  name: a\n  annotations:\n    fluxcd.io/locked: \"true\" # why\n    x: y\nspec: {}\n",
            None,
            vec![remove("fluxcd.io/locked")],
            "kind: Deployment\nmetadata:\n  name: a\n  annotations:\n    x: y\nspec: {}\n",
        ),
        (
            "removing the last removes annotations",
            "kind: Deployment\nmetadata:\n  annotations:\n    fluxcd.io/locked: \"true\"\n  name: a\nspec: {}\n",
            None,
            vec![remove("fluxcd.io/locked")],
            "kind: Deployment\nmetadata:\n  name: a\nspec: {}\n",
        ),
        (
            "create annotations with the file's indentation",
            "kind: Deployment\nmetadata:\n    name: a\n    labels:\n        app: a\nspec: {}\n",
            None,
            vec![
                set("fluxcd.io/automated", "true"),
                set("fluxcd.io/tag.app", "glob:1.*"),
            ],
            "kind: Deployment\nmetadata:\n    name: a\n    labels:\n        app: a\n    annotations:\n        fluxcd.io/automated: \"true\"\n        fluxcd.io/tag.app: glob:1.*\nspec: {}\n",
        ),
        (
            "flow metadata",
            "kind: Deployment\nmetadata: {name: a, namespace: b}\n",
            None,
            vec![set("fluxcd.io/locked", "true")],
            "kind: Deployment\nmetadata: {name: a, namespace: b, annotations: {fluxcd.io/locked: \"true\"}}\n",
        ),
        (
            "flow annotations, add and remove",
            "kind: Deployment\nmetadata:\n  name: a\n  annotations: {a: b, c: d}\n",
            None,
            vec![set("e", "f"), remove("a")],
            "kind: Deployment\nmetadata:\n  name: a\n  annotations: {c: d, e: f}\n",
        ),
        (
            "empty flow annotations",
            "kind: Deployment\nmetadata:\n  name: a\n  annotations: {}\n",
            None,
            vec![set("e", "f")],
            "kind: Deployment\nmetadata:\n  name: a\n  annotations: {e: f}\n",
        ),
        (
            "null annotations",
            "kind: Deployment\nmetadata:\n  name: a\n  annotations:\nspec: {}\n",
            None,
            vec![set("e", "f")],
            "kind: Deployment\nmetadata:\n  name: a\n  annotations:\n    e: f\nspec: {}\n",
        ),
        (
            "CRLF",
            "kind: Deployment\r\nmetadata:\r\n  name: a\r\n",
            None,
            vec![set("fluxcd.io/automated", "true")],
            "kind: Deployment\r\nmetadata:\r\n  name: a\r\n  annotations:\r\n    fluxcd.io/automated: \"true\"\r\n",
        ),
        (
            "no trailing newline",
            "kind: Deployment\nmetadata:\n  name: a\n  annotations:\n    a: b\n    c: d",
            None,
            vec![remove("c")],
            "kind: Deployment\nmetadata:\n  name: a\n  annotations:\n    a: b",
        ),
        (
            "List item",
            "kind: List\nitems:\n- kind: Deployment\n  metadata:\n    name: a\n- kind: Deployment\n  metadata:\n    name: b\n",
            Some(1),
            vec![set("fluxcd.io/automated", "true")],
            "kind: List\nitems:\n- kind: Deployment\n  metadata:\n    name: a\n- kind: Deployment\n  metadata:\n    name: b\n    annotations:\n      fluxcd.io/automated: \"true\"\n",
        ),
        (
            "multi-line lock message",
            "kind: Deployment\nmetadata:\n  name: a\n",
            None,
            vec![set("fluxcd.io/locked_msg", "line one\nline: two")],
            "kind: Deployment\nmetadata:\n  name: a\n  annotations:\n    fluxcd.io/locked_msg: \"line one\\nline: two\"\n",
        ),
        (
            "nothing to remove",
            "kind: Deployment\nmetadata:\n  name: a\n",
            None,
            vec![remove("fluxcd.io/locked")],
            "kind: Deployment\nmetadata:\n  name: a\n",
        ),
    ];
    for (name, input, item, changes, want) in cases {
        let out = set_annotations(input, &at(0, item), &changes)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(out, want, "{name}");
    }
}
