//! Which `.flux.yaml` governs each `--git-path`.
//!
//! As in Flux v1: the file is looked for in the git path, then in each
//! directory above it up to the repository root, and the nearest one wins;
//! a git path may also name a `.flux.yaml` itself. The commands run in the
//! git path (for a git path naming the file, in its directory), whichever
//! directory the file is in, so one `.flux.yaml` above several git paths
//! (say `envs/.flux.yaml` for `envs/staging` and `envs/production`) runs its
//! commands once in each. A `scanForFiles` file, or none, means the git path
//! is read as plain YAML files.

use super::config::{ConfigError, ConfigFile, Mode, parse_config};
use crate::manifest::{normalize_git_path, normalize_git_paths};

/// The name of the file.
pub const CONFIG_FILE: &str = ".flux.yaml";

/// Where a `.flux.yaml` for `git_path` (normalised) may be, nearest first.
///
/// ```
/// use flux_core::generation::lookup::candidates;
/// assert_eq!(candidates("envs/staging"), ["envs/staging/.flux.yaml", "envs/.flux.yaml", ".flux.yaml"]);
/// assert_eq!(candidates(""), [".flux.yaml"]);
/// assert_eq!(candidates("envs/.flux.yaml"), ["envs/.flux.yaml"]);
/// ```
pub fn candidates(git_path: &str) -> Vec<String> {
    let name = git_path.rsplit('/').next().unwrap_or(git_path);
    if name == CONFIG_FILE {
        return vec![git_path.to_owned()];
    }
    let mut out = Vec::new();
    let mut dir = git_path;
    loop {
        out.push(join(dir, CONFIG_FILE));
        if dir.is_empty() {
            return out;
        }
        dir = dir.rsplit_once('/').map_or("", |(parent, _)| parent);
    }
}

/// A git path whose manifests come from a `.flux.yaml`'s generators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generation {
    /// The git path, normalised.
    pub git_path: String,
    /// Where the commands run (repo-relative; `""` is the root).
    pub workdir: String,
    /// The governing file.
    pub config: ConfigFile,
    /// How Flux v1 named this pairing in messages, and the name its output
    /// goes by as a source of resources: the file seen from the working
    /// directory, e.g. `envs/staging/../.flux.yaml`.
    pub name: String,
    /// For `patchUpdated`: the patch file, repo-relative.
    pub patch_path: Option<String>,
}

/// How every git path is read.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// Git paths read as plain YAML files (normalised, nested ones folded
    /// into their parent). Empty when every path is generated.
    pub files: Vec<String>,
    /// Git paths whose manifests are generated, in the order given.
    pub generations: Vec<Generation>,
}

impl Plan {
    /// Whether any command is to run.
    pub fn generates(&self) -> bool {
        !self.generations.is_empty()
    }
}

