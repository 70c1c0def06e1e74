//! Port-forwarding to a pod's registered address: the real kubectl (over
//! WebSocket-tunnelled SPDY, and plain SPDY) and kube-rs (WebSocket
//! channels) reach a TCP echo server on loopback.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Stdio};
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, PostParams};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::Emu;

const POD: &str = "apiVersion: v1
kind: Pod
metadata: {name: web, namespace: default}
spec: {containers: [{name: app, image: nginx:1.25}]}
";

/// An echo server on a free loopback port: `pong:` on every connection,
/// then every byte it reads, until the client stops sending.
fn echo_server() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut c) = conn else { return };
            std::thread::spawn(move || {
                let Ok(mut back) = c.try_clone() else { return };
                let _ = back.write_all(b"pong:");
                let _ = std::io::copy(&mut c, &mut back);
            });
        }
    });
    addr
}

fn ping(addr: SocketAddr, msg: &[u8]) -> Vec<u8> {
    let mut c = TcpStream::connect(addr).expect("connect to the forwarded port");
    c.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    c.write_all(msg).expect("write");
    c.shutdown(std::net::Shutdown::Write).expect("shutdown");
    let mut out = Vec::new();
    c.read_to_end(&mut out).expect("read the echo");
    out
}

/// `kubectl port-forward pod/web :80`, and the local port it chose.
fn port_forward(
    emu: &Emu,
    env: &[(&str, &str)],
) -> (Child, u16, BufReader<std::process::ChildStdout>) {
    let mut cmd = emu.kubectl.command();
    cmd.args(["port-forward", "pod/web", ":80", ":81"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("start kubectl port-forward");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    out.read_line(&mut line).expect("the forwarding line");
    // "Forwarding from 127.0.0.1:PORT -> 80"
    let port = line
        .split_whitespace()
        .nth(2)
        .and_then(|a| a.rsplit(':').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    (child, port, out)
}

#[test]
fn kubectl_port_forward_reaches_the_registered_address() {
    let emu = Emu::start();
    emu.ok_stdin(&["apply", "--server-side", "-f", "-"], POD);
    let echo = echo_server();
    let (code, body) = emu.http(
        "POST",
        "/emulator/portforward",
        &format!(r#"{{"namespace": "default", "pod": "web", "port": 80, "address": "{echo}"}}"#),
    );
    assert_eq!(code, 200, "{body}");
    // Registering marks the pod running, as kubectl requires.
    let pod = emu.get_json(&["pod", "web"]);
    assert_eq!(pod["status"]["phase"], "Running");

    // kubectl 1.32 tunnels SPDY through a WebSocket first; with that
    // switched off it upgrades to SPDY directly.
    for env in [vec![], vec![("KUBECTL_PORT_FORWARD_WEBSOCKETS", "false")]] {
        let (mut child, port, _out) = port_forward(&emu, &env);
        let local = SocketAddr::from(([127, 0, 0, 1], port));
        assert_eq!(ping(local, b"hello"), b"pong:hello", "{env:?}");
        let big = vec![b'x'; 200_000];
        let got = ping(local, &big);
        assert_eq!(got.len(), 5 + big.len(), "{env:?}");
        let _ = child.kill();
        let _ = child.wait();
    }
    let log: Vec<serde_json::Value> =
        serde_json::from_str(&emu.http("GET", "/emulator/requests", "").1).unwrap();
    let upgrades: Vec<(&str, &str)> = log
        .iter()
        .filter(|r| r["status"] == 101)
        .map(|r| (r["method"].as_str().unwrap(), r["path"].as_str().unwrap()))
        .collect();
    let path = "/api/v1/namespaces/default/pods/web/portforward";
    assert_eq!(
        upgrades,
        [("GET", path), ("POST", path)],
        "WebSocket, then SPDY"
    );

    // A port nothing listens on for the pod: kubectl reports the error.
    let mut cmd = emu.kubectl.command();
    cmd.args(["port-forward", "pod/web", ":81"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let port: u16 = line
        .split_whitespace()
        .nth(2)
        .and_then(|a| a.rsplit(':').next())
        .and_then(|p| p.parse().ok())
        .unwrap();
    let _ = TcpStream::connect(("127.0.0.1", port)).map(|mut c| {
        let _ = c.write_all(b"x");
        let mut s = String::new();
        let _ = c.read_to_string(&mut s);
    });
    let status = child.wait().unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(!status.success());
    assert!(
        err.contains("an error occurred forwarding")
            && err.contains("nothing is registered for this port"),
        "{err}"
    );
    // No such pod: 404 before any upgrade.
    let missing = emu.kubectl.run(&["port-forward", "pod/nope", ":80"]);
    assert!(!missing.ok);
    assert!(
        missing.stderr.contains("pods \"nope\" not found"),
        "{}",
        missing.stderr
    );
}

#[tokio::test]
async fn kube_rs_port_forward_reaches_the_registered_address() {
    let server = kube_emulator::Emulator::new().start().await.unwrap();
    let client = kube::Client::try_from(kube::Config::new(server.url().parse().unwrap())).unwrap();
    let pods: Api<Pod> = Api::namespaced(client, "default");
    let pod: Pod = serde_saphyr::from_str(POD).unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();
    let echo = echo_server();
    server.forward_pod_port("default", "web", 80, echo);

    let mut pf = pods.portforward("web", &[80, 81]).await.unwrap();
    let mut stream = pf.take_stream(80).unwrap();
    stream.write_all(b"hello from kube-rs").await.unwrap();
    let mut got = vec![0u8; 23];
    tokio::time::timeout(Duration::from_secs(10), stream.read_exact(&mut got))
        .await
        .expect("the echo")
        .unwrap();
    assert_eq!(got, b"pong:hello from kube-rs");
    let mut err81 = pf.take_error(81).unwrap();
    let message = tokio::time::timeout(Duration::from_secs(10), &mut err81)
        .await
        .expect("an error for the unregistered port");
    assert!(message.is_some_and(|m| m.contains("nothing is registered for this port")),);
    drop(stream);
    pf.abort();

    // A second session: bytes go both ways while it is open (kube-rs
    // closes the whole WebSocket when its side of the port is shut).
    let mut pf = pods.portforward("web", &[80]).await.unwrap();
    let mut stream = pf.take_stream(80).unwrap();
    stream.write_all(b"ping").await.unwrap();
    let mut got = vec![0u8; 9];
    tokio::time::timeout(Duration::from_secs(10), stream.read_exact(&mut got))
        .await
        .expect("the echo")
        .unwrap();
    assert_eq!(got, b"pong:ping");
    drop(stream);
    pf.abort();
    let log = server.request_log();
    assert!(
        log.iter()
            .any(|r| r.path.ends_with("/pods/web/portforward") && r.status == 101),
        "{log:?}"
    );
}
