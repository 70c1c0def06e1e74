//! A whole test bed for fluxd (the `testing` feature): a real git remote
//! (`sshd` with strict host key checking, serving a bare repository), the
//! API emulator that kubectl accepts, optionally a real `docker-registry`,
//! and fluxd itself started in-process against them with real flags.
//!
//! fluxd's own end-to-end tests use it, and so can other crates' (fluxctl's
//! tests run the real `fluxctl` against [`Fluxd::api_url`]). Everything binds
//! loopback ports and stops when dropped.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use flux_testbed::git::{BareRepo, SshServer};
use kube_emulator::kubectl::Kubectl;
use tokio::sync::watch;

use crate::config::Config;
use crate::daemon::{Daemon, Shared};

/// Something the test bed could not set up.
pub type BedError = Box<dyn std::error::Error + Send + Sync>;

/// The servers fluxd is tested against.
pub struct TestBed {
    /// Scratch space (state directories, kubeconfig, mounted key).
    pub dir: tempfile::TempDir,
    /// The ssh server in front of the repository.
    pub sshd: SshServer,
    /// The bare repository fluxd syncs.
    pub repo: BareRepo,
    /// Its `ssh://` URL.
    pub git_url: String,
    /// The Kubernetes API emulator.
    pub emulator: kube_emulator::Server,
    /// A kubeconfig for the emulator.
    pub kubeconfig: PathBuf,
    /// kubectl against the emulator.
    pub kubectl: Kubectl,
    /// A real registry, if started ([`TestBed::with_registry`]).
    pub registry: Option<flux_testbed::registry::Registry>,
    /// The `PATH` of `.flux.yaml` commands of the fluxds it starts (this
    /// process's when `None`); a test sets it to put a `kustomize` first.
    pub command_path: Option<std::ffi::OsString>,
}

/// How to set up a [`TestBed`] beyond its defaults.
#[derive(Debug, Clone, Default)]
pub struct BedOptions {
    /// Run the emulator's workload controller with this timing, so
    /// rollouts of Deployments, StatefulSets and DaemonSets complete (what
    /// `fluxctl release --watch` and the RELEASE column follow). Off by
    /// default: its status writes would count among a test's requests.
    pub rollouts: Option<kube_emulator::Rollouts>,
}

impl TestBed {
    /// Starts sshd and the emulator, and a repository holding `files`.
    pub async fn start(files: &[(&str, &[u8])]) -> Result<Self, BedError> {
        Self::start_with(files, BedOptions::default()).await
    }

    /// [`TestBed::start`] with `options`.
    pub async fn start_with(
        files: &[(&str, &[u8])],
        options: BedOptions,
    ) -> Result<Self, BedError> {
        init_logs();
        let dir = tempfile::tempdir()?;
        let sshd = SshServer::start()?;
        let repo = BareRepo::create(dir.path(), "config.git")?;
        if !files.is_empty() {
            repo.commit_files(files, "Initial config")?;
        }
        let git_url = sshd.url(repo.path());
        let mut emulator = kube_emulator::Emulator::new();
        if let Some(rollouts) = options.rollouts {
            emulator = emulator.rollouts(rollouts);
        }
        let emulator = emulator.start().await?;
        let kubeconfig = dir.path().join("kubeconfig");
        emulator.write_kubeconfig(&kubeconfig, None)?;
        let kubectl = Kubectl::new(&emulator.url(), None)?;
        // The deploy key, where the flux-git-deploy Secret would be mounted.
        let mount = dir.path().join("secret-mount");
        std::fs::create_dir_all(&mount)?;
        std::fs::copy(sshd.client_key(), mount.join("identity"))?;
        Ok(TestBed {
            dir,
            sshd,
            repo,
            git_url,
            emulator,
            kubeconfig,
            kubectl,
            registry: None,
            command_path: None,
        })
    }

    /// Also starts Debian's docker-registry.
    pub fn with_registry(mut self) -> Result<Self, BedError> {
        self.registry = Some(flux_testbed::registry::Registry::start()?);
        Ok(self)
    }

