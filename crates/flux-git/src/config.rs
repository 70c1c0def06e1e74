//! fluxd's git settings: Flux v1's flags and defaults, validated once.
//!
//! [`GitFlags`] holds the `--git-…` flags as given (with Flux v1's defaults);
//! [`GitConfig::from_flags`] checks them and resolves the flags that
//! interact: `--git-label` replaces both the sync tag and the notes ref, and
//! `--git-ci-skip` means `--git-ci-skip-message="\n\n[ci skip]"` unless a
//! message is given.

use std::time::Duration;

use crate::error::Error;
use crate::url::Remote;

/// `--git-branch` default (Flux v1's).
pub const DEFAULT_BRANCH: &str = "master";
/// `--git-sync-tag` default.
pub const DEFAULT_SYNC_TAG: &str = "flux-sync";
/// `--git-notes-ref` default.
pub const DEFAULT_NOTES_REF: &str = "flux";
/// `--git-user` default.
pub const DEFAULT_USER: &str = "Weave Flux";
/// `--git-email` default.
pub const DEFAULT_EMAIL: &str = "support@weave.works";
/// What `--git-ci-skip` appends to commit messages.
pub const DEFAULT_SKIP_MESSAGE: &str = "\n\n[ci skip]";
/// `--git-poll-interval` default.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(5 * 60);
/// `--git-timeout` default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);
/// How many times an edit is applied and pushed before giving up when other
/// writers keep moving the branch (not a Flux v1 flag: v1 did not retry).
pub const DEFAULT_PUSH_ATTEMPTS: u32 = 5;

/// A name and email, as in a commit's author or committer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    /// The name.
    pub name: String,
    /// The email.
    pub email: String,
}

impl Person {
    /// A person, checked: names and emails cannot hold `<`, `>` or line
    /// breaks (git would write a corrupt header).
    pub fn new(name: &str, email: &str) -> Result<Self, String> {
        let bad = |s: &str| s.contains(['<', '>', '\n', '\r', '\0']);
        if name.trim().is_empty() {
            return Err("the name is empty".into());
        }
        if bad(name) || bad(email) {
            return Err("names and emails cannot contain '<', '>' or line breaks".into());
        }
        Ok(Person {
            name: name.trim().to_owned(),
            email: email.trim().to_owned(),
        })
    }

    /// Reads `Name <email>` (what `fluxctl --user` sends). A bare name gets
    /// `default_email`; Flux v1 passed it to `git commit --author`, which
    /// failed the commit when no earlier author matched.
    ///
    /// ```
    /// use flux_git::Person;
    /// let me = Person::new("Weave Flux", "support@weave.works").unwrap();
    /// assert_eq!(Person::parse("Jane Doe <jane@example.com>", &me.email).unwrap(),
    ///            Person::new("Jane Doe", "jane@example.com").unwrap());
    /// assert_eq!(Person::parse("jane", &me.email).unwrap().email, "support@weave.works");
    /// ```
    pub fn parse(spec: &str, default_email: &str) -> Result<Self, String> {
        let spec = spec.trim();
        match (spec.find('<'), spec.ends_with('>')) {
            (Some(open), true) => Person::new(&spec[..open], &spec[open + 1..spec.len() - 1]),
            (None, _) => Person::new(spec, default_email),
            _ => Err(format!("{spec:?} is not `Name <email>`")),
        }
    }
}

/// Which commits must carry a valid signature (`--git-verify-signatures-mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VerifyMode {
    /// No verification (Flux v1's default).
    #[default]
    None,
    /// Every commit between the sync tag and the head.
    All,
    /// Only commits on the first-parent chain.
    FirstParent,
}

impl VerifyMode {
    /// Reads a mode the way Flux v1 did: `""` and `none`, `all`,
    /// `first-parent`; the deprecated `--git-verify-signatures` means `all`
    /// unless a mode is given.
    pub fn from_flags(deprecated_verify: bool, mode: Option<&str>) -> Result<Self, Error> {
        match mode {
            None if deprecated_verify => Ok(VerifyMode::All),
            None | Some("") | Some("none") => Ok(VerifyMode::None),
            Some("all") => Ok(VerifyMode::All),
            Some("first-parent") => Ok(VerifyMode::FirstParent),
            Some(other) => Err(Error::InvalidConfig {
                flag: "git-verify-signatures-mode",
                value: other.to_owned(),
                reason: "must be one of none, all, first-parent".into(),
            }),
        }
    }
}

