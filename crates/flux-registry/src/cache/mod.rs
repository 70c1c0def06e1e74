//! What fluxd knows about image repositories: tags as last listed and the
//! metadata of each tag fetched so far, in memory and persisted to a file so
//! a restart does not rescan everything.
//!
//! Flux v1 needed a memcached server for this; here it is a map in the
//! daemon. Readers (release, automation, `list-images`) use the synchronous
//! [`RegistryView`] or the async [`ImageRegistry`] seam; the scanner writes.
//!
//! Known tags are refreshed on Flux v1's schedule, so a tag that is moved
//! (`latest`, `stable`) is noticed: first after an hour, then twice as long
//! each time its digest is unchanged (up to a week), half as long when it
//! moved (down to five minutes). A refresh is one HEAD request.

pub mod file;
mod image;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use flux_core::image::ImageName;
use flux_core::registry::{ImageInfo, ImageRegistry, RegistryError, RegistryView};
use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use serde::{Deserialize, Serialize};

pub use self::file::{Discarded, WriteError};
pub use self::image::{CachedImage, Labels};
use crate::metrics::Metrics;

/// First refresh of a newly fetched tag.
pub const INITIAL_REFRESH: Duration = Duration::from_secs(3600);
/// Never refresh a tag sooner than this.
pub const MIN_REFRESH: Duration = Duration::from_secs(300);
/// Never wait longer than this to refresh a tag.
pub const MAX_REFRESH: Duration = Duration::from_secs(7 * 24 * 3600);
/// Refresh interval of a tag excluded for its platform.
pub const EXCLUDED_REFRESH: Duration = Duration::from_secs(24 * 3600);

/// What is known about one repository.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoEntry {
    /// Tags as last listed.
    pub tags: Vec<String>,
    /// Metadata of tags fetched so far (only tags still listed).
    pub images: HashMap<String, CachedImage>,
    /// When the tags were last listed successfully.
    pub listed: Option<DateTime<Utc>>,
    /// When the set of tags last changed.
    pub changed: Option<DateTime<Utc>>,
    /// The last error scanning it, if the last scan failed.
    #[serde(skip)]
    pub last_error: Option<String>,
}

/// How the tags of a repository changed in a listing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TagChange {
    /// Tags not listed before.
    pub added: Vec<String>,
    /// How many tags disappeared.
    pub removed: usize,
}

/// What happened when a cache file was opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Loaded {
    /// There was no file: starting empty.
    Missing,
    /// The file was read.
    Read {
        /// Repositories read.
        repositories: usize,
        /// Tags with metadata read.
        images: usize,
    },
    /// The file failed a check and was moved aside; starting empty.
    Discarded(Discarded),
}

/// The image metadata cache.
#[derive(Debug, Default)]
pub struct ImageCache {
    repos: RwLock<HashMap<ImageName, RepoEntry>>,
    dirty: AtomicBool,
    path: Option<PathBuf>,
    use_labels: Option<GlobSet>,
    metrics: Option<Arc<Metrics>>,
}

/// A `--registry-use-labels` glob is invalid.
#[derive(Debug, thiserror::Error)]
#[error("invalid image glob {glob:?}: {source}")]
pub struct GlobError {
    /// The glob.
    pub glob: String,
    /// Why.
    #[source]
    pub source: globset::Error,
}

/// Compiles image-name globs (`*` also matches `/`, as in Flux v1).
pub(crate) fn glob_set(globs: &[String]) -> Result<GlobSet, GlobError> {
    let mut b = GlobSetBuilder::new();
    for g in globs {
        let glob = GlobBuilder::new(g)
            .literal_separator(false)
            .build()
            .map_err(|source| GlobError {
                glob: g.clone(),
                source,
            })?;
        b.add(glob);
    }
    b.build().map_err(|source| GlobError {
        glob: globs.join(","),
        source,
    })
}

impl ImageCache {
    /// An empty cache kept only in memory.
    pub fn in_memory() -> Self {
        Self::default()
    }

