//! `automate`, `deautomate`, `lock`, `unlock` and `policy` against fluxd:
//! each is one commit in the bare repository with Flux v1's message,
//! changing only the annotations, applied to the cluster before fluxctl
//! returns; undoing them gives back the original file byte for byte.

use std::time::Duration;

use flux_api::client::{Client, ClientOptions};
use flux_api::v9::{Change, GitUpdate};
use flux_cli::error::Exit;
use kube_emulator::{FaultAction, FaultRule};

use super::*;

/// The web Deployment's annotations in the cluster, as JSON.
fn live_annotations(s: &Setup) -> serde_json::Value {
    let out = s.kubectl(&[
        "get",
        "-n",
        "demo",
        "deployment/web",
        "-o",
        "jsonpath={.metadata.annotations}",
    ]);
    serde_json::from_str(&out).unwrap_or(serde_json::Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_commands_commit_and_apply() {
    let s = setup(Needs::default()).await;
    let original = s.file("demo/web.yaml");
    let web = "demo:deployment/web";

    // automate: "Automated: …", the annotation in git and in the cluster.
    let run = s
        .fluxctl(&["automate", "-n", "demo", "-w", "deployment/web"])
        .await;
    assert_eq!(
        rows(run.ok()),
        ["WORKLOAD STATUS UPDATES", "demo:deployment/web success"]
    );
    let short = s.head()[..7].to_owned();
    assert!(
        run.err.ends_with(&format!("Commit applied:\t{short}\n")),
        "{}",
        run.err
    );
    assert_eq!(s.head_message(), format!("Automated: {web}"));
    assert_eq!(
        s.file("demo/web.yaml"),
        original.replace(
            "  namespace: demo\n",
            "  namespace: demo\n  annotations:\n    fluxcd.io/automated: \"true\"\n"
        )
    );
    assert_eq!(live_annotations(&s)["fluxcd.io/automated"], "true");
    let run = s.fluxctl(&["list-workloads", "-n", "demo"]).await;
    let listed = rows(run.ok());
    assert!(
        listed[1].starts_with(web) && listed[1].ends_with(" automated"),
        "{listed:?}"
    );

    // deautomate gives the original file back.
    s.fluxctl(&["deautomate", "-w", web]).await.ok();
    assert_eq!(s.subjects()[0], format!("Deautomated: {web}"));
    assert_eq!(s.file("demo/web.yaml"), original);
    assert!(live_annotations(&s).get("fluxcd.io/automated").is_none());

    // lock with a message: the user is git's, the message leads the commit;
    // the user and message annotations are policy updates, as Flux v1 had.
    s.fluxctl(&["lock", "-w", web, "-m", "Incident 42"])
        .await
        .ok();
    assert_eq!(
        s.head_message(),
        format!("Incident 42\n\n- Locked: {web}\n- Updated policies: {web}")
    );
    let locked = s.file("demo/web.yaml");
    for line in [
        "fluxcd.io/locked: \"true\"",
        "fluxcd.io/locked_msg: Incident 42",
        "fluxcd.io/locked_user: Jo Ops <jo@example.com>",
    ] {
        assert!(locked.contains(line), "{line} in:\n{locked}");
    }
    assert_eq!(
        live_annotations(&s)["fluxcd.io/locked_user"],
        "Jo Ops <jo@example.com>"
    );
    let run = s
        .fluxctl(&["list-workloads", "-n", "demo", "-o", "json"])
        .await;
    let listed: serde_json::Value = serde_json::from_str(run.ok()).expect("JSON");
    assert_eq!(listed[0]["Locked"], true);

    // unlock removes all three, and the annotations map with them (two
    // events in Flux v1's terms: the lock, and the other two policies).
    s.fluxctl(&["unlock", "-w", web]).await.ok();
    assert_eq!(
        s.head_message(),
        format!("Updated workload policies\n\n- Unlocked: {web}\n- Updated policies: {web}")
    );
    assert_eq!(s.file("demo/web.yaml"), original);

    // policy: several changes in one commit.
    let run = s
        .fluxctl(&["policy", "-w", web, "--tag", "web=semver:~1", "--automate"])
        .await;
    run.ok();
    assert_eq!(
        s.head_message(),
        format!("Updated workload policies\n\n- Automated: {web}\n- Updated policies: {web}")
    );
    let file = s.file("demo/web.yaml");
    assert!(
        file.contains("fluxcd.io/automated: \"true\"")
            && file.contains("fluxcd.io/tag.web: semver:~1"),
        "{file}"
    );
    assert_eq!(live_annotations(&s)["fluxcd.io/tag.web"], "semver:~1");
    // `--tag web=*` removes the filter.
    s.fluxctl(&["policy", "-w", web, "--tag", "web=*", "--deautomate"])
        .await
        .ok();
    assert_eq!(s.file("demo/web.yaml"), original);
    // The same again changes nothing and commits nothing.
    let before = s.head();
    let run = s.fluxctl(&["deautomate", "-w", web]).await;
    run.ok();
    assert!(run.err.contains("Nothing to do"), "{}", run.err);
    assert_eq!(s.head(), before);

    // An unknown workload: the job fails, nothing is committed.
    let run = s.fluxctl(&["automate", "-w", "demo:deployment/nope"]).await;
    let err = run.fails(Exit::Failed);
    assert!(err.contains("demo:deployment/nope"), "{err}");
    assert_eq!(s.head(), before);

    // --timeout: the job waits behind a sync stuck on a slow API server,
    // fluxctl gives up with exit 4, and the job still lands afterwards.
    let slow = s.bed.emulator.faults().add(
        FaultRule::always(FaultAction::Latency { millis: 10_000 })
            .method("PATCH")
            .path("configmaps"),
    );
    let config = s
        .bed
        .commit(
            &[(
                "extra.yaml",
                b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\n  namespace: demo\n",
            )],
            "Someone's config",
        )
        .expect("commit");
    Client::new(&s.fluxd.api_url(), ClientOptions::default())
        .expect("client")
        .notify(&Change::Git(GitUpdate {
            url: s.bed.git_url.clone(),
            branch: "master".into(),
        }))
        .await
        .expect("notify");
    s.fluxd
        .wait_for("the fetch of someone's commit", PATIENCE, |shared| {
            shared
                .default_source()
                .and_then(|src| src.repo.head())
                .as_deref()
                == Some(config.as_str())
        })
        .await
        .expect("fetched");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let run = s.fluxctl(&["--timeout", "3s", "lock", "-w", web]).await;
    let err = run.fails(Exit::Timeout);
    assert!(err.contains("timed out waiting for job"), "{err}");
    s.bed.emulator.faults().remove(slow);
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let locked = format!("Updated workload policies\n\n- Locked: {web}\n- Updated policies: {web}");
    while s.head_message() != locked {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the lock never landed: {:?}",
            s.head_message()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // fluxd gone: exit 3.
    let url = s.fluxd.api_url();
    s.fluxd.stop().await;
    let run = fluxctl_bin(&["--url", &url, "unlock", "-w", web], &[]).await;
    run.fails(Exit::Unreachable);
}
