//! Every command in `docs/` is run here, so the docs cannot go stale.
//!
//! Each page runs in a sandbox of its own: a directory holding copies of
//! `examples/`, `deploy/` and `docs/` (commands run there, so they may edit
//! what they like), the real `fluxctl` binary first on `PATH` (with
//! flux-testbed's `kustomize`), and `HOME` inside the sandbox. A page whose
//! commands talk to a cluster or to fluxd (`kubectl` other than
//! `kubectl kustomize`, `fluxctl` without `--local`) also gets the test bed
//! of flux-daemon's `testing` feature: the API emulator with `deploy/`
//! applied to it (`KUBECONFIG`), and fluxd syncing `examples/config-repo`
//! with garbage collection on from an sshd git remote (`FLUX_URL`; its URL
//! in `GIT_URL`, which `git` reaches with the bed's key and host key, and a
//! git identity), as docs/README.md says the commands assume.
//!
//! Commands run with `bash`, standard error into standard output. `sh`
//! blocks must exit 0; `console` blocks must print what the page shows.
//! `fluxd` commands are not started (they would run a daemon against the
//! page's repository): their flags are parsed and validated by the code
//! fluxd's `main` runs first (file arguments given as `--flag=relative`
//! read from the sandbox, as a fluxd started there would), and what it
//! would print is compared.
//!
//! The prose is checked too: every `--flag` in its inline code is one of
//! fluxd's or fluxctl's, and every link between pages leads to a file.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use flux_daemon::config::{Config, ConfigError};
use flux_daemon::testing::{Fluxd, TestBed, read_tree};
use flux_ops::docs::{self, Expect};

use crate::util::{cargo, repo_root};

/// Builds `fluxctl` (the binary a user runs) and returns its directory.
fn fluxctl_dir() -> PathBuf {
    let out = cargo()
        .current_dir(repo_root())
        .args([
            "build", "--locked", "-q", "-p", "flux-cli", "--bin", "fluxctl",
        ])
        .output()
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "cargo build fluxctl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // This test binary is target/debug/deps/it-…; fluxctl is in target/debug.
    let exe = std::env::current_exe().expect("the test's path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/debug")
        .to_owned();
    assert!(
        dir.join("fluxctl").is_file(),
        "no fluxctl in {}",
        dir.display()
    );
    dir
}

fn copy_dir(from: &Path, to: &Path) {
    for (rel, bytes) in read_tree(from).expect("read tree") {
        let dest = to.join(rel);
        std::fs::create_dir_all(dest.parent().expect("has a parent")).expect("mkdir");
        std::fs::write(&dest, bytes).expect("write");
    }
}

/// Whether a page's commands need the cluster and fluxd.
fn needs_bed(commands: &[docs::Command]) -> bool {
    commands.iter().any(|c| {
        if ["KUBECONFIG", "FLUX_URL", "GIT_URL"]
            .iter()
            .any(|v| c.text.contains(&format!("${v}")) || c.text.contains(&format!("${{{v}")))
        {
            return true;
        }
        // The program may come after `env …` or a variable assignment.
        let all: Vec<&str> = c.text.split_whitespace().collect();
        let start = all
            .iter()
            .position(|w| *w == "kubectl" || *w == "fluxctl")
            .unwrap_or(0);
        let words = &all[start..];
        match words.first().copied().unwrap_or("") {
            "kubectl" => words.get(1) != Some(&"kustomize"),
            "fluxctl" => {
                !words.contains(&"--local")
                    && !words
                        .iter()
                        .any(|w| ["install", "version", "completion", "--help"].contains(w))
            }
            _ => false,
        }
    })
}

struct Bed {
    bed: TestBed,
    fluxd: Fluxd,
}

async fn start_bed(sandbox: &Path) -> Bed {
    let files = read_tree(&repo_root().join("examples/config-repo")).expect("example");
    let files: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(p, b)| (p.as_str(), b.as_slice()))
        .collect();
    let bed = TestBed::start(&files).await.expect("test bed");
    // fluxd installed from deploy/, as the docs assume.
    let applied = Command::new("kubectl")
        .args(["apply", "--server-side", "-k"])
        .arg(sandbox.join("deploy"))
        .env("KUBECONFIG", &bed.kubeconfig)
        .output()
        .expect("kubectl runs");
    assert!(
        applied.status.success(),
        "kubectl apply -k deploy/: {}",
        String::from_utf8_lossy(&applied.stderr)
    );
    let fluxd = bed
        .start_fluxd("state", &["--sync-garbage-collection"])
        .await
        .expect("fluxd starts");
    // Synced once is ready for /readyz; jobs wait for the write check too.
    fluxd
        .wait_git_ready(Duration::from_secs(60))
        .await
        .expect("repository ready");
    Bed { bed, fluxd }
}

