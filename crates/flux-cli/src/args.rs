//! Command-line flags, in Flux v1's names.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// fluxctl: talk to fluxd, or read a config repository with --local.
#[derive(Debug, Parser)]
#[command(name = "fluxctl", version, about)]
pub struct Cli {
    /// Read manifests from this directory (a checkout of the config
    /// repository) instead of asking fluxd.
    #[arg(long, global = true, value_name = "DIR")]
    pub local: Option<PathBuf>,

    /// With --local: paths within the repository to read, comma-separated
    /// (as fluxd's --git-path).
    #[arg(long, global = true, value_delimiter = ',', value_name = "PATH")]
    pub git_path: Vec<String>,

    /// With --local: namespace for resources that name none (as fluxd's
    /// --k8s-default-namespace).
    #[arg(long, global = true, default_value = "default", value_name = "NS")]
    pub k8s_default_namespace: String,

    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Output formats of the list commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum OutputFormat {
    /// Aligned columns.
    #[default]
    Tab,
    /// JSON.
    Json,
}

/// Flags shared by list commands.
#[derive(Debug, Args)]
pub struct ListFlags {
    /// Only this namespace.
    #[arg(short, long)]
    pub namespace: Option<String>,
    /// All namespaces.
    #[arg(short, long)]
    pub all_namespaces: bool,
    /// Do not print headers.
    #[arg(long)]
    pub no_headers: bool,
    /// Output format.
    #[arg(short, long = "output-format", value_enum, default_value_t)]
    pub output_format: OutputFormat,
}

/// fluxctl's commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List workloads (controllers) with their containers and images.
    #[command(alias = "list-controllers")]
    ListWorkloads {
        /// Common list flags.
        #[command(flatten)]
        list: ListFlags,
        /// Only workloads with a container of this name.
        #[arg(short, long)]
        container: Option<String>,
    },
    /// List every resource that a sync would apply, with the file defining
    /// it (this project's addition).
    ListManifests {
        /// Common list flags.
        #[command(flatten)]
        list: ListFlags,
    },
}

impl ListFlags {
    /// The namespace filter: `None` means all namespaces. Without `-n` or
    /// `-a`, Flux v1 showed the default namespace only.
    pub fn namespace_filter<'a>(&'a self, default: &'a str) -> Option<&'a str> {
        if self.all_namespaces {
            None
        } else {
            Some(self.namespace.as_deref().unwrap_or(default))
        }
    }
}
