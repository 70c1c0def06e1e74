//! Listing commits between revisions.

use crate::{Bed, borrowed, sample_files};

#[tokio::test]
async fn commits_between_revisions_newest_first_with_paths() {
    let bed = Bed::new(&borrowed(&sample_files()));
    let base = bed.head();
    let a = bed
        .remote
        .commit_files(&[("apps/a.yaml", b"a: 1\n")], "touch apps")
        .unwrap();
    let b = bed
        .remote
        .commit_files(&[("infra/b.yaml", b"b: 1\n")], "touch infra")
        .unwrap();
    let c = bed
        .remote
        .commit_files(&[("apps/a.yaml", b"a: 2\n")], "touch apps again")
        .unwrap();
    let repo = bed.repo();
    repo.refresh().await.unwrap();

    let all = repo
        .commits_between(Some(&base), &c, false, &[])
        .await
        .unwrap();
    let revs: Vec<&str> = all.iter().map(|c| c.revision.as_str()).collect();
    assert_eq!(revs, [c.as_str(), b.as_str(), a.as_str()]);
    assert_eq!(all[0].summary, "touch apps again");
    assert_eq!(all[0].author.name, flux_testbed::git::TEST_AUTHOR.0);

    let apps = repo
        .commits_between(Some(&base), "master", false, &["apps".into()])
        .await
        .unwrap();
    let summaries: Vec<&str> = apps.iter().map(|c| c.summary.as_str()).collect();
    assert_eq!(summaries, ["touch apps again", "touch apps"]);

    let everything = repo.commits_between(None, &c, true, &[]).await.unwrap();
    assert_eq!(everything.len(), 4);
    assert!(
        repo.commits_between(Some(&c), &c, false, &[])
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        repo.commits_between(Some("nope"), &c, false, &[])
            .await
            .is_err()
    );
}
