//! Syncing: the first sync of the example repository, a new commit applied
//! after `notify`, the sync tag as high-water mark.

use std::time::{Duration, Instant};

use flux_api::v9::{Change, GitUpdate};
use flux_daemon::testing::TestBed;

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_sync_then_a_commit_after_notify_moves_the_sync_tag() {
    let files = example_files();
    let bed = TestBed::start(&borrowed(&files)).await.expect("bed");
    let head = bed.repo.head("master").expect("head").expect("a commit");
    // Polls and periodic syncs far away: only notify can trigger a sync.
    let fluxd = bed
        .start_fluxd("fluxd", &["--git-poll-interval=1h", "--sync-interval=1h"])
        .await
        .expect("fluxd");

    // Everything in the example repository is applied and marked.
    assert_eq!(
        kubectl(
            &bed,
            &[
                "get",
                "deployment",
                "podinfo",
                "-n",
                "demo",
                "-o",
                "jsonpath={.spec.template.spec.containers[0].image}"
            ]
        ),
        "stefanprodan/podinfo:3.1.0"
    );
    let marked = kubectl(
        &bed,
        &[
            "get",
            "deployments,statefulsets,daemonsets",
            "-A",
            "-l",
            "fluxcd.io/sync-gc-mark",
            "-o",
            "name",
        ],
    );
    assert_eq!(marked.lines().count(), 4, "{marked}");
    // The sync tag marks the applied commit, in the remote.
    fluxd
        .wait_for("the high-water mark", PATIENCE, |_| {
            fluxd.synced().as_deref() == Some(head.as_str())
        })
        .await
        .expect("synced");
    assert_eq!(
        bed.repo
            .git(&["rev-parse", "flux-sync^{commit}"])
            .expect("tag")
            .trim(),
        head,
        "the remote's sync tag"
    );

    // A new commit, then notify: applied without waiting for a poll.
    let next = bed
        .commit(&[("extra/settings.yaml", b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: demo\ndata:\n  colour: blue\n")], "Add settings")
        .expect("commit");
    let api = client(&fluxd);
    let started = Instant::now();
    api.notify(&Change::Git(GitUpdate {
        url: bed.git_url.clone(),
        branch: "master".into(),
    }))
    .await
    .expect("notify");
    eventually(
        &bed,
        &[
            "get",
            "configmap",
            "settings",
            "-n",
            "demo",
            "-o",
            "jsonpath={.data.colour}",
        ],
        |s| s == "blue",
    )
    .await;
    let applied_after = started.elapsed();
    fluxd
        .wait_for("the high-water mark to move", PATIENCE, |_| {
            fluxd.synced().as_deref() == Some(next.as_str())
        })
        .await
        .expect("synced");
    assert_eq!(
        bed.repo
            .git(&["rev-parse", "flux-sync^{commit}"])
            .expect("tag")
            .trim(),
        next,
        "the remote's sync tag"
    );
    eprintln!("commit applied {applied_after:?} after notify");

    // Nothing is left to sync.
    assert!(
        api.sync_status(&next)
            .await
            .expect("sync status")
            .is_empty()
    );

    // A notify about another branch of the same repository does nothing.
    api.notify(&Change::Git(GitUpdate {
        url: bed.git_url.clone(),
        branch: "other".into(),
    }))
    .await
    .expect("notify");
    fluxd.stop().await;
    let _ = Duration::ZERO;
}

fn hmac_hex(secret: &str, body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    ring::hmac::sign(&key, body)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_webhooks_check_their_secret() {
    let bed = TestBed::start(&[(
        "a.yaml",
        b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: default\n",
    )])
    .await
    .expect("bed");
    let secret_file = bed.path("webhook-secret");
    std::fs::write(&secret_file, "s3cret\n").expect("secret");
    let flag = format!("--webhook-secret-file={}", secret_file.display());
    let fluxd = bed
        .start_fluxd(
            "fluxd",
            &["--git-poll-interval=1h", "--sync-interval=1h", &flag],
        )
        .await
        .expect("fluxd");
    let next = bed
        .commit(
            &[(
                "b.yaml",
                b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n  namespace: default\n",
            )],
            "B",
        )
        .expect("commit");
    let http = reqwest::Client::new();
    let github = format!("{}/hooks/github", fluxd.root_url());
    let payload = format!(
        r#"{{"ref":"refs/heads/master","repository":{{"ssh_url":"{}","clone_url":"https://example.com/other.git"}}}}"#,
        bed.git_url
    );

    // Wrong signature: 401, and nothing is fetched.
    let r = http
        .post(&github)
        .header("X-GitHub-Event", "push")
        .header(
            "X-Hub-Signature-256",
            format!("sha256={}", hmac_hex("wrong", payload.as_bytes())),
        )
        .body(payload.clone())
        .send()
        .await
        .expect("post");
    assert_eq!(r.status().as_u16(), 401);
    let gitlab = http
        .post(format!("{}/hooks/gitlab", fluxd.root_url()))
        .header("X-Gitlab-Event", "Push Hook")
        .header("X-Gitlab-Token", "nope")
        .body("{}")
        .send()
        .await
        .expect("post");
    assert_eq!(gitlab.status().as_u16(), 401);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        !bed.kubectl.run(&["get", "configmap", "b"]).ok,
        "no fetch after a refused webhook"
    );
    assert_ne!(
        fluxd
            .shared()
            .default_source()
            .expect("source")
            .repo
            .head()
            .as_deref(),
        Some(next.as_str())
    );

    // Signed: fetched and applied.
    let r = http
        .post(&github)
        .header("X-GitHub-Event", "push")
        .header(
            "X-Hub-Signature-256",
            format!("sha256={}", hmac_hex("s3cret", payload.as_bytes())),
        )
        .body(payload)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status().as_u16(), 202);
    eventually(&bed, &["get", "configmap", "b", "-o", "name"], |s| {
        s == "configmap/b"
    })
    .await;
    fluxd.stop().await;
}