    /// Opens the cache persisted at `path`. A missing file gives an empty
    /// cache; a file that fails any check is moved to `<path>.corrupt`, and
    /// the cache starts empty.
    pub fn open(path: &Path) -> (Self, Loaded) {
        let mut cache = Self {
            path: Some(path.to_owned()),
            ..Self::default()
        };
        let _ = std::fs::remove_file(file::tmp_path(path));
        let loaded = match std::fs::read(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Loaded::Missing,
            Err(e) => cache.discard(path, format!("cannot be read: {e}")),
            Ok(bytes) => match Self::decode(&bytes) {
                Ok(repos) => {
                    let images = repos.values().map(|r| r.images.len()).sum();
                    let repositories = repos.len();
                    cache.repos = RwLock::new(repos);
                    Loaded::Read {
                        repositories,
                        images,
                    }
                }
                Err(reason) => cache.discard(path, reason),
            },
        };
        if let Loaded::Discarded(d) = &loaded {
            tracing::warn!("{d}; rescanning");
        }
        (cache, loaded)
    }

    fn discard(&mut self, path: &Path, reason: String) -> Loaded {
        let _ = std::fs::rename(path, file::corrupt_path(path));
        Loaded::Discarded(Discarded {
            path: path.to_owned(),
            reason,
        })
    }

    fn decode(bytes: &[u8]) -> Result<HashMap<ImageName, RepoEntry>, String> {
        let body = file::decode(bytes)?;
        let on_disk: BTreeMap<String, RepoEntry> =
            serde_json::from_slice(body).map_err(|e| format!("body is not a cache: {e}"))?;
        let mut repos = HashMap::with_capacity(on_disk.len());
        for (name, entry) in on_disk {
            let name = ImageName::parse(&name).map_err(|e| format!("bad repository: {e}"))?;
            repos.insert(name, entry);
        }
        Ok(repos)
    }

    /// Prefer creation times from image labels (`org.opencontainers.image.created`,
    /// then `org.label-schema.build-date`) for repositories matching these
    /// globs (`--registry-use-labels`).
    pub fn with_label_timestamps(mut self, globs: &[String]) -> Result<Self, GlobError> {
        self.use_labels = Some(glob_set(globs)?);
        Ok(self)
    }

