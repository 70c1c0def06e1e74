//! Strings from callers (revisions, refs, tag names, key IDs) never become
//! options of the `git` program, however they look.

use flux_git::{Error, GitConfig, GitFlags, Repo, SshOptions};

use crate::{Bed, borrowed, sample_files};

/// Files in `dir`, which hostile values try to make git write into.
fn written(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

#[tokio::test]
async fn revisions_that_look_like_options_are_revisions() {
    let bed = Bed::new(&borrowed(&sample_files()));
    let repo = bed.repo();
    let head = repo.refresh().await.unwrap().head;
    let out = tempfile::tempdir().unwrap();
    // `git log --output=FILE` writes FILE; `verify-commit`, `verify-tag`
    // and `log` must take these as revisions (and find none).
    let hostile = format!("--output={}/pwned", out.path().display());
    let statuses = repo.signature_statuses(Some(&hostile), &head, false).await;
    assert!(statuses.is_err(), "{statuses:?}");
    let statuses = repo.signature_statuses(None, &hostile, true).await;
    assert!(statuses.is_err(), "{statuses:?}");
    let verified = repo.verify_commit(&hostile).await;
    assert!(verified.is_err(), "{verified:?}");
    let verified = repo.verify_tag(&hostile).await;
    assert!(verified.is_err(), "{verified:?}");
    assert_eq!(written(out.path()), Vec::<String>::new());
    // The same calls with real revisions work.
    let first = repo.signature_statuses(None, &head, false).await.unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].revision, head);
}

/// A change to a valid configuration.
type Change = Box<dyn Fn(&mut GitConfig)>;

#[test]
fn settings_changed_after_validation_are_checked_again() {
    // GitConfig's fields are public: a value changed after `from_flags`
    // must not reach git unchecked.
    let bed = Bed::new(&borrowed(&sample_files()));
    let valid = GitConfig::from_flags(&GitFlags {
        url: bed.remote.file_url(),
        ..GitFlags::default()
    })
    .unwrap();
    let cases: [(&str, Change); 7] = [
        (
            "--git-branch",
            Box::new(|c| c.branch = "--upload-pack=touch /tmp/pwned".into()),
        ),
        ("--git-branch", Box::new(|c| c.branch = "a..b".into())),
        ("--git-sync-tag", Box::new(|c| c.sync_tag = "-d".into())),
        (
            "--git-notes-ref",
            Box::new(|c| c.notes_ref = "--force".into()),
        ),
        (
            "--git-signing-key",
            Box::new(|c| c.signing_key = Some("--exec=x".into())),
        ),
        (
            "--git-user",
            Box::new(|c| c.committer.name = "Flux\nEvil: header".into()),
        ),
        ("--git-path", Box::new(|c| c.paths = vec!["../up".into()])),
    ];
    for (flag, change) in cases {
        let mut config = valid.clone();
        change(&mut config);
        let err = Repo::new(config, &SshOptions::default(), bed.state.path())
            .map(|_| ())
            .unwrap_err();
        assert!(matches!(err, Error::InvalidConfig { .. }), "{flag}: {err}");
        assert!(err.to_string().contains(flag), "{flag}: {err}");
    }
    Repo::new(valid, &SshOptions::default(), bed.state.path()).unwrap();
}
