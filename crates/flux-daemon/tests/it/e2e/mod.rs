//! fluxd end to end: a real sshd git remote, the emulator (kubectl as
//! referee), a real docker-registry where automation is involved, and fluxd
//! started with real flags, driven through its HTTP API.

mod api;
mod automation;
mod binary;
mod drift;
mod faults;
mod gc;
mod jobs;
mod restart;
mod sync;

use std::time::Duration;

use flux_api::client::{Client, ClientOptions};
use flux_daemon::testing::{Fluxd, TestBed, read_tree};

/// Long enough for anything on a loaded 2-core machine; tests never wait
/// this long when things work.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// The bundled example repository's files.
pub fn example_files() -> Vec<(String, Vec<u8>)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/config-repo");
    read_tree(&root).expect("example repo")
}

/// Borrowed pairs for `BareRepo::commit_files`.
pub fn borrowed(files: &[(String, Vec<u8>)]) -> Vec<(&str, &[u8])> {
    files
        .iter()
        .map(|(p, b)| (p.as_str(), b.as_slice()))
        .collect()
}

/// A client of `fluxd`'s API.
pub fn client(fluxd: &Fluxd) -> Client {
    Client::new(&fluxd.api_url(), ClientOptions::default()).expect("client")
}

/// kubectl's stdout, trimmed, or a panic with its stderr.
pub fn kubectl(bed: &TestBed, args: &[&str]) -> String {
    bed.kubectl
        .run(args)
        .expect_ok(&args.join(" "))
        .trim()
        .to_owned()
}

/// Waits until kubectl's output satisfies `check`.
pub async fn eventually(bed: &TestBed, args: &[&str], check: impl Fn(&str) -> bool) -> String {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let out = bed.kubectl.run(args);
        if out.ok && check(out.stdout.trim()) {
            return out.stdout.trim().to_owned();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "kubectl {args:?} never satisfied the check; last: {out:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
