//! The demo as `scripts/demo` runs it: the real `flux-demo` binary, with
//! no terminal and no input, so the README's first command cannot rot.
//!
//! - run to the end: it exits 0 on its own, printed every step, and left
//!   nothing behind (its directory removed, nothing listening on its ports);
//! - with `--keep`: while it waits, the cluster and the repository are
//!   checked with kubectl and git (every object of the repository applied
//!   and marked, the memcached StatefulSet garbage-collected, one automation
//!   commit changing one line, the newer image applied); the commands it
//!   prints to try are run as printed (fluxctl list/release --watch/sync,
//!   kubectl get -o wide/explain/rollout status, an edit pushed from the
//!   clone it leaves) and do what they say; then SIGINT stops everything;
//! - interrupted during the walkthrough: it stops and cleans up too.

mod run;

use std::collections::BTreeSet;
use std::path::Path;

use flux_core::ScopeTable;
use flux_core::manifest::{LoadOptions, load_dir};

use run::{Demo, closed, git, kubectl};

/// The resources of the example repository, as fluxd's IDs.
fn example_ids() -> BTreeSet<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/config-repo");
    let manifests = load_dir(
        &root,
        &["."],
        &ScopeTable::builtin(),
        &LoadOptions::default(),
    )
    .expect("the example repository loads");
    manifests
        .resources
        .keys()
        .map(ToString::to_string)
        .collect()
}

/// Every object in the cluster carrying a Flux GC mark, as fluxd's IDs.
fn marked_ids(kubeconfig: &Path) -> BTreeSet<String> {
    let listing = kubectl(
        kubeconfig,
        &[
            "get",
            "namespaces,customresourcedefinitions,clusterroles,clusterrolebindings,deployments,\
             statefulsets,daemonsets,cronjobs,services,configmaps,horizontalpodautoscalers,helmreleases",
            "--all-namespaces",
            "-l",
            "fluxcd.io/sync-gc-mark",
            "-o",
            r#"jsonpath={range .items[*]}{.metadata.namespace} {.kind} {.metadata.name}{"\n"}{end}"#,
        ],
    );
    listing
        .lines()
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            match fields.as_slice() {
                [kind, name] => format!("<cluster>:{}/{name}", kind.to_lowercase()),
                [ns, kind, name] => format!("{ns}:{}/{name}", kind.to_lowercase()),
                _ => panic!("unexpected kubectl line {line:?}"),
            }
        })
        .collect()
}

#[test]
fn the_demo_runs_to_the_end_and_leaves_nothing_behind() {
    let mut demo = Demo::start(&[]);
    let status = demo.wait_exit(run::WHOLE_RUN);
    let text = demo.output();
    assert!(status.success(), "flux-demo failed ({status}):\n{text}");
    for expected in [
        "==> 1. The first sync",
        "$ kubectl get deployments,statefulsets,daemonsets,cronjobs -A",
        "demo        deployment.apps/podinfo",
        "==> 2. A commit, applied after notify",
        "$ git push",
        "/v11/notify",
        "HTTP 202",
        "==> 3. Automation: fluxd commits a newer image",
        "$ fluxctl automate --workload demo:deployment/hello",
        "Auto-release ",
        "==> 4. Garbage collection of a deleted file",
        "$ fluxctl sync",
        "No resources found in demo namespace.",
        "==> Done",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    // The diff shown is the automation commit's: one line out, one in.
    let diff: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("$ git show "))
        .take_while(|l| !l.starts_with("One line changed"))
        .filter(|l| {
            (l.starts_with('-') || l.starts_with('+'))
                && !l.starts_with("---")
                && !l.starts_with("+++")
        })
        .collect();
    assert_eq!(diff.len(), 2, "{diff:?}");
    assert!(
        diff[0].starts_with('-') && diff[0].contains("/demo/hello:1.0.0"),
        "{diff:?}"
    );
    assert!(
        diff[1].starts_with('+') && diff[1].contains("/demo/hello:1.1.0"),
        "{diff:?}"
    );
    demo.assert_cleaned_up();
}

