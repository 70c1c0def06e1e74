//! Running fluxctl in tests.

use std::path::{Path, PathBuf};

use flux_cli::error::Exit;
use flux_cli::request::Env;

/// What one fluxctl run printed and how it ended.
#[derive(Debug)]
pub struct Run {
    /// The exit kind.
    pub exit: Exit,
    /// Standard output.
    pub out: String,
    /// Standard error.
    pub err: String,
}

impl Run {
    /// Panics unless the run succeeded; returns stdout.
    #[track_caller]
    pub fn ok(&self) -> &str {
        assert_eq!(
            self.exit,
            Exit::Success,
            "stdout:\n{}\nstderr:\n{}",
            self.out,
            self.err
        );
        &self.out
    }

    /// Panics unless the run ended with `exit`; returns stderr.
    #[track_caller]
    pub fn fails(&self, exit: Exit) -> &str {
        assert_eq!(
            self.exit, exit,
            "stdout:\n{}\nstderr:\n{}",
            self.out, self.err
        );
        &self.err
    }
}

/// Runs fluxctl in-process with `args` (without the program name) and an
/// environment of `vars` only.
pub fn fluxctl_env(args: &[&str], vars: &[(&str, &str)]) -> Run {
    let env = Env::with_vars(vars.iter().copied());
    let mut out = Vec::new();
    let mut err = Vec::new();
    let mut argv = vec!["fluxctl"];
    argv.extend_from_slice(args);
    let exit = flux_cli::run_with(argv, &env, &mut out, &mut err);
    Run {
        exit,
        out: String::from_utf8(out).expect("stdout is UTF-8"),
        err: String::from_utf8(err).expect("stderr is UTF-8"),
    }
}

/// Runs fluxctl in-process with an empty environment.
pub fn fluxctl(args: &[&str]) -> Run {
    fluxctl_env(args, &[])
}

/// Runs fluxctl with `--local dir` before `args`.
pub fn local(dir: &Path, args: &[&str]) -> Run {
    let dir = dir.to_str().expect("UTF-8 path");
    let mut argv = vec!["--local", dir];
    argv.extend_from_slice(args);
    fluxctl(&argv)
}

/// The bundled example repository.
pub fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/config-repo")
}

/// A copy of the example repository in a temporary directory.
pub fn examples_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_dir(&examples(), dir.path());
    dir
}

/// Copies the directory `from` to `to`, recursively.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// A file of a directory as text.
pub fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file)).expect("read file")
}

/// A file of the bundled examples as text.
pub fn example(file: &str) -> String {
    read(&examples(), file)
}

/// Every file under `dir` with its content, sorted by path.
pub fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
    for entry in std::fs::read_dir(dir).expect("read_dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            walk(root, &path, out);
        } else {
            let rel = path.strip_prefix(root).expect("under root");
            out.push((
                rel.to_string_lossy().into_owned(),
                std::fs::read(&path).expect("read"),
            ));
        }
    }
}

/// Runs fluxctl against the API at `url` (as `--url url`), with no other
/// environment. Tests of a real fluxd can call this with its URL.
pub fn fluxctl_at(url: &str, args: &[&str]) -> Run {
    let mut argv = vec!["--url", url];
    argv.extend_from_slice(args);
    fluxctl(&argv)
}
