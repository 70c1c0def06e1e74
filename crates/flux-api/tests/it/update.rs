//! `update.Spec` bodies as fluxctl sends them, and results as fluxd sends
//! them.

use std::collections::BTreeMap;

use flux_api::policy::{PolicySet, PolicyUpdate};
use flux_api::update::{
    Automated, AutomatedChange, Cause, ContainerUpdate, ManualSync, ReleaseContainersSpec,
    ReleaseImageSpec, ReleaseKind, Spec, Update, UpdateResult, WorkloadContainer, WorkloadResult,
    WorkloadUpdateStatus,
};
use flux_core::release::ImageSpec;

use crate::support::round_trip;

fn cause(user: &str, message: &str) -> Cause {
    Cause {
        message: message.to_owned(),
        user: user.to_owned(),
    }
}

#[test]
fn release_of_one_image_to_one_workload() {
    // fluxctl release -n default --workload=deployment/web --update-image=nginx:1.27
    let json = r#"{"type":"image","cause":{"Message":"","User":"Jo <jo@example.com>"},"spec":{"ServiceSpecs":["default:deployment/web"],"ImageSpec":"nginx:1.27","Kind":"execute","Excludes":null,"Force":false}}"#;
    let want = Spec::new(
        cause("Jo <jo@example.com>", ""),
        Update::Image(ReleaseImageSpec {
            service_specs: vec!["default:deployment/web".into()],
            image_spec: "nginx:1.27".into(),
            kind: ReleaseKind::Execute,
            excludes: vec![],
            force: false,
        }),
    );
    let spec = round_trip(json, &want);
    assert_eq!(spec.type_name(), "image");
}

#[test]
fn dry_run_of_all_latest_images_with_excludes_and_force() {
    // fluxctl release --all --update-all-images --exclude=a,b --dry-run -f -m why
    let json = r#"{"type":"image","cause":{"Message":"why","User":""},"spec":{"ServiceSpecs":["<all>"],"ImageSpec":"<all latest>","Kind":"plan","Excludes":["default:deployment/a","<cluster>:namespace/b"],"Force":true}}"#;
    let release = ReleaseImageSpec {
        service_specs: vec!["<all>".into()],
        image_spec: "<all latest>".into(),
        kind: ReleaseKind::Plan,
        excludes: vec![
            "default:deployment/a".into(),
            "<cluster>:namespace/b".into(),
        ],
        force: true,
    };
    round_trip(
        json,
        &Spec::new(cause("", "why"), Update::Image(release.clone())),
    );
    let core = release.to_core().expect("valid");
    assert_eq!(core.workloads, None);
    assert_eq!(core.image, ImageSpec::Latest);
    assert_eq!(core.excludes.len(), 2);
    assert_eq!(ReleaseImageSpec::from(&core), release);
}

#[test]
fn a_release_with_a_bad_id_or_untagged_image_does_not_convert() {
    let mut release = ReleaseImageSpec {
        service_specs: vec!["default:deployment:web".into()],
        image_spec: "nginx:1.27".into(),
        kind: ReleaseKind::Execute,
        excludes: vec![],
        force: false,
    };
    let err = release.to_core().expect_err("bad ID").to_string();
    assert!(err.contains("default:deployment:web"), "{err}");
    release.service_specs = vec!["default:deployment/web".into()];
    release.image_spec = "nginx".into();
    let err = release.to_core().expect_err("no tag").to_string();
    assert!(err.contains("no tag"), "{err}");
}

#[test]
fn policy_change_of_fluxctl_lock_with_a_user() {
    // fluxctl lock -w default:deployment/web --user=jo -m "hold on"
    let json = r#"{"type":"policy","cause":{"Message":"hold on","User":"jo"},"spec":{"default:deployment/web":{"add":{"locked":"true","locked_msg":"hold on","locked_user":"jo"},"remove":{}}}}"#;
    let mut updates = BTreeMap::new();
    updates.insert(
        "default:deployment/web".to_owned(),
        PolicyUpdate {
            add: PolicySet::new()
                .with_flag("locked")
                .with("locked_msg", "hold on")
                .with("locked_user", "jo"),
            remove: PolicySet::new(),
        },
    );
    round_trip(
        json,
        &Spec::new(cause("jo", "hold on"), Update::Policy(updates)),
    );
}

#[test]
fn policy_change_of_fluxctl_policy_with_tags() {
    // fluxctl policy -w default:deployment/web --deautomate --tag web=1.* --tag side=*
    let json = r#"{"type":"policy","cause":{"Message":"","User":""},"spec":{"default:deployment/web":{"add":{"tag.web":"glob:1.*"},"remove":{"automated":"true","tag.side":"true"}}}}"#;
    let spec: Spec = serde_json::from_str(json).expect("reads");
    let Update::Policy(updates) = &spec.spec else {
        panic!("a policy update: {spec:?}")
    };
    let core = updates["default:deployment/web"].to_core().expect("valid");
    assert_eq!(core.add.len(), 1);
    assert_eq!(core.remove.len(), 2);
    round_trip(json, &spec);
}

