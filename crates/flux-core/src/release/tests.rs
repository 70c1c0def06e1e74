use std::collections::{BTreeMap, BTreeSet};

use chrono::{TimeZone, Utc};

use super::*;
use crate::manifest::{FileSet, LoadOptions, parse_files};
use crate::registry::MemoryRegistry;
use crate::resource::ScopeTable;

pub(crate) fn deployment(name: &str, annotations: &str, containers: &[(&str, &str)]) -> String {
    let mut s = format!("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n");
    if !annotations.is_empty() {
        s += "  annotations:\n";
        for line in annotations.lines() {
            s += &format!("    {line}\n");
        }
    }
    s += "spec:\n  template:\n    spec:\n      containers:\n";
    for (c, image) in containers {
        s += &format!("      - name: {c}\n        image: {image} # keep\n");
    }
    s
}

/// A repository of workloads covering every release rule.
pub(crate) fn fixture() -> FileSet {
    let mut files = FileSet::new();
    files.insert(
        "web.yaml",
        deployment(
            "web",
            "fluxcd.io/automated: \"true\"\nfluxcd.io/tag.app: semver:~1",
            &[("app", "r.io/team/web:1.0"), ("proxy", "nginx:1.25")],
        ),
    );
    files.insert(
        "locked.yaml",
        deployment(
            "locked",
            "fluxcd.io/locked: \"true\"\nfluxcd.io/automated: \"true\"",
            &[("app", "r.io/team/web:1.0")],
        ),
    );
    files.insert(
        "ignored.yaml",
        deployment(
            "ignored",
            "fluxcd.io/ignore: \"true\"",
            &[("app", "r.io/team/web:1.0")],
        ),
    );
    files.insert(
        "proxy.yaml",
        deployment("proxy", "", &[("nginx", "docker.io/library/nginx:1.25")]),
    );
    files.insert(
        "helm.yaml",
        "apiVersion: helm.fluxcd.io/v1\nkind: HelmRelease\nmetadata:\n  name: chart\nspec:\n  values:\n    image:\n      repository: r.io/team/web\n      tag: \"1.0\"\n",
    );
    files.insert(
        "broken.yaml",
        deployment("broken", "", &[("app", "\"{{ .Values.image }}\"")]),
    );
    files.insert(
        "conflict.yaml",
        deployment(
            "conflict",
            "fluxcd.io/automated: \"true\"\nflux.weave.works/automated: \"false\"",
            &[("app", "r.io/team/web:1.0")],
        ),
    );
    files
}

pub(crate) fn registry() -> MemoryRegistry {
    let at = |s: i64| Some(Utc.timestamp_opt(s, 0).unwrap());
    let web = "r.io/team/web".parse().unwrap();
    let nginx = "nginx".parse().unwrap();
    let mut r = MemoryRegistry::new();
    for (tag, t) in [
        ("1.0", 100),
        ("1.1", 200),
        ("2.0", 300),
        ("latest", 400),
        ("master-abc", 500),
    ] {
        r.add(&web, tag, at(t));
    }
    r.add(&nginx, "1.25", at(10));
    r.add(&nginx, "1.26", at(20));
    r
}

fn id(s: &str) -> ResourceId {
    s.parse().unwrap()
}

fn spec(image: &str) -> ReleaseSpec {
    ReleaseSpec {
        workloads: None,
        image: image.parse().unwrap(),
        kind: ReleaseKind::Execute,
        excludes: Vec::new(),
        force: false,
    }
}

