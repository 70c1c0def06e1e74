//! Committing and pushing edits: contents, authorship, refusals, and no lost
//! commits when others push at the same time.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use flux_core::source::Snapshot;
use flux_git::{BoxError, CommitOutcome, CommitRequest, Error, FileChanges, SshOptions};
use flux_testbed::git::{SshServer, WorkClone};

use crate::{Bed, borrowed, deployment, sample_files, ssh_options};

/// An edit that swaps one image for another in `path`.
fn bump(
    path: &'static str,
    from: &'static str,
    to: &'static str,
) -> impl Fn(&Snapshot) -> Result<FileChanges, BoxError> + Send + Sync + 'static {
    move |snap: &Snapshot| {
        let old = snap
            .files
            .get(path)
            .ok_or_else(|| format!("{path} is gone"))?;
        let text = String::from_utf8(old.to_vec())?;
        if !text.contains(from) {
            return Err(format!("{path} no longer has {from}").into());
        }
        let mut c = FileChanges::new();
        c.write(path, text.replace(from, to));
        Ok(c)
    }
}

fn pushed(outcome: CommitOutcome) -> flux_git::Pushed {
    match outcome {
        CommitOutcome::Pushed(p) => p,
        other => panic!("expected a push, got {other:?}"),
    }
}

#[tokio::test]
async fn an_edit_is_committed_on_the_head_and_pushed_over_ssh() {
    let bed = Bed::new(&borrowed(&sample_files()));
    let before = bed.head();
    let sshd = SshServer::start().unwrap();
    let repo = bed.repo_with(&sshd.url(bed.remote.path()), &ssh_options(&sshd), |f| {
        f.ci_skip = true;
    });
    let p = pushed(
        repo.commit_and_push(
            bump("apps/web.yaml", "nginx:1.25", "nginx:1.26"),
            CommitRequest::new("Release nginx:1.26 to default:deployment/web")
                .user("Jane <jane@example.com>"),
        )
        .await
        .unwrap(),
    );
    assert_eq!(p.parent, before);
    assert_eq!(p.attempts, 1);
    assert_eq!(p.files, ["apps/web.yaml"]);
    assert_eq!(bed.head(), p.revision);
    // Only that file changed, byte for byte as the edit made it.
    assert_eq!(
        bed.remote.show(&p.revision, "apps/web.yaml").unwrap(),
        deployment("web", "nginx:1.26")
    );
    let diff = bed
        .remote
        .git(&["diff", "--name-only", &before, &p.revision])
        .unwrap();
    assert_eq!(diff, "apps/web.yaml");
    // Flux is author and committer (no --git-set-author); [ci skip] appended.
    let meta = bed
        .remote
        .git(&["log", "-1", "--format=%an <%ae>|%cn <%ce>|%B", &p.revision])
        .unwrap();
    assert_eq!(
        meta,
        "Weave Flux <support@weave.works>|Weave Flux <support@weave.works>|Release nginx:1.26 to default:deployment/web\n\n[ci skip]"
    );
    bed.remote
        .git(&["fsck", "--strict", "--no-dangling"])
        .unwrap();
    // The mirror knows its own commit without another fetch.
    let snap = repo
        .snapshot_at(&p.revision, &["apps".into()])
        .await
        .unwrap();
    assert_eq!(
        snap.files.get("apps/web.yaml"),
        Some(deployment("web", "nginx:1.26").as_slice())
    );
}

#[tokio::test]
async fn set_author_names_the_user_and_flux_stays_committer() {
    let bed = Bed::new(&borrowed(&sample_files()));
    let repo = bed.repo_with(&bed.remote.file_url(), &SshOptions::default(), |f| {
        f.set_author = true;
        f.user = "Flux Bot".into();
        f.email = "flux@example.com".into();
    });
    let p = pushed(
        repo.commit_and_push(
            bump("apps/api.yml", "api:1.0", "api:1.1"),
            CommitRequest::new("Release api:1.1").user("Jane Doe <jane@example.com>"),
        )
        .await
        .unwrap(),
    );
    let meta = bed
        .remote
        .git(&["log", "-1", "--format=%an <%ae>|%cn <%ce>", &p.revision])
        .unwrap();
    assert_eq!(
        meta,
        "Jane Doe <jane@example.com>|Flux Bot <flux@example.com>"
    );
}

