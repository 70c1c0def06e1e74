//! GPG signing of commits and the sync tag, and Flux v1's verification
//! rules, with a throw-away GnuPG home.

use std::path::Path;
use std::process::Command;

use flux_core::source::Snapshot;
use flux_git::{
    BoxError, CommitOutcome, CommitRequest, Error, FileChanges, GitConfig, GitFlags, Repo,
    SshOptions, VerifyMode,
};

use crate::{Bed, borrowed, sample_files};

/// A GnuPG home with one signing key; the agent is stopped on drop.
struct Gpg {
    home: tempfile::TempDir,
    fingerprint: String,
}

impl Gpg {
    fn new() -> Self {
        let home = tempfile::Builder::new()
            .prefix("gpg")
            .tempdir_in("/tmp")
            .unwrap();
        let gpg = |args: &[&str]| {
            let out = Command::new("gpg")
                .arg("--homedir")
                .arg(home.path())
                .args(["--batch", "--pinentry-mode", "loopback", "--passphrase", ""])
                .args(args)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8(out.stdout).unwrap()
        };
        gpg(&[
            "--quick-gen-key",
            "Weave Flux <support@weave.works>",
            "ed25519",
            "sign",
            "never",
        ]);
        let listing = gpg(&["--list-secret-keys", "--with-colons"]);
        let fingerprint = listing
            .lines()
            .find_map(|l| l.strip_prefix("fpr:"))
            .and_then(|l| l.split(':').find(|f| f.len() == 40))
            .unwrap()
            .to_owned();
        Gpg { home, fingerprint }
    }

    /// An empty GnuPG home (for importing keys into).
    fn empty() -> Self {
        let home = tempfile::Builder::new()
            .prefix("gpg")
            .tempdir_in("/tmp")
            .unwrap();
        std::fs::set_permissions(
            home.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .unwrap();
        Gpg {
            home,
            fingerprint: String::new(),
        }
    }

    /// `git args` in `dir` with this GnuPG home; whether it succeeded.
    fn git_ok(&self, dir: &Path, args: &[&str]) -> bool {
        let mut cmd = flux_testbed::git::git_command(Some(dir));
        cmd.env("GNUPGHOME", self.home.path()).args(args);
        cmd.output().unwrap().status.success()
    }
}

impl Drop for Gpg {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .arg("--homedir")
            .arg(self.home.path())
            .args(["--kill", "all"])
            .status();
    }
}

fn repo(bed: &Bed, gpg: &Gpg, verify: VerifyMode, sign: bool) -> Repo {
    let mut config = GitConfig::from_flags(&GitFlags {
        url: bed.remote.file_url(),
        signing_key: if sign {
            gpg.fingerprint.clone()
        } else {
            String::new()
        },
        ..GitFlags::default()
    })
    .unwrap();
    config.verify = verify;
    config.gnupg_home = Some(gpg.home.path().to_owned());
    Repo::new(config, &SshOptions::default(), bed.state.path()).unwrap()
}

fn add_file(
    name: &'static str,
) -> impl Fn(&Snapshot) -> Result<FileChanges, BoxError> + Send + Sync + 'static {
    move |_: &Snapshot| {
        let mut c = FileChanges::new();
        c.write(name, b"kind: ConfigMap\n".to_vec());
        Ok(c)
    }
}

#[tokio::test]
async fn commits_and_the_sync_tag_are_signed_and_verify() {
    let gpg = Gpg::new();
    let bed = Bed::new(&borrowed(&sample_files()));
    let repo = repo(&bed, &gpg, VerifyMode::None, true);
    let CommitOutcome::Pushed(p) = repo
        .commit_and_push(
            add_file("apps/signed.yaml"),
            CommitRequest::new("signed change"),
        )
        .await
        .unwrap()
    else {
        panic!("nothing pushed")
    };
    let dir = bed.remote.path();
    assert!(gpg.git_ok(dir, &["verify-commit", &p.revision]));
    assert!(!gpg.git_ok(dir, &["verify-commit", &format!("{}^", p.revision)]));
    // Still Flux's commit, with the message and tree the edit made.
    assert_eq!(bed.remote.subjects("master").unwrap()[0], "signed change");
    assert_eq!(
        bed.remote.show(&p.revision, "apps/signed.yaml").unwrap(),
        b"kind: ConfigMap\n"
    );

    repo.move_sync_tag(&p.revision).await.unwrap();
    assert!(gpg.git_ok(dir, &["verify-tag", "flux-sync"]));
    repo.refresh().await.unwrap();
    repo.verify_commit(&p.revision).await.unwrap();
    assert_eq!(repo.verify_tag("flux-sync").await.unwrap(), p.revision);
    drop(repo);

    // A verifying repo builds on verified history straight away: its commit
    // job fetches for itself (regression: it used to check the head of a
    // fetch it had not made).
    let verifying = self::repo(&bed, &gpg, VerifyMode::All, true);
    let outcome = verifying
        .commit_and_push(
            add_file("apps/verified.yaml"),
            CommitRequest::new("on verified history"),
        )
        .await
        .unwrap();
    assert!(matches!(outcome, CommitOutcome::Pushed(_)), "{outcome:?}");
}

