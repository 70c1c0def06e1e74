//! The demo's playground: every part fluxd works with, real and on
//! loopback, in one temporary directory, and fluxd itself started from its
//! real flags. Dropping (or [`Playground::stop`]) stops every server and
//! removes the directory.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use flux_daemon::{Config, Daemon, Shared};
use flux_testbed::git::SshServer;
use flux_testbed::registry::{Format, Pusher, Registry, TestImage};
use kube_emulator::{Emulator, Rollouts};
use tokio::sync::watch;

use crate::DemoError;
use crate::shell::{DEMO_AUTHOR, Transcript};

/// The demo image's repository in the local registry.
pub const IMAGE_REPOSITORY: &str = "demo/hello";

/// The tags pushed, oldest first, with their creation times.
pub const IMAGE_TAGS: [(&str, &str); 2] = [
    ("1.0.0", "2026-01-05T09:00:00Z"),
    ("1.1.0", "2026-02-02T09:00:00Z"),
];

/// How long fluxd gets for its first clone and sync.
pub const FIRST_SYNC_TIMEOUT: Duration = Duration::from_secs(90);

/// How the playground is set up.
#[derive(Debug, Clone)]
pub struct Options {
    /// The repository's content (`examples/config-repo` by default).
    pub example_repo: PathBuf,
    /// Send fluxd's logs to `fluxd.log` in the playground (the first
    /// playground of a process only: logging is process-wide).
    pub log_to_file: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            example_repo: Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/config-repo"),
            log_to_file: true,
        }
    }
}

struct RunningFluxd {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

/// The running parts.
pub struct Playground {
    dir: tempfile::TempDir,
    emulator: kube_emulator::Server,
    sshd: SshServer,
    registry: Registry,
    fluxd: Option<RunningFluxd>,
    shared: Arc<Shared>,
    /// fluxd's command line (the flags it was started with).
    pub fluxd_args: Vec<String>,
    /// fluxd's API base URL (what `fluxctl --url` takes).
    pub api_url: String,
    /// The repository's `ssh://` URL, as fluxd reaches it.
    pub git_url: String,
    /// The registry's `host:port`.
    pub registry_addr: String,
    /// The demo image without a tag: `127.0.0.1:PORT/demo/hello`.
    pub image: String,
    /// When setting up began.
    pub started: Instant,
}

fn err(what: &str) -> impl FnOnce(std::io::Error) -> DemoError + '_ {
    move |e| DemoError::setup(what, e)
}

