//! Reading directories: paths, symlinks, limits, and all-or-nothing errors.

use std::fs;
use std::path::Path;

use flux_core::ScopeTable;
use flux_core::manifest::{LoadOptions, Manifests, load_dir};

const CM: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: NAME\n";

fn cm(name: &str) -> String {
    CM.replace("NAME", name)
}

fn write(root: &Path, rel: &str, text: &str) {
    let path = root.join(rel);
    fs::create_dir_all(path.parent().expect("has a parent")).expect("mkdir");
    fs::write(path, text).expect("write");
}

fn load(root: &Path, paths: &[&str]) -> Result<Manifests, String> {
    load_dir(root, paths, &ScopeTable::builtin(), &LoadOptions::default())
        .map_err(|e| e.to_string())
}

fn ids(m: &Manifests) -> Vec<String> {
    m.resources.keys().map(ToString::to_string).collect()
}

#[test]
fn missing_git_path_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "a/x.yaml", &cm("x"));
    let e = load(dir.path(), &["a", "nope"]).unwrap_err();
    assert!(e.contains("git path \"nope\" not found"), "{e}");
}

#[test]
fn git_path_may_not_leave_the_repository() {
    let dir = tempfile::tempdir().expect("tempdir");
    let e = load(dir.path(), &["../etc"]).unwrap_err();
    assert!(e.contains("not a path inside the repository"), "{e}");
    let e = load(dir.path(), &["/etc"]).unwrap_err();
    assert!(e.contains("absolute"), "{e}");
}

#[cfg(unix)]
#[test]
fn symlinks_inside_are_followed_and_outside_are_refused() {
    let outside = tempfile::tempdir().expect("tempdir");
    write(outside.path(), "secret.yaml", &cm("secret"));
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "real/a.yaml", &cm("a"));
    std::os::unix::fs::symlink(dir.path().join("real"), dir.path().join("linked"))
        .expect("symlink");
    // A link to a directory inside the root is read once (no duplicate).
    let m = load(dir.path(), &["."]).expect("loads");
    assert_eq!(ids(&m), ["default:configmap/a"]);

    std::os::unix::fs::symlink(
        outside.path().join("secret.yaml"),
        dir.path().join("real/evil.yaml"),
    )
    .expect("symlink");
    let e = load(dir.path(), &["."]).unwrap_err();
    // Reached through `linked/` first (sorted order); either path names the link.
    assert!(
        e.contains("/evil.yaml: symbolic link leads outside the repository"),
        "{e}"
    );
}

#[cfg(unix)]
#[test]
fn symlink_loops_terminate() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "a/x.yaml", &cm("x"));
    std::os::unix::fs::symlink(dir.path().join("a"), dir.path().join("a/loop")).expect("symlink");
    let m = load(dir.path(), &["."]).expect("loads");
    assert_eq!(ids(&m), ["default:configmap/x"]);
}

/// A repository `repo/` beside a directory `outside/` holding manifests
/// that must never be read through the repository.
#[cfg(unix)]
struct Escape {
    _top: tempfile::TempDir,
    repo: std::path::PathBuf,
    outside: std::path::PathBuf,
}

#[cfg(unix)]
impl Escape {
    fn new() -> Self {
        let top = tempfile::tempdir().expect("tempdir");
        let repo = top.path().join("repo");
        let outside = top.path().join("outside");
        write(&repo, "apps/a.yaml", &cm("a"));
        write(&outside, "secret.yaml", &cm("secret"));
        write(&outside, "apps/s.yaml", &cm("s"));
        write(&outside, "deep/apps/d.yaml", &cm("d"));
        Escape {
            _top: top,
            repo,
            outside,
        }
    }

    /// Makes `repo/<link>` a symbolic link to `to`.
    fn link(&self, link: &str, to: &Path) {
        let at = self.repo.join(link);
        fs::create_dir_all(at.parent().expect("has a parent")).expect("mkdir");
        std::os::unix::fs::symlink(to, at).expect("symlink");
    }
}

#[cfg(unix)]
#[test]
fn git_paths_through_links_leading_outside_are_refused_in_every_position() {
    let bed = Escape::new();
    bed.link("out", &bed.outside);
    bed.link("apps/up", Path::new("../../outside"));
    bed.link("evil.yaml", &bed.outside.join("secret.yaml"));
    bed.link("apps/rel.yaml", Path::new("../../outside/secret.yaml"));
    for (git_path, link) in [
        // The last component.
        ("out", "out"),
        // A parent.
        ("out/apps", "out"),
        // A grandparent.
        ("out/deep/apps", "out"),
        // A file through a parent.
        ("out/secret.yaml", "out"),
        // A file link itself.
        ("evil.yaml", "evil.yaml"),
        // A relative link, in the middle.
        ("apps/up/apps", "apps/up"),
        ("apps/rel.yaml", "apps/rel.yaml"),
    ] {
        let e = load(&bed.repo, &[git_path]).unwrap_err();
        assert!(
            e.contains(&format!(
                "{link}: symbolic link leads outside the repository"
            )),
            "--git-path {git_path}: {e}"
        );
    }
}