#[tokio::test]
async fn a_signed_sync_tag_the_remote_refuses_is_not_moved_here_either() {
    let gpg = Gpg::new();
    let bed = Bed::new(&borrowed(&sample_files()));
    let first = bed.head();
    let repo = repo(&bed, &gpg, VerifyMode::None, true);
    repo.refresh().await.unwrap();
    repo.move_sync_tag(&first).await.unwrap();
    let second = bed
        .remote
        .commit_files(&[("apps/b.yaml", b"kind: B\n")], "next")
        .unwrap();
    repo.refresh().await.unwrap();
    // From now on the remote refuses every push.
    let hook = bed.remote.path().join("hooks/pre-receive");
    std::fs::write(&hook, "#!/bin/sh\necho 'tags are frozen' >&2\nexit 1\n").unwrap();
    std::fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let err = repo.move_sync_tag(&second).await.unwrap_err();
    assert!(matches!(err, Error::PushRefused { .. }), "{err}");
    // Regression: `git tag` had already moved the mirror's tag, so the
    // high-water mark read back said `second` although nothing was pushed.
    assert_eq!(repo.sync_revision().await.unwrap(), Some(first.clone()));
    assert_eq!(
        bed.remote
            .git(&["rev-parse", "flux-sync^{commit}"])
            .unwrap(),
        first
    );

    // With no tag before, none is left behind.
    let fresh = Bed::new(&borrowed(&sample_files()));
    let hook = fresh.remote.path().join("hooks/pre-receive");
    std::fs::write(&hook, "#!/bin/sh\nexit 1\n").unwrap();
    std::fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let repo = self::repo(&fresh, &gpg, VerifyMode::None, true);
    repo.refresh().await.unwrap();
    assert!(repo.move_sync_tag(&fresh.head()).await.is_err());
    assert_eq!(repo.sync_revision().await.unwrap(), None);
}

#[tokio::test]
async fn unsigned_history_is_not_synced_past_nor_built_on() {
    let gpg = Gpg::new();
    let bed = Bed::new(&borrowed(&sample_files()));
    // A signed commit with the signed sync tag on it...
    let signer = repo(&bed, &gpg, VerifyMode::None, true);
    let CommitOutcome::Pushed(good) = signer
        .commit_and_push(add_file("apps/good.yaml"), CommitRequest::new("good"))
        .await
        .unwrap()
    else {
        panic!()
    };
    signer.move_sync_tag(&good.revision).await.unwrap();
    drop(signer);
    // ...then somebody pushes an unsigned commit.
    let unsigned = bed
        .remote
        .commit_files(&[("apps/evil.yaml", b"kind: Evil\n")], "unsigned")
        .unwrap();

    let checker = repo(&bed, &gpg, VerifyMode::All, true);
    checker.refresh().await.unwrap();
    assert_eq!(
        checker.sync_revision().await.unwrap(),
        Some(good.revision.clone())
    );
    let (valid, bad) = checker.latest_valid_revision().await.unwrap();
    assert_eq!(valid, Some(good.revision.clone()));
    assert_eq!(bad.unwrap().revision, unsigned);

    let err = checker
        .commit_and_push(add_file("apps/more.yaml"), CommitRequest::new("more"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Signature { .. }), "{err}");
    assert!(err.to_string().contains(&unsigned), "{err}");
    assert_eq!(bed.head(), unsigned);
}

#[tokio::test]
async fn an_unsigned_sync_tag_fails_verification() {
    let gpg = Gpg::new();
    let bed = Bed::new(&borrowed(&sample_files()));
    let head = bed.head();
    bed.remote
        .git(&["tag", "-a", "-m", "forged", "flux-sync", &head])
        .unwrap();
    let repo = repo(&bed, &gpg, VerifyMode::All, false);
    repo.refresh().await.unwrap();
    let err = repo.sync_revision().await.unwrap_err();
    assert!(matches!(err, Error::Signature { .. }), "{err}");
    assert!(err.to_string().contains("tag flux-sync"), "{err}");
}

#[tokio::test]
async fn imported_keys_count_only_when_trusted() {
    let signer = Gpg::new();
    let bed = Bed::new(&borrowed(&sample_files()));
    let repo_signing = repo(&bed, &signer, VerifyMode::None, true);
    let CommitOutcome::Pushed(p) = repo_signing
        .commit_and_push(add_file("apps/s.yaml"), CommitRequest::new("signed"))
        .await
        .unwrap()
    else {
        panic!()
    };
    drop(repo_signing);

    // The public key, as a user would mount it for --git-gpg-key-import.
    let keys = tempfile::tempdir().unwrap();
    let exported = Command::new("gpg")
        .arg("--homedir")
        .arg(signer.home.path())
        .args(["--batch", "--armor", "--export", &signer.fingerprint])
        .output()
        .unwrap();
    std::fs::write(keys.path().join("flux.asc"), &exported.stdout).unwrap();
    std::fs::create_dir(keys.path().join("not-a-file")).unwrap();

    let mut statuses = Vec::new();
    for trust in [false, true] {
        let home = Gpg::empty();
        let imported =
            flux_git::signature::import_keys(keys.path(), Some(home.home.path()), trust).unwrap();
        assert_eq!(imported, ["flux.asc"]);
        let verifier = Bed::new(&[]);
        let mut config = GitConfig::from_flags(&GitFlags {
            url: bed.remote.file_url(),
            ..GitFlags::default()
        })
        .unwrap();
        config.gnupg_home = Some(home.home.path().to_owned());
        let repo = Repo::new(config, &SshOptions::default(), verifier.state.path()).unwrap();
        repo.refresh().await.unwrap();
        let listed = repo
            .signature_statuses(None, &p.revision, false)
            .await
            .unwrap();
        statuses.push(listed[0].status);
    }
    // Imported but untrusted: a good signature of unknown validity; trusted: good.
    assert_eq!(statuses, ['U', 'G']);

    let garbage = tempfile::tempdir().unwrap();
    std::fs::write(garbage.path().join("junk.asc"), "not a key").unwrap();
    let home = Gpg::empty();
    let err = flux_git::signature::import_keys(garbage.path(), Some(home.home.path()), false)
        .unwrap_err();
    assert!(err.to_string().contains("junk.asc"), "{err}");
}