impl Playground {
    /// Starts the emulator, sshd with the bare repository, the registry
    /// with the demo image's tags, and fluxd; returns once fluxd has
    /// applied the repository's head. Says what it starts on `out`.
    pub async fn start(options: Options, out: &Transcript) -> Result<Self, DemoError> {
        let started = Instant::now();
        if !options.example_repo.is_dir() {
            return Err(DemoError::Unexpected(format!(
                "the example repository {} is missing (run the demo from a checkout of this project)",
                options.example_repo.display()
            )));
        }
        let dir = tempfile::Builder::new()
            .prefix("flux-demo.")
            .tempdir()
            .map_err(err("making the demo's directory"))?;
        let root = dir.path().to_owned();
        if options.log_to_file {
            init_log(&root.join("fluxd.log"))?;
        }
        out.say(&format!(
            "Starting the playground in {} (every server on 127.0.0.1):",
            root.display()
        ));

        let emulator = Emulator::new()
            .rollouts(Rollouts::default())
            .start()
            .await
            .map_err(|e| DemoError::setup("starting the Kubernetes API emulator", e))?;
        let kubeconfig = root.join("kubeconfig");
        emulator
            .write_kubeconfig(&kubeconfig, None)
            .map_err(|e| DemoError::setup("writing the kubeconfig", e))?;
        out.say(&format!(
            "  Kubernetes API emulator  {}  (kubeconfig: {})",
            emulator.url(),
            kubeconfig.display()
        ));

        let bare = root.join("config.git");
        seed_repository(&options.example_repo, &bare).await?;
        let sshd = tokio::task::spawn_blocking(SshServer::start)
            .await
            .map_err(|e| DemoError::setup("starting sshd", e))?
            .map_err(err("starting sshd (openssh-server)"))?;
        let git_url = sshd.url(&bare);
        let key_dir = root.join("deploy-key");
        std::fs::create_dir_all(&key_dir).map_err(err("making the deploy key directory"))?;
        std::fs::copy(sshd.client_key(), key_dir.join("identity"))
            .map_err(err("copying the deploy key"))?;
        let known_hosts = root.join("known_hosts");
        std::fs::write(
            &known_hosts,
            format!(
                "{}\n",
                sshd.known_hosts_line()
                    .map_err(err("reading sshd's host key"))?
            ),
        )
        .map_err(err("writing known_hosts"))?;
        out.say(&format!(
            "  git repository           {}  (examples/config-repo; fluxd reads it over {})",
            bare.display(),
            git_url
        ));

        let registry = tokio::task::spawn_blocking(Registry::start)
            .await
            .map_err(|e| DemoError::setup("starting docker-registry", e))?
            .map_err(|e| DemoError::setup("starting docker-registry", e))?;
        let registry_addr = registry.addr().to_owned();
        let pusher = Pusher::new(&registry_addr);
        for (tag, created) in IMAGE_TAGS {
            pusher
                .push_image(
                    IMAGE_REPOSITORY,
                    tag,
                    &TestImage::created(created).label("org.opencontainers.image.title", "hello"),
                    Format::Oci,
                )
                .await
                .map_err(|e| DemoError::setup("pushing the demo image", e))?;
        }
        let image = format!("{registry_addr}/{IMAGE_REPOSITORY}");
        out.say(&format!(
            "  docker-registry          {registry_addr}  (holding {})",
            IMAGE_TAGS
                .iter()
                .map(|(tag, _)| format!("{image}:{tag}"))
                .collect::<Vec<_>>()
                .join(" and ")
        ));

        let fluxd_args = vec![
            "fluxd".to_owned(),
            format!("--git-url={git_url}"),
            "--git-poll-interval=30s".to_owned(),
            "--sync-garbage-collection".to_owned(),
            format!("--k8s-secret-volume-mount-path={}", key_dir.display()),
            format!("--ssh-known-hosts={}", known_hosts.display()),
            format!("--kube-config={}", kubeconfig.display()),
            format!("--registry-insecure-host={registry_addr}"),
            format!("--registry-include-image={registry_addr}/*"),
            format!("--state-dir={}", root.join("fluxd-state").display()),
            "--listen=127.0.0.1:0".to_owned(),
        ];
        let config =
            Config::from_args(&fluxd_args).map_err(|e| DemoError::setup("fluxd's flags", e))?;
        let parts = flux_daemon::connect::parts(&config)
            .await
            .map_err(|e| DemoError::setup("connecting fluxd to the emulator", e))?;
        let daemon = Daemon::new(config, parts)
            .await
            .map_err(|e| DemoError::setup("starting fluxd", e))?;
        let addr = daemon
            .api_addr()
            .ok_or_else(|| DemoError::Unexpected("fluxd has no API address".into()))?;
        let api_url = format!("http://{addr}{}", flux_api::API_PREFIX);
        let shared = daemon.shared().clone();
        let (stop, mut stopping) = watch::channel(false);
        let task = tokio::spawn(daemon.run(async move {
            let _ = stopping.wait_for(|s| *s).await;
        }));
        let playground = Playground {
            dir,
            emulator,
            sshd,
            registry,
            fluxd: Some(RunningFluxd { stop, task }),
            shared,
            fluxd_args,
            api_url,
            git_url,
            registry_addr,
            image,
            started,
        };
        out.say(&format!(
            "  fluxd                    {}  (log: {})",
            playground.api_url,
            playground.path("fluxd.log").display()
        ));
        out.say("fluxd runs in this process, started from the flags fluxd takes:");
        out.command(&playground.fluxd_command_line());
        playground.wait_first_sync().await?;
        Ok(playground)
    }

    /// fluxd's command line, one flag a line.
    pub fn fluxd_command_line(&self) -> String {
        self.fluxd_args.join(" \\\n    ")
    }

