//! `--source` and `list-sources` against a fluxd syncing two repositories
//! (`--config`): each command acts on the source named (its workloads,
//! its sync, its commits), none on the first, an unknown name fails naming
//! the sources there are.

use flux_cli::error::Exit;
use flux_testbed::git::BareRepo;

use super::*;

/// A Deployment `name` in namespace `ns`.
fn deployment(ns: &str, name: &str) -> Vec<u8> {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n  namespace: {ns}\nspec:\n  selector:\n    matchLabels: {{app: {name}}}\n  template:\n    metadata:\n      labels: {{app: {name}}}\n    spec:\n      containers:\n      - name: {name}\n        image: registry.example.com/team/{name}:1.0\n"
    )
    .into_bytes()
}

/// The bed's repository as source `apps` (namespace `apps`), and a second
/// one as source `team` (namespace `team`); the second and its URL.
async fn two_sources() -> (Setup, BareRepo, String) {
    let bed = TestBed::start(&[("a.yaml", &deployment("apps", "a"))])
        .await
        .expect("test bed");
    for ns in ["apps", "team"] {
        bed.kubectl
            .run(&["create", "namespace", ns])
            .expect_ok("create namespace");
    }
    let (fluxd, team, team_url) = bed
        .start_apps_and_team(&[("b.yaml", &deployment("team", "b"))], PATIENCE)
        .await
        .expect("fluxd with sources apps and team");
    let home = super::fluxctl_home(&bed);
    let s = Setup {
        bed,
        fluxd,
        registry: "registry.example.com".into(),
        home,
    };
    (s, team, team_url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn source_flag_and_list_sources() {
    let (s, team, team_url) = two_sources().await;
    let apps_head = s.head();
    let team_head = team.head("master").expect("head").expect("a commit");

    // list-sources: both, with their heads.
    let run = s.fluxctl(&["list-sources"]).await;
    let table = rows(run.ok());
    assert_eq!(table[0], "NAME URL BRANCH HEAD SYNCED ERROR", "{}", run.out);
    assert_eq!(
        table[1..],
        [
            format!(
                "apps {} master {} {}",
                s.bed.git_url,
                &apps_head[..7],
                &apps_head[..7]
            ),
            format!(
                "team {team_url} master {} {}",
                &team_head[..7],
                &team_head[..7]
            ),
        ],
        "{}",
        run.out
    );
    let run = s.fluxctl(&["list-sources", "-o", "json"]).await;
    let json: serde_json::Value = serde_json::from_str(run.ok()).expect("JSON");
    assert_eq!(json[1]["name"], "team");
    assert_eq!(json[1]["head"], team_head.as_str());

    // list-workloads: each source's own; without --source, the first's.
    let ids = |out: &str| -> Vec<String> {
        rows(out)
            .iter()
            .skip(1)
            .filter_map(|r| r.split(' ').next().map(str::to_owned))
            .collect()
    };
    let run = s.fluxctl(&["list-workloads", "-a"]).await;
    assert_eq!(ids(run.ok()), ["apps:deployment/a"]);
    let run = s
        .fluxctl(&["--source", "team", "list-workloads", "-a"])
        .await;
    assert_eq!(ids(run.ok()), ["team:deployment/b"]);

    // sync with FLUX_SOURCE=team: team's commit applied; apps untouched.
    let apps_log = s.subjects();
    let theirs = team
        .commit_files(
            &[(
                "settings.yaml",
                b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: team\ndata:\n  level: debug\n",
            )],
            "team's settings",
        )
        .expect("commit");
    let url = s.fluxd.api_url();
    let run = fluxctl_bin(&["--url", &url, "sync"], &s.env(&[("FLUX_SOURCE", "team")])).await;
    run.ok();
    assert!(
        run.err
            .starts_with(&format!("Synchronizing with {team_url}\n")),
        "{}",
        run.err
    );
    assert!(
        run.err
            .contains(&format!("Revision of master to apply is {}", &theirs[..7])),
        "{}",
        run.err
    );
    assert_eq!(
        s.kubectl(&[
            "get",
            "configmap",
            "settings",
            "-n",
            "team",
            "-o",
            "jsonpath={.data.level}"
        ]),
        "debug"
    );

    // A policy change through --source commits to team's repository only.
    let run = s
        .fluxctl(&["--source=team", "automate", "-w", "team:deployment/b"])
        .await;
    run.ok();
    assert_eq!(
        team.subjects("master").expect("log")[0],
        "Automated: team:deployment/b"
    );
    let b = String::from_utf8(team.show("master", "b.yaml").expect("show")).expect("UTF-8");
    assert!(b.contains("fluxcd.io/automated: \"true\""), "{b}");
    assert_eq!(s.subjects(), apps_log, "nothing committed to apps");

    // An unknown source: exit 1, naming it and the sources there are.
    let run = s.fluxctl(&["--source", "nope", "list-workloads"]).await;
    let err = run.fails(Exit::Failed);
    assert!(
        err.contains("unknown source \"nope\": fluxd's sources are apps, team"),
        "{err}"
    );
    s.fluxd.stop().await;
}