/// fluxd's git flags as given, with Flux v1's names and defaults.
#[derive(Debug, Clone)]
pub struct GitFlags {
    /// `--git-url`.
    pub url: String,
    /// `--git-branch` (`master`).
    pub branch: String,
    /// `--git-path` (the repository root when empty).
    pub paths: Vec<String>,
    /// `--git-readonly`.
    pub readonly: bool,
    /// `--git-user` (`Weave Flux`).
    pub user: String,
    /// `--git-email` (`support@weave.works`).
    pub email: String,
    /// `--git-set-author`.
    pub set_author: bool,
    /// `--git-label`, when given: replaces both the sync tag and notes ref.
    pub label: Option<String>,
    /// `--git-sync-tag` (`flux-sync`).
    pub sync_tag: String,
    /// `--git-notes-ref` (`flux`).
    pub notes_ref: String,
    /// `--git-ci-skip`.
    pub ci_skip: bool,
    /// `--git-ci-skip-message` (empty).
    pub ci_skip_message: String,
    /// `--git-poll-interval` (5m).
    pub poll_interval: Duration,
    /// `--git-timeout` (20s).
    pub timeout: Duration,
    /// `--git-signing-key` (empty: no signing).
    pub signing_key: String,
    /// `--git-verify-signatures` (deprecated).
    pub verify_signatures: bool,
    /// `--git-verify-signatures-mode`, when given.
    pub verify_signatures_mode: Option<String>,
}

impl Default for GitFlags {
    fn default() -> Self {
        GitFlags {
            url: String::new(),
            branch: DEFAULT_BRANCH.into(),
            paths: Vec::new(),
            readonly: false,
            user: DEFAULT_USER.into(),
            email: DEFAULT_EMAIL.into(),
            set_author: false,
            label: None,
            sync_tag: DEFAULT_SYNC_TAG.into(),
            notes_ref: DEFAULT_NOTES_REF.into(),
            ci_skip: false,
            ci_skip_message: String::new(),
            poll_interval: DEFAULT_POLL_INTERVAL,
            timeout: DEFAULT_TIMEOUT,
            signing_key: String::new(),
            verify_signatures: false,
            verify_signatures_mode: None,
        }
    }
}

/// Validated git settings.
#[derive(Debug, Clone)]
pub struct GitConfig {
    /// The remote.
    pub remote: Remote,
    /// The branch to sync and commit to.
    pub branch: String,
    /// Normalised `--git-path`s (`""` is the root).
    pub paths: Vec<String>,
    /// Never push (no commits, no sync tag).
    pub readonly: bool,
    /// Committer of Flux's commits, and tagger of the sync tag.
    pub committer: Person,
    /// Whether commits name the user who asked for them as the author.
    pub set_author: bool,
    /// The sync tag (`flux-sync`, or the `--git-label`).
    pub sync_tag: String,
    /// The notes ref (`flux`, or the `--git-label`).
    pub notes_ref: String,
    /// Appended verbatim to every commit message (empty for none).
    pub skip_message: String,
    /// How often to fetch.
    pub poll_interval: Duration,
    /// Bound on each network operation.
    pub timeout: Duration,
    /// GPG key to sign commits and the sync tag with, if any.
    pub signing_key: Option<String>,
    /// Which commits must be signed.
    pub verify: VerifyMode,
    /// How many times an edit is applied and pushed before giving up.
    pub push_attempts: u32,
    /// GnuPG home for signing and verification (`$GNUPGHOME`, or
    /// `~/.gnupg`, when `None`); where `--git-gpg-key-import` puts keys.
    pub gnupg_home: Option<std::path::PathBuf>,
}

