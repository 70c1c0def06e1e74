//! A real registry for tests and benchmarks: Debian's `docker-registry` on a
//! free loopback port with its own config and storage in a temporary
//! directory, optionally behind htpasswd (`htpasswd` from apache2-utils) or
//! token authentication; images built in Rust and pushed over the registry
//! API; and a proxy that counts requests and injects faults.
//!
//! Nothing here is for production.

pub mod images;
pub mod proxy;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub use images::{Format, PushAuth, Pusher, TestImage};
pub use proxy::{Fault, Proxy};

/// The registry binary Debian installs.
pub const REGISTRY_BIN: &str = "/usr/bin/docker-registry";

/// A test-bed failure, with what was being done.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {message}")]
pub struct TestbedError {
    /// What was being done.
    pub what: String,
    /// What went wrong.
    pub message: String,
}

pub(crate) fn tb_err(what: impl Into<String>, message: impl std::fmt::Display) -> TestbedError {
    TestbedError {
        what: what.into(),
        message: message.to_string(),
    }
}

/// Token authentication settings for the registry (`auth.token`).
#[derive(Debug, Clone)]
pub struct TokenAuth {
    /// Where clients get tokens.
    pub realm: String,
    /// The `service` the registry expects in tokens.
    pub service: String,
    /// The `iss` the registry expects in tokens.
    pub issuer: String,
    /// PEM file of the certificate whose key signs the tokens.
    pub root_cert_bundle: PathBuf,
}

/// How to start a registry.
#[derive(Debug, Clone, Default)]
pub struct RegistryOptions {
    /// Require these credentials (htpasswd).
    pub htpasswd: Option<(String, String)>,
    /// Require bearer tokens from this token service.
    pub token: Option<TokenAuth>,
    /// Keep storage here instead of a fresh temporary directory (to restart
    /// a registry on the same data).
    pub storage: Option<PathBuf>,
    /// Serve HTTPS only, with this certificate and key (PEM), e.g. a
    /// [`TestCa`](crate::tls::TestCa)'s server certificate for `127.0.0.1`.
    pub tls: Option<(PathBuf, PathBuf)>,
}

/// A running `docker-registry`, stopped when dropped.
#[derive(Debug)]
pub struct Registry {
    child: Child,
    addr: String,
    storage: PathBuf,
    _dir: tempfile::TempDir,
}

impl Registry {
    /// Starts a registry with open access.
    pub fn start() -> Result<Self, TestbedError> {
        Self::start_with(RegistryOptions::default())
    }

    /// Starts a registry as configured.
    pub fn start_with(options: RegistryOptions) -> Result<Self, TestbedError> {
        if !Path::new(REGISTRY_BIN).exists() {
            return Err(tb_err(
                "starting docker-registry",
                format!("{REGISTRY_BIN} is missing: run scripts/install-deps"),
            ));
        }
        let dir = tempfile::tempdir().map_err(|e| tb_err("temp dir", e))?;
        let storage = options
            .storage
            .clone()
            .unwrap_or_else(|| dir.path().join("storage"));
        let mut auth = String::new();
        if let Some((user, password)) = &options.htpasswd {
            let out = Command::new("htpasswd")
                .args(["-Bbn", user, password])
                .output()
                .map_err(|e| tb_err("running htpasswd (apache2-utils)", e))?;
            if !out.status.success() {
                return Err(tb_err("htpasswd", String::from_utf8_lossy(&out.stderr)));
            }
            let file = dir.path().join("htpasswd");
            std::fs::write(&file, &out.stdout).map_err(|e| tb_err("writing htpasswd", e))?;
            auth = format!(
                "auth:\n  htpasswd:\n    realm: flux-test\n    path: {}\n",
                file.display()
            );
        } else if let Some(t) = &options.token {
            auth = format!(
                "auth:\n  token:\n    realm: {}\n    service: {}\n    issuer: {}\n    rootcertbundle: {}\n",
                t.realm,
                t.service,
                t.issuer,
                t.root_cert_bundle.display()
            );
        }
        let tls = options
            .tls
            .as_ref()
            .map_or_else(String::new, |(cert, key)| {
                format!(
                    "  tls:\n    certificate: {}\n    key: {}\n",
                    cert.display(),
                    key.display()
                )
            });
        let config = format!(
            "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n  maintenance:\n    uploadpurging:\n      enabled: false\nhttp:\n  addr: 127.0.0.1:0\n  secret: flux-test-secret\n{tls}{auth}",
            storage.display()
        );
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).map_err(|e| tb_err("writing registry config", e))?;
        let mut child = Command::new(REGISTRY_BIN)
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| tb_err("starting docker-registry", e))?;
        let stderr = child
            .stderr
            .take()
            .ok_or_else(|| tb_err("starting docker-registry", "no stderr"))?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("listening on ").nth(1) {
                    // "listening on 127.0.0.1:PORT" (", tls" after it with TLS).
                    let addr: String = rest
                        .chars()
                        .take_while(|c| !c.is_whitespace() && *c != '"' && *c != ',')
                        .collect();
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(addr);
                    }
                }
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(addr) => addr,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(tb_err(
                    "starting docker-registry",
                    "it never said where it listens",
                ));
            }
        };
        Ok(Self {
            child,
            addr,
            storage,
            _dir: dir,
        })
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Where the registry keeps its data.
    pub fn storage(&self) -> &Path {
        &self.storage
    }

    /// Stops the registry now (it is also stopped when dropped).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Installs rustls' ring provider as the process default if none is (the
/// workspace builds reqwest without a provider of its own).
pub(crate) fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A loopback port nothing listens on (bound, then released).
pub fn dead_addr() -> Result<String, TestbedError> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| tb_err("binding", e))?;
    let addr = l.local_addr().map_err(|e| tb_err("binding", e))?;
    drop(l);
    Ok(addr.to_string())
}
