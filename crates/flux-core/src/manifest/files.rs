//! Which files of a repository are manifests.
//!
//! The rules are Flux v1's, applied to a list of paths so that a git tree and
//! a directory on disk give the same answer: files ending in `.yaml` or `.yml`
//! under one of the `--git-path`s, except those inside a Helm chart (a
//! directory holding `Chart.yaml`) and those under a hidden directory (such as
//! `.git` or `.github`) or hidden themselves (such as `.flux.yaml`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::LoadError;

/// Files of a repository: `/`-separated paths relative to its root, and bytes.
///
/// Sources need only include manifest files (see [`is_manifest_file`]), which
/// covers the `Chart.yaml` files used to recognise charts. The bytes are
/// shared: a source that keeps what it read (flux-git keeps the last
/// commit's blobs) hands out the same allocation, not a copy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileSet {
    files: BTreeMap<String, Arc<[u8]>>,
}

impl FileSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a file.
    pub fn insert(&mut self, path: impl Into<String>, bytes: impl Into<Vec<u8>>) {
        self.files.insert(path.into(), Arc::from(bytes.into()));
    }

    /// Adds (or replaces) a file whose bytes are shared with their owner.
    pub fn insert_shared(&mut self, path: impl Into<String>, bytes: Arc<[u8]>) {
        self.files.insert(path.into(), bytes);
    }

    /// The bytes of a file.
    pub fn get(&self, path: &str) -> Option<&[u8]> {
        self.files.get(path).map(|b| &b[..])
    }

    /// The bytes of a file, shared (to put in another set without a copy).
    pub fn get_shared(&self, path: &str) -> Option<&Arc<[u8]>> {
        self.files.get(path)
    }

    /// Whether a file or directory exists at `path` (`""` is the root).
    pub fn contains_path(&self, path: &str) -> bool {
        if path.is_empty() {
            return true;
        }
        let dir = format!("{path}/");
        self.files.contains_key(path)
            || self
                .files
                .range(dir.clone()..)
                .next()
                .is_some_and(|(k, _)| k.starts_with(&dir))
    }

    /// All files, in path order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.files.iter().map(|(k, v)| (k.as_str(), &v[..]))
    }

    /// Number of files.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Whether there are no files.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

impl FromIterator<(String, Vec<u8>)> for FileSet {
    fn from_iter<T: IntoIterator<Item = (String, Vec<u8>)>>(iter: T) -> Self {
        FileSet {
            files: iter
                .into_iter()
                .map(|(path, bytes)| (path, Arc::from(bytes)))
                .collect(),
        }
    }
}

/// Whether a file name is one Flux reads as manifests (`.yaml` or `.yml`).
pub fn is_manifest_file(name: &str) -> bool {
    name.ends_with(".yaml") || name.ends_with(".yml")
}

/// Normalises `--git-path` values: `./a/b/` becomes `a/b`, and `.` or an
/// empty list means the repository root (`""`). Absolute paths and paths
/// with `..` are refused. Duplicates are dropped.
///
/// ```
/// use flux_core::manifest::normalize_git_paths;
/// assert_eq!(normalize_git_paths(&["./apps/", "apps", "infra"]).unwrap(), ["apps", "infra"]);
/// assert_eq!(normalize_git_paths::<&str>(&[]).unwrap(), [""]);
/// assert!(normalize_git_paths(&["../elsewhere"]).is_err());
/// ```
pub fn normalize_git_paths<S: AsRef<str>>(paths: &[S]) -> Result<Vec<String>, LoadError> {
    let mut out = BTreeSet::new();
    for raw in paths {
        out.insert(normalize_git_path(raw.as_ref())?);
    }
    if out.is_empty() {
        out.insert(String::new());
    }
    // A path under another one adds nothing.
    let all: Vec<String> = out.iter().cloned().collect();
    out.retain(|p| {
        !all.iter()
            .any(|q| q != p && (q.is_empty() || p.starts_with(&format!("{q}/"))))
    });
    Ok(out.into_iter().collect())
}

/// Normalises one `--git-path`: `./a/b/` becomes `a/b`, `.` becomes `""`
/// (the root); absolute paths and paths with `..` are refused.
///
/// ```
/// use flux_core::manifest::normalize_git_path;
/// assert_eq!(normalize_git_path("./envs//staging/").unwrap(), "envs/staging");
/// assert_eq!(normalize_git_path(".").unwrap(), "");
/// assert!(normalize_git_path("envs/../..").is_err());
/// ```
pub fn normalize_git_path(raw: &str) -> Result<String, LoadError> {
    if raw.starts_with('/') {
        return Err(LoadError::BadPath {
            path: raw.into(),
            reason: "it is absolute; give it relative to the repository root",
        });
    }
    let mut parts = Vec::new();
    for part in raw.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                return Err(LoadError::BadPath {
                    path: raw.into(),
                    reason: "it contains '..'",
                });
            }
            p => parts.push(p),
        }
    }
    Ok(parts.join("/"))
}

