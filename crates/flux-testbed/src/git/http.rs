//! git's smart HTTP: `git http-backend` behind Python's CGI server, over
//! plain HTTP, or behind a TLS-terminating proxy with a certificate from a
//! [`TestCa`].

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::port::{free_port, wait_for_listener};
use crate::process::ServerProcess;
use crate::tls::TestCa;

/// git's smart HTTP (`git http-backend`) behind Python's CGI server on
/// `http://127.0.0.1:PORT/git/`, serving every repository under a base
/// directory, pushes included, optionally only to clients sending one user
/// and password (HTTP basic auth; others get `401` with a
/// `WWW-Authenticate: Basic` challenge). [`HttpsGitServer`] puts TLS in
/// front of it.
#[derive(Debug)]
pub struct HttpGitServer {
    _dir: tempfile::TempDir,
    port: u16,
    process: ServerProcess,
}

impl HttpGitServer {
    /// Starts it on a free port, serving `base` (absolute) to anyone.
    pub fn start(base: &Path) -> io::Result<Self> {
        Self::start_inner(base, None)
    }

    /// Starts it on a free port, serving `base` (absolute) only to clients
    /// that authenticate as `user` with `password`.
    pub fn start_with_basic_auth(base: &Path, user: &str, password: &str) -> io::Result<Self> {
        Self::start_inner(base, Some((user, password)))
    }

    fn start_inner(base: &Path, auth: Option<(&str, &str)>) -> io::Result<Self> {
        let dir = tempfile::tempdir()?;
        let cgi = dir.path().join("cgi-bin");
        fs::create_dir_all(&cgi)?;
        let script = cgi.join("git");
        let lines = [
            "#!/bin/sh".to_owned(),
            format!(
                "export GIT_PROJECT_ROOT='{}' GIT_HTTP_EXPORT_ALL=1",
                base.display()
            ),
            "export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_COUNT=2"
                .to_owned(),
            "export GIT_CONFIG_KEY_0=http.receivepack GIT_CONFIG_VALUE_0=true".to_owned(),
            "export GIT_CONFIG_KEY_1=safe.directory GIT_CONFIG_VALUE_1='*'".to_owned(),
            "exec git http-backend".to_owned(),
        ];
        fs::write(&script, lines.join("\n") + "\n")?;
        fs::set_permissions(&script, fs::Permissions::from_mode(0o755))?;
        let serve = dir.path().join("serve.py");
        let python = [
            "import base64, http.server as h, os, sys",
            "# Keep our uid: the CGI would otherwise drop to nobody when run as root.",
            "h.nobody_uid = os.getuid",
            "os.chdir(sys.argv[1])",
            "want = sys.argv[3] if len(sys.argv) > 3 else None",
            "want = want and 'Basic ' + base64.b64encode(want.encode()).decode()",
            "class Handler(h.CGIHTTPRequestHandler):",
            "    def allowed(self):",
            "        if want is None or self.headers.get('Authorization') == want:",
            "            return True",
            "        self.send_response(401)",
            "        self.send_header('WWW-Authenticate', 'Basic realm=\"git\"')",
            "        self.send_header('Content-Length', '0')",
            "        self.end_headers()",
            "        return False",
            "    def do_GET(self):",
            "        if self.allowed():",
            "            super().do_GET()",
            "    def do_POST(self):",
            "        if self.allowed():",
            "            super().do_POST()",
            "h.test(HandlerClass=Handler, port=int(sys.argv[2]), bind='127.0.0.1')",
        ];
        fs::write(&serve, python.join("\n") + "\n")?;
        let mut last = None;
        for _ in 0..5 {
            let port = free_port()?;
            let mut cmd = Command::new("python3");
            cmd.arg(&serve).arg(dir.path()).arg(port.to_string());
            if let Some((user, password)) = auth {
                cmd.arg(format!("{user}:{password}"));
            }
            cmd.stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            let mut process = ServerProcess::spawn("python3 http.server", cmd)?;
            match wait_for_listener(port, Duration::from_secs(10), || process.is_running()) {
                Ok(()) => {
                    return Ok(HttpGitServer {
                        _dir: dir,
                        port,
                        process,
                    });
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::other("http server did not start")))
    }

    /// The URL of repository `name` under the base directory.
    pub fn url(&self, name: &str) -> String {
        format!("http://127.0.0.1:{}/cgi-bin/git/{name}", self.port)
    }

    /// Stops it now (it also stops when dropped).
    pub fn stop(&mut self) {
        self.process.stop();
    }
}

/// A TLS-terminating proxy (Python's `ssl`) on `https://127.0.0.1:PORT/`
/// in front of an [`HttpGitServer`], with a server certificate signed by
/// its own [`TestCa`]: an `https://` git host with a private CA. Clients
/// must be told to trust [`HttpsGitServer::ca_file`].
#[derive(Debug)]
pub struct HttpsGitServer {
    // Field order is drop order: the proxy stops before what it serves.
    process: ServerProcess,
    plain: HttpGitServer,
    ca: TestCa,
    _dir: tempfile::TempDir,
    port: u16,
}

/// Forwards each TLS connection to the plain server, byte for byte.
const TLS_PROXY: &str = r#"import select, socket, ssl, sys, threading

port, upstream, cert, key = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
listener = socket.create_server(("127.0.0.1", port))


def serve(conn):
    try:
        tls = ctx.wrap_socket(conn, server_side=True)
        up = socket.create_connection(("127.0.0.1", upstream))
    except OSError:
        conn.close()
        return
    # One thread per connection, so that when either side closes, both
    # sockets are closed at once (a close while another thread is blocked
    # reading would not reach the client).
    try:
        while True:
            # Decrypted bytes already buffered do not show up in select.
            ready = [tls] if tls.pending() else select.select([tls, up], [], [])[0]
            for src in ready:
                data = src.recv(65536)
                if not data:
                    if src is up:
                        # The answer is complete: end TLS properly
                        # (close_notify), or clients call it truncated.
                        tls.settimeout(2)
                        tls.unwrap()
                    return
                (up if src is tls else tls).sendall(data)
    except (OSError, ValueError):
        pass
    finally:
        for s in (tls, up):
            try:
                s.close()
            except OSError:
                pass


while True:
    conn, _ = listener.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
"#;

impl HttpsGitServer {
    /// Makes a CA and server certificate, and starts the plain server and
    /// the TLS proxy on free ports, serving `base` (absolute) to anyone.
    pub fn start(base: &Path) -> io::Result<Self> {
        Self::over(HttpGitServer::start(base)?)
    }

