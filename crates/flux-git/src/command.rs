//! Running the `git` program, for what gix cannot do (push, signing,
//! signature verification).
//!
//! Each run gets a clean environment (an allow-list modelled on Flux v1's:
//! `PATH`, `HOME`, GnuPG, proxy and nss_wrapper variables), no terminal
//! prompts, English messages, the repository's ssh command, and the
//! `--git-timeout` bound: on timeout the whole process group (git and the ssh
//! it started) is killed. Passwords from the URL are scrubbed from anything
//! that ends up in an error. Strings that come from callers (revisions, ref
//! and tag names, the remote URL, refspecs) are only ever passed after
//! `--end-of-options` ([`GitArgs::operands`]), so none of them can be taken
//! for an option, whatever it starts with.
//!
//! TLS trust is the same for both halves: gix (through rustls' platform
//! verifier) reads the system's CA certificates, or only those in the file
//! named by `SSL_CERT_FILE` when it is set; the `git` program is given that
//! file as `GIT_SSL_CAINFO`, so an `https://` host with a private CA works
//! for fetching and pushing alike.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::AsyncWriteExt as _;

use crate::error::Error;

/// Variables passed through from fluxd's environment. Flux v1 also passed
/// variables for credential helpers and git-secret (`AWS_*`, `CLOUDSDK_*`,
/// `SECRETS_*`) and `GIT_PROXY_COMMAND`; gix, which fetches, uses none of
/// them, so they are left out rather than making push behave unlike fetch.
const ALLOWED_ENV: &[&str] = &[
    "PATH",
    "HOME",
    "GNUPGHOME",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "HTTPS_PROXY",
    "NO_PROXY",
    // nss_wrapper (OpenShift's arbitrary uids) works through LD_PRELOAD.
    "NSS_WRAPPER_PASSWD",
    "NSS_WRAPPER_GROUP",
    "LD_PRELOAD",
];

/// The CA bundle gix trusts instead of the system's, handed to git too.
const CA_FILE_ENV: &str = "SSL_CERT_FILE";

/// How to run `git` against one repository.
#[derive(Debug, Clone)]
pub(crate) struct GitRunner {
    pub(crate) git_dir: PathBuf,
    pub(crate) ssh_command: Option<String>,
    pub(crate) secrets: Vec<String>,
    pub(crate) timeout: Duration,
    pub(crate) remote_display: String,
}

/// What a finished `git` run produced.
#[derive(Debug)]
pub(crate) struct RawOutput {
    pub(crate) status: ExitStatus,
    pub(crate) stdout: Vec<u8>,
    pub(crate) stderr: String,
}

/// The arguments of one `git` run: the subcommand and the options we chose,
/// then (after `--end-of-options`, git ≥ 2.24) the operands, which may come
/// from callers.
#[derive(Debug, Clone)]
pub(crate) struct GitArgs {
    options: Vec<OsString>,
    operands: Vec<OsString>,
}

impl GitArgs {
    /// The subcommand and its options, all chosen by flux-git itself (a
    /// value from a caller is only ever attached to an option, as in
    /// `--local-user=KEY`).
    pub(crate) fn new<I, S>(subcommand_and_options: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        GitArgs {
            options: subcommand_and_options.into_iter().map(Into::into).collect(),
            operands: Vec::new(),
        }
    }

    /// Adds operands: never read as options.
    pub(crate) fn operands<I, S>(mut self, operands: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.operands.extend(operands.into_iter().map(Into::into));
        self
    }

    /// The command line after `git --git-dir … -c …`.
    pub(crate) fn argv(&self) -> Vec<OsString> {
        let mut argv = self.options.clone();
        if !self.operands.is_empty() {
            argv.push("--end-of-options".into());
            argv.extend(self.operands.iter().cloned());
        }
        argv
    }
}

impl GitRunner {
    /// Runs `git args` with `stdin`, bounded by the timeout; `operation`
    /// names it in a timeout error. Exit status is left to the caller.
    pub(crate) async fn raw(
        &self,
        args: &GitArgs,
        stdin: Option<Vec<u8>>,
        envs: &[(&str, String)],
        operation: &'static str,
    ) -> Result<RawOutput, Error> {
        let mut cmd = tokio::process::Command::new("git");
        cmd.env_clear();
        for key in ALLOWED_ENV {
            if let Some(v) = std::env::var_os(key) {
                cmd.env(key, v);
            }
        }
        if let Some(ca) = std::env::var_os(CA_FILE_ENV) {
            cmd.env("GIT_SSL_CAINFO", ca);
        }
        cmd.env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_ASKPASS", "")
            .env("SSH_ASKPASS", "")
            .env("LC_ALL", "C")
            .env("LANG", "C");
        if let Some(ssh) = &self.ssh_command {
            cmd.env("GIT_SSH_COMMAND", ssh);
        }
        for (k, v) in envs {
            cmd.env(k, v);
        }
        cmd.arg("--git-dir")
            .arg(&self.git_dir)
            .args([
                "-c",
                "protocol.ext.allow=never",
                "-c",
                "core.hooksPath=/dev/null",
            ])
            .args(args.argv())
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .process_group(0);
        let mut child = cmd.spawn().map_err(|source| Error::Spawn {
            program: "git",
            source,
        })?;
        let pid = child.id();
        if let (Some(bytes), Some(mut pipe)) = (stdin, child.stdin.take()) {
            // Written in the background so a chatty git cannot deadlock us.
            tokio::spawn(async move {
                let _ = pipe.write_all(&bytes).await;
            });
        }
        match tokio::time::timeout(self.timeout, child.wait_with_output()).await {
            Ok(Ok(out)) => Ok(RawOutput {
                status: out.status,
                stdout: out.stdout,
                stderr: self.scrub(String::from_utf8_lossy(&out.stderr).trim()),
            }),
            Ok(Err(source)) => Err(Error::Spawn {
                program: "git",
                source,
            }),
            Err(_elapsed) => {
                if let Some(pid) = pid {
                    kill_group(pid);
                }
                Err(Error::Timeout {
                    operation,
                    url: self.remote_display.clone(),
                    after: self.timeout,
                })
            }
        }
    }

