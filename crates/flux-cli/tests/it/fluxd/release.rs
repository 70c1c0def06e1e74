//! `release` against fluxd: a dry run commits nothing, a release commits
//! exactly the tag and is applied before fluxctl says so, `--watch` follows
//! the rollout the emulator's workload controller completes, and refusals
//! (an unknown workload, a lock) fail with fluxd's reasons.

use flux_cli::error::Exit;

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn release_dry_run_execute_and_watch() {
    let s = setup(Needs {
        registry: true,
        rollouts: true,
    })
    .await;
    s.rolled_out().await;
    let reg = &s.registry;
    let first = s.head();
    let original = s.file("demo/web.yaml");
    let image = |tag: &str| format!("{reg}/team/web:{tag}");

    // A dry run: fluxd's plan, and nothing in git.
    let run = s
        .fluxctl(&[
            "release",
            "-n",
            "demo",
            "--workload",
            "deployment/web",
            "-i",
            &image("1.1"),
            "--dry-run",
        ])
        .await;
    assert_eq!(
        rows(run.ok()),
        [
            "WORKLOAD STATUS UPDATES".to_owned(),
            format!("demo:deployment/web success web: {} -> 1.1", image("1.0")),
        ],
        "{}",
        run.out
    );
    assert!(
        run.err.starts_with("Submitting dry-run release ..."),
        "{}",
        run.err
    );
    assert_eq!(s.head(), first, "a dry run commits nothing");

    // Executed: one commit changing the tag only, applied before fluxctl
    // says so; the user is git's (from fluxctl's HOME).
    let run = s
        .fluxctl(&[
            "release",
            "--workload",
            "demo:deployment/web",
            "-i",
            &image("1.1"),
            "-m",
            "Ship 1.1",
        ])
        .await;
    assert_eq!(
        rows(run.ok()),
        [
            "WORKLOAD STATUS UPDATES".to_owned(),
            format!("demo:deployment/web success web: {} -> 1.1", image("1.0")),
        ]
    );
    let head = s.head();
    assert_ne!(head, first);
    let short = &head[..7];
    assert!(
        run.err.contains(&format!("Commit pushed:\t{short}\n"))
            && run.err.ends_with(&format!("Commit applied:\t{short}\n")),
        "{}",
        run.err
    );
    assert_eq!(s.subjects()[0], "Ship 1.1");
    assert_eq!(
        s.file("demo/web.yaml"),
        original.replace("team/web:1.0 #", "team/web:1.1 #")
    );
    let note = s
        .bed
        .repo
        .git(&["notes", "--ref=flux", "show", "master"])
        .expect("note");
    let note: serde_json::Value = serde_json::from_str(&note).expect("JSON note");
    assert_eq!(note["spec"]["cause"]["User"], "Jo Ops <jo@example.com>");
    assert_eq!(note["spec"]["spec"]["Kind"], "execute");
    // "applied" means applied: the cluster has it now.
    assert_eq!(
        s.kubectl(&[
            "get",
            "-n",
            "demo",
            "deployment/web",
            "-o",
            "jsonpath={.spec.template.spec.containers[0].image}",
        ]),
        image("1.1")
    );

    // --update-all-images --watch: the newest tag, then the rollout
    // followed until the controller reports it complete.
    let run = s
        .fluxctl(&[
            "release",
            "--workload",
            "demo:deployment/web",
            "--update-all-images",
            "--watch",
        ])
        .await;
    let out = rows(run.ok());
    assert_eq!(
        out[..2],
        [
            "WORKLOAD STATUS UPDATES".to_owned(),
            format!("demo:deployment/web success web: {} -> 1.2", image("1.1")),
        ],
        "{}",
        run.out
    );
    assert!(
        out.contains(&"WORKLOAD CONTAINER IMAGE RELEASE REPLICAS".to_owned()),
        "{}",
        run.out
    );
    // The last table shows the new image rolled out on both replicas.
    let last = out
        .iter()
        .rev()
        .find(|l| l.starts_with("demo:deployment/web "))
        .expect("a watch row");
    assert_eq!(
        last,
        &format!("demo:deployment/web web {} ready 2/2", image("1.2")),
        "{}",
        run.out
    );
    assert!(
        run.err
            .ends_with("Monitoring rollout ...\nAll workloads ready.\n"),
        "{}",
        run.err
    );
    // Flux v1's subject for --update-all-images.
    assert_eq!(s.subjects()[0], "Release all latest to demo:deployment/web");
    let done = s.kubectl(&[
        "get",
        "-n",
        "demo",
        "deployment/web",
        "-o",
        "jsonpath={.status.updatedReplicas}/{.status.readyReplicas}",
    ]);
    assert_eq!(done, "2/2");

    // Refusals: an unknown workload, and a locked one (without --force).
    let before = s.head();
    let run = s
        .fluxctl(&[
            "release",
            "--workload",
            "demo:deployment/nope",
            "-i",
            &image("1.2"),
            "-v",
        ])
        .await;
    let err = run.fails(Exit::Failed);
    assert!(err.contains("no changes made in repo"), "{err}");
    assert_eq!(
        rows(&run.out),
        [
            "WORKLOAD STATUS UPDATES",
            "demo:deployment/nope skipped not found in repository"
        ]
    );
    let worker = format!("{reg}/team/worker:2.1");
    let run = s
        .fluxctl(&[
            "release",
            "--workload",
            "demo:deployment/worker",
            "-i",
            &worker,
            "-v",
        ])
        .await;
    let err = run.fails(Exit::Failed);
    assert!(err.contains("no changes made in repo"), "{err}");
    assert_eq!(
        rows(&run.out),
        [
            "WORKLOAD STATUS UPDATES",
            "demo:deployment/worker skipped locked"
        ]
    );
    assert_eq!(s.head(), before, "nothing committed");
    // --force releases it anyway.
    let run = s
        .fluxctl(&[
            "release",
            "--workload",
            "demo:deployment/worker",
            "-i",
            &worker,
            "--force",
        ])
        .await;
    run.ok();
    assert!(s.file("demo/worker.yaml").contains("team/worker:2.1"));

    // fluxd gone: exit 3, and nothing sent.
    let url = s.fluxd.api_url();
    s.fluxd.stop().await;
    let run = fluxctl_bin(
        &[
            "--url",
            &url,
            "release",
            "--workload",
            "demo:deployment/web",
            "-i",
            &image("1.0"),
        ],
        &[],
    )
    .await;
    let err = run.fails(Exit::Unreachable);
    assert!(err.contains("cannot reach the Flux daemon"), "{err}");
}

