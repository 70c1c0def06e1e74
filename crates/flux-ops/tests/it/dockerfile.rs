//! The `Dockerfile`, which cannot be built here (no container engine):
//! what it copies exists and is all the build needs, the binaries it copies
//! are the workspace's, its runtime matches `deploy/`, and its cargo
//! commands build fluxd and fluxctl.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::*;

/// One instruction: its keyword and its arguments (continuation lines
/// joined).
#[derive(Debug, Clone)]
struct Instruction {
    keyword: String,
    args: String,
}

fn instructions() -> Vec<Instruction> {
    let text = std::fs::read_to_string(repo_root().join("Dockerfile")).expect("Dockerfile");
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if current.is_empty() && (trimmed.is_empty() || trimmed.starts_with('#')) {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(part) => {
                current.push_str(part);
                current.push(' ');
            }
            None => {
                current.push_str(trimmed);
                let (keyword, args) = current.split_once(' ').unwrap_or((&current, ""));
                out.push(Instruction {
                    keyword: keyword.to_uppercase(),
                    args: args.trim().to_owned(),
                });
                current.clear();
            }
        }
    }
    assert!(
        current.is_empty(),
        "the Dockerfile ends inside a continued line"
    );
    out
}

fn all(keyword: &str) -> Vec<Instruction> {
    instructions()
        .into_iter()
        .filter(|i| i.keyword == keyword)
        .collect()
}

/// The build context's paths the Dockerfile copies from (not `--from`).
fn copied_sources() -> Vec<String> {
    all("COPY")
        .into_iter()
        .filter(|c| !c.args.starts_with("--from"))
        .flat_map(|c| {
            let words: Vec<String> = c.args.split_whitespace().map(str::to_owned).collect();
            words[..words.len() - 1].to_vec()
        })
        .collect()
}

/// The `cargo install` commands it runs.
fn cargo_installs() -> Vec<String> {
    all("RUN")
        .iter()
        .flat_map(|r| {
            r.args
                .split("&&")
                .map(str::trim)
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .filter(|c| c.starts_with("cargo install"))
        .collect()
}

fn bin_names(crate_dir: &Path) -> Vec<String> {
    let manifest = std::fs::read_to_string(crate_dir.join("Cargo.toml")).expect("Cargo.toml");
    let mut names = Vec::new();
    let mut in_bin = false;
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_bin = line == "[[bin]]";
        } else if in_bin && let Some(v) = line.strip_prefix("name = ") {
            names.push(v.trim_matches('"').to_owned());
        }
    }
    names
}

#[test]
fn what_it_copies_exists_and_is_all_the_build_reads() {
    let root = repo_root();
    let sources = copied_sources();
    assert!(!sources.is_empty());
    for s in &sources {
        assert!(root.join(s).exists(), "COPY {s}: not in the repository");
    }
    let ignored = std::fs::read_to_string(root.join(".dockerignore")).expect(".dockerignore");
    let ignored: BTreeSet<&str> = ignored
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    assert!(
        ignored.contains("target"),
        "the build output stays out of the context"
    );

    // The workspace loads from the copied paths alone, with the lock file.
    // Offline, so only for this machine's platform: the build that ran this
    // test downloaded those packages, and no others (a fresh machine has no
    // copy of, say, Android-only crates).
    let ctx = tempfile::tempdir().expect("tempdir");
    for s in &sources {
        copy(&root.join(s), &ctx.path().join(s));
    }
    let host = host_triple();
    let metadata = cargo()
        .args(["metadata", "--locked", "--offline", "--format-version", "1"])
        .args(["--filter-platform", &host])
        .current_dir(ctx.path())
        .output()
        .expect("cargo runs");
    assert!(
        metadata.status.success(),
        "the workspace does not load from what the Dockerfile copies: {}",
        String::from_utf8_lossy(&metadata.stderr)
    );

    // Files compiled in from outside a crate are copied too.
    let mut included = 0;
    for file in rust_files(&root.join("crates")) {
        if file
            .components()
            .any(|c| c.as_os_str() == "tests" || c.as_os_str() == "benches")
        {
            continue;
        }
        let text = std::fs::read_to_string(&file).expect("read");
        for macro_name in ["include_str!(\"", "include_bytes!(\""] {
            for (i, _) in text.match_indices(macro_name) {
                let rest = &text[i + macro_name.len()..];
                let Some(end) = rest.find('"') else { continue };
                let target = file.parent().expect("a dir").join(&rest[..end]);
                let target = target.canonicalize().unwrap_or_else(|_| {
                    panic!(
                        "{} includes {}, which is missing",
                        file.display(),
                        target.display()
                    )
                });
                let rel = target.strip_prefix(&root).expect("inside the repository");
                assert!(
                    ctx.path().join(rel).is_file(),
                    "{} includes {}, which the Dockerfile does not copy",
                    file.display(),
                    rel.display()
                );
                included += 1;
            }
        }
    }
    assert!(included > 0, "deploy/ at least is compiled into fluxctl");
}

