//! Jobs as Flux v1's fluxctl sends them (the JSON below is byte for byte
//! what its `release`, `policy`, `automate` and `sync` commands POST), the
//! status it polls, and the commits they make.

use flux_api::job::StatusString;
use flux_daemon::testing::TestBed;

use super::*;

const WEB: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: default
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: nginx
        image: REGISTRY/team/nginx:1.0 # pinned for now
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn release_policy_and_sync_jobs_as_flux_v1_sends_them() {
    let (bed, registry) = bed_with_registry().await;
    let pusher = flux_testbed::registry::Pusher::new(&registry);
    for (tag, created) in [
        ("1.0", "2024-01-01T00:00:00Z"),
        ("1.1", "2024-01-02T00:00:00Z"),
    ] {
        pusher
            .push_image(
                "team/nginx",
                tag,
                &flux_testbed::registry::TestImage::created(created),
                flux_testbed::registry::Format::Docker,
            )
            .await
            .expect("push");
    }
    let web = WEB.replace("REGISTRY", &registry);
    bed.commit(&[("web.yaml", web.as_bytes())], "Web")
        .expect("commit");
    let fluxd = bed
        .start_fluxd("fluxd", &["--sync-interval=1h", "--git-poll-interval=1h"])
        .await
        .expect("fluxd");
    // Wait for the first scan, so the release can find the image.
    wait_scanned(&fluxd, &format!("{registry}/team/nginx"), 2).await;

    // A dry run plans and writes nothing.
    let plan = image_release(
        "default:deployment/web",
        &format!("{registry}/team/nginx:1.1"),
        "plan",
        "Jo <jo@example.com>",
    );
    let (code, body) = post(&fluxd, "/v9/update-manifests", &plan).await;
    assert_eq!(code, 200, "{body}");
    let id: String = serde_json::from_str(&body).expect("a job ID string");
    let status = wait_job(&fluxd, &id).await;
    assert_eq!(status.status_string, StatusString::Succeeded, "{status:?}");
    assert_eq!(
        status.result.result.0["default:deployment/web"]
            .status
            .as_str(),
        "success"
    );
    assert!(status.result.revision.is_empty(), "a plan commits nothing");
    assert_eq!(bed.repo.subjects("master").expect("log").len(), 1);

    // Executed, it commits with Flux v1's message and the user as asked.
    let execute = plan.replace(r#""Kind":"plan""#, r#""Kind":"execute""#);
    let (code, body) = post(&fluxd, "/v9/update-manifests", &execute).await;
    assert_eq!(code, 200, "{body}");
    let id: String = serde_json::from_str(&body).expect("job ID");
    let status = wait_job(&fluxd, &id).await;
    assert_eq!(status.status_string, StatusString::Succeeded, "{status:?}");
    let revision = status.result.revision.clone();
    assert_eq!(
        bed.repo.head("master").expect("head").as_deref(),
        Some(revision.as_str())
    );
    assert_eq!(
        bed.repo.subjects("master").expect("log")[0],
        format!("Release {registry}/team/nginx:1.1 to default:deployment/web")
    );
    let file =
        String::from_utf8(bed.repo.show("master", "web.yaml").expect("file")).expect("utf-8");
    assert_eq!(
        file,
        web.replace("nginx:1.0 #", "nginx:1.1 #"),
        "only the tag changed, comment kept"
    );
    let want = format!("{registry}/team/nginx:1.1");
    eventually_image(&bed, "web", &want).await;
    fluxd
        .wait_for("the sync", PATIENCE, |_| {
            fluxd.synced().as_deref() == Some(revision.as_str())
        })
        .await
        .expect("synced");
    assert!(
        client(&fluxd)
            .sync_status(&revision)
            .await
            .expect("sync status")
            .is_empty()
    );

    // Policies: `fluxctl automate` and `fluxctl policy --tag-all`.
    let automate = r#"{"type":"policy","cause":{"Message":"","User":""},"spec":{"default:deployment/web":{"add":{"automated":"true"},"remove":{}}}}"#;
    let (code, body) = post(&fluxd, "/v9/update-manifests", automate).await;
    assert_eq!(code, 200, "{body}");
    let status = wait_job(&fluxd, &serde_json::from_str::<String>(&body).expect("id")).await;
    assert_eq!(status.status_string, StatusString::Succeeded, "{status:?}");
    assert_eq!(
        bed.repo.subjects("master").expect("log")[0],
        "Automated: default:deployment/web"
    );
    let file =
        String::from_utf8(bed.repo.show("master", "web.yaml").expect("file")).expect("utf-8");
    assert!(file.contains("fluxcd.io/automated: \"true\""), "{file}");

    // The same change again changes nothing and commits nothing.
    let before = bed.repo.head("master").expect("head");
    let (_, body) = post(&fluxd, "/v9/update-manifests", automate).await;
    let status = wait_job(&fluxd, &serde_json::from_str::<String>(&body).expect("id")).await;
    assert_eq!(status.status_string, StatusString::Succeeded, "{status:?}");
    assert!(status.result.revision.is_empty());
    assert_eq!(bed.repo.head("master").expect("head"), before);

    // A release to a workload that does not exist fails with the reason.
    let missing = execute.replace("default:deployment/web", "default:deployment/nope");
    let (_, body) = post(&fluxd, "/v9/update-manifests", &missing).await;
    let status = wait_job(&fluxd, &serde_json::from_str::<String>(&body).expect("id")).await;
    assert_eq!(status.status_string, StatusString::Failed, "{status:?}");
    assert_eq!(
        bed.repo.head("master").expect("head"),
        before,
        "nothing pushed"
    );

    // `fluxctl sync`: a sync job reports the head to wait for.
    let someone = bed
        .commit(&[("extra.yaml", b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\n  namespace: default\n")], "Extra")
        .expect("commit");
    let (code, body) = post(
        &fluxd,
        "/v9/update-manifests",
        r#"{"type":"sync","cause":{"Message":"","User":""},"spec":{}}"#,
    )
    .await;
    assert_eq!(code, 200, "{body}");
    let status = wait_job(&fluxd, &serde_json::from_str::<String>(&body).expect("id")).await;
    assert_eq!(status.result.revision, someone, "{status:?}");
    kubectl(&bed, &["get", "configmap", "extra"]);
    fluxd
        .wait_for("the sync", PATIENCE, |_| {
            fluxd.synced().as_deref() == Some(someone.as_str())
        })
        .await
        .expect("synced");

    // A restarted fluxd still finds the release job, through its note.
    fluxd.stop().await;
    let again = bed
        .start_fluxd("fluxd-again", &["--sync-interval=1h"])
        .await
        .expect("restart");
    let status = client(&again)
        .job_status(&Id(id.clone()))
        .await
        .expect("status after restart");
    assert_eq!(status.status_string, StatusString::Succeeded);
    assert_eq!(status.result.revision, revision);
    again.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_routes_of_older_fluxctls() {
    let bed = TestBed::start(&[(
        "web.yaml",
        WEB.replace("REGISTRY", "example.com").as_bytes(),
    )])
    .await
    .expect("bed");
    let fluxd = bed.start_fluxd("fluxd", &[]).await.expect("fluxd");
    let r = reqwest::Client::new()
        .patch(format!(
            "{}/v6/policies?user=jo&message=lock+it",
            fluxd.api_url()
        ))
        .body(r#"{"default:deployment/web":{"add":{"locked":"true"},"remove":{}}}"#)
        .send()
        .await
        .expect("patch");
    assert_eq!(r.status().as_u16(), 200);
    let id: String = serde_json::from_str(&r.text().await.expect("body")).expect("job id");
    let status = wait_job(&fluxd, &id).await;
    assert_eq!(status.status_string, StatusString::Succeeded, "{status:?}");
    assert_eq!(bed.repo.subjects("master").expect("log")[0], "lock it");
    // update-images without its required query keys is not a route.
    let r = reqwest::Client::new()
        .post(format!(
            "{}/v6/update-images?service=default:deployment/web",
            fluxd.api_url()
        ))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status().as_u16(), 404);
    fluxd.stop().await;
}
