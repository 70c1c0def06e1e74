//! The validated settings, grouped as fluxd's flags are (git, sync,
//! registry, Kubernetes, ssh).

use std::path::PathBuf;
use std::time::Duration;

use flux_core::Namespaces;
use flux_core::sync::GcMode;
use flux_git::GitConfig;

/// How log lines are written (`--log-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Fmt,
    /// One JSON object per line.
    Json,
}

/// Where the synced revision is kept (`--sync-state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncStateMode {
    /// The sync tag in git (`git`, the default).
    GitTag,
    /// The `flux.weave.works/sync-hwm` annotation on the deploy key Secret
    /// (`secret`; forced by `--git-readonly`).
    Secret,
}

/// The repository to sync (absent when no `--git-url` is given: fluxd then
/// serves its API and reports that no repository is configured, as Flux v1
/// did).
#[derive(Debug, Clone)]
pub struct GitSettings {
    /// Validated git settings.
    pub config: GitConfig,
    /// The `--git-url` as given (the sync set name is derived from it).
    pub url: String,
    /// The `--git-path`s as given (for the sync set name, as Flux v1 hashed them).
    pub raw_paths: Vec<String>,
    /// GPG keys to import at start-up (`--git-gpg-key-import`).
    pub gpg_imports: Vec<PathBuf>,
}

/// How syncs run.
#[derive(Debug, Clone)]
pub struct SyncSettings {
    /// `--sync-interval`.
    pub interval: Duration,
    /// `--sync-timeout`, also the bound on each job.
    pub timeout: Duration,
    /// `--sync-garbage-collection(-dry)`.
    pub gc: GcMode,
    /// `--sync-state`.
    pub state: SyncStateMode,
    /// `--sync-drift-correction`.
    pub drift_correction: bool,
}

/// Registry scanning and automation.
#[derive(Debug, Clone)]
pub struct RegistrySettings {
    /// `--registry-disable-scanning`.
    pub disabled: bool,
    /// `--automation-interval` (or the deprecated `--registry-poll-interval`).
    pub automation_interval: Duration,
    /// `--registry-rps`.
    pub rps: f64,
    /// `--registry-burst`.
    pub burst: u32,
    /// `--registry-trace`.
    pub trace: bool,
    /// `--registry-insecure-host`.
    pub insecure_hosts: Vec<String>,
    /// `--registry-exclude-image`.
    pub exclude_images: Vec<String>,
    /// `--registry-include-image`.
    pub include_images: Vec<String>,
    /// `--registry-use-labels`.
    pub use_labels: Vec<String>,
    /// `--registry-ecr-region`.
    pub ecr_regions: Vec<String>,
    /// `--registry-ecr-include-id`.
    pub ecr_include_ids: Vec<String>,
    /// `--registry-ecr-exclude-id`.
    pub ecr_exclude_ids: Vec<String>,
    /// `--registry-require`: platforms whose credentials must be available.
    pub require: Vec<String>,
    /// `--docker-config`.
    pub docker_config: Option<PathBuf>,
}

/// The cluster side.
#[derive(Debug, Clone)]
pub struct KubeSettings {
    /// `--k8s-secret-name`.
    pub secret_name: String,
    /// `--k8s-secret-volume-mount-path`.
    pub secret_mount_path: PathBuf,
    /// `--k8s-secret-data-key`.
    pub secret_data_key: String,
    /// `--k8s-allow-namespace` (and the deprecated whitelist).
    pub namespaces: Namespaces,
    /// `--k8s-default-namespace`, when given.
    pub default_namespace: Option<String>,
    /// `--k8s-unsafe-exclude-resource`.
    pub exclude_resources: Vec<String>,
    /// `--k8s-verbosity`.
    pub verbosity: u8,
    /// The deprecated `--kube-config`, when given.
    pub kubeconfig: Option<PathBuf>,
}

/// The deploy key and ssh.
#[derive(Debug, Clone)]
pub struct SshSettings {
    /// How a new deploy key is made (`--ssh-keygen-type`, `-bits`,
    /// `-format`).
    pub keygen: flux_git::KeySpec,
    /// `--ssh-keygen-dir` (empty: the deploy key volume).
    pub keygen_dir: Option<PathBuf>,
    /// Known hosts files besides the bundled ones.
    pub known_hosts: Vec<PathBuf>,
    /// A user's ssh config to include (`~/.ssh/config` when present).
    pub ssh_config: Option<PathBuf>,
}

/// `--ha`: several replicas sharing the sources through Leases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HaSettings {
    /// `--ha-replica-id` (or POD_NAME, or the host name).
    pub replica_id: String,
    /// `--ha-lease-duration`.
    pub lease_duration: Duration,
    /// `--ha-renew-interval`.
    pub renew_interval: Duration,
    /// `--ha-renew-deadline`.
    pub renew_deadline: Duration,
}
