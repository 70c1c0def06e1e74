//! The test bed checks itself: its servers start, serve git, and sshd
//! refuses clients that do not know its host key.

use flux_testbed::git::{
    BareRepo, GitDaemon, HttpGitServer, HttpsGitServer, SshServer, WorkClone, git_command, run,
};

#[test]
fn git_daemon_serves_clone_and_push() {
    let root = tempfile::tempdir().unwrap();
    let repo = BareRepo::create(root.path(), "r.git").unwrap();
    let first = repo
        .commit_files(&[("a.yaml", b"a: 1\n")], "first")
        .unwrap();
    let daemon = GitDaemon::start(root.path()).unwrap();
    let work = WorkClone::new(&daemon.url("r.git"), "master", None).unwrap();
    assert_eq!(work.head().unwrap(), first);
    work.write("b.yaml", b"b: 2\n").unwrap();
    work.commit("second").unwrap();
    work.push().unwrap();
    assert_eq!(repo.subjects("master").unwrap(), ["second", "first"]);
}

#[test]
fn sshd_serves_known_clients_and_refuses_unknown_host_keys() {
    let root = tempfile::tempdir().unwrap();
    let repo = BareRepo::create(root.path(), "r.git").unwrap();
    repo.commit_files(&[("a.yaml", b"a: 1\n")], "first")
        .unwrap();
    let sshd = SshServer::start().unwrap();
    let ssh = sshd.git_ssh_command().unwrap();
    let work = WorkClone::new(&sshd.url(repo.path()), "master", Some(&ssh))
        .unwrap_or_else(|e| panic!("{e}\n{}", sshd.log()));
    work.write("b.yaml", b"b: 2\n").unwrap();
    work.commit("over ssh").unwrap();
    work.push().unwrap();
    assert_eq!(repo.subjects("master").unwrap()[0], "over ssh");

    // The same client without the host key in its known_hosts is refused.
    let empty = root.path().join("empty_known_hosts");
    std::fs::write(&empty, "").unwrap();
    let strict = format!(
        "ssh -F /dev/null -i {} -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile={} -o GlobalKnownHostsFile=/dev/null",
        sshd.client_key().display(),
        empty.display()
    );
    let mut cmd = git_command(None);
    cmd.env("GIT_SSH_COMMAND", strict)
        .args(["ls-remote", &sshd.url(repo.path())]);
    let err = run(cmd).unwrap_err().to_string();
    assert!(err.contains("Host key verification failed"), "{err}");
}

#[test]
fn sshd_sessions_do_not_read_the_users_bashrc() {
    let sshd = SshServer::start().unwrap();
    let ssh = sshd.git_ssh_command().unwrap();
    let port = sshd.port();
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "{ssh} -p {port} 127.0.0.1 'echo $SHLVL ${{BASH_VERSION:+bash}}'"
        ))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}\n{}", sshd.log());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut words = stdout.split_whitespace();
    let level: u32 = words.next().unwrap_or("").parse().unwrap_or(0);
    if words.next() == Some("bash") {
        // Debian's bash reads ~/.bashrc for an ssh command only when it
        // starts at level 1; it started from the session's SHLVL=1.
        assert!(level >= 2, "{out:?}");
    } else {
        // Other shells leave the session's value as it is.
        assert_eq!(level, 1, "{out:?}");
    }
}

#[test]
fn sshd_restarts_on_the_same_port_with_the_same_host_key() {
    let root = tempfile::tempdir().unwrap();
    let repo = BareRepo::create(root.path(), "r.git").unwrap();
    let first = repo
        .commit_files(&[("a.yaml", b"a: 1\n")], "first")
        .unwrap();
    let mut sshd = SshServer::start().unwrap();
    let url = sshd.url(repo.path());
    let ssh = sshd.git_ssh_command().unwrap();
    let ls_remote = || {
        let mut cmd = git_command(None);
        cmd.env("GIT_SSH_COMMAND", &ssh)
            .args(["ls-remote", &url, "refs/heads/master"]);
        run(cmd)
    };
    assert!(ls_remote().unwrap().starts_with(&first));
    sshd.stop();
    assert!(!sshd.is_running());
    let err = ls_remote().unwrap_err().to_string();
    assert!(err.contains("Connection refused"), "{err}");
    sshd.restart().unwrap();
    assert!(sshd.is_running());
    assert_eq!(sshd.url(repo.path()), url, "same port");
    // Strict host key checking with the known_hosts written before the
    // restart: the host key is the same.
    assert!(
        ls_remote()
            .unwrap_or_else(|e| panic!("{e}\n{}", sshd.log()))
            .starts_with(&first)
    );
    // A restart of a running server works too.
    sshd.restart().unwrap();
    assert!(ls_remote().unwrap().starts_with(&first));
}

#[test]
fn http_backend_serves_clone_and_push() {
    let root = tempfile::tempdir().unwrap();
    let repo = BareRepo::create(root.path(), "r.git").unwrap();
    repo.commit_files(&[("a.yaml", b"a: 1\n")], "first")
        .unwrap();
    let http = HttpGitServer::start(root.path()).unwrap();
    let work = WorkClone::new(&http.url("r.git"), "master", None).unwrap();
    work.write("b.yaml", b"b: 2\n").unwrap();
    work.commit("over http").unwrap();
    work.push().unwrap();
    assert_eq!(repo.subjects("master").unwrap(), ["over http", "first"]);
}

#[test]
fn https_backend_serves_clients_that_trust_its_ca_and_no_others() {
    let root = tempfile::tempdir().unwrap();
    let repo = BareRepo::create(root.path(), "r.git").unwrap();
    let first = repo
        .commit_files(&[("a.yaml", b"a: 1\n")], "first")
        .unwrap();
    let https = HttpsGitServer::start(root.path()).unwrap();
    let url = https.url("r.git");
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    let mut cmd = git_command(None);
    cmd.env("GIT_SSL_CAINFO", https.ca_file())
        .args(["ls-remote", &url, "refs/heads/master"]);
    assert_eq!(run(cmd).unwrap(), format!("{first}\trefs/heads/master"));
    // The system's CAs do not know it.
    let mut cmd = git_command(None);
    cmd.env_remove("GIT_SSL_CAINFO").args(["ls-remote", &url]);
    let err = run(cmd).unwrap_err().to_string();
    assert!(err.contains("certificate"), "{err}");
}

#[test]
fn http_backend_with_basic_auth_serves_only_the_right_password() {
    let root = tempfile::tempdir().unwrap();
    let repo = BareRepo::create(root.path(), "r.git").unwrap();
    let first = repo
        .commit_files(&[("a.yaml", b"a: 1\n")], "first")
        .unwrap();
    let http = HttpGitServer::start_with_basic_auth(root.path(), "flux", "s3cret").unwrap();
    let url = http.url("r.git");
    let with = |password: &str| url.replacen("http://", &format!("http://flux:{password}@"), 1);
    let ls_remote = |url: &str| {
        let mut cmd = git_command(None);
        cmd.env("GIT_TERMINAL_PROMPT", "0")
            .args(["ls-remote", url, "refs/heads/master"]);
        run(cmd)
    };
    assert_eq!(
        ls_remote(&with("s3cret")).unwrap(),
        format!("{first}\trefs/heads/master")
    );
    for url in [with("wrong"), url.clone()] {
        let err = ls_remote(&url).unwrap_err().to_string();
        assert!(
            err.contains("Authentication failed") || err.contains("could not read Username"),
            "{err}"
        );
    }
}
