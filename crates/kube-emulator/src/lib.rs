//! An in-memory Kubernetes API server over HTTP or HTTPS, for tests and demos.
//!
//! No real API server can be installed on the machines this project is built
//! on, so this crate serves enough of the Kubernetes API that the real
//! `kubectl` and kube-rs work against it unchanged: discovery (legacy and
//! aggregated); OpenAPI v3 (paths and the real schemas of the built-in kinds
//! and of CRDs, so `kubectl explain` works) and OpenAPI v2 in protobuf (so
//! `kubectl apply` validates `kind: List` files and computes client-side
//! strategic merge patches from the schemas' merge keys); get/list/watch
//! with label and field selectors, create, update, delete, JSON merge,
//! strategic merge and JSON patches, and server-side apply with field
//! managers, `managedFields`, conflicts and `force`; built-in kinds and any
//! CustomResourceDefinition created at run time; server-side Tables with
//! the `-o wide` columns of the common kinds; Status error bodies;
//! namespace-limited identities (403s); Leases with resourceVersion
//! conflicts; `pods/{name}/portforward` (WebSocket and SPDY, as kubectl and
//! kube-rs speak it) to a local address registered per pod and port
//! ([`Server::forward_pod_port`]); a request log ([`Server::request_log`]);
//! and fault injection, also aimed at one client by token or User-Agent
//! ([`Faults`]). kubectl is the referee of its behaviour.
//!
//! It is **not** a cluster: nothing is scheduled and no pods run, owner
//! references are not garbage collected, namespaces are deleted at once,
//! and admission is limited to the validations and defaults that matter
//! when syncing manifests. An optional workload controller
//! ([`Emulator::rollouts`], on in the binary) writes the status of
//! Deployments, StatefulSets and DaemonSets as their rollouts progress and
//! complete, so `kubectl rollout status` finishes; it makes no ReplicaSets
//! or Pods.
//!
//! It serves plain HTTP unless [`Emulator::tls`] is asked for: then HTTPS
//! with a certificate authority made up at start, which the kubeconfig it
//! writes carries. kubectl sends a kubeconfig's bearer token only over TLS,
//! so tests of namespace-limited identities through kubectl need it.
//!
//! Known gaps: protobuf request bodies only for the four kinds
//! `kubectl create` sends that way (Namespace, ConfigMap, Secret,
//! ServiceAccount), so `kubectl create job|deployment …` fail (apply
//! works); one version per built-in group; no conversion between CRD
//! versions beyond `apiVersion`; custom resources' schemas are in OpenAPI
//! v3 but not v2 (kubectl then leaves their validation inside a `kind:
//! List` to the server); no exec, attach or logs (port-forward only, and
//! only to registered addresses); no BOOKMARK watch events (beyond the one
//! ending a streaming list); the merge schema of
//! built-in kinds covers the keyed lists manifests use (containers, ports,
//! env, volumes…) and treats other lists as atomic.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let server = kube_emulator::Emulator::new().start().await.unwrap();
//! let dir = tempfile::tempdir().unwrap();
//! let kubeconfig = dir.path().join("config");
//! server.write_kubeconfig(&kubeconfig, None).unwrap();
//! // KUBECONFIG=<kubeconfig> kubectl get namespaces   now lists `default`…
//! assert!(server.object("", "namespaces", "", "default").is_some());
//! # }
//! ```

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use serde_json::{Value, json};
use tokio::net::TcpListener;

pub mod access;
mod admission;
mod alloc;
mod api;
mod controller;
mod defaults;
mod discovery;
pub mod error;
pub mod faults;
mod fieldset;
mod http;
pub mod kubectl;
mod list;
mod managed;
mod merge;
mod openapi;
mod ops;
mod patch;
mod portforward;
mod printers;
mod proto;
pub mod requests;
mod resources;
mod scale;
mod schema;
mod selector;
mod server;
mod store;
mod table;
mod tls;
mod watch;

