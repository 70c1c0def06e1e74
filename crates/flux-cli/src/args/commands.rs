//! The flags of each command.

use std::path::PathBuf;

use clap::{ArgAction, Args};

use super::{OutputFormat, Shell};

/// How tables are printed.
#[derive(Debug, Clone, Args)]
pub struct OutputFlags {
    /// Do not print the header line
    #[arg(long)]
    pub no_headers: bool,
    /// Output format
    #[arg(short = 'o', long = "output-format", value_enum, default_value_t)]
    pub output_format: OutputFormat,
}

/// How results of write commands are printed.
#[derive(Debug, Clone, Args)]
pub struct ResultFlags {
    /// Also list skipped workloads (-vv: and ignored ones)
    #[arg(short = 'v', long = "verbose", action = ArgAction::Count)]
    pub verbose: u8,
    /// Output format of the results
    #[arg(short = 'o', long = "output-format", value_enum, default_value_t)]
    pub output_format: OutputFormat,
}

/// Who asks for a change, and why (recorded in fluxd's commit).
#[derive(Debug, Clone, Args)]
pub struct CauseFlags {
    /// A message to record with the change
    #[arg(short = 'm', long, value_name = "TEXT")]
    pub message: Option<String>,
    /// The user recorded as asking for the change [default: git's user.name
    /// <user.email>]
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
}

/// Registry access for --local commands that need image tags.
#[derive(Debug, Clone, Args)]
pub struct RegistryFlags {
    /// With --local: ask the image registries for tags (as fluxd's scan does)
    #[arg(long)]
    pub registry: bool,
    /// With --local --registry: a docker config.json with registry
    /// credentials (as fluxd's --docker-config)
    #[arg(long, value_name = "FILE", requires = "registry")]
    pub docker_config: Option<PathBuf>,
    /// With --local --registry: hosts to reach over plain HTTP,
    /// comma-separated (as fluxd's --registry-insecure-host)
    #[arg(
        long,
        value_name = "HOST",
        value_delimiter = ',',
        requires = "registry"
    )]
    pub registry_insecure_host: Vec<String>,
}

/// `list-workloads`.
#[derive(Debug, Clone, Args)]
pub struct ListWorkloadsArgs {
    /// Only this namespace [default: the kubeconfig context's, else default]
    #[arg(short = 'n', long, value_name = "NAMESPACE")]
    pub namespace: Option<String>,
    /// All namespaces
    #[arg(short = 'a', long, conflicts_with = "namespace")]
    pub all_namespaces: bool,
    /// Only workloads with a container of this name
    #[arg(short = 'c', long, value_name = "NAME")]
    pub container: Option<String>,
    /// Table options.
    #[command(flatten)]
    pub output: OutputFlags,
}

/// `list-sources`.
#[derive(Debug, Clone, Args)]
pub struct ListSourcesArgs {
    /// Table options.
    #[command(flatten)]
    pub output: OutputFlags,
}

/// `list-manifests`.
#[derive(Debug, Clone, Args)]
pub struct ListManifestsArgs {
    /// Only this namespace [default: --k8s-default-namespace]
    #[arg(short = 'n', long, value_name = "NAMESPACE")]
    pub namespace: Option<String>,
    /// All namespaces, and cluster-scoped resources
    #[arg(short = 'a', long, conflicts_with = "namespace")]
    pub all_namespaces: bool,
    /// Table options.
    #[command(flatten)]
    pub output: OutputFlags,
}

/// `list-images`.
#[derive(Debug, Clone, Args)]
pub struct ListImagesArgs {
    /// Namespace [default: the kubeconfig context's, else default]
    #[arg(short = 'n', long, value_name = "NAMESPACE")]
    pub namespace: Option<String>,
    /// Only this workload (namespace:kind/name, or kind/name in -n)
    #[arg(short = 'w', long, value_name = "WORKLOAD")]
    pub workload: Option<String>,
    /// Deprecated: use --workload
    #[arg(short = 'c', long, hide = true, conflicts_with = "workload")]
    pub controller: Option<String>,
    /// How many images to show per container (0: all)
    #[arg(
        short = 'l',
        long,
        default_value_t = 10,
        allow_negative_numbers = true,
        value_name = "N"
    )]
    pub limit: i64,
    /// Table options.
    #[command(flatten)]
    pub output: OutputFlags,
    /// Registry access with --local.
    #[command(flatten)]
    pub registry: RegistryFlags,
}