    /// Like [`HttpsGitServer::start`], but serving only clients that
    /// authenticate as `user` with `password`.
    pub fn start_with_basic_auth(base: &Path, user: &str, password: &str) -> io::Result<Self> {
        Self::over(HttpGitServer::start_with_basic_auth(base, user, password)?)
    }

    fn over(plain: HttpGitServer) -> io::Result<Self> {
        let ca = TestCa::new()?;
        let dir = tempfile::tempdir()?;
        let script = dir.path().join("tls_proxy.py");
        fs::write(&script, TLS_PROXY)?;
        let mut last = None;
        for _ in 0..5 {
            let port = free_port()?;
            let mut cmd = Command::new("python3");
            cmd.arg(&script)
                .arg(port.to_string())
                .arg(plain.port.to_string())
                .arg(ca.server_cert())
                .arg(ca.server_key())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            let mut process = ServerProcess::spawn("python3 TLS proxy", cmd)?;
            match wait_for_listener(port, Duration::from_secs(10), || process.is_running()) {
                Ok(()) => {
                    return Ok(HttpsGitServer {
                        process,
                        plain,
                        ca,
                        _dir: dir,
                        port,
                    });
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::other("TLS proxy did not start")))
    }

    /// The `https://` URL of repository `name` under the base directory.
    pub fn url(&self, name: &str) -> String {
        format!("https://127.0.0.1:{}/cgi-bin/git/{name}", self.port)
    }

    /// The CA certificate clients must trust.
    pub fn ca_file(&self) -> std::path::PathBuf {
        self.ca.ca_file()
    }

    /// Stops both servers now (they also stop when dropped).
    pub fn stop(&mut self) {
        self.process.stop();
        self.plain.stop();
    }
}
