//! Restarts: fluxd stopped abruptly in the middle of a job and started
//! again on the same state directory makes no duplicate commit, picks up
//! the sync tag and the registry cache, and neither deletes nor re-creates
//! objects it already applied.

use std::collections::BTreeMap;
use std::time::Duration;

use flux_api::job::StatusString;
use flux_daemon::testing::TestBed;
use flux_registry::metrics::RequestKind;

use super::*;

/// Every object's uid, by kind and name.
fn uids(bed: &TestBed) -> BTreeMap<String, String> {
    let out = kubectl(
        bed,
        &[
            "get",
            "deployments,configmaps,namespaces",
            "-A",
            "-o",
            "jsonpath={range .items[*]}{.kind}/{.metadata.name}={.metadata.uid}{\"\\n\"}{end}",
        ],
    );
    out.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_job_and_restarted() {
    let (bed, registry) = bed_with_registry().await;
    push(
        &registry,
        "team/web",
        &[
            ("1.0", "2024-01-01T00:00:00Z"),
            ("1.1", "2024-01-02T00:00:00Z"),
        ],
    )
    .await;
    let web = deployment("web", &format!("{registry}/team/web:1.0"), "");
    bed.commit(
        &[
            ("web.yaml", web.as_bytes()),
            ("settings.yaml", b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: default\n"),
        ],
        "Config",
    )
    .expect("commit");
    let flags = [
        "--git-poll-interval=1h",
        "--sync-interval=1h",
        "--sync-garbage-collection",
    ];
    let first = bed.start_fluxd("state", &flags).await.expect("fluxd");
    let head = bed.repo.head("master").expect("head").expect("commit");
    first
        .wait_for("the sync tag", PATIENCE, |_| {
            first.synced().as_deref() == Some(head.as_str())
        })
        .await
        .expect("synced");
    first
        .wait_for("the registry cache", PATIENCE, |s| {
            s.registry.cache.image_count() >= 1
        })
        .await
        .expect("scanned");
    let manifests_fetched = first
        .shared()
        .metrics
        .registry
        .requests_of(RequestKind::Manifest);
    assert!(manifests_fetched > 0);
    let before = uids(&bed);

    // A release, and fluxd killed while it runs (no graceful stop).
    let spec = image_release(
        "default:deployment/web",
        &format!("{registry}/team/web:1.1"),
        "execute",
        "",
    );
    let (code, body) = post(&first, "/v9/update-manifests", &spec).await;
    assert_eq!(code, 200, "{body}");
    let source = first.shared().default_source().expect("source").clone();
    first
        .wait_for("the job to start", PATIENCE, |_| source.jobs.is_empty())
        .await
        .expect("started");
    tokio::time::sleep(Duration::from_millis(150)).await;
    drop(first); // aborts the daemon's task where it stands
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Started again on the same state.
    let second = bed.start_fluxd("state", &flags).await.expect("restarted");
    let head_now = bed.repo.head("master").expect("head").expect("commit");
    second
        .wait_for("the sync of the head", PATIENCE, |_| {
            second.synced().as_deref() == Some(head_now.as_str())
        })
        .await
        .expect("synced");
    assert!(
        second
            .shared()
            .default_source()
            .expect("source")
            .with_status(|s| s.synced.is_some()),
        "the sync tag was read back"
    );

    // The release again: it lands exactly once, whatever the kill left.
    let (_, body) = post(&second, "/v9/update-manifests", &spec).await;
    let id: String = serde_json::from_str(&body).expect("id");
    let status = wait_job(&second, &id).await;
    let releases = bed
        .repo
        .subjects("master")
        .expect("log")
        .into_iter()
        .filter(|s| s.starts_with("Release "))
        .count();
    assert_eq!(releases, 1, "exactly one release commit");
    if status.status_string == StatusString::Failed {
        assert_eq!(
            status.err, "no changes made in repo",
            "the first one had landed: {status:?}"
        );
    }
    let want = format!("{registry}/team/web:1.1");
    eventually_image(&bed, "web", &want).await;

    // Nothing deleted or re-created: the same objects, the same uids.
    assert_eq!(uids(&bed), before);
    // The registry cache was reused: no manifest fetched again for known tags.
    second
        .wait_for("a scan", PATIENCE, |s| {
            s.metrics.registry.requests_of(RequestKind::Tags) > 0
        })
        .await
        .expect("scanned");
    assert_eq!(
        second
            .shared()
            .metrics
            .registry
            .requests_of(RequestKind::Manifest),
        0,
        "cached"
    );
    second.stop().await;
}
