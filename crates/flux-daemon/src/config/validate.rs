//! Checks of flag values and combinations, each refusal naming its flag.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

use flux_core::Namespaces;
use flux_git::{GitConfig, GitFlags};

use super::{
    ConfigError, Flags, GitSettings, HaSettings, KubeSettings, RegistrySettings, SshSettings,
};

/// Flags of Flux v1 whose feature is not here: refused rather than
/// silently doing something else.
pub(super) fn refuse_unsupported(flags: &Flags) -> Result<(), ConfigError> {
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

pub(super) fn deprecations(
    flags: &Flags,
    given: &dyn Fn(&str) -> bool,
    warnings: &mut Vec<String>,
) {
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

pub(super) fn git_settings(
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
    let git_flags = git_flags(flags, url.to_owned(), paths.clone());
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

/// The git flags for a repository at `url` with `paths` (the sources file
/// starts from these too, with its own url, paths and labels).
pub(super) fn git_flags(flags: &Flags, url: String, paths: Vec<String>) -> GitFlags {
    let verify_mode = match flags.git_verify_signatures_mode.as_str() {
        "" if flags.git_verify_signatures => Some("all".to_owned()),
        "" => None,
        mode => Some(mode.to_owned()),
    };
    GitFlags {
        url,
        branch: flags.git_branch.clone(),
        paths,
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
    }
}

pub(super) fn registry_settings(
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

pub(super) fn kube_settings(flags: &Flags) -> Result<KubeSettings, ConfigError> {
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

pub(super) fn ssh_settings(flags: &Flags) -> Result<SshSettings, ConfigError> {
    let keygen = flux_git::KeySpec::from_flags(
        flags.ssh_keygen_type.as_deref(),
        flags.ssh_keygen_bits,
        &flags.ssh_keygen_format,
    )
    .map_err(|e| match e {
        flux_git::Error::InvalidConfig {
            flag,
            value,
            reason,
        } => ConfigError::invalid(flag, format!("{value:?}: {reason}")),
        other => ConfigError::invalid("ssh-keygen-type", other.to_string()),
    })?;
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let mut known_hosts = flags.ssh_known_hosts.clone();
    if let Some(home_known) = home.as_ref().map(|h| h.join(".ssh/known_hosts"))
        && home_known.is_file()
        && !known_hosts.contains(&home_known)
    {
        known_hosts.push(home_known);
    }
    let ssh_config = home.map(|h| h.join(".ssh/config")).filter(|p| p.is_file());
    Ok(SshSettings {
        keygen,
        keygen_dir: match flags.ssh_keygen_dir.trim() {
            "" => None,
            dir => Some(PathBuf::from(dir)),
        },
        known_hosts,
        ssh_config,
    })
}

/// Go's `net.Listen` forms: `:3030` (every interface), `host:port`.
pub(super) fn parse_listen(flag: &str, addr: &str) -> Result<SocketAddr, ConfigError> {
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

pub(super) fn read_secret_file(
    flag: &str,
    path: Option<&PathBuf>,
) -> Result<Option<String>, ConfigError> {
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

/// A DNS label: 1-63 lower-case letters, digits and '-', not at either end.
fn is_dns_label(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

/// A DNS subdomain (most objects' names): DNS labels joined by '.', at
/// most 253 characters.
pub(crate) fn is_dns_subdomain(name: &str) -> bool {
    !name.is_empty() && name.len() <= 253 && name.split('.').all(is_dns_label)
}

pub(crate) fn check_dns_label(flag: &str, name: &str) -> Result<(), ConfigError> {
    if is_dns_label(name) {
        Ok(())
    } else {
        Err(ConfigError::invalid(
            flag,
            format!("{name:?} is not a namespace name (lower-case letters, digits and '-')"),
        ))
    }
}

/// `--ha` and its settings, checked: renewals come before the deadline and
/// the deadline before the Lease expires, so a replica has stopped writing
/// before another may take its Lease.
pub(super) fn ha_settings(flags: &Flags) -> Result<Option<HaSettings>, ConfigError> {
    if !flags.ha {
        return Ok(None);
    }
    let replica_id = match flags.ha_replica_id.trim() {
        "" => std::env::var("POD_NAME")
            .ok()
            .filter(|n| !n.trim().is_empty())
            .or_else(host_name)
            .unwrap_or_default(),
        id => id.to_owned(),
    };
    // It ends the membership Lease's name (`fluxd-replica-<id>`).
    if replica_id.len() > 63 || !is_dns_subdomain(&replica_id) {
        return Err(ConfigError::invalid(
            "ha-replica-id",
            format!(
                "{replica_id:?} cannot name a Lease (1-63 lower-case letters, digits, '-' and '.'); set --ha-replica-id or POD_NAME"
            ),
        ));
    }
    let (duration, interval, deadline) = (
        flags.ha_lease_duration,
        flags.ha_renew_interval,
        flags.ha_renew_deadline,
    );
    if duration < std::time::Duration::from_secs(1) {
        return Err(ConfigError::invalid(
            "ha-lease-duration",
            "must be at least 1s (Leases count whole seconds)",
        ));
    }
    if duration.subsec_nanos() != 0 {
        return Err(ConfigError::invalid(
            "ha-lease-duration",
            "must be whole seconds (Leases count whole seconds)",
        ));
    }
    if deadline >= duration {
        return Err(ConfigError::invalid(
            "ha-renew-deadline",
            "must be shorter than --ha-lease-duration, so a replica stops writing before another may take its Lease",
        ));
    }
    if interval.is_zero() || interval >= deadline {
        return Err(ConfigError::invalid(
            "ha-renew-interval",
            "must be above zero and shorter than --ha-renew-deadline, so a renewal can land before the deadline",
        ));
    }
    Ok(Some(HaSettings {
        replica_id,
        lease_duration: duration,
        renew_interval: interval,
        renew_deadline: deadline,
    }))
}

fn host_name() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_ascii_lowercase())
        .filter(|h| !h.is_empty())
}

fn non_empty(list: &[String]) -> Vec<String> {
    list.iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}