    /// Runs `git args` and returns stdout; a non-zero exit is an error.
    pub(crate) async fn run(
        &self,
        args: &GitArgs,
        stdin: Option<Vec<u8>>,
        envs: &[(&str, String)],
        operation: &'static str,
    ) -> Result<Vec<u8>, Error> {
        let out = self.raw(args, stdin, envs, operation).await?;
        if out.status.success() {
            Ok(out.stdout)
        } else {
            Err(self.failure(args, &out))
        }
    }

    /// The error for a failed run.
    pub(crate) fn failure(&self, args: &GitArgs, out: &RawOutput) -> Error {
        let args = args
            .argv()
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ");
        Error::Command {
            program: "git",
            args: self.scrub(&args),
            status: out.status.to_string(),
            stderr: out.stderr.clone(),
        }
    }

    /// `text` with every secret replaced.
    pub(crate) fn scrub(&self, text: &str) -> String {
        crate::scrub::scrub_text(text, &self.secrets)
    }
}

/// Kills process group `pgid` (git and the ssh it spawned).
fn kill_group(pgid: u32) {
    let _ = std::process::Command::new("kill")
        .args(["-KILL", "--", &format!("-{pgid}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runner(dir: &std::path::Path, timeout: Duration) -> GitRunner {
        GitRunner {
            git_dir: dir.to_owned(),
            ssh_command: None,
            secrets: vec!["hunter2".into()],
            timeout,
            remote_display: "file:///remote".into(),
        }
    }

    #[test]
    fn operands_come_after_the_end_of_options() {
        let argv = GitArgs::new(["log", "--format=%H"])
            .operands(["--output=/tmp/x", "--"])
            .argv();
        assert_eq!(
            argv,
            [
                "log",
                "--format=%H",
                "--end-of-options",
                "--output=/tmp/x",
                "--"
            ]
        );
        assert_eq!(GitArgs::new(["gc", "--auto"]).argv(), ["gc", "--auto"]);
    }

    #[tokio::test]
    async fn failures_carry_scrubbed_stderr() {
        let dir = tempfile::tempdir().unwrap();
        let r = runner(dir.path(), Duration::from_secs(10));
        let err = r
            .run(
                &GitArgs::new(["rev-parse"]).operands(["hunter2"]),
                None,
                &[],
                "test",
            )
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("git") && err.contains("<redacted>"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[tokio::test]
    async fn a_percent_encoded_url_password_is_scrubbed_in_both_forms() {
        // git echoes the URL as written (`p%40ss`) in the arguments of its
        // error; what it sends is the decoded `p@ss`.
        let state = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("https://flux:p%40ss@127.0.0.1:{port}/r.git");
        let config = crate::GitConfig::from_flags(&crate::GitFlags {
            url: url.clone(),
            ..crate::GitFlags::default()
        })
        .unwrap();
        let repo =
            crate::Repo::new(config, &crate::ssh::SshOptions::default(), state.path()).unwrap();
        let err = repo
            .git()
            .run(
                &GitArgs::new(["ls-remote"]).operands([url]),
                None,
                &[],
                "test",
            )
            .await
            .unwrap_err();
        let shown = format!("{err} {err:?}");
        assert!(shown.contains("ls-remote"), "{shown}");
        assert!(
            !shown.contains("p%40ss") && !shown.contains("p@ss"),
            "{shown}"
        );
    }

    #[tokio::test]
    async fn stdin_is_fed_and_stdout_returned() {
        let dir = tempfile::tempdir().unwrap();
        let r = runner(dir.path(), Duration::from_secs(10));
        let out = r
            .run(
                &GitArgs::new(["hash-object", "--stdin"]),
                Some(b"hello\n".to_vec()),
                &[],
                "test",
            )
            .await
            .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap().trim(),
            "ce013625030ba8dba906f756967f9e9ca394464a"
        );
    }

    #[tokio::test]
    async fn a_hung_program_is_killed_at_the_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let r = runner(dir.path(), Duration::from_millis(300));
        let started = std::time::Instant::now();
        let err = r
            .raw(
                &GitArgs::new(["-c", "alias.hang=!sleep 30", "hang"]),
                None,
                &[],
                "fetch from",
            )
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Timeout { .. }), "{err}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
