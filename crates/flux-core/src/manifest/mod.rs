//! A repository of manifests, read the way Flux v1 reads it.
//!
//! Reading is split in two so that a git tree and a plain directory behave the
//! same: a source produces a [`FileSet`] (repo-relative paths and bytes), and
//! [`parse_files`] turns the files under the configured `--git-path`s into
//! [`Manifests`]. Parsing is all-or-nothing: every problem is collected into
//! [`LoadErrors`], each naming its file and line, and no partial result is
//! returned, so a broken commit can never lead to a partial sync or to
//! garbage collection.

mod files;
mod kustomize;
mod load;
mod parse;
mod reuse;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::Value;

pub use files::{FileSet, is_manifest_file, normalize_git_path, normalize_git_paths, select};
pub use kustomize::{
    KUSTOMIZATION_FILE_NAMES, KUSTOMIZE_GROUP, Skipped, is_kustomization_file,
    is_kustomize_document,
};
pub use load::{DirSource, load_dir, read_dir_files};
pub use parse::{parse_files, parse_streams};
pub use reuse::{LastParse, reparse_files};

use crate::frozen::{Frozen, Node};
use crate::resource::{ResourceId, Scope};
use crate::workload::{self, Container, WorkloadError};
use crate::yaml;

/// Settings for reading manifests.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Namespace given to namespaced resources that do not name one
    /// (`--k8s-default-namespace`; `default` unless set).
    pub default_namespace: String,
    /// Largest manifest file accepted, in bytes.
    pub max_file_size: u64,
    /// Bounds on YAML alias expansion and nesting.
    pub yaml_limits: yaml::Limits,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            default_namespace: "default".into(),
            max_file_size: 16 * 1024 * 1024,
            yaml_limits: yaml::Limits::default(),
        }
    }
}

/// Where a resource was defined.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct SourceRef {
    /// Path of the file, relative to the repository root, `/`-separated.
    pub file: String,
    /// Index of the YAML document in the file, from 0.
    pub document: usize,
    /// Index within a `List` document's `items`, if the resource is an item.
    pub item: Option<usize>,
    /// 1-based line where the resource starts.
    pub line: usize,
}

impl fmt::Display for SourceRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// One Kubernetes object defined in the repository.
///
/// The object is held frozen ([`crate::frozen`]): a daemon keeps the
/// resources of its repository between syncs, and ten thousand serde_json
/// trees would be most of its memory. It is shared: a parse of the next
/// commit takes the objects of unchanged files from the last one
/// ([`reparse_files`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    id: ResourceId,
    scope: Scope,
    source: SourceRef,
    object: Arc<Frozen>,
}

impl Resource {
    /// The ID, with the namespace defaulted for namespaced kinds and
    /// `<cluster>` for cluster-scoped ones.
    pub fn id(&self) -> &ResourceId {
        &self.id
    }

    /// Whether the kind is namespaced.
    pub fn scope(&self) -> Scope {
        self.scope
    }

    /// Where it was defined.
    pub fn source(&self) -> &SourceRef {
        &self.source
    }

    /// The object exactly as written in git, as a frozen JSON document
    /// (`to_value()` gives it as a `Value`). The defaulted namespace is not
    /// added here: it is in [`Resource::id`].
    pub fn object(&self) -> &Frozen {
        &self.object
    }

    /// `apiVersion` as written.
    pub fn api_version(&self) -> &str {
        self.text(&["apiVersion"])
    }

    /// `kind` as written (the ID has it in lower case).
    pub fn kind(&self) -> &str {
        self.text(&["kind"])
    }

    fn text(&self, path: &[&str]) -> &str {
        self.object
            .pointer(path)
            .and_then(Node::as_str)
            .unwrap_or_default()
    }

    /// `metadata.annotations`, string values only.
    pub fn annotations(&self) -> BTreeMap<&str, &str> {
        self.metadata_strings("annotations")
    }

    /// `metadata.labels`, string values only.
    pub fn labels(&self) -> BTreeMap<&str, &str> {
        self.metadata_strings("labels")
    }

    /// The string values of mapping `metadata.<key>`.
    fn metadata_strings(&self, key: &str) -> BTreeMap<&str, &str> {
        self.object
            .pointer(&["metadata", key])
            .into_iter()
            .flat_map(Node::entries)
            .filter_map(|(k, v)| Some((k, v.as_str()?)))
            .collect()
    }

    /// Whether this is a workload kind whose containers Flux can update.
    pub fn is_workload(&self) -> bool {
        workload::is_workload_kind(self.kind())
    }

    /// The containers of a workload (empty for other kinds).
    pub fn containers(&self) -> Result<Vec<Container>, WorkloadError> {
        workload::frozen_containers(&self.object)
    }
}