#[tokio::test]
async fn an_edit_that_changes_nothing_commits_nothing() {
    let bed = Bed::new(&borrowed(&sample_files()));
    let before = bed.head();
    let repo = bed.repo();
    let same = |snap: &Snapshot| -> Result<FileChanges, BoxError> {
        let mut c = FileChanges::new();
        c.write(
            "apps/web.yaml",
            snap.files.get("apps/web.yaml").unwrap().to_vec(),
        );
        Ok(c)
    };
    let outcome = repo
        .commit_and_push(same, CommitRequest::new("noop"))
        .await
        .unwrap();
    assert_eq!(
        outcome,
        CommitOutcome::NoChanges {
            revision: before.clone()
        }
    );
    let empty = |_: &Snapshot| -> Result<FileChanges, BoxError> { Ok(FileChanges::new()) };
    let outcome = repo
        .commit_and_push(empty, CommitRequest::new("noop"))
        .await
        .unwrap();
    assert!(matches!(outcome, CommitOutcome::NoChanges { .. }));
    assert_eq!(bed.head(), before);
}

#[tokio::test]
async fn a_failing_edit_fails_the_job_and_pushes_nothing() {
    let bed = Bed::new(&borrowed(&sample_files()));
    let before = bed.head();
    let repo = bed.repo();
    let err = repo
        .commit_and_push(
            bump("apps/web.yaml", "nginx:9", "nginx:10"),
            CommitRequest::new("x"),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Edit { attempt: 1, .. }), "{err}");
    assert!(
        err.to_string()
            .contains("apps/web.yaml no longer has nginx:9"),
        "{err}"
    );
    assert!(err.to_string().contains(&before), "{err}");
    assert_eq!(bed.head(), before);
}

/// A write gate that has closed.
struct Closed;

impl flux_core::fence::WriteGate for Closed {
    fn check(&self) -> Result<(), String> {
        Err("source \"apps\" is owned by fluxd-b".into())
    }
}

#[tokio::test]
async fn a_closed_write_gate_pushes_nothing_and_says_why() {
    let bed = Bed::new(&borrowed(&sample_files()));
    let before = bed.head();
    let repo = bed.repo();
    let err = repo
        .commit_and_push_gated(
            bump("apps/web.yaml", "nginx:1.25", "nginx:1.26"),
            CommitRequest::new("bump"),
            &Closed,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Fenced {
                operation: "push",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "push refused: source \"apps\" is owned by fluxd-b"
    );
    assert_eq!(bed.head(), before, "nothing reached the remote");
}

#[tokio::test]
async fn changes_that_cannot_be_made_are_refused_before_anything_is_pushed() {
    let bed = Bed::new(&borrowed(&sample_files()));
    let work = WorkClone::new(&bed.remote.file_url(), "master", None).unwrap();
    std::os::unix::fs::symlink("/etc", work.path().join("etc-link")).unwrap();
    work.commit("a link out").unwrap();
    work.push().unwrap();
    let before = bed.head();
    // The link out is outside the git path, so reading is fine; writing
    // through it is not.
    let repo = bed.repo_with(&bed.remote.file_url(), &SshOptions::default(), |f| {
        f.paths = vec!["apps".into()];
    });
    for (path, why) in [
        (".git/config", "inside .git"),
        ("../x.yaml", "'..'"),
        ("/abs.yaml", "relative"),
        ("apps", "is a directory"),
        ("apps/web.yaml/x.yaml", "is a file"),
        ("etc-link/passwd", "outside the repository"),
    ] {
        let edit = move |_: &Snapshot| -> Result<FileChanges, BoxError> {
            let mut c = FileChanges::new();
            c.write("apps/web.yaml", b"changed".to_vec());
            c.write(path, b"x".to_vec());
            Ok(c)
        };
        let err = repo
            .commit_and_push(edit, CommitRequest::new("bad"))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::InvalidChange { .. }), "{path}: {err}");
        assert!(err.to_string().contains(why), "{path}: {err}");
    }
    assert_eq!(bed.head(), before);
}

