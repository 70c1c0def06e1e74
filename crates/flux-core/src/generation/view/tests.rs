//! The view: Flux v1's configaware cases on lists of outputs, and the
//! updater environment.

use std::collections::BTreeMap;

use super::*;
use crate::generation::lookup::plan;
use crate::generation::updaters::{Change, UpdaterError};
use crate::image::ImageName;
use crate::policy::{Policy, PolicyUpdate};
use crate::registry::MemoryRegistry;
use crate::release::{
    ImageSpec, ReleaseContext, ReleaseKind, ReleaseSpec, calculate_policy_updates,
    calculate_release,
};

const HELLO: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: helloworld\nspec:\n  template:\n    metadata:\n      labels:\n       name: helloworld\n    spec:\n      containers:\n      - name: greeter\n        image: quay.io/weaveworks/helloworld:master-a000001\n";
const DEMO_NS: &str = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: demo\n";

fn patch_config(patch_file: &str) -> String {
    format!(
        "version: 1\npatchUpdated:\n  generators:\n  - command: echo\n  patchFile: {patch_file}\n"
    )
}

const COMMAND_CONFIG: &str = "version: 1\ncommandUpdated:\n  generators:\n  - command: echo\n  updaters:\n  - containerImage: {command: echo uci1}\n    policy: {command: echo ua1}\n  - containerImage: {command: echo uci2}\n";

/// A view of `files` (plain, including `.flux.yaml`s) with `outputs` per
/// git path and the patch files found among `files`.
fn view(
    paths: &[&str],
    files: &[(&str, &str)],
    outputs: &[(&str, Vec<&str>)],
) -> Result<View, ViewError> {
    let all: BTreeMap<&str, &str> = files.iter().copied().collect();
    let plan = plan(paths, |p| all.get(p).map(|t| t.as_bytes().to_vec())).expect("plan");
    let plain: FileSet = files
        .iter()
        .filter(|(p, _)| !p.ends_with(".flux.yaml"))
        .map(|(p, t)| (p.to_string(), t.as_bytes().to_vec()))
        .collect();
    let generated = plan
        .generations
        .iter()
        .map(|g| {
            let outs = outputs
                .iter()
                .find(|(p, _)| *p == g.git_path)
                .map(|(_, o)| o.iter().map(|t| t.as_bytes().to_vec()).collect())
                .unwrap_or_default();
            GeneratedOutput {
                generation: g.clone(),
                outputs: outs,
                patch: g
                    .patch_path
                    .as_ref()
                    .and_then(|p| all.get(p.as_str()))
                    .map(|t| t.as_bytes().to_vec()),
            }
        })
        .collect();
    build_view(
        &plain,
        &plan.files,
        generated,
        &ScopeTable::builtin(),
        &LoadOptions::default(),
    )
}

fn ids(v: &View) -> Vec<String> {
    v.manifests
        .resources
        .keys()
        .map(ToString::to_string)
        .collect()
}

fn registry() -> MemoryRegistry {
    let mut reg = MemoryRegistry::new();
    reg.add_tag_only(&ImageName::parse("repo/image").unwrap(), "tag");
    reg.add_tag_only(
        &ImageName::parse("quay.io/weaveworks/helloworld").unwrap(),
        "master-b000002",
    );
    reg
}

fn release(v: &View, image: &str) -> crate::release::ReleaseResult {
    let reg = registry();
    let spec = ReleaseSpec {
        workloads: Some(vec!["default:deployment/helloworld".parse().unwrap()]),
        image: image.parse::<ImageSpec>().unwrap(),
        kind: ReleaseKind::Execute,
        excludes: vec![],
        force: true,
    };
    let cx = ReleaseContext {
        manifests: &v.manifests,
        files: &v.files,
        in_cluster: None,
        registry: &reg,
    };
    calculate_release(&spec, &cx).expect("release")
}

