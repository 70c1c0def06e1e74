//! A `kustomize` program for tests: `kustomize build DIR` runs the
//! kustomize built into kubectl (`kubectl kustomize DIR`), so tests of
//! `.flux.yaml` files written for kustomize run the real thing on machines
//! that have kubectl but no separate kustomize (Debian packages none).

use std::ffi::OsString;
use std::io;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

/// The shim's script: `build` and `version` only, as `.flux.yaml` files
/// use them.
const SCRIPT: &str = r#"#!/bin/sh
# kustomize shim of flux-testbed: the kustomize built into kubectl.
case "$1" in
  build) shift; exec kubectl kustomize "$@" ;;
  version) exec kubectl version --client ;;
  *) echo "kustomize (test shim): only 'build' and 'version' are supported" >&2; exit 2 ;;
esac
"#;

/// A directory holding the `kustomize` shim; removed on drop.
#[derive(Debug)]
pub struct Kustomize {
    dir: tempfile::TempDir,
}

impl Kustomize {
    /// Writes the shim. Fails if `kubectl` is not installed (see
    /// `scripts/install-deps`).
    pub fn install() -> io::Result<Self> {
        let ok = std::process::Command::new("kubectl")
            .args(["kustomize", "--help"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !ok {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                "kubectl with kustomize is needed (scripts/install-deps installs it)",
            ));
        }
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("kustomize");
        std::fs::write(&path, SCRIPT)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
        Ok(Kustomize { dir })
    }

    /// The directory holding `kustomize`.
    pub fn bin_dir(&self) -> &Path {
        self.dir.path()
    }

    /// A `PATH` with the shim first, then this process's `PATH`.
    pub fn path_var(&self) -> OsString {
        let mut path = OsString::from(self.dir.path());
        if let Some(rest) = std::env::var_os("PATH") {
            path.push(":");
            path.push(rest);
        }
        path
    }
}
