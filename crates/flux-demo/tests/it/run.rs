//! Running the `flux-demo` binary as a user would, reading what it prints,
//! and the commands the tests check its results with.

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Long enough for a whole run on a loaded 2-core machine (it takes about
/// 15 s); the tests never wait this long when things work.
pub const WHOLE_RUN: Duration = Duration::from_secs(180);

/// How long stopping may take.
pub const STOPPING: Duration = Duration::from_secs(30);

/// A running `flux-demo`.
pub struct Demo {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

fn pump(stream: impl Read + Send + 'static, lines: Arc<Mutex<Vec<String>>>) {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            lines.lock().expect("lines").push(line);
        }
    });
}

impl Demo {
    /// Starts the binary with `args`, no terminal and no input.
    pub fn start(args: &[&str]) -> Demo {
        let mut child = Command::new(env!("CARGO_BIN_EXE_flux-demo"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start flux-demo");
        let lines = Arc::new(Mutex::new(Vec::new()));
        pump(child.stdout.take().expect("stdout"), lines.clone());
        pump(child.stderr.take().expect("stderr"), lines.clone());
        Demo { child, lines }
    }

    /// Everything it printed so far (stdout and stderr).
    pub fn output(&self) -> String {
        self.lines.lock().expect("lines").join("\n")
    }

    fn line_with(&self, needle: &str) -> Option<String> {
        self.lines
            .lock()
            .expect("lines")
            .iter()
            .find(|l| l.contains(needle))
            .cloned()
    }

    /// Waits for a line containing `needle`.
    pub fn wait_for_line(&mut self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(line) = self.line_with(needle) {
                return line;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                // Let the readers catch up with its last words.
                std::thread::sleep(Duration::from_millis(200));
                if let Some(line) = self.line_with(needle) {
                    return line;
                }
                panic!(
                    "flux-demo exited ({status}) without printing {needle:?}:\n{}",
                    self.output()
                );
            }
            assert!(
                Instant::now() < deadline,
                "no {needle:?} after {timeout:?}:\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits for it to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                std::thread::sleep(Duration::from_millis(200));
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "flux-demo still running after {timeout:?}:\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends SIGINT, as Ctrl-C does.
    pub fn interrupt(&self) {
        let status = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// The playground's directory, as it printed it.
    pub fn dir(&self) -> PathBuf {
        let line = self
            .line_with("Starting the playground in ")
            .unwrap_or_else(|| panic!("no directory printed:\n{}", self.output()));
        let rest = line
            .split("Starting the playground in ")
            .nth(1)
            .expect("after the prefix");
        PathBuf::from(rest.split(" (").next().expect("a path"))
    }

    /// fluxd's API URL, as it printed it.
    pub fn api_url(&self) -> String {
        let line = self
            .line_with("export FLUX_URL=")
            .unwrap_or_else(|| panic!("no FLUX_URL printed:\n{}", self.output()));
        line.split("export FLUX_URL=")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .expect("a URL")
            .to_owned()
    }

    /// What `--keep` printed to try: the set-up lines, then the commands,
    /// as a user would paste them.
    pub fn to_try(&self) -> (Vec<String>, Vec<String>) {
        let text = self.output();
        let block = |from: &str, to: &str| -> Vec<String> {
            text.lines()
                .skip_while(|l| !l.starts_with(from))
                .skip(1)
                .take_while(|l| !l.starts_with(to))
                .map(|l| l.trim().to_owned())
                .collect()
        };
        (
            block("Everything is still running.", "then try:"),
            block("then try:", "Stop everything with Ctrl-C"),
        )
    }

    /// The loopback addresses of everything it started: the emulator,
    /// sshd, docker-registry and fluxd.
    pub fn addresses(&self) -> Vec<String> {
        let text = self.output();
        let mut out = Vec::new();
        for (needle, what) in [
            ("Kubernetes API emulator  http://", "the emulator"),
            ("@127.0.0.1:", "sshd"),
            ("docker-registry          ", "docker-registry"),
            ("export FLUX_URL=http://", "fluxd"),
        ] {
            let after = text
                .split(needle)
                .nth(1)
                .unwrap_or_else(|| panic!("no address of {what} printed:\n{text}"));
            let addr: String = if needle.starts_with('@') {
                let port: String = after.chars().take_while(char::is_ascii_digit).collect();
                format!("127.0.0.1:{port}")
            } else {
                after
                    .chars()
                    .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ':')
                    .collect()
            };
            assert!(addr.parse::<SocketAddr>().is_ok(), "{what}: {addr:?}");
            out.push(addr);
        }
        out
    }

    /// Its directory is gone, it said so, and nothing listens where its
    /// servers did.
    pub fn assert_cleaned_up(&self) {
        let dir = self.dir();
        assert!(!dir.exists(), "{} is still there", dir.display());
        let text = self.output();
        assert!(
            text.contains(&format!("removed {}.", dir.display())),
            "{text}"
        );
        for addr in self.addresses() {
            assert!(closed(&addr), "something still listens on {addr}:\n{text}");
        }
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        // A failed test still stops the demo (and so its servers).
        if let Ok(None) = self.child.try_wait() {
            self.interrupt();
            let deadline = Instant::now() + STOPPING;
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Whether nothing accepts connections at `addr` (`host:port`, or a URL).
pub fn closed(addr: &str) -> bool {
    let host_port = addr
        .trim_start_matches("http://")
        .split('/')
        .next()
        .expect("an address");
    let addr: SocketAddr = host_port.parse().expect("a socket address");
    TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err()
}

/// kubectl with `kubeconfig`: stdout, trimmed; a panic if it fails.
pub fn kubectl(kubeconfig: &Path, args: &[&str]) -> String {
    let out = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .output()
        .expect("run kubectl");
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// kubectl's stdout and stderr, whether it failed or not.
pub fn kubectl_status(kubeconfig: &Path, args: &[&str]) -> String {
    let out = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .output()
        .expect("run kubectl");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// git on the bare repository: stdout, trimmed; a panic if it fails.
pub fn git(bare: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("--git-dir")
        .arg(bare)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Builds `fluxctl` next to `flux-demo` with `scripts/demo`'s own command
/// (so the features, and the build, are the ones it shares): a test of this
/// crate alone does not build other crates' binaries.
pub fn build_fluxctl() {
    let mut cargo = Command::new(env!("CARGO"));
    // Without the variables the test runner sets for this test (a build
    // script tracks CARGO_PKG_VERSION_PRE and OUT_DIR: with them, half the
    // dependencies would be rebuilt here, and again by the next build).
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name == "CARGO"
            || name == "OUT_DIR"
            || [
                "CARGO_PKG_",
                "CARGO_MANIFEST_",
                "CARGO_BIN_",
                "CARGO_CRATE_",
                "CARGO_PRIMARY_",
            ]
            .iter()
            .any(|p| name.starts_with(p))
            || name == "CARGO_TARGET_TMPDIR"
        {
            cargo.env_remove(&*name);
        }
    }
    let status = cargo
        .args(["build", "-q", "-p", "flux-demo", "-p", "flux-cli", "--bins"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("run cargo");
    assert!(status.success(), "cargo build -p flux-cli: {status}");
    let fluxctl = Path::new(env!("CARGO_BIN_EXE_flux-demo")).with_file_name("fluxctl");
    assert!(fluxctl.is_file(), "no {}", fluxctl.display());
}

/// Runs `script` with bash (`set -euo pipefail`) in a clean environment:
/// no global git configuration, only `PATH` inherited. What it printed
/// (stderr into stdout, in order), and whether it succeeded.
pub fn bash(script: &str) -> (bool, String) {
    let home = tempfile::tempdir().expect("a HOME");
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!("set -euo pipefail\nexec 2>&1\n{script}"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .stdin(Stdio::null())
        .output()
        .expect("run bash");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}
