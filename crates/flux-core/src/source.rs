//! Where manifests come from: the `ManifestSource` seam.
//!
//! The daemon reads a git tree at a revision (flux-git), `fluxctl --local`
//! reads a directory ([`crate::manifest::DirSource`]); both hand over the same
//! [`Snapshot`], so everything after reading is shared.

use crate::manifest::FileSet;

/// The manifest files of a repository at one revision.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// The commit the files were read at (`None` for a plain directory).
    pub revision: Option<String>,
    /// Manifest files under the requested paths (and any `Chart.yaml`s).
    pub files: FileSet,
}

/// A source failed to produce a snapshot.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct SourceError {
    /// What went wrong, naming the path, revision or remote.
    pub message: String,
    /// The underlying error.
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

/// Something that can produce the manifest files under some paths.
#[async_trait::async_trait]
pub trait ManifestSource: Send + Sync {
    /// Reads the manifest files under `paths` (normalised `--git-path`s; `""`
    /// is the root). A path that does not exist is an error.
    async fn snapshot(&self, paths: &[String]) -> Result<Snapshot, SourceError>;
}