fn run(
    files: &FileSet,
    spec: &ReleaseSpec,
    in_cluster: Option<&BTreeSet<ResourceId>>,
) -> ReleaseResult {
    let manifests = parse_files(
        files,
        &[String::new()],
        &ScopeTable::builtin(),
        &LoadOptions::default(),
    )
    .unwrap();
    let registry = registry();
    let cx = ReleaseContext {
        manifests: &manifests,
        files,
        in_cluster,
        registry: &registry,
    };
    calculate_release(spec, &cx).unwrap()
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
fn specific_image_to_all() {
    let files = fixture();
    let r = run(&files, &spec("r.io/team/web:1.1"), None);
    assert_eq!(
        statuses(&r),
        [
            "broken Failed container app: invalid image reference \"{{ .Values.image }}\": it contains the character ' '",
            "conflict Failed conflicting annotations for policy automated: flux.weave.works/automated: \"false\" and fluxcd.io/automated: \"true\"",
            "ignored Skipped ignore",
            "locked Skipped locked",
            "proxy Ignored a different image",
            "web Success app=r.io/team/web:1.1",
            "chart Success chart-image=r.io/team/web:1.1",
        ]
    );
    let edits: Vec<(&str, String)> = r
        .edits
        .iter()
        .map(|e| (e.file.as_str(), e.text.clone()))
        .collect();
    let original = |f: &str| String::from_utf8(files.get(f).unwrap().to_vec()).unwrap();
    assert_eq!(
        edits,
        [
            (
                "helm.yaml",
                original("helm.yaml").replace("tag: \"1.0\"", "tag: \"1.1\"")
            ),
            (
                "web.yaml",
                original("web.yaml").replace("web:1.0 # keep", "web:1.1 # keep")
            ),
        ]
    );
    assert_eq!(r.changed_images(), ["r.io/team/web:1.1"]);
    assert!(r.error().unwrap().starts_with(
        "Multiple workloads failed: default:deployment/broken, default:deployment/conflict"
    ));
}

#[test]
fn all_latest_follows_tag_filters() {
    let r = run(&fixture(), &spec(ALL_LATEST), None);
    let s = statuses(&r);
    // app: semver:~1 allows 1.0 and 1.1; proxy: no filter, newest by time.
    assert!(
        s.contains(&"web Success app=r.io/team/web:1.1,proxy=nginx:1.26".to_owned()),
        "{s:?}"
    );
    // No filter: newest by creation time, never `latest`.
    assert!(
        s.contains(&"chart Success chart-image=r.io/team/web:master-abc".to_owned()),
        "{s:?}"
    );
    assert!(
        s.contains(&"proxy Success nginx=docker.io/library/nginx:1.26".to_owned()),
        "{s:?}"
    );
}

#[test]
fn selection_rules() {
    let mut s = spec("r.io/team/web:1.1");
    s.workloads = Some(vec![
        id("default:deployment/web"),
        id("default:deployment/locked"),
        id("default:deployment/gone"),
        id("default:deployment/chart"),
    ]);
    s.excludes = vec![id("default:deployment/web")];
    let running = BTreeSet::from([
        id("default:deployment/web"),
        id("default:deployment/locked"),
    ]);
    let r = run(&fixture(), &s, Some(&running));
    assert_eq!(
        statuses(&r),
        [
            "broken Ignored not included",
            "chart Skipped not found in repository",
            "conflict Ignored not included",
            "gone Skipped not found in repository",
            "ignored Ignored not included",
            "locked Skipped locked",
            "proxy Ignored not included",
            "web Ignored excluded",
            "chart Ignored not included",
        ]
    );
}

#[test]
fn not_in_cluster_and_forced_locks() {
    let mut s = spec("r.io/team/web:1.1");
    s.workloads = Some(vec![
        id("default:deployment/locked"),
        id("default:deployment/ignored"),
    ]);
    s.force = true;
    let running = BTreeSet::from([id("default:deployment/locked")]);
    let r = run(&fixture(), &s, Some(&running));
    let got = statuses(&r);
    assert!(
        got.contains(&"locked Success app=r.io/team/web:1.1".to_owned()),
        "{got:?}"
    );
    assert!(
        got.contains(&"ignored Skipped not accessible in cluster".to_owned()),
        "{got:?}"
    );
    // Forcing --all does not override locks (Flux v1).
    let mut all = spec("r.io/team/web:1.1");
    all.force = true;
    let got = statuses(&run(&fixture(), &all, None));
    assert!(got.contains(&"locked Skipped locked".to_owned()), "{got:?}");
}

#[test]
fn tag_filter_refuses_a_specific_image_unless_forced() {
    let mut s = spec("r.io/team/web:2.0");
    s.workloads = Some(vec![id("default:deployment/web")]);
    let got = statuses(&run(&fixture(), &s, None));
    assert!(
        got.contains(&"web Skipped cannot find one or more images".to_owned()),
        "{got:?}"
    );
    s.force = true;
    let got = statuses(&run(&fixture(), &s, None));
    assert!(
        got.contains(&"web Success app=r.io/team/web:2.0".to_owned()),
        "{got:?}"
    );
    let mut up = spec("r.io/team/web:1.0");
    up.workloads = Some(vec![id("default:deployment/web")]);
    let got = statuses(&run(&fixture(), &up, None));
    assert!(
        got.contains(&"web Skipped image(s) up to date".to_owned()),
        "{got:?}"
    );
}

#[test]
fn unknown_image_fails_the_release() {
    let files = fixture();
    let manifests = parse_files(
        &files,
        &[String::new()],
        &ScopeTable::builtin(),
        &LoadOptions::default(),
    )
    .unwrap();
    let registry = registry();
    let cx = ReleaseContext {
        manifests: &manifests,
        files: &files,
        in_cluster: None,
        registry: &registry,
    };
    let e = calculate_release(&spec("r.io/team/web:9.9"), &cx).unwrap_err();
    assert_eq!(
        e.to_string(),
        "image r.io/team/web:9.9 does not exist (or is not yet known to the registry cache)"
    );
    assert!(
        "nginx"
            .parse::<ImageSpec>()
            .unwrap_err()
            .to_string()
            .contains("has no tag")
    );
}

#[test]
fn a_failed_edit_fails_only_its_workload() {
    let mut files = FileSet::new();
    files.insert(
        "two.yaml",
        format!(
            "{}---\nimg: &img r.io/team/web:1.0\n{}",
            deployment("good", "", &[("app", "r.io/team/web:1.0")]),
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: aliased\nspec:\n  template:\n    spec:\n      containers:\n      - name: app\n        image: *img\n"
        ),
    );
    let r = run(&files, &spec("r.io/team/web:1.1"), None);
    let got = statuses(&r);
    assert!(got[0].starts_with("aliased Failed two.yaml:"), "{got:?}");
    assert!(got[0].contains("YAML alias"), "{got:?}");
    assert_eq!(got[1], "good Success app=r.io/team/web:1.1");
    assert_eq!(r.edits.len(), 1);
    assert!(r.edits[0].text.contains("image: r.io/team/web:1.1 # keep"));
    assert!(r.edits[0].text.contains("image: *img"));
}

#[test]
fn spec_json_is_flux_v1s() {
    let json = r#"{"ServiceSpecs":["<all>"],"ImageSpec":"<all latest>","Kind":"plan","Excludes":null,"Force":false}"#;
    let s: ReleaseSpec = serde_json::from_str(json).unwrap();
    assert_eq!(s.workloads, None);
    assert_eq!(s.image, ImageSpec::Latest);
    assert_eq!(s.kind, ReleaseKind::Plan);
    assert_eq!(serde_json::to_string(&s).unwrap(), json);
    let json = r#"{"ServiceSpecs":["demo:deployment/web"],"ImageSpec":"nginx:1.26","Kind":"execute","Excludes":["demo:deployment/x"],"Force":true}"#;
    let s: ReleaseSpec = serde_json::from_str(json).unwrap();
    assert_eq!(
        s.commit_message(),
        "Release nginx:1.26 to demo:deployment/web"
    );
    assert_eq!(serde_json::to_string(&s).unwrap(), json);
    assert_eq!(
        spec(ALL_LATEST).commit_message(),
        "Release all latest to all"
    );
    let result = WorkloadResult::success(vec![ContainerUpdate {
        container: "app".into(),
        current: "nginx:1.25".parse().unwrap(),
        target: "nginx:1.26".parse().unwrap(),
    }]);
    assert_eq!(
        serde_json::to_string(&result).unwrap(),
        r#"{"Status":"success","PerContainer":[{"Container":"app","Current":"nginx:1.25","Target":"nginx:1.26"}]}"#
    );
}

#[test]
fn policy_updates_edit_each_workload_on_its_own() {
    use crate::policy::{Policy, PolicyUpdate};
    use std::collections::BTreeMap;
    let files = fixture();
    let manifests = parse_files(
        &files,
        &[String::new()],
        &ScopeTable::builtin(),
        &LoadOptions::default(),
    )
    .unwrap();
    let updates = BTreeMap::from([
        (
            id("default:deployment/web"),
            PolicyUpdate::adding(Policy::TagAll, "semver:^1"),
        ),
        (id("default:deployment/locked"), PolicyUpdate::unlock()),
        (
            id("default:deployment/proxy"),
            PolicyUpdate::lock(Some("jane"), Some("incident 7")),
        ),
        (id("default:deployment/ignored"), PolicyUpdate::deautomate()),
        (id("default:deployment/gone"), PolicyUpdate::automate()),
        (
            id("default:helmrelease/chart"),
            PolicyUpdate::adding(Policy::Tag("chart-image".into()), "semver:banana"),
        ),
    ]);
    let r = calculate_policy_updates(&manifests, &files, &updates);
    let got = statuses(&r);
    assert_eq!(
        got[..5],
        [
            "gone Failed not found in repository",
            "ignored Skipped policies unchanged",
            "locked Success ",
            "proxy Success ",
            "web Success ",
        ]
    );
    assert!(
        got[5].starts_with("chart Failed annotation fluxcd.io/tag.chart-image: invalid tag pattern \"semver:banana\""),
        "{got:?}"
    );
    let text = |f: &str| {
        r.edits
            .iter()
            .find(|e| e.file == f)
            .map(|e| e.text.clone())
            .unwrap()
    };
    let original = |f: &str| String::from_utf8(files.get(f).unwrap().to_vec()).unwrap();
    assert_eq!(
        text("web.yaml"),
        original("web.yaml").replace(
            "    fluxcd.io/tag.app: semver:~1\n",
            "    fluxcd.io/tag.app: semver:^1\n    fluxcd.io/tag.proxy: semver:^1\n"
        )
    );
    assert_eq!(
        text("locked.yaml"),
        original("locked.yaml").replace("    fluxcd.io/locked: \"true\"\n", "")
    );
    assert_eq!(
        text("proxy.yaml"),
        original("proxy.yaml").replace(
            "  name: proxy\n",
            "  name: proxy\n  annotations:\n    fluxcd.io/locked: \"true\"\n    fluxcd.io/locked_msg: incident 7\n    fluxcd.io/locked_user: jane\n"
        )
    );
    assert_eq!(r.edits.len(), 3);
}

#[test]
fn containers_release_checks_each_container() {
    let json = r#"{"Kind":"execute","ContainerSpecs":{
        "default:deployment/web":[{"Container":"app","Current":"r.io/team/web:1.0","Target":"r.io/team/web:2.0"},
                                  {"Container":"proxy","Current":"","Target":"nginx:1.26"}],
        "default:deployment/proxy":[{"Container":"nope","Current":"","Target":"nginx:1.26"}],
        "default:deployment/locked":[{"Container":"app","Current":"","Target":"r.io/team/web:2.0"}],
        "default:deployment/conflict":[{"Container":"app","Current":"r.io/team/web:0.9","Target":"r.io/team/web:2.0"}],
        "default:deployment/gone":[{"Container":"app","Current":"","Target":"x:1"}]
    },"SkipMismatches":false,"Force":false}"#;
    let mut spec: ContainersSpec = serde_json::from_str(json).unwrap();
    let files = fixture();
    let manifests = parse_files(
        &files,
        &[String::new()],
        &ScopeTable::builtin(),
        &LoadOptions::default(),
    )
    .unwrap();
    let registry = registry();
    let cx = ReleaseContext {
        manifests: &manifests,
        files: &files,
        in_cluster: None,
        registry: &registry,
    };
    let r = calculate_containers_release(&spec, &cx);
    let got = statuses(&r);
    assert_eq!(
        got,
        [
            "broken Ignored not included",
            "conflict Failed conflicting annotations for policy automated: flux.weave.works/automated: \"false\" and fluxcd.io/automated: \"true\"",
            "gone Skipped not found in repository",
            "ignored Ignored not included",
            "locked Skipped locked",
            "proxy Failed container(s) not found: nope (the workload has: nginx)",
            "web Success app=r.io/team/web:2.0,proxy=nginx:1.26",
            "chart Ignored not included",
        ]
    );
    assert_eq!(r.edits.len(), 1);
    // A mismatch fails the workload unless skipped.
    let mismatch = BTreeMap::from([(
        id("default:deployment/web"),
        vec![ContainerSpec {
            container: "app".into(),
            current: Some("r.io/team/web:0.9".parse().unwrap()),
            target: "r.io/team/web:2.0".parse().unwrap(),
        }],
    )]);
    spec.container_specs = mismatch;
    let r = calculate_containers_release(&spec, &cx);
    assert_eq!(
        r.workloads[&id("default:deployment/web")].error,
        "container(s) tag mismatch: app"
    );
    assert_eq!(
        r.workloads[&id("default:deployment/web")].status,
        Status::Failed
    );
    spec.skip_mismatches = true;
    let r = calculate_containers_release(&spec, &cx);
    assert_eq!(
        r.workloads[&id("default:deployment/web")].status,
        Status::Skipped
    );
    assert!(r.edits.is_empty());
}

#[test]
fn image_fields_that_are_not_strings_fail_only_their_workload() {
    let mut files = FileSet::new();
    files.insert(
        "good.yaml",
        deployment(
            "good",
            "fluxcd.io/tag.app: semver:~1",
            &[("app", "r.io/team/web:1.0")],
        ),
    );
    files.insert("number.yaml", deployment("number", "", &[("app", "5")]));
    files.insert(
        "mapping.yaml",
        deployment("mapping", "", &[("app", "{repository: r.io/team/web}")]),
    );
    for image in ["r.io/team/web:1.1", ALL_LATEST] {
        let r = run(&files, &spec(image), None);
        let got = statuses(&r);
        assert_eq!(
            got,
            [
                "good Success app=r.io/team/web:1.1",
                "mapping Failed spec.template.spec.containers[0].image: container app: image must be a string",
                "number Failed spec.template.spec.containers[0].image: container app: image must be a string",
            ],
            "{image}"
        );
        assert_eq!(r.edits.len(), 1, "{image}");
        assert_eq!(r.edits[0].file, "good.yaml");
    }
}
