//! Generation of the example repository with the real kustomize: each git
//! path gets its overlay, the patch file is applied, and output is reused
//! while the tree does not change.

use flux_core::policy::Policies;

use crate::{Bed, example, ids, owned};

#[tokio::test]
async fn each_git_path_gets_its_overlay_patched() {
    let bed = Bed::new(&example());
    let staging = bed.view(&["staging"]).await.unwrap();
    assert_eq!(
        ids(&staging),
        [
            "<cluster>:namespace/staging",
            "staging:deployment/podinfo",
            "staging:service/podinfo"
        ]
    );
    let deploy = &staging.view.manifests.resources[&"staging:deployment/podinfo".parse().unwrap()];
    assert_eq!(deploy.source().file, "staging/../.flux.yaml");
    assert!(Policies::of(deploy).unwrap().automated);
    assert_eq!(
        deploy.containers().unwrap()[0].image,
        "stefanprodan/podinfo:3.1.0"
    );

    let production = bed.view(&["production"]).await.unwrap();
    let deploy =
        &production.view.manifests.resources[&"production:deployment/podinfo".parse().unwrap()];
    assert_eq!(
        deploy.object().to_value()["spec"]["replicas"],
        3,
        "kustomize's own patch"
    );
    let policies = Policies::of(deploy).unwrap();
    assert!(
        policies.locked && !policies.automated,
        "flux-patch.yaml applied: {:?}",
        deploy.annotations()
    );
    assert_eq!(
        production.plan.generations[0].patch_path.as_deref(),
        Some("production/flux-patch.yaml")
    );

    // Both at once: one .flux.yaml, run in each git path.
    let both = bed.view(&["staging", "production"]).await.unwrap();
    assert_eq!(both.view.manifests.resources.len(), 6);
    // kustomize's own files are never read as manifests here.
    assert!(both.view.manifests.skipped.is_empty());
}

#[tokio::test]
async fn an_unchanged_tree_runs_no_command() {
    let bed = Bed::new(&example());
    let first = bed.view(&["staging"]).await.unwrap();
    let after_first = bed.generator.stats();
    assert_eq!(
        (
            after_first.generator_runs,
            after_first.trees_written,
            after_first.cache_hits
        ),
        (1, 1, 0)
    );

    let again = bed.view(&["staging"]).await.unwrap();
    let after_again = bed.generator.stats();
    assert_eq!(
        (
            after_again.generator_runs,
            after_again.trees_written,
            after_again.cache_hits
        ),
        (1, 1, 1),
        "the same tree: no write, no command"
    );
    assert_eq!(ids(&first), ids(&again));
    assert_eq!(first.tree, again.tree);

    // A commit with the same files (another message): the same tree.
    let head = bed.head().await;
    let same_tree = bed
        .remote
        .git(&[
            "commit-tree",
            "-m",
            "empty",
            "-p",
            &head,
            &first.tree.clone().unwrap(),
        ])
        .unwrap();
    bed.remote
        .git(&["update-ref", "refs/heads/master", &same_tree])
        .unwrap();
    let third = bed.view(&["staging"]).await.unwrap();
    assert_eq!(third.revision.as_deref(), Some(same_tree.as_str()));
    assert_eq!(bed.generator.stats().generator_runs, 1);

    // Any change to the tree runs the generators again.
    bed.commit(&[("README.md", "docs\n")], "docs");
    let fourth = bed.view(&["staging"]).await.unwrap();
    assert_ne!(fourth.tree, first.tree);
    assert_eq!(bed.generator.stats().generator_runs, 2);
    assert_eq!(bed.generator.stats().trees_written, 2);
}

#[tokio::test]
async fn nearest_flux_yaml_decides_and_duplicates_are_errors() {
    let mut files = example();
    files.extend(owned(&[
        // Under the root .flux.yaml: built by kustomize too.
        (
            "plain/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: plain, namespace: staging}\n",
        ),
        ("plain/kustomization.yaml", "resources: [cm.yaml]\n"),
        // scanForFiles: plain YAML files, kustomization.yaml noted.
        ("raw/.flux.yaml", "version: 1\nscanForFiles: {}\n"),
        (
            "raw/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: raw, namespace: staging}\n",
        ),
        ("raw/kustomization.yaml", "resources: [cm.yaml]\n"),
    ]));
    let bed = Bed::new(&files);
    let g = bed.view(&["staging", "plain", "raw"]).await.unwrap();
    assert_eq!(g.plan.files, ["raw"]);
    let sources: Vec<(String, String)> = g
        .view
        .manifests
        .resources
        .iter()
        .filter(|(id, _)| id.kind() == "configmap")
        .map(|(id, r)| (id.to_string(), r.source().file.clone()))
        .collect();
    assert_eq!(
        sources,
        [
            (
                "staging:configmap/plain".to_owned(),
                "plain/../.flux.yaml".to_owned()
            ),
            ("staging:configmap/raw".to_owned(), "raw/cm.yaml".to_owned())
        ]
    );
    let notes: Vec<&str> = g
        .view
        .manifests
        .skipped
        .iter()
        .map(|s| s.file.as_str())
        .collect();
    assert_eq!(notes, ["raw/kustomization.yaml"]);

    // The overlay's service also in a plain file: a duplicate.
    bed.commit(
        &[(
            "raw/svc.yaml",
            "apiVersion: v1\nkind: Service\nmetadata: {name: podinfo, namespace: staging}\n",
        )],
        "duplicate",
    );
    let e = bed.view(&["staging", "raw"]).await.unwrap_err().to_string();
    assert!(
        e.contains("duplicate definition of staging:service/podinfo (in raw/svc.yaml:1 and staging/../.flux.yaml:"),
        "{e}"
    );
}

#[tokio::test]
async fn a_bad_flux_yaml_is_refused_before_anything_runs() {
    let mut files = example();
    files.retain(|(p, _)| p != ".flux.yaml");
    files.extend(owned(&[(
        ".flux.yaml",
        "version: 1\npatchUpdated:\n  generators:\n  - command: kustomize build .\n  patchFile: flux-patch.yaml\n  paths: [x]\n",
    )]));
    let bed = Bed::new(&files);
    let e = bed.view(&["staging"]).await.unwrap_err().to_string();
    assert_eq!(
        e,
        ".flux.yaml:6: patchUpdated.paths: unknown key; patchUpdated takes generators and patchFile"
    );
    assert_eq!(bed.generator.stats().generator_runs, 0);
}
