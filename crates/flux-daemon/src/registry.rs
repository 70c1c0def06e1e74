//! Registry scanning for fluxd: which repositories to scan (the images of
//! workloads in git and in the cluster), with which credentials (the
//! workloads' pull secrets, `--docker-config`, platform providers), and the
//! loop that scans them in the background and wakes automation when new
//! tags appear. The scanning itself is flux-registry's.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use flux_core::ResourceId;
use flux_core::cluster::{Cluster, Namespaces};
use flux_core::image::ImageRef;
use flux_core::policy::Policies;
use flux_registry::cache::ImageCache;
use flux_registry::credentials::read_docker_config;
use flux_registry::{
    ClientOptions, Keyring, RateOptions, ScanOptions, ScanReport, ScanTarget, Scanner,
};
use tokio::sync::Notify;

use crate::config::RegistrySettings;
use crate::metrics::Metrics;
use crate::source::Source;

/// How long a workload's pull secrets are reused before being read again.
const CREDENTIALS_TTL: Duration = Duration::from_secs(300);

/// The scanner could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum RegistrySetupError {
    /// `--docker-config` could not be read.
    #[error("--docker-config: {0}")]
    DockerConfig(String),
    /// The scanner could not be built.
    #[error("registry scanner: {0}")]
    Scanner(String),
    /// A glob is invalid.
    #[error("--registry-use-labels: {0}")]
    Labels(String),
    /// `--registry-require` names a registry whose credentials cannot be had.
    #[error("--registry-require={0}: {1}")]
    Required(String, String),
}

/// `--registry-require`: fails when a required platform's credentials cannot
/// be obtained (Flux v1 exited then too).
pub async fn check_required(settings: &RegistrySettings) -> Result<(), RegistrySetupError> {
    for platform in &settings.require {
        if platform == "ecr" {
            flux_registry::provider::Ecr::default()
                .check()
                .await
                .map_err(|e| RegistrySetupError::Required(platform.clone(), e))?;
        }
    }
    Ok(())
}

/// Whether an image's repository may be scanned under the ECR flags
/// (`--registry-ecr-region`, `--registry-ecr-include-id`,
/// `--registry-ecr-exclude-id`); images not in ECR always may.
pub fn ecr_allowed(settings: &RegistrySettings, host: &str) -> bool {
    let Some((account, region)) = flux_registry::provider::aws::parse_ecr_host(host) else {
        return true;
    };
    let listed = |list: &[String], v: &str| list.iter().any(|x| x == v);
    (settings.ecr_regions.is_empty() || listed(&settings.ecr_regions, region))
        && (settings.ecr_include_ids.is_empty() || listed(&settings.ecr_include_ids, account))
        && !listed(&settings.ecr_exclude_ids, account)
}

/// The registry side of fluxd: the cache release and automation read, and
/// the scanner that fills it.
pub struct Registry {
    /// The cache (persisted under `--state-dir`).
    pub cache: Arc<ImageCache>,
    /// The scanner (absent with `--registry-disable-scanning`).
    pub scanner: Option<Arc<Scanner>>,
    /// Ask for a scan now (`/v11/notify` with an image change).
    pub scan_soon: Notify,
    creds: tokio::sync::Mutex<HashMap<ResourceId, (Instant, Keyring)>>,
    settings: RegistrySettings,
}

impl Registry {
    /// Sets up the cache at `cache_path` (or in memory) and, unless
    /// scanning is disabled, the scanner.
    pub fn new(
        settings: &RegistrySettings,
        cache_path: Option<&std::path::Path>,
        metrics: &Metrics,
    ) -> Result<Self, RegistrySetupError> {
        flux_registry::install_crypto_provider();
        let cache = match cache_path {
            Some(path) => {
                let (cache, loaded) = ImageCache::open(path);
                tracing::info!(path = %path.display(), ?loaded, "registry cache");
                cache
            }
            None => ImageCache::in_memory(),
        };
        let cache = Arc::new(
            cache
                .with_label_timestamps(&settings.use_labels)
                .map_err(|e| RegistrySetupError::Labels(e.to_string()))?
                .with_metrics(metrics.registry.clone()),
        );
        let scanner = if settings.disabled {
            None
        } else {
            let docker = match &settings.docker_config {
                Some(path) => {
                    let creds = read_docker_config(path)
                        .map_err(|e| RegistrySetupError::DockerConfig(e.to_string()))?;
                    Keyring::from_credentials(
                        &creds,
                        &format!("--docker-config {}", path.display()),
                    )
                }
                None => Keyring::new(),
            };
            let options = ScanOptions {
                client: ClientOptions {
                    insecure_hosts: settings.insecure_hosts.clone(),
                    rate: RateOptions {
                        rps: settings.rps,
                        burst: settings.burst,
                        ..RateOptions::default()
                    },
                    ..ClientOptions::default()
                },
                exclude_images: settings.exclude_images.clone(),
                include_images: settings.include_images.clone(),
                disabled: false,
                ..ScanOptions::default()
            };
            let scanner = Scanner::new(
                options,
                cache.clone(),
                docker,
                flux_registry::provider::platform_defaults(),
                metrics.registry.clone(),
            )
            .map_err(|e| RegistrySetupError::Scanner(e.to_string()))?;
            Some(Arc::new(scanner))
        };
        Ok(Registry {
            cache,
            scanner,
            scan_soon: Notify::new(),
            creds: tokio::sync::Mutex::new(HashMap::new()),
            settings: settings.clone(),
        })
    }

