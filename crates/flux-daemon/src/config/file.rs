//! The sources file (`--config fluxd.yaml`, this project's addition): the
//! repositories one fluxd syncs, each its own sync set (GC mark), sync tag,
//! job queue and loop.
//!
//! ```yaml
//! sources:
//! - name: apps                     # a DNS label, unique
//!   url: ssh://git@example.com/team/apps
//!   branch: main                   # default: --git-branch
//!   paths: [deploy]                # default: the repository root
//!   label: flux-apps               # or syncTag / notesRef
//!   secretName: flux-git-deploy-apps   # deploy key; default: --k8s-secret-name
//!   allowNamespaces: [apps]        # default: --k8s-allow-namespace
//!   syncInterval: 2m               # default: --sync-interval
//!   garbageCollection: true        # default: --sync-garbage-collection
//! ```
//!
//! Reading is strict: an unknown key, a value of the wrong type, a
//! duplicate name or sync set, or a value the matching flag would refuse is
//! an error naming the file, the line and the key. Keys not given take the
//! value of the matching flag, so settings shared by every source (commit
//! author, intervals, GC) can stay on the command line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use flux_core::Namespaces;
use flux_core::sync::GcMode;
use flux_git::GitFlags;
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::{ConfigError, GitSettings, check_dns_label, is_dns_subdomain, parse_duration};

/// The name of the source `--git-url` makes.
pub const DEFAULT_SOURCE: &str = "default";

/// Where a source's deploy key comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySettings {
    /// The Secret in fluxd's namespace holding it (and where a generated
    /// key is stored).
    pub secret_name: String,
    /// The key in the Secret's data.
    pub data_key: String,
    /// Where the Secret is mounted, if it is (else it is read through the API).
    pub mount_path: Option<PathBuf>,
}

/// One repository fluxd syncs, validated.
#[derive(Debug, Clone)]
pub struct SourceSettings {
    /// Its name (`default` for `--git-url`'s).
    pub name: String,
    /// The repository.
    pub git: GitSettings,
    /// The namespaces it may touch.
    pub namespaces: Namespaces,
    /// How often it is synced without a new commit.
    pub sync_interval: Duration,
    /// How often automation runs for it.
    pub automation_interval: Duration,
    /// Garbage collection of its sync set.
    pub gc: GcMode,
    /// Its deploy key.
    pub key: KeySettings,
}

/// What a source takes from the flags when the file does not say.
#[derive(Debug, Clone)]
pub struct SourceDefaults {
    /// The git flags (branch, author, intervals, signing…); `url`, `paths`
    /// and the labels are the file's.
    pub git: GitFlags,
    /// `--k8s-allow-namespace`.
    pub namespaces: Vec<String>,
    /// `--sync-interval`.
    pub sync_interval: Duration,
    /// `--automation-interval`.
    pub automation_interval: Duration,
    /// `--sync-garbage-collection(-dry)`.
    pub gc: GcMode,
    /// `--k8s-secret-name`, `--k8s-secret-data-key`, `--k8s-secret-volume-mount-path`.
    pub key: KeySettings,
    /// `--git-gpg-key-import`.
    pub gpg_imports: Vec<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    sources: Spanned<Vec<Spanned<RawSource>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawSource {
    name: Spanned<String>,
    url: Spanned<String>,
    #[serde(default)]
    branch: Option<Spanned<String>>,
    #[serde(default)]
    paths: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    readonly: Option<bool>,
    #[serde(default)]
    label: Option<Spanned<String>>,
    #[serde(default)]
    sync_tag: Option<Spanned<String>>,
    #[serde(default)]
    notes_ref: Option<Spanned<String>>,
    #[serde(default)]
    user: Option<Spanned<String>>,
    #[serde(default)]
    email: Option<Spanned<String>>,
    #[serde(default)]
    secret_name: Option<Spanned<String>>,
    #[serde(default)]
    secret_data_key: Option<Spanned<String>>,
    #[serde(default)]
    secret_mount_path: Option<Spanned<String>>,
    #[serde(default)]
    allow_namespaces: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    sync_interval: Option<Spanned<String>>,
    #[serde(default)]
    git_poll_interval: Option<Spanned<String>>,
    #[serde(default)]
    automation_interval: Option<Spanned<String>>,
    #[serde(default)]
    garbage_collection: Option<bool>,
    #[serde(default)]
    garbage_collection_dry_run: Option<bool>,
}

/// Reads and validates the sources file at `path`.
pub fn read(path: &Path, defaults: &SourceDefaults) -> Result<Vec<SourceSettings>, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::File {
        path: path.to_owned(),
        line: 0,
        key: String::new(),
        message: e.to_string(),
    })?;
    parse(path, &text, defaults)
}

