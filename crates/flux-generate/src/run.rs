//! Running one `.flux.yaml` command: `/bin/sh -c` in a given directory,
//! with a clean environment, a timeout, and bounded output.
//!
//! The command runs in a process group of its own; on timeout, or when it
//! prints more than allowed, the whole group is killed (SIGKILL), so a
//! generator that starts children (kustomize plugins, `helm`, a pipeline)
//! leaves nothing behind. The group is signalled with rustix's safe
//! `kill(2)` wrapper, while the shell is not yet reaped (so the group id
//! cannot have been reused); rustix is already in the dependency tree
//! (through tempfile and gix), and calling `kill(2)` directly rather than
//! the `kill` program needs no procps in the image and no new process at
//! the moment processes may be exhausted.

use std::ffi::OsStr;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt as _};

/// A command to run.
#[derive(Debug, Clone)]
pub(crate) struct Spec<'a> {
    /// The shell command.
    pub command: &'a str,
    /// Where it runs.
    pub dir: &'a Path,
    /// `PATH` for it.
    pub path: &'a OsStr,
    /// Other variables (`FLUX_*`).
    pub env: &'a [(String, String)],
    /// How long it may run.
    pub timeout: Duration,
    /// Most bytes of standard output accepted.
    pub max_stdout: usize,
    /// Most bytes of standard error kept (the end is kept).
    pub max_stderr: usize,
}

/// What a command printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Output {
    /// Its standard output.
    pub stdout: Vec<u8>,
    /// The end of its standard error, at most `max_stderr` bytes.
    pub stderr: Tail,
}

/// The end of a stream: the last bytes, and how many came before them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tail {
    /// The last bytes.
    pub bytes: Vec<u8>,
    /// How many bytes before them were dropped.
    pub dropped: u64,
}

impl std::fmt::Display for Tail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.dropped > 0 {
            write!(f, "[{} bytes left out] ", self.dropped)?;
        }
        f.write_str(String::from_utf8_lossy(&self.bytes).trim_end())
    }
}

/// How a command failed.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// It could not be started.
    #[error("could not be started: {0}")]
    Spawn(#[source] std::io::Error),
    /// Its directory is missing.
    #[error("cannot run in {dir}: it is not a directory")]
    NoDirectory {
        /// The directory.
        dir: String,
    },
    /// It ran past its timeout and was killed, with its process group.
    #[error("did not finish within {after:?} and was killed{}", said(stderr))]
    Timeout {
        /// The timeout.
        after: Duration,
        /// The end of its standard error.
        stderr: Tail,
    },
    /// It printed more than allowed and was killed, with its process group.
    #[error("printed more than {limit} bytes and was killed")]
    TooMuchOutput {
        /// The limit.
        limit: usize,
    },
    /// It exited unsuccessfully.
    #[error("failed ({status}){}", colon(stderr))]
    Exit {
        /// The exit status.
        status: ExitStatus,
        /// The end of its standard error.
        stderr: Tail,
        /// The end of its standard output.
        stdout: Tail,
    },
}

/// What a command said on standard error, for a message.
fn said(stderr: &Tail) -> String {
    if stderr.bytes.iter().all(u8::is_ascii_whitespace) {
        String::new()
    } else {
        format!("; its error output: {stderr}")
    }
}

fn colon(stderr: &Tail) -> String {
    if stderr.bytes.iter().all(u8::is_ascii_whitespace) {
        " with no error output".into()
    } else {
        format!(": {stderr}")
    }
}

/// Reads `pipe` to its end, keeping at most `max` bytes: the first ones
/// (`keep_end` false; `Err` once over) or the last ones.
async fn read_bounded<R: AsyncRead + Unpin>(
    mut pipe: R,
    max: usize,
    keep_end: bool,
) -> std::io::Result<Result<Tail, usize>> {
    let mut out = Vec::new();
    let mut dropped = 0u64;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = pipe.read(&mut buf).await?;
        if n == 0 {
            return Ok(Ok(Tail {
                bytes: out,
                dropped,
            }));
        }
        out.extend_from_slice(&buf[..n]);
        if out.len() > max {
            if !keep_end {
                return Ok(Err(max));
            }
            let extra = out.len() - max;
            out.drain(..extra);
            dropped += extra as u64;
        }
    }
}

fn kill_group(pid: Option<u32>) {
    let pgid = pid
        .and_then(|p| i32::try_from(p).ok())
        .and_then(rustix::process::Pid::from_raw);
    if let Some(pgid) = pgid {
        // ESRCH (all gone already) is fine.
        let _ = rustix::process::kill_process_group(pgid, rustix::process::Signal::KILL);
    }
}

