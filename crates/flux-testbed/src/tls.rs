//! A throw-away certificate authority for TLS servers in tests, made with
//! the `openssl` program: a CA certificate to trust (as `SSL_CERT_FILE`, or
//! a client's CA option) and a server certificate for `127.0.0.1` signed by
//! it, as a private git or registry host would have.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A CA and one server certificate for `127.0.0.1`, in a temporary directory.
#[derive(Debug)]
pub struct TestCa {
    dir: tempfile::TempDir,
}

const CA_CONFIG: &str = "\
[req]
distinguished_name = dn
prompt = no
x509_extensions = ext
[dn]
CN = flux-testbed CA {name}
[ext]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
";

const SERVER_EXTENSIONS: &str = "\
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1
authorityKeyIdentifier = keyid
";

impl TestCa {
    /// Makes a new CA (P-256 keys, valid for a week) and a server
    /// certificate for `127.0.0.1` signed by it.
    pub fn new() -> io::Result<Self> {
        let dir = tempfile::tempdir()?;
        let d = dir.path();
        // Each CA has a name of its own, as distinct CAs do.
        let name = d.file_name().unwrap_or_default().to_string_lossy();
        fs::write(d.join("ca.cnf"), CA_CONFIG.replace("{name}", &name))?;
        fs::write(d.join("server.ext"), SERVER_EXTENSIONS)?;
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
        openssl(
            d,
            &["req", "-x509", "-config", "ca.cnf", "-nodes"],
            &ec,
            &["-keyout", "ca.key", "-out", "ca.pem", "-days", "7"],
        )?;
        openssl(
            d,
            &["req", "-new", "-nodes"],
            &ec,
            &[
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
                "-subj",
                "/CN=127.0.0.1",
            ],
        )?;
        openssl(
            d,
            &["x509", "-req", "-in", "server.csr"],
            &[],
            &[
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-set_serial",
                "2",
                "-days",
                "7",
                "-extfile",
                "server.ext",
                "-out",
                "server.pem",
            ],
        )?;
        Ok(TestCa { dir })
    }

    /// The CA certificate (PEM): what a client must trust.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// The server certificate (PEM), for `127.0.0.1`.
    pub fn server_cert(&self) -> PathBuf {
        self.dir.path().join("server.pem")
    }

    /// The server's private key (PEM).
    pub fn server_key(&self) -> PathBuf {
        self.dir.path().join("server.key")
    }
}

fn openssl(dir: &Path, head: &[&str], key: &[&str], tail: &[&str]) -> io::Result<()> {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(head)
        .args(key)
        .args(tail)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot run openssl (Debian package openssl): {e}"),
            )
        })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "openssl {}: {}",
            head.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}
