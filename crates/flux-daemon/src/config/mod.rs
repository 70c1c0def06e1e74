//! fluxd's configuration: flags parsed once ([`flags::Flags`], Flux v1's
//! names and defaults) and validated into a [`Config`] that the daemon is
//! built from. Every refusal names the flag, and start-up stops with exit
//! code 2, as a usage error does.

mod duration;
pub mod file;
pub mod flags;
mod settings;
#[cfg(test)]
mod tests;
mod validate;

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches};
use flux_core::sync::GcMode;

pub use duration::{format_duration, parse_duration};
pub use file::{DEFAULT_SOURCE, KeySettings, SourceDefaults, SourceSettings};
pub use flags::Flags;
pub use settings::{
    GitSettings, HaSettings, KubeSettings, LogFormat, RegistrySettings, SshSettings, SyncSettings,
    SyncStateMode,
};
pub(crate) use validate::{check_dns_label, is_dns_subdomain};
use validate::{
    deprecations, git_flags, git_settings, kube_settings, parse_listen, read_secret_file,
    refuse_unsupported, registry_settings, ssh_settings,
};

/// Everything fluxd runs with, validated.
#[derive(Debug, Clone)]
pub struct Config {
    /// `--log-format`.
    pub log_format: LogFormat,
    /// `--listen`.
    pub listen: SocketAddr,
    /// `--listen-metrics`, when given.
    pub listen_metrics: Option<SocketAddr>,
    /// The API's bearer token (`--api-token-file`), when given.
    pub api_token: Option<String>,
    /// The push webhooks' secret (`--webhook-secret-file`), when given.
    pub webhook_secret: Option<String>,
    /// `--state-dir`.
    pub state_dir: PathBuf,
    /// The repositories: `--config`'s sources, or the one `--git-url`
    /// names (called `default`), or none.
    pub sources: Vec<SourceSettings>,
    /// `--config`, when given.
    pub config_file: Option<PathBuf>,
    /// Syncing.
    pub sync: SyncSettings,
    /// Registries and automation.
    pub registry: RegistrySettings,
    /// The cluster.
    pub k8s: KubeSettings,
    /// ssh.
    pub ssh: SshSettings,
    /// `--manifest-generation`.
    pub manifest_generation: bool,
    /// `--ha` and its settings; `None` without `--ha`.
    pub ha: Option<HaSettings>,
    /// Warnings about deprecated, ignored or overridden flags, to log once
    /// logging is set up.
    pub warnings: Vec<String>,
}

/// What parsing the command line ended in, other than a config.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// `--help` or `--version`: print this and exit 0.
    #[error("{0}")]
    Exit(String),
    /// A flag clap refused (unknown flag, bad value for its type).
    #[error("{0}")]
    Usage(String),
    /// The sources file (`--config`) is invalid.
    #[error("{}{}{}: {message}", path.display(), if *line > 0 { format!(":{line}") } else { String::new() }, if key.is_empty() { String::new() } else { format!(": {key}") })]
    File {
        /// The file.
        path: PathBuf,
        /// The line (1-based; 0 when not known).
        line: u64,
        /// The key (empty when not one key's fault).
        key: String,
        /// What is wrong.
        message: String,
    },
    /// A flag or a combination of flags is invalid.
    #[error("invalid --{flag}: {message}")]
    Invalid {
        /// The flag, without dashes.
        flag: String,
        /// What is wrong and what to do.
        message: String,
    },
}

impl ConfigError {
    /// The process exit code: 0 for help and version, 2 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            ConfigError::Exit(_) => 0,
            _ => 2,
        }
    }

    fn invalid(flag: &str, message: impl Into<String>) -> Self {
        ConfigError::Invalid {
            flag: flag.to_owned(),
            message: message.into(),
        }
    }
}

