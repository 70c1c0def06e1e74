//! How git talks ssh: the deploy key, and strict host key checking.
//!
//! flux-git never reads `~/.ssh/config` or `/etc/ssh/ssh_config` by itself:
//! it writes its own `ssh_config` and runs `ssh -F <that file>` (for gix as
//! `core.sshCommand`, for the `git` program as `GIT_SSH_COMMAND`). In that
//! file host key checking is strict and cannot be relaxed, the identity
//! offered is the deploy key (and only it, unless a user's config below
//! names more), and the known hosts are the bundled
//! ones ([`BUNDLED_KNOWN_HOSTS`]: GitHub, GitLab, Bitbucket, Azure DevOps, each
//! checked against its published fingerprints) plus any the user supplies.
//!
//! Flux v1's ssh read `~/.ssh/config`, where its Helm chart mounted the
//! `ssh.config` value (host aliases, a port for an scp-like URL, `ssh.github.com`
//! on port 443, a `ProxyCommand`). A user's ssh config can still be given
//! ([`SshOptions::config`]); it is included after fluxd's own settings, and
//! ssh keeps the first value it reads for each option, so it can add hosts,
//! ports, users and proxies but cannot turn host key checking off, swap the
//! known hosts files or allow prompts.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::Error;

/// Host keys of common git hosts, with the sources they were checked against.
pub const BUNDLED_KNOWN_HOSTS: &str = include_str!("../data/known_hosts");

/// ssh settings of a repository.
#[derive(Debug, Clone)]
pub struct SshOptions {
    /// The deploy key (the mounted `flux-git-deploy` secret's `identity`).
    /// Without one, ssh falls back to its default key files.
    pub identity: Option<PathBuf>,
    /// Extra `known_hosts` files, read on every connection (a mounted
    /// ConfigMap can change them without a restart).
    pub known_hosts: Vec<PathBuf>,
    /// Whether to trust the bundled host keys too (default `true`).
    pub bundled_known_hosts: bool,
    /// A user's `ssh_config` (Flux v1's `/root/.ssh/config`), included
    /// after fluxd's own settings; a missing file is ignored, as ssh does.
    pub config: Option<PathBuf>,
}

impl Default for SshOptions {
    fn default() -> Self {
        SshOptions {
            identity: None,
            known_hosts: Vec::new(),
            bundled_known_hosts: true,
            config: None,
        }
    }
}

/// The written ssh configuration of one repository.
#[derive(Debug, Clone)]
pub(crate) struct SshSetup {
    config: PathBuf,
    dir: PathBuf,
}

impl SshSetup {
    /// Writes `dir/ssh_config` (and `dir/known_hosts.bundled`).
    pub(crate) fn write(
        dir: &Path,
        options: &SshOptions,
        connect_timeout: Duration,
    ) -> Result<Self, Error> {
        fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let mut known_hosts = Vec::new();
        if options.bundled_known_hosts {
            let bundled = dir.join("known_hosts.bundled");
            fs::write(&bundled, BUNDLED_KNOWN_HOSTS).map_err(|e| Error::io(&bundled, e))?;
            known_hosts.push(bundled);
        }
        for path in &options.known_hosts {
            known_hosts.push(absolute("ssh-known-hosts", path)?);
        }
        let identity = options
            .identity
            .as_deref()
            .map(|p| absolute("identity", p))
            .transpose()?;
        let user_config = options
            .config
            .as_deref()
            .map(|p| absolute("ssh-config", p))
            .transpose()?;
        if let Some(path) = user_config
            .as_deref()
            .filter(|p| p.to_string_lossy().contains('\\'))
        {
            return Err(Error::InvalidConfig {
                flag: "ssh-config",
                value: path.to_string_lossy().into_owned(),
                reason: "ssh cannot include a path containing a backslash".into(),
            });
        }
        let text = render_config(
            identity.as_deref(),
            &known_hosts,
            connect_timeout,
            user_config.as_deref(),
        )?;
        let config = dir.join("ssh_config");
        fs::write(&config, text).map_err(|e| Error::io(&config, e))?;
        Ok(SshSetup {
            config,
            dir: dir.to_owned(),
        })
    }

