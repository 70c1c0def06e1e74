//! flux-generate on real parts: repositories served from bare git
//! repositories through flux-git's mirror, real `/bin/sh` commands, the
//! real kustomize (kubectl's, through flux-testbed's shim), and syncs into
//! the API emulator through flux-kube. Modules mirror `src/`.

// Helpers here are test code too: an unwrap is an assertion.
#![allow(clippy::unwrap_used)]

mod commands;
mod edit;
mod generate;
mod sync;

use std::path::{Path, PathBuf};
use std::time::Duration;

use flux_core::ScopeTable;
use flux_core::manifest::LoadOptions;
use flux_generate::{GenerateError, Generated, Generator, Options, Source};
use flux_git::{GitConfig, GitFlags, Repo, SshOptions};
use flux_testbed::git::BareRepo;
use flux_testbed::kustomize::Kustomize;

/// The files of a directory (hidden ones too), repo-relative.
pub fn files_of(root: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .to_owned();
                out.push((rel, std::fs::read(&path).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// The example repository of kustomize overlays.
pub fn example() -> Vec<(String, Vec<u8>)> {
    files_of(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/kustomize-repo"))
}

/// A remote, fluxd's mirror of it, and a generator with kustomize on its
/// `PATH`.
pub struct Bed {
    /// Holds the remote.
    pub root: tempfile::TempDir,
    /// The remote, `root/config.git`.
    pub remote: BareRepo,
    /// fluxd's state (mirror, generator work area).
    pub state: tempfile::TempDir,
    /// The mirror.
    pub repo: Repo,
    /// The kustomize shim (kept alive for the generator's `PATH`).
    pub kustomize: Kustomize,
    /// The generator.
    pub generator: Generator,
}

impl Bed {
    /// A remote holding `files` in one commit.
    pub fn new(files: &[(String, Vec<u8>)]) -> Self {
        Self::with(files, |_| {})
    }

    /// Like [`Bed::new`], with the generator's options adjusted.
    pub fn with(files: &[(String, Vec<u8>)], tweak: impl FnOnce(&mut Options)) -> Self {
        let root = tempfile::tempdir().unwrap();
        let remote = BareRepo::create(root.path(), "config.git").unwrap();
        let borrowed: Vec<(&str, &[u8])> = files
            .iter()
            .map(|(p, b)| (p.as_str(), b.as_slice()))
            .collect();
        remote.commit_files(&borrowed, "initial").unwrap();
        let state = tempfile::tempdir().unwrap();
        let config = GitConfig::from_flags(&GitFlags {
            url: remote.file_url(),
            timeout: Duration::from_secs(20),
            ..GitFlags::default()
        })
        .unwrap();
        let repo = Repo::new(config, &SshOptions::default(), &state.path().join("git")).unwrap();
        let kustomize = Kustomize::install().unwrap();
        let mut options = Options::new(state.path().join("generate"));
        options.path = Some(kustomize.path_var());
        options.default_timeout = Duration::from_secs(30);
        tweak(&mut options);
        let generator = Generator::new(options).unwrap();
        Bed {
            root,
            remote,
            state,
            repo,
            kustomize,
            generator,
        }
    }

    /// Fetches and returns the head.
    pub async fn head(&self) -> String {
        self.repo.refresh().await.unwrap().head
    }

    /// The generated view of `paths` at the head.
    pub async fn view(&self, paths: &[&str]) -> Result<Generated, GenerateError> {
        let head = self.head().await;
        let paths: Vec<String> = paths.iter().map(|p| p.to_string()).collect();
        self.generator
            .view(
                Source::Git {
                    repo: &self.repo,
                    revision: &head,
                },
                &paths,
                &ScopeTable::builtin(),
                &LoadOptions::default(),
            )
            .await
    }

    /// Commits `files` to the remote as someone else.
    pub fn commit(&self, files: &[(&str, &str)], message: &str) -> String {
        let borrowed: Vec<(&str, &[u8])> = files.iter().map(|(p, t)| (*p, t.as_bytes())).collect();
        self.remote.commit_files(&borrowed, message).unwrap()
    }
}

/// `files` as owned pairs.
pub fn owned(files: &[(&str, &str)]) -> Vec<(String, Vec<u8>)> {
    files
        .iter()
        .map(|(p, t)| (p.to_string(), t.as_bytes().to_vec()))
        .collect()
}

/// The IDs of a view's resources.
pub fn ids(g: &Generated) -> Vec<String> {
    g.view
        .manifests
        .resources
        .keys()
        .map(ToString::to_string)
        .collect()
}
