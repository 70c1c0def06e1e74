//! `kubectl get --watch`.

use std::io::Read as _;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::Emu;

#[test]
fn get_watch_prints_changes() {
    let emu = Emu::start();
    emu.ok(&["create", "configmap", "before"]);
    let mut watcher = emu
        .kubectl
        .command()
        .args(["get", "configmaps", "--watch", "-o", "name"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start kubectl get --watch");
    // Wait until the initial list is printed, then change things.
    let mut out = watcher.stdout.take().expect("stdout");
    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(20);
    while !seen.contains("configmap/before") && Instant::now() < deadline {
        let n = out.read(&mut buf).expect("read");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    emu.ok(&["create", "configmap", "during"]);
    emu.ok(&["delete", "configmap", "during"]);
    while seen.matches("configmap/during").count() < 2 && Instant::now() < deadline {
        let n = out.read(&mut buf).expect("read");
        if n == 0 {
            break;
        }
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    let _ = watcher.kill();
    let _ = watcher.wait();
    assert!(seen.matches("configmap/during").count() >= 2, "{seen}");
}

/// An object whose labels move it out of a watch's selector is reported
/// DELETED, and ADDED when they move it back in, as a real API server does
/// (kubectl prints the event types it was sent).
#[test]
fn leaving_and_entering_a_selector_are_deletions_and_additions() {
    let emu = Emu::start();
    emu.ok(&["create", "configmap", "web", "--from-literal=k=v"]);
    emu.ok(&["label", "configmap", "web", "tier=front"]);
    let mut watcher = emu
        .kubectl
        .command()
        .args([
            "get",
            "configmaps",
            "-l",
            "tier=front",
            "--watch",
            "--output-watch-events",
            "--no-headers",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start kubectl get --watch");
    // Lines are read on a thread, so that a missing one fails the test
    // instead of hanging it.
    let out = watcher.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(out)) {
            let Ok(line) = line else { break };
            let words: Vec<String> = line.split_whitespace().take(2).map(str::to_owned).collect();
            if tx.send(words.join(" ")).is_err() {
                break;
            }
        }
    });
    let next = || rx.recv_timeout(Duration::from_secs(20)).unwrap_or_default();
    let mut seen = vec![next()];
    emu.ok(&["label", "configmap", "web", "tier=back", "--overwrite"]);
    seen.push(next());
    // A change outside the selector is not sent at all.
    emu.ok(&["annotate", "configmap", "web", "note=outside"]);
    emu.ok(&["label", "configmap", "web", "tier=front", "--overwrite"]);
    seen.push(next());
    let _ = watcher.kill();
    let _ = watcher.wait();
    assert_eq!(seen, ["ADDED web", "DELETED web", "ADDED web"]);
}