    /// The repositories to scan: every container image of the workloads in
    /// the sources' manifests and in the cluster, with the pull secrets of
    /// the workloads using them and the tag filters of automated ones.
    pub async fn targets(
        &self,
        sources: &[Arc<Source>],
        cluster: &dyn Cluster,
        namespaces: &Namespaces,
    ) -> Vec<ScanTarget> {
        // image repository -> (workloads using it, patterns)
        let mut uses: BTreeMap<String, (ScanTarget, Vec<ResourceId>)> = BTreeMap::new();
        let mut add =
            |image: &str, workload: &ResourceId, pattern: Option<flux_core::policy::TagPattern>| {
                let Ok(r) = ImageRef::parse(image) else {
                    return;
                };
                let name = r.name().clone();
                if !ecr_allowed(&self.settings, name.registry_host()) {
                    return;
                }
                let entry = uses
                    .entry(name.to_string())
                    .or_insert_with(|| (ScanTarget::new(name), Vec::new()));
                if let Some(p) = pattern {
                    entry.0.patterns.push(p);
                }
                if !entry.1.contains(workload) {
                    entry.1.push(workload.clone());
                }
            };
        for source in sources {
            let Some(loaded) = source.loaded() else {
                continue;
            };
            for w in loaded.manifests.workloads() {
                let policies = Policies::of(w).ok();
                let automated = policies.as_ref().is_some_and(|p| p.automation_allowed());
                for c in w.containers().unwrap_or_default() {
                    let pattern = policies
                        .as_ref()
                        .filter(|_| automated)
                        .map(|p| p.tag_pattern(&c.name));
                    add(&c.image, w.id(), pattern);
                }
            }
        }
        match cluster.export_workloads(namespaces).await {
            Ok(live) => {
                for o in live {
                    if let Ok(cs) = flux_core::workload::frozen_containers(&o.object) {
                        for c in cs {
                            add(&c.image, &o.id, None);
                        }
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "registry scan: cannot list the cluster's workloads; scanning the images in git only")
            }
        }
        let mut targets = Vec::with_capacity(uses.len());
        for (_, (mut target, workloads)) in uses {
            for w in workloads.iter().filter(|w| crate::source::is_workload(w)) {
                target.keyring.extend(&self.credentials(cluster, w).await);
            }
            targets.push(target);
        }
        targets
    }

    async fn credentials(&self, cluster: &dyn Cluster, workload: &ResourceId) -> Keyring {
        let mut cache = self.creds.lock().await;
        if let Some((at, keyring)) = cache.get(workload)
            && at.elapsed() < CREDENTIALS_TTL
        {
            return keyring.clone();
        }
        let keyring = match cluster.image_pull_secrets(workload).await {
            Ok(creds) => Keyring::from_credentials(&creds, &format!("pull secrets of {workload}")),
            Err(e) => {
                tracing::debug!(%workload, error = %e, "no pull secrets");
                Keyring::new()
            }
        };
        cache.insert(workload.clone(), (Instant::now(), keyring.clone()));
        keyring
    }

    /// One scan of `targets`.
    pub async fn scan(&self, targets: &[ScanTarget]) -> Option<ScanReport> {
        let scanner = self.scanner.as_ref()?;
        let report = scanner.scan(targets).await;
        for (image, error) in &report.failed {
            tracing::warn!(%image, %error, "registry scan failed");
        }
        if !report.changed.is_empty() {
            tracing::info!(changed = ?report.changed.iter().map(ToString::to_string).collect::<Vec<_>>(), "registry scan found new tags");
        }
        Some(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(args: &[&str]) -> RegistrySettings {
        let mut all = vec!["fluxd"];
        all.extend_from_slice(args);
        crate::Config::from_args(all).expect("flags").registry
    }

    #[test]
    fn ecr_flags_filter_ecr_images_only() {
        let host =
            |account: &str, region: &str| format!("{account}.dkr.ecr.{region}.amazonaws.com");
        let defaults = settings(&[]);
        assert!(ecr_allowed(&defaults, "docker.io"));
        assert!(ecr_allowed(&defaults, &host("123456789012", "eu-west-1")));
        assert!(
            !ecr_allowed(&defaults, &host("602401143452", "us-west-2")),
            "EKS's system account is excluded by default"
        );
        let regions = settings(&["--registry-ecr-region=eu-west-1"]);
        assert!(ecr_allowed(&regions, &host("123456789012", "eu-west-1")));
        assert!(!ecr_allowed(&regions, &host("123456789012", "us-east-1")));
        let ids = settings(&["--registry-ecr-include-id=111111111111"]);
        assert!(ecr_allowed(&ids, &host("111111111111", "us-east-1")));
        assert!(!ecr_allowed(&ids, &host("222222222222", "us-east-1")));
        assert!(ecr_allowed(&ids, "ghcr.io"));
    }
}
