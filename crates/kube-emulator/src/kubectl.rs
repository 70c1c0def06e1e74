//! Running the real `kubectl` against an emulator, isolated from the
//! user's own configuration: a private kubeconfig, `HOME` and discovery
//! cache in a temporary directory, never `~/.kube`.
//!
//! This is a test-bed helper shared by the tests of every crate that needs
//! kubectl as the referee.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A kubectl wired to one API server.
#[derive(Debug)]
pub struct Kubectl {
    dir: PathBuf,
    kubeconfig: PathBuf,
}

/// What one kubectl run printed.
#[derive(Debug, Clone)]
pub struct Output {
    /// Whether it exited 0.
    pub ok: bool,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Output {
    /// Standard output, panicking with both streams if kubectl failed (for
    /// tests).
    pub fn expect_ok(&self, what: &str) -> &str {
        assert!(
            self.ok,
            "kubectl {what} failed:\nstdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        &self.stdout
    }
}

fn kubeconfig_text(url: &str, token: Option<&str>, ca_pem: Option<&str>) -> String {
    use base64::Engine as _;
    let user = match token {
        Some(t) => format!(
            "  user:\n    token: {}\n",
            serde_json::Value::String(t.to_owned())
        ),
        None => "  user: {}\n".to_owned(),
    };
    let ca = ca_pem
        .map(|pem| {
            format!(
                "    certificate-authority-data: {}\n",
                base64::engine::general_purpose::STANDARD.encode(pem)
            )
        })
        .unwrap_or_default();
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: emulator\n  cluster:\n    server: {url}\n{ca}contexts:\n- name: emulator\n  context:\n    cluster: emulator\n    user: emulator\n    namespace: default\ncurrent-context: emulator\nusers:\n- name: emulator\n{user}"
    )
}

/// The kubeconfig text for a server URL and optional bearer token.
pub fn kubeconfig(url: &str, token: Option<&str>) -> String {
    kubeconfig_text(url, token, None)
}

/// The kubeconfig text for a server URL, the PEM certificate of the CA to
/// trust (for an `https` URL) and an optional bearer token.
pub fn kubeconfig_with_ca(url: &str, token: Option<&str>, ca_pem: Option<&str>) -> String {
    kubeconfig_text(url, token, ca_pem)
}

impl Kubectl {
    /// kubectl for the server at `url`, authenticating with `token` if
    /// given. Its files live in a fresh temporary directory, removed on drop.
    pub fn new(url: &str, token: Option<&str>) -> std::io::Result<Self> {
        Self::with_ca(url, token, None)
    }

    /// kubectl for the server at `url`, trusting the CA `ca_pem` (for an
    /// `https` URL) and authenticating with `token` if given.
    pub fn with_ca(url: &str, token: Option<&str>, ca_pem: Option<&str>) -> std::io::Result<Self> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "kubectl-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(dir.join("home"))?;
        let kubeconfig = dir.join("config");
        std::fs::write(&kubeconfig, kubeconfig_text(url, token, ca_pem))?;
        Ok(Kubectl { dir, kubeconfig })
    }

    /// The kubeconfig file it uses.
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// A `kubectl` command with the isolated environment set.
    pub fn command(&self) -> Command {
        let mut c = Command::new("kubectl");
        c.env("KUBECONFIG", &self.kubeconfig)
            .env("HOME", self.dir.join("home"))
            .env("KUBECACHEDIR", self.dir.join("cache"))
            .env_remove("KUBECTL_EXTERNAL_DIFF")
            .stdin(Stdio::null());
        c
    }

    /// Runs kubectl with `args`.
    pub fn run(&self, args: &[&str]) -> Output {
        self.run_with_stdin(args, None)
    }

    /// Runs kubectl with `args`, writing `stdin` to it (for `-f -`).
    pub fn run_stdin(&self, args: &[&str], stdin: &str) -> Output {
        self.run_with_stdin(args, Some(stdin))
    }

    fn run_with_stdin(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut c = self.command();
        c.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
        if stdin.is_some() {
            c.stdin(Stdio::piped());
        }
        let child = c.spawn();
        let mut child = match child {
            Ok(c) => c,
            Err(e) => {
                return Output {
                    ok: false,
                    stdout: String::new(),
                    stderr: format!("cannot run kubectl: {e}"),
                };
            }
        };
        if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
            let _ = pipe.write_all(text.as_bytes());
        }
        match child.wait_with_output() {
            Ok(o) => Output {
                ok: o.status.success(),
                stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
            },
            Err(e) => Output {
                ok: false,
                stdout: String::new(),
                stderr: format!("kubectl did not finish: {e}"),
            },
        }
    }
}

impl Drop for Kubectl {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
