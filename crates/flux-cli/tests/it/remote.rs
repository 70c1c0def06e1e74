//! Commands against fluxd's API, here a scripted stand-in serving flux-api's
//! types over real HTTP on loopback ([`crate::fake_fluxd`]).

use flux_api::job::{JobResult, Status};
use flux_cli::error::Exit;
use serde_json::json;

use crate::fake_fluxd::{FakeFluxd, Script};
use crate::util::{fluxctl, fluxctl_at};

fn from<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T {
    serde_json::from_value(v).expect("valid wire JSON")
}

fn podinfo(status: &str) -> serde_json::Value {
    json!({
        "ID": "demo:deployment/podinfo",
        "Containers": [
            {"Name": "init", "Current": {"ID": "alpine:3.10"}},
            {"Name": "podinfod", "Current": {"ID": "stefanprodan/podinfo:3.1.0"}}
        ],
        "Status": status,
        "Rollout": {"Desired": 2, "Updated": if status == "ready" { 2 } else { 1 }, "Ready": 1, "Available": 1, "Outdated": 1},
        "Automated": true,
        "Policies": {"automated": "true"}
    })
}

fn services() -> Vec<flux_api::v6::ControllerStatus> {
    from(json!([
        {"ID": "demo:deployment/redis", "Containers": [{"Name": "redis", "Current": {"ID": "redis:6.2.6-alpine"}}], "Status": "ready", "Locked": true},
        podinfo("ready"),
        {"ID": "other:deployment/web", "Containers": [{"Name": "web", "Current": {"ID": "nginx:1.27"}}], "Status": "updating"}
    ]))
}

fn succeeded(revision: &str, result: serde_json::Value) -> Status {
    Status::succeeded(JobResult {
        revision: revision.into(),
        spec: None,
        result: from(result),
    })
}

const REV: &str = "abc1234def5678";

fn release_result() -> serde_json::Value {
    json!({
        "demo:deployment/podinfo": {"Status": "success", "PerContainer": [
            {"Container": "podinfod", "Current": "stefanprodan/podinfo:3.1.0", "Target": "stefanprodan/podinfo:3.1.5"}
        ]},
        "demo:deployment/redis": {"Status": "skipped", "Error": "locked"}
    })
}

#[test]
fn list_workloads_shows_the_release_column_sorted_by_id() {
    let fluxd = FakeFluxd::start(Script {
        services: services(),
        ..Script::default()
    });
    let run = fluxctl_at(&fluxd.url, &["list-workloads", "-n", "demo"]);
    assert_eq!(
        run.ok(),
        "WORKLOAD                 CONTAINER  IMAGE                       RELEASE  POLICY\n\
         demo:deployment/podinfo  init       alpine:3.10                 ready    automated\n                         \
         podinfod   stefanprodan/podinfo:3.1.0\n\
         demo:deployment/redis    redis      redis:6.2.6-alpine          ready    locked\n"
    );
    let all = fluxctl_at(&fluxd.url, &["list-workloads", "-a", "-o", "json"]);
    let v: serde_json::Value = serde_json::from_str(all.ok()).expect("json");
    assert_eq!(v.as_array().map(Vec::len), Some(3));
    assert_eq!(v[2]["ID"], "other:deployment/web");
    assert_eq!(v[2]["Status"], "updating");
    assert!(v[0].get("Source").is_none(), "no source from fluxd");
    let queries = fluxd.script.lock().expect("lock").queries.clone();
    assert_eq!(
        queries,
        [
            ("services".to_owned(), "namespace=demo".to_owned()),
            ("services".to_owned(), "namespace=".to_owned())
        ]
    );
}