pub use access::{Access, AccessRule};
pub use api::StatsSnapshot;
pub use controller::{NODE, Rollouts};
pub use error::{ApiError, Error};
pub use faults::{Call, FaultAction, FaultId, FaultRule, Faults};
pub use requests::RequestRecord;

/// The current time as the API server writes it.
pub(crate) fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Settings of an emulator to start.
#[derive(Debug, Clone, Default)]
pub struct Emulator {
    access: Access,
    tls: bool,
    rollouts: Option<Rollouts>,
}

impl Emulator {
    /// An emulator where anyone has full access.
    pub fn new() -> Self {
        Self::default()
    }

    /// Uses these authentication and authorization settings.
    pub fn access(mut self, access: Access) -> Self {
        self.access = access;
        self
    }

    /// Serves HTTPS instead of HTTP, with a certificate authority and a
    /// server certificate (for `127.0.0.1`, `::1` and `localhost`) made up
    /// at start; [`Server::ca_pem`] and [`Server::kubeconfig`] hand the CA
    /// to clients.
    pub fn tls(mut self) -> Self {
        self.tls = true;
        self
    }

    /// Runs the built-in workload controller with this timing: rollouts of
    /// Deployments, StatefulSets and DaemonSets complete (see
    /// [`Rollouts`]), and a Node named [`NODE`] is registered. Off by
    /// default.
    pub fn rollouts(mut self, rollouts: Rollouts) -> Self {
        self.rollouts = Some(rollouts);
        self
    }

    /// Starts serving on a free loopback port.
    pub async fn start(self) -> Result<Server, Error> {
        self.start_at(SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Starts serving on `addr`.
    pub async fn start_at(self, addr: SocketAddr) -> Result<Server, Error> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| Error::Bind { addr, source })?;
        let local = listener
            .local_addr()
            .map_err(|source| Error::Bind { addr, source })?;
        let shared = Arc::new(api::Shared {
            store: store::Store::new(),
            alloc: ops::Allocator::new(),
            access: self.access,
            faults: Faults::default(),
            stats: api::Stats::default(),
            addr: local.to_string(),
            requests: requests::RequestLog::default(),
            forwards: std::sync::Mutex::new(std::collections::HashMap::new()),
            sessions: std::sync::Mutex::new(tokio::task::JoinSet::new()),
        });
        let tls = if self.tls {
            Some(tls::generate()?)
        } else {
            None
        };
        seed(&shared);
        let acceptor = tls
            .as_ref()
            .map(|t| tokio_rustls::TlsAcceptor::from(t.config.clone()));
        let mut tasks = vec![tokio::spawn(server::serve(
            listener,
            shared.clone(),
            acceptor,
        ))];
        if let Some(r) = self.rollouts {
            tasks.push(tokio::spawn(controller::run(shared.clone(), r)));
        }
        Ok(Server {
            addr: local,
            ca_pem: tls.map(|t| t.ca_pem),
            shared,
            tasks,
        })
    }
}

/// The namespaces every cluster starts with.
fn seed(shared: &api::Shared) {
    let Some(rt) = shared.store.resolve("", "v1", "namespaces") else {
        return;
    };
    for name in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        let target = ops::Target {
            store: &shared.store,
            alloc: &shared.alloc,
            rt: &rt,
            version: "v1",
            ns: "",
            name,
        };
        let opts = ops::WriteOptions {
            manager: "kube-apiserver",
            dry_run: false,
            validation: ops::FieldValidation::Strict,
        };
        let body = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
        // Seeding an empty store cannot conflict.
        let _ = target.write(ops::Sub::Main, &ops::Mutation::Create(body), &opts);
    }
}

/// A running emulator; dropping it stops the server and closes every
/// connection.
pub struct Server {
    addr: SocketAddr,
    ca_pem: Option<String>,
    shared: Arc<api::Shared>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
        self.shared
            .sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .abort_all();
    }
}

impl Server {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>`, or `https://…` with TLS.
    pub fn url(&self) -> String {
        let scheme = if self.ca_pem.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", self.addr)
    }

