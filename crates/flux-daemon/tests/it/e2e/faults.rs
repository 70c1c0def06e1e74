//! Faults: the git remote gone, the registry failing, the API server
//! answering 500 and 429 and dropping connections. fluxd keeps running,
//! says what is wrong (logs, metrics, the API), and recovers by itself.

use std::time::Duration;

use flux_api::image::ImageName;
use flux_api::v9::{Change, ImageUpdate};
use flux_daemon::testing::Fluxd;
use flux_testbed::registry::{Fault, Format, Proxy, Pusher, TestImage};
use kube_emulator::{FaultAction, FaultRule};

use super::*;

const APP: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
  namespace: default
  annotations:
    fluxcd.io/automated: \"true\"
spec:
  selector:
    matchLabels: {app: app}
  template:
    metadata:
      labels: {app: app}
    spec:
      containers:
      - name: app
        image: PROXY/demo/app:1.0.0
";

fn last_sync_clean(fluxd: &Fluxd) -> Option<bool> {
    fluxd
        .shared()
        .default_source()?
        .with_status(|s| s.last_sync.as_ref().map(|l| l.clean))
}

async fn metrics(fluxd: &Fluxd) -> String {
    reqwest::get(format!("{}/metrics", fluxd.root_url()))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fluxd_survives_and_recovers_from_faults() {
    let (bed, registry) = bed_with_registry().await;
    let proxy = Proxy::start(&registry).await.expect("proxy");
    let pusher = Pusher::new(&registry);
    pusher
        .push_image(
            "demo/app",
            "1.0.0",
            &TestImage::created("2024-01-01T00:00:00Z"),
            Format::Oci,
        )
        .await
        .expect("push");
    bed.commit(
        &[("app.yaml", APP.replace("PROXY", proxy.addr()).as_bytes())],
        "App",
    )
    .expect("commit");
    let insecure = format!("--registry-insecure-host={}", proxy.addr());
    let include = format!("--registry-include-image={}/*", proxy.addr());
    let fluxd = bed
        .start_fluxd(
            "fluxd",
            &[
                "--git-poll-interval=1s",
                "--sync-interval=2s",
                "--automation-interval=2s",
                &insecure,
                &include,
            ],
        )
        .await
        .expect("fluxd");
    let api = client(&fluxd);

    // 1. The git remote goes away: errors are reported, fluxd runs on.
    let repo = bed.repo.path().to_owned();
    let hidden = repo.with_extension("hidden");
    std::fs::rename(&repo, &hidden).expect("hide the repository");
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let config = api
            .git_repo_config(false)
            .await
            .expect("the API answers while git is down");
        if !config.error.is_empty() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no git error reported"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        metrics(&fluxd)
            .await
            .contains("flux_git_ready{source=\"default\"} 0")
    );
    std::fs::rename(&hidden, &repo).expect("bring it back");
    fluxd
        .wait_for("git to recover", PATIENCE, |s| {
            s.default_source()
                .is_some_and(|src| src.repo.status().error.is_none())
        })
        .await
        .expect("recovered");
    assert!(
        metrics(&fluxd)
            .await
            .contains("flux_git_ready{source=\"default\"} 1")
    );

    // 2. The registry fails (503 through the proxy): no automation, an error
    // counted; when it is back, the new tag is released.
    fluxd
        .wait_for("the first scan", PATIENCE, |s| {
            use flux_core::registry::RegistryView;
            let name = flux_core::image::ImageName::parse(&format!("{}/demo/app", proxy.addr()))
                .expect("name");
            s.registry.cache.tags(&name).is_some()
        })
        .await
        .expect("scanned");
    proxy.set_fault(Fault::Status {
        status: 503,
        retry_after: None,
        times: None,
    });
    pusher
        .push_image(
            "demo/app",
            "1.1.0",
            &TestImage::created("2024-01-02T00:00:00Z"),
            Format::Oci,
        )
        .await
        .expect("push");
    let notify_image = || {
        Change::Image(ImageUpdate {
            name: ImageName::from_repository(&format!("{}/demo/app", proxy.addr())),
        })
    };
    api.notify(&notify_image()).await.expect("notify");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        bed.repo.subjects("master").expect("log"),
        ["App"],
        "nothing released while the registry fails"
    );
    let m = metrics(&fluxd).await;
    assert!(m.contains("flux_registry_"), "{m}");
    proxy.set_fault(Fault::None);
    api.notify(&notify_image()).await.expect("notify");
    let want = format!("{}/demo/app:1.1.0", proxy.addr());
    eventually_image(&bed, "app", &want).await;

    // 3. The API server answers 500, then 429: syncs that must write fail
    // and say so; fluxd recovers when the server does.
    for action in [
        FaultAction::Status {
            code: 500,
            retry_after: None,
        },
        FaultAction::Status {
            code: 429,
            retry_after: Some(1),
        },
    ] {
        let id = bed
            .emulator
            .faults()
            .add(FaultRule::always(action.clone()).user_agent("fluxd/"));
        // A hand edit the next sync must put back, so it has work to do
        // (with nothing to do, a sync reads the caches and writes nothing,
        // and so cannot fail).
        kubectl(
            &bed,
            &[
                "set",
                "image",
                "deployment/app",
                "app=example.com/by-hand:1",
            ],
        );
        fluxd
            .wait_for(&format!("a failed sync under {action:?}"), PATIENCE, |_| {
                last_sync_clean(&fluxd) == Some(false)
            })
            .await
            .expect("a sync failed");
        bed.emulator.faults().remove(id);
        fluxd
            .wait_for(&format!("recovery after {action:?}"), PATIENCE, |_| {
                last_sync_clean(&fluxd) == Some(true)
            })
            .await
            .expect("recovered");
        eventually_image(&bed, "app", &want).await;
    }

    // 4. Connections dropped: the watches fail (counted), the edit made
    // meanwhile is not seen; once the server answers again the watches
    // resume and the edit is put back.
    let errors_before = fluxd
        .shared()
        .watch
        .as_ref()
        .expect("watched")
        .stats()
        .errors;
    let id = bed
        .emulator
        .faults()
        .add(FaultRule::always(FaultAction::Drop).user_agent("fluxd/"));
    kubectl(
        &bed,
        &[
            "set",
            "image",
            "deployment/app",
            "app=example.com/by-hand:2",
        ],
    );
    fluxd
        .wait_for("watch errors", PATIENCE, |s| {
            s.watch
                .as_ref()
                .is_some_and(|w| w.stats().errors > errors_before)
        })
        .await
        .expect("watch errors counted");
    assert!(metrics(&fluxd).await.contains("flux_kube_watch_errors"));
    bed.emulator.faults().remove(id);
    eventually_image(&bed, "app", &want).await;
    api.ping().await.expect("ping after the faults");
    assert!(fluxd.shared().is_ready());
    fluxd.stop().await;
}
