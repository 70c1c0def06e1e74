//! Image registries as flux-core sees them: the `ImageRegistry` seam, the
//! synchronous [`RegistryView`] of a registry cache that release and
//! automation calculations read, and the registry credentials found in
//! Kubernetes pull secrets.
//!
//! Repositories are named by their canonical string form, e.g.
//! `docker.io/library/nginx` or `localhost:5000/team/app`.

use std::collections::BTreeMap;

use base64::Engine as _;
use chrono::{DateTime, Utc};

use crate::image::ImageName;

/// What a registry knows about one tag.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ImageInfo {
    /// Manifest digest (`sha256:…`), if fetched.
    pub digest: Option<String>,
    /// Creation time from the image config, if known.
    pub created: Option<DateTime<Utc>>,
    /// Labels from the image config.
    pub labels: BTreeMap<String, String>,
}

/// A registry request failed.
#[derive(Debug, thiserror::Error)]
#[error("{repository}: {message}")]
pub struct RegistryError {
    /// The repository asked about.
    pub repository: String,
    /// What went wrong.
    pub message: String,
    /// The underlying error.
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

/// Reads tags and image metadata from registries.
#[async_trait::async_trait]
pub trait ImageRegistry: Send + Sync {
    /// All tags of a repository.
    async fn tags(&self, repository: &str) -> Result<Vec<String>, RegistryError>;
    /// Digest, creation time and labels of one tag.
    async fn image_info(&self, repository: &str, tag: &str) -> Result<ImageInfo, RegistryError>;
}

/// What the registry cache knows, read synchronously.
///
/// Release and automation calculations are pure functions: they do not wait
/// on a registry, they read what the scanner has cached. flux-registry
/// implements this over its cache; [`MemoryRegistry`] is a plain in-memory
/// one for tests and snapshots.
///
/// The two answers that matter are kept apart: a repository that has not
/// been scanned (`tags` is `None`: nothing can be said) and a tag whose
/// metadata has not been fetched yet (`image_info` is `None`: its creation
/// time is unknown, so patterns that order by time cannot choose yet).
pub trait RegistryView {
    /// The tags of a repository as last listed; `None` if the repository has
    /// not been scanned.
    fn tags(&self, repository: &ImageName) -> Option<Vec<String>>;
    /// What is known about one tag; `None` if its metadata is not cached.
    fn image_info(&self, repository: &ImageName, tag: &str) -> Option<ImageInfo>;
}

impl<T: RegistryView + ?Sized> RegistryView for &T {
    fn tags(&self, repository: &ImageName) -> Option<Vec<String>> {
        (**self).tags(repository)
    }
    fn image_info(&self, repository: &ImageName, tag: &str) -> Option<ImageInfo> {
        (**self).image_info(repository, tag)
    }
}

/// A [`RegistryView`] held in memory: repositories, their tags, and the
/// metadata known for each tag.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemoryRegistry {
    /// Tags by repository; `None` for a tag whose metadata is not known.
    pub repositories: BTreeMap<ImageName, BTreeMap<String, Option<ImageInfo>>>,
}

impl MemoryRegistry {
    /// An empty registry view (nothing scanned).
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a tag, with its creation time if known.
    pub fn add(&mut self, repository: &ImageName, tag: &str, created: Option<DateTime<Utc>>) {
        self.repositories
            .entry(repository.clone())
            .or_default()
            .insert(
                tag.to_owned(),
                Some(ImageInfo {
                    created,
                    ..ImageInfo::default()
                }),
            );
    }

    /// Records a tag whose metadata has not been fetched.
    pub fn add_tag_only(&mut self, repository: &ImageName, tag: &str) {
        self.repositories
            .entry(repository.clone())
            .or_default()
            .insert(tag.to_owned(), None);
    }
}

impl RegistryView for MemoryRegistry {
    fn tags(&self, repository: &ImageName) -> Option<Vec<String>> {
        self.repositories
            .get(repository)
            .map(|tags| tags.keys().cloned().collect())
    }
    fn image_info(&self, repository: &ImageName, tag: &str) -> Option<ImageInfo> {
        self.repositories.get(repository)?.get(tag)?.clone()
    }
}

/// Credentials for one registry.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct RegistryAuth {
    /// User name.
    pub username: String,
    /// Password or token.
    pub password: String,
}