/// Decides how each of `git_paths` is read, given `read(path)`: the bytes of
/// the regular file at a repo-relative path, if there is one (links resolved
/// inside the repository). Every candidate named by [`candidates`] may be
/// asked for.
///
/// ```
/// use flux_core::generation::lookup::plan;
/// let config = b"version: 1\npatchUpdated:\n  generators: [{command: kustomize build .}]\n  patchFile: flux-patch.yaml\n";
/// let plan = plan(&["envs/staging", "common"], |p| (p == "envs/.flux.yaml").then(|| config.to_vec())).unwrap();
/// assert_eq!(plan.files, ["common"]);
/// let g = &plan.generations[0];
/// assert_eq!((g.workdir.as_str(), g.name.as_str()), ("envs/staging", "envs/staging/../.flux.yaml"));
/// assert_eq!(g.patch_path.as_deref(), Some("envs/staging/flux-patch.yaml"));
/// ```
pub fn plan<S: AsRef<str>>(
    git_paths: &[S],
    mut read: impl FnMut(&str) -> Option<Vec<u8>>,
) -> Result<Plan, ConfigError> {
    let mut normalised: Vec<String> = Vec::new();
    for raw in git_paths {
        let p = normalize_git_path(raw.as_ref()).map_err(|e| ConfigError::Invalid {
            file: raw.as_ref().to_owned(),
            line: None,
            key: None,
            message: e.to_string(),
        })?;
        if !normalised.contains(&p) {
            normalised.push(p);
        }
    }
    if normalised.is_empty() {
        normalised.push(String::new());
    }
    let mut files = Vec::new();
    let mut generations = Vec::new();
    for git_path in normalised {
        let found = candidates(&git_path)
            .into_iter()
            .find_map(|c| read(&c).map(|bytes| (c, bytes)));
        let Some((config_path, bytes)) = found else {
            files.push(git_path);
            continue;
        };
        let config = parse_config(&config_path, &bytes)?;
        if config.mode == Mode::ScanForFiles {
            files.push(git_path);
            continue;
        }
        let names_file = git_path.rsplit('/').next() == Some(CONFIG_FILE);
        let workdir = if names_file {
            parent(&git_path).to_owned()
        } else {
            git_path.clone()
        };
        let name = if names_file || workdir.is_empty() {
            config_path.clone()
        } else {
            let up = workdir.split('/').count()
                - parent(&config_path)
                    .split('/')
                    .filter(|c| !c.is_empty())
                    .count();
            format!("{workdir}/{}{CONFIG_FILE}", "../".repeat(up))
        };
        let patch_path = match &config.mode {
            Mode::PatchUpdated(p) => {
                Some(
                    resolve(&workdir, &p.patch_file).map_err(|reason| ConfigError::Invalid {
                        file: config.path.clone(),
                        line: None,
                        key: Some("patchUpdated.patchFile".into()),
                        message: format!(
                            "{:?} from {}: {reason}",
                            p.patch_file,
                            display_dir(&workdir)
                        ),
                    })?,
                )
            }
            _ => None,
        };
        generations.push(Generation {
            git_path,
            workdir,
            config,
            name,
            patch_path,
        });
    }
    let files = if files.is_empty() {
        files
    } else {
        normalize_git_paths(&files).map_err(|e| ConfigError::Invalid {
            file: String::new(),
            line: None,
            key: None,
            message: e.to_string(),
        })?
    };
    Ok(Plan { files, generations })
}

fn display_dir(dir: &str) -> &str {
    if dir.is_empty() {
        "the repository root"
    } else {
        dir
    }
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_owned()
    } else {
        format!("{dir}/{name}")
    }
}

fn parent(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(dir, _)| dir)
}