/// `release --interactive` with keys on stdin: the plan's updates offered,
/// all selected; `q` releases nothing; unselecting one releases the other
/// alone (one commit, applied); nothing left to update ends quietly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn release_interactive_releases_what_was_chosen() {
    let s = setup(Needs {
        registry: true,
        rollouts: false,
    })
    .await;
    let reg = &s.registry;
    let first = s.head();
    let args = [
        "release",
        "--workload",
        "demo:deployment/web",
        "--workload",
        "demo:deployment/worker",
        "--update-all-images",
        "--force",
        "--interactive",
    ];

    // The menu, then `q`: aborted, nothing released.
    let run = s.fluxctl_typing(&args, b"q").await;
    let menu = vec![
        "WORKLOAD STATUS UPDATES".to_owned(),
        format!("⇒ ◉ demo:deployment/web success web: {reg}/team/web:1.0 -> 1.2"),
        format!("◉ demo:deployment/worker success worker: {reg}/team/worker:2.0 -> 2.1"),
        String::new(),
        "Use arrow keys and [Space] to toggle updates; hit [Enter] to release selected.".to_owned(),
    ];
    assert_eq!(rows(run.ok()), menu, "{}", run.out);
    assert!(
        run.err.contains("Submitting dry-run release ...\n")
            && run.err.ends_with(" ...\nAborted.\n"),
        "{}",
        run.err
    );
    assert_eq!(s.head(), first, "nothing committed");

    // Down to the worker, unselect it, Enter: the web alone is released.
    let run = s.fluxctl_typing(&args, b"j \r").await;
    let out = rows(run.ok());
    assert_eq!(out[..5], menu[..], "{}", run.out);
    assert_eq!(
        out[5..],
        [
            "WORKLOAD STATUS UPDATES".to_owned(),
            format!("demo:deployment/web success web: {reg}/team/web:1.0 -> 1.2"),
        ],
        "{}",
        run.out
    );
    let head = s.head();
    assert_ne!(head, first);
    assert!(
        run.err.contains("Submitting selected release ...\n")
            && run
                .err
                .ends_with(&format!("Commit applied:\t{}\n", &head[..7])),
        "{}",
        run.err
    );
    assert_eq!(s.bed.repo.subjects("master").expect("log").len(), 2);
    assert!(s.file("demo/web.yaml").contains("team/web:1.2 #"));
    assert!(s.file("demo/worker.yaml").contains("team/worker:2.0"));
    assert_eq!(
        s.kubectl(&[
            "get",
            "-n",
            "demo",
            "deployment/web",
            "-o",
            "jsonpath={.spec.template.spec.containers[0].image}",
        ]),
        format!("{reg}/team/web:1.2")
    );

    // The web has nothing newer: no menu, nothing released, exit 0.
    let run = s
        .fluxctl_typing(
            &[
                "release",
                "--workload",
                "demo:deployment/web",
                "--update-all-images",
                "--interactive",
            ],
            b"\r",
        )
        .await;
    assert_eq!(run.ok(), "");
    assert!(run.err.ends_with("No changes found.\n"), "{}", run.err);
    assert_eq!(s.head(), head);

    // With --local it is refused.
    let run = fluxctl_bin(
        &[
            "release",
            "--local",
            ".",
            "--all",
            "-i",
            "registry.example.com/x:1",
            "--interactive",
        ],
        &s.env(&[]),
    )
    .await;
    let err = run.fails(Exit::Usage);
    assert!(
        err.contains("--interactive is not available with --local"),
        "{err}"
    );
}