/// What fluxd's `main` prints for this command line, and whether it would
/// go on to start (or exit 0).
fn fluxd(sandbox: &Path, env: &[(String, String)], text: &str) -> (String, bool) {
    // bash splits the words (quotes, variables) exactly as it would for fluxd.
    let split = format!(
        "printf '%s\\0' {}",
        text.trim_start().trim_start_matches("fluxd")
    );
    let out = Command::new("bash")
        .arg("-c")
        .arg(&split)
        .current_dir(sandbox)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .expect("bash runs");
    assert!(out.status.success(), "splitting {text:?}");
    let mut args = vec!["fluxd".to_owned()];
    args.extend(
        String::from_utf8(out.stdout)
            .expect("UTF-8")
            .split('\0')
            .filter(|a| !a.is_empty())
            .map(str::to_owned),
    );
    // fluxd started in the sandbox would read relative file arguments there.
    let args = args.into_iter().map(|a| absolute_file_flag(sandbox, a));
    match Config::from_args(args) {
        Ok(_) => (String::new(), true),
        Err(ConfigError::Exit(text)) => (text, true),
        Err(e) => (format!("fluxd: {e}\n"), false),
    }
}

/// fluxd's flags naming files or directories it reads at start-up.
const FILE_FLAGS: &[&str] = &[
    "--docker-config",
    "--api-token-file",
    "--webhook-secret-file",
    "--ssh-known-hosts",
    "--git-gpg-key-import",
    "--state-dir",
    "--k8s-secret-volume-mount-path",
    "--kube-config",
    "--config",
];

/// `--flag=relative/path` made absolute under `sandbox`, for the file flags.
fn absolute_file_flag(sandbox: &Path, arg: String) -> String {
    match arg.split_once('=') {
        Some((flag, value))
            if FILE_FLAGS.contains(&flag) && !value.is_empty() && !value.starts_with('/') =>
        {
            let joined: Vec<String> = value
                .split(',')
                .map(|v| sandbox.join(v).display().to_string())
                .collect();
            format!("{flag}={}", joined.join(","))
        }
        _ => arg,
    }
}

/// Runs `text` with bash in `sandbox`; (output, success).
fn shell(sandbox: &Path, env: &[(String, String)], text: &str) -> (String, bool) {
    let mut child = Command::new("bash")
        .arg("-c")
        .arg(format!("exec 2>&1\nset -o pipefail\n{text}"))
        .current_dir(sandbox)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .process_group(0)
        .spawn()
        .expect("bash runs");
    let mut stdout = child.stdout.take().expect("piped");
    let reader = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = stdout.read_to_end(&mut s);
        s
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break Some(status);
        }
        if Instant::now() > deadline {
            // The command's whole process group, which this test started.
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .status();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let output = String::from_utf8_lossy(&reader.join().expect("reader")).into_owned();
    match status {
        Some(s) => (output, s.success()),
        None => (format!("{output}\n[timed out after 120 s]"), false),
    }
}

