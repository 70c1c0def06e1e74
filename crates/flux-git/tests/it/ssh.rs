//! ssh: strict host key checking, the deploy key, and what happens when
//! either is wrong.

use flux_git::{Error, SshOptions};
use flux_testbed::git::SshServer;

use crate::{Bed, borrowed, sample_files, ssh_options};

#[tokio::test]
async fn an_unknown_host_key_is_refused() {
    let bed = Bed::new(&borrowed(&sample_files()));
    let sshd = SshServer::start().unwrap();
    // Only the bundled keys (GitHub, GitLab, …): the test server is unknown.
    let ssh = SshOptions {
        identity: Some(sshd.client_key()),
        ..SshOptions::default()
    };
    let repo = bed.repo_with(&sshd.url(bed.remote.path()), &ssh, |_| {});
    let err = repo.refresh().await.unwrap_err().to_string();
    assert!(err.contains("Host key verification failed"), "{err}");
    assert_eq!(repo.head(), None);
}

#[tokio::test]
async fn a_changed_host_key_is_refused() {
    let bed = Bed::new(&borrowed(&sample_files()));
    let sshd = SshServer::start().unwrap();
    let other = SshServer::start().unwrap();
    // A known_hosts naming this server's address with another server's key:
    // what a man in the middle looks like.
    let line = other.known_hosts_line().unwrap();
    let forged = format!(
        "[127.0.0.1]:{} {}\n",
        sshd.port(),
        line.split_once(' ').unwrap().1
    );
    let known = bed.root.path().join("forged_known_hosts");
    std::fs::write(&known, forged).unwrap();
    let ssh = SshOptions {
        identity: Some(sshd.client_key()),
        known_hosts: vec![known],
        ..SshOptions::default()
    };
    let repo = bed.repo_with(&sshd.url(bed.remote.path()), &ssh, |_| {});
    let err = repo.refresh().await.unwrap_err().to_string();
    assert!(
        err.contains("REMOTE HOST IDENTIFICATION HAS CHANGED")
            || err.contains("Host key verification failed"),
        "{err}"
    );
}

#[tokio::test]
async fn a_wrong_deploy_key_is_refused() {
    let bed = Bed::new(&borrowed(&sample_files()));
    let sshd = SshServer::start().unwrap();
    let stranger = bed.root.path().join("stranger");
    flux_testbed::git::keygen(&stranger, "stranger").unwrap();
    let ssh = SshOptions {
        identity: Some(stranger),
        ..ssh_options(&sshd)
    };
    let repo = bed.repo_with(&sshd.url(bed.remote.path()), &ssh, |_| {});
    let err = repo.refresh().await.unwrap_err();
    assert!(matches!(err, Error::Fetch { .. }), "{err}");
    assert!(err.to_string().contains("Permission denied"), "{err}");
    // A commit job fails the same way, before anything is written.
    let before = bed.remote.head("master").unwrap();
    let edit =
        |_: &flux_core::source::Snapshot| -> Result<flux_git::FileChanges, flux_git::BoxError> {
            let mut c = flux_git::FileChanges::new();
            c.write("apps/x.yaml", b"kind: X\n".to_vec());
            Ok(c)
        };
    let err = repo
        .commit_and_push(edit, flux_git::CommitRequest::new("x"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("Permission denied"), "{err}");
    assert_eq!(bed.remote.head("master").unwrap(), before);
    assert_eq!(repo.head(), None);
}

#[tokio::test]
async fn user_and_system_ssh_config_do_not_weaken_checking() {
    // Even with a permissive GIT_SSH_COMMAND-style environment around, our
    // ssh_config is the only one ssh reads (ssh -F), so the unknown host is
    // still refused. Check the written config directly.
    let bed = Bed::new(&borrowed(&sample_files()));
    let sshd = SshServer::start().unwrap();
    let repo = bed.repo_with(&sshd.url(bed.remote.path()), &ssh_options(&sshd), |_| {});
    let config = std::fs::read_to_string(bed.state.path().join("ssh/ssh_config")).unwrap();
    assert!(config.contains("StrictHostKeyChecking yes"));
    assert!(config.contains(&sshd.client_key().display().to_string()));
    repo.refresh().await.unwrap();
}

#[tokio::test]
async fn an_scp_like_url_through_a_host_alias_of_the_users_ssh_config() {
    // scp-like URLs cannot carry a port; Flux v1 users gave one with a Host
    // alias in the ssh config its chart mounted at /root/.ssh/config.
    let bed = Bed::new(&borrowed(&sample_files()));
    let sshd = SshServer::start().unwrap();
    let config = bed.root.path().join("ssh_config");
    std::fs::write(
        &config,
        format!(
            "Host flux-test-git\n  HostName 127.0.0.1\n  Port {}\n",
            sshd.port()
        ),
    )
    .unwrap();
    let ssh = SshOptions {
        config: Some(config),
        ..ssh_options(&sshd)
    };
    let url = format!(
        "{}@flux-test-git:{}",
        sshd.user(),
        bed.remote.path().display()
    );
    assert_eq!(
        flux_git::Remote::parse(&url).unwrap().transport(),
        flux_git::Transport::Ssh
    );
    let repo = bed.repo_with(&url, &ssh, |_| {});
    // gix fetches through the alias; the git program pushes through it.
    assert_eq!(repo.refresh().await.unwrap().head, bed.head());
    let edit =
        |_: &flux_core::source::Snapshot| -> Result<flux_git::FileChanges, flux_git::BoxError> {
            let mut c = flux_git::FileChanges::new();
            c.write("apps/alias.yaml", b"kind: ConfigMap\n".to_vec());
            Ok(c)
        };
    let outcome = repo
        .commit_and_push(edit, flux_git::CommitRequest::new("through an alias"))
        .await
        .unwrap();
    assert!(
        matches!(outcome, flux_git::CommitOutcome::Pushed(_)),
        "{outcome:?}"
    );
    assert_eq!(
        bed.remote.subjects("master").unwrap()[0],
        "through an alias"
    );
    repo.move_sync_tag(&bed.head()).await.unwrap();
    assert_eq!(
        bed.remote
            .git(&["rev-parse", "flux-sync^{commit}"])
            .unwrap(),
        bed.head()
    );
}

#[tokio::test]
async fn a_users_ssh_config_cannot_turn_host_key_checking_off() {
    let bed = Bed::new(&borrowed(&sample_files()));
    let sshd = SshServer::start().unwrap();
    let config = bed.root.path().join("ssh_config");
    std::fs::write(
        &config,
        "StrictHostKeyChecking no\nUserKnownHostsFile /dev/null\n\
         Host *\n  StrictHostKeyChecking accept-new\n  UserKnownHostsFile /dev/null\n",
    )
    .unwrap();
    // The server's host key is known nowhere fluxd looks.
    let ssh = SshOptions {
        identity: Some(sshd.client_key()),
        config: Some(config),
        ..SshOptions::default()
    };
    let repo = bed.repo_with(&sshd.url(bed.remote.path()), &ssh, |_| {});
    let err = repo.refresh().await.unwrap_err().to_string();
    assert!(err.contains("Host key verification failed"), "{err}");
    assert_eq!(repo.head(), None);
}
