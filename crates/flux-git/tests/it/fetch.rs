//! Mirroring: fetch over file://, git daemon and ssh; heads and moves;
//! missing branches, dead remotes and timeouts.

use std::time::{Duration, Instant};

use flux_git::{Error, RepoState, SshOptions};
use flux_testbed::git::{GitDaemon, SshServer};

use crate::{Bed, borrowed, sample_files, ssh_options};

async fn reports_head_and_moves(bed: &Bed, repo: &flux_git::Repo) {
    let first = repo.refresh().await.unwrap();
    assert_eq!(first.head, bed.head());
    assert!(first.moved);
    assert_eq!(first.previous, None);

    let again = repo.refresh().await.unwrap();
    assert!(!again.moved);
    assert_eq!(again.previous.as_deref(), Some(first.head.as_str()));

    bed.remote
        .commit_files(&[("apps/new.yaml", b"kind: ConfigMap\n")], "someone else")
        .unwrap();
    let moved = repo.refresh().await.unwrap();
    assert!(moved.moved);
    assert_eq!(moved.head, bed.head());
    assert_eq!(moved.previous.as_deref(), Some(first.head.as_str()));
    assert_eq!(repo.head().as_deref(), Some(moved.head.as_str()));
}

#[tokio::test]
async fn file_remote() {
    let bed = Bed::new(&borrowed(&sample_files()));
    let repo = bed.repo();
    assert_eq!(repo.status().state, RepoState::New);
    reports_head_and_moves(&bed, &repo).await;
    assert_eq!(repo.status().state, RepoState::Cloned);
}

#[tokio::test]
async fn git_daemon_remote() {
    let bed = Bed::new(&borrowed(&sample_files()));
    let daemon = GitDaemon::start(bed.root.path()).unwrap();
    let repo = bed.repo_with(&daemon.url("config.git"), &SshOptions::default(), |_| {});
    reports_head_and_moves(&bed, &repo).await;
}

#[tokio::test]
async fn ssh_remote_with_strict_host_key_checking() {
    let bed = Bed::new(&borrowed(&sample_files()));
    let sshd = SshServer::start().unwrap();
    let repo = bed.repo_with(&sshd.url(bed.remote.path()), &ssh_options(&sshd), |_| {});
    reports_head_and_moves(&bed, &repo).await;
}

#[tokio::test]
async fn tags_are_mirrored_and_deleted_sync_tags_forgotten() {
    let bed = Bed::new(&borrowed(&sample_files()));
    let head = bed.head();
    bed.remote.git(&["tag", "flux-sync", &head]).unwrap();
    bed.remote.git(&["tag", "v1", &head]).unwrap();
    let repo = bed.repo();
    repo.refresh().await.unwrap();
    assert_eq!(
        repo.sync_revision().await.unwrap().as_deref(),
        Some(head.as_str())
    );
    bed.remote.git(&["tag", "-d", "flux-sync"]).unwrap();
    repo.refresh().await.unwrap();
    assert_eq!(repo.sync_revision().await.unwrap(), None);
}

#[tokio::test]
async fn a_branch_other_than_master() {
    let bed = Bed::new(&borrowed(&sample_files()));
    let main = bed
        .remote
        .commit_files_on("main", &[("x.yaml", b"kind: X\n")], "on main")
        .unwrap();
    let repo = bed.repo_with(&bed.remote.file_url(), &SshOptions::default(), |f| {
        f.branch = "main".into();
    });
    assert_eq!(repo.refresh().await.unwrap().head, main);
}

#[tokio::test]
async fn missing_branch_is_named() {
    let bed = Bed::new(&borrowed(&sample_files()));
    let repo = bed.repo_with(&bed.remote.file_url(), &SshOptions::default(), |f| {
        f.branch = "production".into();
    });
    let err = repo.refresh().await.unwrap_err();
    assert!(matches!(err, Error::BranchNotFound { .. }), "{err}");
    assert!(err.to_string().contains("\"production\""), "{err}");
    assert_eq!(repo.status().state, RepoState::New);
    assert_eq!(repo.status().error, Some(err.to_string()));
    assert_eq!(repo.head(), None);
}

#[tokio::test]
async fn an_empty_remote_has_no_branch() {
    let bed = Bed::new(&[]);
    let err = bed.repo().refresh().await.unwrap_err();
    assert!(matches!(err, Error::BranchNotFound { .. }), "{err}");
}

