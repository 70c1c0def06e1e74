//! docs/prometheus-rules.yaml against the real thing: every metric its
//! rules name is served by a running fluxd, once fluxd has done what the
//! metric counts (a sync, a job, a registry that cannot be reached); and
//! Prometheus' own `promtool` accepts the rules and passes their tests.

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use flux_daemon::testing::{TestBed, read_tree};
use serde_json::Value;

use crate::util::{fluxctl, repo_root};

/// The `flux_…` metric names in the rules' expressions.
fn rule_metrics() -> BTreeSet<String> {
    let text = std::fs::read_to_string(repo_root().join("docs/prometheus-rules.yaml"))
        .expect("docs/prometheus-rules.yaml");
    let rules: Value = serde_saphyr::from_str(&text).expect("YAML");
    let mut names = BTreeSet::new();
    for group in rules["groups"].as_array().expect("groups") {
        for rule in group["rules"].as_array().expect("rules") {
            let expr = rule["expr"].as_str().expect("an expr");
            let mut word = String::new();
            for c in expr.chars().chain(std::iter::once(' ')) {
                if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
                    word.push(c);
                } else {
                    if word.starts_with("flux_") {
                        names.insert(std::mem::take(&mut word));
                    }
                    word.clear();
                }
            }
        }
    }
    names
}

/// The sample names in an exposition (`name{…} value`, `name value`).
fn sample_names(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metric_the_example_rules_use_is_served_by_fluxd() {
    let wanted = rule_metrics();
    assert!(wanted.len() >= 7, "rules name too few metrics: {wanted:?}");

    // The example repository plus a workload whose registry cannot be
    // reached (nothing listens on port 1), so scans back off.
    let mut files = read_tree(&repo_root().join("examples/config-repo")).expect("example");
    files.push((
        "workloads/unreachable.yaml".to_owned(),
        b"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: unreachable\n  namespace: demo\nspec:\n  selector:\n    matchLabels: {app: unreachable}\n  template:\n    metadata:\n      labels: {app: unreachable}\n    spec:\n      containers:\n      - name: app\n        image: 127.0.0.1:1/team/app:1.0\n"
            .to_vec(),
    ));
    let files: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(p, b)| (p.as_str(), b.as_slice()))
        .collect();
    let bed = TestBed::start(&files).await.expect("test bed");
    let fluxd = bed
        .start_fluxd(
            "state",
            &[
                "--registry-disable-scanning=false",
                "--registry-insecure-host=127.0.0.1:1",
                "--registry-include-image=127.0.0.1:1/*",
            ],
        )
        .await
        .expect("fluxd starts");
    fluxd
        .wait_git_ready(Duration::from_secs(60))
        .await
        .expect("repository ready");

    // A job, as fluxctl asks for one.
    let url = fluxd.api_url();
    let run = tokio::task::spawn_blocking(move || fluxctl(&["--url", &url, "sync"]))
        .await
        .expect("fluxctl task");
    assert_eq!(
        run.exit,
        flux_cli::error::Exit::Success,
        "fluxctl sync: {}{}",
        run.stdout,
        run.stderr
    );

    let client = reqwest::Client::new();
    let metrics_url = format!("{}/metrics", fluxd.root_url());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    let missing = loop {
        let text = client
            .get(&metrics_url)
            .send()
            .await
            .expect("GET /metrics")
            .text()
            .await
            .expect("body");
        let served = sample_names(&text);
        let missing: Vec<&String> = wanted.iter().filter(|n| !served.contains(*n)).collect();
        if missing.is_empty() || tokio::time::Instant::now() > deadline {
            break missing
                .into_iter()
                .map(|n| format!("{n} (served: {served:?})"))
                .collect::<Vec<_>>();
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    fluxd.stop().await;
    assert!(
        missing.is_empty(),
        "docs/prometheus-rules.yaml names metrics fluxd does not serve: {missing:?}"
    );
}

#[test]
fn promtool_accepts_the_rules_and_passes_their_tests() {
    let docs = repo_root().join("docs");
    for args in [
        &["check", "rules", "prometheus-rules.yaml"][..],
        &["test", "rules", "prometheus-rules.test.yaml"][..],
    ] {
        let out = Command::new("promtool")
            .args(args)
            .current_dir(&docs)
            .output()
            .expect("promtool runs (scripts/install-deps installs Debian's prometheus)");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "promtool {args:?}:\n{text}");
        assert!(text.contains("SUCCESS"), "promtool {args:?}:\n{text}");
    }
}