    /// The command git runs for ssh: `ssh -F '<config>'`.
    pub(crate) fn command(&self) -> String {
        format!("ssh -F {}", shell_quote(&self.config.to_string_lossy()))
    }

    /// Where ssh run by gix logs its errors (`-E`): gix would otherwise pass
    /// most of ssh's stderr to fluxd's own stderr instead of the error.
    pub(crate) fn fetch_log(&self) -> PathBuf {
        self.dir.join("fetch.log")
    }

    /// The ssh command for gix fetches, logging to [`SshSetup::fetch_log`].
    pub(crate) fn fetch_command(&self) -> String {
        format!(
            "{} -E {}",
            self.command(),
            shell_quote(&self.fetch_log().to_string_lossy())
        )
    }
}

fn absolute(flag: &'static str, path: &Path) -> Result<PathBuf, Error> {
    let abs = if path.is_absolute() {
        path.to_owned()
    } else {
        std::env::current_dir()
            .map_err(|e| Error::io(path, e))?
            .join(path)
    };
    let text = abs.to_string_lossy();
    if text.contains(['"', '\n', '\r']) {
        return Err(Error::InvalidConfig {
            flag,
            value: text.into_owned(),
            reason: "ssh cannot use a path containing quotes or line breaks".into(),
        });
    }
    Ok(abs)
}

/// A path as an `ssh_config` argument: quoted, with `%` escaped (ssh expands
/// `%` tokens in file names).
fn config_path(path: &Path) -> String {
    format!("\"{}\"", path.to_string_lossy().replace('%', "%%"))
}

fn render_config(
    identity: Option<&Path>,
    known_hosts: &[PathBuf],
    connect_timeout: Duration,
    user_config: Option<&Path>,
) -> Result<String, Error> {
    let mut s = String::from(
        "# Written by fluxd for its git remote. Host key checking is strict and is\n\
         # not meant to be relaxed; add host keys with a known_hosts file instead.\n\
         \n\
         # Azure DevOps offers only ssh-rsa (SHA-1) signatures; allow them for it alone.\n\
         Host ssh.dev.azure.com vs-ssh.visualstudio.com\n\
         \x20 HostkeyAlgorithms +ssh-rsa\n\
         \x20 PubkeyAcceptedAlgorithms +ssh-rsa\n\
         \n\
         Host *\n\
         \x20 StrictHostKeyChecking yes\n\
         \x20 GlobalKnownHostsFile /dev/null\n\
         \x20 UpdateHostKeys no\n\
         \x20 HashKnownHosts no\n\
         \x20 CheckHostIP no\n\
         \x20 VerifyHostKeyDNS no\n\
         \x20 BatchMode yes\n\
         \x20 PasswordAuthentication no\n\
         \x20 KbdInteractiveAuthentication no\n\
         \x20 IdentityAgent none\n\
         \x20 ForwardAgent no\n\
         \x20 ServerAliveInterval 15\n\
         \x20 ServerAliveCountMax 2\n\
         \x20 LogLevel ERROR\n",
    );
    // ssh takes the first value it reads for each option, so these cannot be
    // overridden by anything later.
    let secs = connect_timeout.as_secs().max(1);
    let _ = writeln!(s, "  ConnectTimeout {secs}");
    if known_hosts.is_empty() {
        s.push_str("  UserKnownHostsFile /dev/null\n");
    } else {
        let files: Vec<String> = known_hosts.iter().map(|p| config_path(p)).collect();
        let _ = writeln!(s, "  UserKnownHostsFile {}", files.join(" "));
    }
    if let Some(identity) = identity {
        let _ = writeln!(
            s,
            "  IdentitiesOnly yes\n  IdentityFile {}",
            config_path(identity)
        );
    }
    if let Some(user) = user_config {
        // Last, and in a block of its own: it only fills in what is unset.
        let _ = writeln!(
            s,
            "\n# The user's ssh config (host aliases, ports, proxies).\nMatch all\n  Include {}",
            include_path(user)
        );
    }
    Ok(s)
}

