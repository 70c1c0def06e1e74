//! Real git remotes for tests: bare repositories, `git daemon`, `sshd`, and
//! smart HTTP over plain HTTP and TLS.
//!
//! Every `git` run by these helpers is hermetic: no system or global config,
//! a fixed author, and no terminal prompts, so results do not depend on the
//! machine's own git setup.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::port::{free_port, wait_for_listener};
use crate::process::ServerProcess;

mod http;

pub use http::{HttpGitServer, HttpsGitServer};

/// Name and email of the commits the helpers make ("somebody else").
pub const TEST_AUTHOR: (&str, &str) = ("Test Writer", "writer@example.com");

/// A `git` command with a hermetic environment, run in `dir` if given.
pub fn git_command(dir: Option<&Path>) -> Command {
    let mut cmd = Command::new("git");
    if let Some(dir) = dir {
        cmd.current_dir(dir);
    }
    cmd.env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_AUTHOR_NAME", TEST_AUTHOR.0)
        .env("GIT_AUTHOR_EMAIL", TEST_AUTHOR.1)
        .env("GIT_COMMITTER_NAME", TEST_AUTHOR.0)
        .env("GIT_COMMITTER_EMAIL", TEST_AUTHOR.1)
        .env("LC_ALL", "C")
        .stdin(Stdio::null());
    cmd
}

/// Runs a command and returns its stdout (trimmed), or an error carrying its
/// stderr.
pub fn run(mut cmd: Command) -> io::Result<String> {
    let out = cmd.output()?;
    check(&cmd, out).map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
}

