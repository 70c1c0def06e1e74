//! Git for fluxd: the only connection to the source of truth.
//!
//! A [`Repo`] keeps a local bare mirror of one branch of a remote (`ssh://`,
//! `git@host:path`, `https://`, `git://`, `file://`), reads the manifest
//! files of any commit straight from its tree ([`GitSource`] is flux-core's
//! [`ManifestSource`](flux_core::ManifestSource)), commits edits made by
//! flux-core and pushes them without ever forcing a branch (with Flux v1's
//! notes on its commits, pushed atomically), and keeps the `flux-sync`
//! high-water mark tag. gix does the fetching, reading and
//! object writing; the `git` program does what gix cannot (push, GPG signing
//! and verification, repacking). ssh always checks host keys strictly,
//! against bundled keys of the common hosts plus the user's own, with the
//! deploy key, and an optional user ssh config for host aliases and ports
//! (scp-like URLs cannot carry one) that cannot relax either. An http(s)
//! remote makes [`Repo::new`] install rustls's ring provider as the process
//! default if the program has not chosen one;
//! https hosts are checked against the system's CA certificates, or only
//! those in `SSL_CERT_FILE` when it is set (a private CA), for fetches and
//! pushes alike. A password in the URL reaches gix and git only: it is
//! scrubbed from every error (message, sources and `Debug` form) and so
//! from every log line, and neither ever prompts on a terminal. Strings
//! from callers (revisions, ref and tag names, the URL) are passed to the
//! `git` program after `--end-of-options` (git 2.24 or later), so none can
//! be taken for an option.
//!
//! It is not a general git library, and it never decides *what* to change:
//! an edit is a function from the files at a head to file changes, which is
//! re-run on the new head when someone else pushed first.
//!
//! ```no_run
//! # async fn demo() -> Result<(), flux_git::Error> {
//! use flux_git::{CommitRequest, FileChanges, GitConfig, GitFlags, Repo, SshOptions};
//!
//! let config = GitConfig::from_flags(&GitFlags {
//!     url: "ssh://git@github.com/org/config".into(),
//!     paths: vec!["clusters/prod".into()],
//!     ..GitFlags::default()
//! })?;
//! let ssh = SshOptions { identity: Some("/etc/fluxd/ssh/identity".into()), ..SshOptions::default() };
//! let repo = Repo::new(config, &ssh, "/var/lib/fluxd/git".as_ref())?;
//! let head = repo.refresh().await?;
//! let snapshot = repo.snapshot_at(&head.head, &repo.config().paths).await?;
//! println!("{} files at {}", snapshot.files.len(), head.head);
//!
//! // An edit is re-run on the new head if the push is overtaken.
//! let outcome = repo
//!     .commit_and_push(
//!         |files: &flux_core::source::Snapshot| {
//!             let mut changes = FileChanges::new();
//!             if let Some(old) = files.files.get("clusters/prod/app.yaml") {
//!                 let new = String::from_utf8_lossy(old).replace("app:1.0", "app:1.1");
//!                 changes.write("clusters/prod/app.yaml", new);
//!             }
//!             Ok(changes)
//!         },
//!         CommitRequest::new("Release app:1.1"),
//!     )
//!     .await?;
//! println!("{outcome:?}");
//! # Ok(()) }
//! ```

mod command;
pub mod commit;
pub mod config;
mod error;
pub mod fetch;
pub mod identity;
pub mod log;
pub mod notes;
pub mod poll;
mod push;
pub mod read;
mod repo;
mod scrub;
pub mod signature;
pub mod ssh;
pub mod sync;
pub mod url;
pub mod worktree;

pub use commit::{CommitOutcome, CommitRequest, FileChanges, Pushed};
pub use config::{GitConfig, GitFlags, Person, VerifyMode};
pub use error::{BoxError, Error};
pub use identity::{DeployKey, Fingerprint, FingerprintHash, KeyFormat, KeySpec, KeyType};
pub use log::Commit;
pub use read::GitSource;
pub use repo::{Refreshed, Repo, RepoState, RepoStatus};
pub use ssh::SshOptions;
pub use url::{Remote, Transport};
pub use worktree::{EntryKind, Materialized, TreeEntry, TreeId};

#[cfg(test)]
mod send_tests {
    //! fluxd runs these on a multi-threaded runtime: their futures must be Send.
    use super::*;

    fn assert_send<T: Send>(_: &T) {}

    #[test]
    fn futures_are_send() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = GitConfig::from_flags(&GitFlags {
            url: "file:///nowhere".into(),
            ..GitFlags::default()
        })
        .expect("config");
        let repo = Repo::new(config, &SshOptions::default(), dir.path()).expect("repo");
        let edit = |_: &flux_core::source::Snapshot| -> Result<FileChanges, BoxError> {
            Ok(FileChanges::new())
        };
        assert_send(&repo.commit_and_push(edit, CommitRequest::new("x")));
        assert_send(&repo.refresh());
        assert_send(&repo.ready());
        assert_send(&repo.move_sync_tag("x"));
        assert_send(&repo.sync_revision());
        assert_send(&repo.latest_valid_revision());
        assert_send(&repo.snapshot_at("x", &[]));
        assert_send(&repo.commits_between(None, "x", false, &[]));
        assert_send(&repo.run(async {}));
    }
}