/// A path as an `Include` argument: quoted, and with the characters ssh
/// would glob escaped (backslashes are refused by [`SshSetup::write`]).
fn include_path(path: &Path) -> String {
    let mut out = String::from("\"");
    for c in path.to_string_lossy().chars() {
        if matches!(c, '*' | '?' | '[' | ']') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Single-quotes `s` for a POSIX shell.
pub(crate) fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use sha2::Digest as _;

    #[test]
    fn bundled_keys_match_published_fingerprints() {
        // Every key line must hash to a fingerprint listed in the comment
        // block above it (copied from the host's own documentation).
        let mut published: Vec<String> = Vec::new();
        let mut checked = 0;
        for line in BUNDLED_KNOWN_HOSTS.lines() {
            if let Some(comment) = line.strip_prefix('#') {
                if let Some(fp) = comment
                    .split_whitespace()
                    .find(|w| w.starts_with("SHA256:"))
                {
                    published.push(fp.to_owned());
                }
                continue;
            }
            if line.trim().is_empty() {
                continue;
            }
            let fields: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(fields.len(), 3, "{line}");
            let blob = base64::engine::general_purpose::STANDARD
                .decode(fields[2])
                .unwrap();
            let fp = format!(
                "SHA256:{}",
                base64::engine::general_purpose::STANDARD_NO_PAD
                    .encode(sha2::Sha256::digest(&blob))
            );
            assert!(
                published.contains(&fp),
                "{} {}: {fp} is not a published fingerprint",
                fields[0],
                fields[1]
            );
            checked += 1;
        }
        assert_eq!(checked, 11);
        for host in [
            "github.com",
            "gitlab.com",
            "bitbucket.org",
            "ssh.dev.azure.com",
            "vs-ssh.visualstudio.com",
        ] {
            assert!(
                BUNDLED_KNOWN_HOSTS
                    .lines()
                    .any(|l| l.starts_with(&format!("{host} "))),
                "{host}"
            );
        }
    }

    #[test]
    fn config_is_strict_and_quotes_paths() {
        let text = render_config(
            Some(Path::new("/etc/fluxd/ssh/identity")),
            &[
                PathBuf::from("/state/known_hosts.bundled"),
                PathBuf::from("/etc/ssh/100%/known hosts"),
            ],
            Duration::from_secs(20),
            None,
        )
        .unwrap();
        for want in [
            "StrictHostKeyChecking yes",
            "BatchMode yes",
            "IdentitiesOnly yes",
            "IdentityFile \"/etc/fluxd/ssh/identity\"",
            "UserKnownHostsFile \"/state/known_hosts.bundled\" \"/etc/ssh/100%%/known hosts\"",
            "ConnectTimeout 20",
            "GlobalKnownHostsFile /dev/null",
        ] {
            assert!(text.contains(want), "missing {want:?} in\n{text}");
        }
        assert!(!text.contains("StrictHostKeyChecking no"));
        // No known hosts at all still means strict checking against nothing.
        let none = render_config(None, &[], Duration::from_millis(10), None).unwrap();
        assert!(!none.contains("Include"));
        assert!(none.contains("UserKnownHostsFile /dev/null") && none.contains("ConnectTimeout 1"));
    }

    #[test]
    fn a_user_config_comes_last() {
        let text = render_config(
            None,
            &[],
            Duration::from_secs(5),
            Some(Path::new("/root/.ssh/config")),
        )
        .unwrap();
        let strict = text.find("StrictHostKeyChecking yes").unwrap();
        let include = text.find("Include \"/root/.ssh/config\"").unwrap();
        assert!(strict < include, "{text}");
        assert!(text.trim_end().ends_with("Include \"/root/.ssh/config\""));
        assert_eq!(include_path(Path::new("/a b/c[1]*")), r#""/a b/c\[1\]\*""#);
    }

    #[test]
    fn paths_ssh_cannot_take_are_refused() {
        let err = absolute("ssh-known-hosts", Path::new("/a\"b"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("--ssh-known-hosts"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let options = SshOptions {
            config: Some(PathBuf::from("/etc/ssh\\config")),
            ..SshOptions::default()
        };
        let err = SshSetup::write(dir.path(), &options, Duration::from_secs(1))
            .unwrap_err()
            .to_string();
        assert!(err.contains("--ssh-config"), "{err}");
    }

    #[test]
    fn shell_quoting() {
        assert_eq!(shell_quote("/a b/c"), "'/a b/c'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }
}