#[tokio::test]
async fn a_dead_remote_is_a_clear_error_and_keeps_the_last_head() {
    let bed = Bed::new(&borrowed(&sample_files()));
    let mut daemon = GitDaemon::start(bed.root.path()).unwrap();
    let url = daemon.url("config.git");
    let repo = bed.repo_with(&url, &SshOptions::default(), |_| {});
    let head = repo.refresh().await.unwrap().head;
    daemon.stop();
    let err = repo.refresh().await.unwrap_err();
    assert!(matches!(err, Error::Fetch { .. }), "{err}");
    assert!(err.to_string().contains(&url), "{err}");
    // What was fetched before is still there to sync from.
    assert_eq!(repo.head(), Some(head.clone()));
    assert!(repo.snapshot_at(&head, &["apps".into()]).await.is_ok());
    assert!(repo.status().error.is_some());
}

#[tokio::test]
async fn a_silent_server_times_out() {
    // Accepts connections and never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let bed = Bed::new(&[]);
    let repo = bed.repo_with(
        &format!("git://127.0.0.1:{port}/config.git"),
        &SshOptions::default(),
        |f| f.timeout = Duration::from_millis(500),
    );
    let started = Instant::now();
    let err = repo.refresh().await.unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err}");
    assert!(err.to_string().contains("--git-timeout"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
    drop(listener);
}

#[tokio::test]
async fn the_poll_loop_publishes_heads_and_fetches_when_notified() {
    let bed = Bed::new(&borrowed(&sample_files()));
    let repo = bed.repo_with(&bed.remote.file_url(), &SshOptions::default(), |f| {
        f.poll_interval = Duration::from_secs(3600);
    });
    let mut heads = repo.subscribe();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let runner = {
        let repo = repo.clone();
        tokio::spawn(async move {
            repo.run(async {
                let _ = stopped.await;
            })
            .await
        })
    };
    let wait = Duration::from_secs(120);
    tokio::time::timeout(wait, heads.changed())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(heads.borrow().as_ref().unwrap().head, bed.head());
    let next = bed
        .remote
        .commit_files(&[("b.yaml", b"b: 1\n")], "next")
        .unwrap();
    repo.notify();
    tokio::time::timeout(wait, async {
        loop {
            heads.changed().await.unwrap();
            if heads.borrow().as_ref().is_some_and(|r| r.head == next) {
                break;
            }
        }
    })
    .await
    .unwrap();
    assert!(heads.borrow().as_ref().unwrap().moved);
    stop.send(()).unwrap();
    tokio::time::timeout(wait, runner).await.unwrap().unwrap();
}

#[tokio::test]
async fn http_remote_fetch_commit_and_tag() {
    // Smart HTTP: gix's HTTP client fetches, the git program pushes; the
    // same code paths as https:// but for TLS.
    let bed = Bed::new(&borrowed(&sample_files()));
    let http = flux_testbed::git::HttpGitServer::start(bed.root.path()).unwrap();
    let repo = bed.repo_with(&http.url("config.git"), &SshOptions::default(), |_| {});
    reports_head_and_moves(&bed, &repo).await;
    let edit =
        |_: &flux_core::source::Snapshot| -> Result<flux_git::FileChanges, flux_git::BoxError> {
            let mut c = flux_git::FileChanges::new();
            c.write("apps/http.yaml", b"kind: ConfigMap\n".to_vec());
            Ok(c)
        };
    let outcome = repo
        .commit_and_push(edit, flux_git::CommitRequest::new("over http"))
        .await
        .unwrap();
    assert!(
        matches!(outcome, flux_git::CommitOutcome::Pushed(_)),
        "{outcome:?}"
    );
    assert_eq!(bed.remote.subjects("master").unwrap()[0], "over http");
    repo.move_sync_tag(&bed.head()).await.unwrap();
    assert_eq!(
        bed.remote
            .git(&["rev-parse", "flux-sync^{commit}"])
            .unwrap(),
        bed.head()
    );
}

#[tokio::test]
async fn many_fetches_do_not_pile_up_packs() {
    let bed = Bed::new(&borrowed(&sample_files()));
    let repo = bed.repo();
    repo.refresh().await.unwrap();
    let packs = || {
        std::fs::read_dir(repo.mirror_dir().join("objects/pack"))
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == "pack")
            })
            .count()
    };
    for i in 0..flux_git::fetch::PACK_LIMIT + 2 {
        bed.remote
            .commit_files(
                &[("apps/counter.yaml", format!("n: {i}\n").as_bytes())],
                &format!("c{i}"),
            )
            .unwrap();
        repo.refresh().await.unwrap();
        assert!(
            packs() <= flux_git::fetch::PACK_LIMIT,
            "{} packs after {i} fetches",
            packs()
        );
    }
    // Everything is still readable after repacking.
    let snap = repo
        .snapshot_at(&bed.head(), &["apps".into()])
        .await
        .unwrap();
    assert_eq!(
        snap.files.get("apps/counter.yaml"),
        Some(format!("n: {}\n", flux_git::fetch::PACK_LIMIT + 1).as_bytes())
    );
}

