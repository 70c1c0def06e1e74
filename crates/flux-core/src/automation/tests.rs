use chrono::{TimeZone, Utc};

use super::*;
use crate::manifest::{FileSet, LoadOptions, parse_files};
use crate::registry::{MemoryRegistry, RegistryView};
use crate::release::tests::{deployment, fixture, registry};
use crate::resource::ScopeTable;

fn run(files: &FileSet, registry: &dyn RegistryView) -> ReleaseResult {
    let manifests = parse_files(
        files,
        &[String::new()],
        &ScopeTable::builtin(),
        &LoadOptions::default(),
    )
    .unwrap();
    calculate_automation(&ReleaseContext {
        manifests: &manifests,
        files,
        in_cluster: None,
        registry,
    })
}

fn statuses(r: &ReleaseResult) -> Vec<String> {
    r.workloads
        .iter()
        .map(|(id, w)| {
            let changes: Vec<String> = w
                .per_container
                .iter()
                .map(|c| format!("{}={}", c.container, c.target))
                .collect();
            format!(
                "{} {:?} {}{}",
                id.name(),
                w.status,
                w.error,
                changes.join(",")
            )
        })
        .collect()
}

#[test]
fn automated_workloads_move_to_newest_allowed() {
    let files = fixture();
    let r = run(&files, &registry());
    assert_eq!(
        statuses(&r),
        [
            "conflict Failed conflicting annotations for policy automated: flux.weave.works/automated: \"false\" and fluxcd.io/automated: \"true\"",
            "locked Skipped locked",
            "web Success app=r.io/team/web:1.1,proxy=nginx:1.26",
        ]
    );
    let web = String::from_utf8(files.get("web.yaml").unwrap().to_vec()).unwrap();
    let want = web
        .replace("web:1.0 # keep", "web:1.1 # keep")
        .replace("nginx:1.25 # keep", "nginx:1.26 # keep");
    assert_eq!(r.edits.len(), 1);
    assert_eq!(
        (r.edits[0].file.as_str(), r.edits[0].text.as_str()),
        ("web.yaml", want.as_str())
    );
    assert_eq!(
        commit_message(&r),
        "Auto-release multiple (2) images\n\n - nginx:1.26\n - r.io/team/web:1.1\n"
    );
}

#[test]
fn missing_metadata_never_moves_a_container() {
    let at = |s: i64| Some(Utc.timestamp_opt(s, 0).unwrap());
    let mut files = FileSet::new();
    files.insert(
        "a.yaml",
        deployment("a", "fluxcd.io/automated: \"true\"", &[("app", "r.io/x:1")]),
    );
    let x = "r.io/x".parse().unwrap();
    // A newer tag whose metadata is not fetched yet: wait.
    let mut reg = MemoryRegistry::new();
    reg.add(&x, "1", at(1));
    reg.add_tag_only(&x, "2");
    assert_eq!(
        statuses(&run(&files, &reg)),
        ["a Skipped cannot find one or more images"]
    );
    // The current image has no creation time: cannot tell which is newer.
    let mut reg = MemoryRegistry::new();
    reg.add(&x, "1", None);
    reg.add(&x, "2", at(2));
    assert_eq!(
        statuses(&run(&files, &reg)),
        ["a Skipped cannot find one or more images"]
    );
    // Both known: moves.
    let mut reg = MemoryRegistry::new();
    reg.add(&x, "1", at(1));
    reg.add(&x, "2", at(2));
    assert_eq!(statuses(&run(&files, &reg)), ["a Success app=r.io/x:2"]);
    assert_eq!(commit_message(&run(&files, &reg)), "Auto-release r.io/x:2");
    // Up to date, or repository not scanned.
    let mut reg = MemoryRegistry::new();
    reg.add(&x, "1", at(1));
    assert_eq!(
        statuses(&run(&files, &reg)),
        ["a Skipped image(s) up to date"]
    );
    assert_eq!(
        statuses(&run(&files, &MemoryRegistry::new())),
        ["a Skipped image(s) up to date"]
    );
}

#[test]
fn semver_filters_need_no_timestamps() {
    let mut files = FileSet::new();
    files.insert(
        "a.yaml",
        deployment(
            "a",
            "fluxcd.io/automated: \"true\"\nfilter.fluxcd.io/app: semver:>=1.0",
            &[("app", "r.io/x:v1.9.0")],
        ),
    );
    let x = "r.io/x".parse().unwrap();
    let mut reg = MemoryRegistry::new();
    for t in ["v1.9.0", "v1.10.0", "v2.0.0-rc.1", "latest"] {
        reg.add_tag_only(&x, t);
    }
    assert_eq!(
        statuses(&run(&files, &reg)),
        ["a Success app=r.io/x:v1.10.0"]
    );
}