#[tokio::test]
async fn writes_go_through_links_inside_the_repository_and_deletes_work() {
    let bed = Bed::new(&[]);
    let work = WorkClone::new(&bed.remote.file_url(), "master", None).unwrap();
    work.write("shared/web.yaml", &deployment("web", "nginx:1"))
        .unwrap();
    work.write("apps/old.yaml", b"kind: Old\n").unwrap();
    std::os::unix::fs::symlink("../shared/web.yaml", work.path().join("apps/web.yaml")).unwrap();
    work.commit("linked").unwrap();
    work.push().unwrap();
    let repo = bed.repo();
    let edit = |snap: &Snapshot| -> Result<FileChanges, BoxError> {
        let text = String::from_utf8(snap.files.get("apps/web.yaml").unwrap().to_vec())?;
        let mut c = FileChanges::new();
        c.write("apps/web.yaml", text.replace("nginx:1", "nginx:2"));
        c.delete("apps/old.yaml");
        c.write("apps/new/extra.yaml", b"kind: New\n".to_vec());
        Ok(c)
    };
    let p = pushed(
        repo.commit_and_push(edit, CommitRequest::new("through the link"))
            .await
            .unwrap(),
    );
    assert_eq!(
        p.files,
        ["apps/new/extra.yaml", "apps/old.yaml", "shared/web.yaml"]
    );
    assert_eq!(
        bed.remote.show(&p.revision, "shared/web.yaml").unwrap(),
        deployment("web", "nginx:2")
    );
    let link = bed
        .remote
        .git(&["ls-tree", &p.revision, "apps/web.yaml"])
        .unwrap();
    assert!(link.starts_with("120000 "), "still a symbolic link: {link}");
    assert!(bed.remote.show(&p.revision, "apps/old.yaml").is_err());
    assert_eq!(
        bed.remote.show(&p.revision, "apps/new/extra.yaml").unwrap(),
        b"kind: New\n"
    );
}

#[tokio::test]
async fn a_missing_git_path_fails_the_job_by_name_and_pushes_nothing() {
    let bed = Bed::new(&borrowed(&sample_files()));
    let before = bed.head();
    let repo = bed.repo_with(&bed.remote.file_url(), &SshOptions::default(), |f| {
        f.paths = vec!["apps".into(), "clusters/prod".into()];
    });
    let err = repo
        .commit_and_push(
            bump("apps/web.yaml", "nginx:1.25", "nginx:1.26"),
            CommitRequest::new("x"),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Manifests { .. }), "{err}");
    assert!(
        err.to_string().contains("\"clusters/prod\" not found"),
        "{err}"
    );
    assert_eq!(bed.head(), before);
}

#[tokio::test]
async fn read_only_refuses_to_commit() {
    let bed = Bed::new(&borrowed(&sample_files()));
    let before = bed.head();
    let repo = bed.repo_with(&bed.remote.file_url(), &SshOptions::default(), |f| {
        f.readonly = true
    });
    let err = repo
        .commit_and_push(
            bump("apps/web.yaml", "nginx:1.25", "nginx:1.26"),
            CommitRequest::new("x"),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ReadOnly { .. }), "{err}");
    assert_eq!(bed.head(), before);
}

#[tokio::test]
async fn a_push_overtaken_by_another_writer_is_reapplied_on_top() {
    let bed = Bed::new(&borrowed(&sample_files()));
    let repo = bed.repo();
    let url = bed.remote.file_url();
    let calls = Arc::new(AtomicU32::new(0));
    let seen = Arc::clone(&calls);
    let base = bump("apps/web.yaml", "nginx:1.25", "nginx:1.26");
    // The first time the edit runs, somebody else pushes a commit between our
    // fetch and our push.
    let racing = move |snap: &Snapshot| -> Result<FileChanges, BoxError> {
        if seen.fetch_add(1, Ordering::SeqCst) == 0 {
            let other = WorkClone::new(&url, "master", None)?;
            other.write("apps/api.yml", &deployment("api", "api:2.0"))?;
            other.commit("someone else's release")?;
            other.push()?;
        }
        base(snap)
    };
    let p = pushed(
        repo.commit_and_push(racing, CommitRequest::new("ours"))
            .await
            .unwrap(),
    );
    assert_eq!(p.attempts, 2);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(
        bed.remote.subjects("master").unwrap(),
        ["ours", "someone else's release", "initial"]
    );
    // Both changes are in the final tree.
    assert_eq!(
        bed.remote.show("master", "apps/api.yml").unwrap(),
        deployment("api", "api:2.0")
    );
    assert_eq!(
        bed.remote.show("master", "apps/web.yaml").unwrap(),
        deployment("web", "nginx:1.26")
    );
}