impl GitConfig {
    /// Validates `flags`.
    ///
    /// ```
    /// use flux_git::{GitConfig, GitFlags};
    /// let config = GitConfig::from_flags(&GitFlags {
    ///     url: "git@github.com:org/config".into(),
    ///     label: Some("flux-prod".into()),
    ///     ci_skip: true,
    ///     ..GitFlags::default()
    /// }).unwrap();
    /// assert_eq!(config.branch, "master");
    /// assert_eq!(config.sync_tag, "flux-prod");
    /// assert_eq!(config.notes_ref, "flux-prod");
    /// assert_eq!(config.skip_message, "\n\n[ci skip]");
    /// ```
    pub fn from_flags(flags: &GitFlags) -> Result<Self, Error> {
        let remote = Remote::parse(&flags.url)?;
        check_ref_component("git-branch", &flags.branch, "refs/heads/")?;
        let (sync_tag, notes_ref, tag_flag) = match &flags.label {
            Some(label) => (label.clone(), label.clone(), "git-label"),
            None => (
                flags.sync_tag.clone(),
                flags.notes_ref.clone(),
                "git-sync-tag",
            ),
        };
        check_ref_component(tag_flag, &sync_tag, "refs/tags/")?;
        check_ref_component(
            if flags.label.is_some() {
                "git-label"
            } else {
                "git-notes-ref"
            },
            &notes_ref,
            "refs/notes/",
        )?;
        let paths = flux_core::manifest::normalize_git_paths(&flags.paths).map_err(|e| {
            Error::InvalidConfig {
                flag: "git-path",
                value: flags.paths.join(","),
                reason: e.to_string(),
            }
        })?;
        let committer =
            Person::new(&flags.user, &flags.email).map_err(|reason| Error::InvalidConfig {
                flag: "git-user",
                value: format!("{} <{}>", flags.user, flags.email),
                reason,
            })?;
        let skip_message = if flags.ci_skip_message.is_empty() && flags.ci_skip {
            DEFAULT_SKIP_MESSAGE.to_owned()
        } else {
            flags.ci_skip_message.clone()
        };
        let signing_key = match flags.signing_key.trim() {
            "" => None,
            key => {
                check_signing_key(key)?;
                Some(key.to_owned())
            }
        };
        let config = GitConfig {
            remote,
            branch: flags.branch.clone(),
            paths,
            readonly: flags.readonly,
            committer,
            set_author: flags.set_author,
            sync_tag,
            notes_ref,
            skip_message,
            poll_interval: flags.poll_interval,
            timeout: flags.timeout,
            signing_key,
            verify: VerifyMode::from_flags(
                flags.verify_signatures,
                flags.verify_signatures_mode.as_deref(),
            )?,
            push_attempts: DEFAULT_PUSH_ATTEMPTS,
            gnupg_home: None,
        };
        config.validate()?;
        Ok(config)
    }

    /// Checks settings as they are now. The fields are public, so a value
    /// changed after [`GitConfig::from_flags`] is checked again here (and
    /// by [`Repo::new`](crate::Repo::new)) before it can reach git or a
    /// commit header: ref names must be valid and cannot start with `-`,
    /// nor can the signing key; names and emails cannot break a header;
    /// paths stay inside the repository; durations are not zero.
    pub fn validate(&self) -> Result<(), Error> {
        check_ref_component("git-branch", &self.branch, "refs/heads/")?;
        check_ref_component("git-sync-tag", &self.sync_tag, "refs/tags/")?;
        check_ref_component("git-notes-ref", &self.notes_ref, "refs/notes/")?;
        if let Some(key) = &self.signing_key {
            check_signing_key(key)?;
        }
        Person::new(&self.committer.name, &self.committer.email).map_err(|reason| {
            Error::InvalidConfig {
                flag: "git-user",
                value: format!("{} <{}>", self.committer.name, self.committer.email),
                reason,
            }
        })?;
        flux_core::manifest::normalize_git_paths(&self.paths).map_err(|e| {
            Error::InvalidConfig {
                flag: "git-path",
                value: self.paths.join(","),
                reason: e.to_string(),
            }
        })?;
        for (flag, d) in [
            ("git-timeout", self.timeout),
            ("git-poll-interval", self.poll_interval),
        ] {
            if d.is_zero() {
                return Err(Error::InvalidConfig {
                    flag,
                    value: "0s".into(),
                    reason: "must be more than zero".into(),
                });
            }
        }
        Ok(())
    }

    /// `refs/heads/<branch>`.
    pub fn branch_ref(&self) -> String {
        format!("refs/heads/{}", self.branch)
    }

    /// `refs/tags/<sync tag>`.
    pub fn sync_tag_ref(&self) -> String {
        format!("refs/tags/{}", self.sync_tag)
    }
}

fn check_signing_key(key: &str) -> Result<(), Error> {
    if key.is_empty() || key.starts_with('-') || key.contains(char::is_whitespace) {
        return Err(Error::InvalidConfig {
            flag: "git-signing-key",
            value: key.to_owned(),
            reason: "a key ID or fingerprint cannot be empty, start with '-' or contain spaces"
                .into(),
        });
    }
    Ok(())
}