#[cfg(unix)]
#[test]
fn git_paths_through_links_staying_inside_are_read() {
    let bed = Escape::new();
    write(&bed.repo, "real/deep/b.yaml", &cm("b"));
    bed.link("inside", &bed.repo.join("real"));
    bed.link("rel", Path::new("real/deep"));
    bed.link("apps/b.yaml", Path::new("../real/deep/b.yaml"));
    for (git_path, want) in [
        ("inside/deep", vec!["default:configmap/b"]),
        ("rel", vec!["default:configmap/b"]),
        ("apps/b.yaml", vec!["default:configmap/b"]),
        ("apps", vec!["default:configmap/a", "default:configmap/b"]),
    ] {
        let m =
            load(&bed.repo, &[git_path]).unwrap_or_else(|e| panic!("--git-path {git_path}: {e}"));
        assert_eq!(ids(&m), want, "--git-path {git_path}");
    }
    // The repository itself may be reached through a link.
    let top = bed.repo.parent().expect("has a parent").join("repo-link");
    std::os::unix::fs::symlink(&bed.repo, &top).expect("symlink");
    let m = load(&top, &["inside/deep"]).expect("loads");
    assert_eq!(ids(&m), ["default:configmap/b"]);
}

#[cfg(unix)]
#[test]
fn git_paths_through_loops_and_dangling_links_are_errors_not_empty() {
    // A git path that reads as nothing would sync nothing, and garbage
    // collection would then delete everything: each of these must fail.
    let bed = Escape::new();
    bed.link("self", Path::new("self"));
    bed.link("ping", Path::new("pong"));
    bed.link("pong", Path::new("ping"));
    bed.link("gone", Path::new("nowhere"));
    bed.link("apps/gone.yaml", Path::new("nowhere.yaml"));
    for (git_path, link) in [
        ("self", "self"),
        ("self/apps", "self"),
        ("ping", "ping"),
        ("ping/x/y", "ping"),
        ("gone", "gone"),
        ("gone/apps", "gone"),
        ("apps/gone.yaml", "apps/gone.yaml"),
    ] {
        let e = load(&bed.repo, &[git_path]).unwrap_err();
        assert!(e.contains(link), "--git-path {git_path}: {e}");
        assert!(
            e.contains("cannot be followed") || e.contains("not found"),
            "--git-path {git_path}: {e}"
        );
    }
}

#[test]
fn oversized_file_is_refused_before_reading() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "big.yaml", &cm("big"));
    let options = LoadOptions {
        max_file_size: 16,
        ..LoadOptions::default()
    };
    let e = load_dir(dir.path(), &["."], &ScopeTable::builtin(), &options)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("big.yaml: 53 bytes is over the limit of 16 bytes"),
        "{e}"
    );
}

#[test]
fn one_bad_file_fails_the_whole_load() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "good.yaml", &cm("good"));
    write(
        dir.path(),
        "sub/bad.yml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [oops\n",
    );
    let e = load(dir.path(), &["."]).unwrap_err();
    assert!(e.contains("sub/bad.yml:"), "{e}");
}

#[test]
fn non_yaml_and_hidden_files_are_ignored() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "a.yaml", &cm("a"));
    write(dir.path(), "notes.txt", "not: [yaml");
    write(dir.path(), ".flux.yaml", "version: 1\n");
    write(dir.path(), ".git/config.yaml", "garbage: [");
    write(dir.path(), "chart/Chart.yaml", "name: c\n");
    write(dir.path(), "chart/templates/t.yaml", "{{ broken }}: [");
    let m = load(dir.path(), &["."]).expect("loads");
    assert_eq!(ids(&m), ["default:configmap/a"]);
}

#[test]
fn a_file_can_be_a_git_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "a.yaml", &cm("a"));
    write(dir.path(), "b.yaml", &cm("b"));
    let m = load(dir.path(), &["b.yaml"]).expect("loads");
    assert_eq!(ids(&m), ["default:configmap/b"]);
}

/// Regression test (issue 13): a plain repository that also holds the files
/// `kubectl apply -k` reads syncs, the kustomization files being noted.
#[test]
fn a_repository_with_kustomization_files_loads() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "base/kustomization.yaml",
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- cm.yaml\n",
    );
    write(dir.path(), "base/cm.yaml", &cm("settings"));
    write(
        dir.path(),
        "overlay/kustomization.yml",
        "resources:\n- ../base\nnamePrefix: prod-\n",
    );
    let m = load(dir.path(), &["."]).expect("loads");
    assert_eq!(ids(&m), ["default:configmap/settings"]);
    let skipped: Vec<&str> = m.skipped.iter().map(|s| s.file.as_str()).collect();
    assert_eq!(
        skipped,
        ["base/kustomization.yaml", "overlay/kustomization.yml"]
    );
}
