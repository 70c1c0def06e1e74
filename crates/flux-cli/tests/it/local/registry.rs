//! `--registry` with `--local`: tags from a real docker-registry on
//! loopback, with images the test pushes.

use flux_cli::error::Exit;
use flux_testbed::registry::{Format, Pusher, Registry, TestImage};

use crate::util::local;

fn deployment(image: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\n  namespace: demo\n  annotations:\n    fluxcd.io/automated: \"true\"\n    fluxcd.io/tag.app: glob:1.*\nspec:\n  template:\n    spec:\n      containers:\n      - name: app\n        image: {image}  # the app\n"
    )
}

#[test]
fn list_images_and_release_latest_read_the_registry() {
    let registry = Registry::start().expect("docker-registry starts");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let push = Pusher::new(registry.addr());
    for (tag, created) in [
        ("1.0", "2024-01-01T00:00:00Z"),
        ("1.1", "2024-02-01T00:00:00Z"),
        ("2.0", "2024-03-01T00:00:00Z"),
    ] {
        runtime
            .block_on(push.push_image("team/app", tag, &TestImage::created(created), Format::Oci))
            .expect("push");
    }
    let repo = format!("{}/team/app", registry.addr());
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("app.yaml"),
        deployment(&format!("{repo}:1.0")),
    )
    .expect("write");
    let reg = ["--registry", "--registry-insecure-host", "127.0.0.1"];

    let mut args = vec!["list-images", "-n", "demo"];
    args.extend(reg);
    let run = local(dir.path(), &args);
    let lines: Vec<Vec<&str>> = run
        .ok()
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        lines,
        vec![
            vec!["WORKLOAD", "CONTAINER", "IMAGE", "CREATED"],
            vec!["demo:deployment/app", "app", repo.as_str()],
            vec!["|", "2.0", "01", "Mar", "24", "00:00", "UTC"],
            vec!["|", "1.1", "01", "Feb", "24", "00:00", "UTC"],
            vec!["'->", "1.0", "01", "Jan", "24", "00:00", "UTC"],
        ],
        "{}",
        run.out
    );
    let mut json_args = args.clone();
    json_args.extend(["-o", "json"]);
    let v: serde_json::Value =
        serde_json::from_str(local(dir.path(), &json_args).ok()).expect("json");
    let c = &v[0]["Containers"][0];
    assert_eq!(
        c["LatestFiltered"]["ID"],
        format!("{repo}:1.1"),
        "glob:1.* allows 1.1, not 2.0"
    );
    assert_eq!(c["AvailableImagesCount"], 3);
    assert_eq!(c["NewAvailableImagesCount"], 2);
    assert_eq!(c["FilteredImagesCount"], 2);
    assert_eq!(c["NewFilteredImagesCount"], 1);

    // The newest tag the filter allows, written into the file.
    let mut release = vec!["release", "--all", "--update-all-images"];
    release.extend(reg);
    let run = local(dir.path(), &release);
    assert!(
        run.ok().contains(&format!("app: {repo}:1.0 -> 1.1")),
        "{}",
        run.out
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("app.yaml")).expect("read"),
        deployment(&format!("{repo}:1.1"))
    );

    // A tag the registry does not have is refused, and nothing changes.
    let missing = format!("{repo}:9.9");
    let mut specific = vec!["release", "--all", "-i", missing.as_str()];
    specific.extend(reg);
    let run = local(dir.path(), &specific);
    assert!(
        run.fails(Exit::Failed).contains("does not exist"),
        "{}",
        run.err
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("app.yaml")).expect("read"),
        deployment(&format!("{repo}:1.1"))
    );
}

#[test]
fn an_unreachable_registry_is_noted_on_the_container() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("app.yaml"),
        deployment(&format!("127.0.0.1:{port}/team/app:1.0")),
    )
    .expect("write");
    let run = local(
        dir.path(),
        &[
            "list-images",
            "-n",
            "demo",
            "--registry",
            "--registry-insecure-host",
            "127.0.0.1",
        ],
    );
    let out = run.ok();
    assert!(
        out.lines().nth(1).is_some_and(|l| l.contains("127.0.0.1")),
        "{out}"
    );
    assert!(
        run.err.contains("registry: "),
        "a note names the failure: {}",
        run.err
    );
}
