//! kubectl, the referee, against the emulator binary.
#![allow(missing_docs)]
//!
//! Every test starts its own `kube-emulator` on a free loopback port and
//! runs the real kubectl (with a private kubeconfig and HOME) against it.

mod access;
mod api;
mod faults;
mod leases;
mod managed;
mod openapi;
mod portforward;
mod resources;
mod rollouts;
mod untrusted;
mod watch;

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::process::{Child, Command, Stdio};

use kube_emulator::kubectl::Kubectl;
use serde_json::Value;

/// A running emulator binary and a kubectl pointed at it.
pub struct Emu {
    child: Child,
    pub url: String,
    pub kubectl: Kubectl,
    /// The CA to trust, when serving TLS.
    pub ca_pem: Option<String>,
    _dir: tempfile::TempDir,
}

impl Emu {
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    pub fn start_with(args: &[&str]) -> Self {
        Self::start_inner(args, false)
    }

    /// Started with `--tls` (and `--ca-cert`, to trust it).
    pub fn start_tls(args: &[&str]) -> Self {
        Self::start_inner(args, true)
    }

    fn start_inner(args: &[&str], tls: bool) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let ca = dir.path().join("ca.pem");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_kube-emulator"));
        cmd.args(["--listen", "127.0.0.1:0"]);
        if tls {
            cmd.arg("--tls").arg("--ca-cert").arg(&ca);
        }
        let mut child = cmd
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start kube-emulator");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("read the listening line");
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        let ca_pem = tls.then(|| std::fs::read_to_string(&ca).expect("the CA certificate"));
        let kubectl = Kubectl::with_ca(&url, None, ca_pem.as_deref()).expect("kubectl setup");
        Emu {
            child,
            url,
            kubectl,
            ca_pem,
            _dir: dir,
        }
    }

    /// A kubectl authenticating with `token` (trusting the CA if TLS).
    pub fn kubectl_as(&self, token: &str) -> Kubectl {
        Kubectl::with_ca(&self.url, Some(token), self.ca_pem.as_deref()).expect("kubectl setup")
    }

    /// kubectl, failing the test if it fails.
    pub fn ok(&self, args: &[&str]) -> String {
        self.kubectl.run(args).expect_ok(&args.join(" ")).to_owned()
    }

    /// kubectl with stdin, failing the test if it fails.
    pub fn ok_stdin(&self, args: &[&str], stdin: &str) -> String {
        self.kubectl
            .run_stdin(args, stdin)
            .expect_ok(&args.join(" "))
            .to_owned()
    }

    /// `kubectl apply --server-side -f -`.
    pub fn apply(&self, yaml: &str, extra: &[&str]) -> kube_emulator::kubectl::Output {
        let mut args = vec!["apply", "--server-side", "-f", "-"];
        args.extend_from_slice(extra);
        self.kubectl.run_stdin(&args, yaml)
    }

    /// `kubectl get … -o json`, parsed.
    pub fn get_json(&self, args: &[&str]) -> Value {
        let mut a = vec!["get"];
        a.extend_from_slice(args);
        a.extend_from_slice(&["-o", "json", "--show-managed-fields"]);
        serde_json::from_str(&self.ok(&a)).expect("kubectl printed JSON")
    }

    /// A raw HTTP request to the emulator (for its control endpoints).
    pub fn http(&self, method: &str, path: &str, body: &str) -> (u16, String) {
        self.raw(method, path, "", body)
    }

    /// A raw HTTP request with a bearer token.
    pub fn http_auth(&self, method: &str, path: &str, token: &str, body: &str) -> (u16, String) {
        self.raw(
            method,
            path,
            &format!("Authorization: Bearer {token}\r\n"),
            body,
        )
    }

    fn raw(&self, method: &str, path: &str, headers: &str, body: &str) -> (u16, String) {
        let addr = self.url.trim_start_matches("http://");
        let mut s = std::net::TcpStream::connect(addr).expect("connect");
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{headers}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .expect("write request");
        let mut resp = String::new();
        s.read_to_string(&mut resp).expect("read response");
        let code = resp
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = resp
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        (code, body)
    }
}

impl Drop for Emu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub const APP: &str = r#"
apiVersion: v1
kind: Namespace
metadata:
  name: demo
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: demo
  labels: {app: web, tier: front}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: app
        image: nginx:1.25
        ports:
        - containerPort: 80
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: cfg
  namespace: demo
  labels: {app: web}
data:
  a: "1"
---
apiVersion: v1
kind: Secret
metadata:
  name: creds
  namespace: demo
stringData:
  password: hunter2
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: demo
spec:
  selector: {app: web}
  ports:
  - port: 80
"#;