fn check_ref_component(flag: &'static str, value: &str, prefix: &str) -> Result<(), Error> {
    let invalid = |reason: String| Error::InvalidConfig {
        flag,
        value: value.to_owned(),
        reason,
    };
    if value.is_empty() {
        return Err(invalid("it is empty".into()));
    }
    if value.starts_with('-') {
        return Err(invalid("it cannot start with '-'".into()));
    }
    gix::refs::FullName::try_from(format!("{prefix}{value}"))
        .map(|_| ())
        .map_err(|e| invalid(format!("not a valid git ref name: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags() -> GitFlags {
        GitFlags {
            url: "ssh://git@example.com/org/repo".into(),
            ..GitFlags::default()
        }
    }

    #[test]
    fn defaults_are_flux_v1s() {
        let c = GitConfig::from_flags(&flags()).unwrap();
        assert_eq!(c.branch, "master");
        assert_eq!(c.paths, [""]);
        assert_eq!(c.sync_tag, "flux-sync");
        assert_eq!(c.notes_ref, "flux");
        assert_eq!(
            c.committer,
            Person::new("Weave Flux", "support@weave.works").unwrap()
        );
        assert_eq!(c.skip_message, "");
        assert_eq!(c.poll_interval, Duration::from_secs(300));
        assert_eq!(c.timeout, Duration::from_secs(20));
        assert_eq!(c.signing_key, None);
        assert_eq!(c.verify, VerifyMode::None);
        assert!(!c.readonly && !c.set_author);
    }

    #[test]
    fn label_overrides_tag_and_notes_ref() {
        let c = GitConfig::from_flags(&GitFlags {
            label: Some("staging".into()),
            sync_tag: "ignored".into(),
            ..flags()
        })
        .unwrap();
        assert_eq!(
            (c.sync_tag.as_str(), c.notes_ref.as_str()),
            ("staging", "staging")
        );
    }

    #[test]
    fn ci_skip_message_rules() {
        for (skip, message, want) in [
            (false, "", ""),
            (true, "", "\n\n[ci skip]"),
            (true, " [skip ci]", " [skip ci]"),
            (false, " [skip ci]", " [skip ci]"),
        ] {
            let c = GitConfig::from_flags(&GitFlags {
                ci_skip: skip,
                ci_skip_message: message.into(),
                ..flags()
            })
            .unwrap();
            assert_eq!(c.skip_message, want, "{skip} {message:?}");
        }
    }

    #[test]
    fn verify_modes() {
        for (deprecated, mode, want) in [
            (false, None, Some(VerifyMode::None)),
            (true, None, Some(VerifyMode::All)),
            (true, Some("none"), Some(VerifyMode::None)),
            (false, Some(""), Some(VerifyMode::None)),
            (false, Some("all"), Some(VerifyMode::All)),
            (false, Some("first-parent"), Some(VerifyMode::FirstParent)),
            (false, Some("some"), None),
        ] {
            assert_eq!(
                VerifyMode::from_flags(deprecated, mode).ok(),
                want,
                "{deprecated} {mode:?}"
            );
        }
    }

    #[test]
    fn bad_flags_name_the_flag() {
        for (f, flag) in [
            (
                GitFlags {
                    branch: "a..b".into(),
                    ..flags()
                },
                "--git-branch",
            ),
            (
                GitFlags {
                    branch: "-x".into(),
                    ..flags()
                },
                "--git-branch",
            ),
            (
                GitFlags {
                    sync_tag: "bad tag".into(),
                    ..flags()
                },
                "--git-sync-tag",
            ),
            (
                GitFlags {
                    label: Some("x~y".into()),
                    ..flags()
                },
                "--git-label",
            ),
            (
                GitFlags {
                    paths: vec!["../up".into()],
                    ..flags()
                },
                "--git-path",
            ),
            (
                GitFlags {
                    user: "a <b>".into(),
                    ..flags()
                },
                "--git-user",
            ),
            (
                GitFlags {
                    signing_key: "--exec=x".into(),
                    ..flags()
                },
                "--git-signing-key",
            ),
            (
                GitFlags {
                    timeout: Duration::ZERO,
                    ..flags()
                },
                "--git-timeout",
            ),
            (
                GitFlags {
                    url: "".into(),
                    ..flags()
                },
                "git URL",
            ),
        ] {
            let err = GitConfig::from_flags(&f).unwrap_err().to_string();
            assert!(err.contains(flag), "{flag}: {err}");
        }
    }

    #[test]
    fn person_parsing() {
        for (spec, want) in [
            ("Jane <jane@x.io>", Some(("Jane", "jane@x.io"))),
            ("  Jane Doe   <jane@x.io> ", Some(("Jane Doe", "jane@x.io"))),
            ("jane", Some(("jane", "flux@x.io"))),
            ("Jane <jane@x.io", None),
            ("<jane@x.io>", None),
            ("Ja<ne <j@x.io>", None),
        ] {
            let got = Person::parse(spec, "flux@x.io").ok();
            assert_eq!(
                got.as_ref().map(|p| (p.name.as_str(), p.email.as_str())),
                want,
                "{spec:?}"
            );
        }
    }
}