#[tokio::test]
async fn an_edit_that_no_longer_applies_after_a_race_fails_clearly() {
    let bed = Bed::new(&borrowed(&sample_files()));
    let repo = bed.repo();
    let url = bed.remote.file_url();
    let seen = Arc::new(AtomicU32::new(0));
    let base = bump("apps/web.yaml", "nginx:1.25", "nginx:1.26");
    let racing = move |snap: &Snapshot| -> Result<FileChanges, BoxError> {
        if seen.fetch_add(1, Ordering::SeqCst) == 0 {
            // Someone else bumps the same image first.
            let other = WorkClone::new(&url, "master", None)?;
            other.write("apps/web.yaml", &deployment("web", "nginx:1.27"))?;
            other.commit("someone else bumped nginx")?;
            other.push()?;
        }
        base(snap)
    };
    let err = repo
        .commit_and_push(racing, CommitRequest::new("ours"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Edit { attempt: 2, .. }), "{err}");
    assert!(
        err.to_string().contains("no longer has nginx:1.25"),
        "{err}"
    );
    assert_eq!(
        bed.remote.subjects("master").unwrap(),
        ["someone else bumped nginx", "initial"]
    );
}

#[tokio::test]
async fn fifty_concurrent_jobs_make_fifty_commits() {
    let bed = Bed::new(&borrowed(&sample_files()));
    let repo = bed.repo();
    let mut jobs = Vec::new();
    for i in 0..50 {
        let repo = repo.clone();
        jobs.push(tokio::spawn(async move {
            let edit = move |snap: &Snapshot| -> Result<FileChanges, BoxError> {
                let log = snap.files.get("apps/log.yaml").unwrap_or(b"entries:\n");
                let mut text = String::from_utf8(log.to_vec())?;
                text.push_str(&format!("- job-{i}\n"));
                let mut c = FileChanges::new();
                c.write("apps/log.yaml", text);
                Ok(c)
            };
            repo.commit_and_push(edit, CommitRequest::new(format!("job {i}")))
                .await
        }));
    }
    for job in jobs {
        pushed(job.await.unwrap().unwrap());
    }
    let subjects = bed.remote.subjects("master").unwrap();
    assert_eq!(subjects.len(), 51);
    let log = String::from_utf8(bed.remote.show("master", "apps/log.yaml").unwrap()).unwrap();
    for i in 0..50 {
        assert!(
            log.contains(&format!("- job-{i}\n")),
            "job {i} lost:\n{log}"
        );
        assert!(subjects.contains(&format!("job {i}")));
    }
}

