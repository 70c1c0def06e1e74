//! flux-core's [`flux_core::Cluster`] seam, implemented on kube-rs.
//!
//! [`KubeCluster`] discovers the API (cached, refreshed when a new kind
//! appears), applies objects with server-side apply as field manager
//! `flux` (namespaces and CRDs first, then the rest in Flux v1's
//! dependency order, with bounded concurrency within each step; taking
//! over the fields of client-side `kubectl apply`, as kubectl does when
//! moving to server-side apply, so objects Flux v1 applied lose the
//! fields git drops), skips
//! objects an apply would not change so that a sync of an unchanged
//! repository sends no writes, exports workloads, lists objects carrying
//! the garbage-collection mark, deletes them, and reads image pull
//! secrets; all within the allowed namespaces. Requests the server asks to
//! repeat (429, 5xx) are retried with backoff.
//!
//! Exported and listed objects come without `metadata.managedFields`
//! (nothing reading them needs those), and the GC listing that directly
//! follows an export reuses the export's workload lists rather than reading
//! them twice (never after a write, never across syncs: see `reuse.rs`);
//! decoding lists is most of a no-op sync's cost in this crate.
//!
//! [`WatchedCluster`] (module [`watch`]) wraps a [`KubeCluster`] and answers
//! the export and the GC listing from kube-runtime watch caches instead, so
//! a sync with nothing new reads no lists, and reports objects changed by
//! others as they change ([`watch::Notice`], debounced by
//! [`watch::Debouncer`]).
//!
//! It is not where sync decisions are made: flux-core plans, this crate
//! carries the plan out.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use flux_core::Cluster;
//! use flux_core::cluster::Namespaces;
//! use flux_kube::{KubeCluster, Options};
//!
//! // kubeconfig ($KUBECONFIG, ~/.kube/config) or the in-cluster service account
//! let cluster = KubeCluster::infer(Options::default()).await?;
//! let workloads = cluster.export_workloads(&Namespaces::All).await?;
//! println!("{} namespaces and workloads", workloads.len());
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use flux_core::ResourceId;
use flux_core::cluster::{
    Applied, ApplyObject, Cluster, ClusterError, ClusterErrorKind, LiveObject, Namespaces,
    PerObject,
};
use flux_core::fence::{Open, WriteGate};
use flux_core::registry::Credentials;
use kube::Client;
use kube::Resource as _;
use kube::api::DynamicObject;
use kube::discovery::ApiResource;
use serde_json::Value;

mod apply;
mod delete;
mod discovery;
mod error;
mod export;
mod lean;
mod retry;
mod reuse;
mod secrets;
mod takeover;
mod unchanged;
pub mod watch;

pub use error::Error;
pub use retry::RetryPolicy;
pub use unchanged::unchanged;
pub use watch::{WatchOptions, WatchedCluster};

/// How the adapter behaves.
#[derive(Debug, Clone)]
pub struct Options {
    /// The server-side apply field manager (`flux`).
    pub field_manager: String,
    /// Whether applies take over fields other managers own (Flux v1's
    /// `kubectl apply` overwrote them too: git wins).
    pub force: bool,
    /// The namespaces objects may be applied to, deleted from and read
    /// pull secrets from (`--k8s-allow-namespace`).
    pub namespaces: Namespaces,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Retries of throttled and failed requests.
    pub retry: RetryPolicy,
    /// Kinds never listed or watched (`--k8s-unsafe-exclude-resource`:
    /// globs over `group/version/Kind`, `version/Kind` for the core group);
    /// they can still be applied.
    pub exclude_kinds: Vec<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            field_manager: "flux".into(),
            force: true,
            namespaces: Namespaces::All,
            concurrency: 16,
            retry: RetryPolicy::default(),
            exclude_kinds: Vec::new(),
        }
    }
}

/// A Kubernetes cluster reached through kube-rs.
pub struct KubeCluster {
    client: Client,
    options: Options,
    discovery: discovery::DiscoveryCache,
    /// The kind (with group and version) of objects seen, so deletes by
    /// resource ID address exactly the object that was listed.
    seen: Mutex<Seen>,
    /// The export's workload lists, for the GC listing that follows it.
    recent: reuse::Recent,
}

