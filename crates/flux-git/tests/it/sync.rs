//! The sync tag and the write check.

use flux_git::{BoxError, CommitRequest, Error, FileChanges, RepoState, SshOptions};
use flux_testbed::git::{GitDaemon, SshServer};

use crate::{Bed, borrowed, remote_git, sample_files, ssh_options};

#[tokio::test]
async fn the_sync_tag_is_moved_pushed_and_read_back_after_a_restart() {
    let bed = Bed::new(&borrowed(&sample_files()));
    let first = bed.head();
    let sshd = SshServer::start().unwrap();
    let url = sshd.url(bed.remote.path());
    let repo = bed.repo_with(&url, &ssh_options(&sshd), |_| {});
    repo.refresh().await.unwrap();
    assert_eq!(repo.sync_revision().await.unwrap(), None);
    repo.move_sync_tag(&first).await.unwrap();

    // An annotated tag, by Flux, saying "Sync pointer".
    let dir = bed.remote.path();
    assert_eq!(
        remote_git(dir, &["cat-file", "-t", "refs/tags/flux-sync"]),
        "tag"
    );
    assert_eq!(remote_git(dir, &["rev-parse", "flux-sync^{commit}"]), first);
    let tag = remote_git(dir, &["cat-file", "-p", "refs/tags/flux-sync"]);
    assert!(
        tag.contains("tagger Weave Flux <support@weave.works>"),
        "{tag}"
    );
    assert!(tag.ends_with("Sync pointer"), "{tag}");

    // Moving it forward replaces it (tags may be forced; branches never).
    let second = bed
        .remote
        .commit_files(&[("b.yaml", b"b: 1\n")], "next")
        .unwrap();
    repo.refresh().await.unwrap();
    repo.move_sync_tag(&second).await.unwrap();
    assert_eq!(
        remote_git(dir, &["rev-parse", "flux-sync^{commit}"]),
        second
    );

    // A new process reads it back after its first fetch.
    drop(repo);
    let restarted = bed.repo_with(&url, &ssh_options(&sshd), |_| {});
    restarted.refresh().await.unwrap();
    assert_eq!(restarted.sync_revision().await.unwrap(), Some(second));
}

#[tokio::test]
async fn the_label_names_the_tag() {
    let bed = Bed::new(&borrowed(&sample_files()));
    let daemon = GitDaemon::start(bed.root.path()).unwrap();
    let repo = bed.repo_with(&daemon.url("config.git"), &SshOptions::default(), |f| {
        f.label = Some("flux-staging".into());
    });
    repo.refresh().await.unwrap();
    repo.move_sync_tag(&bed.head()).await.unwrap();
    assert_eq!(bed.remote.git(&["tag", "--list"]).unwrap(), "flux-staging");
}

#[tokio::test]
async fn read_only_never_pushes_a_tag() {
    let bed = Bed::new(&borrowed(&sample_files()));
    let repo = bed.repo_with(&bed.remote.file_url(), &SshOptions::default(), |f| {
        f.readonly = true
    });
    let status = repo.ready().await.unwrap();
    assert_eq!(status.state, RepoState::Ready);
    let err = repo.move_sync_tag(&bed.head()).await.unwrap_err();
    assert!(matches!(err, Error::ReadOnly { .. }), "{err}");
    assert_eq!(bed.remote.git(&["tag", "--list"]).unwrap(), "");
}

#[tokio::test]
async fn an_unknown_revision_is_not_tagged() {
    let bed = Bed::new(&borrowed(&sample_files()));
    let repo = bed.repo();
    repo.refresh().await.unwrap();
    let err = repo.move_sync_tag("deadbeef").await.unwrap_err();
    assert!(matches!(err, Error::RevisionNotFound { .. }), "{err}");
}

#[tokio::test]
async fn ready_checks_write_access_and_leaves_no_trace() {
    let bed = Bed::new(&borrowed(&sample_files()));
    let sshd = SshServer::start().unwrap();
    let repo = bed.repo_with(&sshd.url(bed.remote.path()), &ssh_options(&sshd), |_| {});
    assert_eq!(repo.status().state, RepoState::New);
    let status = repo.ready().await.unwrap();
    assert_eq!(status.state, RepoState::Ready);
    assert_eq!(status.head, Some(bed.head()));
    assert_eq!(bed.remote.git(&["tag", "--list"]).unwrap(), "");
}

#[tokio::test]
async fn the_write_check_makes_a_cloned_repository_ready_without_fetching() {
    let bed = Bed::new(&borrowed(&sample_files()));
    let daemon = GitDaemon::start(bed.root.path()).unwrap();
    let repo = bed.repo_with(&daemon.url("config.git"), &SshOptions::default(), |_| {});
    repo.refresh().await.unwrap();
    assert_eq!(repo.status().state, RepoState::Cloned);
    let first = bed.head();
    bed.remote
        .commit_files(&[("b.yaml", b"b: 1\n")], "next")
        .unwrap();
    repo.check_write().await.unwrap();
    let status = repo.status();
    assert_eq!(status.state, RepoState::Ready);
    assert_eq!(status.head, Some(first), "the write check fetched nothing");
    assert_eq!(bed.remote.git(&["tag", "--list"]).unwrap(), "");
}

#[tokio::test]
async fn a_remote_that_refuses_writes_is_not_ready() {
    let bed = Bed::new(&borrowed(&sample_files()));
    let hook = bed.remote.path().join("hooks/pre-receive");
    std::fs::write(
        &hook,
        "#!/bin/sh\necho 'read-only deploy key' >&2\nexit 1\n",
    )
    .unwrap();
    std::fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let repo = bed.repo();
    let err = repo.ready().await.unwrap_err();
    assert!(matches!(err, Error::PushRefused { .. }), "{err}");
    let status = repo.status();
    assert_eq!(status.state, RepoState::Cloned);
    assert!(status.error.unwrap().contains("refused"));
}

#[tokio::test]
async fn a_remote_that_goes_down_fails_jobs_and_tag_moves_and_nothing_moves() {
    let bed = Bed::new(&borrowed(&sample_files()));
    let first = bed.head();
    let mut daemon = GitDaemon::start(bed.root.path()).unwrap();
    let url = daemon.url("config.git");
    let repo = bed.repo_with(&url, &SshOptions::default(), |_| {});
    repo.refresh().await.unwrap();
    repo.move_sync_tag(&first).await.unwrap();
    let second = bed
        .remote
        .commit_files(&[("apps/b.yaml", b"kind: B\n")], "next")
        .unwrap();
    repo.refresh().await.unwrap();
    daemon.stop();

    let edit = |_: &flux_core::source::Snapshot| -> Result<FileChanges, BoxError> {
        let mut c = FileChanges::new();
        c.write("apps/c.yaml", b"kind: C\n".to_vec());
        Ok(c)
    };
    let err = repo
        .commit_and_push(edit, CommitRequest::new("while down"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Fetch { .. }), "{err}");
    assert!(err.to_string().contains(&url), "{err}");
    let err = repo.move_sync_tag(&second).await.unwrap_err();
    assert!(err.to_string().contains(&url), "{err}");

    // Nothing was half-done: the remote, the mirror's branch and its sync
    // tag are where they were.
    assert_eq!(bed.head(), second);
    assert_eq!(
        remote_git(bed.remote.path(), &["rev-parse", "flux-sync^{commit}"]),
        first
    );
    assert_eq!(repo.head(), Some(second.clone()));
    assert_eq!(repo.sync_revision().await.unwrap(), Some(first));
}
