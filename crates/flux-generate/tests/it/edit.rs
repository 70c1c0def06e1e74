//! Releases, automation and policy changes on generated repositories:
//! `patchUpdated` writes only the patch file (byte-stable), `commandUpdated`
//! commits what its updaters change, and failures commit nothing.

use std::collections::BTreeMap;

use chrono::{TimeZone, Utc};
use flux_core::ScopeTable;
use flux_core::automation::calculate_automation;
use flux_core::image::ImageName;
use flux_core::manifest::LoadOptions;
use flux_core::policy::PolicyUpdate;
use flux_core::registry::MemoryRegistry;
use flux_core::release::{ReleaseContext, calculate_policy_updates};
use flux_generate::{Calculated, Source};
use flux_git::{CommitOutcome, CommitRequest};

use crate::{Bed, example, owned};

/// podinfo tags as a registry scan would have them.
pub fn registry() -> MemoryRegistry {
    let mut reg = MemoryRegistry::new();
    let podinfo = ImageName::parse("stefanprodan/podinfo").unwrap();
    for (tag, day) in [("3.1.0", 1), ("3.1.5", 2), ("3.2.0", 3)] {
        reg.add(
            &podinfo,
            tag,
            Utc.with_ymd_and_hms(2024, 1, day, 0, 0, 0).single(),
        );
    }
    reg
}

/// Automation of every automated workload, as fluxd's loop calculates it.
pub fn automation(view: &flux_core::generation::View) -> Result<Calculated, flux_git::BoxError> {
    let reg = registry();
    let cx = ReleaseContext {
        manifests: &view.manifests,
        files: &view.files,
        in_cluster: None,
        registry: &reg,
    };
    Ok(Calculated::Release(calculate_automation(&cx)))
}

#[tokio::test]
async fn automation_writes_only_the_overlays_patch_file_and_is_byte_stable() {
    let bed = Bed::new(&example());
    let paths = vec!["staging".to_owned(), "production".to_owned()];
    let (edit, slot) = bed.generator.commit_edit(
        bed.repo.clone(),
        paths.clone(),
        ScopeTable::builtin(),
        LoadOptions::default(),
        automation,
    );
    let outcome = bed
        .repo
        .commit_and_push(
            edit,
            CommitRequest::new("Auto-release stefanprodan/podinfo:3.1.5"),
        )
        .await
        .unwrap();
    let CommitOutcome::Pushed(pushed) = outcome else {
        panic!("{outcome:?}")
    };
    // Production is locked by its patch file; staging moves, in its patch.
    assert_eq!(pushed.files, ["staging/flux-patch.yaml"]);
    let result = slot.take().unwrap();
    let ids: Vec<String> = result.workloads.keys().map(ToString::to_string).collect();
    assert_eq!(
        ids,
        ["staging:deployment/podinfo"],
        "production is not automated"
    );
    let patch = String::from_utf8(
        bed.remote
            .show("master", "staging/flux-patch.yaml")
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        patch,
        "---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: podinfo\n  namespace: staging\nspec:\n  template:\n    spec:\n      $setElementOrder/containers:\n      - name: podinfod\n      containers:\n      - image: stefanprodan/podinfo:3.1.5\n        name: podinfod\n"
    );
    let staging = bed.view(&["staging"]).await.unwrap();
    let deploy = &staging.view.manifests.resources[&"staging:deployment/podinfo".parse().unwrap()];
    assert_eq!(
        deploy.containers().unwrap()[0].image,
        "stefanprodan/podinfo:3.1.5"
    );

    // Running automation again changes nothing: no commit, the same bytes.
    let (edit, _) = bed.generator.commit_edit(
        bed.repo.clone(),
        paths,
        ScopeTable::builtin(),
        LoadOptions::default(),
        automation,
    );
    let again = bed
        .repo
        .commit_and_push(edit, CommitRequest::new("again"))
        .await
        .unwrap();
    assert!(
        matches!(again, CommitOutcome::NoChanges { .. }),
        "{again:?}"
    );
}

#[tokio::test]
async fn a_policy_change_keeps_earlier_patches() {
    let bed = Bed::new(&example());
    let head = bed.head().await;
    let paths = vec!["production".to_owned()];
    let id: flux_core::ResourceId = "production:deployment/podinfo".parse().unwrap();
    let updates = BTreeMap::from([(id, PolicyUpdate::unlock())]);
    let edited = bed
        .generator
        .edit(
            Source::Git {
                repo: &bed.repo,
                revision: &head,
            },
            &paths,
            &ScopeTable::builtin(),
            &LoadOptions::default(),
            |view| {
                let result = calculate_policy_updates(&view.manifests, &view.files, &updates);
                Ok(Calculated::Policies {
                    result,
                    updates: updates.clone(),
                })
            },
        )
        .await
        .unwrap();
    let changes: Vec<(&str, String)> = edited
        .changes
        .iter()
        .map(|(p, b)| (p, String::from_utf8(b.unwrap().to_vec()).unwrap()))
        .collect();
    assert_eq!(
        changes,
        [(
            "production/flux-patch.yaml",
            "---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  annotations:\n    fluxcd.io/automated: null\n  name: podinfo\n  namespace: production\n".to_owned()
        )]
    );
}

