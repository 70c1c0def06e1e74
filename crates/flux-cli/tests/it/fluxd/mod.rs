//! The real `fluxctl` binary against a real fluxd: flux-daemon's test bed
//! (a bare repository behind sshd with strict host keys, the API emulator,
//! Debian's docker-registry where images matter) and fluxd started
//! in-process with real flags. Every command is run as a process, as a user
//! runs it, with `--url` or through the emulator's port-forward, and its
//! effects are checked where they land: the bare repository, the cluster
//! (through kubectl) and fluxd's API.

mod forward;
mod lists;
mod policy;
mod release;
mod sources;
mod sync;

use std::path::PathBuf;
use std::time::Duration;

use flux_cli::error::Exit;
use flux_daemon::testing::{BedOptions, Fluxd, TestBed};
use flux_testbed::registry::{Format, Pusher, TestImage};

use crate::util::Run;

/// Long enough for anything on a loaded 2-core machine; nothing waits this
/// long when things work.
pub const PATIENCE: Duration = Duration::from_secs(90);

/// The demo namespace.
const NAMESPACE: &str = "apiVersion: v1
kind: Namespace
metadata:
  name: demo
";

/// Two containers (an init container first in the file), two replicas.
const WEB: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: demo
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      initContainers:
      - name: init
        image: REGISTRY/team/init:1.0
      containers:
      - name: web
        image: REGISTRY/team/web:1.0 # the web server
";

/// Locked in git.
const WORKER: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: worker
  namespace: demo
  annotations:
    fluxcd.io/locked: \"true\"
spec:
  selector:
    matchLabels: {app: worker}
  template:
    metadata:
      labels: {app: worker}
    spec:
      containers:
      - name: worker
        image: REGISTRY/team/worker:2.0
";

/// In the `default` namespace.
const TOOLS: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: tools
spec:
  selector:
    matchLabels: {app: tools}
  template:
    metadata:
      labels: {app: tools}
    spec:
      containers:
      - name: tools
        image: REGISTRY/team/tools:0.1
";

/// The repository's files, with images in `registry`.
pub fn files(registry: &str) -> Vec<(String, String)> {
    [
        ("namespace.yaml", NAMESPACE),
        ("demo/web.yaml", WEB),
        ("demo/worker.yaml", WORKER),
        ("tools.yaml", TOOLS),
    ]
    .into_iter()
    .map(|(p, t)| (p.to_owned(), t.replace("REGISTRY", registry)))
    .collect()
}

/// What a test needs: the bed, fluxd, and the registry's address (or a
/// made-up host when no registry runs).
pub struct Setup {
    /// The servers.
    pub bed: TestBed,
    /// fluxd, started and synced once.
    pub fluxd: Fluxd,
    /// Image host of the manifests.
    pub registry: String,
    /// HOME for fluxctl (a git config with a user in it).
    pub home: PathBuf,
}

/// How much of the bed a test needs.
#[derive(Debug, Clone, Copy, Default)]
pub struct Needs {
    /// A real registry, with the manifests' images pushed to it.
    pub registry: bool,
    /// The emulator's workload controller (rollouts complete).
    pub rollouts: bool,
}

/// Starts the bed (with the repository of [`files`]) and fluxd, and waits
/// for the first sync (and the first registry scan, with a registry).
pub async fn setup(needs: Needs) -> Setup {
    let options = BedOptions {
        rollouts: needs.rollouts.then(|| kube_emulator::Rollouts {
            observe_after: Duration::from_millis(100),
            complete_after: Duration::from_millis(900),
        }),
    };
    let mut bed = TestBed::start_with(&[], options).await.expect("test bed");
    let registry = if needs.registry {
        bed = bed.with_registry().expect("docker-registry");
        let addr = bed.registry_addr().expect("registry").to_owned();
        push_images(&addr).await;
        addr
    } else {
        "registry.example.com".to_owned()
    };
    let files = files(&registry);
    let borrowed: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_bytes()))
        .collect();
    bed.commit(&borrowed, "Initial config").expect("commit");
    let fluxd = bed
        .start_fluxd(
            "fluxd",
            &[
                "--git-poll-interval=1h",
                "--sync-interval=1h",
                "--automation-interval=1h",
            ],
        )
        .await
        .expect("fluxd");
    // `fluxctl sync` wants the repository `Ready`: fetched and the write
    // check passed, which fluxd does after its first sync.
    fluxd
        .wait_git_ready(PATIENCE)
        .await
        .expect("repository ready");
    if needs.registry {
        let name = flux_core::image::ImageName::parse(&format!("{registry}/team/web"))
            .expect("image name");
        fluxd
            .wait_for("the first registry scan", PATIENCE, |s| {
                use flux_core::registry::RegistryView;
                s.registry.cache.tags(&name).is_some_and(|t| t.len() == 3)
            })
            .await
            .expect("scanned");
    }
    let home = fluxctl_home(&bed);
    Setup {
        bed,
        fluxd,
        registry,
        home,
    }
}

/// A HOME for fluxctl with a git identity (`--local` commits need one).
pub fn fluxctl_home(bed: &TestBed) -> PathBuf {
    let home = bed.path("home");
    std::fs::create_dir_all(&home).expect("home");
    std::fs::write(
        home.join(".gitconfig"),
        "[user]\n\tname = Jo Ops\n\temail = jo@example.com\n",
    )
    .expect("gitconfig");
    home
}