#[test]
fn list_images_marks_the_running_tag_and_honours_the_limit() {
    let fluxd = FakeFluxd::start(Script {
        images: from(json!([{
            "ID": "demo:deployment/podinfo",
            "Containers": [{
                "Name": "podinfod",
                "Current": {"ID": "stefanprodan/podinfo:3.1.0"},
                "Available": [
                    {"ID": "stefanprodan/podinfo:3.1.5", "CreatedAt": "2026-01-05T10:00:00Z"},
                    {"ID": "stefanprodan/podinfo:3.1.4", "CreatedAt": "2026-01-04T10:00:00Z"},
                    {"ID": "stefanprodan/podinfo:3.1.3", "CreatedAt": "2026-01-03T10:00:00Z"},
                    {"ID": "stefanprodan/podinfo:3.1.0", "CreatedAt": "2026-01-01T10:00:00Z"}
                ]
            }]
        }])),
        ..Script::default()
    });
    let run = fluxctl_at(
        &fluxd.url,
        &["list-images", "-w", "demo:deployment/podinfo", "-l", "2"],
    );
    let want = [
        "WORKLOAD                 CONTAINER  IMAGE                   CREATED",
        "demo:deployment/podinfo  podinfod   stefanprodan/podinfo",
        "                                    |   3.1.5               05 Jan 26 10:00 UTC",
        "                                    |   3.1.4               04 Jan 26 10:00 UTC",
        "                                    : (1 image(s) omitted)",
        "                                    '-> 3.1.0               01 Jan 26 10:00 UTC",
        "",
    ];
    assert_eq!(run.ok(), want.join("\n"));
    let json_run = fluxctl_at(
        &fluxd.url,
        &[
            "list-images",
            "-w",
            "demo:deployment/podinfo",
            "-l",
            "1",
            "-o",
            "json",
        ],
    );
    let v: serde_json::Value = serde_json::from_str(json_run.ok()).expect("json");
    assert_eq!(
        v[0]["Containers"][0]["Available"].as_array().map(Vec::len),
        Some(1)
    );
    let queries = fluxd.script.lock().expect("lock").queries.clone();
    assert!(
        queries[0].1.contains("service=demo%3Adeployment%2Fpodinfo")
            || queries[0].1.contains("service=demo:deployment/podinfo"),
        "{queries:?}"
    );
}

#[test]
fn release_sends_flux_v1s_spec_waits_for_the_job_and_the_sync() {
    let fluxd = FakeFluxd::start(Script {
        jobs: vec![(
            "job-1".into(),
            vec![
                Status::queued(),
                Status::running(),
                succeeded(REV, release_result()),
            ],
        )],
        sync_pending: 1,
        ..Script::default()
    });
    let run = fluxctl_at(
        &fluxd.url,
        &[
            "release",
            "--workload",
            "demo:deployment/podinfo",
            "-i",
            "stefanprodan/podinfo:3.1.5",
            "--user",
            "Jane",
            "-m",
            "ship it",
            "-v",
        ],
    );
    let words: Vec<Vec<&str>> = run
        .ok()
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        words,
        vec![
            vec!["WORKLOAD", "STATUS", "UPDATES"],
            vec![
                "demo:deployment/podinfo",
                "success",
                "podinfod:",
                "stefanprodan/podinfo:3.1.0",
                "->",
                "3.1.5"
            ],
            vec!["demo:deployment/redis", "skipped", "locked"],
        ]
    );
    assert_eq!(
        run.err,
        "Submitting release ...\nWaiting for job job-1 ...\nCommit pushed:\tabc1234\nWaiting for abc1234 to be applied ...\nCommit applied:\tabc1234\n"
    );
    assert_eq!(
        fluxd.received(),
        [json!({
            "type": "image",
            "cause": {"Message": "ship it", "User": "Jane"},
            "spec": {
                "ServiceSpecs": ["demo:deployment/podinfo"],
                "ImageSpec": "stefanprodan/podinfo:3.1.5",
                "Kind": "execute",
                "Excludes": null,
                "Force": false
            }
        })]
    );
}

#[test]
fn release_dry_run_all_latest_does_not_wait_for_a_sync() {
    let fluxd = FakeFluxd::start(Script {
        jobs: vec![("j".into(), vec![succeeded("", release_result())])],
        ..Script::default()
    });
    let run = fluxctl_at(
        &fluxd.url,
        &[
            "release",
            "--all",
            "--update-all-images",
            "--dry-run",
            "--exclude",
            "demo:deployment/redis",
        ],
    );
    run.ok();
    assert!(
        run.err.contains("Submitting dry-run release ..."),
        "{}",
        run.err
    );
    assert!(run.err.contains("Nothing to do"), "{}", run.err);
    let spec = &fluxd.received()[0]["spec"];
    assert_eq!(spec["ServiceSpecs"], json!(["<all>"]));
    assert_eq!(spec["ImageSpec"], "<all latest>");
    assert_eq!(spec["Kind"], "plan");
    assert_eq!(spec["Excludes"], json!(["demo:deployment/redis"]));
    let queries = fluxd.script.lock().expect("lock").queries.clone();
    assert!(!queries.iter().any(|(p, _)| p == "sync"), "{queries:?}");
}

