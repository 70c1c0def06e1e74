//! Flux v1's API as a Flux v1 fluxctl sees it.

use flux_daemon::testing::TestBed;

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_answer_with_flux_v1_json() {
    let files = example_files();
    let bed = TestBed::start(&borrowed(&files)).await.expect("bed");
    let fluxd = bed.start_fluxd("fluxd", &[]).await.expect("fluxd");
    let api = client(&fluxd);
    api.ping().await.expect("ping");
    assert_eq!(
        api.version().await.expect("version"),
        env!("CARGO_PKG_VERSION")
    );

    let workloads = api.list_services("demo").await.expect("list");
    let ids: Vec<&str> = workloads.iter().map(|w| w.id.as_str()).collect();
    assert!(ids.contains(&"demo:deployment/podinfo"), "{ids:?}");
    let podinfo = workloads
        .iter()
        .find(|w| w.id == "demo:deployment/podinfo")
        .expect("podinfo");
    assert!(podinfo.automated, "automated in git: {podinfo:?}");
    assert_eq!(
        podinfo.policies.get("tag.podinfod").map(String::as_str),
        Some("semver:~3.1")
    );
    assert_eq!(
        podinfo.containers[0].current.id,
        "stefanprodan/podinfo:3.1.0"
    );

    // Raw HTTP: what a Flux v1 fluxctl sends and gets.
    let http = reqwest::Client::new();
    let base = fluxd.api_url();
    let get = |path: &str| {
        let url = format!("{base}{path}");
        let http = http.clone();
        async move {
            let r = http
                .get(url)
                .header("Accept", "application/json")
                .send()
                .await
                .expect("request");
            let status = r.status().as_u16();
            (status, r.text().await.expect("body"))
        }
    };
    let (status, body) = get("/v5/services").await;
    assert_eq!(status, 410, "{body}");
    let (status, body) = get("/v11/nothing-here").await;
    assert_eq!(status, 404);
    let err: serde_json::Value = serde_json::from_str(&body).expect("a JSON error");
    assert_eq!(err["error"], "API endpoint not found");
    // Job lookup needs its id query: without it, not a route.
    assert_eq!(get("/v6/jobs").await.0, 404);
    let (status, body) = get("/v6/jobs?id=no-such-job").await;
    assert_eq!(status, 404, "{body}");
    // A bad body is a 400 naming the problem; nothing is queued.
    let r = http
        .post(format!("{base}/v9/update-manifests"))
        .body("{\"type\":\"image\"")
        .send()
        .await
        .expect("post");
    assert_eq!(r.status().as_u16(), 400);
    assert_eq!(
        fluxd.shared().default_source().expect("source").jobs.len(),
        0
    );

    // The deploy key and the git config.
    let key = api.public_ssh_key().await.expect("key");
    assert!(key.key.starts_with("ssh-ed25519 "), "{key:?}");
    assert_eq!(key.fingerprints["sha256"].hash.len(), 43, "{key:?}");
    assert_eq!(
        key.fingerprints["md5"].hash.split(':').count(),
        16,
        "{key:?}"
    );
    let config = api.git_repo_config(false).await.expect("git config");
    assert_eq!(config.remote.branch, "master");
    assert_eq!(config.public_ssh_key.key, key.key);

    // Health and metrics.
    let ready = http
        .get(format!("{}/readyz", fluxd.root_url()))
        .send()
        .await
        .expect("readyz");
    assert_eq!(ready.status().as_u16(), 200);
    let metrics = http
        .get(format!("{}/metrics", fluxd.root_url()))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("flux_daemon_sync_duration_seconds_bucket"),
        "{metrics}"
    );
    assert!(
        metrics.contains("flux_request_duration_seconds"),
        "{metrics}"
    );
    fluxd.stop().await;
}