    /// The registry's `host:port`.
    pub fn registry_addr(&self) -> Option<&str> {
        self.registry.as_ref().map(|r| r.addr())
    }

    /// fluxd's flags for this bed: the repository over ssh with the
    /// mounted key and the server's host key, the emulator's kubeconfig, a
    /// fresh state directory, the API on a free loopback port, and only
    /// this bed's registry scanned (plain HTTP). `extra` flags come last
    /// and win; when they include `--config`, `--git-url` is left out.
    pub fn fluxd_args(&self, state: &str, extra: &[&str]) -> Result<Vec<String>, BedError> {
        let mut args = vec!["fluxd".to_owned()];
        // With a sources file the repositories are the file's.
        if !extra.iter().any(|a| a.starts_with("--config")) {
            args.push(format!("--git-url={}", self.git_url));
        }
        args.extend([
            "--listen=127.0.0.1:0".to_owned(),
            format!("--kube-config={}", self.kubeconfig.display()),
            format!("--state-dir={}", self.dir.path().join(state).display()),
            format!(
                "--k8s-secret-volume-mount-path={}",
                self.dir.path().join("secret-mount").display()
            ),
            format!(
                "--ssh-known-hosts={}",
                self.sshd.known_hosts_file()?.display()
            ),
            "--k8s-default-namespace=default".to_owned(),
        ]);
        match self.registry_addr() {
            Some(addr) => {
                args.push(format!("--registry-insecure-host={addr}"));
                args.push(format!("--registry-include-image={addr}/*"));
            }
            None => args.push("--registry-disable-scanning".to_owned()),
        }
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        Ok(args)
    }

    /// Starts fluxd with [`TestBed::fluxd_args`] and waits until it is ready
    /// (fetched and synced once).
    pub async fn start_fluxd(&self, state: &str, extra: &[&str]) -> Result<Fluxd, BedError> {
        let fluxd = self.spawn_fluxd(state, extra).await?;
        fluxd.wait_ready(Duration::from_secs(60)).await?;
        Ok(fluxd)
    }

    /// Starts fluxd without waiting for it to be ready.
    pub async fn spawn_fluxd(&self, state: &str, extra: &[&str]) -> Result<Fluxd, BedError> {
        let config = Config::from_args(self.fluxd_args(state, extra)?)?;
        let mut parts = crate::connect::parts(&config).await?;
        parts.command_path.clone_from(&self.command_path);
        let daemon = Daemon::new(config, parts).await?;
        let addr = daemon.api_addr().ok_or("fluxd has no API address")?;
        let shared = daemon.shared().clone();
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(daemon.run(async move {
            let _ = stopped.wait_for(|s| *s).await;
        }));
        Ok(Fluxd {
            addr,
            shared,
            stop,
            task: Some(task),
        })
    }

    /// Commits `files` to the repository's master as someone else.
    pub fn commit(&self, files: &[(&str, &[u8])], message: &str) -> Result<String, BedError> {
        Ok(self.repo.commit_files(files, message)?)
    }

    /// Writes `yaml` as the scratch directory's `fluxd.yaml` (a sources
    /// file) and returns the `--config` flag naming it.
    pub fn sources_flag(&self, yaml: &str) -> Result<String, BedError> {
        let file = self.path("fluxd.yaml");
        std::fs::write(&file, yaml)?;
        Ok(format!("--config={}", file.display()))
    }

    /// fluxd with the sources `yaml` lists (a sources file), git polling
    /// and periodic syncs off.
    pub async fn start_with_sources(&self, yaml: &str) -> Result<Fluxd, BedError> {
        let config = self.sources_flag(yaml)?;
        self.start_fluxd(
            "fluxd",
            &[&config, "--git-poll-interval=1h", "--sync-interval=1h"],
        )
        .await
    }