const COMMAND_UPDATED: &str = r#"version: 1
commandUpdated:
  generators:
  - command: cat deploy.yaml
  updaters:
  - containerImage:
      command: >-
        sed -i "s|image: $FLUX_IMG:.*|image: $FLUX_IMG:$FLUX_TAG|" deploy.yaml
    policy:
      command: >-
        echo "$FLUX_WORKLOAD $FLUX_POLICY=${FLUX_POLICY_VALUE:-(removed)}" >> policies.log
"#;

const DEPLOY: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: podinfo\n  namespace: demo\n  annotations:\n    fluxcd.io/automated: \"true\"\n    fluxcd.io/tag.podinfod: semver:~3.1\nspec:\n  template:\n    spec:\n      containers:\n      - name: podinfod\n        image: stefanprodan/podinfo:3.1.0\n";

#[tokio::test]
async fn command_updated_commits_what_the_updaters_change() {
    let bed = Bed::new(&owned(&[
        ("app/.flux.yaml", COMMAND_UPDATED),
        ("app/deploy.yaml", DEPLOY),
    ]));
    let paths = vec!["app".to_owned()];
    let (edit, slot) = bed.generator.commit_edit(
        bed.repo.clone(),
        paths.clone(),
        ScopeTable::builtin(),
        LoadOptions::default(),
        automation,
    );
    let outcome = bed
        .repo
        .commit_and_push(edit, CommitRequest::new("Auto-release"))
        .await
        .unwrap();
    let CommitOutcome::Pushed(pushed) = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(pushed.files, ["app/deploy.yaml"]);
    assert_eq!(
        String::from_utf8(bed.remote.show("master", "app/deploy.yaml").unwrap()).unwrap(),
        DEPLOY.replace("podinfo:3.1.0", "podinfo:3.1.5")
    );
    assert_eq!(slot.take().unwrap().workloads.len(), 1);
    assert_eq!(bed.generator.stats().updater_runs, 1);

    let head = bed.head().await;
    let id: flux_core::ResourceId = "demo:deployment/podinfo".parse().unwrap();
    let updates = BTreeMap::from([(id, PolicyUpdate::lock(Some("Jane <j@example.com>"), None))]);
    let edited = bed
        .generator
        .edit(
            Source::Git {
                repo: &bed.repo,
                revision: &head,
            },
            &paths,
            &ScopeTable::builtin(),
            &LoadOptions::default(),
            |view| {
                let result = calculate_policy_updates(&view.manifests, &view.files, &updates);
                Ok(Calculated::Policies {
                    result,
                    updates: updates.clone(),
                })
            },
        )
        .await
        .unwrap();
    let log: Vec<(&str, String)> = edited
        .changes
        .iter()
        .map(|(p, b)| (p, String::from_utf8(b.unwrap().to_vec()).unwrap()))
        .collect();
    assert_eq!(
        log,
        [(
            "app/policies.log",
            "demo:deployment/podinfo locked=true\ndemo:deployment/podinfo locked_user=Jane <j@example.com>\n".to_owned()
        )]
    );
}

#[tokio::test]
async fn a_failing_updater_commits_nothing() {
    let config = COMMAND_UPDATED.replace("sed -i", "echo cannot update >&2; exit 4; sed -i");
    let bed = Bed::new(&owned(&[
        ("app/.flux.yaml", &config),
        ("app/deploy.yaml", DEPLOY),
    ]));
    let before = bed.head().await;
    let (edit, _) = bed.generator.commit_edit(
        bed.repo.clone(),
        vec!["app".into()],
        ScopeTable::builtin(),
        LoadOptions::default(),
        automation,
    );
    let e = bed
        .repo
        .commit_and_push(edit, CommitRequest::new("Auto-release"))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(
            "app/.flux.yaml: updater containerImage command (echo cannot update >&2; exit 4;"
        ) && e.contains("for demo:deployment/podinfo failed (exit status: 4): cannot update"),
        "{e}"
    );
    assert_eq!(bed.remote.head("master").unwrap().unwrap(), before);
}

#[tokio::test]
async fn a_directory_is_edited_in_a_copy() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("app")).unwrap();
    std::fs::write(dir.path().join("app/.flux.yaml"), COMMAND_UPDATED).unwrap();
    std::fs::write(dir.path().join("app/deploy.yaml"), DEPLOY).unwrap();
    let bed = Bed::new(&owned(&[("unused.yaml", "")]));
    let edited = bed
        .generator
        .edit(
            Source::Dir(dir.path()),
            &["app".to_owned()],
            &ScopeTable::builtin(),
            &LoadOptions::default(),
            automation,
        )
        .await
        .unwrap();
    let changed: Vec<&str> = edited.changes.iter().map(|(p, _)| p).collect();
    assert_eq!(changed, ["app/deploy.yaml"]);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("app/deploy.yaml")).unwrap(),
        DEPLOY,
        "the directory itself is untouched"
    );
}
