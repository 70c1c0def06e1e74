//! Which kinds the API server serves, cached.
//!
//! Discovery is read once (aggregated discovery, two requests, falling back
//! to per-group discovery on servers without it) and read again only when
//! an object names a kind the cache does not know, as happens right after
//! a CustomResourceDefinition is applied.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use kube::Client;
use kube::discovery::{ApiResource, Discovery, Scope, verbs};

use crate::retry::RetryPolicy;

/// One served kind.
#[derive(Debug, Clone)]
pub struct Served {
    /// How to address it.
    pub ar: ApiResource,
    /// Namespaced or cluster-scoped.
    pub namespaced: bool,
    /// Whether it can be listed.
    pub listable: bool,
    /// Whether it can be watched.
    pub watchable: bool,
}

/// A discovery result.
#[derive(Debug, Default)]
pub struct Snapshot {
    by_gvk: HashMap<(String, String, String), Served>,
    by_kind: HashMap<String, Vec<Served>>,
    preferred: Vec<Served>,
    generation: u64,
}

impl Snapshot {
    /// A snapshot of these kinds, each its group's preferred version (for
    /// tests).
    #[cfg(test)]
    pub fn from_served(served: Vec<Served>) -> Self {
        let mut s = Snapshot {
            generation: 1,
            ..Default::default()
        };
        for x in served {
            s.by_gvk.insert(
                (x.ar.group.clone(), x.ar.version.clone(), x.ar.kind.clone()),
                x.clone(),
            );
            s.by_kind
                .entry(x.ar.kind.to_ascii_lowercase())
                .or_default()
                .push(x.clone());
            s.preferred.push(x);
        }
        s
    }

    fn build(disco: &Discovery, generation: u64, exclude: &globset::GlobSet) -> Self {
        let mut s = Snapshot {
            generation,
            ..Default::default()
        };
        for g in disco.groups() {
            for v in g.versions() {
                for (ar, caps) in g.versioned_resources(v) {
                    let served = Served {
                        namespaced: caps.scope == Scope::Namespaced,
                        listable: caps.supports_operation(verbs::LIST),
                        watchable: caps.supports_operation(verbs::WATCH),
                        ar: ar.clone(),
                    };
                    s.by_gvk.insert(
                        (ar.group.clone(), ar.version.clone(), ar.kind.clone()),
                        served,
                    );
                }
            }
            for (ar, caps) in g.recommended_resources() {
                if excluded(exclude, &ar) {
                    tracing::debug!(kind = %ar.kind, api_version = %ar.api_version, "excluded from listing (--k8s-unsafe-exclude-resource)");
                    continue;
                }
                let served = Served {
                    namespaced: caps.scope == Scope::Namespaced,
                    listable: caps.supports_operation(verbs::LIST),
                    watchable: caps.supports_operation(verbs::WATCH),
                    ar: ar.clone(),
                };
                s.by_kind
                    .entry(ar.kind.to_ascii_lowercase())
                    .or_default()
                    .push(served.clone());
                s.preferred.push(served);
            }
        }
        s
    }

    /// The kind served at `group/version`.
    pub fn get(&self, group: &str, version: &str, kind: &str) -> Option<&Served> {
        self.by_gvk
            .get(&(group.to_owned(), version.to_owned(), kind.to_owned()))
    }

    /// The preferred versions of every kind named `kind` (any case).
    pub fn by_kind(&self, kind: &str) -> &[Served] {
        self.by_kind
            .get(&kind.to_ascii_lowercase())
            .map_or(&[], Vec::as_slice)
    }

    /// Every kind, in its group's preferred version.
    pub fn preferred(&self) -> &[Served] {
        &self.preferred
    }

    /// The scope of every kind served (in any version).
    pub fn scopes(&self) -> flux_core::ScopeTable {
        let mut table = flux_core::ScopeTable::empty();
        for s in self.by_gvk.values() {
            let scope = if s.namespaced {
                flux_core::Scope::Namespaced
            } else {
                flux_core::Scope::Cluster
            };
            table.insert(&s.ar.group, &s.ar.kind, scope);
        }
        table
    }