/// Names the child's job: `<trusted|untrusted|wrong-password> <url>`.
const HTTPS_CHILD: &str = "FLUX_GIT_TEST_HTTPS_CHILD";

/// The password `https_remote_refusing_a_wrong_password` puts in the URL.
const WRONG_PASSWORD: &str = "Wr0ng%40pw4";

/// Not a test on its own: `https_remote_with_a_private_ca` runs it in a
/// child process whose `SSL_CERT_FILE` names a CA (a process's environment
/// cannot be changed safely from inside a test).
#[tokio::test]
async fn https_child() {
    let Ok(spec) = std::env::var(HTTPS_CHILD) else {
        return;
    };
    let (mode, url) = spec.split_once(' ').unwrap();
    let state = tempfile::tempdir().unwrap();
    let config = flux_git::GitConfig::from_flags(&flux_git::GitFlags {
        url: url.to_owned(),
        timeout: Duration::from_secs(120),
        ..flux_git::GitFlags::default()
    })
    .unwrap();
    let repo = flux_git::Repo::new(config, &SshOptions::default(), state.path()).unwrap();
    if mode == "wrong-password" {
        // As written in the URL (percent-encoded) and as sent (decoded).
        let secrets = [WRONG_PASSWORD, &WRONG_PASSWORD.replace("%40", "@")];
        let shown = fetch_fails_without_showing(&repo, "wrong password", &secrets).await;
        // gix does not fall back to asking on a terminal.
        assert!(!shown.contains("/dev/tty"), "{shown}");
        return;
    }
    if mode == "untrusted" {
        let err = repo.refresh().await.unwrap_err();
        assert!(matches!(err, Error::Fetch { .. }), "{err}");
        // The reason is in the message itself, not only deep in its sources.
        assert!(err.to_string().contains("certificate"), "{err}");
        return;
    }
    repo.refresh().await.unwrap();
    // gix fetches; the git program pushes the commit and the tag.
    let edit =
        |_: &flux_core::source::Snapshot| -> Result<flux_git::FileChanges, flux_git::BoxError> {
            let mut c = flux_git::FileChanges::new();
            c.write("apps/tls.yaml", b"kind: ConfigMap\n".to_vec());
            Ok(c)
        };
    let outcome = repo
        .commit_and_push(edit, flux_git::CommitRequest::new("over https"))
        .await
        .unwrap();
    let flux_git::CommitOutcome::Pushed(p) = outcome else {
        panic!("{outcome:?}")
    };
    repo.move_sync_tag(&p.revision).await.unwrap();
}

#[test]
fn https_remote_with_a_private_ca() {
    let bed = Bed::new(&borrowed(&sample_files()));
    let https = flux_testbed::git::HttpsGitServer::start(bed.root.path()).unwrap();
    let stranger = flux_testbed::tls::TestCa::new().unwrap();
    let child = |mode: &str, ca: &std::path::Path| {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["fetch::https_child", "--exact", "--nocapture"])
            .env(HTTPS_CHILD, format!("{mode} {}", https.url("config.git")))
            .env("SSL_CERT_FILE", ca)
            .output()
            .unwrap();
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{mode}: {said}");
        assert!(said.contains("1 passed"), "{mode}: the child ran: {said}");
    };
    // Certificates are checked: a CA the server's certificate is not from
    // is refused.
    child("untrusted", &stranger.ca_file());
    assert_eq!(bed.remote.subjects("master").unwrap(), ["initial"]);
    // Trusting the private CA through SSL_CERT_FILE works for gix's fetch
    // and for the git program's pushes (regression: git was not told, so
    // pushes failed certificate verification).
    child("trusted", &https.ca_file());
    assert_eq!(bed.remote.subjects("master").unwrap()[0], "over https");
    assert_eq!(
        bed.remote
            .git(&["rev-parse", "flux-sync^{commit}"])
            .unwrap(),
        bed.head()
    );
}

