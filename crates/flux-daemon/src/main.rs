//! fluxd: parse the flags, set up logging, connect to the cluster, run.

use std::process::ExitCode;

use flux_daemon::config::{Config, ConfigError, LogFormat};

fn main() -> ExitCode {
    let config = match Config::from_args(std::env::args_os()) {
        Ok(c) => c,
        Err(ConfigError::Exit(text)) => {
            print!("{text}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("fluxd: {e}");
            return ExitCode::from(e.exit_code());
        }
    };
    init_logging(&config);
    // One TLS crypto provider for the whole process (reqwest, kube and gix
    // are built without one of their own).
    flux_registry::install_crypto_provider();
    for w in &config.warnings {
        tracing::warn!("{w}");
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("fluxd: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(flux_daemon::connect::run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("fluxd: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(config: &Config) {
    let mut filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(default_filter(config.k8s.verbosity))
    });
    if config.registry.trace {
        // flux-registry logs each request (method, URL, status; never a
        // credential) under this target at trace level.
        if let Ok(directive) = "flux_registry::request=trace".parse() {
            filter = filter.add_directive(directive);
        }
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match config.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Fmt => builder.init(),
    }
}

/// fluxd's own info logs; the Kubernetes client's per --k8s-verbosity.
fn default_filter(k8s_verbosity: u8) -> String {
    let kube = match k8s_verbosity {
        0 => "warn",
        1..=3 => "info",
        4..=6 => "debug",
        _ => "trace",
    };
    format!(
        "info,kube={kube},kube_client={kube},kube_runtime={kube},hyper=warn,h2=warn,rustls=warn"
    )
}