fn copy(from: &Path, to: &Path) {
    if from.is_dir() {
        std::fs::create_dir_all(to).expect("mkdir");
        for e in std::fs::read_dir(from).expect("read dir") {
            let e = e.expect("entry");
            copy(&e.path(), &to.join(e.file_name()));
        }
    } else {
        std::fs::copy(from, to).expect("copy");
    }
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn it_copies_the_workspace_binaries_and_runs_fluxd_as_deploy_expects() {
    let root = repo_root();
    let installs = cargo_installs();
    assert_eq!(installs.len(), 2, "{installs:?}");
    let mut built = BTreeSet::new();
    for cmd in &installs {
        let words: Vec<&str> = cmd.split_whitespace().collect();
        assert!(words.contains(&"--locked"), "{cmd}: builds with Cargo.lock");
        let path = words
            .iter()
            .position(|w| *w == "--path")
            .and_then(|i| words.get(i + 1))
            .unwrap_or_else(|| panic!("{cmd}: no --path"));
        assert!(
            copied_sources()
                .iter()
                .any(|s| path.starts_with(s.as_str())),
            "{cmd}: {path} is not copied"
        );
        built.extend(bin_names(&root.join(path)));
    }
    assert_eq!(
        built,
        BTreeSet::from(["fluxctl".to_owned(), "fluxd".to_owned()])
    );
    // They are the README's, less the image's install root.
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README");
    for cmd in &installs {
        let plain = cmd.replace(" --root /out", "");
        assert!(
            readme.lines().any(|l| l.trim_start().starts_with(&plain)),
            "the README does not say `{plain}`"
        );
    }
    // The runtime stage gets exactly those binaries, from the build stage.
    let from_build: BTreeSet<String> = all("COPY")
        .into_iter()
        .filter(|c| c.args.starts_with("--from=build "))
        .flat_map(|c| {
            let words: Vec<String> = c
                .args
                .split_whitespace()
                .skip(1)
                .map(str::to_owned)
                .collect();
            words[..words.len() - 1].to_vec()
        })
        .map(|p| p.rsplit('/').next().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(from_build, built);
    let entrypoint = all("ENTRYPOINT").pop().expect("an ENTRYPOINT").args;
    let entry: Vec<String> = serde_json::from_str(&entrypoint).expect("exec form");
    assert_eq!(
        entry.last().map(String::as_str),
        Some("/usr/local/bin/fluxd")
    );
    assert_eq!(
        entry[0], "/usr/bin/tini",
        "an init reaps git's and ssh's children"
    );

    // What fluxd shells out to is installed.
    let run_text: String = all("RUN")
        .iter()
        .map(|r| r.args.clone())
        .collect::<Vec<_>>()
        .join(" ");
    for package in ["git", "openssh-client", "gnupg", "ca-certificates", "tini"] {
        assert!(
            run_text.split_whitespace().any(|w| w == package),
            "{package} is not installed"
        );
    }
    assert!(
        all("COPY")
            .iter()
            .any(|c| c.args.ends_with("/usr/local/bin/kustomize")),
        "kustomize is in the image"
    );

    // The user and writable paths are the ones deploy/ runs it with.
    let deployment = kustomize(&deploy_dir())
        .into_iter()
        .find(|o| o["kind"] == "Deployment")
        .expect("a Deployment");
    let pod = &deployment["spec"]["template"]["spec"];
    let user = all("USER").pop().expect("USER").args;
    assert_eq!(
        user,
        format!(
            "{}:{}",
            pod["securityContext"]["runAsUser"], pod["securityContext"]["runAsGroup"]
        )
    );
    let home = all("ENV")
        .iter()
        .find_map(|e| e.args.strip_prefix("HOME=").map(str::to_owned))
        .expect("HOME");
    let mounts = pod["containers"][0]["volumeMounts"]
        .as_array()
        .expect("mounts");
    assert!(
        mounts
            .iter()
            .any(|m| m["name"] == "home" && m["mountPath"] == home.as_str()),
        "HOME {home} is the home volume"
    );
    let cmd: Vec<String> =
        serde_json::from_str(&all("CMD").pop().expect("CMD").args).expect("exec form");
    let args = pod["containers"][0]["args"].as_array().expect("args");
    for default in &cmd {
        assert!(
            args.iter().any(|a| a == default.as_str()),
            "{default}: the image's default is deploy/'s too"
        );
    }

    // The Rust it builds with is at least the workspace's.
    let arg = all("ARG")
        .into_iter()
        .find_map(|a| a.args.strip_prefix("RUST_VERSION=").map(str::to_owned))
        .expect("ARG RUST_VERSION");
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).expect("Cargo.toml");
    let msrv = manifest
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = "))
        .map(|v| v.trim_matches('"').to_owned())
        .expect("rust-version");
    let version = |v: &str| -> Vec<u32> { v.split('.').filter_map(|x| x.parse().ok()).collect() };
    assert!(
        version(&arg) >= version(&msrv),
        "RUST_VERSION {arg} < rust-version {msrv}"
    );
}

/// The Dockerfile's `cargo install` commands, run here in debug mode into
/// a scratch root (the release build they do in the image takes minutes
/// per binary on these machines; `--debug` reuses the test build's
/// dependencies). The README gives the same commands.
#[test]
fn its_cargo_commands_build_fluxd_and_fluxctl() {
    let root = tempfile::tempdir().expect("tempdir");
    for cmd in cargo_installs() {
        let mut words: Vec<String> = cmd.split_whitespace().map(str::to_owned).collect();
        assert_eq!(words[0], "cargo");
        if let Some(i) = words.iter().position(|w| w == "--root") {
            words.drain(i..=i + 1);
        }
        words.extend([
            "--debug".into(),
            "--root".into(),
            root.path().display().to_string(),
        ]);
        let out = cargo()
            .args(&words[1..])
            .current_dir(repo_root())
            .output()
            .expect("cargo runs");
        assert!(
            out.status.success(),
            "{}: {}",
            words.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let version = |bin: &str, arg: &str| {
        let out = Command::new(root.path().join("bin").join(bin))
            .arg(arg)
            .output()
            .expect("runs");
        assert!(out.status.success(), "{bin} {arg}");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    assert_eq!(version("fluxd", "--version"), env!("CARGO_PKG_VERSION"));
    assert_eq!(version("fluxctl", "version"), env!("CARGO_PKG_VERSION"));
}

/// The platform rustc builds for here (`host:` of `rustc -vV`).
fn host_triple() -> String {
    let out = std::process::Command::new("rustc")
        .arg("-vV")
        .output()
        .expect("rustc runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .expect("rustc -vV names the host")
        .to_owned()
}