/// `release`.
#[derive(Debug, Clone, Args)]
pub struct ReleaseArgs {
    /// Namespace of workloads given as kind/name [default: the kubeconfig
    /// context's, else default]
    #[arg(short = 'n', long, value_name = "NAMESPACE")]
    pub namespace: Option<String>,
    /// Workloads to release, namespace:kind/name (repeat or comma-separate)
    #[arg(long, value_delimiter = ',', value_name = "WORKLOAD")]
    pub workload: Vec<String>,
    /// Deprecated: use --workload
    #[arg(short = 'c', long, hide = true, value_delimiter = ',')]
    pub controller: Vec<String>,
    /// Release every workload
    #[arg(long)]
    pub all: bool,
    /// The image to release, with its tag (e.g. nginx:1.27)
    #[arg(short = 'i', long, value_name = "IMAGE:TAG")]
    pub update_image: Option<String>,
    /// Release the newest image each container's tag filter allows
    #[arg(long)]
    pub update_all_images: bool,
    /// Workloads to leave out (repeat or comma-separate)
    #[arg(long, value_delimiter = ',', value_name = "WORKLOAD")]
    pub exclude: Vec<String>,
    /// Only report what would be released (with --local: print the diff)
    #[arg(long)]
    pub dry_run: bool,
    /// Choose the container updates to release from a menu
    #[arg(long)]
    pub interactive: bool,
    /// Release even locked workloads, and images their tag filters refuse
    /// (no effect with --all or --update-all-images)
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Follow the rollout until the workloads are ready
    #[arg(short = 'w', long)]
    pub watch: bool,
    /// Who and why.
    #[command(flatten)]
    pub cause: CauseFlags,
    /// Result output.
    #[command(flatten)]
    pub result: ResultFlags,
    /// Registry access with --local.
    #[command(flatten)]
    pub registry: RegistryFlags,
}

/// `automate`, `deautomate`, `lock` and `unlock`.
#[derive(Debug, Clone, Args)]
pub struct WorkloadArgs {
    /// Namespace of a workload given as kind/name [default: the kubeconfig
    /// context's, else default]
    #[arg(short = 'n', long, value_name = "NAMESPACE")]
    pub namespace: Option<String>,
    /// The workload (namespace:kind/name, or kind/name in -n)
    #[arg(short = 'w', long, value_name = "WORKLOAD")]
    pub workload: Option<String>,
    /// Deprecated: use --workload
    #[arg(short = 'c', long, hide = true, conflicts_with = "workload")]
    pub controller: Option<String>,
    /// Who and why.
    #[command(flatten)]
    pub cause: CauseFlags,
    /// Result output.
    #[command(flatten)]
    pub result: ResultFlags,
}

/// `policy`.
#[derive(Debug, Clone, Args)]
pub struct PolicyArgs {
    /// The workload and who asks.
    #[command(flatten)]
    pub workload: WorkloadArgs,
    /// Tag filter for every container (e.g. 'glob:1.*', 'semver:~1.2')
    #[arg(long, value_name = "PATTERN")]
    pub tag_all: Option<String>,
    /// Tag filter of one container, CONTAINER=PATTERN (repeat or
    /// comma-separate; PATTERN * removes the filter)
    #[arg(long, value_delimiter = ',', value_name = "CONTAINER=PATTERN")]
    pub tag: Vec<String>,
    /// Automate the workload
    #[arg(long, conflicts_with = "deautomate")]
    pub automate: bool,
    /// Stop automating the workload
    #[arg(long)]
    pub deautomate: bool,
    /// Lock the workload
    #[arg(long, conflicts_with = "unlock")]
    pub lock: bool,
    /// Unlock the workload
    #[arg(long)]
    pub unlock: bool,
}

