//! Automation through the real registry: a new tag pushed to Debian's
//! docker-registry is found by flux-registry's scanner (through its cache),
//! committed to git as exactly one changed line, and applied.

use std::time::Duration;

use flux_api::image::ImageName;
use flux_api::v9::{Change, ImageUpdate};

use super::*;

fn workload(image: &str) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
  namespace: default
  annotations:
    fluxcd.io/automated: \"true\"   # release new tags as they come
    fluxcd.io/tag.app: semver:~1
spec:
  selector:
    matchLabels: {{app: app}}
  template:
    metadata:
      labels: {{app: app}}
    spec:
      containers:
      - name: app
        image: {image} # kept by automation
        ports:
        - containerPort: 80
"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_tag_in_the_registry_is_committed_once_and_applied() {
    let (bed, registry) = bed_with_registry().await;
    push(
        &registry,
        "demo/app",
        &[
            ("1.0.0", "2024-01-01T00:00:00Z"),
            ("2.0.0", "2024-01-03T00:00:00Z"),
        ],
    )
    .await;
    let original = workload(&format!("{registry}/demo/app:1.0.0"));
    bed.commit(&[("app.yaml", original.as_bytes())], "App")
        .expect("commit");
    let fluxd = bed
        .start_fluxd(
            "fluxd",
            &[
                "--git-poll-interval=1h",
                "--sync-interval=1h",
                "--automation-interval=1h",
            ],
        )
        .await
        .expect("fluxd");
    let api = client(&fluxd);

    // The first scan finds 1.0.0 and 2.0.0: 2.0.0 is outside semver:~1, so
    // nothing is released.
    let images = image_tags(&api).await;
    assert_eq!(images, ["2.0.0", "1.0.0"], "newest first");
    let subjects = bed.repo.subjects("master").expect("log");
    assert_eq!(subjects, ["App"], "no automation commit yet");

    // 1.1.0 appears; the registry tells fluxd (as a webhook would).
    push(&registry, "demo/app", &[("1.1.0", "2024-01-02T00:00:00Z")]).await;
    api.notify(&Change::Image(ImageUpdate {
        name: ImageName::from_repository(&format!("{registry}/demo/app")),
    }))
    .await
    .expect("notify");
    let want = format!("{registry}/demo/app:1.1.0");
    eventually_image(&bed, "app", &want).await;

    // Exactly one commit, changing exactly the tag.
    let subjects = bed.repo.subjects("master").expect("log");
    assert_eq!(subjects, [format!("Auto-release {want}"), "App".to_owned()]);
    let committed =
        String::from_utf8(bed.repo.show("master", "app.yaml").expect("file")).expect("utf-8");
    assert_eq!(
        committed,
        original.replace("demo/app:1.0.0", "demo/app:1.1.0")
    );
    let diff = bed
        .repo
        .git(&["diff", "--numstat", "master~1", "master"])
        .expect("diff");
    assert_eq!(diff.trim(), "1\t1\tapp.yaml");
    // The note on the commit says what automation did, as Flux v1's did.
    let note = bed
        .repo
        .git(&["notes", "--ref=flux", "show", "master"])
        .expect("note");
    let note: serde_json::Value = serde_json::from_str(&note).expect("JSON note");
    assert_eq!(note["spec"]["type"], "auto");
    assert_eq!(
        note["result"]["default:deployment/app"]["Status"],
        "success"
    );

    // Another scan and automation run finds nothing more to do.
    api.notify(&Change::Image(ImageUpdate {
        name: ImageName::from_repository(&format!("{registry}/demo/app")),
    }))
    .await
    .expect("notify");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        bed.repo.subjects("master").expect("log").len(),
        2,
        "no second commit"
    );
    fluxd.stop().await;
}

/// The tags fluxd lists for the app's container, once scanned.
async fn image_tags(api: &flux_api::client::Client) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let images = api
            .list_images(&flux_api::update::ResourceSpec::All)
            .await
            .expect("list images");
        let tags: Vec<String> = images
            .iter()
            .filter(|w| w.id == "default:deployment/app")
            .flat_map(|w| w.containers.iter())
            .flat_map(|c| c.available.iter())
            .filter_map(|i| i.id.rsplit_once(':').map(|(_, t)| t.to_owned()))
            .collect();
        if !tags.is_empty() {
            return tags;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never scanned: {images:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
