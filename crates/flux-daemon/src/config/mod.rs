//! fluxd's configuration: flags parsed once ([`flags::Flags`], Flux v1's
//! names and defaults) and validated into a [`Config`] that the daemon is
//! built from. Every refusal names the flag, and start-up stops with exit
//! code 2, as a usage error does.

mod duration;
pub mod flags;
#[cfg(test)]
mod tests;

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches};
use flux_core::Namespaces;
use flux_core::sync::GcMode;
use flux_git::{GitConfig, GitFlags};

pub use duration::{format_duration, parse_duration};
pub use flags::Flags;

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
    /// `--ssh-keygen-bits`.
    pub keygen_bits: Option<u32>,
    /// `--ssh-keygen-type`.
    pub keygen_type: Option<String>,
    /// `--ssh-keygen-format`.
    pub keygen_format: String,
    /// `--ssh-keygen-dir` (empty: the deploy key volume).
    pub keygen_dir: Option<PathBuf>,
    /// Known hosts files besides the bundled ones.
    pub known_hosts: Vec<PathBuf>,
    /// A user's ssh config to include (`~/.ssh/config` when present).
    pub ssh_config: Option<PathBuf>,
}

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
    /// The repository, when `--git-url` is given.
    pub git: Option<GitSettings>,
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
        let ssh = ssh_settings(flags);

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
            git,
            sync: SyncSettings {
                interval: flags.sync_interval,
                timeout: flags.sync_timeout,
                gc: GcMode::from_flags(
                    flags.sync_garbage_collection,
                    flags.sync_garbage_collection_dry,
                ),
                state,
                drift_correction: flags.sync_drift_correction,
            },
            registry,
            k8s,
            ssh,
            manifest_generation: flags.manifest_generation,
            warnings,
        })
    }
}

/// Flags of Flux v1 whose feature is not here: refused rather than
/// silently doing something else.
fn refuse_unsupported(flags: &Flags) -> Result<(), ConfigError> {
    if !flags.connect.trim().is_empty() {
        return Err(ConfigError::invalid(
            "connect",
            "fluxd does not connect to an upstream service (Weave Cloud is gone); \
             remove --connect and reach the API with fluxctl --url or its port-forward",
        ));
    }
    if flags.git_secret {
        return Err(ConfigError::invalid(
            "git-secret",
            "git-secret decryption is not supported; remove the flag, or keep Flux v1 \
             for repositories that need it",
        ));
    }
    if flags.sops {
        return Err(ConfigError::invalid(
            "sops",
            "SOPS decryption is not supported; remove the flag, or keep Flux v1 for \
             repositories that need it (fluxd never applies encrypted files by mistake: \
             they fail to load)",
        ));
    }
    Ok(())
}

fn deprecations(flags: &Flags, given: &dyn Fn(&str) -> bool, warnings: &mut Vec<String>) {
    let memcached = [
        ("memcached_hostname", "memcached-hostname"),
        ("memcached_port", "memcached-port"),
        ("memcached_timeout", "memcached-timeout"),
        ("memcached_service", "memcached-service"),
    ];
    for (id, flag) in memcached {
        if given(id) {
            warnings.push(format!(
                "--{flag} is ignored: fluxd keeps its registry cache in a file under --state-dir, \
                 no memcached is needed"
            ));
        }
    }
    if flags.registry_cache_expiry.is_some() {
        warnings.push("--registry-cache-expiry is deprecated and ignored".into());
    }
    if flags.k8s_in_cluster.is_some() {
        warnings.push("--k8s-in-cluster is deprecated and ignored".into());
    }
    if !flags.kubernetes_kubectl.is_empty() {
        warnings
            .push("--kubernetes-kubectl is ignored: fluxd talks to the API server itself".into());
    }
    if flags.kube_config.is_some() {
        warnings.push("--kube-config is deprecated; set KUBECONFIG instead".into());
    }
    if !flags.k8s_namespace_whitelist.is_empty() {
        warnings.push(
            "--k8s-namespace-whitelist is deprecated; use --k8s-allow-namespace (both are honoured)"
                .into(),
        );
    }
    if flags.git_verify_signatures {
        warnings.push(
            "--git-verify-signatures is deprecated; use --git-verify-signatures-mode=all".into(),
        );
    }
    if given("token") || given("rpc_timeout") {
        warnings.push("--token and --rpc-timeout are ignored without --connect".into());
    }
}

