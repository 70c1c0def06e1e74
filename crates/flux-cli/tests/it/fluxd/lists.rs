//! `list-workloads` and `list-images` against fluxd: the cluster's
//! workloads with their rollout state (the emulator's workload controller
//! completes rollouts) and policies from git, and the tags the real
//! registry holds.

use flux_cli::error::Exit;

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_workloads_and_images_from_a_running_fluxd() {
    let s = setup(Needs {
        registry: true,
        rollouts: true,
    })
    .await;
    s.rolled_out().await;
    let reg = &s.registry;

    // One namespace, with the RELEASE column and the lock from git.
    let run = s.fluxctl(&["list-workloads", "-n", "demo"]).await;
    assert_eq!(
        rows(run.ok()),
        [
            "WORKLOAD CONTAINER IMAGE RELEASE POLICY".to_owned(),
            format!("demo:deployment/web web {reg}/team/web:1.0 ready"),
            format!("init {reg}/team/init:1.0"),
            format!("demo:deployment/worker worker {reg}/team/worker:2.0 ready locked"),
        ],
        "{}",
        run.out
    );
    // Columns are aligned: every row's IMAGE starts where the header's does.
    let column = run.out.lines().next().and_then(|h| h.find("IMAGE"));
    for line in run.out.lines().skip(1) {
        assert_eq!(
            line.find(reg.as_str()),
            column,
            "aligned IMAGE column:\n{}",
            run.out
        );
    }

    // Without -n: the `default` namespace; -a: all of them.
    let run = s.fluxctl(&["list-workloads", "--no-headers"]).await;
    assert_eq!(
        rows(run.ok()),
        [format!(
            "default:deployment/tools tools {reg}/team/tools:0.1 ready"
        )]
    );
    let run = s.fluxctl(&["list-workloads", "-a", "-o", "json"]).await;
    let all: serde_json::Value = serde_json::from_str(run.ok()).expect("JSON");
    let ids: Vec<&str> = all
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|w| w["ID"].as_str())
        .collect();
    assert_eq!(
        ids,
        [
            "default:deployment/tools",
            "demo:deployment/web",
            "demo:deployment/worker"
        ]
    );
    assert_eq!(all[1]["Status"], "ready");
    assert_eq!(all[1]["Rollout"]["Desired"], 2);
    assert_eq!(all[1]["Rollout"]["Ready"], 2);
    assert_eq!(all[2]["Locked"], true);
    // -c keeps the workloads that have such a container.
    let run = s.fluxctl(&["list-workloads", "-a", "-c", "init"]).await;
    let listed = rows(run.ok());
    assert_eq!(listed.len(), 3, "{listed:?}");
    assert!(listed[1].starts_with("demo:deployment/web "), "{listed:?}");

    // Images: every tag the registry has, newest first, the running one
    // marked, with creation times from the images' configs.
    let run = s
        .fluxctl(&["list-images", "-w", "demo:deployment/web"])
        .await;
    assert_eq!(
        rows(run.ok()),
        [
            "WORKLOAD CONTAINER IMAGE CREATED".to_owned(),
            format!("demo:deployment/web web {reg}/team/web"),
            "| 1.2 03 Jan 24 00:00 UTC".to_owned(),
            "| 1.1 02 Jan 24 00:00 UTC".to_owned(),
            "'-> 1.0 01 Jan 24 00:00 UTC".to_owned(),
            format!("init {reg}/team/init"),
            "'-> 1.0 01 Jan 24 00:00 UTC".to_owned(),
        ],
        "{}",
        run.out
    );
    // A namespace, limited to one tag per container.
    let run = s.fluxctl(&["list-images", "-n", "demo", "-l", "1"]).await;
    let listed = rows(run.ok());
    assert!(
        listed.contains(&"| 1.2 03 Jan 24 00:00 UTC".to_owned())
            && listed.contains(&": (1 image(s) omitted)".to_owned())
            && listed.contains(&format!("demo:deployment/worker worker {reg}/team/worker")),
        "{}",
        run.out
    );
    assert!(
        !run.out.contains("team/tools"),
        "other namespaces left out:\n{}",
        run.out
    );
    let run = s
        .fluxctl(&["list-images", "-w", "demo:deployment/web", "-o", "json"])
        .await;
    let images: serde_json::Value = serde_json::from_str(run.ok()).expect("JSON");
    let web = &images[0]["Containers"][0];
    assert_eq!(web["Name"], "web");
    assert_eq!(web["Current"]["ID"], format!("{reg}/team/web:1.0"));
    assert_eq!(web["Available"].as_array().map(Vec::len), Some(3));
    assert!(
        web["Available"][0]["Digest"]
            .as_str()
            .is_some_and(|d| d.starts_with("sha256:")),
        "{web}"
    );
    // A workload fluxd does not know lists nothing, as Flux v1's did.
    let run = s
        .fluxctl(&["list-images", "-w", "demo:deployment/nope"])
        .await;
    assert_eq!(rows(run.ok()), ["WORKLOAD CONTAINER IMAGE CREATED"]);

    // fluxd gone: exit 3, saying so.
    let url = s.fluxd.api_url();
    s.fluxd.stop().await;
    for args in [&["list-workloads"][..], &["list-images", "-n", "demo"]] {
        let mut argv = vec!["--url", url.as_str()];
        argv.extend_from_slice(args);
        let run = fluxctl_bin(&argv, &[]).await;
        let err = run.fails(Exit::Unreachable);
        assert!(err.contains("cannot reach the Flux daemon"), "{err}");
    }
}
