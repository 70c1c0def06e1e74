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