fn git_settings(
    flags: &Flags,
    given: &dyn Fn(&str) -> bool,
    warnings: &mut Vec<String>,
) -> Result<Option<GitSettings>, ConfigError> {
    let paths: Vec<String> = flags
        .git_path
        .iter()
        .filter(|p| !p.is_empty())
        .cloned()
        .collect();
    if let Some(p) = paths.iter().find(|p| p.starts_with('/')) {
        return Err(ConfigError::invalid(
            "git-path",
            format!("{p:?}: a path within the repository must not start with '/'"),
        ));
    }
    let url = flags.git_url.trim();
    if url.is_empty() {
        if !paths.is_empty() || given("git_branch") {
            warnings.push("--git-path and --git-branch have no effect without --git-url".into());
        }
        return Ok(None);
    }
    if given("git_label") {
        for (id, flag) in [
            ("git_sync_tag", "git-sync-tag"),
            ("git_notes_ref", "git-notes-ref"),
        ] {
            if given(id) {
                warnings.push(format!("--{flag} is overridden by --git-label"));
            }
        }
    }
    let verify_mode = match flags.git_verify_signatures_mode.as_str() {
        "" if flags.git_verify_signatures => Some("all".to_owned()),
        "" => None,
        mode => Some(mode.to_owned()),
    };
    let git_flags = GitFlags {
        url: url.to_owned(),
        branch: flags.git_branch.clone(),
        paths: paths.clone(),
        readonly: flags.git_readonly,
        user: flags.git_user.clone(),
        email: flags.git_email.clone(),
        set_author: flags.git_set_author,
        label: (!flags.git_label.is_empty()).then(|| flags.git_label.clone()),
        sync_tag: flags.git_sync_tag.clone(),
        notes_ref: flags.git_notes_ref.clone(),
        ci_skip: flags.git_ci_skip,
        ci_skip_message: flags.git_ci_skip_message.clone(),
        poll_interval: flags.git_poll_interval,
        timeout: flags.git_timeout,
        signing_key: flags.git_signing_key.clone(),
        verify_signatures: false,
        verify_signatures_mode: verify_mode,
    };
    let config = GitConfig::from_flags(&git_flags).map_err(|e| match e {
        flux_git::Error::InvalidConfig {
            flag,
            value,
            reason,
        } => ConfigError::invalid(flag, format!("{value:?}: {reason}")),
        flux_git::Error::InvalidUrl { url, reason } => {
            ConfigError::invalid("git-url", format!("{url:?}: {reason}"))
        }
        other => ConfigError::invalid("git-url", other.to_string()),
    })?;
    Ok(Some(GitSettings {
        config,
        url: url.to_owned(),
        raw_paths: paths,
        gpg_imports: flags.git_gpg_key_import.clone(),
    }))
}

fn registry_settings(
    flags: &Flags,
    given: &dyn Fn(&str) -> bool,
    warnings: &mut Vec<String>,
) -> Result<RegistrySettings, ConfigError> {
    let mut automation_interval = flags.automation_interval;
    if let Some(poll) = flags.registry_poll_interval {
        if given("automation_interval") {
            warnings.push(
                "--registry-poll-interval is deprecated and overridden by --automation-interval"
                    .into(),
            );
        } else {
            warnings
                .push("--registry-poll-interval is deprecated; use --automation-interval".into());
            automation_interval = poll;
        }
    }
    if automation_interval.is_zero() {
        return Err(ConfigError::invalid(
            "automation-interval",
            "must be more than zero",
        ));
    }
    if !(flags.registry_rps.is_finite() && flags.registry_rps > 0.0) {
        return Err(ConfigError::invalid(
            "registry-rps",
            format!("{} must be a number above zero", flags.registry_rps),
        ));
    }
    if flags.registry_burst == 0 {
        return Err(ConfigError::invalid("registry-burst", "must be at least 1"));
    }
    let require = non_empty(&flags.registry_require);
    if let Some(bad) = require.iter().find(|r| r.as_str() != "ecr") {
        return Err(ConfigError::invalid(
            "registry-require",
            format!("{bad:?} is not one of the possible values {{ecr}}"),
        ));
    }
    for (flag, globs) in [
        ("registry-exclude-image", &flags.registry_exclude_image),
        ("registry-include-image", &flags.registry_include_image),
        ("registry-use-labels", &flags.registry_use_labels),
    ] {
        for g in non_empty(globs) {
            globset::Glob::new(&g)
                .map_err(|e| ConfigError::invalid(flag, format!("{g:?}: {e}")))?;
        }
    }
    let docker_config = match flags.docker_config.trim() {
        "" => None,
        path => {
            let path = PathBuf::from(path);
            if !path.is_file() {
                return Err(ConfigError::invalid(
                    "docker-config",
                    format!("{} is not a readable file", path.display()),
                ));
            }
            Some(path)
        }
    };
    Ok(RegistrySettings {
        disabled: flags.registry_disable_scanning,
        automation_interval,
        rps: flags.registry_rps,
        burst: flags.registry_burst,
        trace: flags.registry_trace,
        insecure_hosts: non_empty(&flags.registry_insecure_host),
        exclude_images: non_empty(&flags.registry_exclude_image),
        include_images: non_empty(&flags.registry_include_image),
        use_labels: non_empty(&flags.registry_use_labels),
        ecr_regions: non_empty(&flags.registry_ecr_region),
        ecr_include_ids: non_empty(&flags.registry_ecr_include_id),
        ecr_exclude_ids: non_empty(&flags.registry_ecr_exclude_id),
        require,
        docker_config,
    })
}