/// The string-valued annotations of an object.
pub fn annotations(object: &Value) -> BTreeMap<&str, &str> {
    object["metadata"]["annotations"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.as_str(), v)))
                .collect()
        })
        .unwrap_or_default()
}

/// A resource whose kind's scope is unknown, so its ID cannot be decided.
///
/// Flux v1 left these out of the sync with a warning until API discovery
/// could tell their scope; so does this implementation.
#[derive(Debug, Clone, PartialEq)]
pub struct Unscoped {
    /// `apiVersion` as written.
    pub api_version: String,
    /// `kind` as written.
    pub kind: String,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`, if given.
    pub namespace: Option<String>,
    /// Where it was defined.
    pub source: SourceRef,
}

impl fmt::Display for Unscoped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}/{} ({}): scope of kind {} in {} is unknown; left out until discovery knows it",
            self.source, self.kind, self.name, self.api_version, self.kind, self.api_version
        )
    }
}

/// Everything read from the repository.
#[derive(Debug, Clone, Default)]
pub struct Manifests {
    /// Resources by ID.
    pub resources: BTreeMap<ResourceId, Resource>,
    /// Resources left out because their scope is unknown.
    pub unscoped: Vec<Unscoped>,
    /// kustomize's own files and documents, left out (they are not
    /// Kubernetes objects, so they never count for garbage collection).
    pub skipped: Vec<Skipped>,
}

impl Manifests {
    /// The workload resources, in ID order.
    pub fn workloads(&self) -> impl Iterator<Item = &Resource> {
        self.resources.values().filter(|r| r.is_workload())
    }
}

/// One problem found while reading manifests.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A `--git-path` does not exist.
    #[error("git path {path:?} not found in the repository")]
    PathNotFound {
        /// The path as given.
        path: String,
    },
    /// A `--git-path` is absolute or climbs out of the repository.
    #[error("git path {path:?} is not a path inside the repository: {reason}")]
    BadPath {
        /// The path as given.
        path: String,
        /// Why it is rejected.
        reason: &'static str,
    },
    /// A file or directory could not be read.
    #[error("{}: cannot read: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A symbolic link leads out of the repository.
    #[error("{path}: symbolic link leads outside the repository (to {})", target.display())]
    SymlinkOutsideRoot {
        /// Repo-relative path of the link.
        path: String,
        /// Where it points.
        target: PathBuf,
    },
    /// A file is bigger than the configured limit.
    #[error("{path}: {size} bytes is over the limit of {limit} bytes for a manifest file")]
    TooLarge {
        /// Repo-relative path.
        path: String,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// A file is not UTF-8.
    #[error("{path}:{line}: not UTF-8 text (invalid byte at offset {offset})")]
    NotUtf8 {
        /// Repo-relative path.
        path: String,
        /// 1-based line of the first invalid byte.
        line: usize,
        /// Byte offset of the first invalid byte.
        offset: usize,
    },
    /// A file is not valid YAML (or exceeds a YAML limit).
    #[error("{path}:{line}:{column}: {message}")]
    Yaml {
        /// Repo-relative path.
        path: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What the YAML reader said.
        message: String,
    },
    /// A document is not a mapping.
    #[error("{at}: document is a {found}, not a mapping (a Kubernetes object)")]
    NotAMapping {
        /// Where.
        at: SourceRef,
        /// What it is instead.
        found: &'static str,
    },
    /// A required field is missing (or null).
    #[error("{at}: {field} is missing")]
    MissingField {
        /// Where.
        at: SourceRef,
        /// The field, e.g. `metadata.name`.
        field: &'static str,
    },
    /// A field has a value Kubernetes would refuse.
    #[error("{at}: {field}: {message}")]
    InvalidField {
        /// Where.
        at: SourceRef,
        /// The field.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// Two documents define the same resource.
    #[error("duplicate definition of {id} (in {first} and {second})")]
    Duplicate {
        /// The resource.
        id: ResourceId,
        /// The first definition.
        first: Box<SourceRef>,
        /// The second definition.
        second: Box<SourceRef>,
    },
}

/// All the problems found in one read; non-empty.
#[derive(Debug)]
pub struct LoadErrors(pub Vec<LoadError>);

impl fmt::Display for LoadErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.as_slice() {
            [one] => write!(f, "{one}"),
            many => {
                write!(f, "{} problems reading manifests:", many.len())?;
                for e in many {
                    write!(f, "\n  {e}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for LoadErrors {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self.0.as_slice() {
            [one] => Some(one),
            _ => None,
        }
    }
}

impl From<LoadError> for LoadErrors {
    fn from(e: LoadError) -> Self {
        LoadErrors(vec![e])
    }
}