use std::os::unix::process::CommandExt as _;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_in_the_docs_runs_as_shown() {
    let root = repo_root();
    let bin = fluxctl_dir();
    let kustomize = flux_testbed::kustomize::Kustomize::install().expect("kustomize shim");
    let mut failures = Vec::new();
    let mut ran = 0;
    let mut pages_run = 0;
    for page in docs::pages(&root.join("docs")).expect("docs/") {
        let rel = page.strip_prefix(&root).expect("under the root").to_owned();
        let text = std::fs::read_to_string(&page).expect("read page");
        let commands = match docs::commands(&rel, &text) {
            Ok(c) => c,
            Err(e) => {
                failures.push(e.to_string());
                continue;
            }
        };
        if commands.is_empty() {
            continue;
        }
        pages_run += 1;
        let sandbox = tempfile::tempdir().expect("sandbox");
        let dir = sandbox.path().to_owned();
        for sub in ["examples", "deploy", "docs"] {
            copy_dir(&root.join(sub), &dir.join(sub));
        }
        std::fs::create_dir_all(dir.join("home")).expect("home");
        let mut env: Vec<(String, String)> = vec![
            (
                "PATH".into(),
                format!(
                    "{}:{}:{}",
                    bin.display(),
                    kustomize.bin_dir().display(),
                    std::env::var("PATH").unwrap_or_default()
                ),
            ),
            ("HOME".into(), dir.join("home").display().to_string()),
            ("LANG".into(), "C.UTF-8".into()),
        ];
        let bed = if needs_bed(&commands) {
            let bed = start_bed(&dir).await;
            env.push((
                "KUBECONFIG".into(),
                bed.bed.kubeconfig.display().to_string(),
            ));
            env.push(("FLUX_URL".into(), bed.fluxd.api_url()));
            env.push(("GIT_URL".into(), bed.bed.git_url.clone()));
            // git reaches the repository as a user would: with a key the
            // server accepts and its host key known, and a git identity.
            let known_hosts = bed.bed.sshd.known_hosts_file().expect("known_hosts");
            env.push((
                "GIT_SSH_COMMAND".into(),
                format!(
                    "ssh -i {} -o IdentitiesOnly=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile={}",
                    bed.bed.sshd.client_key().display(),
                    known_hosts.display()
                ),
            ));
            for (k, v) in [
                ("GIT_AUTHOR_NAME", "Docs"),
                ("GIT_AUTHOR_EMAIL", "docs@example.com"),
                ("GIT_COMMITTER_NAME", "Docs"),
                ("GIT_COMMITTER_EMAIL", "docs@example.com"),
            ] {
                env.push((k.into(), v.into()));
            }
            Some(bed)
        } else {
            None
        };
        for c in commands {
            let (dir, env, text) = (dir.clone(), env.clone(), c.text.clone());
            let is_fluxd = c.program() == "fluxd";
            let (output, ok) = tokio::task::spawn_blocking(move || {
                if is_fluxd {
                    fluxd(&dir, &env, &text)
                } else {
                    shell(&dir, &env, &text)
                }
            })
            .await
            .expect("command task");
            ran += 1;
            match &c.expect {
                Expect::Success if !ok => {
                    failures.push(format!("{}: `{}` failed:\n{output}", c.location(), c.text))
                }
                Expect::Output(want) if !docs::output_matches(want, &output) => {
                    failures.push(format!(
                        "{}: `{}` printed:\n{output}\n--- the page shows:\n{}",
                        c.location(),
                        c.text,
                        want.join("\n")
                    ))
                }
                _ => {}
            }
        }
        if let Some(bed) = bed {
            bed.fluxd.stop().await;
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {ran} commands in docs/ fail:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    assert!(pages_run > 0 && ran > 0, "no commands found in docs/");
}

/// The prose of the pages: Markdown outside fenced blocks.
fn prose(text: &str) -> String {
    let mut out = String::new();
    let mut fence: Option<String> = None;
    for line in text.lines() {
        let t = line.trim_start();
        match &fence {
            Some(f) if t.starts_with(f.as_str()) => fence = None,
            Some(_) => {}
            None if t.starts_with("```") || t.starts_with("~~~") => {
                fence = Some(t.chars().take_while(|c| *c == '`' || *c == '~').collect());
            }
            None => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

/// Every long flag of fluxd and of fluxctl (any command).
fn known_flags() -> std::collections::BTreeSet<String> {
    use clap::CommandFactory as _;
    fn walk(cmd: &clap::Command, out: &mut std::collections::BTreeSet<String>) {
        for arg in cmd.get_arguments() {
            if let Some(long) = arg.get_long() {
                out.insert(format!("--{long}"));
            }
        }
        for sub in cmd.get_subcommands() {
            walk(sub, out);
        }
    }
    // clap adds --help to every command itself.
    let mut out = std::collections::BTreeSet::from(["--help".to_owned()]);
    walk(&flux_daemon::config::Flags::command(), &mut out);
    walk(&flux_cli::args::Cli::command(), &mut out);
    out
}

/// Flags of other programs that the prose names.
const OTHER_FLAGS: &[&str] = &["--bench"];

#[test]
fn every_flag_the_prose_names_exists() {
    let root = repo_root();
    let known = known_flags();
    let mut unknown = Vec::new();
    for page in docs::pages(&root.join("docs")).expect("docs/") {
        let text = std::fs::read_to_string(&page).expect("read page");
        for line in prose(&text).lines() {
            // Inline code spans: between pairs of backticks.
            for code in line.split('`').skip(1).step_by(2) {
                let mut rest = code;
                while let Some(i) = rest.find("--") {
                    let before = rest[..i].chars().last();
                    rest = &rest[i..];
                    let flag: String = rest
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '*')
                        .collect();
                    rest = &rest[flag.len().max(2)..];
                    if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '-')
                        || flag.len() < 3
                    {
                        continue;
                    }
                    // `--memcached-*` names a family of flags.
                    let ok = match flag.strip_suffix('*') {
                        Some(prefix) => known.iter().any(|k| k.starts_with(prefix)),
                        None => known.contains(&flag) || OTHER_FLAGS.contains(&flag.as_str()),
                    };
                    if !ok {
                        unknown.push(format!(
                            "{}: {flag}",
                            page.strip_prefix(&root).unwrap_or(&page).display()
                        ));
                    }
                }
            }
        }
    }
    assert!(known.contains("--git-url") && known.contains("--k8s-fwd-ns"));
    assert!(
        unknown.is_empty(),
        "flags named in docs/ that neither fluxd nor fluxctl has: {unknown:?}"
    );
}

#[test]
fn every_link_between_pages_leads_to_a_file() {
    let root = repo_root();
    let mut broken = Vec::new();
    let mut pages = docs::pages(&root.join("docs")).expect("docs/");
    pages.push(root.join("README.md"));
    for page in pages {
        let text = std::fs::read_to_string(&page).expect("read page");
        for part in prose(&text).split("](").skip(1) {
            let target = part.split(')').next().unwrap_or("");
            let path = target.split('#').next().unwrap_or("");
            if path.is_empty() || path.contains("://") {
                continue;
            }
            let dir = page.parent().expect("a page has a directory");
            if !dir.join(path).exists() {
                broken.push(format!(
                    "{}: {target}",
                    page.strip_prefix(&root).unwrap_or(&page).display()
                ));
            }
        }
    }
    assert!(broken.is_empty(), "links to missing files: {broken:?}");
}