fn check(cmd: &Command, out: Output) -> io::Result<Output> {
    if out.status.success() {
        Ok(out)
    } else {
        Err(io::Error::other(format!(
            "{:?} {:?} failed ({}): {}",
            cmd.get_program(),
            cmd.get_args().collect::<Vec<_>>(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// Runs `git args` in `dir` (hermetic) and returns stdout, trimmed.
pub fn git(dir: &Path, args: &[&str]) -> io::Result<String> {
    let mut cmd = git_command(Some(dir));
    cmd.args(args);
    run(cmd)
}

/// A bare repository on disk, the "remote" of a test.
#[derive(Debug, Clone)]
pub struct BareRepo {
    path: PathBuf,
}

impl BareRepo {
    /// Creates an empty bare repository `root/name` whose default branch is
    /// `master` (Flux v1's default).
    pub fn create(root: &Path, name: &str) -> io::Result<Self> {
        let path = root.join(name);
        fs::create_dir_all(&path)?;
        git(
            &path,
            &["init", "--quiet", "--bare", "--initial-branch=master"],
        )?;
        Ok(BareRepo { path })
    }

    /// Its directory (absolute if `root` was).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A `file://` URL for it.
    pub fn file_url(&self) -> String {
        format!("file://{}", self.path.display())
    }

    /// Runs `git args` inside the bare repository.
    pub fn git(&self, args: &[&str]) -> io::Result<String> {
        git(&self.path, args)
    }

    /// The commit `branch` points at, if the branch exists.
    pub fn head(&self, branch: &str) -> io::Result<Option<String>> {
        let mut cmd = git_command(Some(&self.path));
        cmd.args(["rev-parse", "--verify", "--quiet"])
            .arg(format!("refs/heads/{branch}^{{commit}}"));
        let out = cmd.output()?;
        Ok(out
            .status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned()))
    }

    /// The subjects of the commits on `branch`, newest first.
    pub fn subjects(&self, branch: &str) -> io::Result<Vec<String>> {
        let out = self.git(&["log", "--format=%s", branch])?;
        Ok(out.lines().map(str::to_owned).collect())
    }

    /// The bytes of `path` at `rev`.
    pub fn show(&self, rev: &str, path: &str) -> io::Result<Vec<u8>> {
        let mut cmd = git_command(Some(&self.path));
        cmd.arg("show").arg(format!("{rev}:{path}"));
        let out = cmd.output()?;
        check(&cmd, out).map(|o| o.stdout)
    }

    /// Commits `files` (path, bytes) on `master` as [`TEST_AUTHOR`], through
    /// a temporary work clone, and returns the new commit.
    pub fn commit_files(&self, files: &[(&str, &[u8])], message: &str) -> io::Result<String> {
        self.commit_files_on("master", files, message)
    }

    /// Like [`BareRepo::commit_files`], on `branch` (created if missing).
    pub fn commit_files_on(
        &self,
        branch: &str,
        files: &[(&str, &[u8])],
        message: &str,
    ) -> io::Result<String> {
        let work = WorkClone::new(&self.file_url(), branch, None)?;
        for (path, bytes) in files {
            work.write(path, bytes)?;
        }
        work.commit(message)?;
        work.push()?;
        work.head()
    }
}

/// A non-bare clone used to make commits the way another person would.
#[derive(Debug)]
pub struct WorkClone {
    dir: tempfile::TempDir,
    branch: String,
    ssh_command: Option<String>,
}

impl WorkClone {
    /// Clones `url` (checking out `branch` when the remote has it; otherwise
    /// starting it). `ssh_command` is used as `GIT_SSH_COMMAND` for ssh URLs.
    pub fn new(url: &str, branch: &str, ssh_command: Option<&str>) -> io::Result<Self> {
        let dir = tempfile::tempdir()?;
        let work = WorkClone {
            dir,
            branch: branch.to_owned(),
            ssh_command: ssh_command.map(str::to_owned),
        };
        let mut cmd = work.command();
        cmd.args(["-c", "init.defaultBranch=master", "clone", "--quiet", url])
            .arg(work.dir.path());
        run(cmd)?;
        let has_branch = work
            .git(&["ls-remote", "--heads", "origin", branch])?
            .contains(&format!("refs/heads/{branch}"));
        if has_branch {
            work.git(&[
                "checkout",
                "--quiet",
                "-B",
                branch,
                &format!("origin/{branch}"),
            ])?;
        } else {
            work.git(&["checkout", "--quiet", "--orphan", branch])?;
        }
        Ok(work)
    }

    fn command(&self) -> Command {
        let mut cmd = git_command(Some(self.dir.path()));
        if let Some(ssh) = &self.ssh_command {
            cmd.env("GIT_SSH_COMMAND", ssh);
        }
        cmd
    }

    /// Runs `git args` in the work tree.
    pub fn git(&self, args: &[&str]) -> io::Result<String> {
        let mut cmd = self.command();
        cmd.args(args);
        run(cmd)
    }

    /// The work tree.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a file (creating directories).
    pub fn write(&self, path: &str, bytes: &[u8]) -> io::Result<()> {
        let full = self.dir.path().join(path);
        if let Some(parent) = full.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::write(full, bytes)
    }

    /// Stages everything and commits.
    pub fn commit(&self, message: &str) -> io::Result<()> {
        self.git(&["add", "-A"])?;
        self.git(&["commit", "--quiet", "--allow-empty", "-m", message])?;
        Ok(())
    }

    /// Pushes the branch (never forced); an error if the remote refuses.
    pub fn push(&self) -> io::Result<()> {
        self.git(&[
            "push",
            "--quiet",
            "origin",
            &format!("HEAD:refs/heads/{}", self.branch),
        ])?;
        Ok(())
    }

    /// Fetches and rebases onto the remote branch.
    pub fn pull(&self) -> io::Result<()> {
        self.git(&["pull", "--quiet", "--rebase", "origin", &self.branch])?;
        Ok(())
    }

    /// The checked-out commit.
    pub fn head(&self) -> io::Result<String> {
        self.git(&["rev-parse", "HEAD"])
    }
}

/// `git daemon` serving every repository under a base directory over
/// `git://127.0.0.1:PORT/`, with pushes (receive-pack) enabled.
#[derive(Debug)]
pub struct GitDaemon {
    port: u16,
    process: ServerProcess,
}

impl GitDaemon {
    /// Starts it on a free port, serving `base` (absolute).
    pub fn start(base: &Path) -> io::Result<Self> {
        let mut last = None;
        for _ in 0..5 {
            let port = free_port()?;
            let mut cmd = git_command(None);
            cmd.arg("daemon")
                .arg("--export-all")
                .arg("--enable=receive-pack")
                .arg("--reuseaddr")
                .arg("--informative-errors")
                .arg(format!("--base-path={}", base.display()))
                .arg("--listen=127.0.0.1")
                .arg(format!("--port={port}"))
                .arg(base)
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            let mut process = ServerProcess::spawn("git daemon", cmd)?;
            match wait_for_listener(port, Duration::from_secs(10), || process.is_running()) {
                Ok(()) => return Ok(GitDaemon { port, process }),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::other("git daemon did not start")))
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of repository `name` under the base directory.
    pub fn url(&self, name: &str) -> String {
        format!("git://127.0.0.1:{}/{name}", self.port)
    }

    /// Stops it now (it also stops when dropped).
    pub fn stop(&mut self) {
        self.process.stop();
    }
}

/// Debian's OpenSSH `sshd` on a free loopback port, with its own generated
/// host key, a generated client key authorised to log in as the current
/// user, and a config of its own (no PAM, public keys only).
///
/// Its sessions start with `SHLVL=1`, so the login shell running a git
/// command does not read the user's `~/.bashrc` (Debian's bash reads it
/// for ssh commands only at shell level 1). On these machines root's runs
/// `pyenv rehash`, which takes a lock: concurrent logins queued behind it
/// (about 0.2 s each, seconds when several fetch at once), and a login
/// killed while holding it left it behind for 60 s. A git host runs no
/// such thing.
///
/// Repositories are addressed by absolute path: `ssh://USER@127.0.0.1:PORT/abs/path`.
#[derive(Debug)]
pub struct SshServer {
    dir: tempfile::TempDir,
    port: u16,
    user: String,
    process: ServerProcess,
}

impl SshServer {
    /// Generates keys and config in a temporary directory and starts `sshd`.
    pub fn start() -> io::Result<Self> {
        let dir = tempfile::tempdir()?;
        let d = dir.path();
        keygen(&d.join("host_ed25519"), "testbed-host")?;
        keygen(&d.join("client_ed25519"), "testbed-client")?;
        fs::copy(d.join("client_ed25519.pub"), d.join("authorized_keys"))?;
        fs::set_permissions(d.join("authorized_keys"), fs::Permissions::from_mode(0o600))?;
        ensure_privsep_dir()?;
        let user = current_user()?;
        let mut last = None;
        for _ in 0..5 {
            let port = free_port()?;
            fs::write(
                d.join("sshd_config"),
                format!(
                    "Port {port}\n\
                     ListenAddress 127.0.0.1\n\
                     HostKey {host}\n\
                     PidFile {dir}/sshd.pid\n\
                     AuthorizedKeysFile {dir}/authorized_keys\n\
                     AllowUsers {user}\n\
                     PubkeyAuthentication yes\n\
                     PasswordAuthentication no\n\
                     KbdInteractiveAuthentication no\n\
                     PermitRootLogin prohibit-password\n\
                     UsePAM no\n\
                     StrictModes no\n\
                     AcceptEnv GIT_PROTOCOL\n\
                     SetEnv SHLVL=1\n\
                     MaxStartups 100:30:200\n\
                     MaxSessions 100\n\
                     LogLevel VERBOSE\n",
                    host = d.join("host_ed25519").display(),
                    dir = d.display(),
                ),
            )?;
            match spawn_sshd(d, port) {
                Ok(process) => {
                    return Ok(SshServer {
                        dir,
                        port,
                        user,
                        process,
                    });
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::other("sshd did not start")))
    }

    /// Stops it if it runs and starts it again on the same port with the
    /// same host key, config and authorised keys: a git remote that went
    /// away and came back, which clients with strict host key checking
    /// accept again.
    pub fn restart(&mut self) -> io::Result<()> {
        self.process.stop();
        let mut last = None;
        // sshd binds with SO_REUSEADDR, so the port is normally free at
        // once; another process may have taken it meanwhile, though.
        for _ in 0..5 {
            match spawn_sshd(self.dir.path(), self.port) {
                Ok(process) => {
                    self.process = process;
                    return Ok(());
                }
                Err(e) => last = Some(e),
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Err(last.unwrap_or_else(|| io::Error::other("sshd did not start again")))
    }

    /// Whether the server process is running (false after
    /// [`SshServer::stop`] until [`SshServer::restart`]).
    pub fn is_running(&mut self) -> bool {
        self.process.is_running().unwrap_or(false)
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The user that may log in.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The `ssh://` URL of the repository at absolute path `repo`.
    pub fn url(&self, repo: &Path) -> String {
        format!(
            "ssh://{}@127.0.0.1:{}{}",
            self.user,
            self.port,
            repo.display()
        )
    }

    /// The generated client private key (mode 0600), authorised to log in.
    pub fn client_key(&self) -> PathBuf {
        self.dir.path().join("client_ed25519")
    }

    /// The server's host key as a `known_hosts` line for `[127.0.0.1]:PORT`.
    pub fn known_hosts_line(&self) -> io::Result<String> {
        let public = fs::read_to_string(self.dir.path().join("host_ed25519.pub"))?;
        let mut fields = public.split_whitespace();
        let (Some(kind), Some(key)) = (fields.next(), fields.next()) else {
            return Err(io::Error::other("malformed generated host key"));
        };
        Ok(format!("[127.0.0.1]:{} {kind} {key}", self.port))
    }

    /// A `known_hosts` file holding only this server's host key.
    pub fn known_hosts_file(&self) -> io::Result<PathBuf> {
        let path = self.dir.path().join("known_hosts");
        fs::write(&path, format!("{}\n", self.known_hosts_line()?))?;
        Ok(path)
    }

    /// Authorises another public key (an `authorized_keys` line) to log in.
    pub fn authorize(&self, public_key_line: &str) -> io::Result<()> {
        use std::io::Write as _;
        let mut f = fs::OpenOptions::new()
            .append(true)
            .open(self.dir.path().join("authorized_keys"))?;
        writeln!(f, "{}", public_key_line.trim())
    }

    /// A `GIT_SSH_COMMAND` for test clients: the generated client key and
    /// this server's host key, strict checking, no user or system config.
    pub fn git_ssh_command(&self) -> io::Result<String> {
        Ok(format!(
            "ssh -F /dev/null -i {key} -o IdentitiesOnly=yes -o BatchMode=yes \
             -o StrictHostKeyChecking=yes -o UserKnownHostsFile={kh} -o GlobalKnownHostsFile=/dev/null",
            key = self.client_key().display(),
            kh = self.known_hosts_file()?.display(),
        ))
    }

    /// What sshd logged so far (for failure messages).
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }

    /// Stops it now (it also stops when dropped).
    pub fn stop(&mut self) {
        self.process.stop();
    }
}

/// Starts `sshd` with the config in `dir` and waits until it listens on
/// `port`; the error carries its log.
fn spawn_sshd(dir: &Path, port: u16) -> io::Result<ServerProcess> {
    let mut cmd = Command::new(sshd_path()?);
    cmd.arg("-D")
        .arg("-e")
        .arg("-f")
        .arg(dir.join("sshd_config"))
        .arg("-E")
        .arg(dir.join("sshd.log"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut process = ServerProcess::spawn("sshd", cmd)?;
    match wait_for_listener(port, Duration::from_secs(10), || process.is_running()) {
        Ok(()) => Ok(process),
        Err(e) => {
            let log = fs::read_to_string(dir.join("sshd.log")).unwrap_or_default();
            Err(io::Error::other(format!("{e}; sshd log:\n{log}")))
        }
    }
}

/// Generates an unencrypted ed25519 key pair at `path` and `path.pub`.
pub fn keygen(path: &Path, comment: &str) -> io::Result<()> {
    let mut cmd = Command::new("ssh-keygen");
    cmd.args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
        .arg(path)
        .stdin(Stdio::null());
    run(cmd)?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o600))
}

fn sshd_path() -> io::Result<PathBuf> {
    ["/usr/sbin/sshd", "/usr/bin/sshd", "/sbin/sshd"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                "sshd not found: install openssh-server (scripts/install-deps does)",
            )
        })
}

fn current_user() -> io::Result<String> {
    if let Ok(user) = std::env::var("USER")
        && !user.is_empty()
    {
        return Ok(user);
    }
    let mut cmd = Command::new("id");
    cmd.arg("-un");
    run(cmd)
}

/// sshd started as root insists on its privilege separation directory,
/// which Debian's init scripts would normally create.
fn ensure_privsep_dir() -> io::Result<()> {
    let dir = Path::new("/run/sshd");
    if dir.exists() {
        return Ok(());
    }
    let mut id = Command::new("id");
    id.arg("-u");
    if run(id)? == "0" {
        fs::create_dir_all(dir)?;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o755))?;
    }
    Ok(())
}