/// The kind of each object seen, each kind held once (ten thousand
/// objects are of a few dozen kinds).
#[derive(Default)]
struct Seen {
    objects: HashMap<ResourceId, Arc<ApiResource>>,
    kinds: Vec<Arc<ApiResource>>,
}

impl Seen {
    fn insert(&mut self, id: &ResourceId, ar: &ApiResource) {
        if self.objects.get(id).is_some_and(|known| **known == *ar) {
            return;
        }
        let kind = match self.kinds.iter().find(|k| ***k == *ar) {
            Some(k) => Arc::clone(k),
            None => {
                let k = Arc::new(ar.clone());
                self.kinds.push(Arc::clone(&k));
                k
            }
        };
        self.objects.insert(id.clone(), kind);
    }
}

impl KubeCluster {
    /// An adapter using `client`.
    pub fn new(client: Client, options: Options) -> Self {
        KubeCluster {
            discovery: discovery::DiscoveryCache::new(
                client.clone(),
                options.retry,
                discovery::exclusion_set(&options.exclude_kinds).unwrap_or_else(|e| {
                    tracing::error!(error = %e, "invalid kind exclusion; excluding nothing");
                    globset::GlobSet::empty()
                }),
            ),
            client,
            options,
            seen: Mutex::new(Seen::default()),
            recent: reuse::Recent::default(),
        }
    }

    /// An adapter configured as kube-rs infers it: `$KUBECONFIG` or
    /// `~/.kube/config`, else the in-cluster service account.
    pub async fn infer(options: Options) -> Result<Self, Error> {
        let config = kube::Config::infer().await.map_err(|e| Error::Config {
            source: Box::new(e),
        })?;
        Self::from_config(config, options)
    }

    /// An adapter for the current context of the kubeconfig at `path`.
    pub async fn from_kubeconfig(path: &Path, options: Options) -> Result<Self, Error> {
        let kc = kube::config::Kubeconfig::read_from(path).map_err(|e| Error::Config {
            source: Box::new(e),
        })?;
        let config =
            kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
                .await
                .map_err(|e| Error::Config {
                    source: Box::new(e),
                })?;
        Self::from_config(config, options)
    }

    /// An adapter for a kube-rs configuration (its own retry layer is
    /// turned off: this adapter retries).
    pub fn from_config(mut config: kube::Config, options: Options) -> Result<Self, Error> {
        config.default_retry = false;
        let client = Client::try_from(config).map_err(|source| Error::Client { source })?;
        Ok(Self::new(client, options))
    }

    /// The options in use.
    pub fn options(&self) -> &Options {
        &self.options
    }

    fn remember(&self, id: &ResourceId, ar: &ApiResource) {
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(id, ar);
    }

    fn recall(&self, id: &ResourceId) -> Option<ApiResource> {
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .objects
            .get(id)
            .map(|ar| (**ar).clone())
    }

    /// Sends a request and decodes the JSON answer, retrying as configured.
    async fn send(
        &self,
        make: impl Fn() -> Result<http::Request<Vec<u8>>, kube::core::request::Error>,
    ) -> Result<Value, kube::Error> {
        self.send_as::<Value>(make).await
    }

    /// [`KubeCluster::send`], decoding the answer as `T`.
    async fn send_as<T: serde::de::DeserializeOwned>(
        &self,
        make: impl Fn() -> Result<http::Request<Vec<u8>>, kube::core::request::Error>,
    ) -> Result<T, kube::Error> {
        self.options
            .retry
            .run(|| async {
                let req = make().map_err(kube::Error::BuildRequest)?;
                self.client.request::<T>(req).await
            })
            .await
    }
}

/// The URL path of a kind's collection, in a namespace or cluster-wide.
fn collection_path(ar: &ApiResource, namespace: Option<&str>) -> String {
    DynamicObject::url_path(ar, namespace)
}

/// Whether an object may be touched under an allow-list: namespaced objects
/// in allowed namespaces, cluster-scoped objects, except Namespaces whose
/// name is not allowed (Flux v1's rule).
pub fn allowed(id: &ResourceId, namespaces: &Namespaces) -> bool {
    allowed_parts(id.kind(), id.namespace(), id.name(), namespaces)
}

