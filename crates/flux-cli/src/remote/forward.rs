//! Reaching fluxd without `--url`: find its pod by labels and forward a
//! local port to the pod's port 3030 through the Kubernetes API (kube-rs's
//! port-forward over websockets), as Flux v1's fluxctl did.
//!
//! Pods are looked up in `--k8s-fwd-ns` by `--k8s-fwd-labels`
//! (`app=flux`), then, if none is running, by `name` in `flux`, `fluxd`,
//! `weave-flux-agent`. Every connection to the local port gets its own
//! forward stream.

use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use tokio::net::{TcpListener, TcpStream};
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
    namespace: String,
    failure: Arc<Mutex<Option<String>>>,
    task: JoinHandle<()>,
}

impl Forward {
    /// The API's base URL through the forward.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/api/flux", self.port)
    }

    /// Why the forward last failed to reach the pod's port, as the API
    /// server reported it (nothing listening, the pod gone…).
    pub fn failure(&self) -> Option<String> {
        self.failure
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// `e` as "fluxd unreachable" (exit 3) when the forward failed to reach
    /// the pod: the client only saw its connection closed, the reason is
    /// the forward's.
    pub fn explain(&self, e: anyhow::Error) -> anyhow::Error {
        match self.failure() {
            Some(why) => e.context(crate::error::Failure {
                exit: crate::error::Exit::Unreachable,
                message: format!(
                    "cannot reach the Flux daemon through the port-forward to pod {}/{} port {FLUXD_PORT}: {why}",
                    self.namespace, self.pod
                ),
            }),
            None => e,
        }
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
    let failure = Arc::new(Mutex::new(None));
    let failures = failure.clone();
    let task = tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let pods = pods.clone();
            let name = pod_name.clone();
            let failures = failures.clone();
            tokio::spawn(async move { forward_one(&pods, &name, socket, &failures).await });
        }
    });
    Ok(Forward {
        port,
        pod: name,
        namespace: ns.clone(),
        failure,
        task,
    })
}

/// Carries one local connection to the pod's port. If the forward cannot
/// be opened, or the API server reports an error on it, the reason is put
/// in `failures` before the local connection is closed, so a client that
/// sees it closed finds the reason.
async fn forward_one(
    pods: &Api<Pod>,
    pod: &str,
    mut socket: TcpStream,
    failures: &Mutex<Option<String>>,
) {
    if let Err(why) = carry(pods, pod, &mut socket).await {
        *failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(why);
    }
    drop(socket);
}

async fn carry(pods: &Api<Pod>, pod: &str, socket: &mut TcpStream) -> Result<(), String> {
    let mut forwarder = pods
        .portforward(pod, &[FLUXD_PORT])
        .await
        .map_err(|e| format!("opening the port-forward: {e}"))?;
    let mut upstream = forwarder
        .take_stream(FLUXD_PORT)
        .ok_or_else(|| "the port-forward has no stream for the port".to_owned())?;
    let error = forwarder.take_error(FLUXD_PORT);
    let copy = tokio::io::copy_bidirectional(socket, &mut upstream);
    match error {
        // The error first: kube-rs hands it over before it closes the
        // stream, so a failed forward is never taken for a finished one.
        Some(error) => tokio::select! {
            biased;
            Some(why) = error => Err(why),
            _ = copy => Ok(()),
        },
        None => copy.await.map(drop).map_err(|e| e.to_string()),
    }
}