fn kube_settings(flags: &Flags) -> Result<KubeSettings, ConfigError> {
    let mut allowed = non_empty(&flags.k8s_allow_namespace);
    allowed.extend(non_empty(&flags.k8s_namespace_whitelist));
    allowed.sort();
    allowed.dedup();
    for ns in &allowed {
        check_dns_label("k8s-allow-namespace", ns)?;
    }
    let default_namespace = match flags.k8s_default_namespace.trim() {
        "" => None,
        ns => {
            check_dns_label("k8s-default-namespace", ns)?;
            Some(ns.to_owned())
        }
    };
    if flags.k8s_secret_name.trim().is_empty() {
        return Err(ConfigError::invalid("k8s-secret-name", "must not be empty"));
    }
    if flags.k8s_secret_data_key.trim().is_empty() {
        return Err(ConfigError::invalid(
            "k8s-secret-data-key",
            "must not be empty",
        ));
    }
    if flags.k8s_verbosity > 10 {
        return Err(ConfigError::invalid(
            "k8s-verbosity",
            "must be between 0 and 10",
        ));
    }
    for g in non_empty(&flags.k8s_unsafe_exclude_resource) {
        globset::Glob::new(&g).map_err(|e| {
            ConfigError::invalid("k8s-unsafe-exclude-resource", format!("{g:?}: {e}"))
        })?;
    }
    Ok(KubeSettings {
        secret_name: flags.k8s_secret_name.clone(),
        secret_mount_path: flags.k8s_secret_volume_mount_path.clone(),
        secret_data_key: flags.k8s_secret_data_key.clone(),
        namespaces: Namespaces::from_list(&allowed),
        default_namespace,
        exclude_resources: non_empty(&flags.k8s_unsafe_exclude_resource),
        verbosity: flags.k8s_verbosity,
        kubeconfig: flags.kube_config.clone(),
    })
}

fn ssh_settings(flags: &Flags) -> SshSettings {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let mut known_hosts = flags.ssh_known_hosts.clone();
    if let Some(home_known) = home.as_ref().map(|h| h.join(".ssh/known_hosts"))
        && home_known.is_file()
        && !known_hosts.contains(&home_known)
    {
        known_hosts.push(home_known);
    }
    let ssh_config = home.map(|h| h.join(".ssh/config")).filter(|p| p.is_file());
    SshSettings {
        keygen_bits: flags.ssh_keygen_bits,
        keygen_type: flags.ssh_keygen_type.clone(),
        keygen_format: flags.ssh_keygen_format.clone(),
        keygen_dir: match flags.ssh_keygen_dir.trim() {
            "" => None,
            dir => Some(PathBuf::from(dir)),
        },
        known_hosts,
        ssh_config,
    }
}

/// Go's `net.Listen` forms: `:3030` (every interface), `host:port`.
fn parse_listen(flag: &str, addr: &str) -> Result<SocketAddr, ConfigError> {
    let addr = addr.trim();
    let full = if addr.starts_with(':') {
        format!("0.0.0.0{addr}")
    } else {
        addr.to_owned()
    };
    full.to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| {
            ConfigError::invalid(
                flag,
                format!("{addr:?} is not an address to listen on (e.g. :3030 or 127.0.0.1:3030)"),
            )
        })
}

fn read_secret_file(flag: &str, path: Option<&PathBuf>) -> Result<Option<String>, ConfigError> {
    let Some(path) = path else { return Ok(None) };
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::invalid(flag, format!("{}: {e}", path.display())))?;
    let secret = text.trim();
    if secret.is_empty() {
        return Err(ConfigError::invalid(
            flag,
            format!("{} is empty", path.display()),
        ));
    }
    Ok(Some(secret.to_owned()))
}

fn check_dns_label(flag: &str, name: &str) -> Result<(), ConfigError> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(ConfigError::invalid(
            flag,
            format!("{name:?} is not a namespace name (lower-case letters, digits and '-')"),
        ))
    }
}

fn non_empty(list: &[String]) -> Vec<String> {
    list.iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}