    /// The PEM-encoded certificate of the CA that signed the server's
    /// certificate, when serving TLS.
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    /// The fault rules, to add or clear faults while it runs.
    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    /// Ends every open watch at once (as an API server restart does);
    /// clients resume from the last resourceVersion they saw.
    pub fn close_watches(&self) {
        self.shared.store.close_watches();
    }

    /// Forgets the watch event history (as an API server's compaction
    /// does): a watch resuming from before now is answered with a 410
    /// ERROR event, and its client must list again.
    pub fn forget_history(&self) {
        self.shared.store.forget_history();
    }

    /// Request counters so far.
    pub fn stats(&self) -> StatsSnapshot {
        self.shared.stats.snapshot(self.shared.store.commits())
    }

    /// The most recent requests, oldest first, as `METHOD /path?query`
    /// (query decoded): [`Server::request_log`] in short.
    pub fn requests(&self) -> Vec<String> {
        self.shared
            .requests
            .all()
            .iter()
            .map(RequestRecord::line)
            .collect()
    }

    /// Every request received (the last [`requests::LOG_SIZE`]), oldest
    /// first, with time, client (token, user, User-Agent), verb, path,
    /// query and status.
    pub fn request_log(&self) -> Vec<RequestRecord> {
        self.shared.requests.all()
    }

    /// The requests logged since sequence number `seq` (0 for the first
    /// ever), with the number to ask for next: how a test or soak follows
    /// the log without missing or repeating a record.
    pub fn request_log_since(&self, seq: u64) -> requests::RequestTail {
        self.shared.requests.since(seq)
    }

    /// Forwards port `port` of pod `namespace/pod` to `to`: what
    /// `kubectl port-forward` and kube-rs' `Api::<Pod>::portforward` reach
    /// through the emulator. Create the Pod first: registering marks it
    /// Running and Ready on 127.0.0.1, as kubectl requires (registering
    /// again replaces the address).
    pub fn forward_pod_port(&self, namespace: &str, pod: &str, port: u16, to: SocketAddr) {
        portforward::register(&self.shared, namespace, pod, port, to);
    }

    /// Forgets the requests logged so far.
    pub fn clear_requests(&self) {
        self.shared.requests.clear();
    }

    /// The stored object (`group` `""` for core, `namespace` `""` for
    /// cluster-scoped), as a GET in its preferred version would return it.
    pub fn object(&self, group: &str, plural: &str, namespace: &str, name: &str) -> Option<Value> {
        let rt = self
            .shared
            .store
            .types()
            .into_iter()
            .find(|t| t.group == group && t.plural == plural)?;
        let obj = self.shared.store.get(&rt, namespace, name)?;
        Some((*obj).clone())
    }

    /// Every stored object of a type, in all namespaces.
    pub fn objects(&self, group: &str, plural: &str) -> Vec<Value> {
        let Some(rt) = self
            .shared
            .store
            .types()
            .into_iter()
            .find(|t| t.group == group && t.plural == plural)
        else {
            return Vec::new();
        };
        self.shared
            .store
            .list(&rt, None)
            .0
            .iter()
            .map(|o| (**o).clone())
            .collect()
    }

    /// A kubeconfig pointing at this server (trusting its CA when serving
    /// TLS), authenticating with `token` if given.
    pub fn kubeconfig(&self, token: Option<&str>) -> String {
        kubectl::kubeconfig_with_ca(&self.url(), token, self.ca_pem())
    }

    /// A kubectl for this server (trusting its CA when serving TLS),
    /// authenticating with `token` if given.
    pub fn kubectl(&self, token: Option<&str>) -> std::io::Result<kubectl::Kubectl> {
        kubectl::Kubectl::with_ca(&self.url(), token, self.ca_pem())
    }

    /// Writes [`Server::kubeconfig`] to `path`.
    pub fn write_kubeconfig(&self, path: &Path, token: Option<&str>) -> Result<(), Error> {
        std::fs::write(path, self.kubeconfig(token)).map_err(|source| Error::Kubeconfig {
            path: path.to_owned(),
            source,
        })
    }
}