#[test]
fn a_failed_job_is_an_error_with_its_reason() {
    let failed = Status::failed(
        "demo:deployment/podinfo failed: no container podinfod",
        JobResult {
            result: from(
                json!({"demo:deployment/podinfo": {"Status": "failed", "Error": "no container podinfod"}}),
            ),
            ..JobResult::default()
        },
    );
    let fluxd = FakeFluxd::start(Script {
        jobs: vec![("j".into(), vec![failed])],
        ..Script::default()
    });
    let run = fluxctl_at(
        &fluxd.url,
        &["release", "--all", "-i", "stefanprodan/podinfo:3.1.5"],
    );
    let err = run.fails(Exit::Failed);
    assert!(
        err.contains("Error: job j failed: demo:deployment/podinfo failed: no container podinfod"),
        "{err}"
    );
    assert!(run.out.contains("failed"), "results shown: {}", run.out);
}

#[test]
fn release_watch_follows_the_rollout_until_ready() {
    let updating: Vec<flux_api::v6::ControllerStatus> = from(json!([podinfo("updating")]));
    let ready: Vec<flux_api::v6::ControllerStatus> = from(json!([podinfo("ready")]));
    let fluxd = FakeFluxd::start(Script {
        jobs: vec![("j".into(), vec![succeeded(REV, release_result())])],
        rollouts: vec![updating, ready],
        ..Script::default()
    });
    let run = fluxctl_at(
        &fluxd.url,
        &[
            "release",
            "--workload",
            "demo:deployment/podinfo",
            "-i",
            "stefanprodan/podinfo:3.1.5",
            "--watch",
        ],
    );
    let out: String = run
        .ok()
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ") + "\n")
        .collect();
    assert!(
        out.contains("WORKLOAD CONTAINER IMAGE RELEASE REPLICAS"),
        "{out}"
    );
    assert!(
        out.contains("demo:deployment/podinfo init alpine:3.10 updating 1/2\n"),
        "{out}"
    );
    assert!(
        out.contains("demo:deployment/podinfo init alpine:3.10 ready 2/2\n"),
        "{out}"
    );
    assert!(
        run.err
            .ends_with("Monitoring rollout ...\nAll workloads ready.\n"),
        "{}",
        run.err
    );
    let queries = fluxd.script.lock().expect("lock").queries.clone();
    assert!(
        queries
            .iter()
            .any(|(p, q)| p == "services11" && q.contains("demo:deployment/podinfo")),
        "{queries:?}"
    );
}

#[test]
fn policy_commands_send_policy_updates() {
    let ok = || {
        succeeded(
            REV,
            json!({"demo:deployment/podinfo": {"Status": "success"}}),
        )
    };
    let fluxd = FakeFluxd::start(Script {
        jobs: vec![
            ("a".into(), vec![ok()]),
            ("b".into(), vec![ok()]),
            ("c".into(), vec![ok()]),
        ],
        ..Script::default()
    });
    fluxctl_at(&fluxd.url, &["automate", "-w", "demo:deployment/podinfo"]).ok();
    fluxctl_at(
        &fluxd.url,
        &[
            "lock",
            "-n",
            "demo",
            "-w",
            "deployment/podinfo",
            "--user",
            "Ops",
            "-m",
            "freeze",
        ],
    )
    .ok();
    fluxctl_at(
        &fluxd.url,
        &[
            "policy",
            "-w",
            "demo:deployment/podinfo",
            "--tag-all",
            "1.*",
            "--tag",
            "init=*",
            "--unlock",
        ],
    )
    .ok();
    let got = fluxd.received();
    assert_eq!(
        got[0],
        json!({"type": "policy", "cause": {"Message": "", "User": ""}, "spec": {"demo:deployment/podinfo": {"add": {"automated": "true"}, "remove": {}}}})
    );
    assert_eq!(
        got[1]["spec"],
        json!({"demo:deployment/podinfo": {"add": {"locked": "true", "locked_msg": "freeze", "locked_user": "Ops"}, "remove": {}}})
    );
    assert_eq!(got[1]["cause"], json!({"Message": "freeze", "User": "Ops"}));
    assert_eq!(
        got[2]["spec"],
        json!({"demo:deployment/podinfo": {"add": {"tag_all": "glob:1.*"}, "remove": {"locked": "true", "locked_msg": "true", "locked_user": "true", "tag.init": "true"}}})
    );
}

fn git_config(status: &str) -> flux_api::v6::GitConfig {
    from(json!({
        "remote": {"url": "ssh://git@example.com/config", "branch": "main", "path": ""},
        "publicSSHKey": {"key": "ssh-ed25519 AAAAC3Nza fluxd\n", "fingerprints": {"md5": {"hash": "MD5:12:34", "randomart": "+--[ED25519]--+\n|   .o.       |\n+-------------+\n"}}},
        "status": status,
        "errors": if status == "unreachable" { "ssh: connect refused" } else { "" }
    }))
}

