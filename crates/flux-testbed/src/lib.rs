//! The project's shared test bed: real servers, started by tests on free
//! loopback ports and stopped when dropped.
//!
//! Each crate's integration tests use these instead of mocks wherever a real
//! program can run here: [`git::SshServer`] (Debian's `sshd` with generated
//! host and client keys and strict host key checking), [`git::GitDaemon`]
//! (`git daemon` with pushes enabled), [`git::HttpGitServer`] and
//! [`git::HttpsGitServer`] (smart HTTP, the latter behind TLS with a
//! certificate from a throw-away [`tls::TestCa`]) and [`git::BareRepo`] (a bare repository
//! with helpers to commit and push as "somebody else"), and
//! [`registry::Registry`] (Debian's `docker-registry`, open, htpasswd or
//! token auth) with test images pushed over its API and a counting,
//! fault-injecting [`registry::Proxy`], and a [`kustomize::Kustomize`]
//! program (the kustomize built into kubectl) for `.flux.yaml` tests.
//!
//! It is a dev-dependency only: nothing here is meant for production code,
//! and every server binds 127.0.0.1, never another address.
//!
//! ```no_run
//! use flux_testbed::git::{BareRepo, GitDaemon, SshServer};
//! let root = tempfile::tempdir()?;
//! let repo = BareRepo::create(root.path(), "config.git")?;
//! repo.commit_files(&[("apps/web.yaml", b"kind: Deployment\n".as_slice())], "first")?;
//! let daemon = GitDaemon::start(root.path())?;
//! let sshd = SshServer::start()?;
//! println!("{} {}", daemon.url("config.git"), sshd.url(repo.path()));
//! # Ok::<(), std::io::Error>(())
//! ```

pub mod git;
pub mod kustomize;
pub mod port;
pub mod process;
pub mod registry;
pub mod tls;
