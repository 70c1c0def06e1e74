//! Reaching fluxd without `--url`: find its pod by labels and forward a
//! local port to the pod's port 3030 through the Kubernetes API (kube-rs's
//! port-forward over websockets), as Flux v1's fluxctl did.
//!
//! Pods are looked up in `--k8s-fwd-ns` by `--k8s-fwd-labels`
//! (`app=flux`), then, if none is running, by `name` in `flux`, `fluxd`,
//! `weave-flux-agent`. Every connection to the local port gets its own
//! forward stream.

use anyhow::Context as _;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::error::unreachable;
use crate::request::Connection;

/// The port fluxd serves its API on in the pod.
pub const FLUXD_PORT: u16 = 3030;

/// A running port-forward; stopped when dropped.
pub struct Forward {
    port: u16,
    /// The pod forwarded to.
    pub pod: String,
    task: JoinHandle<()>,
}

impl Forward {
    /// The API's base URL through the forward.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/api/flux", self.port)
    }
}

impl Drop for Forward {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The kube client of the kubeconfig files and context of `conn`.
pub async fn kube_client(conn: &Connection) -> anyhow::Result<kube::Client> {
    let mut merged: Option<Kubeconfig> = None;
    for path in &conn.kubeconfig {
        if !path.exists() {
            continue;
        }
        let k = Kubeconfig::read_from(path)
            .with_context(|| format!("reading kubeconfig {}", path.display()))?;
        merged = Some(match merged {
            None => k,
            Some(m) => m.merge(k).context("merging kubeconfig files")?,
        });
    }
    let Some(kubeconfig) = merged else {
        return Err(unreachable(
            "no kubeconfig found to reach fluxd through (set KUBECONFIG), and no --url given",
        ));
    };
    let options = KubeConfigOptions {
        context: conn.context.clone(),
        ..KubeConfigOptions::default()
    };
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .context("loading the kubeconfig")?;
    kube::Client::try_from(config).context("making a Kubernetes client")
}

/// Finds the fluxd pod and starts forwarding a free local port to it.
pub async fn start(conn: &Connection) -> anyhow::Result<Forward> {
    let client = kube_client(conn).await?;
    let ns = &conn.forward_namespace;
    let pods: Api<Pod> = Api::namespaced(client, ns);
    let by_labels = conn
        .forward_labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    let selectors = [
        by_labels,
        "name in (flux,fluxd,weave-flux-agent)".to_owned(),
    ];
    let mut found = None;
    for selector in &selectors {
        let list = pods
            .list(&ListParams::default().labels(selector))
            .await
            .map_err(|e| {
                unreachable(format!(
                    "listing pods in namespace {ns:?} to find fluxd: {e}"
                ))
            })?;
        found = list.items.into_iter().find(|p| {
            p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
                && p.metadata.deletion_timestamp.is_none()
        });
        if found.is_some() {
            break;
        }
    }
    let Some(pod) = found else {
        return Err(unreachable(format!(
            "no running fluxd pod in namespace {ns:?} with labels {} or {}; if fluxd runs in another namespace, give it with --k8s-fwd-ns, or give --url",
            selectors[0], selectors[1]
        )));
    };
    let name = pod.metadata.name.unwrap_or_default();
    let listener = TcpListener::bind(("127.0.0.1", 0))
        .await
        .context("opening a local port for the port-forward")?;
    let port = listener.local_addr()?.port();
    let pod_name = name.clone();
    let task = tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let pods = pods.clone();
            let name = pod_name.clone();
            tokio::spawn(async move {
                let Ok(mut forwarder) = pods.portforward(&name, &[FLUXD_PORT]).await else {
                    return;
                };
                if let Some(mut upstream) = forwarder.take_stream(FLUXD_PORT) {
                    let _ = tokio::io::copy_bidirectional(&mut socket, &mut upstream).await;
                }
                drop(forwarder);
            });
        }
    });
    Ok(Forward {
        port,
        pod: name,
        task,
    })
}
