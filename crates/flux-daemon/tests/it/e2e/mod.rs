//! fluxd end to end: a real sshd git remote, the emulator (kubectl as
//! referee), a real docker-registry where automation is involved, and fluxd
//! started with real flags, driven through its HTTP API.

mod api;
mod automation;
mod binary;
mod drift;
mod faults;
mod gc;
mod generation;
mod generation_failures;
mod ha;
mod ha_sources;
mod jobs;
mod restart;
mod source_api;
mod sources;
mod switch;
mod sync;

use std::time::Duration;

use flux_api::job::{Id, Status};
use flux_testbed::registry::{Format, Pusher, TestImage};

use flux_api::client::{Client, ClientOptions};
use flux_daemon::testing::{Fluxd, TestBed, read_tree};

/// Long enough for anything on a loaded 2-core machine; tests never wait
/// this long when things work.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// The bundled example repository's files.
pub fn example_files() -> Vec<(String, Vec<u8>)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/config-repo");
    read_tree(&root).expect("example repo")
}

/// Borrowed pairs for `BareRepo::commit_files`.
pub fn borrowed(files: &[(String, Vec<u8>)]) -> Vec<(&str, &[u8])> {
    files
        .iter()
        .map(|(p, b)| (p.as_str(), b.as_slice()))
        .collect()
}

/// A client of `fluxd`'s API.
pub fn client(fluxd: &Fluxd) -> Client {
    Client::new(&fluxd.api_url(), ClientOptions::default()).expect("client")
}

/// kubectl's stdout, trimmed, or a panic with its stderr.
pub fn kubectl(bed: &TestBed, args: &[&str]) -> String {
    bed.kubectl
        .run(args)
        .expect_ok(&args.join(" "))
        .trim()
        .to_owned()
}

/// Waits until kubectl's output satisfies `check`.
pub async fn eventually(bed: &TestBed, args: &[&str], check: impl Fn(&str) -> bool) -> String {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let out = bed.kubectl.run(args);
        if out.ok && check(out.stdout.trim()) {
            return out.stdout.trim().to_owned();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "kubectl {args:?} never satisfied the check; last: {out:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A test bed with a real registry, and the registry's address.
pub async fn bed_with_registry() -> (TestBed, String) {
    let bed = TestBed::start(&[])
        .await
        .expect("bed")
        .with_registry()
        .expect("registry");
    let registry = bed.registry_addr().expect("registry").to_owned();
    (bed, registry)
}

/// Waits until Deployment `name`'s first container runs `image`.
pub async fn eventually_image(bed: &TestBed, name: &str, image: &str) {
    let args = [
        "get",
        "deployment",
        name,
        "-o",
        "jsonpath={.spec.template.spec.containers[0].image}",
    ];
    eventually(bed, &args, |s| s == image).await;
}

/// POSTs `body` to `path` under fluxd's API as a Flux v1 fluxctl does;
/// the status code and body.
pub async fn post(fluxd: &Fluxd, path: &str, body: &str) -> (u16, String) {
    let r = reqwest::Client::new()
        .post(format!("{}{path}", fluxd.api_url()))
        .header("Accept", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .expect("post");
    (r.status().as_u16(), r.text().await.expect("body"))
}

/// Polls a job until it finishes.
pub async fn wait_job(fluxd: &Fluxd, id: &str) -> Status {
    let api = client(fluxd);
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let status = api
            .job_status(&Id(id.to_owned()))
            .await
            .expect("job status");
        if status.is_finished() {
            return status;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "job {id} never finished: {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Flux v1's `update-manifests` body for an image release, exactly as its
/// fluxctl sends it: `kind` is `plan` or `execute`.
pub fn image_release(workload: &str, image: &str, kind: &str, user: &str) -> String {
    format!(
        r#"{{"type":"image","cause":{{"Message":"","User":"{user}"}},"spec":{{"ServiceSpecs":["{workload}"],"ImageSpec":"{image}","Kind":"{kind}","Excludes":null,"Force":false}}}}"#
    )
}

/// Waits until fluxd's registry cache holds exactly `tags` tags of
/// `repository` (`host:port/path`), so a release can find the image.
pub async fn wait_scanned(fluxd: &Fluxd, repository: &str, tags: usize) {
    let name = flux_core::image::ImageName::parse(repository).expect("repository name");
    fluxd
        .wait_for("the registry scan", PATIENCE, |s| {
            use flux_core::registry::RegistryView;
            s.registry
                .cache
                .tags(&name)
                .is_some_and(|t| t.len() == tags)
        })
        .await
        .expect("scanned");
}

/// Tells fluxd the branch moved (`/v11/notify`) and waits until it has
/// synced `revision`.
pub async fn sync_now(bed: &TestBed, fluxd: &Fluxd, revision: &str) {
    client(fluxd)
        .notify(&flux_api::v9::Change::Git(flux_api::v9::GitUpdate {
            url: bed.git_url.clone(),
            branch: "master".into(),
        }))
        .await
        .expect("notify");
    fluxd
        .wait_for(&format!("a sync of {revision}"), PATIENCE, |s| {
            s.default_source()
                .and_then(|src| src.with_status(|st| st.last_sync.clone()))
                .is_some_and(|l| l.revision == revision)
        })
        .await
        .expect("synced");
}

/// Pushes `tags` (with their creation times) of `repo` to the registry at `addr`.
pub async fn push(addr: &str, repo: &str, tags: &[(&str, &str)]) {
    let pusher = Pusher::new(addr);
    for (tag, created) in tags {
        pusher
            .push_image(repo, tag, &TestImage::created(created), Format::Oci)
            .await
            .expect("push an image");
    }
}

/// A Deployment with one container, in Flux's usual layout.
pub fn deployment(name: &str, image: &str, annotations: &str) -> String {
    let annotations = if annotations.is_empty() {
        String::new()
    } else {
        format!("  annotations:\n{annotations}")
    };
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n  namespace: default\n{annotations}spec:\n  selector:\n    matchLabels: {{app: {name}}}\n  template:\n    metadata:\n      labels: {{app: {name}}}\n    spec:\n      containers:\n      - name: {name}\n        image: {image}\n"
    )
}
