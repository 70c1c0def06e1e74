//! The daemon: built from a [`Config`] and the parts it talks to
//! ([`Parts`]: a cluster, the deploy key Secret, drift notices), then run
//! until a shutdown signal. `fluxd`'s `main` is this plus flag parsing and
//! logging; tests and other programs build it the same way with their own
//! parts.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use flux_core::cluster::Cluster;
use flux_core::manifest::LoadOptions;
use flux_core::sync::SyncSetName;
use flux_git::{Repo, SshOptions, Transport};
use flux_kube::WatchedCluster;
use tokio::sync::watch;

use crate::config::{Config, SyncStateMode};
use crate::deploykey::Identity;
use crate::metrics::Metrics;
use crate::registry::Registry;
use crate::secret::SecretStore;
use crate::source::Source;
use crate::state::SyncState;

/// Drift notices are gathered until none came for this long…
pub const DRIFT_QUIET: Duration = Duration::from_secs(1);
/// …or this long after the first, before the sync they trigger.
pub const DRIFT_MAX_DELAY: Duration = Duration::from_secs(5);

/// What the daemon talks to, besides git and registries.
pub struct Parts {
    /// The cluster syncs apply to.
    pub cluster: Arc<dyn Cluster>,
    /// The watches behind `cluster`, when it is flux-kube's watched
    /// cluster: their change notices drive drift correction, their
    /// readiness `/readyz`, their counters the metrics.
    pub watch: Option<Arc<WatchedCluster>>,
    /// The deploy key Secret (`--k8s-secret-name` in fluxd's namespace).
    pub secret: Option<Arc<dyn SecretStore>>,
    /// The namespace of resources that name none, when
    /// `--k8s-default-namespace` is not given (the kubeconfig context's, or
    /// `default` in a pod without a kubeconfig, as Flux v1).
    pub default_namespace: String,
    /// A client of the cluster, for the Secrets of sources whose deploy
    /// key is not `secret`'s and for Leases (`--ha`); `None` without one.
    pub client: Option<kube::Client>,
    /// fluxd's own namespace (where its Secrets and Leases are).
    pub namespace: String,
    /// The `PATH` `.flux.yaml` commands run with (`--manifest-generation`);
    /// fluxd's own when `None`.
    pub command_path: Option<std::ffi::OsString>,
}

/// The Secret named `name` in fluxd's namespace: `parts.secret` when it is
/// `--k8s-secret-name`, else one reached through `parts.client`.
fn secret_for(config: &Config, parts: &Parts, name: &str) -> Option<Arc<dyn SecretStore>> {
    if name == config.k8s.secret_name {
        return parts.secret.clone();
    }
    let client = parts.client.clone()?;
    Some(Arc::new(crate::secret::KubeSecret::new(
        client,
        &parts.namespace,
        name,
    )))
}

