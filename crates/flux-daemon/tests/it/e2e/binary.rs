//! The `fluxd` program itself: bad flags stop it with exit code 2 and the
//! flag named; SIGTERM stops it cleanly with exit code 0.

use std::process::{Command, Stdio};
use std::time::Duration;

use flux_daemon::testing::TestBed;

use super::*;

fn fluxd() -> Command {
    Command::new(env!("CARGO_BIN_EXE_fluxd"))
}

#[test]
fn bad_flags_exit_2_naming_the_flag() {
    for (args, flag) in [
        (vec!["--sync-interval=soon"], "--sync-interval"),
        (vec!["--connect=wss://cloud.weave.works"], "--connect"),
        (
            vec!["--git-url=ssh://git@h/r", "--git-path=/abs"],
            "--git-path",
        ),
        (vec!["--no-such-flag"], "--no-such-flag"),
    ] {
        let out = fluxd().args(&args).output().expect("run fluxd");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(flag), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "errors go to stderr");
    }
    let out = fluxd().arg("--version").output().expect("run fluxd");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        env!("CARGO_PKG_VERSION")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_it_cleanly() {
    let files = [(
        "a.yaml",
        b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: default\n".as_slice(),
    )];
    let bed = TestBed::start(&files)
        .await
        .expect("bed")
        .with_registry()
        .expect("registry");
    // A workload whose image is on the bed's registry, so a scan happens
    // and --registry-trace has requests to log.
    let registry = bed.registry_addr().expect("registry").to_owned();
    let pod = format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  namespace: default\n\
         spec:\n  containers:\n  - name: c\n    image: {registry}/traced/app:1.0\n"
    );
    bed.commit(&[("p.yaml", pod.as_bytes())], "Pod")
        .expect("commit");
    flux_registry::install_crypto_provider();
    let port = flux_testbed::port::free_port().expect("port");
    let listen = format!("--listen=127.0.0.1:{port}");
    let args = bed
        .fluxd_args("proc", &[&listen, "--log-format=json", "--registry-trace"])
        .expect("args");
    let log_path = bed.path("fluxd.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let mut child = fluxd()
        .args(&args[1..])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("spawn fluxd");
    let logs = || std::fs::read_to_string(&log_path).unwrap_or_default();
    // Ready once it has synced.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        if let Ok(r) = reqwest::get(format!("http://127.0.0.1:{port}/readyz")).await
            && r.status().is_success()
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "fluxd never became ready:\n{}",
            logs()
        );
        assert!(
            child.try_wait().expect("try_wait").is_none(),
            "fluxd exited:\n{}",
            logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    kubectl(&bed, &["get", "configmap", "a"]);
    // --registry-trace: the scan's requests are logged, with the URL.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !logs().contains("registry request") {
        assert!(
            tokio::time::Instant::now() < deadline,
            "--registry-trace logged no request:\n{}",
            logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let traced = logs();
    assert!(
        traced
            .lines()
            .any(|l| l.contains("registry request") && l.contains("/v2/traced/app/tags/list")),
        "{traced}"
    );
    let pid = child.id().to_string();
    let status = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(status.success());
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .expect("join")
        .expect("wait");
    let logs = logs();
    assert_eq!(status.code(), Some(0), "{logs}");
    assert!(
        logs.lines().all(|l| l.starts_with('{')),
        "--log-format=json: every line is JSON:\n{logs}"
    );
    assert!(logs.contains("SIGTERM received"), "{logs}");
    assert!(logs.contains("fluxd stopped"), "{logs}");
}