#[test]
fn sync_request_of_fluxctl_sync() {
    let json = r#"{"type":"sync","cause":{"Message":"","User":""},"spec":{}}"#;
    round_trip(json, &Spec::sync());
    // A sync without a spec reads too (Flux v1 needed none).
    let bare: Spec =
        serde_json::from_str(r#"{"type":"sync","cause":{"Message":"","User":""}}"#).expect("reads");
    assert_eq!(bare.spec, Update::Sync(ManualSync {}));
}

#[test]
fn containers_release_of_fluxctl_release_interactive() {
    let json = r#"{"type":"containers","cause":{"Message":"","User":"jo"},"spec":{"Kind":"execute","ContainerSpecs":{"default:deployment/web":[{"Container":"nginx","Current":"nginx:1.25","Target":"nginx:1.27"},{"Container":"side","Current":"","Target":"quay.io/org/side:2"}]},"SkipMismatches":false,"Force":true}}"#;
    let mut specs = BTreeMap::new();
    specs.insert(
        "default:deployment/web".to_owned(),
        vec![
            ContainerUpdate {
                container: "nginx".into(),
                current: "nginx:1.25".into(),
                target: "nginx:1.27".into(),
            },
            ContainerUpdate {
                container: "side".into(),
                current: "".into(),
                target: "quay.io/org/side:2".into(),
            },
        ],
    );
    let release = ReleaseContainersSpec {
        kind: ReleaseKind::Execute,
        container_specs: specs,
        skip_mismatches: false,
        force: true,
    };
    round_trip(
        json,
        &Spec::new(cause("jo", ""), Update::Containers(release.clone())),
    );
    let core = release.to_core().expect("valid");
    let web = core.container_specs.values().next().expect("one workload");
    assert_eq!(web[1].current, None);
    assert_eq!(ReleaseContainersSpec::from(&core), release);
}

#[test]
fn automated_release_as_fluxd_notes_it() {
    let json = r#"{"type":"auto","cause":{"Message":"","User":"<automated>"},"spec":{"Changes":[{"WorkloadID":"default:deployment/web","Container":{"Name":"nginx","Image":"nginx:1.25"},"ImageID":"nginx:1.27"}]}}"#;
    let want = Spec::new(
        cause("<automated>", ""),
        Update::Auto(Automated {
            changes: vec![AutomatedChange {
                workload_id: "default:deployment/web".into(),
                container: WorkloadContainer {
                    name: "nginx".into(),
                    image: "nginx:1.25".into(),
                },
                image_id: "nginx:1.27".into(),
            }],
        }),
    );
    round_trip(json, &want);
}

#[test]
fn bad_specs_are_refused_with_the_reason() {
    let cases = [
        (
            r#"{"type":"rollback","cause":{},"spec":{}}"#,
            "unknown update type \"rollback\"",
        ),
        (r#"{"cause":{},"spec":{}}"#, "update has no type"),
        (r#"{"type":"image","cause":{}}"#, "has no spec"),
        (r#"{"type":"image","cause":{},"spec":null}"#, "has no spec"),
        (
            r#"{"type":"image","cause":{},"spec":{"ServiceSpecs":["<all>"],"ImageSpec":"<all latest>","Kind":"later"}}"#,
            "spec of update type \"image\"",
        ),
        (
            r#"{"type":"policy","cause":{},"spec":[1]}"#,
            "spec of update type \"policy\"",
        ),
    ];
    for (json, want) in cases {
        let err = serde_json::from_str::<Spec>(json)
            .expect_err(json)
            .to_string();
        assert!(err.contains(want), "{json}: {err}");
    }
}

#[test]
fn release_result_as_fluxd_sends_it() {
    let json = r#"{"default:deployment/db":{"Status":"skipped","Error":"image(s) up to date","PerContainer":null},"default:deployment/gone":{"Status":"failed","Error":"not found in repository","PerContainer":null},"default:deployment/web":{"Status":"success","PerContainer":[{"Container":"nginx","Current":"nginx:1.25","Target":"nginx:1.27"}]}}"#;
    let mut map = BTreeMap::new();
    map.insert(
        "default:deployment/db".to_owned(),
        WorkloadResult {
            status: WorkloadUpdateStatus::Skipped,
            error: "image(s) up to date".into(),
            per_container: vec![],
        },
    );
    map.insert(
        "default:deployment/gone".to_owned(),
        WorkloadResult {
            status: WorkloadUpdateStatus::Failed,
            error: "not found in repository".into(),
            per_container: vec![],
        },
    );
    map.insert(
        "default:deployment/web".to_owned(),
        WorkloadResult {
            status: WorkloadUpdateStatus::Success,
            error: String::new(),
            per_container: vec![ContainerUpdate {
                container: "nginx".into(),
                current: "nginx:1.25".into(),
                target: "nginx:1.27".into(),
            }],
        },
    );
    let result = round_trip(json, &UpdateResult(map));
    assert_eq!(result.affected(), ["default:deployment/web"]);
    assert_eq!(result.changed_images(), ["nginx:1.27"]);
    assert_eq!(
        result.error().as_deref(),
        Some("default:deployment/gone failed: not found in repository")
    );
}

#[test]
fn an_unknown_status_is_kept() {
    let json = r#"{"default:deployment/web":{"Status":"pending","PerContainer":null}}"#;
    let result: UpdateResult = serde_json::from_str(json).expect("reads");
    assert_eq!(
        result.0["default:deployment/web"].status,
        WorkloadUpdateStatus::Other("pending".into())
    );
    assert_eq!(serde_json::to_string(&result).expect("writes"), json);
}