/// `sync`.
#[derive(Debug, Clone, Args)]
pub struct SyncArgs {
    /// With --local: print what a sync would apply (and, with a
    /// kubeconfig, change and delete) without touching the cluster
    #[arg(long)]
    pub dry_run: bool,
    /// With --local --dry-run: compare with the cluster of this kubeconfig
    #[arg(long, value_name = "FILE", requires = "dry_run")]
    pub kubeconfig: Option<PathBuf>,
    /// With --local --dry-run: the repository URL fluxd syncs (names the
    /// sync set whose garbage fluxd collects) [default: the checkout's
    /// origin remote]
    #[arg(long, value_name = "URL", requires = "dry_run")]
    pub git_url: Option<String>,
    /// With --local --dry-run: the branch fluxd syncs [default: master]
    #[arg(long, value_name = "BRANCH", requires = "dry_run")]
    pub git_branch: Option<String>,
    /// With --local --dry-run: namespaces fluxd may touch, comma-separated
    /// (as fluxd's --k8s-allow-namespace) [default: all]
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "NAMESPACE",
        requires = "dry_run"
    )]
    pub k8s_allow_namespace: Vec<String>,
    /// Output format of the dry run
    #[arg(short = 'o', long = "output-format", value_enum, default_value_t)]
    pub output_format: super::OutputFormat,
}

/// `identity`.
#[derive(Debug, Clone, Args)]
pub struct IdentityArgs {
    /// Make fluxd generate a new key
    #[arg(short = 'r', long)]
    pub regenerate: bool,
    /// Print the key's fingerprint instead of the key
    #[arg(short = 'l', long)]
    pub fingerprint: bool,
    /// Print the fingerprint and its ASCII art (implies -l)
    #[arg(short = 'v', long)]
    pub visual: bool,
}

/// `save`.
#[derive(Debug, Clone, Args)]
pub struct SaveArgs {
    /// Where to save: - for standard output, or a directory (one file per
    /// object)
    #[arg(short = 'o', long, default_value = "-", value_name = "PATH")]
    pub out: String,
}

/// `install`.
#[derive(Debug, Clone, Args)]
pub struct InstallArgs {
    /// URL of the git repository fluxd syncs, e.g. git@github.com:you/config
    #[arg(long, value_name = "URL")]
    pub git_url: Option<String>,
    /// The branch fluxd syncs
    #[arg(long, default_value = "master", value_name = "BRANCH")]
    pub git_branch: String,
    /// Paths within the repository to sync, comma-separated
    #[arg(long, value_delimiter = ',', value_name = "PATH")]
    pub git_path: Vec<String>,
    /// Deprecated: use --git-path
    #[arg(long, hide = true, value_delimiter = ',')]
    pub git_paths: Vec<String>,
    /// The git tag and notes ref fluxd keeps its sync state in
    #[arg(long, default_value = "flux", value_name = "LABEL")]
    pub git_label: String,
    /// The committer name of fluxd's commits
    #[arg(long, default_value = "Flux", value_name = "NAME")]
    pub git_user: String,
    /// The committer email of fluxd's commits
    #[arg(long, value_name = "EMAIL")]
    pub git_email: Option<String>,
    /// fluxd only reads the repository (no releases, no automation)
    #[arg(long)]
    pub git_readonly: bool,
    /// Turn on manifest generation (.flux.yaml)
    #[arg(long)]
    pub manifest_generation: bool,
    /// The namespace to install fluxd in [default: the kubeconfig
    /// context's, else default]
    #[arg(long, value_name = "NAMESPACE")]
    pub namespace: Option<String>,
    /// fluxd does not scan image registries
    #[arg(long)]
    pub registry_disable_scanning: bool,
    /// Write one file per manifest into this directory instead of printing
    #[arg(short = 'o', long, value_name = "DIR")]
    pub output_dir: Option<PathBuf>,
    /// Add a security context to fluxd's pod spec
    #[arg(
        long,
        default_value_t = true,
        action = ArgAction::Set,
        num_args = 0..=1,
        default_missing_value = "true",
        value_name = "BOOL"
    )]
    pub add_security_context: bool,
}

/// `completion`.
#[derive(Debug, Clone, Args)]
pub struct CompletionArgs {
    /// The shell
    #[arg(value_enum)]
    pub shell: Shell,
}
