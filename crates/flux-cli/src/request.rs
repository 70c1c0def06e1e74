//! The second stage of argument handling: flags checked together, the
//! environment applied, IDs, images and patterns parsed, into one
//! [`Invocation`] that a command runs without looking at flags again.
//!
//! Every check here fails with a usage error (exit code 2) before anything
//! is read or sent.

mod build;
mod env;

use std::path::PathBuf;
use std::time::Duration;

use flux_core::ResourceId;
use flux_core::policy::PolicyUpdate;
use flux_core::release::{ImageSpec, ReleaseKind};

use crate::args::{OutputFormat, Shell};

pub use build::build;
pub use env::Env;

/// Flux v1's default API URL when only a token is given.
pub const DEFAULT_URL_GIVEN_TOKEN: &str = "https://cloud.weave.works/api/flux";
/// The default `--timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// A checked command line.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// Where answers come from.
    pub mode: Mode,
    /// How long to wait for fluxd.
    pub timeout: Duration,
    /// The command.
    pub request: Request,
    /// Things to tell the user before running (deprecated flags, flags
    /// without effect); printed to stderr.
    pub notes: Vec<String>,
}

/// Where a command gets its answers.
#[derive(Debug, Clone)]
pub enum Mode {
    /// From fluxd's API.
    Remote(Connection),
    /// From a checkout, offline.
    Local(Local),
    /// Neither is needed (`version`, `completion`, `install`).
    None,
}

/// How to reach fluxd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// The API's base URL; `None`: port-forward to the fluxd pod.
    pub url: Option<String>,
    /// A token to send.
    pub token: Option<String>,
    /// The kubeconfig context.
    pub context: Option<String>,
    /// The namespace fluxd runs in.
    pub forward_namespace: String,
    /// The fluxd pod's labels.
    pub forward_labels: Vec<(String, String)>,
    /// The kubeconfig file(s) to read, from `KUBECONFIG` (empty: the
    /// default `~/.kube/config`).
    pub kubeconfig: Vec<PathBuf>,
    /// The source of fluxd every request is for (`--source`); `None`:
    /// fluxd's first.
    pub source: Option<String>,
}

/// An offline checkout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Local {
    /// The directory.
    pub dir: PathBuf,
    /// Paths in it to read (`--git-path`); empty: all.
    pub git_paths: Vec<String>,
    /// The namespace of resources that name none.
    pub default_namespace: String,
    /// Edit files with uncommitted changes.
    pub allow_dirty: bool,
    /// Honour `.flux.yaml` files (`--manifest-generation`).
    pub manifest_generation: bool,
}

/// How a table is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Table {
    /// Tab or JSON.
    pub format: OutputFormat,
    /// Leave out the header line.
    pub no_headers: bool,
}

/// How the results of a write command are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Results {
    /// Tab or JSON.
    pub format: OutputFormat,
    /// 0: changes and failures; 1: also skipped; 2: also ignored.
    pub verbosity: u8,
}

/// Who asked for a change, and why.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cause {
    /// `--user`, else git's user.
    pub user: Option<String>,
    /// `--message`.
    pub message: Option<String>,
}

/// Registry access for offline commands.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistryAccess {
    /// Whether to ask registries at all.
    pub enabled: bool,
    /// A docker config.json with credentials.
    pub docker_config: Option<PathBuf>,
    /// Hosts reached over plain HTTP.
    pub insecure_hosts: Vec<String>,
}

/// A checked command.
#[derive(Debug, Clone)]
pub enum Request {
    /// `list-workloads`.
    ListWorkloads {
        /// The namespace, or `None` for all.
        namespace: Option<String>,
        /// Only workloads with a container of this name.
        container: Option<String>,
        /// Output.
        table: Table,
    },
    /// `list-manifests`.
    ListManifests {
        /// The namespace, or `None` for all (and cluster-scoped).
        namespace: Option<String>,
        /// Output.
        table: Table,
    },
    /// `list-images`.
    ListImages {
        /// The namespace listed when no workload is given.
        namespace: String,
        /// One workload only.
        workload: Option<ResourceId>,
        /// Images shown per container; 0: all.
        limit: usize,
        /// Output.
        table: Table,
        /// Registry access with --local.
        registry: RegistryAccess,
    },
    /// `release`.
    Release(Release),
    /// `automate`, `deautomate`, `lock`, `unlock` and `policy`.
    Policy(PolicyChange),
    /// `sync`.
    Sync(Sync),
    /// `list-sources`.
    ListSources {
        /// Output.
        table: Table,
    },
    /// `identity`.
    Identity {
        /// Generate a new key first.
        regenerate: bool,
        /// Print the fingerprint instead of the key.
        fingerprint: bool,
        /// Also print the fingerprint's ASCII art.
        visual: bool,
    },
    /// `save`.
    Save {
        /// `None`: standard output; else a directory.
        dir: Option<PathBuf>,
    },
    /// `install`.
    Install(Install),
    /// `version`.
    Version,
    /// `completion`.
    Completion(Shell),
}

/// A checked `release`.
#[derive(Debug, Clone)]
pub struct Release {
    /// The workloads; `None` for `--all`.
    pub workloads: Option<Vec<ResourceId>>,
    /// The image change.
    pub image: ImageSpec,
    /// Workloads left out.
    pub excludes: Vec<ResourceId>,
    /// Plan (`--dry-run`) or execute.
    pub kind: ReleaseKind,
    /// `--force`.
    pub force: bool,
    /// `--interactive`.
    pub interactive: bool,
    /// `--watch`.
    pub watch: bool,
    /// Who and why.
    pub cause: Cause,
    /// Output.
    pub results: Results,
    /// Registry access with --local.
    pub registry: RegistryAccess,
}

/// A checked policy change, from any of the five policy commands.
#[derive(Debug, Clone)]
pub struct PolicyChange {
    /// The workload.
    pub workload: ResourceId,
    /// What to add and remove (validated: patterns normalised).
    pub update: PolicyUpdate,
    /// Who and why.
    pub cause: Cause,
    /// Output.
    pub results: Results,
}

/// A checked `sync`.
#[derive(Debug, Clone)]
pub struct Sync {
    /// `--dry-run` (only with --local).
    pub dry_run: bool,
    /// A kubeconfig to compare with.
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context.
    pub context: Option<String>,
    /// `--git-url`, if given.
    pub git_url: Option<String>,
    /// `--git-branch`.
    pub git_branch: String,
    /// `--k8s-allow-namespace`.
    pub allow_namespaces: Vec<String>,
    /// Output format.
    pub format: OutputFormat,
}

/// A checked `install`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Install {
    /// `--git-url`.
    pub git_url: String,
    /// `--git-branch`.
    pub git_branch: String,
    /// `--git-path` (and the deprecated `--git-paths`).
    pub git_paths: Vec<String>,
    /// `--git-label`.
    pub git_label: String,
    /// `--git-user`.
    pub git_user: String,
    /// `--git-email`.
    pub git_email: String,
    /// `--git-readonly`.
    pub git_readonly: bool,
    /// `--manifest-generation`.
    pub manifest_generation: bool,
    /// `--namespace`, else the kubeconfig context's, else `default`.
    pub namespace: String,
    /// `--registry-disable-scanning`.
    pub registry_disable_scanning: bool,
    /// `--output-dir`.
    pub output_dir: Option<PathBuf>,
    /// `--add-security-context`.
    pub add_security_context: bool,
}