/// The tags each image of the manifests has in the registry.
async fn push_images(registry: &str) {
    let pusher = Pusher::new(registry);
    let images = [
        ("team/web", "1.0", "2024-01-01T00:00:00Z"),
        ("team/web", "1.1", "2024-01-02T00:00:00Z"),
        ("team/web", "1.2", "2024-01-03T00:00:00Z"),
        ("team/init", "1.0", "2024-01-01T00:00:00Z"),
        ("team/worker", "2.0", "2024-01-01T00:00:00Z"),
        ("team/worker", "2.1", "2024-01-05T00:00:00Z"),
        ("team/tools", "0.1", "2024-01-01T00:00:00Z"),
    ];
    for (repo, tag, created) in images {
        pusher
            .push_image(repo, tag, &TestImage::created(created), Format::Docker)
            .await
            .expect("push");
    }
}

impl Setup {
    /// Runs the `fluxctl` binary with `--url` set to fluxd's API.
    pub async fn fluxctl(&self, args: &[&str]) -> Run {
        let url = self.fluxd.api_url();
        let mut argv = vec!["--url", url.as_str()];
        argv.extend_from_slice(args);
        fluxctl_bin(&argv, &self.env(&[])).await
    }

    /// Runs the `fluxctl` binary with `--url` set to fluxd's API and
    /// `input` on its stdin.
    pub async fn fluxctl_typing(&self, args: &[&str], input: &[u8]) -> Run {
        let url = self.fluxd.api_url();
        let mut argv = vec!["--url", url.as_str()];
        argv.extend_from_slice(args);
        fluxctl_input(&argv, &self.env(&[]), Some(input)).await
    }

    /// The environment fluxctl runs in: `PATH`, a `HOME` whose git config
    /// names a user, and `extra`.
    pub fn env(&self, extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut env = vec![
            ("PATH".to_owned(), std::env::var("PATH").unwrap_or_default()),
            ("HOME".to_owned(), self.home.display().to_string()),
            ("GIT_CONFIG_NOSYSTEM".to_owned(), "1".to_owned()),
        ];
        env.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        env
    }

    /// A file of the repository's master branch.
    pub fn file(&self, path: &str) -> String {
        String::from_utf8(self.bed.repo.show("master", path).expect("git show")).expect("UTF-8")
    }

    /// The subjects of master's commits, newest first.
    pub fn subjects(&self) -> Vec<String> {
        self.bed.repo.subjects("master").expect("git log")
    }

    /// The whole message of master's head commit (trimmed).
    pub fn head_message(&self) -> String {
        self.bed
            .repo
            .git(&["log", "-1", "--format=%B", "master"])
            .expect("git log")
    }

    /// master's head.
    pub fn head(&self) -> String {
        self.bed
            .repo
            .head("master")
            .expect("head")
            .expect("a commit")
    }

    /// kubectl's trimmed stdout, or a panic with its stderr.
    pub fn kubectl(&self, args: &[&str]) -> String {
        self.bed
            .kubectl
            .run(args)
            .expect_ok(&args.join(" "))
            .trim()
            .to_owned()
    }

    /// Waits until kubectl's output satisfies `check`; the output.
    pub async fn eventually(&self, args: &[&str], check: impl Fn(&str) -> bool) -> String {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let out = self.bed.kubectl.run(args);
            if out.ok && check(out.stdout.trim()) {
                return out.stdout.trim().to_owned();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "kubectl {args:?} never satisfied the check; last: {out:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until every Deployment's rollout is complete.
    pub async fn rolled_out(&self) {
        for (ns, name) in [("demo", "web"), ("demo", "worker"), ("default", "tools")] {
            self.eventually(
                &[
                    "rollout",
                    "status",
                    "-n",
                    ns,
                    &format!("deployment/{name}"),
                    "--timeout=1s",
                ],
                |out| out.contains("successfully rolled out"),
            )
            .await;
        }
    }
}

/// Runs the `fluxctl` binary with `args` and exactly the environment `env`.
pub async fn fluxctl_bin(args: &[&str], env: &[(String, String)]) -> Run {
    fluxctl_input(args, env, None).await
}

/// [`fluxctl_bin`] with `input` on its stdin (a pipe), if any.
pub async fn fluxctl_input(args: &[&str], env: &[(String, String)], input: Option<&[u8]>) -> Run {
    use tokio::io::AsyncWriteExt as _;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_fluxctl"))
        .args(args)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(if input.is_some() {
            std::process::Stdio::piped()
        } else {
            std::process::Stdio::null()
        })
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("run fluxctl");
    if let (Some(bytes), Some(mut stdin)) = (input, child.stdin.take()) {
        // Closed when dropped, as a user's input ends.
        stdin.write_all(bytes).await.expect("write fluxctl's stdin");
    }
    let output = child.wait_with_output().await.expect("run fluxctl");
    let exit = match output.status.code() {
        Some(0) => Exit::Success,
        Some(1) => Exit::Failed,
        Some(2) => Exit::Usage,
        Some(3) => Exit::Unreachable,
        Some(4) => Exit::Timeout,
        other => panic!(
            "fluxctl {args:?} ended with {other:?}\nstderr:\n{}",
            String::from_utf8_lossy(&output.stderr)
        ),
    };
    Run {
        exit,
        out: String::from_utf8(output.stdout).expect("stdout is UTF-8"),
        err: String::from_utf8(output.stderr).expect("stderr is UTF-8"),
    }
}

/// The lines of a table with runs of blanks made one space (column widths
/// depend on the registry's port).
pub fn rows(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}