#[test]
fn patch_updated_release_and_policy_write_only_the_patch_file() {
    // Flux v1's TestPatchUpdatedConfigFile: the same patch bytes.
    let out = format!("{HELLO}---\n{DEMO_NS}");
    let config = patch_config("patchfile.yaml");
    let v = view(&["."], &[(".flux.yaml", &config)], &[("", vec![&out])]).unwrap();
    assert_eq!(
        ids(&v),
        ["<cluster>:namespace/demo", "default:deployment/helloworld"]
    );
    let hello = &v.manifests.resources[&"default:deployment/helloworld".parse().unwrap()];
    assert_eq!(hello.source().to_string(), ".flux.yaml:1");

    let result = release(&v, "quay.io/weaveworks/helloworld:master-b000002");
    let edits = v.file_edits(&result.edits).unwrap();
    assert_eq!(edits.len(), 1);
    assert_eq!(edits[0].file, "patchfile.yaml");
    let patch = edits[0].text.clone();
    assert!(
        patch.contains(
            "- image: quay.io/weaveworks/helloworld:master-b000002\n        name: greeter\n"
        ),
        "{patch}"
    );

    // The next generation applies the patch; a policy change keeps it.
    let v = view(
        &["."],
        &[(".flux.yaml", &config), ("patchfile.yaml", &patch)],
        &[("", vec![&out])],
    )
    .unwrap();
    let hello = &v.manifests.resources[&"default:deployment/helloworld".parse().unwrap()];
    assert_eq!(
        hello.containers().unwrap()[0].image,
        "quay.io/weaveworks/helloworld:master-b000002"
    );
    let ns_text = std::str::from_utf8(v.files.get(".flux.yaml").unwrap()).unwrap();
    assert!(
        ns_text.ends_with(&format!("---\n{DEMO_NS}")),
        "unpatched documents keep their bytes:\n{ns_text}"
    );
    assert!(v.file_edits(&[]).unwrap().is_empty());

    let id: ResourceId = "default:deployment/helloworld".parse().unwrap();
    let updates = BTreeMap::from([(
        id,
        PolicyUpdate::adding(Policy::Tag("greeter".into()), "glob:master-*"),
    )]);
    let result = calculate_policy_updates(&v.manifests, &v.files, &updates);
    let edits = v.file_edits(&result.edits).unwrap();
    assert_eq!(
        edits[0].text,
        "---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  annotations:\n    fluxcd.io/tag.greeter: glob:master-*\n  name: helloworld\nspec:\n  template:\n    spec:\n      $setElementOrder/containers:\n      - name: greeter\n      containers:\n      - image: quay.io/weaveworks/helloworld:master-b000002\n        name: greeter\n"
    );

    // Releasing what is already released changes nothing.
    let v = view(
        &["."],
        &[(".flux.yaml", &config), ("patchfile.yaml", &edits[0].text)],
        &[("", vec![&out])],
    )
    .unwrap();
    let result = release(&v, "quay.io/weaveworks/helloworld:master-b000002");
    assert!(v.file_edits(&result.edits).unwrap().is_empty());
}

#[test]
fn duplicates_between_files_and_generators_are_errors() {
    // Flux v1's TestDuplicateDetection, TestDuplicateInFiles, TestDuplicateInGenerators.
    let twice = format!("{DEMO_NS}---\n{HELLO}---\n{DEMO_NS}");
    let config = patch_config("p.yaml");
    let e = view(&["."], &[(".flux.yaml", &config)], &[("", vec![&twice])]).unwrap_err();
    assert!(
        e.to_string().contains(
            "duplicate definition of <cluster>:namespace/demo (in .flux.yaml:1 and .flux.yaml:"
        ),
        "{e}"
    );

    let e = view(
        &[".", "echo"],
        &[("echo/.flux.yaml", &config), ("manifest.yaml", HELLO)],
        &[("echo", vec![HELLO])],
    )
    .unwrap_err();
    assert!(e.to_string().contains("duplicate definition of default:deployment/helloworld (in echo/.flux.yaml:1 and manifest.yaml:1)"), "{e}");

    let e = view(
        &["echo1", "echo2"],
        &[("echo1/.flux.yaml", &config), ("echo2/.flux.yaml", &config)],
        &[("echo1", vec![HELLO]), ("echo2", vec![HELLO])],
    )
    .unwrap_err();
    assert!(e.to_string().contains("duplicate definition of default:deployment/helloworld (in echo1/.flux.yaml:1 and echo2/.flux.yaml:1)"), "{e}");
}

#[test]
fn generated_output_follows_the_file_rules() {
    let config = "version: 1\ncommandUpdated:\n  generators:\n  - command: a\n  - command: b\n";
    let e = view(
        &["env"],
        &[(".flux.yaml", config)],
        &[("env", vec![HELLO, "kind: [oops\n"])],
    )
    .unwrap_err();
    assert!(e.to_string().starts_with("env/../.flux.yaml#2:2:"), "{e}");
    let e = view(
        &["env"],
        &[(".flux.yaml", config)],
        &[("env", vec![HELLO, "metadata: {name: x}\n"])],
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("env/../.flux.yaml#2:1: apiVersion is missing"),
        "{e}"
    );
    let v = view(
        &["env"],
        &[(".flux.yaml", config)],
        &[("env", vec![HELLO, DEMO_NS])],
    )
    .unwrap();
    let ns = &v.manifests.resources[&"<cluster>:namespace/demo".parse().unwrap()];
    assert_eq!(ns.source().file, "env/../.flux.yaml#2");
    assert_eq!(
        v.generation_of("env/../.flux.yaml#1")
            .map(|g| g.git_path.as_str()),
        Some("env")
    );
}