    /// Updates the `cached_tags` gauge of `metrics` from now on.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Where the cache is persisted, if anywhere.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<ImageName, RepoEntry>> {
        self.repos.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<ImageName, RepoEntry>> {
        self.dirty.store(true, Ordering::Release);
        self.repos.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` on what is known about `name`.
    pub fn with_repo<T>(&self, name: &ImageName, f: impl FnOnce(Option<&RepoEntry>) -> T) -> T {
        f(self.read().get(name))
    }

    /// The repositories in the cache.
    pub fn repositories(&self) -> Vec<ImageName> {
        self.read().keys().cloned().collect()
    }

    /// Tags with metadata, over all repositories.
    pub fn image_count(&self) -> usize {
        self.read().values().map(|r| r.images.len()).sum()
    }

    /// Records a successful tag listing; drops metadata of tags no longer listed.
    pub fn record_tags(
        &self,
        name: &ImageName,
        tags: Vec<String>,
        now: DateTime<Utc>,
    ) -> TagChange {
        let change = {
            let mut repos = self.write();
            let entry = repos.entry(name.clone()).or_default();
            let old: HashSet<&str> = entry.tags.iter().map(String::as_str).collect();
            let added: Vec<String> = tags
                .iter()
                .filter(|t| !old.contains(t.as_str()))
                .cloned()
                .collect();
            let new: HashSet<&str> = tags.iter().map(String::as_str).collect();
            let removed = old.iter().filter(|t| !new.contains(*t)).count();
            if !added.is_empty() || removed > 0 || entry.listed.is_none() {
                entry.changed = Some(now);
            }
            entry.images.retain(|t, _| new.contains(t.as_str()));
            entry.tags = tags;
            entry.listed = Some(now);
            entry.last_error = None;
            TagChange { added, removed }
        };
        self.update_gauge();
        change
    }

    /// Records what was fetched about one tag.
    pub fn record_image(&self, name: &ImageName, tag: &str, image: CachedImage) {
        self.write()
            .entry(name.clone())
            .or_default()
            .images
            .insert(tag.to_owned(), image);
        self.update_gauge();
    }

    /// Records that scanning `name` failed (kept in memory only).
    pub fn record_error(&self, name: &ImageName, error: String) {
        let mut repos = self.repos.write().unwrap_or_else(|p| p.into_inner());
        repos.entry(name.clone()).or_default().last_error = Some(error);
    }

    /// The last error scanning `name`, if its last scan failed.
    pub fn last_error(&self, name: &ImageName) -> Option<String> {
        self.read().get(name).and_then(|r| r.last_error.clone())
    }

    fn update_gauge(&self) {
        if let Some(m) = &self.metrics {
            m.set_cached_tags(self.image_count());
        }
    }

    /// Writes the cache to its file if anything changed since the last
    /// write. Returns whether it wrote. Blocking: call from a blocking task.
    pub fn persist(&self) -> Result<bool, WriteError> {
        let Some(path) = &self.path else {
            return Ok(false);
        };
        if !self.dirty.swap(false, Ordering::AcqRel) {
            return Ok(false);
        }
        let body = {
            let repos = self.read();
            let on_disk: BTreeMap<String, &RepoEntry> =
                repos.iter().map(|(k, v)| (k.to_string(), v)).collect();
            serde_json::to_vec(&on_disk)
        };
        let body = body.map_err(|e| WriteError {
            path: path.clone(),
            source: std::io::Error::other(e),
        })?;
        file::write_atomic(path, &body).inspect_err(|_| {
            self.dirty.store(true, Ordering::Release);
        })?;
        Ok(true)
    }

    fn decorate(&self, name: &ImageName, mut info: ImageInfo) -> ImageInfo {
        let Some(globs) = &self.use_labels else {
            return info;
        };
        if !globs.is_match(name.to_string()) {
            return info;
        }
        let from_label = [
            "org.opencontainers.image.created",
            "org.label-schema.build-date",
        ]
        .iter()
        .filter_map(|k| info.labels.get(*k))
        .find_map(|v| DateTime::parse_from_rfc3339(v).ok())
        .map(|t| t.with_timezone(&Utc));
        if let Some(t) = from_label {
            info.created = Some(t);
        }
        info
    }
}

/// The view release and automation read: tags of scanned repositories
/// (minus tags excluded for their platform) and metadata fetched so far.
impl RegistryView for ImageCache {
    fn tags(&self, repository: &ImageName) -> Option<Vec<String>> {
        let repos = self.read();
        let entry = repos.get(repository)?;
        entry.listed?;
        Some(
            entry
                .tags
                .iter()
                .filter(|t| entry.images.get(*t).is_none_or(|i| i.excluded.is_none()))
                .cloned()
                .collect(),
        )
    }

    fn image_info(&self, repository: &ImageName, tag: &str) -> Option<ImageInfo> {
        let info = {
            let repos = self.read();
            let image = repos.get(repository)?.images.get(tag)?;
            if image.excluded.is_some() {
                return None;
            }
            image.info()
        };
        Some(self.decorate(repository, info))
    }
}

fn not_cached(repository: &str, message: String) -> RegistryError {
    RegistryError {
        repository: repository.to_owned(),
        message,
        source: None,
    }
}

/// The async seam, answered from the cache alone: a tag that is listed but
/// not fetched yet has unknown metadata (`ImageInfo::default()`), as
/// `fluxctl list-images` shows it.
#[async_trait::async_trait]
impl ImageRegistry for ImageCache {
    async fn tags(&self, repository: &str) -> Result<Vec<String>, RegistryError> {
        let name =
            ImageName::parse(repository).map_err(|e| not_cached(repository, e.to_string()))?;
        RegistryView::tags(self, &name).ok_or_else(|| {
            let why = self.last_error(&name).map_or_else(
                || "not scanned yet".to_owned(),
                |e| format!("not scanned yet; last error: {e}"),
            );
            not_cached(repository, why)
        })
    }

    async fn image_info(&self, repository: &str, tag: &str) -> Result<ImageInfo, RegistryError> {
        let name =
            ImageName::parse(repository).map_err(|e| not_cached(repository, e.to_string()))?;
        if let Some(info) = RegistryView::image_info(self, &name, tag) {
            return Ok(info);
        }
        let listed =
            RegistryView::tags(self, &name).is_some_and(|tags| tags.iter().any(|t| t == tag));
        if listed {
            Ok(ImageInfo::default())
        } else {
            Err(not_cached(
                repository,
                format!("tag {tag} is not in the cache"),
            ))
        }
    }
}

#[cfg(test)]
mod tests;
