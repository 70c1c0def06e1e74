//! `--manifest-generation` when generation goes wrong: a generator that
//! hangs, prints invalid YAML, exits non-zero or prints a duplicate, and a
//! `.flux.yaml` with an unknown key, each fail the sync with an error saying
//! why (in the sync status, the API and the metrics) and delete nothing;
//! and without the flag no command ever runs.

use flux_daemon::testing::Fluxd;

use super::generation::generation_bed;
use super::*;

const KEEP: &str = "apiVersion: v1
kind: ConfigMap
metadata:
  name: keep
  namespace: default
data:
  a: b
";

fn app() -> String {
    format!("{}---\n{KEEP}", deployment("app", "nginx:1.0", ""))
}

/// A `.flux.yaml` running `commands` as generators (with `timeout`s where
/// given).
fn flux_yaml(commands: &[(&str, Option<&str>)]) -> String {
    let mut out = String::from("version: 1\ncommandUpdated:\n  generators:\n");
    for (command, timeout) in commands {
        let quoted = command.replace('\'', "''");
        out.push_str(&format!("  - command: '{quoted}'\n"));
        if let Some(t) = timeout {
            out.push_str(&format!("    timeout: {t}\n"));
        }
    }
    out
}

fn last_sync(fluxd: &Fluxd) -> Option<flux_daemon::source::SyncSummary> {
    fluxd
        .shared()
        .default_source()?
        .with_status(|s| s.last_sync.clone())
}

async fn failed_syncs(fluxd: &Fluxd) -> u64 {
    let text = reqwest::get(format!("{}/metrics", fluxd.root_url()))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    text.lines()
        .find(|l| {
            l.starts_with("flux_daemon_sync_duration_seconds_count{")
                && l.contains("success=\"false\"")
        })
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0)
}