#[test]
fn with_keep_everything_stays_up_until_sigint_then_stops() {
    run::build_fluxctl();
    let mut demo = Demo::start(&["--keep"]);
    demo.wait_for_line("Stop everything with Ctrl-C", run::WHOLE_RUN);
    let dir = demo.dir();
    let kubeconfig = dir.join("kubeconfig");
    let bare = dir.join("config.git");

    // Everything in git is applied and marked; memcached, deleted from
    // git, was garbage-collected, and nothing else was.
    let mut expected = example_ids();
    assert!(expected.remove("demo:statefulset/memcached"));
    assert!(expected.insert("demo:deployment/hello".to_owned()));
    assert_eq!(marked_ids(&kubeconfig), expected);
    let gone = run::kubectl_status(
        &kubeconfig,
        &["get", "statefulset", "memcached", "-n", "demo"],
    );
    assert!(gone.contains("NotFound"), "{gone}");
    assert!(
        git(&bare, &["ls-tree", "-r", "--name-only", "master"])
            .lines()
            .all(|f| f != "workloads/memcached-sts.yaml")
    );

    // One automation commit, by fluxd, changing one line: the tag.
    let autos = git(
        &bare,
        &["log", "--format=%H", "--grep=^Auto-release", "master"],
    );
    let autos: Vec<&str> = autos.lines().collect();
    assert_eq!(autos.len(), 1, "{autos:?}");
    assert_eq!(
        git(&bare, &["show", "-s", "--format=%an", autos[0]]),
        "Weave Flux"
    );
    assert_eq!(
        git(&bare, &["show", "--numstat", "--format=", autos[0]]),
        "1\t1\tworkloads/hello-dep.yaml"
    );
    let diff = git(&bare, &["diff", "-U0", &format!("{}^", autos[0]), autos[0]]);
    let changed: Vec<&str> = diff
        .lines()
        .filter(|l| !l.starts_with("---") && !l.starts_with("+++"))
        .filter(|l| l.starts_with('-') || l.starts_with('+'))
        .collect();
    assert_eq!(changed.len(), 2, "{diff}");
    assert_eq!(
        changed[0].replace("1.0.0", "1.1.0")[1..],
        changed[1][1..],
        "only the tag changed: {diff}"
    );

    // The newer image is what the cluster runs.
    let image = kubectl(
        &kubeconfig,
        &[
            "get",
            "deployment",
            "hello",
            "-n",
            "demo",
            "-o",
            "jsonpath={.spec.template.spec.containers[0].image}",
        ],
    );
    assert!(image.ends_with("/demo/hello:1.1.0"), "{image}");

    // fluxd's API answers fluxctl's URL.
    let url = demo.api_url();
    assert!(!closed(&url), "fluxd's API at {url} should be up");

    // The commands it printed to try work, pasted as printed (the log's
    // `tail -f` aside), with an edit pushed from the clone before the sync.
    let (setup, tries) = demo.to_try();
    assert_eq!(setup.len(), 3, "{setup:?}");
    assert!(setup[2].starts_with("export PATH="), "{setup:?}");
    assert!(tries.iter().any(|l| l.starts_with("tail -f ")), "{tries:?}");
    let mut script = setup.join("\n");
    for line in tries.iter().filter(|l| !l.starts_with("tail -f ")) {
        script.push_str(&format!("\necho \"== {line}\"\n{line}"));
        if line.starts_with("cd ") {
            script.push_str(
                "\nsed -i 's/replicas: 2/replicas: 3/' workloads/hello-dep.yaml\
                 \ngit commit -qam 'Three hellos'\ngit push -q",
            );
        }
    }
    let (ok, said) = run::bash(&script);
    assert!(ok, "the commands to try failed:\n{script}\n---\n{said}");
    let after = |line: &str| -> String {
        said.split(&format!("== {line}\n"))
            .nth(1)
            .and_then(|rest| rest.split("\n== ").next())
            .unwrap_or_else(|| panic!("no output of {line:?}:\n{said}"))
            .to_owned()
    };
    let tried = |prefix: &str| -> &str {
        tries
            .iter()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix:?} in {tries:?}"))
    };
    assert!(
        after(tried("fluxctl list-workloads")).contains("demo:deployment/hello"),
        "{said}"
    );
    assert!(
        after(tried("fluxctl list-images")).contains("1.1.0"),
        "{said}"
    );
    assert!(
        after(tried("kubectl get ")).contains("IMAGES"),
        "-o wide columns: {said}"
    );
    assert!(
        after(tried("kubectl explain ")).contains("FIELD: strategy"),
        "{said}"
    );
    assert!(
        after(tried("fluxctl release ")).contains("All workloads ready."),
        "{said}"
    );
    assert!(
        after(tried("kubectl rollout status ")).contains("successfully rolled out"),
        "{said}"
    );
    assert!(after(tried("fluxctl sync")).contains("Done."), "{said}");
    // What they did: the release's commit and the pushed edit, applied.
    let hello = |path: &str| {
        kubectl(
            &kubeconfig,
            &[
                "get",
                "deployment",
                "hello",
                "-n",
                "demo",
                "-o",
                &format!("jsonpath={{{path}}}"),
            ],
        )
    };
    assert!(
        hello(".spec.template.spec.containers[0].image").ends_with("/demo/hello:1.0.0"),
        "{said}"
    );
    assert_eq!(hello(".spec.replicas"), "3", "{said}");
    assert!(
        git(&bare, &["log", "-3", "--format=%s", "master"]).contains("Three hellos"),
        "{said}"
    );

    demo.interrupt();
    let status = demo.wait_exit(run::STOPPING);
    assert!(status.success(), "{status}:\n{}", demo.output());
    demo.assert_cleaned_up();
}

#[test]
fn interrupted_during_the_walkthrough_it_stops_and_cleans_up() {
    let mut demo = Demo::start(&[]);
    demo.wait_for_line("==> 1. The first sync", run::WHOLE_RUN);
    demo.interrupt();
    let status = demo.wait_exit(run::STOPPING);
    assert_eq!(status.code(), Some(130), "{}", demo.output());
    demo.assert_cleaned_up();
}