/// [`allowed`] from an object's kind (any case), namespace and name, for
/// objects not yet given an ID (the watch caches filter before converting).
pub(crate) fn allowed_parts(
    kind: &str,
    namespace: Option<&str>,
    name: &str,
    namespaces: &Namespaces,
) -> bool {
    match namespace {
        Some(ns) => namespaces.allows(ns),
        None if kind.eq_ignore_ascii_case("namespace") => namespaces.allows(name),
        None => true,
    }
}

fn not_allowed(id: &ResourceId) -> ClusterError {
    ClusterError::new(
        ClusterErrorKind::Forbidden,
        Some(id.clone()),
        "outside the allowed namespaces (--k8s-allow-namespace); not touched",
    )
}

/// Flux v1's order of kinds (flux-core's table): what others depend on goes
/// first.
fn rank(kind: &str) -> u8 {
    flux_core::sync::rank_of_kind(&kind.to_ascii_lowercase())
}

#[async_trait::async_trait]
impl Cluster for KubeCluster {
    async fn export_workloads(
        &self,
        namespaces: &Namespaces,
    ) -> Result<Vec<LiveObject>, ClusterError> {
        export::export_workloads(self, namespaces).await
    }

    async fn list_managed(
        &self,
        label: &str,
        namespaces: &Namespaces,
    ) -> Result<Vec<LiveObject>, ClusterError> {
        export::list_managed(self, label, namespaces).await
    }

    async fn apply(&self, objects: &[ApplyObject]) -> PerObject<Applied> {
        apply::apply(self, objects, &Open).await
    }

    async fn delete(&self, ids: &[ResourceId]) -> PerObject<()> {
        delete::delete(self, ids, &Open).await
    }

    /// Asks `gate` before each object's request.
    async fn apply_gated(
        &self,
        objects: &[ApplyObject],
        gate: &dyn WriteGate,
    ) -> PerObject<Applied> {
        apply::apply(self, objects, gate).await
    }

    /// Asks `gate` before each object's request.
    async fn delete_gated(&self, ids: &[ResourceId], gate: &dyn WriteGate) -> PerObject<()> {
        delete::delete(self, ids, gate).await
    }

    async fn image_pull_secrets(&self, workload: &ResourceId) -> Result<Credentials, ClusterError> {
        secrets::image_pull_secrets(self, workload).await
    }

    async fn scopes(&self) -> Result<flux_core::ScopeTable, ClusterError> {
        let snap = self
            .discovery
            .snapshot()
            .await
            .map_err(|e| error::cluster_error(None, "discover the API", e))?;
        Ok(snap.scopes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn allow_list_follows_flux_v1() {
        let only = Namespaces::Only(BTreeSet::from(["a".to_owned()]));
        let cases = [
            ("a:deployment/x", true),
            ("b:deployment/x", false),
            ("<cluster>:clusterrole/x", true),
            ("<cluster>:namespace/a", true),
            ("<cluster>:namespace/b", false),
        ];
        for (id, want) in cases {
            let id: ResourceId = id.parse().unwrap();
            assert_eq!(allowed(&id, &only), want, "{id}");
            assert!(allowed(&id, &Namespaces::All));
        }
        assert!(rank("Namespace") < rank("CustomResourceDefinition"));
        assert!(rank("ConfigMap") < rank("Deployment"));
        assert!(rank("Deployment") < rank("HelmRelease"));
    }
}

#[cfg(test)]
mod seen_tests {
    use super::*;

    fn ar(kind: &str) -> ApiResource {
        ApiResource {
            group: "apps".into(),
            version: "v1".into(),
            api_version: "apps/v1".into(),
            kind: kind.into(),
            plural: format!("{}s", kind.to_lowercase()),
        }
    }

    #[test]
    fn each_kind_is_held_once_and_the_latest_wins() {
        let mut seen = Seen::default();
        let (a, b) = (
            ResourceId::new("n", "deployment", "a"),
            ResourceId::new("n", "deployment", "b"),
        );
        seen.insert(&a, &ar("Deployment"));
        seen.insert(&b, &ar("Deployment"));
        seen.insert(&a, &ar("Deployment"));
        assert_eq!(seen.kinds.len(), 1);
        assert!(Arc::ptr_eq(&seen.objects[&a], &seen.objects[&b]));
        seen.insert(&a, &ar("StatefulSet"));
        assert_eq!(seen.kinds.len(), 2);
        assert_eq!(seen.objects[&a].kind, "StatefulSet");
        assert_eq!(seen.objects[&b].kind, "Deployment");
    }
}