fn parent(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(dir, _)| dir)
}

/// The manifest files of `files` under `paths` (already normalised), in path
/// order, after Flux's skipping rules.
///
/// ```
/// use flux_core::manifest::{FileSet, select};
/// let mut files = FileSet::new();
/// for p in ["apps/a.yaml", "apps/chart/Chart.yaml", "apps/chart/templates/d.yaml",
///           ".github/ci.yml", "apps/notes.txt", "infra/b.yml"] {
///     files.insert(p, "x: 1");
/// }
/// let chosen: Vec<&str> = select(&files, &["".into()]).into_iter().map(|(p, _)| p).collect();
/// assert_eq!(chosen, ["apps/a.yaml", "infra/b.yml"]);
/// ```
pub fn select<'a>(files: &'a FileSet, paths: &[String]) -> Vec<(&'a str, &'a [u8])> {
    let chart_dirs: BTreeSet<&str> = files
        .iter()
        .filter_map(|(p, _)| {
            let (dir, name) = p.rsplit_once('/').unwrap_or(("", p));
            (name == "Chart.yaml").then_some(dir)
        })
        .collect();
    let in_chart = |path: &str| {
        let mut dir = parent(path);
        loop {
            if chart_dirs.contains(dir) {
                return true;
            }
            if dir.is_empty() {
                return false;
            }
            dir = parent(dir);
        }
    };
    files
        .iter()
        .filter(|(path, _)| {
            let Some(rest) = paths.iter().find_map(|root| under(path, root)) else {
                return false;
            };
            let name = path.rsplit('/').next().unwrap_or(path);
            is_manifest_file(name)
                && !rest.split('/').any(|c| c.starts_with('.'))
                && !in_chart(path)
        })
        .collect()
}

/// The part of `path` below `root`, if it is under it (or is it).
fn under<'p>(path: &'p str, root: &str) -> Option<&'p str> {
    if root.is_empty() {
        return Some(path);
    }
    if path == root {
        return Some(path.rsplit('/').next().unwrap_or(path));
    }
    path.strip_prefix(root)?.strip_prefix('/')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(paths: &[&str]) -> FileSet {
        paths
            .iter()
            .map(|p| (p.to_string(), b"k: v".to_vec()))
            .collect()
    }

    fn chosen(files: &FileSet, paths: &[&str]) -> Vec<String> {
        let paths = normalize_git_paths(paths).unwrap();
        select(files, &paths)
            .into_iter()
            .map(|(p, _)| p.to_owned())
            .collect()
    }

    #[test]
    fn paths_limit_selection() {
        let f = set(&["a/x.yaml", "b/y.yaml", "bb/z.yaml", "c.yaml"]);
        assert_eq!(chosen(&f, &["b"]), ["b/y.yaml"]);
        assert_eq!(chosen(&f, &["a", "c.yaml"]), ["a/x.yaml", "c.yaml"]);
        assert_eq!(
            chosen(&f, &["."]),
            ["a/x.yaml", "b/y.yaml", "bb/z.yaml", "c.yaml"]
        );
    }

    #[test]
    fn nested_paths_collapse() {
        assert_eq!(
            normalize_git_paths(&["a", "a/b", "c/"]).unwrap(),
            ["a", "c"]
        );
        assert_eq!(normalize_git_paths(&["a", "."]).unwrap(), [""]);
    }

    #[test]
    fn hidden_things_are_skipped_below_the_git_path_only() {
        let f = set(&[
            "a/.hidden/x.yaml",
            "a/.flux.yaml",
            ".manifests/y.yaml",
            "a/ok.yml",
        ]);
        assert_eq!(chosen(&f, &[""]), ["a/ok.yml"]);
        assert_eq!(chosen(&f, &[".manifests"]), [".manifests/y.yaml"]);
    }

    #[test]
    fn charts_are_skipped_at_any_depth() {
        let f = set(&[
            "charts/app/Chart.yaml",
            "charts/app/values.yaml",
            "charts/app/sub/t.yaml",
            "charts/other.yaml",
        ]);
        assert_eq!(chosen(&f, &[""]), ["charts/other.yaml"]);
        let root_chart = set(&["Chart.yaml", "x.yaml"]);
        assert!(chosen(&root_chart, &[""]).is_empty());
    }

    #[test]
    fn contains_path_checks_dirs_and_files() {
        let f = set(&["a/b/c.yaml", "ab.yaml"]);
        assert!(f.contains_path("a"));
        assert!(f.contains_path("a/b"));
        assert!(f.contains_path("ab.yaml"));
        assert!(!f.contains_path("a/c"));
        assert!(!f.contains_path("b"));
    }
}