/// fluxd could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A directory under `--state-dir` could not be made.
    #[error("state directory {}: {source}", path.display())]
    StateDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The git mirror could not be set up.
    #[error("git: {0}")]
    Git(#[from] flux_git::Error),
    /// The deploy key could not be set up.
    #[error("deploy key: {0}")]
    Key(#[from] crate::deploykey::KeyError),
    /// The registry side could not be set up.
    #[error(transparent)]
    Registry(#[from] crate::registry::RegistrySetupError),
    /// The work directory of `--manifest-generation` could not be set up.
    #[error("--manifest-generation: {0}")]
    Generate(#[from] flux_generate::GenerateError),
    /// `--sync-state=secret` (or `--git-readonly`) without a Secret to keep it in.
    #[error(
        "--sync-state=secret needs the deploy key Secret, but fluxd has no cluster access to it"
    )]
    NoSecret,
    /// `--ha` without a cluster client to keep Leases with.
    #[error("invalid --ha: fluxd has no cluster client to keep Leases with")]
    HaWithoutCluster,
    /// A listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Everything the loops and the API share.
pub struct Shared {
    /// The configuration.
    pub config: Config,
    /// The repositories (`--config`'s, or `--git-url`'s), in the file's
    /// order; empty without either.
    pub sources: Vec<Arc<Source>>,
    /// The cluster.
    pub cluster: Arc<dyn Cluster>,
    /// Registry cache and scanner.
    pub registry: Arc<Registry>,
    /// The first source's deploy key, for ssh remotes (each source has
    /// its own in [`Source::identity`]).
    pub identity: Option<Arc<Identity>>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// The watches, if the cluster is watched.
    pub watch: Option<Arc<WatchedCluster>>,
    /// Set when shutdown starts.
    pub stopping: watch::Sender<bool>,
    /// Permits to sync, one per core, shared by the sources (see
    /// [`crate::sync::sync_source`]).
    pub sync_slots: tokio::sync::Semaphore,
}

impl Shared {
    /// The source a request without a source name addresses (the first).
    pub fn default_source(&self) -> Option<&Arc<Source>> {
        self.sources.first()
    }

    /// The source named `name`.
    pub fn source(&self, name: &str) -> Option<&Arc<Source>> {
        self.sources.iter().find(|s| s.name == name)
    }

    /// Whether fluxd is ready to serve: every repository fetched and synced
    /// at least once (successfully or not; with `--ha`, only those this
    /// replica owns), and the cluster side ready.
    pub fn is_ready(&self) -> bool {
        let cluster = self.watch.as_ref().is_none_or(|w| w.is_ready());
        cluster
            && self
                .sources
                .iter()
                // With --ha, a source another replica owns is not synced here.
                .all(|s| {
                    s.repo.head().is_some()
                        && (s.with_status(|st| st.tried) || s.may_write().is_err())
                })
    }
}

/// A daemon, built and not yet running.
pub struct Daemon {
    shared: Arc<Shared>,
    listeners: Option<crate::api::Listeners>,
    ownership: Option<crate::ha::Ownership>,
}

impl Daemon {
    /// Builds a daemon: state directory, deploy key, git mirror, registry
    /// cache and scanner, and binds the listen addresses (so a port taken
    /// is an error at start, and port 0 can be read back with
    /// [`Daemon::api_addr`]).
    pub async fn new(config: Config, parts: Parts) -> Result<Self, StartError> {
        let metrics = Arc::new(Metrics::default());
        let state_dir = config.state_dir.clone();
        std::fs::create_dir_all(&state_dir).map_err(|source| StartError::StateDir {
            path: state_dir.clone(),
            source,
        })?;
        let mut sources = Vec::new();
        // Sources sharing a deploy key Secret share the key.
        let mut identities: Vec<(crate::config::KeySettings, Arc<Identity>)> = Vec::new();
        let mut imported = std::collections::BTreeSet::new();
        for settings in &config.sources {
            let git = &settings.git;
            for p in &git.gpg_imports {
                if !imported.insert(p.clone()) {
                    continue;
                }
                match flux_git::signature::import_keys(
                    p,
                    git.config.gnupg_home.as_deref(),
                    git.config.verify != flux_git::VerifyMode::None,
                ) {
                    Ok(keys) => tracing::info!(path = %p.display(), ?keys, "imported GPG keys"),
                    Err(e) => {
                        tracing::error!(path = %p.display(), error = %e, "failed to import GPG keys")
                    }
                }
            }
            let name = settings.name.as_str();
            let secret = secret_for(&config, &parts, &settings.key.secret_name);
            let mut ssh = SshOptions {
                known_hosts: config.ssh.known_hosts.clone(),
                config: config.ssh.ssh_config.clone(),
                ..SshOptions::default()
            };
            let mut identity = None;
            if git.config.remote.transport() == Transport::Ssh {
                let id = match identities.iter().find(|(k, _)| *k == settings.key) {
                    Some((_, id)) => id.clone(),
                    None => {
                        let base = config
                            .ssh
                            .keygen_dir
                            .clone()
                            .unwrap_or_else(|| state_dir.join("ssh-key"));
                        // The `default` source keeps the directory it always had.
                        let work = if name == crate::config::DEFAULT_SOURCE {
                            base
                        } else {
                            base.join(name)
                        };
                        let mount = settings
                            .key
                            .mount_path
                            .clone()
                            .unwrap_or_else(|| work.join("not-mounted"));
                        let id = Identity::setup(
                            &mount,
                            &settings.key.data_key,
                            secret.clone(),
                            &work,
                            config.ssh.keygen,
                        )
                        .await?;
                        tracing::info!(source = name, origin = ?id.origin(), public_key = %id.public_key(), "deploy key");
                        let id = Arc::new(id);
                        identities.push((settings.key.clone(), id.clone()));
                        id
                    }
                };
                ssh.identity = Some(id.path().to_owned());
                identity = Some(id);
            }
            let repo = Repo::new(git.config.clone(), &ssh, &state_dir.join("git").join(name))?;
            let state = match config.sync.state {
                SyncStateMode::GitTag if !git.config.readonly => SyncState::GitTag(repo.clone()),
                _ => SyncState::Secret(
                    secret.clone().ok_or(StartError::NoSecret)?,
                    crate::state::hwm_annotation(name),
                ),
            };
            let sync_set = SyncSetName::from_git(&git.url, &git.config.branch, &git.raw_paths);
            let load = LoadOptions {
                default_namespace: config
                    .k8s
                    .default_namespace
                    .clone()
                    .unwrap_or_else(|| parts.default_namespace.clone()),
                ..LoadOptions::default()
            };
            let mut source = Source::new(name, repo, sync_set, load, state);
            source.sync.namespaces = settings.namespaces.clone();
            source.sync.gc = settings.gc;
            source.sync_interval = settings.sync_interval;
            source.automation_interval = settings.automation_interval;
            source.identity = identity;
            if let Some(ha) = &config.ha {
                source.fence = Some(Arc::new(crate::ha::Fence::new(
                    name,
                    &ha.replica_id,
                    ha.renew_deadline,
                )));
            }
            if config.manifest_generation {
                source.generator = Some(crate::generation::generator(
                    &state_dir.join("generate").join(name),
                    config.sync.timeout,
                    parts.command_path.clone(),
                )?);
            }
            sources.push(Arc::new(source));
        }
        let identity = sources.first().and_then(|s| s.identity.clone());
        let ownership = match &config.ha {
            None => None,
            Some(ha) => {
                let client = parts.client.clone().ok_or(StartError::HaWithoutCluster)?;
                let leases = crate::ha::lease::Leases::new(
                    client,
                    &parts.namespace,
                    &ha.replica_id,
                    ha.lease_duration,
                );
                let fences = sources
                    .iter()
                    .filter_map(|s| Some((s.name.clone(), s.fence.clone()?)))
                    .collect();
                Some(crate::ha::Ownership::new(leases, ha.clone(), fences))
            }
        };
        crate::registry::check_required(&config.registry).await?;
        let cache_path = state_dir.join("registry-cache.json");
        let registry = Arc::new(Registry::new(
            &config.registry,
            Some(&cache_path),
            &metrics,
        )?);
        let listeners = crate::api::Listeners::bind(&config).await?;
        let (stopping, _) = watch::channel(false);
        Ok(Daemon {
            shared: Arc::new(Shared {
                config,
                sources,
                cluster: parts.cluster,
                registry,
                identity,
                metrics,
                watch: parts.watch,
                stopping,
                sync_slots: tokio::sync::Semaphore::new(
                    std::thread::available_parallelism().map_or(2, usize::from),
                ),
            }),
            listeners: Some(listeners),
            ownership,
        })
    }

    /// The API's address (useful with `--listen 127.0.0.1:0`).
    pub fn api_addr(&self) -> Option<SocketAddr> {
        self.listeners.as_ref().map(|l| l.api_addr())
    }

    /// The metrics address, when separate.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.listeners.as_ref().and_then(|l| l.metrics_addr())
    }

    /// What the loops and API share.
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Runs until `shutdown` completes: the API, the git poll, sync, job
    /// and automation loop of each source, registry scanning and drift
    /// correction. On shutdown it stops taking jobs, lets the running job
    /// finish (bounded by `--sync-timeout`), fails the queued ones, and
    /// returns.
    pub async fn run(mut self, shutdown: impl Future<Output = ()> + Send + 'static) {
        let shared = self.shared.clone();
        let mut stop = shared.stopping.subscribe();
        let stopped = || until_stopped(shared.stopping.subscribe());
        let mut tasks = tokio::task::JoinSet::new();
        if let Some(listeners) = self.listeners.take() {
            tasks.spawn(crate::api::serve(listeners, shared.clone(), stopped()));
        }
        for source in &shared.sources {
            let (repo, st) = (source.repo.clone(), stopped());
            tasks.spawn(async move { repo.run(st).await });
            tasks.spawn(crate::run::source_loop(
                source.clone(),
                shared.clone(),
                stopped(),
            ));
        }
        if let Some(ownership) = self.ownership.take() {
            let sh = shared.clone();
            let taken = move |name: &str| {
                sh.metrics
                    .source_acquisitions
                    .get_or_create(&crate::metrics::SourceLabel {
                        source: name.to_owned(),
                    })
                    .inc();
                if let Some(s) = sh.source(name) {
                    s.ask_sync();
                    s.ask_automation();
                }
            };
            tasks.spawn(ownership.run(taken, stopped()));
            tasks.spawn(crate::run::key_reload_loop(shared.clone(), stopped()));
        }
        tasks.spawn(crate::run::scan_loop(shared.clone(), stopped()));
        if let Some(watch) = &shared.watch
            && shared.config.sync.drift_correction
        {
            let notices = watch.notices();
            tasks.spawn(crate::run::drift_loop(shared.clone(), notices, stopped()));
        }
        tokio::select! {
            () = shutdown => tracing::info!("shutting down: no new jobs; finishing the current one"),
            () = async { let _ = stop.wait_for(|s| *s).await; } => {}
        }
        for s in &shared.sources {
            s.jobs.close();
        }
        shared.stopping.send_replace(true);
        while tasks.join_next().await.is_some() {}
        for s in &shared.sources {
            s.jobs.abandon_queued().await;
        }
        tracing::info!("fluxd stopped");
    }
}

/// Completes when `stopping` turns true.
pub async fn until_stopped(mut stopping: watch::Receiver<bool>) {
    let _ = stopping.wait_for(|s| *s).await;
}
