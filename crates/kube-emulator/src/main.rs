//! `kube-emulator`: serve the in-memory Kubernetes API on a loopback port
//! and (optionally) write a kubeconfig for kubectl.
//!
//! ```text
//! kube-emulator --kubeconfig /tmp/emu/config &
//! KUBECONFIG=/tmp/emu/config kubectl apply --server-side -f manifests/
//! ```
//!
//! It prints `listening on http://127.0.0.1:<port>` once ready, and runs
//! until interrupted (SIGINT or SIGTERM). With `--tls` it serves HTTPS with
//! a CA made up at start (in the kubeconfig it writes, and in `--ca-cert`),
//! so that kubectl sends the kubeconfig's token:
//!
//! ```text
//! kube-emulator --tls --token root --limited team=a,b --kubeconfig /tmp/emu/config &
//! ```
//!
//! Its workload controller completes rollouts (`kubectl rollout status`
//! finishes about `--rollout-ms` after a change) unless `--no-rollouts`.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Parser;
use kube_emulator::{Access, AccessRule, Emulator};

/// An in-memory Kubernetes API server for tests and demos.
#[derive(Debug, Parser)]
#[command(name = "kube-emulator", version)]
struct Args {
    /// Address to listen on (loopback only; port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Write a kubeconfig pointing at the server to this file.
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// Require this bearer token for full access (default: no token needed).
    #[arg(long)]
    token: Option<String>,
    /// A namespace-limited identity, as TOKEN=NS1,NS2 (repeatable).
    #[arg(long = "limited", value_name = "TOKEN=NAMESPACES")]
    limited: Vec<String>,
    /// Serve HTTPS with a certificate authority made up at start (kubectl
    /// sends bearer tokens only over TLS).
    #[arg(long)]
    tls: bool,
    /// Write the CA certificate (PEM) to this file (needs --tls).
    #[arg(long, requires = "tls")]
    ca_cert: Option<PathBuf>,
    /// Do not run the workload controller (rollouts then never complete
    /// and no Node is registered).
    #[arg(long)]
    no_rollouts: bool,
    /// How long a rollout takes from spec change to complete, in
    /// milliseconds (observed after a tenth of it).
    #[arg(long, default_value_t = 1100, value_name = "MS")]
    rollout_ms: u64,
}

fn parse_limited(spec: &str) -> anyhow::Result<AccessRule> {
    let Some((token, namespaces)) = spec.split_once('=') else {
        bail!("--limited {spec:?}: expected TOKEN=NS1,NS2");
    };
    if token.is_empty() {
        bail!("--limited {spec:?}: the token is empty");
    }
    let list: Vec<&str> = namespaces.split(',').filter(|s| !s.is_empty()).collect();
    Ok(AccessRule::namespaces(
        token,
        &format!("limited:{token}"),
        &list,
    ))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    if !args.listen.ip().is_loopback() {
        bail!(
            "--listen {}: only loopback addresses are allowed",
            args.listen
        );
    }
    let rules = args
        .limited
        .iter()
        .map(|s| parse_limited(s))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let access = Access {
        admin_tokens: args.token.iter().cloned().collect(),
        anonymous_admin: args.token.is_none(),
        rules,
    };
    let mut emulator = Emulator::new().access(access);
    if args.tls {
        emulator = emulator.tls();
    }
    if !args.no_rollouts {
        let observe = std::time::Duration::from_millis(args.rollout_ms / 10);
        emulator = emulator.rollouts(kube_emulator::Rollouts {
            observe_after: observe,
            complete_after: std::time::Duration::from_millis(args.rollout_ms) - observe,
        });
    }
    let server = emulator.start_at(args.listen).await?;
    if let (Some(path), Some(pem)) = (&args.ca_cert, server.ca_pem()) {
        std::fs::write(path, pem).with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &args.kubeconfig {
        server
            .write_kubeconfig(path, args.token.as_deref())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    println!("listening on {}", server.url());
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    drop(server);
    Ok(())
}