#[test]
fn sync_triggers_a_job_and_waits_for_the_revision() {
    let fluxd = FakeFluxd::start(Script {
        git: git_config("ready"),
        jobs: vec![(
            "s".into(),
            vec![Status::running(), succeeded(REV, json!({}))],
        )],
        sync_pending: 2,
        ..Script::default()
    });
    let run = fluxctl_at(&fluxd.url, &["sync"]);
    assert_eq!(run.ok(), "");
    assert_eq!(
        run.err,
        "Synchronizing with ssh://git@example.com/config\nWaiting for job s ...\nRevision of main to apply is abc1234\nWaiting for abc1234 to be applied ...\nDone.\n"
    );
    assert_eq!(
        fluxd.received()[0],
        json!({"type": "sync", "cause": {"Message": "", "User": ""}, "spec": {}})
    );
}

#[test]
fn sync_with_an_unreachable_repository_fails_before_any_job() {
    let fluxd = FakeFluxd::start(Script {
        git: git_config("unreachable"),
        ..Script::default()
    });
    let run = fluxctl_at(&fluxd.url, &["sync"]);
    let err = run.fails(Exit::Failed);
    assert!(err.contains("fluxd cannot reach its git repository ssh://git@example.com/config: ssh: connect refused"), "{err}");
    assert!(fluxd.received().is_empty());
}

#[test]
fn identity_prints_the_key_or_its_fingerprint() {
    let fluxd = FakeFluxd::start(Script {
        git: git_config("ready"),
        ..Script::default()
    });
    assert_eq!(
        fluxctl_at(&fluxd.url, &["identity"]).ok(),
        "ssh-ed25519 AAAAC3Nza fluxd\n"
    );
    assert_eq!(
        fluxctl_at(&fluxd.url, &["identity", "-l"]).ok(),
        "MD5:12:34\n"
    );
    assert_eq!(
        fluxctl_at(&fluxd.url, &["identity", "-v"]).ok(),
        "MD5:12:34\n+--[ED25519]--+\n|   .o.       |\n+-------------+\n"
    );
    fluxctl_at(&fluxd.url, &["identity", "-r"]).ok();
    let queries = fluxd.script.lock().expect("lock").queries.clone();
    let flags: Vec<&str> = queries.iter().map(|(_, q)| q.as_str()).collect();
    assert_eq!(
        flags,
        [
            "regenerate=false",
            "regenerate=false",
            "regenerate=false",
            "regenerate=true"
        ]
    );
}

#[test]
fn save_writes_what_git_needs() {
    let fluxd = FakeFluxd::start(Script {
        export: b"---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: demo\n  uid: x\nstatus: {phase: Active}\n".to_vec(),
        ..Script::default()
    });
    assert_eq!(
        fluxctl_at(&fluxd.url, &["save"]).ok(),
        "---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: demo\n"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let run = fluxctl_at(
        &fluxd.url,
        &["save", "-o", dir.path().to_str().expect("utf-8")],
    );
    run.ok();
    assert!(
        run.err.starts_with("Saving Namespace 'demo' to "),
        "{}",
        run.err
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("demo-ns.yaml")).expect("saved"),
        "---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: demo\n"
    );
}

#[test]
fn a_job_that_never_finishes_times_out_with_exit_code_4() {
    let fluxd = FakeFluxd::start(Script {
        jobs: vec![("slow".into(), vec![Status::running()])],
        ..Script::default()
    });
    let run = fluxctl_at(
        &fluxd.url,
        &[
            "--timeout",
            "1s",
            "automate",
            "-w",
            "demo:deployment/podinfo",
        ],
    );
    let err = run.fails(Exit::Timeout);
    assert!(err.contains("timed out waiting for job slow"), "{err}");
}

#[test]
fn an_unreachable_daemon_exits_with_code_3_and_the_token_is_sent() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let run = fluxctl(&[
        "--url",
        &format!("http://127.0.0.1:{port}/api/flux"),
        "list-workloads",
    ]);
    let err = run.fails(Exit::Unreachable);
    assert!(err.contains("cannot reach the Flux daemon"), "{err}");
    assert!(
        err.contains("Connection refused") || err.contains("connection refused"),
        "root cause kept: {err}"
    );
    let fluxd = FakeFluxd::start(Script::default());
    fluxctl_at(&fluxd.url, &["-t", "s3cret", "list-workloads"]).ok();
    assert_eq!(
        fluxd.script.lock().expect("lock").auth,
        ["Scope-Probe token=s3cret"]
    );
}
