//! fluxd's flags as given: every flag of Flux v1's fluxd with its name and
//! default, plus this project's few additions, each with an environment
//! variable fallback (`FLUXD_` and the flag's name in capitals, `-` as `_`).
//!
//! Boolean flags behave as Go's pflag made them: `--flag`, `--flag=true`
//! and `--flag=false` all work, so Flux v1 manifests keep working. List
//! flags take comma-separated values and may be repeated.

use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Parser};

use super::duration::parse_duration;

/// fluxd: keeps a Kubernetes cluster in step with a git repository of
/// manifests, and the manifests in step with container registries.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "fluxd",
    version,
    about,
    long_about = None,
    disable_version_flag = true,
    // As Go's pflag: a flag given twice takes the last value (list flags add up).
    args_override_self = true
)]
pub struct Flags {
    // ---- General ----
    /// Log format: fmt (logfmt-like lines) or json.
    #[arg(
        long,
        env = "FLUXD_LOG_FORMAT",
        default_value = "fmt",
        help_heading = "General"
    )]
    pub log_format: String,
    /// Address the API, /metrics and health checks are served on.
    #[arg(
        short = 'l',
        long,
        env = "FLUXD_LISTEN",
        default_value = ":3030",
        help_heading = "General"
    )]
    pub listen: String,
    /// A separate address for /metrics (empty: on --listen).
    #[arg(
        long,
        env = "FLUXD_LISTEN_METRICS",
        default_value = "",
        help_heading = "General"
    )]
    pub listen_metrics: String,
    /// Path of kubectl (accepted for compatibility; fluxd talks to the API
    /// server itself and never runs kubectl).
    #[arg(
        long,
        env = "FLUXD_KUBERNETES_KUBECTL",
        default_value = "",
        help_heading = "General"
    )]
    pub kubernetes_kubectl: String,
    /// Print the version and exit.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = ArgAction::Set, help_heading = "General")]
    pub version: bool,
    /// A file holding a bearer token the API requires (this project's
    /// addition; without it the API is open, as in Flux v1).
    #[arg(long, env = "FLUXD_API_TOKEN_FILE", help_heading = "General")]
    pub api_token_file: Option<PathBuf>,
    /// A file holding the secret of push webhooks (GitHub's HMAC secret or
    /// GitLab's token); without it the webhook route is off (this project's
    /// addition).
    #[arg(long, env = "FLUXD_WEBHOOK_SECRET_FILE", help_heading = "General")]
    pub webhook_secret_file: Option<PathBuf>,
    /// Directory for the git mirror, the registry cache and other state
    /// (this project's addition; an emptyDir in a pod is fine).
    #[arg(long, env = "FLUXD_STATE_DIR", help_heading = "General")]
    pub state_dir: Option<PathBuf>,

    /// A file listing several repositories to sync (this project's
    /// addition; see docs/multi-source.md). Not with --git-url.
    #[arg(long, env = "FLUXD_CONFIG", help_heading = "General")]
    pub config: Option<PathBuf>,

    // ---- Git ----
    /// URL of the git repository with the manifests, e.g.
    /// git@github.com:fluxcd/flux-get-started.
    #[arg(long, env = "FLUXD_GIT_URL", default_value = "", help_heading = "Git")]
    pub git_url: String,
    /// Branch to sync and commit to.
    #[arg(
        long,
        env = "FLUXD_GIT_BRANCH",
        default_value = "master",
        help_heading = "Git"
    )]
    pub git_branch: String,
    /// Paths within the repository to read manifests from (default: the root).
    #[arg(
        long,
        env = "FLUXD_GIT_PATH",
        value_delimiter = ',',
        help_heading = "Git"
    )]
    pub git_path: Vec<String>,
    /// Never push to git; implies --sync-state=secret.
    #[arg(long, env = "FLUXD_GIT_READONLY", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = ArgAction::Set, help_heading = "Git")]
    pub git_readonly: bool,
    /// Committer name of fluxd's commits.
    #[arg(
        long,
        env = "FLUXD_GIT_USER",
        default_value = "Weave Flux",
        help_heading = "Git"
    )]
    pub git_user: String,
    /// Committer email of fluxd's commits.
    #[arg(
        long,
        env = "FLUXD_GIT_EMAIL",
        default_value = "support@weave.works",
        help_heading = "Git"
    )]
    pub git_email: String,
    /// Make the user who asked for a change the author of its commit.
    #[arg(long, env = "FLUXD_GIT_SET_AUTHOR", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = ArgAction::Set, help_heading = "Git")]
    pub git_set_author: bool,
    /// Label for the sync tag and notes ref; overrides --git-sync-tag and
    /// --git-notes-ref.
    #[arg(
        long,
        env = "FLUXD_GIT_LABEL",
        default_value = "",
        help_heading = "Git"
    )]
    pub git_label: String,
    /// Tag marking how far the cluster is synced (--sync-state=git).
    #[arg(
        long,
        env = "FLUXD_GIT_SYNC_TAG",
        default_value = "flux-sync",
        help_heading = "Git"
    )]
    pub git_sync_tag: String,
    /// Ref of the git notes on fluxd's commits.
    #[arg(
        long,
        env = "FLUXD_GIT_NOTES_REF",
        default_value = "flux",
        help_heading = "Git"
    )]
    pub git_notes_ref: String,
    /// Append "[ci skip]" to commit messages.
    #[arg(long, env = "FLUXD_GIT_CI_SKIP", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = ArgAction::Set, help_heading = "Git")]
    pub git_ci_skip: bool,
    /// Text appended to commit messages instead of "[ci skip]".
    #[arg(
        long,
        env = "FLUXD_GIT_CI_SKIP_MESSAGE",
        default_value = "",
        help_heading = "Git"
    )]
    pub git_ci_skip_message: String,
    /// How often to fetch the repository.
    #[arg(long, env = "FLUXD_GIT_POLL_INTERVAL", default_value = "5m", value_parser = parse_duration, help_heading = "Git")]
    pub git_poll_interval: Duration,
    /// Bound on each git network operation.
    #[arg(long, env = "FLUXD_GIT_TIMEOUT", default_value = "20s", value_parser = parse_duration, help_heading = "Git")]
    pub git_timeout: Duration,
    /// Run git-secret on checkouts (not supported: refused).
    #[arg(long, env = "FLUXD_GIT_SECRET", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = ArgAction::Set, help_heading = "Git")]
    pub git_secret: bool,
    /// Decrypt SOPS-encrypted manifests (not supported: refused).
    #[arg(long, env = "FLUXD_SOPS", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = ArgAction::Set, help_heading = "Git")]
    pub sops: bool,
    /// GPG key files (or directories of them) to import.
    #[arg(
        long,
        env = "FLUXD_GIT_GPG_KEY_IMPORT",
        value_delimiter = ',',
        help_heading = "Git"
    )]
    pub git_gpg_key_import: Vec<PathBuf>,
    /// Sign commits and the sync tag with this GPG key.
    #[arg(
        long,
        env = "FLUXD_GIT_SIGNING_KEY",
        default_value = "",
        help_heading = "Git"
    )]
    pub git_signing_key: String,
    /// Deprecated: use --git-verify-signatures-mode=all.
    #[arg(long, env = "FLUXD_GIT_VERIFY_SIGNATURES", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = ArgAction::Set, help_heading = "Git")]
    pub git_verify_signatures: bool,
    /// Which commits must carry a valid signature: none, all, first-parent.
    #[arg(
        long,
        env = "FLUXD_GIT_VERIFY_SIGNATURES_MODE",
        default_value = "",
        help_heading = "Git"
    )]
    pub git_verify_signatures_mode: String,

    // ---- Sync ----
    /// Apply git to the cluster at least this often.
    #[arg(long, env = "FLUXD_SYNC_INTERVAL", default_value = "5m", value_parser = parse_duration, help_heading = "Sync")]
    pub sync_interval: Duration,
    /// Bound on each sync and each job.
    #[arg(long, env = "FLUXD_SYNC_TIMEOUT", default_value = "1m", value_parser = parse_duration, help_heading = "Sync")]
    pub sync_timeout: Duration,
    /// Delete objects fluxd created that are no longer in git.
    #[arg(long, env = "FLUXD_SYNC_GARBAGE_COLLECTION", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = ArgAction::Set, help_heading = "Sync")]
    pub sync_garbage_collection: bool,
    /// Only log what garbage collection would delete; implies
    /// --sync-garbage-collection.
    #[arg(long, env = "FLUXD_SYNC_GARBAGE_COLLECTION_DRY", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = ArgAction::Set, help_heading = "Sync")]
    pub sync_garbage_collection_dry: bool,
    /// Where the synced revision is kept: git (the sync tag) or secret (an
    /// annotation on the deploy key Secret).
    #[arg(
        long,
        env = "FLUXD_SYNC_STATE",
        default_value = "git",
        help_heading = "Sync"
    )]
    pub sync_state: String,
    /// Put back marked objects changed or deleted by hand as soon as the
    /// watches see it, not at the next sync (this project's addition).
    #[arg(long, env = "FLUXD_SYNC_DRIFT_CORRECTION", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = true, action = ArgAction::Set, help_heading = "Sync")]
    pub sync_drift_correction: bool,

    // ---- Memcached (accepted and ignored: the cache is a file) ----
    /// Ignored: fluxd keeps its registry cache in --state-dir.
    #[arg(
        long,
        env = "FLUXD_MEMCACHED_HOSTNAME",
        default_value = "memcached",
        help_heading = "Memcached (ignored)"
    )]
    pub memcached_hostname: String,
    /// Ignored.
    #[arg(
        long,
        env = "FLUXD_MEMCACHED_PORT",
        default_value_t = 11211,
        help_heading = "Memcached (ignored)"
    )]
    pub memcached_port: u16,
    /// Ignored.
    #[arg(long, env = "FLUXD_MEMCACHED_TIMEOUT", default_value = "1s", value_parser = parse_duration, help_heading = "Memcached (ignored)")]
    pub memcached_timeout: Duration,
    /// Ignored.
    #[arg(
        long,
        env = "FLUXD_MEMCACHED_SERVICE",
        default_value = "memcached",
        help_heading = "Memcached (ignored)"
    )]
    pub memcached_service: String,

    // ---- Registry ----
    /// Do not scan registries (no automation).
    #[arg(long, env = "FLUXD_REGISTRY_DISABLE_SCANNING", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = ArgAction::Set, help_heading = "Registry")]
    pub registry_disable_scanning: bool,
    /// How often to look for image updates of automated workloads.
    #[arg(long, env = "FLUXD_AUTOMATION_INTERVAL", default_value = "5m", value_parser = parse_duration, help_heading = "Registry")]
    pub automation_interval: Duration,
    /// Deprecated: use --automation-interval.
    #[arg(long, env = "FLUXD_REGISTRY_POLL_INTERVAL", value_parser = parse_duration, help_heading = "Registry")]
    pub registry_poll_interval: Option<Duration>,
    /// Most registry requests per second per host.
    #[arg(
        long,
        env = "FLUXD_REGISTRY_RPS",
        default_value_t = 50.0,
        help_heading = "Registry"
    )]
    pub registry_rps: f64,
    /// Most requests at once to a host after a quiet spell.
    #[arg(
        long,
        env = "FLUXD_REGISTRY_BURST",
        default_value_t = 10,
        help_heading = "Registry"
    )]
    pub registry_burst: u32,
    /// Log every registry request.
    #[arg(long, env = "FLUXD_REGISTRY_TRACE", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = ArgAction::Set, help_heading = "Registry")]
    pub registry_trace: bool,
    /// Registry hosts spoken to over plain HTTP.
    #[arg(
        long,
        env = "FLUXD_REGISTRY_INSECURE_HOST",
        value_delimiter = ',',
        help_heading = "Registry"
    )]
    pub registry_insecure_host: Vec<String>,
    /// Images not to scan (globs).
    #[arg(
        long,
        env = "FLUXD_REGISTRY_EXCLUDE_IMAGE",
        value_delimiter = ',',
        default_value = "k8s.gcr.io/*",
        help_heading = "Registry"
    )]
    pub registry_exclude_image: Vec<String>,
    /// If given, scan only images matching these globs.
    #[arg(
        long,
        env = "FLUXD_REGISTRY_INCLUDE_IMAGE",
        value_delimiter = ',',
        help_heading = "Registry"
    )]
    pub registry_include_image: Vec<String>,
    /// Images whose creation time is read from their labels.
    #[arg(
        long,
        env = "FLUXD_REGISTRY_USE_LABELS",
        value_delimiter = ',',
        default_value = "index.docker.io/weaveworks/*,index.docker.io/fluxcd/*",
        help_heading = "Registry"
    )]
    pub registry_use_labels: Vec<String>,
    /// AWS regions whose ECR is scanned (default: the cluster's).
    #[arg(
        long,
        env = "FLUXD_REGISTRY_ECR_REGION",
        value_delimiter = ',',
        help_heading = "Registry"
    )]
    pub registry_ecr_region: Vec<String>,
    /// Only these AWS account IDs' ECRs are scanned.
    #[arg(
        long,
        env = "FLUXD_REGISTRY_ECR_INCLUDE_ID",
        value_delimiter = ',',
        help_heading = "Registry"
    )]
    pub registry_ecr_include_id: Vec<String>,
    /// AWS account IDs whose ECRs are not scanned (default: EKS's system accounts).
    #[arg(
        long,
        env = "FLUXD_REGISTRY_ECR_EXCLUDE_ID",
        value_delimiter = ',',
        default_value = "602401143452,918309763551",
        help_heading = "Registry"
    )]
    pub registry_ecr_exclude_id: Vec<String>,
    /// Stop at start-up if credentials for these registries cannot be
    /// obtained (possible values: ecr).
    #[arg(
        long,
        env = "FLUXD_REGISTRY_REQUIRE",
        value_delimiter = ',',
        help_heading = "Registry"
    )]
    pub registry_require: Vec<String>,
    /// A docker config.json with registry credentials.
    #[arg(
        long,
        env = "FLUXD_DOCKER_CONFIG",
        default_value = "",
        help_heading = "Registry"
    )]
    pub docker_config: String,
    /// Deprecated and ignored.
    #[arg(long, env = "FLUXD_REGISTRY_CACHE_EXPIRY", value_parser = parse_duration, help_heading = "Registry")]
    pub registry_cache_expiry: Option<Duration>,

    // ---- Kubernetes ----
    /// Deprecated and ignored.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", action = ArgAction::Set, help_heading = "Kubernetes")]
    pub k8s_in_cluster: Option<bool>,
    /// Secret holding the deploy key.
    #[arg(
        long,
        env = "FLUXD_K8S_SECRET_NAME",
        default_value = "flux-git-deploy",
        help_heading = "Kubernetes"
    )]
    pub k8s_secret_name: String,
    /// Where the deploy key Secret is mounted.
    #[arg(
        long,
        env = "FLUXD_K8S_SECRET_VOLUME_MOUNT_PATH",
        default_value = "/etc/fluxd/ssh",
        help_heading = "Kubernetes"
    )]
    pub k8s_secret_volume_mount_path: PathBuf,
    /// Key of the private key in the deploy key Secret.
    #[arg(
        long,
        env = "FLUXD_K8S_SECRET_DATA_KEY",
        default_value = "identity",
        help_heading = "Kubernetes"
    )]
    pub k8s_secret_data_key: String,
    /// Deprecated: use --k8s-allow-namespace.
    #[arg(
        long,
        env = "FLUXD_K8S_NAMESPACE_WHITELIST",
        value_delimiter = ',',
        help_heading = "Kubernetes"
    )]
    pub k8s_namespace_whitelist: Vec<String>,
    /// Restrict everything fluxd does to these namespaces.
    #[arg(
        long,
        env = "FLUXD_K8S_ALLOW_NAMESPACE",
        value_delimiter = ',',
        help_heading = "Kubernetes"
    )]
    pub k8s_allow_namespace: Vec<String>,
    /// Namespace of namespaced resources that name none (default: the
    /// kubeconfig context's, else `default`, as Flux v1; not fluxd's own).
    #[arg(
        long,
        env = "FLUXD_K8S_DEFAULT_NAMESPACE",
        default_value = "",
        help_heading = "Kubernetes"
    )]
    pub k8s_default_namespace: String,
    /// Kinds never read or applied (globs over group/version/kind).
    #[arg(
        long,
        env = "FLUXD_K8S_UNSAFE_EXCLUDE_RESOURCE",
        value_delimiter = ',',
        default_value = "*metrics.k8s.io/*,webhook.certmanager.k8s.io/*,v1/Event",
        help_heading = "Kubernetes"
    )]
    pub k8s_unsafe_exclude_resource: Vec<String>,
    /// Verbosity of the Kubernetes client's own logs (0-10).
    #[arg(
        long,
        env = "FLUXD_K8S_VERBOSITY",
        default_value_t = 0,
        help_heading = "Kubernetes"
    )]
    pub k8s_verbosity: u8,
    /// Deprecated: set KUBECONFIG instead.
    #[arg(long, help_heading = "Kubernetes")]
    pub kube_config: Option<PathBuf>,

    // ---- SSH ----
    /// Bits of a generated deploy key (ssh-keygen -b).
    #[arg(long, env = "FLUXD_SSH_KEYGEN_BITS", help_heading = "SSH")]
    pub ssh_keygen_bits: Option<u32>,
    /// Type of a generated deploy key (ssh-keygen -t).
    #[arg(long, env = "FLUXD_SSH_KEYGEN_TYPE", help_heading = "SSH")]
    pub ssh_keygen_type: Option<String>,
    /// Format of a generated deploy key (ssh-keygen -m).
    #[arg(
        long,
        env = "FLUXD_SSH_KEYGEN_FORMAT",
        default_value = "RFC4716",
        help_heading = "SSH"
    )]
    pub ssh_keygen_format: String,
    /// Directory (ideally tmpfs) where a deploy key is generated.
    #[arg(
        long,
        env = "FLUXD_SSH_KEYGEN_DIR",
        default_value = "",
        help_heading = "SSH"
    )]
    pub ssh_keygen_dir: String,
    /// Extra known_hosts files (this project's addition; ~/.ssh/known_hosts
    /// is read too when present, as Flux v1's ssh did).
    #[arg(
        long,
        env = "FLUXD_SSH_KNOWN_HOSTS",
        value_delimiter = ',',
        help_heading = "SSH"
    )]
    pub ssh_known_hosts: Vec<PathBuf>,

    // ---- High availability ----
    /// Run as one of several replicas sharing the sources through
    /// Kubernetes Leases (one Lease per source, `fluxd-<source>` in fluxd's
    /// namespace): a replica syncs, automates and runs jobs only for the
    /// sources it holds. Off: one replica does everything, as before.
    #[arg(long, env = "FLUXD_HA", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = ArgAction::Set, help_heading = "High availability")]
    pub ha: bool,
    /// This replica's name in Leases (holderIdentity); default the POD_NAME
    /// environment variable, else the host name.
    #[arg(
        long,
        env = "FLUXD_HA_REPLICA_ID",
        default_value = "",
        help_heading = "High availability"
    )]
    pub ha_replica_id: String,
    /// How long a Lease holds without renewal before another replica may take it.
    #[arg(long, env = "FLUXD_HA_LEASE_DURATION", default_value = "15s", value_parser = parse_duration, help_heading = "High availability")]
    pub ha_lease_duration: Duration,
    /// How often held Leases are renewed.
    #[arg(long, env = "FLUXD_HA_RENEW_INTERVAL", default_value = "2s", value_parser = parse_duration, help_heading = "High availability")]
    pub ha_renew_interval: Duration,
    /// A replica stops writing for a source once this long has passed since
    /// it sent its last successful renewal (must be below --ha-lease-duration).
    #[arg(long, env = "FLUXD_HA_RENEW_DEADLINE", default_value = "10s", value_parser = parse_duration, help_heading = "High availability")]
    pub ha_renew_deadline: Duration,

    // ---- Other ----
    /// Generate manifests with .flux.yaml files.
    #[arg(long, env = "FLUXD_MANIFEST_GENERATION", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = ArgAction::Set, help_heading = "Other")]
    pub manifest_generation: bool,
    /// Upstream service (Weave Cloud) URL: not supported, refused.
    #[arg(
        long,
        env = "FLUXD_CONNECT",
        default_value = "",
        help_heading = "Other"
    )]
    pub connect: String,
    /// Token for the upstream service (used only with --connect).
    #[arg(long, env = "FLUXD_TOKEN", default_value = "", help_heading = "Other")]
    pub token: String,
    /// Bound on upstream RPCs (used only with --connect).
    #[arg(long, env = "FLUXD_RPC_TIMEOUT", default_value = "10s", value_parser = parse_duration, help_heading = "Other")]
    pub rpc_timeout: Duration,
}
