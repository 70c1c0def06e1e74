//! Helpers: the repository's paths, kustomize through kubectl, fluxctl
//! run in-process.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// The repository's root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the repository root")
}

/// `deploy/`.
pub fn deploy_dir() -> PathBuf {
    repo_root().join("deploy")
}

/// `to` as a path relative to the directory `from` (both absolute), as
/// kustomize wants references to other kustomizations.
pub fn relative(from: &Path, to: &Path) -> String {
    let from = from.canonicalize().expect("from exists");
    let to = to.canonicalize().expect("to exists");
    let common = from
        .components()
        .zip(to.components())
        .take_while(|(a, b)| a == b)
        .count();
    let ups = from.components().count() - common;
    let mut out: Vec<String> = vec!["..".to_owned(); ups];
    out.extend(
        to.components()
            .skip(common)
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    out.join("/")
}

/// `kubectl kustomize DIR`, as text (panics with kubectl's error).
pub fn kustomize_text(dir: &Path) -> String {
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(dir)
        .output()
        .expect("kubectl runs");
    assert!(
        out.status.success(),
        "kubectl kustomize {} failed: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8")
}

/// The documents of a YAML stream.
pub fn documents(text: &str) -> Vec<Value> {
    serde_saphyr::from_multiple::<Value>(text)
        .expect("YAML")
        .into_iter()
        .filter(|d| !d.is_null())
        .collect()
}

/// `kubectl kustomize DIR`, as objects.
pub fn kustomize(dir: &Path) -> Vec<Value> {
    documents(&kustomize_text(dir))
}

/// A kustomization in a fresh directory, written from `text` in which
/// `{deploy}` stands for the path of `deploy/` relative to it.
pub fn overlay(text: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = text.replace("{deploy}", &relative(dir.path(), &deploy_dir()));
    std::fs::write(dir.path().join("kustomization.yaml"), text).expect("write");
    dir
}

/// What fluxctl printed and how it exited.
pub struct Run {
    /// The exit kind.
    pub exit: flux_cli::error::Exit,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// Runs fluxctl in-process with `args` (without the program name) and no
/// environment.
pub fn fluxctl(args: &[&str]) -> Run {
    let mut out = Vec::new();
    let mut err = Vec::new();
    let exit = flux_cli::run_with(
        std::iter::once("fluxctl").chain(args.iter().copied()),
        &flux_cli::request::Env::default(),
        &mut out,
        &mut err,
    );
    Run {
        exit,
        stdout: String::from_utf8(out).expect("UTF-8"),
        stderr: String::from_utf8(err).expect("UTF-8"),
    }
}

/// `kind/namespace/name` of an object, for messages and lookups.
pub fn key(o: &Value) -> String {
    let s = |p: &str| o.pointer(p).and_then(Value::as_str).unwrap_or("");
    format!(
        "{}/{}/{}",
        s("/kind"),
        s("/metadata/namespace"),
        s("/metadata/name")
    )
}

/// cargo with the environment of a shell, not of this test: the variables
/// cargo and nextest set for a test (`CARGO_*`, `NEXTEST_*`, library paths)
/// would otherwise make cargo rebuild build scripts that watch them, in the
/// shared target directory, for every build after.
pub fn cargo() -> Command {
    let keep = |k: &str| {
        matches!(
            k,
            "PATH" | "HOME" | "USER" | "LANG" | "TMPDIR" | "CARGO_HOME" | "RUST_BACKTRACE"
        ) || k.starts_with("RUSTUP_")
            || k.starts_with("LC_")
    };
    let mut c = Command::new("cargo");
    c.env_clear()
        .envs(std::env::vars().filter(|(k, _)| keep(k)));
    c
}