impl Config {
    /// Parses and validates a command line (`args[0]` is the program).
    pub fn from_args<I, T>(args: I) -> Result<Config, ConfigError>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let matches = match Flags::command().try_get_matches_from(args) {
            Ok(m) => m,
            Err(e) => {
                let text = e.render().to_string();
                return Err(match e.kind() {
                    clap::error::ErrorKind::DisplayHelp
                    | clap::error::ErrorKind::DisplayVersion => ConfigError::Exit(text),
                    _ => ConfigError::Usage(text),
                });
            }
        };
        let flags =
            Flags::from_arg_matches(&matches).map_err(|e| ConfigError::Usage(e.to_string()))?;
        if flags.version {
            return Err(ConfigError::Exit(format!(
                "{}\n",
                env!("CARGO_PKG_VERSION")
            )));
        }
        let given = |id: &str| {
            matches!(
                matches.value_source(id),
                Some(ValueSource::CommandLine | ValueSource::EnvVariable)
            )
        };
        Config::from_flags(&flags, &given)
    }

    /// Validates parsed flags; `given(id)` says whether a flag (by its field
    /// name) was set on the command line or in the environment.
    pub fn from_flags(flags: &Flags, given: &dyn Fn(&str) -> bool) -> Result<Config, ConfigError> {
        let mut warnings = Vec::new();
        refuse_unsupported(flags)?;
        deprecations(flags, given, &mut warnings);

        let log_format = match flags.log_format.as_str() {
            "fmt" => LogFormat::Fmt,
            "json" => LogFormat::Json,
            other => {
                return Err(ConfigError::invalid(
                    "log-format",
                    format!("{other:?} is not a log format; use fmt or json"),
                ));
            }
        };
        let listen = parse_listen("listen", &flags.listen)?;
        let listen_metrics = match flags.listen_metrics.trim() {
            "" => None,
            addr => Some(parse_listen("listen-metrics", addr)?),
        };
        if listen_metrics == Some(listen) && listen.port() != 0 {
            return Err(ConfigError::invalid(
                "listen-metrics",
                "is the same address as --listen; leave it empty to serve metrics there",
            ));
        }

        let mut state = match flags.sync_state.as_str() {
            "git" => SyncStateMode::GitTag,
            "secret" => SyncStateMode::Secret,
            other => {
                return Err(ConfigError::invalid(
                    "sync-state",
                    format!("{other:?} is not a sync state; use git or secret"),
                ));
            }
        };
        if flags.git_readonly {
            if state == SyncStateMode::GitTag {
                if given("sync_state") {
                    warnings.push(
                        "--git-readonly prevents --sync-state=git; using --sync-state=secret"
                            .into(),
                    );
                }
                state = SyncStateMode::Secret;
            }
            let ignored: Vec<&str> = [
                ("git_user", "git-user"),
                ("git_email", "git-email"),
                ("git_sync_tag", "git-sync-tag"),
                ("git_set_author", "git-set-author"),
                ("git_ci_skip", "git-ci-skip"),
                ("git_ci_skip_message", "git-ci-skip-message"),
            ]
            .into_iter()
            .filter(|(id, _)| given(id))
            .map(|(_, flag)| flag)
            .collect();
            if !ignored.is_empty() {
                warnings.push(format!(
                    "--{} has no effect when --git-readonly is set",
                    ignored.join(", --")
                ));
            }
        }

        for (flag, d) in [
            ("sync-interval", flags.sync_interval),
            ("sync-timeout", flags.sync_timeout),
            ("git-poll-interval", flags.git_poll_interval),
            ("git-timeout", flags.git_timeout),
        ] {
            if d.is_zero() {
                return Err(ConfigError::invalid(flag, "must be more than zero"));
            }
        }

        let git = git_settings(flags, given, &mut warnings)?;
        let registry = registry_settings(flags, given, &mut warnings)?;
        let k8s = kube_settings(flags)?;
        let gc = GcMode::from_flags(
            flags.sync_garbage_collection,
            flags.sync_garbage_collection_dry,
        );
        let sources = match (&flags.config, git) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::invalid(
                    "config",
                    "cannot be used with --git-url: list the repository in the file instead",
                ));
            }
            (Some(path), None) => {
                for (id, flag) in [
                    ("git_branch", "git-branch"),
                    ("git_path", "git-path"),
                    ("git_label", "git-label"),
                    ("git_sync_tag", "git-sync-tag"),
                    ("git_notes_ref", "git-notes-ref"),
                ] {
                    if given(id) {
                        return Err(ConfigError::invalid(
                            flag,
                            "names one repository's setting: with --config, set it per source in the file",
                        ));
                    }
                }
                let defaults = SourceDefaults {
                    git: git_flags(flags, String::new(), Vec::new()),
                    namespaces: match &k8s.namespaces {
                        flux_core::Namespaces::All => Vec::new(),
                        flux_core::Namespaces::Only(set) => set.iter().cloned().collect(),
                    },
                    sync_interval: flags.sync_interval,
                    automation_interval: registry.automation_interval,
                    gc,
                    key: KeySettings {
                        secret_name: flags.k8s_secret_name.clone(),
                        data_key: flags.k8s_secret_data_key.clone(),
                        mount_path: Some(flags.k8s_secret_volume_mount_path.clone()),
                    },
                    gpg_imports: flags.git_gpg_key_import.clone(),
                };
                file::read(path, &defaults)?
            }
            (None, Some(git)) => vec![SourceSettings {
                name: DEFAULT_SOURCE.to_owned(),
                git,
                namespaces: k8s.namespaces.clone(),
                sync_interval: flags.sync_interval,
                automation_interval: registry.automation_interval,
                gc,
                key: KeySettings {
                    secret_name: flags.k8s_secret_name.clone(),
                    data_key: flags.k8s_secret_data_key.clone(),
                    mount_path: Some(flags.k8s_secret_volume_mount_path.clone()),
                },
            }],
            (None, None) => Vec::new(),
        };
        let mut k8s = k8s;
        // The cluster side sees what any source may touch.
        k8s.namespaces = file::union_namespaces(&sources, &k8s.namespaces);
        let ssh = ssh_settings(flags)?;

        let api_token = read_secret_file("api-token-file", flags.api_token_file.as_ref())?;
        let webhook_secret =
            read_secret_file("webhook-secret-file", flags.webhook_secret_file.as_ref())?;
        let state_dir = flags
            .state_dir
            .clone()
            .unwrap_or_else(|| std::env::temp_dir().join("fluxd"));

        Ok(Config {
            log_format,
            listen,
            listen_metrics,
            api_token,
            webhook_secret,
            state_dir,
            sources,
            config_file: flags.config.clone(),
            sync: SyncSettings {
                interval: flags.sync_interval,
                timeout: flags.sync_timeout,
                gc,
                state,
                drift_correction: flags.sync_drift_correction,
            },
            registry,
            k8s,
            ssh,
            manifest_generation: flags.manifest_generation,
            ha: validate::ha_settings(flags)?,
            warnings,
        })
    }
}