/// Validates the text of a sources file (`path` is for messages).
pub fn parse(
    path: &Path,
    text: &str,
    defaults: &SourceDefaults,
) -> Result<Vec<SourceSettings>, ConfigError> {
    let err = |line: u64, key: &str, message: String| ConfigError::File {
        path: path.to_owned(),
        line,
        key: key.to_owned(),
        message,
    };
    let raw: RawFile = serde_saphyr::from_str(text).map_err(|e| {
        let line = e.location().map_or(0, |l| l.line());
        let message = e.to_string();
        // The message may carry a snippet of the file: the first line says it.
        let first = message.lines().next().unwrap_or_default().to_owned();
        err(line, "", first)
    })?;
    if raw.sources.value.is_empty() {
        return Err(err(
            raw.sources.referenced.line(),
            "sources",
            "lists no source; give at least one, or use --git-url".into(),
        ));
    }
    let mut out: Vec<SourceSettings> = Vec::new();
    let mut names: BTreeMap<String, u64> = BTreeMap::new();
    let mut sync_sets: BTreeMap<String, (String, u64)> = BTreeMap::new();
    let mut tags: BTreeMap<(String, String), (String, u64)> = BTreeMap::new();
    for entry in &raw.sources.value {
        let line = entry.referenced.line();
        let s = &entry.value;
        let name = s.name.value.trim().to_owned();
        let name_line = s.name.referenced.line();
        check_dns_label("name", &name).map_err(|_| {
            err(
                name_line,
                "name",
                format!(
                    "{name:?} is not a DNS label (lower-case letters, digits and '-', at most 63)"
                ),
            )
        })?;
        if let Some(first) = names.insert(name.clone(), name_line) {
            return Err(err(
                name_line,
                "name",
                format!("{name:?} is already the name of the source at line {first}"),
            ));
        }
        let at = |key: &str, line: u64, message: String| {
            err(line, key, format!("source {name:?}: {message}"))
        };
        let duration = |key: &str, v: &Option<Spanned<String>>, default: Duration| match v {
            None => Ok(default),
            Some(v) => match parse_duration(&v.value) {
                Ok(d) if !d.is_zero() => Ok(d),
                Ok(_) => Err(at(
                    key,
                    v.referenced.line(),
                    "must be more than zero".into(),
                )),
                Err(e) => Err(at(key, v.referenced.line(), e.to_string())),
            },
        };
        let url = s.url.value.trim().to_owned();
        if url.is_empty() {
            return Err(at(
                "url",
                s.url.referenced.line(),
                "must not be empty".into(),
            ));
        }
        let paths: Vec<String> = s
            .paths
            .as_ref()
            .map(|p| p.value.iter().filter(|p| !p.is_empty()).cloned().collect())
            .unwrap_or_default();
        let line_of =
            |v: &Option<Spanned<String>>| v.as_ref().map_or(line, |v| v.referenced.line());
        if let Some(p) = paths.iter().find(|p| p.starts_with('/')) {
            let l = s.paths.as_ref().map_or(line, |p| p.referenced.line());
            return Err(at(
                "paths",
                l,
                format!("{p:?}: a path within the repository must not start with '/'"),
            ));
        }
        let value = |v: &Option<Spanned<String>>, default: &str| {
            v.as_ref()
                .map_or_else(|| default.to_owned(), |v| v.value.clone())
        };
        let mut git = defaults.git.clone();
        git.url = url.clone();
        git.branch = value(&s.branch, &git.branch);
        git.paths = paths.clone();
        git.readonly = s.readonly.unwrap_or(git.readonly);
        git.user = value(&s.user, &git.user);
        git.email = value(&s.email, &git.email);
        git.label = s.label.as_ref().map(|l| l.value.clone()).or(git.label);
        git.sync_tag = value(&s.sync_tag, &git.sync_tag);
        git.notes_ref = value(&s.notes_ref, &git.notes_ref);
        git.poll_interval = duration("gitPollInterval", &s.git_poll_interval, git.poll_interval)?;
        let config = flux_git::GitConfig::from_flags(&git).map_err(|e| match e {
            flux_git::Error::InvalidConfig {
                flag,
                value,
                reason,
            } => {
                let (key, l) = match flag {
                    "git-branch" => ("branch", line_of(&s.branch)),
                    "git-path" => (
                        "paths",
                        s.paths.as_ref().map_or(line, |p| p.referenced.line()),
                    ),
                    "git-label" => ("label", line_of(&s.label)),
                    "git-sync-tag" => ("syncTag", line_of(&s.sync_tag)),
                    "git-notes-ref" => ("notesRef", line_of(&s.notes_ref)),
                    "git-user" => ("user", line_of(&s.user)),
                    "git-email" => ("email", line_of(&s.email)),
                    _ => ("", line),
                };
                let shown = if key.is_empty() {
                    format!("(from --{flag}) ")
                } else {
                    String::new()
                };
                at(key, l, format!("{shown}{value:?}: {reason}"))
            }
            flux_git::Error::InvalidUrl { url, reason } => {
                at("url", s.url.referenced.line(), format!("{url:?}: {reason}"))
            }
            other => at("url", s.url.referenced.line(), other.to_string()),
        })?;
        let sync_set = flux_core::sync::SyncSetName::from_git(&url, &config.branch, &paths);
        let set_key = sync_set.as_str().to_owned();
        if let Some((other, l)) = sync_sets.insert(set_key, (name.clone(), line)) {
            return Err(at(
                "url",
                s.url.referenced.line(),
                format!(
                    "same repository, branch and paths as source {other:?} (line {l}): they would be one sync set; merge them"
                ),
            ));
        }
        if !config.readonly
            && let Some((other, l)) =
                tags.insert((url.clone(), config.sync_tag.clone()), (name.clone(), line))
        {
            return Err(at(
                "syncTag",
                line_of(&s.sync_tag),
                format!(
                    "source {other:?} (line {l}) uses the same repository and sync tag {:?}; give each a label or syncTag of its own",
                    config.sync_tag
                ),
            ));
        }
        let namespaces = match &s.allow_namespaces {
            None => defaults.namespaces.clone(),
            Some(list) => {
                let mut v: Vec<String> = list
                    .value
                    .iter()
                    .map(|n| n.trim().to_owned())
                    .filter(|n| !n.is_empty())
                    .collect();
                v.sort();
                v.dedup();
                for ns in &v {
                    check_dns_label("allowNamespaces", ns).map_err(|_| {
                        at(
                            "allowNamespaces",
                            list.referenced.line(),
                            format!("{ns:?} is not a namespace name"),
                        )
                    })?;
                }
                v
            }
        };
        // Either key given: the file decides GC for this source.
        let gc = match (s.garbage_collection, s.garbage_collection_dry_run) {
            (None, None) => defaults.gc,
            (gc, dry) => GcMode::from_flags(gc.unwrap_or(false), dry.unwrap_or(false)),
        };
        let key = match &s.secret_name {
            None => KeySettings {
                data_key: value(&s.secret_data_key, &defaults.key.data_key),
                mount_path: s
                    .secret_mount_path
                    .as_ref()
                    .map(|p| PathBuf::from(&p.value))
                    .or_else(|| defaults.key.mount_path.clone()),
                secret_name: defaults.key.secret_name.clone(),
            },
            Some(secret) => {
                let secret_name = secret.value.trim().to_owned();
                check_secret_name(&secret_name)
                    .map_err(|m| at("secretName", secret.referenced.line(), m))?;
                KeySettings {
                    secret_name,
                    data_key: value(&s.secret_data_key, &defaults.key.data_key),
                    mount_path: s
                        .secret_mount_path
                        .as_ref()
                        .map(|p| PathBuf::from(&p.value)),
                }
            }
        };
        if key.data_key.trim().is_empty() {
            return Err(at(
                "secretDataKey",
                line_of(&s.secret_data_key),
                "must not be empty".into(),
            ));
        }
        out.push(SourceSettings {
            name: name.clone(),
            git: GitSettings {
                config,
                url,
                raw_paths: paths,
                gpg_imports: defaults.gpg_imports.clone(),
            },
            namespaces: Namespaces::from_list(&namespaces),
            sync_interval: duration("syncInterval", &s.sync_interval, defaults.sync_interval)?,
            automation_interval: duration(
                "automationInterval",
                &s.automation_interval,
                defaults.automation_interval,
            )?,
            gc,
            key,
        });
    }
    Ok(out)
}

/// A Secret's name: a DNS subdomain.
fn check_secret_name(name: &str) -> Result<(), String> {
    if is_dns_subdomain(name) {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a Secret name (lower-case letters, digits, '-' and '.')"
        ))
    }
}

/// The namespaces the cluster side must see: every source's, or all when
/// any source may touch all.
pub fn union_namespaces(sources: &[SourceSettings], flags: &Namespaces) -> Namespaces {
    if sources.is_empty() {
        return flags.clone();
    }
    let mut all = std::collections::BTreeSet::new();
    for s in sources {
        match &s.namespaces {
            Namespaces::All => return Namespaces::All,
            Namespaces::Only(set) => all.extend(set.iter().cloned()),
        }
    }
    Namespaces::Only(all)
}
