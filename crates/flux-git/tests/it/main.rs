//! flux-git against real remotes: bare repositories over `file://`, `git
//! daemon` and Debian's `sshd`, all on loopback, started here and stopped on
//! drop. Modules mirror `src/`.

// Helpers here are test code too: an unwrap is an assertion.
#![allow(clippy::unwrap_used)]

mod command;
mod commit;
mod fetch;
mod identity;
mod log;
mod logs;
mod notes;
mod read;
mod signature;
mod ssh;
mod sync;
mod worktree;

use std::path::Path;
use std::time::Duration;

use flux_git::{GitConfig, GitFlags, Repo, SshOptions};
use flux_testbed::git::{BareRepo, SshServer};

/// A remote with a little history, and somewhere to keep fluxd's state.
pub struct Bed {
    /// Holds the remote (and is the git daemon's base path).
    pub root: tempfile::TempDir,
    /// The remote, `root/config.git`.
    pub remote: BareRepo,
    /// fluxd's state directory (the mirror, the ssh config).
    pub state: tempfile::TempDir,
}

impl Bed {
    /// A bare repository `config.git` seeded with `files` in one commit.
    pub fn new(files: &[(&str, &[u8])]) -> Self {
        let root = tempfile::tempdir().unwrap();
        let remote = BareRepo::create(root.path(), "config.git").unwrap();
        if !files.is_empty() {
            remote.commit_files(files, "initial").unwrap();
        }
        Bed {
            root,
            remote,
            state: tempfile::tempdir().unwrap(),
        }
    }

    /// A repo handle for `url` with `flags` adjusted by `tweak`.
    pub fn repo_with(
        &self,
        url: &str,
        ssh: &SshOptions,
        tweak: impl FnOnce(&mut GitFlags),
    ) -> Repo {
        let mut flags = GitFlags {
            url: url.to_owned(),
            // Generous: a loaded CI machine can take long to run git.
            timeout: Duration::from_secs(120),
            ..GitFlags::default()
        };
        tweak(&mut flags);
        let config = GitConfig::from_flags(&flags).unwrap();
        Repo::new(config, ssh, self.state.path()).unwrap()
    }

    /// A repo handle for the file:// URL with default flags.
    pub fn repo(&self) -> Repo {
        self.repo_with(&self.remote.file_url(), &SshOptions::default(), |_| {})
    }

    /// The remote's master head.
    pub fn head(&self) -> String {
        self.remote.head("master").unwrap().unwrap()
    }
}

/// ssh options trusting `sshd`'s host key and using its client key.
pub fn ssh_options(sshd: &SshServer) -> SshOptions {
    SshOptions {
        identity: Some(sshd.client_key()),
        known_hosts: vec![sshd.known_hosts_file().unwrap()],
        ..SshOptions::default()
    }
}

/// A manifest file's text.
pub fn deployment(name: &str, image: &str) -> Vec<u8> {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n  namespace: default # keep me\nspec:\n  template:\n    spec:\n      containers:\n      - name: app\n        image: {image}\n"
    )
    .into_bytes()
}

/// Files of a small config repository.
pub fn sample_files() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("apps/web.yaml", deployment("web", "nginx:1.25")),
        ("apps/api.yml", deployment("api", "api:1.0")),
        (
            "infra/ns.yaml",
            b"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: apps\n".to_vec(),
        ),
        ("README.md", b"not a manifest\n".to_vec()),
    ]
}

/// `sample_files` as the borrowed form the test bed takes.
pub fn borrowed<'a>(files: &'a [(&'static str, Vec<u8>)]) -> Vec<(&'static str, &'a [u8])> {
    files.iter().map(|(p, b)| (*p, b.as_slice())).collect()
}

/// Runs `git args` in the bare remote.
pub fn remote_git(dir: &Path, args: &[&str]) -> String {
    flux_testbed::git::git(dir, args).unwrap()
}
