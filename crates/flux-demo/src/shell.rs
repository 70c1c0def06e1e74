//! What the walkthrough prints, and the commands it runs: each shown as a
//! user would type it (`$ kubectl get …`), then run for real with its
//! output printed as it came.
//!
//! Programs (`kubectl`, `git`, `curl`) run as child processes in the
//! shell's current directory with the demo's environment (`KUBECONFIG`,
//! `FLUX_URL`, a fixed git author and no user or system git config, so the
//! outcome does not depend on the machine's setup). `fluxctl` runs through
//! [`flux_cli::run_with`], the whole of the `fluxctl` binary but process
//! exit, so the demo needs no second binary built beside it.

use std::io::{IsTerminal as _, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};

use crate::DemoError;

/// Name and email of the demo user's commits.
pub const DEMO_AUTHOR: (&str, &str) = ("Demo User", "demo@example.com");

/// Where the walkthrough's text goes: the terminal, or a buffer in tests.
pub struct Transcript {
    sink: Mutex<Box<dyn Write + Send>>,
    bold: bool,
}

/// A transcript's text, captured (see [`Transcript::capture`]).
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    /// Everything written so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(PoisonError::into_inner)).into_owned()
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Transcript {
    /// Printing to stdout (commands and titles in bold on a terminal).
    pub fn stdout() -> Self {
        Transcript {
            sink: Mutex::new(Box::new(std::io::stdout())),
            bold: std::io::stdout().is_terminal(),
        }
    }

    /// Keeping the text, for tests.
    pub fn capture() -> (Self, Captured) {
        let captured = Captured::default();
        (
            Transcript {
                sink: Mutex::new(Box::new(captured.clone())),
                bold: false,
            },
            captured,
        )
    }

    fn write(&self, text: &str) {
        let mut sink = self.sink.lock().unwrap_or_else(PoisonError::into_inner);
        // A closed stdout (the demo piped into `head`) must not stop the
        // demo half-way: it still cleans up.
        let _ = sink.write_all(text.as_bytes());
        let _ = sink.flush();
    }

    fn strong(&self, text: &str) -> String {
        if self.bold {
            format!("\x1b[1m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    /// A step's title.
    pub fn step(&self, title: &str) {
        self.write(&format!("\n{}\n", self.strong(&format!("==> {title}"))));
    }

    /// A line or paragraph of explanation.
    pub fn say(&self, text: &str) {
        self.write(&format!("{text}\n"));
    }

    /// A command, as typed.
    pub fn command(&self, line: &str) {
        self.write(&format!("{}\n", self.strong(&format!("$ {line}"))));
    }

    /// A command's output, verbatim.
    pub fn output(&self, text: &str) {
        if text.is_empty() {
            return;
        }
        if text.ends_with('\n') {
            self.write(text);
        } else {
            self.write(&format!("{text}\n"));
        }
    }
}

/// `arg` quoted for a POSIX shell where it needs to be.
pub fn quote(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_@%+=:,./-~^{}".contains(c));
    if plain {
        arg.to_owned()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

/// A command line as shown.
pub fn display(program: &str, args: &[&str]) -> String {
    std::iter::once(program.to_owned())
        .chain(args.iter().map(|a| quote(a)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// What a command did.
#[derive(Debug, Clone)]
pub struct Ran {
    /// Whether it exited 0.
    pub ok: bool,
    /// Its exit status, as text.
    pub status: String,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
}

/// The demo's shell: a current directory and an environment.
pub struct Shell<'a> {
    out: &'a Transcript,
    cwd: PathBuf,
    env: Vec<(String, String)>,
}

impl<'a> Shell<'a> {
    /// A shell in `cwd` with these variables (beside the git settings).
    pub fn new(out: &'a Transcript, cwd: &Path, vars: &[(&str, &str)]) -> Self {
        let mut env: Vec<(String, String)> = vec![
            ("GIT_CONFIG_NOSYSTEM".into(), "1".into()),
            ("GIT_CONFIG_GLOBAL".into(), "/dev/null".into()),
            ("GIT_TERMINAL_PROMPT".into(), "0".into()),
            ("GIT_AUTHOR_NAME".into(), DEMO_AUTHOR.0.into()),
            ("GIT_AUTHOR_EMAIL".into(), DEMO_AUTHOR.1.into()),
            ("GIT_COMMITTER_NAME".into(), DEMO_AUTHOR.0.into()),
            ("GIT_COMMITTER_EMAIL".into(), DEMO_AUTHOR.1.into()),
        ];
        env.extend(vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        Shell {
            out,
            cwd: cwd.to_owned(),
            env,
        }
    }

    /// Where the shell prints.
    pub fn transcript(&self) -> &'a Transcript {
        self.out
    }

    /// The current directory.
    pub fn cwd(&self) -> &Path {
        &self.cwd
    }

    /// Changes directory (shown as `cd`).
    pub fn cd(&mut self, dir: &str) {
        self.out.command(&display("cd", &[dir]));
        self.cwd = self.cwd.join(dir);
    }

    /// Shows and runs `program args`, printing its output; an error if it
    /// fails.
    pub async fn run(&self, program: &str, args: &[&str]) -> Result<Ran, DemoError> {
        let ran = self.run_allowing_failure(program, args).await?;
        if ran.ok {
            Ok(ran)
        } else {
            Err(DemoError::Command {
                command: display(program, args),
                status: ran.status,
                stderr: ran.stderr.trim().to_owned(),
            })
        }
    }

    /// Shows and runs `program args`, printing its output, whatever its
    /// exit status.
    pub async fn run_allowing_failure(
        &self,
        program: &str,
        args: &[&str],
    ) -> Result<Ran, DemoError> {
        self.out.command(&display(program, args));
        let ran = self.quiet(program, args).await?;
        self.out.output(&ran.stdout);
        self.out.output(&ran.stderr);
        Ok(ran)
    }

    /// Runs `program args` without showing anything.
    pub async fn quiet(&self, program: &str, args: &[&str]) -> Result<Ran, DemoError> {
        let output = tokio::process::Command::new(program)
            .args(args)
            .current_dir(&self.cwd)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("LC_ALL", "C")
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output()
            .await
            .map_err(|e| DemoError::Command {
                command: display(program, args),
                status: "not started".into(),
                stderr: format!("{e} (run scripts/install-deps)"),
            })?;
        Ok(Ran {
            ok: output.status.success(),
            status: output.status.to_string(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        })
    }

    /// Shows and runs `fluxctl args` (the shell's `FLUX_URL` and
    /// `KUBECONFIG` apply), printing its output; an error if it fails.
    pub async fn fluxctl(&self, args: &[&str]) -> Result<Ran, DemoError> {
        self.out.command(&display("fluxctl", args));
        let mut argv = vec!["fluxctl".to_owned()];
        argv.extend(args.iter().map(|a| (*a).to_owned()));
        let mut env = flux_cli::request::Env::with_vars(self.env.iter().cloned());
        env.git_user = Some(format!("{} <{}>", DEMO_AUTHOR.0, DEMO_AUTHOR.1));
        // fluxctl's remote mode runs its own runtime: give it a thread.
        let (exit, stdout, stderr) = tokio::task::spawn_blocking(move || {
            let (mut out, mut err) = (Vec::new(), Vec::new());
            let exit = flux_cli::run_with(argv, &env, &mut out, &mut err);
            (exit, out, err)
        })
        .await
        .map_err(|e| DemoError::Unexpected(format!("fluxctl panicked: {e}")))?;
        let ran = Ran {
            ok: exit == flux_cli::error::Exit::Success,
            status: format!("exit status: {}", exit.code()),
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        };
        self.out.output(&ran.stdout);
        self.out.output(&ran.stderr);
        if ran.ok {
            Ok(ran)
        } else {
            Err(DemoError::Command {
                command: display("fluxctl", args),
                status: ran.status,
                stderr: ran.stderr.trim().to_owned(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(quote("get"), "get");
        assert_eq!(quote("demo:deployment/hello"), "demo:deployment/hello");
        assert_eq!(quote("jsonpath={.spec}"), "jsonpath={.spec}");
        assert_eq!(quote("two words"), "'two words'");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(quote(r#"{"Kind":"git"}"#), r#"'{"Kind":"git"}'"#);
        assert_eq!(
            display("git", &["commit", "-m", "Add hello"]),
            "git commit -m 'Add hello'"
        );
    }

    #[test]
    fn transcript_captures_steps_commands_and_output() {
        let (t, captured) = Transcript::capture();
        t.step("1. First sync");
        t.command("kubectl get ns");
        t.output("NAME\ndemo");
        t.output("");
        assert_eq!(
            captured.text(),
            "\n==> 1. First sync\n$ kubectl get ns\nNAME\ndemo\n"
        );
    }
}