impl std::fmt::Debug for RegistryAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryAuth")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Registry credentials by the key they were given under (a host, a host with
/// a path, or a URL such as `https://index.docker.io/v1/`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    /// Entries in key order.
    pub entries: BTreeMap<String, RegistryAuth>,
}

/// A pull secret could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct CredentialsError {
    /// What is wrong (never includes secret material).
    pub message: String,
}

fn cred_err(message: impl Into<String>) -> CredentialsError {
    CredentialsError {
        message: message.into(),
    }
}

#[derive(serde::Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

impl Credentials {
    /// Decodes the content of a `kubernetes.io/dockerconfigjson` secret
    /// (`.dockerconfigjson`): `{"auths": {"host": {"auth": …}}}`.
    pub fn from_dockerconfigjson(bytes: &[u8]) -> Result<Self, CredentialsError> {
        #[derive(serde::Deserialize)]
        struct Config {
            #[serde(default)]
            auths: BTreeMap<String, AuthEntry>,
        }
        let config: Config = serde_json::from_slice(bytes)
            .map_err(|e| cred_err(format!("not a docker config.json: {e}")))?;
        Self::from_entries(config.auths)
    }

    /// Decodes the content of a legacy `kubernetes.io/dockercfg` secret
    /// (`.dockercfg`): `{"host": {"auth": …}}`.
    pub fn from_dockercfg(bytes: &[u8]) -> Result<Self, CredentialsError> {
        let entries: BTreeMap<String, AuthEntry> = serde_json::from_slice(bytes)
            .map_err(|e| cred_err(format!("not a .dockercfg: {e}")))?;
        Self::from_entries(entries)
    }

    fn from_entries(entries: BTreeMap<String, AuthEntry>) -> Result<Self, CredentialsError> {
        let mut out = Credentials::default();
        for (key, entry) in entries {
            let auth = match (entry.username, entry.password, entry.auth) {
                (Some(username), Some(password), _) if !username.is_empty() => {
                    RegistryAuth { username, password }
                }
                (_, _, Some(auth)) if !auth.is_empty() => {
                    let decoded = base64::engine::general_purpose::STANDARD
                        .decode(auth.trim())
                        .map_err(|_| cred_err(format!("{key}: auth is not base64")))?;
                    let text = String::from_utf8(decoded)
                        .map_err(|_| cred_err(format!("{key}: auth is not UTF-8")))?;
                    let (username, password) = text
                        .split_once(':')
                        .ok_or_else(|| cred_err(format!("{key}: auth is not user:password")))?;
                    RegistryAuth {
                        username: username.to_owned(),
                        password: password.to_owned(),
                    }
                }
                _ => continue,
            };
            out.entries.insert(key, auth);
        }
        Ok(out)
    }

    /// Adds the entries of `other`, keeping existing ones on conflict.
    pub fn merge(&mut self, other: Credentials) {
        for (k, v) in other.entries {
            self.entries.entry(k).or_insert(v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockerconfigjson_auth_and_fields() {
        // "alice:s3cret" in base64
        let json = br#"{"auths":{"registry.example.com":{"auth":"YWxpY2U6czNjcmV0"},"other.io":{"username":"bob","password":"pw"},"empty.io":{}}}"#;
        let c = Credentials::from_dockerconfigjson(json).unwrap();
        assert_eq!(c.entries.len(), 2);
        assert_eq!(c.entries["registry.example.com"].username, "alice");
        assert_eq!(c.entries["registry.example.com"].password, "s3cret");
        assert_eq!(c.entries["other.io"].username, "bob");
    }

    #[test]
    fn dockercfg_legacy() {
        let json = br#"{"https://index.docker.io/v1/":{"auth":"dTpw","email":"x@y"}}"#;
        let c = Credentials::from_dockercfg(json).unwrap();
        assert_eq!(c.entries["https://index.docker.io/v1/"].password, "p");
    }

    #[test]
    fn bad_secrets_never_leak_material() {
        let e = Credentials::from_dockerconfigjson(br#"{"auths":{"h":{"auth":"!!!secret!!!"}}}"#)
            .unwrap_err();
        assert!(!e.message.contains("secret!!!"), "{e}");
        assert!(Credentials::from_dockerconfigjson(b"nope").is_err());
        let debug = format!(
            "{:?}",
            RegistryAuth {
                username: "u".into(),
                password: "hunter2".into()
            }
        );
        assert!(!debug.contains("hunter2"));
    }
}
