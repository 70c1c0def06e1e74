//! Live state from watches: a periodic sync with nothing new reads no lists
//! from the API server, and an object Flux applied that is changed or
//! deleted by hand is put back within seconds, not at the next interval.

use std::time::Duration;

use flux_daemon::testing::TestBed;

use super::*;

const SETTINGS: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: default\ndata:\n  colour: blue\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_is_corrected_and_idle_syncs_read_nothing() {
    let files = example_files();
    let mut all = borrowed(&files);
    all.push(("settings.yaml", SETTINGS.as_bytes()));
    let bed = TestBed::start(&all).await.expect("bed");
    let fluxd = bed
        .start_fluxd("fluxd", &["--git-poll-interval=1h", "--sync-interval=1h"])
        .await
        .expect("fluxd");

    // An idle sync (nothing new in git) lists nothing and writes nothing.
    let source = fluxd.shared().default_source().expect("source").clone();
    let syncs = || source.with_status(|s| s.last_sync.as_ref().map(|l| l.finished));
    let before_sync = syncs();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = bed.emulator.stats();
    source.ask_sync();
    fluxd
        .wait_for("an idle sync", PATIENCE, |_| syncs() != before_sync)
        .await
        .expect("sync");
    let after = bed.emulator.stats();
    assert_eq!(after.lists, before.lists, "an idle sync lists nothing");
    assert_eq!(
        (after.creates, after.updates, after.patches, after.deletes),
        (
            before.creates,
            before.updates,
            before.patches,
            before.deletes
        ),
        "an idle sync writes nothing"
    );

    // A hand edit to a marked object is put back.
    kubectl(
        &bed,
        &[
            "patch",
            "configmap",
            "settings",
            "--type=merge",
            "-p",
            "{\"data\":{\"colour\":\"red\"}}",
        ],
    );
    eventually(
        &bed,
        &[
            "get",
            "configmap",
            "settings",
            "-o",
            "jsonpath={.data.colour}",
        ],
        |s| s == "blue",
    )
    .await;
    // And a deleted one comes back.
    kubectl(&bed, &["delete", "configmap", "settings"]);
    eventually(
        &bed,
        &[
            "get",
            "configmap",
            "settings",
            "-o",
            "jsonpath={.data.colour}",
        ],
        |s| s == "blue",
    )
    .await;
    let metrics = reqwest::get(format!("{}/metrics", fluxd.root_url()))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("flux_daemon_drift_syncs_total{source=\"default\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("flux_kube_watch_objects"), "{metrics}");
    fluxd.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_correction_can_be_turned_off() {
    let bed = TestBed::start(&[("settings.yaml", SETTINGS.as_bytes())])
        .await
        .expect("bed");
    let fluxd = bed
        .start_fluxd(
            "fluxd",
            &[
                "--git-poll-interval=1h",
                "--sync-interval=1h",
                "--sync-drift-correction=false",
            ],
        )
        .await
        .expect("fluxd");
    kubectl(
        &bed,
        &[
            "patch",
            "configmap",
            "settings",
            "--type=merge",
            "-p",
            "{\"data\":{\"colour\":\"red\"}}",
        ],
    );
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert_eq!(
        kubectl(
            &bed,
            &[
                "get",
                "configmap",
                "settings",
                "-o",
                "jsonpath={.data.colour}"
            ]
        ),
        "red"
    );
    fluxd.stop().await;
}