    async fn wait_first_sync(&self) -> Result<(), DemoError> {
        let head = self.head().await?;
        let deadline = Instant::now() + FIRST_SYNC_TIMEOUT;
        loop {
            if self.shared.is_ready() && self.synced().as_deref() == Some(head.as_str()) {
                return Ok(());
            }
            if Instant::now() > deadline {
                let source = self.shared.default_source();
                let why = source.map(|s| {
                    format!(
                        "git: {:?}; last sync: {:?}",
                        s.repo.status(),
                        s.with_status(|st| st.last_sync.clone())
                    )
                });
                return Err(DemoError::Unexpected(format!(
                    "fluxd did not sync {head} within {FIRST_SYNC_TIMEOUT:?} ({}); see {}",
                    why.unwrap_or_default(),
                    self.path("fluxd.log").display()
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The playground's directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A path in the playground's directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The emulator's URL.
    pub fn kube_url(&self) -> String {
        self.emulator.url()
    }

    /// The emulator, to look at objects directly.
    pub fn emulator(&self) -> &kube_emulator::Server {
        &self.emulator
    }

    /// sshd's port.
    pub fn ssh_port(&self) -> u16 {
        self.sshd.port()
    }

    /// The bare repository's master, read with git.
    pub async fn head(&self) -> Result<String, DemoError> {
        git_out(
            &self.path("config.git"),
            &["rev-parse", "refs/heads/master"],
        )
        .await
    }

    /// The revision fluxd last applied cleanly.
    pub fn synced(&self) -> Option<String> {
        self.shared
            .default_source()?
            .with_status(|s| s.synced.clone())
    }

    /// Stops fluxd (as SIGTERM would), then every server, and removes the
    /// directory; returns the directory removed.
    pub async fn stop(mut self) -> PathBuf {
        if let Some(fluxd) = self.fluxd.take() {
            let _ = fluxd.stop.send(true);
            let mut task = fluxd.task;
            if tokio::time::timeout(Duration::from_secs(10), &mut task)
                .await
                .is_err()
            {
                task.abort();
            }
        }
        self.registry.stop();
        self.sshd.stop();
        let path = self.dir.path().to_owned();
        // The emulator stops and the directory goes when dropped.
        drop(self);
        path
    }
}

impl Drop for Playground {
    fn drop(&mut self) {
        if let Some(fluxd) = self.fluxd.take() {
            let _ = fluxd.stop.send(true);
            fluxd.task.abort();
        }
    }
}

/// Runs git on the bare repository; stdout, trimmed.
async fn git_out(git_dir: &Path, args: &[&str]) -> Result<String, DemoError> {
    let out = tokio::process::Command::new("git")
        .arg("--git-dir")
        .arg(git_dir)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .kill_on_drop(true)
        .output()
        .await
        .map_err(err("running git"))?;
    if !out.status.success() {
        return Err(DemoError::Command {
            command: format!("git --git-dir {} {}", git_dir.display(), args.join(" ")),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Makes the bare repository `bare` holding one commit of every file
/// under `content` (on `master`, Flux v1's default branch).
async fn seed_repository(content: &Path, bare: &Path) -> Result<(), DemoError> {
    let init = tokio::process::Command::new("git")
        .args(["init", "--quiet", "--bare", "--initial-branch=master"])
        .arg(bare)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .await
        .map_err(err("running git (install it with scripts/install-deps)"))?;
    if !init.status.success() {
        return Err(DemoError::Unexpected(format!(
            "git init {}: {}",
            bare.display(),
            String::from_utf8_lossy(&init.stderr).trim()
        )));
    }
    // The example directory is the work tree of one commit, made in the
    // bare repository's own index (removed after).
    let work_tree = format!("--work-tree={}", content.display());
    let commit = |args: &[&str]| {
        let mut cmd = tokio::process::Command::new("git");
        cmd.arg("--git-dir")
            .arg(bare)
            .arg(&work_tree)
            .args(args)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_AUTHOR_NAME", DEMO_AUTHOR.0)
            .env("GIT_AUTHOR_EMAIL", DEMO_AUTHOR.1)
            .env("GIT_COMMITTER_NAME", DEMO_AUTHOR.0)
            .env("GIT_COMMITTER_EMAIL", DEMO_AUTHOR.1);
        cmd
    };
    for args in [
        &["add", "--all", "."][..],
        &["commit", "--quiet", "-m", "The example config repository"][..],
    ] {
        let out = commit(args).output().await.map_err(err("running git"))?;
        if !out.status.success() {
            return Err(DemoError::Unexpected(format!(
                "git {} in {}: {}",
                args.join(" "),
                bare.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
    }
    let _ = std::fs::remove_file(bare.join("index"));
    Ok(())
}

/// fluxd's logs (and the emulator's) to `path`, once per process.
fn init_log(path: &Path) -> Result<(), DemoError> {
    let file = std::fs::File::create(path).map_err(err("creating fluxd.log"))?;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("info,kube=warn,hyper=warn,h2=warn,rustls=warn")
    });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(std::sync::Mutex::new(file))
        .try_init();
    Ok(())
}