/// Kills the command's process group if [`run`] is dropped before it has
/// finished (fluxd's `--sync-timeout` cancelling the whole sync, a
/// shutdown): without it only the shell would die (`kill_on_drop`), and
/// what it started would live on. Declared after the child, so it runs
/// while the shell is not yet reaped and its pid still names the group.
struct GroupGuard {
    pid: Option<u32>,
    armed: bool,
}

impl GroupGuard {
    /// Kills the group now; nothing more at drop.
    fn kill(&mut self) {
        self.armed = false;
        kill_group(self.pid);
    }

    /// Hands the killing over to the caller.
    fn take(&mut self) -> Option<u32> {
        self.armed = false;
        self.pid
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if self.armed {
            kill_group(self.pid);
        }
    }
}

type StderrTask = tokio::task::JoinHandle<std::io::Result<Result<Tail, usize>>>;

async fn stderr_of(task: StderrTask) -> Tail {
    match task.await {
        Ok(Ok(Ok(tail))) => tail,
        _ => Tail::default(),
    }
}

/// Kills the group, reaps the shell, and reports the timeout with what the
/// command had said on standard error.
async fn timed_out(
    child: &mut tokio::process::Child,
    pid: Option<u32>,
    after: Duration,
    stderr: StderrTask,
) -> Failure {
    kill_group(pid);
    let _ = child.wait().await;
    // Every writer is dead: the pipe ends now.
    let stderr = tokio::time::timeout(Duration::from_secs(5), stderr_of(stderr))
        .await
        .unwrap_or_default();
    Failure::Timeout { after, stderr }
}

/// Runs `spec`; a non-zero exit, a timeout or too much output is a
/// [`Failure`].
pub(crate) async fn run(spec: &Spec<'_>) -> Result<Output, Failure> {
    if !spec.dir.is_dir() {
        return Err(Failure::NoDirectory {
            dir: spec.dir.display().to_string(),
        });
    }
    let mut cmd = tokio::process::Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(spec.command)
        .current_dir(spec.dir)
        .env_clear()
        .env("PATH", spec.path)
        .envs(spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = cmd.spawn().map_err(Failure::Spawn)?;
    let pid = child.id();
    let mut guard = GroupGuard { pid, armed: true };
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        guard.kill();
        let _ = child.wait().await;
        return Err(Failure::Spawn(std::io::Error::other(
            "no pipes to the command",
        )));
    };
    let stderr_task: StderrTask = tokio::spawn(read_bounded(stderr, spec.max_stderr, true));
    let deadline = tokio::time::Instant::now() + spec.timeout;
    // Everything is waited for before the shell is reaped, so that its
    // process id still names this process group when the group is killed.
    let read = tokio::time::timeout_at(deadline, read_bounded(stdout, spec.max_stdout, false));
    let stdout = match read.await {
        Ok(Ok(Ok(tail))) => tail,
        Ok(Ok(Err(limit))) => {
            guard.kill();
            let _ = child.wait().await;
            stderr_task.abort();
            return Err(Failure::TooMuchOutput { limit });
        }
        Ok(Err(e)) => {
            guard.kill();
            let _ = child.wait().await;
            stderr_task.abort();
            return Err(Failure::Spawn(e));
        }
        Err(_elapsed) => {
            return Err(timed_out(&mut child, guard.take(), spec.timeout, stderr_task).await);
        }
    };
    // Standard error closes when every writer has exited or closed it.
    let mut stderr_task = stderr_task;
    let stderr = match tokio::time::timeout_at(deadline, &mut stderr_task).await {
        Ok(Ok(Ok(Ok(tail)))) => tail,
        Ok(_) => Tail::default(),
        Err(_elapsed) => {
            return Err(timed_out(&mut child, guard.take(), spec.timeout, stderr_task).await);
        }
    };
    let status = match tokio::time::timeout_at(deadline, child.wait()).await {
        Ok(Ok(status)) => {
            // Reaped: the pid may be reused, never signal it again.
            guard.armed = false;
            status
        }
        Ok(Err(e)) => return Err(Failure::Spawn(e)),
        Err(_elapsed) => {
            guard.kill();
            let _ = child.wait().await;
            return Err(Failure::Timeout {
                after: spec.timeout,
                stderr,
            });
        }
    };
    if status.success() {
        Ok(Output {
            stdout: stdout.bytes,
            stderr,
        })
    } else {
        Err(Failure::Exit {
            status,
            stderr,
            stdout: tail_of(stdout.bytes, spec.max_stderr),
        })
    }
}

fn tail_of(mut bytes: Vec<u8>, max: usize) -> Tail {
    let dropped = bytes.len().saturating_sub(max);
    bytes.drain(..dropped);
    Tail {
        bytes,
        dropped: dropped as u64,
    }
}