/// Commits `.flux.yaml` as `config`, has fluxd fetch it, and returns the
/// error of the sync of that commit (which must fail).
async fn sync_error(bed: &TestBed, fluxd: &Fluxd, config: &str, why: &str) -> String {
    let failed_before = failed_syncs(fluxd).await;
    let head = bed
        .commit(&[(".flux.yaml", config.as_bytes())], why)
        .expect("commit");
    fluxd
        .shared()
        .default_source()
        .expect("source")
        .repo
        .notify();
    fluxd
        .wait_for(why, PATIENCE, |_| {
            last_sync(fluxd).is_some_and(|l| l.revision == head)
        })
        .await
        .expect("a sync of the commit");
    let summary = last_sync(fluxd).expect("a sync");
    assert!(!summary.clean, "{why}: {summary:?}");
    assert_eq!(summary.deleted, 0, "{why}: nothing deleted");
    // Nothing was deleted from the cluster either.
    assert_eq!(
        kubectl(
            bed,
            &["get", "deployment/app", "configmap/keep", "-o", "name"]
        ),
        "deployment.apps/app\nconfigmap/keep",
        "{why}"
    );
    // The API says why (list-workloads reads the generated manifests).
    let listed = client(fluxd).list_services("default").await;
    let api_error = listed
        .expect_err("list-workloads fails with the generator")
        .to_string();
    let error = summary.error.expect("an error");
    assert!(api_error.contains(&error), "{api_error} / {error}");
    assert!(
        failed_syncs(fluxd).await > failed_before,
        "{why}: counted as a failed sync"
    );
    error
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_generators_fail_the_sync_and_delete_nothing() {
    let good = flux_yaml(&[("cat app.yaml", None)]);
    let files = vec![
        (".flux.yaml".to_owned(), good.clone().into_bytes()),
        ("app.yaml".to_owned(), app().into_bytes()),
    ];
    let (bed, _kustomize) = generation_bed(&files, false).await;
    let fluxd = bed
        .start_fluxd(
            "fluxd",
            &[
                "--manifest-generation",
                "--sync-garbage-collection",
                "--git-poll-interval=1h",
                "--sync-interval=1h",
            ],
        )
        .await
        .expect("fluxd");
    assert!(last_sync(&fluxd).expect("synced").clean);
    assert_eq!(
        kubectl(&bed, &["get", "configmap", "keep", "-o", "name"]),
        "configmap/keep"
    );

    // Invalid YAML: named by the generator's output and line.
    let error = sync_error(
        &bed,
        &fluxd,
        &flux_yaml(&[("printf 'kind: [oops\\n'", None)]),
        "invalid YAML",
    )
    .await;
    assert!(
        error.contains("nothing applied, nothing deleted"),
        "{error}"
    );
    assert!(error.contains(".flux.yaml:2:1"), "{error}");
    assert!(error.contains("flow sequence"), "{error}");

    // A non-zero exit: its status and the end of its error output.
    let error = sync_error(
        &bed,
        &fluxd,
        &flux_yaml(&[("cat app.yaml; echo 'no such overlay' >&2; exit 3", None)]),
        "exit 3",
    )
    .await;
    assert!(error.contains("generator 1"), "{error}");
    assert!(error.contains("exit status: 3"), "{error}");
    assert!(error.contains("no such overlay"), "{error}");

    // A resource printed twice.
    let error = sync_error(
        &bed,
        &fluxd,
        &flux_yaml(&[("cat app.yaml", None), ("cat app.yaml", None)]),
        "duplicate",
    )
    .await;
    assert!(error.contains("duplicate definition"), "{error}");
    assert!(error.contains(".flux.yaml#1"), "{error}");
    assert!(error.contains(".flux.yaml#2"), "{error}");

    // A hang: killed at its timeout, with everything it started.
    let pid_file = bed.path("sleeper.pid");
    let hang = format!("sleep 600 & echo $! > {}; wait", pid_file.display());
    let error = sync_error(
        &bed,
        &fluxd,
        &flux_yaml(&[(&hang, Some("2s"))]),
        "a generator that hangs",
    )
    .await;
    assert!(
        error.contains("did not finish within 2s and was killed"),
        "{error}"
    );
    let pid = std::fs::read_to_string(&pid_file).expect("the generator ran");
    let proc = std::path::PathBuf::from(format!("/proc/{}", pid.trim()));
    // Killed: gone, or at most a zombie of a parent that has not reaped it.
    let alive = std::fs::read_to_string(proc.join("stat"))
        .ok()
        .filter(|stat| !stat.contains(") Z "));
    assert!(
        alive.is_none(),
        "the sleep outlived its generator: {alive:?}"
    );

    // A .flux.yaml with an unknown key is refused before anything runs.
    let error = sync_error(
        &bed,
        &fluxd,
        "version: 1\ncommandUpdated:\n  generators:\n  - command: cat app.yaml\n  patchFile: x.yaml\n",
        "unknown key",
    )
    .await;
    assert!(error.contains(".flux.yaml:5"), "{error}");
    assert!(error.contains("unknown key"), "{error}");

    // Fixed: the sync is clean again.
    let head = bed
        .commit(&[(".flux.yaml", good.as_bytes())], "fixed")
        .expect("commit");
    fluxd
        .shared()
        .default_source()
        .expect("source")
        .repo
        .notify();
    fluxd
        .wait_for("the fixed sync", PATIENCE, |_| {
            fluxd.synced().as_deref() == Some(head.as_str())
        })
        .await
        .expect("synced");
    fluxd.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_flag_flux_yaml_is_ignored_and_nothing_runs() {
    let (bed, _kustomize) = generation_bed(&[], false).await;
    let marker = bed.path("ran");
    let config = flux_yaml(&[(&format!("touch {}; cat app.yaml", marker.display()), None)]);
    let app = app();
    let files = [
        (".flux.yaml", config.as_bytes()),
        ("app.yaml", app.as_bytes()),
    ];
    bed.commit(&files, "App").expect("commit");
    let fluxd = bed
        .start_fluxd("fluxd", &["--git-poll-interval=1h", "--sync-interval=1h"])
        .await
        .expect("fluxd");
    assert!(last_sync(&fluxd).expect("synced").clean);
    // The plain file is synced as it is.
    assert_eq!(
        kubectl(
            &bed,
            &["get", "deployment/app", "configmap/keep", "-o", "name"]
        ),
        "deployment.apps/app\nconfigmap/keep"
    );
    assert!(
        !marker.exists(),
        "a .flux.yaml command ran without the flag"
    );
    fluxd.stop().await;
}