    /// Which discovery this is (1 for the first, then counting up).
    pub fn generation(&self) -> u64 {
        self.generation
    }
}

/// Discovery, cached and refreshed on a miss.
pub struct DiscoveryCache {
    client: Client,
    retry: RetryPolicy,
    exclude: globset::GlobSet,
    current: RwLock<Option<Arc<Snapshot>>>,
    refresh: tokio::sync::Mutex<()>,
}

impl DiscoveryCache {
    /// An empty cache for `client`; kinds matching `exclude` are served
    /// for applies but never listed or watched.
    pub fn new(client: Client, retry: RetryPolicy, exclude: globset::GlobSet) -> Self {
        DiscoveryCache {
            client,
            retry,
            exclude,
            current: RwLock::new(None),
            refresh: tokio::sync::Mutex::new(()),
        }
    }

    fn cached(&self) -> Option<Arc<Snapshot>> {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The cached snapshot, if discovery ran.
    pub fn current(&self) -> Option<Arc<Snapshot>> {
        self.cached()
    }

    /// The cached snapshot, discovering first if there is none.
    pub async fn snapshot(&self) -> Result<Arc<Snapshot>, kube::Error> {
        match self.cached() {
            Some(s) => Ok(s),
            None => self.refresh_after(0).await,
        }
    }

    /// Discovers again, unless another task already did since the snapshot
    /// of `generation` was taken.
    pub async fn refresh_after(&self, generation: u64) -> Result<Arc<Snapshot>, kube::Error> {
        let _guard = self.refresh.lock().await;
        if let Some(s) = self.cached()
            && s.generation > generation
        {
            return Ok(s);
        }
        let client = self.client.clone();
        let disco = self
            .retry
            .run(|| {
                let client = client.clone();
                async move {
                    match Discovery::new(client.clone()).run_aggregated().await {
                        Ok(d) => Ok(d),
                        Err(e) => {
                            tracing::debug!(error = %e, "aggregated discovery failed; trying per-group discovery");
                            Discovery::new(client).run().await
                        }
                    }
                }
            })
            .await?;
        let next = Arc::new(Snapshot::build(&disco, generation + 1, &self.exclude));
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(next.clone());
        Ok(next)
    }

    /// The kind of `apiVersion`/`kind`, refreshing discovery once if it is
    /// not known.
    pub async fn resolve(
        &self,
        api_version: &str,
        kind: &str,
    ) -> Result<Option<Served>, kube::Error> {
        let (group, version) = match api_version.rsplit_once('/') {
            Some((g, v)) => (g, v),
            None => ("", api_version),
        };
        let snap = self.snapshot().await?;
        if let Some(s) = snap.get(group, version, kind) {
            return Ok(Some(s.clone()));
        }
        let snap = self.refresh_after(snap.generation).await?;
        Ok(snap.get(group, version, kind).cloned())
    }

    /// The kind named by a resource ID (lower-case, no group): the one
    /// kind of that name, or the built-in one when several groups serve it.
    pub async fn resolve_id_kind(&self, kind: &str) -> Result<Result<Served, String>, kube::Error> {
        let snap = self.snapshot().await?;
        let found = pick(snap.by_kind(kind), kind);
        if found.is_ok() {
            return Ok(found);
        }
        let snap = self.refresh_after(snap.generation).await?;
        Ok(pick(snap.by_kind(kind), kind))
    }
}

const BUILTIN_GROUPS: &[&str] = &[
    "",
    "apps",
    "batch",
    "networking.k8s.io",
    "rbac.authorization.k8s.io",
    "autoscaling",
    "policy",
    "apiextensions.k8s.io",
    "storage.k8s.io",
];

fn pick(candidates: &[Served], kind: &str) -> Result<Served, String> {
    match candidates {
        [] => Err(format!("the server serves no kind {kind:?}")),
        [one] => Ok(one.clone()),
        many => {
            let builtin: Vec<&Served> = many
                .iter()
                .filter(|s| BUILTIN_GROUPS.contains(&s.ar.group.as_str()))
                .collect();
            if let [one] = builtin.as_slice() {
                return Ok((*one).clone());
            }
            let groups: Vec<&str> = many.iter().map(|s| s.ar.group.as_str()).collect();
            Err(format!(
                "kind {kind:?} is served by several API groups ({}); cannot tell which is meant",
                groups.join(", ")
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::GroupVersionKind;

    fn served(group: &str, kind: &str) -> Served {
        Served {
            ar: ApiResource::from_gvk(&GroupVersionKind::gvk(group, "v1", kind)),
            namespaced: true,
            listable: true,
            watchable: true,
        }
    }

    #[test]
    fn picking_a_kind_by_name() {
        assert!(pick(&[], "widget").is_err());
        assert_eq!(
            pick(&[served("example.com", "Widget")], "widget")
                .unwrap()
                .ar
                .group,
            "example.com"
        );
        let two = [
            served("networking.k8s.io", "Ingress"),
            served("extensions.example", "Ingress"),
        ];
        assert_eq!(pick(&two, "ingress").unwrap().ar.group, "networking.k8s.io");
        let clash = [served("a.io", "Cert"), served("b.io", "Cert")];
        let e = pick(&clash, "cert").unwrap_err();
        assert!(e.contains("a.io, b.io"), "{e}");
    }
}

/// The name `--k8s-unsafe-exclude-resource` globs match: `group/version/Kind`,
/// or `version/Kind` for the core group (`v1/Event`).
pub fn exclusion_key(ar: &ApiResource) -> String {
    format!("{}/{}", ar.api_version, ar.kind)
}

fn excluded(exclude: &globset::GlobSet, ar: &ApiResource) -> bool {
    !exclude.is_empty() && exclude.is_match(exclusion_key(ar))
}

/// Compiles exclusion globs (`*` also matches `/`).
pub fn exclusion_set(globs: &[String]) -> Result<globset::GlobSet, globset::Error> {
    let mut b = globset::GlobSetBuilder::new();
    for g in globs {
        b.add(
            globset::GlobBuilder::new(g)
                .literal_separator(false)
                .build()?,
        );
    }
    b.build()
}

#[cfg(test)]
mod exclusion_tests {
    use super::*;

    fn ar(group: &str, version: &str, kind: &str) -> ApiResource {
        ApiResource {
            group: group.into(),
            version: version.into(),
            api_version: if group.is_empty() {
                version.into()
            } else {
                format!("{group}/{version}")
            },
            kind: kind.into(),
            plural: format!("{}s", kind.to_lowercase()),
        }
    }

    #[test]
    fn flux_v1_default_exclusions() {
        let set = exclusion_set(&[
            "*metrics.k8s.io/*".into(),
            "webhook.certmanager.k8s.io/*".into(),
            "v1/Event".into(),
        ])
        .unwrap();
        assert!(excluded(
            &set,
            &ar("metrics.k8s.io", "v1beta1", "PodMetrics")
        ));
        assert!(excluded(
            &set,
            &ar("custom.metrics.k8s.io", "v1beta2", "MetricValueList")
        ));
        assert!(excluded(
            &set,
            &ar("webhook.certmanager.k8s.io", "v1beta1", "ChallengePayload")
        ));
        assert!(excluded(&set, &ar("", "v1", "Event")));
        assert!(!excluded(&set, &ar("events.k8s.io", "v1", "Event")));
        assert!(!excluded(&set, &ar("apps", "v1", "Deployment")));
        assert!(!excluded(
            &exclusion_set(&[]).unwrap(),
            &ar("", "v1", "Event")
        ));
    }
}
