//! Command-line flags, in Flux v1's names: the raw table clap parses.
//!
//! This is the first of two stages (as in ripgrep): clap reads the words
//! into these structs, with the checks clap can express (conflicts,
//! required flags, value formats); [`crate::request`] then checks what
//! needs more than one flag or outside knowledge (a kubeconfig namespace)
//! and builds the typed request a command runs. Help and shell completions
//! are generated from this one table.

mod commands;
pub mod duration;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

pub use commands::*;

/// The exit codes, as printed at the end of `fluxctl --help`.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  success
  1  the command failed (a job or a workload failed, a file could not be read or written)
  2  usage error (unknown, missing or conflicting flags or arguments; nothing was done)
  3  fluxd could not be reached (no URL answers, no pod to port-forward to)
  4  timed out waiting for fluxd; the outcome is unknown";

/// fluxctl: talk to fluxd, or work on a config repository checkout with --local.
#[derive(Debug, Parser)]
#[command(
    name = "fluxctl",
    version,
    about = "fluxctl: list workloads and images, release images, change policies and sync, through fluxd or offline with --local",
    after_help = EXIT_CODES_HELP,
    propagate_version = true,
    disable_help_subcommand = true
)]
pub struct Cli {
    /// Connection and offline-mode flags, valid before or after the command.
    #[command(flatten)]
    pub global: GlobalFlags,

    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command takes (cobra's persistent flags in Flux v1).
#[derive(Debug, Clone, Args)]
pub struct GlobalFlags {
    /// Base URL of fluxd's API, e.g. http://127.0.0.1:3030/api/flux (no
    /// port-forward is made when given) [env: FLUX_URL]
    #[arg(short = 'u', long, global = true, value_name = "URL")]
    pub url: Option<String>,

    /// Token sent to fluxd (with no URL, the URL becomes Weave Cloud's).
    #[arg(
        short = 't',
        long,
        global = true,
        value_name = "TOKEN",
        help = "Token sent to fluxd; with no URL, the URL becomes https://cloud.weave.works/api/flux [env: FLUX_SERVICE_TOKEN, WEAVE_CLOUD_TOKEN]"
    )]
    pub token: Option<String>,

    /// How long to wait for fluxd, e.g. 90s or 2m [default: 60s] [env: FLUX_TIMEOUT]
    #[arg(long, global = true, value_name = "DURATION", value_parser = duration::parse)]
    pub timeout: Option<Duration>,

    /// The kubeconfig context to use (default: the current one)
    #[arg(long, global = true, value_name = "CONTEXT")]
    pub context: Option<String>,

    /// Namespace fluxd runs in, for the port-forward [default: default]
    /// [env: FLUX_FORWARD_NAMESPACE]
    #[arg(long = "k8s-fwd-ns", global = true, value_name = "NAMESPACE")]
    pub k8s_fwd_ns: Option<String>,

    /// Labels of the fluxd pod to port-forward to, as key=value,...
    /// [default: app=flux] [env: FLUX_FORWARD_LABELS]
    #[arg(long = "k8s-fwd-labels", global = true, value_name = "LABELS")]
    pub k8s_fwd_labels: Option<String>,

    /// The source (repository) to act on, for a fluxd syncing several
    /// (fluxd --config): list-sources shows their names [default: fluxd's
    /// first] [env: FLUX_SOURCE]. This project's addition to Flux v1.
    #[arg(long, global = true, value_name = "NAME")]
    pub source: Option<String>,

    /// Work offline on this directory (a checkout of the config
    /// repository) instead of asking fluxd; write commands edit its files
    /// in place. This project's addition to Flux v1.
    #[arg(long, global = true, value_name = "DIR")]
    pub local: Option<PathBuf>,

    /// With --local: paths within the repository to read, comma-separated
    /// (as fluxd's --git-path) [default: the whole directory]
    #[arg(long, global = true, value_delimiter = ',', value_name = "PATH")]
    pub git_path: Vec<String>,

    /// With --local: honour .flux.yaml files as fluxd --manifest-generation
    /// does: run their generators (commands from the repository: use it on
    /// checkouts you trust) and make releases and policy changes in their
    /// patch files or through their updaters
    #[arg(long = "manifest-generation", global = true)]
    pub manifest_generation: bool,

    /// With --local: edit files even if they have uncommitted changes in
    /// their git checkout (refused by default, so that fluxctl's edit can
    /// be reviewed and undone on its own)
    #[arg(long, global = true)]
    pub allow_dirty: bool,

    /// With --local: the namespace of resources that name none, and of
    /// workload IDs given without one (as fluxd's --k8s-default-namespace)
    #[arg(
        long,
        global = true,
        default_value = "default",
        value_name = "NAMESPACE"
    )]
    pub k8s_default_namespace: String,
}

/// Output formats of the commands that print tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum OutputFormat {
    /// Aligned columns.
    #[default]
    Tab,
    /// JSON: an array of objects with Flux v1's key names.
    Json,
}

/// The shells `completion` writes scripts for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    /// GNU bash.
    Bash,
    /// zsh.
    Zsh,
    /// fish.
    Fish,
}

/// fluxctl's commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the workloads running in the cluster, with their containers,
    /// images, rollout status and policies.
    #[command(visible_alias = "list-controllers")]
    ListWorkloads(ListWorkloadsArgs),
    /// Show the images deployed and the images available.
    ListImages(ListImagesArgs),
    /// List every resource a sync would apply, with the file and line
    /// defining it (--local only; this project's addition).
    ListManifests(ListManifestsArgs),
    /// Release new images to workloads.
    Release(ReleaseArgs),
    /// Turn on automatic deployment of new images for a workload.
    Automate(WorkloadArgs),
    /// Turn off automatic deployment for a workload.
    Deautomate(WorkloadArgs),
    /// Lock a workload, so that no release or automation changes it.
    Lock(WorkloadArgs),
    /// Unlock a workload.
    Unlock(WorkloadArgs),
    /// Change the policies of a workload: automation, lock, tag filters.
    #[command(long_about = POLICY_LONG_ABOUT)]
    Policy(PolicyArgs),
    /// Synchronize the cluster with the git repository now (with --local:
    /// --dry-run shows what a sync would do).
    Sync(SyncArgs),
    /// List the git repositories fluxd syncs, with their heads and how
    /// their last sync went (this project's addition).
    ListSources(ListSourcesArgs),
    /// Show fluxd's SSH public key (its git deploy key).
    Identity(IdentityArgs),
    /// Save the cluster's workload definitions as YAML files, in
    /// cluster-native form.
    Save(SaveArgs),
    /// Print the Kubernetes manifests that install fluxd.
    Install(InstallArgs),
    /// Print fluxctl's version.
    Version,
    /// Print a shell completion script (bash, zsh or fish).
    Completion(CompletionArgs),
}

const POLICY_LONG_ABOUT: &str = "\
Change the policies of a workload: automation, lock, tag filters.

A tag filter is given per container as CONTAINER=PATTERN (e.g. 'app=1.*';
quote it so the shell leaves the * alone), or for every container with
--tag-all. A pattern is glob:..., semver:..., regex:... or a plain glob
(written back as glob:...). The pattern * removes a container's filter.
When --tag-all and --tag are both given, --tag wins for the containers it
names.";
