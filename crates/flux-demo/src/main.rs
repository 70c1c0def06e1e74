//! `flux-demo`, what `scripts/demo` runs: starts the playground, runs the
//! walkthrough, and cleans up when it ends, fails, or is interrupted
//! (Ctrl-C or SIGTERM); with `--keep`, leaves everything running until
//! interrupted and prints what to try meanwhile.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use flux_demo::playground::{IMAGE_TAGS, Options, Playground};
use flux_demo::shell::{Transcript, quote};
use flux_demo::walkthrough;
use tokio::signal::unix::{Signal, SignalKind, signal};

/// fluxd's demo: the emulator, a git repository, a docker-registry and
/// fluxd on loopback, and a walkthrough of sync, notify, automation and
/// garbage collection.
#[derive(Debug, Parser)]
#[command(name = "flux-demo", version)]
struct Args {
    /// At the end, leave everything running and print the commands to try;
    /// Ctrl-C stops it all.
    #[arg(long)]
    keep: bool,
}

/// SIGINT and SIGTERM, caught from the start so that an interruption
/// always cleans up.
struct Signals {
    int: Signal,
    term: Signal,
}

impl Signals {
    fn install() -> std::io::Result<Self> {
        Ok(Signals {
            int: signal(SignalKind::interrupt())?,
            term: signal(SignalKind::terminate())?,
        })
    }

    async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.int.recv() => "SIGINT",
            _ = self.term.recv() => "SIGTERM",
        }
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("flux-demo: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(run(args));
    // A fluxctl still waiting on a stopped fluxd is not worth waiting for.
    runtime.shutdown_timeout(Duration::from_secs(2));
    code
}

async fn run(args: Args) -> ExitCode {
    let mut signals = match Signals::install() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("flux-demo: cannot catch signals: {e}");
            return ExitCode::FAILURE;
        }
    };
    let out = Transcript::stdout();
    let started = tokio::select! {
        r = Playground::start(Options::default(), &out) => r,
        sig = signals.recv() => {
            // Whatever was started was dropped with the future: stopped.
            eprintln!("\n{sig}: stopped what was started and removed the demo's directory.");
            return ExitCode::from(130);
        }
    };
    let playground = match started {
        Ok(p) => p,
        Err(e) => {
            eprintln!("flux-demo: {e}");
            return ExitCode::FAILURE;
        }
    };
    let setup = playground.started.elapsed();
    let result = tokio::select! {
        r = walkthrough::run(&playground, &out) => Some(r),
        sig = signals.recv() => {
            eprintln!("\n{sig}: stopping.");
            None
        }
    };
    let code = match result {
        None => ExitCode::from(130),
        Some(Err(e)) => {
            eprintln!("\nflux-demo: {e}");
            eprint!("{}", log_tail(&playground.path("fluxd.log"), 40));
            ExitCode::FAILURE
        }
        Some(Ok(outcome)) => {
            out.step("Done");
            out.say(&format!(
                "Setting up took {:.1} s, the walkthrough {:.1} s.",
                setup.as_secs_f64(),
                outcome.took.as_secs_f64()
            ));
            if args.keep {
                keep(&playground, &out);
                let sig = signals.recv().await;
                eprintln!("\n{sig}: stopping.");
            }
            ExitCode::SUCCESS
        }
    };
    let dir = playground.stop().await;
    let gone = if dir.exists() {
        format!("could not remove {}", dir.display())
    } else {
        format!("removed {}", dir.display())
    };
    out.say(&format!(
        "Stopped fluxd, the emulator, docker-registry and sshd; {gone}."
    ));
    code
}

/// The commands to try while `--keep` holds everything up: the
/// environment to set, then commands to paste one by one (CI runs them as
/// printed: `crates/flux-demo/tests`).
fn keep(pg: &Playground, out: &Transcript) {
    let kubeconfig = pg.path("kubeconfig");
    let work = pg.path(walkthrough::WORK_CLONE);
    out.say("Everything is still running. In another terminal, set up:");
    let mut setup = vec![
        format!(
            "export KUBECONFIG={}",
            quote(&kubeconfig.display().to_string())
        ),
        format!("export FLUX_URL={}", quote(&pg.api_url)),
    ];
    match sibling("fluxctl").as_deref().and_then(Path::parent) {
        Some(dir) => setup.push(format!(
            "export PATH={}:\"$PATH\"   # fluxctl, built by scripts/demo",
            quote(&dir.display().to_string())
        )),
        None => {
            setup.push("# fluxctl: cargo build -p flux-cli, then put target/debug on PATH".into())
        }
    }
    for line in setup {
        out.say(&format!("  {line}"));
    }
    out.say("then try:");
    let hello = walkthrough::HELLO_ID;
    for line in [
        "fluxctl list-workloads --all-namespaces".to_owned(),
        format!("fluxctl list-images --workload {hello}"),
        "kubectl get deployments,statefulsets,daemonsets -A -o wide".to_owned(),
        "kubectl explain deployment.spec.strategy".to_owned(),
        format!("fluxctl deautomate --workload {hello}"),
        format!(
            "fluxctl release --workload {hello} --update-image {}:{} --watch",
            pg.image, IMAGE_TAGS[0].0
        ),
        "kubectl rollout status deployment/hello -n demo".to_owned(),
        format!(
            "cd {} && git pull   # the walkthrough's clone (fluxd commits too): edit, git commit -a, git push, then",
            quote(&work.display().to_string())
        ),
        "fluxctl sync".to_owned(),
        format!(
            "tail -f {}",
            quote(&pg.path("fluxd.log").display().to_string())
        ),
    ] {
        out.say(&format!("  {line}"));
    }
    out.say(&format!(
        "Stop everything with Ctrl-C here (or: kill {}).",
        std::process::id()
    ));
}

/// A program next to this one (scripts/demo builds fluxctl there).
fn sibling(name: &str) -> Option<PathBuf> {
    let path = std::env::current_exe().ok()?.parent()?.join(name);
    path.is_file().then_some(path)
}

/// The last `n` lines of a log, for failures.
fn log_tail(path: &std::path::Path, n: usize) -> String {
    let Ok(text) = std::fs::read_to_string(path) else {
        return String::new();
    };
    let lines: Vec<&str> = text.lines().collect();
    let tail = &lines[lines.len().saturating_sub(n)..];
    format!(
        "Last lines of fluxd's log ({}):\n{}\n",
        path.display(),
        tail.join("\n")
    )
}
