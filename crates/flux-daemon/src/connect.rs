//! fluxd as a program: the real parts (the cluster through kube-rs, with
//! kubeconfig or the in-cluster service account; the deploy key Secret in
//! fluxd's namespace), and the signals that stop it.

use std::path::Path;
use std::sync::Arc;

use flux_kube::{KubeCluster, Options, WatchOptions, WatchedCluster};

use crate::config::Config;
use crate::daemon::{Daemon, Parts, StartError};
use crate::secret::{KubeSecret, SecretStore};

/// The namespace of resources that name none when fluxd runs in a pod
/// without a kubeconfig (Flux v1's, and kubectl's, fallback).
pub const IN_CLUSTER_DEFAULT_NAMESPACE: &str = "default";

/// Where a pod finds its namespace.
const SERVICE_ACCOUNT_NAMESPACE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

/// The User-Agent of fluxd's requests to the API server.
pub const USER_AGENT: &str = concat!("fluxd/", env!("CARGO_PKG_VERSION"));

/// fluxd could not run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// No cluster configuration was found.
    #[error(
        "cannot connect to Kubernetes: {0} (set KUBECONFIG, or run fluxd in a pod with a service account)"
    )]
    Kube(String),
    /// The daemon could not start.
    #[error(transparent)]
    Start(#[from] StartError),
}

/// The namespace fluxd runs in (where its Secret is): `$POD_NAMESPACE`,
/// the service account's, else the kubeconfig context's.
pub fn own_namespace(from_kubeconfig: &str) -> String {
    if let Ok(ns) = std::env::var("POD_NAMESPACE")
        && !ns.trim().is_empty()
    {
        return ns.trim().to_owned();
    }
    if let Ok(ns) = std::fs::read_to_string(Path::new(SERVICE_ACCOUNT_NAMESPACE))
        && !ns.trim().is_empty()
    {
        return ns.trim().to_owned();
    }
    from_kubeconfig.to_owned()
}

/// Connects to the cluster and builds the parts fluxd runs with.
pub async fn parts(config: &Config) -> Result<Parts, RunError> {
    let kube_config = match &config.k8s.kubeconfig {
        Some(path) => {
            let kc = kube::config::Kubeconfig::read_from(path)
                .map_err(|e| RunError::Kube(format!("--kube-config {}: {e}", path.display())))?;
            kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
                .await
                .map_err(|e| RunError::Kube(e.to_string()))?
        }
        None => match kube::Config::from_kubeconfig(&Default::default()).await {
            Ok(c) => c,
            Err(no_kubeconfig) => {
                let mut c = kube::Config::incluster().map_err(|e| {
                    RunError::Kube(format!("no kubeconfig ({no_kubeconfig}), and {e}"))
                })?;
                // In a pod without a kubeconfig, resources that name no
                // namespace go to `default`, as Flux v1 put them (kube-rs
                // would pick the pod's own namespace).
                c.default_namespace = IN_CLUSTER_DEFAULT_NAMESPACE.into();
                c
            }
        },
    };
    let mut kube_config = kube_config;
    // Name fluxd in the API server's audit log and request metrics.
    kube_config.headers.push((
        http::header::USER_AGENT,
        http::HeaderValue::from_static(USER_AGENT),
    ));
    let namespace = own_namespace(&kube_config.default_namespace);
    let default_namespace = kube_config.default_namespace.clone();
    let client =
        kube::Client::try_from(kube_config.clone()).map_err(|e| RunError::Kube(e.to_string()))?;
    let secret_client = client.clone();
    let options = Options {
        namespaces: config.k8s.namespaces.clone(),
        exclude_kinds: config.k8s.exclude_resources.clone(),
        ..Options::default()
    };
    let kube = KubeCluster::from_config(kube_config, options)
        .map_err(|e| RunError::Kube(e.to_string()))?;
    // Live state from watches: a sync with nothing new reads no lists, and
    // objects changed by hand are seen at once.
    let watch = Arc::new(WatchedCluster::new(Arc::new(kube), WatchOptions::default()));
    let secret: Arc<dyn SecretStore> = Arc::new(KubeSecret::new(
        secret_client,
        &namespace,
        &config.k8s.secret_name,
    ));
    tracing::info!(namespace = %namespace, secret = %secret.describe(), "fluxd's namespace");
    Ok(Parts {
        cluster: watch.clone(),
        watch: Some(watch),
        secret: Some(secret),
        default_namespace,
        client: Some(client),
        namespace,
        command_path: None,
    })
}

/// Runs fluxd until SIGTERM or SIGINT.
pub async fn run(config: Config) -> Result<(), RunError> {
    let parts = parts(&config).await?;
    let daemon = Daemon::new(config, parts).await?;
    daemon.run(shutdown_signal()).await;
    Ok(())
}

/// Completes on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("SIGINT received"),
        () = term => tracing::info!("SIGTERM received"),
    }
}