/// `rel` (a `/`-separated relative path) seen from `dir`, as a normalised
/// repo-relative path; refused if it leaves the repository or enters `.git`.
pub fn resolve(dir: &str, rel: &str) -> Result<String, &'static str> {
    if rel.starts_with('/') {
        return Err("it is absolute");
    }
    let mut parts: Vec<&str> = dir.split('/').filter(|c| !c.is_empty()).collect();
    for c in rel.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err("it leads outside the repository");
                }
            }
            c if c.eq_ignore_ascii_case(".git") => return Err("it is inside .git"),
            c => parts.push(c),
        }
    }
    if parts.is_empty() {
        return Err("it names the repository root, not a file");
    }
    Ok(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    const CMD: &str = "version: 1\ncommandUpdated:\n  generators:\n  - command: echo g1\n";
    const PATCH: &str =
        "version: 1\npatchUpdated:\n  generators: []\n  patchFile: ../patches/p.yaml\n";
    const SCAN: &str = "version: 1\nscanForFiles: {}\n";

    fn plan_with(paths: &[&str], files: &[(&str, &str)]) -> Result<Plan, ConfigError> {
        let files: BTreeMap<&str, &str> = files.iter().copied().collect();
        plan(paths, |p| files.get(p).map(|t| t.as_bytes().to_vec()))
    }

    #[test]
    fn nearest_wins() {
        // Flux v1's TestFindConfigFilePaths, on a list of files.
        let p = plan_with(&["one/two/three"], &[]).unwrap();
        assert_eq!(p.files, ["one/two/three"]);
        assert!(!p.generates());

        let p = plan_with(&["one/two/three"], &[(".flux.yaml", CMD)]).unwrap();
        assert_eq!(p.generations[0].config.path, ".flux.yaml");
        assert_eq!(p.generations[0].workdir, "one/two/three");
        assert_eq!(p.generations[0].name, "one/two/three/../../../.flux.yaml");

        let p = plan_with(
            &["one/two/three"],
            &[(".flux.yaml", CMD), ("one/two/three/.flux.yaml", PATCH)],
        )
        .unwrap();
        let g = &p.generations[0];
        assert_eq!(g.config.path, "one/two/three/.flux.yaml");
        assert_eq!(g.name, "one/two/three/.flux.yaml");
        assert_eq!(g.patch_path.as_deref(), Some("one/two/patches/p.yaml"));

        // A git path may name the file itself; commands run beside it.
        let p = plan_with(
            &["one/two/three/.flux.yaml"],
            &[("one/two/three/.flux.yaml", CMD)],
        )
        .unwrap();
        assert_eq!(p.generations[0].workdir, "one/two/three");
        assert_eq!(p.generations[0].name, "one/two/three/.flux.yaml");
    }

    #[test]
    fn one_file_for_several_paths_and_plain_paths_beside() {
        // Flux v1's TestSplitConfigFilesAndRawManifestPaths.
        let p = plan_with(
            &["envs/staging", "envs/production", "commonresources"],
            &[("envs/.flux.yaml", CMD)],
        )
        .unwrap();
        assert_eq!(p.files, ["commonresources"]);
        let names: Vec<(&str, &str)> = p
            .generations
            .iter()
            .map(|g| (g.workdir.as_str(), g.name.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                ("envs/staging", "envs/staging/../.flux.yaml"),
                ("envs/production", "envs/production/../.flux.yaml")
            ]
        );
        assert_eq!(p.generations[0].config, p.generations[1].config);
    }

    #[test]
    fn scan_for_files_resets_a_file_higher_up() {
        let p = plan_with(
            &["config/rawfiles", "config"],
            &[
                ("config/.flux.yaml", PATCH),
                ("config/rawfiles/.flux.yaml", SCAN),
            ],
        )
        .unwrap();
        assert_eq!(p.files, ["config/rawfiles"]);
        assert_eq!(p.generations.len(), 1);
        assert_eq!(p.generations[0].workdir, "config");
    }

    #[test]
    fn root_and_repeated_paths() {
        let p = plan_with(&[".", "./", ""], &[(".flux.yaml", CMD)]).unwrap();
        assert_eq!(p.generations.len(), 1);
        assert_eq!(p.generations[0].workdir, "");
        assert_eq!(p.generations[0].name, ".flux.yaml");
        let p = plan_with(&[], &[]).unwrap();
        assert_eq!(p.files, [""]);
    }

    #[test]
    fn errors_name_the_file() {
        let e = plan_with(&["a"], &[("a/.flux.yaml", "version: 1\nbogus: {}\n")]).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("a/.flux.yaml:2: bogus: unknown key"),
            "{e}"
        );
        let e = plan_with(
            &["a"],
            &[(
                "a/.flux.yaml",
                "version: 1\npatchUpdated:\n  generators: []\n  patchFile: ../../p.yaml\n",
            )],
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "a/.flux.yaml: patchUpdated.patchFile: \"../../p.yaml\" from a: it leads outside the repository"
        );
        let e = plan_with(&["../x"], &[]).unwrap_err();
        assert!(e.to_string().contains("contains '..'"), "{e}");
    }

    #[test]
    fn resolving_relative_paths() {
        assert_eq!(resolve("a/b", "p.yaml"), Ok("a/b/p.yaml".into()));
        assert_eq!(resolve("a/b", "./x/../p.yaml"), Ok("a/b/p.yaml".into()));
        assert_eq!(resolve("a/b", "../../p.yaml"), Ok("p.yaml".into()));
        assert!(resolve("a", "../../p.yaml").is_err());
        assert!(resolve("", ".git/config").is_err());
        assert!(resolve("a", "..").is_err());
        assert!(resolve("a", "/p").is_err());
    }
}
