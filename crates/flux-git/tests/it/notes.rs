//! Notes on Flux's commits: pushed with the commit, read back, never lost
//! to a concurrent notes writer.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use flux_core::source::Snapshot;
use flux_git::{BoxError, CommitOutcome, CommitRequest, FileChanges, SshOptions};
use flux_testbed::git::WorkClone;

use crate::{Bed, borrowed, sample_files};

fn add(
    name: &'static str,
) -> impl Fn(&Snapshot) -> Result<FileChanges, BoxError> + Send + Sync + 'static {
    move |_: &Snapshot| {
        let mut c = FileChanges::new();
        c.write(name, b"kind: ConfigMap\n".to_vec());
        Ok(c)
    }
}

fn revision(outcome: CommitOutcome) -> String {
    match outcome {
        CommitOutcome::Pushed(p) => p.revision,
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn notes_are_pushed_with_the_commit_and_read_back() {
    let bed = Bed::new(&borrowed(&sample_files()));
    let repo = bed.repo();
    let job = br#"{"jobID":"1","spec":{"type":"image"}}"#;
    let first = revision(
        repo.commit_and_push(
            add("apps/one.yaml"),
            CommitRequest::new("one").note(job.to_vec()),
        )
        .await
        .unwrap(),
    );
    let second = revision(
        repo.commit_and_push(
            add("apps/two.yaml"),
            CommitRequest::new("two").note(b"{\"jobID\":\"2\"}".to_vec()),
        )
        .await
        .unwrap(),
    );
    // git itself sees them.
    assert_eq!(
        bed.remote
            .git(&["notes", "--ref", "flux", "show", &first])
            .unwrap(),
        String::from_utf8_lossy(job)
    );
    assert_eq!(
        bed.remote
            .git(&["notes", "--ref", "flux", "show", &second])
            .unwrap(),
        "{\"jobID\":\"2\"}"
    );
    // And a fresh mirror reads them back.
    drop(repo);
    let fresh = bed.repo();
    fresh.refresh().await.unwrap();
    assert_eq!(
        fresh.note(&first).await.unwrap().as_deref(),
        Some(job.as_slice())
    );
    let head = bed.remote.head("master").unwrap().unwrap();
    assert!(fresh.note(&head).await.unwrap().is_some());
    let noted = fresh.noted_revisions().await.unwrap();
    assert_eq!(noted.len(), 2);
    assert!(noted.contains(&first) && noted.contains(&second));
    // A commit without a note has none.
    let before = bed.remote.git(&["rev-parse", "master~2"]).unwrap();
    assert_eq!(fresh.note(&before).await.unwrap(), None);
}

#[tokio::test]
async fn notes_written_by_git_are_read_fanned_out_or_not() {
    let bed = Bed::new(&borrowed(&sample_files()));
    let head = bed.head();
    bed.remote
        .git(&["notes", "--ref", "flux", "add", "-m", "by git", &head])
        .unwrap();
    let repo = bed.repo_with(&bed.remote.file_url(), &SshOptions::default(), |f| {
        f.label = Some("flux".into());
    });
    repo.refresh().await.unwrap();
    assert_eq!(
        repo.note(&head).await.unwrap().as_deref(),
        Some(b"by git\n".as_slice())
    );
    // A fanned-out notes tree (as git writes for many notes) reads the same.
    let work = WorkClone::new(&bed.remote.file_url(), "master", None).unwrap();
    let tree = format!("{}/{}", &head[..2], &head[2..]);
    work.git(&["fetch", "-q", "origin", "refs/notes/flux:refs/notes/flux"])
        .unwrap();
    work.git(&["checkout", "-q", "--orphan", "fanout"]).unwrap();
    work.git(&["rm", "-rq", "--cached", "."]).unwrap();
    work.write(&tree, b"fanned\n").unwrap();
    work.git(&["add", &tree]).unwrap();
    work.git(&["commit", "-qm", "fanout notes"]).unwrap();
    work.git(&["push", "-qf", "origin", "HEAD:refs/notes/flux"])
        .unwrap();
    repo.refresh().await.unwrap();
    assert_eq!(
        repo.note(&head).await.unwrap().as_deref(),
        Some(b"fanned\n".as_slice())
    );
    assert!(repo.noted_revisions().await.unwrap().contains(&head));
}

#[tokio::test]
async fn a_concurrent_notes_writer_loses_nothing() {
    let bed = Bed::new(&borrowed(&sample_files()));
    let base = bed.head();
    let repo = bed.repo();
    let url = bed.remote.file_url();
    let seen = Arc::new(AtomicU32::new(0));
    let inner = add("apps/ours.yaml");
    let noted = base.clone();
    let racing = move |snap: &Snapshot| -> Result<FileChanges, BoxError> {
        if seen.fetch_add(1, Ordering::SeqCst) == 0 {
            // Another fluxd notes an old commit meanwhile.
            let other = WorkClone::new(&url, "master", None)?;
            other.git(&["notes", "--ref", "flux", "add", "-m", "theirs", &noted])?;
            other.git(&["push", "-q", "origin", "refs/notes/flux"])?;
        }
        inner(snap)
    };
    let CommitOutcome::Pushed(p) = repo
        .commit_and_push(racing, CommitRequest::new("ours").note(b"ours".to_vec()))
        .await
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(p.attempts, 2, "the atomic push lost the notes race once");
    assert_eq!(
        bed.remote
            .git(&["notes", "--ref", "flux", "show", &base])
            .unwrap(),
        "theirs"
    );
    assert_eq!(
        bed.remote
            .git(&["notes", "--ref", "flux", "show", &p.revision])
            .unwrap(),
        "ours"
    );
    // Nothing half-done: one commit on the branch.
    assert_eq!(bed.remote.subjects("master").unwrap(), ["ours", "initial"]);
}

#[tokio::test]
async fn remotes_without_atomic_push_still_get_commit_and_note() {
    let bed = Bed::new(&borrowed(&sample_files()));
    bed.remote
        .git(&["config", "receive.advertiseAtomic", "false"])
        .unwrap();
    let repo = bed.repo();
    let rev = revision(
        repo.commit_and_push(
            add("apps/x.yaml"),
            CommitRequest::new("x").note(b"noted".to_vec()),
        )
        .await
        .unwrap(),
    );
    assert_eq!(
        bed.remote
            .git(&["notes", "--ref", "flux", "show", &rev])
            .unwrap(),
        "noted"
    );
}