    /// fluxd with two sources: the bed's repository as `apps` (namespace
    /// `apps` allowed) and a new repository `team.git` holding
    /// `team_files` as `team` (namespace `team`), git polling and periodic
    /// syncs off; returned once both mirrors are ready, with the second
    /// repository and its URL.
    pub async fn start_apps_and_team(
        &self,
        team_files: &[(&str, &[u8])],
        patience: Duration,
    ) -> Result<(Fluxd, BareRepo, String), BedError> {
        let team = BareRepo::create(self.dir.path(), "team.git")?;
        team.commit_files(team_files, "team's files")?;
        let team_url = self.sshd.url(team.path());
        let fluxd = self
            .start_with_sources(&format!(
                "sources:\n\
                 - name: apps\n  url: {}\n  allowNamespaces: [apps]\n\
                 - name: team\n  url: {team_url}\n  allowNamespaces: [team]\n",
                self.git_url
            ))
            .await?;
        fluxd.wait_git_ready(patience).await?;
        Ok((fluxd, team, team_url))
    }

    /// A path in the scratch directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// A fluxd running in this process.
pub struct Fluxd {
    addr: std::net::SocketAddr,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Fluxd {
    /// The address the API listens on (what a Service or a port-forward
    /// would reach).
    pub fn addr(&self) -> std::net::SocketAddr {
        self.addr
    }

    /// The API base URL (`http://127.0.0.1:PORT/api/flux`).
    pub fn api_url(&self) -> String {
        format!("http://{}{}", self.addr, flux_api::API_PREFIX)
    }

    /// The root URL (`http://127.0.0.1:PORT`), for `/metrics` and health.
    pub fn root_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// What the loops share (sources, metrics…), to look inside.
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Waits until `/readyz` would say ready.
    pub async fn wait_ready(&self, timeout: Duration) -> Result<(), BedError> {
        let deadline = tokio::time::Instant::now() + timeout;
        while !self.shared.is_ready() {
            if tokio::time::Instant::now() > deadline {
                let why: Vec<String> = self
                    .shared
                    .sources
                    .iter()
                    .map(|s| {
                        format!(
                            "{}: {:?} {:?}",
                            s.name,
                            s.repo.status(),
                            s.with_status(|st| st.last_sync.clone())
                        )
                    })
                    .collect();
                return Err(format!("fluxd not ready after {timeout:?}: {why:?}").into());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }

    /// Waits until every source's repository is `Ready`: fetched and Flux
    /// v1's write check passed (which fluxd runs after its first sync), as
    /// `fluxctl sync` and jobs need.
    pub async fn wait_git_ready(&self, timeout: Duration) -> Result<(), BedError> {
        self.wait_for("the repository's write check", timeout, |shared| {
            shared
                .sources
                .iter()
                .all(|s| s.repo.status().state == flux_git::RepoState::Ready)
        })
        .await
    }

    /// Waits until `check` holds, polling.
    pub async fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        mut check: impl FnMut(&Shared) -> bool,
    ) -> Result<(), BedError> {
        let deadline = tokio::time::Instant::now() + timeout;
        while !check(&self.shared) {
            if tokio::time::Instant::now() > deadline {
                return Err(format!("timed out after {timeout:?} waiting for {what}").into());
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        Ok(())
    }

    /// The revision of the last clean sync of the first source.
    pub fn synced(&self) -> Option<String> {
        self.shared
            .default_source()?
            .with_status(|s| s.synced.clone())
    }

    /// Kills it as SIGKILL would: its tasks are cancelled where they
    /// stand and nothing is given back (with `--ha`, its Leases stay held
    /// until they expire). Child processes it started (git) may finish.
    pub async fn kill(mut self) {
        if let Some(task) = self.task.take() {
            // The stop sender lives until the task is gone: dropping it
            // would ask for a clean stop.
            task.abort();
            let _ = task.await;
        }
    }

    /// Stops it (SIGTERM's path) and waits for it to finish.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Fluxd {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// The files of a directory, relative paths and bytes (for seeding a repository).
pub fn read_tree(root: &Path) -> std::io::Result<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(rel) = path.strip_prefix(root) {
                out.push((rel.to_string_lossy().into_owned(), std::fs::read(&path)?));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Sends fluxd's logs to the test's output (`RUST_LOG` filters; info by
/// default), once per process.
pub fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,kube=warn,hyper=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}