/// Everything a failed fetch shows of itself: its message, its `Debug`
/// forms and those of every error under it.
fn everything_shown(err: &Error) -> String {
    let mut shown = format!("{err}\n{err:?}\n{err:#?}\n");
    let mut source = std::error::Error::source(err);
    while let Some(e) = source {
        shown.push_str(&format!("{e}\n{e:?}\n"));
        source = e.source();
    }
    shown
}

/// Fetches with `repo` (whose URL holds a password) expecting a failure,
/// then runs the poll loop until it has logged that failure; checks that no
/// form of the password (`secrets`) is in the error, its sources, the
/// status, or anything logged so far.
async fn fetch_fails_without_showing(
    repo: &flux_git::Repo,
    what: &str,
    secrets: &[&str],
) -> String {
    crate::logs::capture();
    let err = repo.refresh().await.unwrap_err();
    assert!(matches!(err, Error::Fetch { .. }), "{what}: {err}");
    let shown = everything_shown(&err);
    assert!(
        shown.contains("127.0.0.1"),
        "{what}: names the remote: {shown}"
    );
    let status = repo.status().error.unwrap();
    // The poll loop logs the failure; gix, reqwest and hyper log too.
    let logged = || crate::logs::text().matches("git fetch failed").count();
    let before = logged();
    let logged_once = repo.run(async {
        while logged() == before {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    tokio::time::timeout(Duration::from_secs(60), logged_once)
        .await
        .unwrap();
    let logs = crate::logs::text();
    for secret in secrets {
        assert!(!shown.contains(secret), "{what}: {secret:?} shown: {shown}");
        assert!(
            !status.contains(secret),
            "{what}: {secret:?} in status: {status}"
        );
        assert!(!logs.contains(secret), "{what}: {secret:?} logged: {logs}");
    }
    shown
}

#[tokio::test]
async fn url_passwords_are_in_no_fetch_error_or_log_line() {
    let bed = Bed::new(&borrowed(&sample_files()));
    let http = flux_testbed::git::HttpGitServer::start(bed.root.path()).unwrap();
    // Its certificate is from a CA nobody here trusts.
    let https = flux_testbed::git::HttpsGitServer::start(bed.root.path()).unwrap();
    let closed = flux_testbed::port::free_port().unwrap();
    let with_password = |url: &str, password: &str| {
        let (scheme, rest) = url.split_once("://").unwrap();
        format!("{scheme}://flux:{password}@{rest}")
    };
    for (what, url, password) in [
        (
            "closed port",
            format!("https://flux:Pw1closedport@127.0.0.1:{closed}/config.git"),
            "Pw1closedport",
        ),
        (
            "unknown CA",
            with_password(&https.url("config.git"), "Pw2unknownca"),
            "Pw2unknownca",
        ),
        (
            "ssh, closed port",
            format!("ssh://flux:Pw4sshclosed@127.0.0.1:{closed}/config.git"),
            "Pw4sshclosed",
        ),
        (
            "git daemon, closed port",
            format!("git://flux:Pw5gitclosed@127.0.0.1:{closed}/config.git"),
            "Pw5gitclosed",
        ),
        (
            "credentials over plain http",
            with_password(&http.url("config.git"), "Pw3plainhttp"),
            "Pw3plainhttp",
        ),
    ] {
        let repo = bed.repo_with(&url, &SshOptions::default(), |_| {});
        fetch_fails_without_showing(&repo, what, &[password]).await;
    }
}

#[test]
fn https_remote_refusing_a_wrong_password() {
    // The remote answers 401 to the password in the URL: gix reports the
    // credentials as refused, naming the URL; the password must not be in
    // that error, its Debug form, the status or any log line.
    let bed = Bed::new(&borrowed(&sample_files()));
    let https =
        flux_testbed::git::HttpsGitServer::start_with_basic_auth(bed.root.path(), "flux", "right")
            .unwrap();
    let url =
        https
            .url("config.git")
            .replacen("https://", &format!("https://flux:{WRONG_PASSWORD}@"), 1);
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["fetch::https_child", "--exact", "--nocapture"])
        .env(HTTPS_CHILD, format!("wrong-password {url}"))
        .env("SSL_CERT_FILE", https.ca_file())
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{said}");
    assert!(said.contains("1 passed"), "the child ran: {said}");
}