#[test]
fn a_patch_for_a_resource_not_generated_is_an_error() {
    let config = patch_config("flux-patch.yaml");
    let patch = "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: gone\n";
    let e = view(
        &["."],
        &[(".flux.yaml", &config), ("flux-patch.yaml", patch)],
        &[("", vec![HELLO])],
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        ".flux.yaml: cannot apply patchFile flux-patch.yaml to the generated resources: flux-patch.yaml:2: patch refers to missing resource (default:configmap/gone): the generators do not produce it"
    );
}

#[test]
fn patches_of_list_items_and_scan_for_files_beside() {
    let list = "# a comment kept\napiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: a}\n  data: {k: v}\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: b}\n";
    let patch = "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\ndata:\n  k: patched\n";
    let config = patch_config("../p.yaml");
    let v = view(
        &["gen", "raw"],
        &[
            ("gen/.flux.yaml", &config),
            ("p.yaml", patch),
            ("raw/.flux.yaml", "version: 1\nscanForFiles: {}\n"),
            ("raw/x.yaml", DEMO_NS),
        ],
        &[("gen", vec![list])],
    )
    .unwrap();
    assert_eq!(
        ids(&v),
        [
            "<cluster>:namespace/demo",
            "default:configmap/a",
            "default:configmap/b"
        ]
    );
    let b = &v.manifests.resources[&"default:configmap/b".parse().unwrap()];
    assert_eq!(b.object().to_value()["data"]["k"], "patched");
    let text = std::str::from_utf8(v.files.get("gen/.flux.yaml").unwrap()).unwrap();
    assert!(text.starts_with("# a comment kept\n"), "{text}");
}

#[test]
fn command_updated_updater_environment() {
    // Flux v1's TestExecContainerImageUpdaters and TestExecAnnotationUpdaters.
    let v = view(
        &["."],
        &[(".flux.yaml", COMMAND_CONFIG)],
        &[("", vec![HELLO])],
    )
    .unwrap();
    let result = release(&v, "quay.io/weaveworks/helloworld:master-b000002");
    assert!(
        v.file_edits(&result.edits).unwrap().is_empty(),
        "the updaters make the change"
    );
    let runs = v.updater_runs(Change::Images(&result)).unwrap();
    let shown: Vec<(String, Vec<String>)> = runs
        .iter()
        .map(|r| {
            (
                r.command.command.clone(),
                r.env.iter().map(|(k, v)| format!("{k}={v}")).collect(),
            )
        })
        .collect();
    let env = vec![
        "FLUX_WORKLOAD=default:deployment/helloworld".to_owned(),
        "FLUX_WL_NS=default".into(),
        "FLUX_WL_KIND=deployment".into(),
        "FLUX_WL_NAME=helloworld".into(),
        "FLUX_CONTAINER=greeter".into(),
        "FLUX_IMG=quay.io/weaveworks/helloworld".into(),
        "FLUX_TAG=master-b000002".into(),
    ];
    assert_eq!(
        shown,
        [
            ("echo uci1".to_owned(), env.clone()),
            ("echo uci2".to_owned(), env)
        ]
    );

    let id: ResourceId = "default:deployment/helloworld".parse().unwrap();
    let mut update = PolicyUpdate::adding(Policy::Tag("greeter".into()), "master-*");
    update.remove.insert(Policy::Locked);
    let updates = BTreeMap::from([(id, update)]);
    let result = calculate_policy_updates(&v.manifests, &v.files, &updates);
    let runs = v
        .updater_runs(Change::Policies {
            result: &result,
            updates: &updates,
        })
        .unwrap();
    let shown: Vec<Vec<String>> = runs
        .iter()
        .map(|r| r.env[4..].iter().map(|(k, v)| format!("{k}={v}")).collect())
        .collect();
    assert_eq!(
        shown,
        [
            vec!["FLUX_POLICY=locked".to_owned()],
            vec![
                "FLUX_POLICY=tag.greeter".to_owned(),
                "FLUX_POLICY_VALUE=glob:master-*".to_owned()
            ]
        ]
    );
    assert!(
        runs.iter()
            .all(|r| r.command.command == "echo ua1" && r.field == "policy")
    );
}

#[test]
fn command_updated_without_updaters_refuses() {
    // Flux v1's TestMistakenConfigFile.
    let config = "version: 1\ncommandUpdated:\n  generators:\n  - command: echo\n";
    let v = view(
        &["env"],
        &[("env/.flux.yaml", config)],
        &[("env", vec![HELLO])],
    )
    .unwrap();
    let result = release(&v, "quay.io/weaveworks/helloworld:master-b000002");
    let e = v.updater_runs(Change::Images(&result)).unwrap_err();
    assert_eq!(
        e,
        UpdaterError::NoCommands {
            field: "containerImage",
            config: "env/.flux.yaml".into(),
            workdir: "env".into()
        }
    );
    assert_eq!(
        e.to_string(),
        "no updaters.containerImage commands to run in env/.flux.yaml (from path env)"
    );
}