#[tokio::test]
async fn a_concurrent_writer_loses_nothing_and_our_changes_land_on_top() {
    // Another process (git, through its own clone) pushes 15 commits as fast
    // as it can while two independent fluxd-like repos push 20 jobs to the
    // same branch. (A writer that never stops could starve any client that
    // fetches before pushing, git's own included.)
    let bed = Bed::new(&borrowed(&sample_files()));
    let url = bed.remote.file_url();
    let writer = {
        let url = url.clone();
        std::thread::spawn(move || {
            let other = WorkClone::new(&url, "master", None).unwrap();
            let mut pushed = Vec::new();
            let mut n = 0;
            while pushed.len() < 15 {
                n += 1;
                other
                    .write(&format!("other/{n}.yaml"), format!("n: {n}\n").as_bytes())
                    .unwrap();
                other.commit(&format!("writer {n}")).unwrap();
                loop {
                    if other.push().is_ok() {
                        pushed.push(format!("writer {n}"));
                        break;
                    }
                    other.pull().unwrap();
                }
            }
            pushed
        })
    };
    let second = tempfile::tempdir().unwrap();
    let make = |state: &std::path::Path| {
        let mut flags = flux_git::GitFlags {
            url: url.clone(),
            ..flux_git::GitFlags::default()
        };
        flags.timeout = std::time::Duration::from_secs(120);
        let mut config = flux_git::GitConfig::from_flags(&flags).unwrap();
        config.push_attempts = 50;
        flux_git::Repo::new(config, &SshOptions::default(), state).unwrap()
    };
    let repos = [make(bed.state.path()), make(second.path())];
    let mut jobs = Vec::new();
    for i in 0..20 {
        let repo = repos[i % 2].clone();
        jobs.push(tokio::spawn(async move {
            let edit = move |_: &Snapshot| -> Result<FileChanges, BoxError> {
                let mut c = FileChanges::new();
                c.write(format!("jobs/{i}.yaml"), format!("job: {i}\n"));
                Ok(c)
            };
            repo.commit_and_push(edit, CommitRequest::new(format!("job {i}")))
                .await
        }));
    }
    let mut retried = 0;
    for job in jobs {
        retried += pushed(job.await.unwrap().unwrap()).attempts - 1;
    }
    let theirs = writer.join().unwrap();
    assert_eq!(theirs.len(), 15);
    let subjects = bed.remote.subjects("master").unwrap();
    for s in theirs.iter().chain(
        (0..20)
            .map(|i| format!("job {i}"))
            .collect::<Vec<_>>()
            .iter(),
    ) {
        assert!(subjects.contains(s), "{s} lost");
    }
    for i in 0..20 {
        assert_eq!(
            bed.remote
                .show("master", &format!("jobs/{i}.yaml"))
                .unwrap(),
            format!("job: {i}\n").as_bytes()
        );
    }
    // History is linear: nothing was forced or merged away.
    let count: usize = bed
        .remote
        .git(&["rev-list", "--count", "master"])
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(count, subjects.len());
    eprintln!(
        "{} writer commits, 20 jobs, {retried} re-applied edits",
        theirs.len()
    );
}

#[tokio::test]
async fn a_remote_that_refuses_is_not_retried() {
    let bed = Bed::new(&borrowed(&sample_files()));
    let hook = bed.remote.path().join("hooks/pre-receive");
    std::fs::write(&hook, "#!/bin/sh\necho 'branch is protected' >&2\nexit 1\n").unwrap();
    std::fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let before = bed.head();
    let repo = bed.repo();
    let err = repo
        .commit_and_push(
            bump("apps/web.yaml", "nginx:1.25", "nginx:1.26"),
            CommitRequest::new("x"),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::PushRefused { .. }), "{err}");
    assert!(
        err.to_string().contains("pre-receive hook declined"),
        "{err}"
    );
    assert_eq!(bed.head(), before);
}

#[tokio::test]
async fn a_flux_core_image_update_changes_only_the_image() {
    let bed = Bed::new(&borrowed(&sample_files()));
    let before = bed.head();
    let repo = bed.repo_with(&bed.remote.file_url(), &SshOptions::default(), |f| {
        f.paths = vec!["apps".into()];
    });
    // The edit parses the files at the head and updates one container with
    // flux-core, so a re-run on a new head finds the workload wherever it is.
    let edit = |snap: &Snapshot| -> Result<FileChanges, BoxError> {
        let manifests = flux_core::manifest::parse_files(
            &snap.files,
            &["apps".into()],
            &flux_core::ScopeTable::builtin(),
            &flux_core::manifest::LoadOptions::default(),
        )?;
        let id = "default:deployment/web".parse()?;
        let web = manifests.resources.get(&id).ok_or("web is gone")?;
        let at = web.source();
        let text = std::str::from_utf8(snap.files.get(&at.file).ok_or("file is gone")?)?;
        let new = flux_core::update::set_container_image(text, at, "app", &"nginx:1.26".parse()?)?;
        Ok(vec![flux_core::release::FileEdit {
            file: at.file.clone(),
            text: new,
        }]
        .into())
    };
    let p = pushed(
        repo.commit_and_push(edit, CommitRequest::new("Release nginx:1.26"))
            .await
            .unwrap(),
    );
    let diff = bed
        .remote
        .git(&["diff", "--unified=0", &before, &p.revision])
        .unwrap();
    let changed: Vec<&str> = diff
        .lines()
        .filter(|l| {
            (l.starts_with('+') || l.starts_with('-'))
                && !l.starts_with("+++")
                && !l.starts_with("---")
        })
        .collect();
    assert_eq!(
        changed,
        ["-        image: nginx:1.25", "+        image: nginx:1.26"]
    );
}
