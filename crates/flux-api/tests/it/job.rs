//! Job IDs and statuses as fluxd sends them (`GET /v6/jobs?id=`).

use std::collections::BTreeMap;

use flux_api::job::{Id, JobResult, Status, StatusString};
use flux_api::update::{
    Cause, ContainerUpdate, ReleaseImageSpec, ReleaseKind, Spec, Update, UpdateResult,
    WorkloadResult, WorkloadUpdateStatus,
};

use crate::support::round_trip;

#[test]
fn a_job_id_is_a_json_string() {
    round_trip(
        r#""8c7a8f0e-2a4b-4f8e-9b0c-1d2e3f405162""#,
        &Id::from("8c7a8f0e-2a4b-4f8e-9b0c-1d2e3f405162"),
    );
}

#[test]
fn queued_and_running_jobs() {
    round_trip(
        r#"{"Result":{},"Err":"","StatusString":"queued"}"#,
        &Status::queued(),
    );
    round_trip(
        r#"{"Result":{},"Err":"","StatusString":"running"}"#,
        &Status::running(),
    );
    assert!(!Status::running().is_finished());
}

#[test]
fn a_succeeded_release() {
    let json = r#"{"Result":{"revision":"9f1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c","spec":{"type":"image","cause":{"Message":"","User":"jo"},"spec":{"ServiceSpecs":["default:deployment/web"],"ImageSpec":"nginx:1.27","Kind":"execute","Excludes":null,"Force":false}},"result":{"default:deployment/web":{"Status":"success","PerContainer":[{"Container":"nginx","Current":"nginx:1.25","Target":"nginx:1.27"}]}}},"Err":"","StatusString":"succeeded"}"#;
    let spec = Spec::new(
        Cause {
            message: String::new(),
            user: "jo".into(),
        },
        Update::Image(ReleaseImageSpec {
            service_specs: vec!["default:deployment/web".into()],
            image_spec: "nginx:1.27".into(),
            kind: ReleaseKind::Execute,
            excludes: vec![],
            force: false,
        }),
    );
    let mut result = BTreeMap::new();
    result.insert(
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
    let want = Status::succeeded(JobResult {
        revision: "9f1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c".into(),
        spec: Some(Box::new(spec)),
        result: UpdateResult(result),
    });
    let got = round_trip(json, &want);
    assert!(got.is_finished());
}

#[test]
fn a_succeeded_sync_has_only_a_revision() {
    let json = r#"{"Result":{"revision":"abc123"},"Err":"","StatusString":"succeeded"}"#;
    round_trip(
        json,
        &Status::succeeded(JobResult {
            revision: "abc123".into(),
            ..JobResult::default()
        }),
    );
}

#[test]
fn a_failed_job() {
    let json = r#"{"Result":{},"Err":"pushing to git: remote rejected","StatusString":"failed"}"#;
    let got = round_trip(
        json,
        &Status::failed("pushing to git: remote rejected", JobResult::default()),
    );
    assert_eq!(got.status_string, StatusString::Failed);
}

#[test]
fn a_status_with_null_result_and_unknown_state_reads() {
    let got: Status =
        serde_json::from_str(r#"{"Result":null,"Err":"","StatusString":"paused"}"#).expect("reads");
    assert_eq!(got.result, JobResult::default());
    assert_eq!(got.status_string, StatusString::Other("paused".into()));
    assert!(!got.is_finished());
}
