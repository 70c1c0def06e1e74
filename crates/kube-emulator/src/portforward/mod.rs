//! `pods/{name}/portforward`, the way kubectl and kube-rs speak it.
//!
//! There are no pods, so a pod's port is forwarded to a local TCP address
//! registered for it with [`crate::Server::forward_pod_port`] (or `POST
//! /emulator/portforward` on the binary); the Pod object must exist, as
//! on a real cluster. A port nothing is registered for is reported on the
//! port's error stream, as the kubelet reports a refused connection.
//!
//! Three ways in, chosen by the upgrade request:
//! - WebSocket with subprotocol `SPDY/3.1+portforward.k8s.io`: SPDY
//!   tunnelled in binary messages (kubectl 1.31+ tries this first);
//! - `Upgrade: SPDY/3.1` (kubectl's fallback, and older kubectls);
//! - WebSocket with `v4.channel.k8s.io` (or `portforward.k8s.io`) and the
//!   ports in the query: one byte of channel per message, channel `2i`
//!   the data of the `i`th port and `2i+1` its errors, each opened with
//!   the port number (kube-rs' `Api::<Pod>::portforward`).

mod spdy;

use std::net::SocketAddr;
use std::sync::Arc;

use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt as _, StreamExt as _};
use http_body_util::{BodyExt as _, Empty};
use hyper::body::Incoming;
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _, ReadHalf, WriteHalf};
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::Role;

use crate::api::Shared;
use crate::error::ApiError;
use crate::http::{self as h, Body};

const TUNNEL: &str = "SPDY/3.1+portforward.k8s.io";
const CHANNELS: [&str; 2] = ["v4.channel.k8s.io", "portforward.k8s.io"];

type Io = TokioIo<Upgraded>;

/// The connection a session runs over.
pub enum Transport {
    /// Raw bytes after an HTTP upgrade.
    Raw(Io),
    /// WebSocket binary messages.
    Ws(Box<WebSocketStream<Io>>),
}

/// The reading half of a [`Transport`].
pub enum Reader {
    /// Raw bytes.
    Raw(ReadHalf<Io>),
    /// WebSocket messages.
    Ws(SplitStream<WebSocketStream<Io>>),
}

/// The writing half of a [`Transport`].
pub enum Writer {
    /// Raw bytes.
    Raw(WriteHalf<Io>),
    /// WebSocket messages.
    Ws(SplitSink<WebSocketStream<Io>, Message>),
}

impl Transport {
    fn split(self) -> (Reader, Writer) {
        match self {
            Transport::Raw(io) => {
                let (r, w) = tokio::io::split(io);
                (Reader::Raw(r), Writer::Raw(w))
            }
            Transport::Ws(ws) => {
                let (w, r) = (*ws).split();
                (Reader::Ws(r), Writer::Ws(w))
            }
        }
    }
}

impl Reader {
    /// The next bytes received, `None` at the end.
    async fn recv(&mut self) -> Option<Vec<u8>> {
        match self {
            Reader::Raw(r) => {
                let mut b = vec![0u8; 16 * 1024];
                match r.read(&mut b).await {
                    Ok(0) | Err(_) => None,
                    Ok(n) => {
                        b.truncate(n);
                        Some(b)
                    }
                }
            }
            Reader::Ws(s) => loop {
                match s.next().await? {
                    Ok(Message::Binary(b)) => return Some(b.to_vec()),
                    Ok(Message::Close(_)) | Err(_) => return None,
                    Ok(_) => {}
                }
            },
        }
    }
}

impl Writer {
    /// Sends bytes (one binary message on a WebSocket).
    async fn send(&mut self, b: Vec<u8>) -> Result<(), ()> {
        match self {
            Writer::Raw(w) => w.write_all(&b).await.map_err(|_| ()),
            Writer::Ws(s) => s.send(Message::binary(b)).await.map_err(|_| ()),
        }
    }
}

/// The pod a port-forward path names: `/api/v1/namespaces/{ns}/pods/{name}/portforward`.
pub fn target(path: &str) -> Option<(String, String)> {
    let rp = h::parse_resource_path(path)?;
    (rp.group.is_empty() && rp.plural == "pods" && rp.sub.as_deref() == Some("portforward"))
        .then(|| Some((rp.namespace?, h::decode_path(&rp.name?))))
        .flatten()
}

/// Where the port of a pod is forwarded, or why it cannot be.
fn resolver(
    shared: Arc<Shared>,
    ns: String,
    pod: String,
) -> impl Fn(u16) -> Result<SocketAddr, String> {
    move |port| {
        shared
            .forwards
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&(ns.clone(), pod.clone(), port))
            .copied()
            .ok_or_else(|| {
                format!(
                    "error forwarding port {port} to pod {ns}/{pod}: nothing is registered for this port (kube-emulator: Server::forward_pod_port)"
                )
            })
    }
}

/// Registers where a pod's port goes, and marks the pod Running and
/// Ready on 127.0.0.1 (kubectl forwards only to running pods).
pub fn register(shared: &Shared, ns: &str, pod: &str, port: u16, to: SocketAddr) {
    shared
        .forwards
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .insert((ns.to_owned(), pod.to_owned(), port), to);
    let Some(rt) = shared.store.resolve("", "v1", "pods") else {
        return;
    };
    for _ in 0..10 {
        let Some(cur) = shared.store.get(&rt, ns, pod) else {
            return;
        };
        if cur
            .pointer("/status/phase")
            .and_then(serde_json::Value::as_str)
            == Some("Running")
        {
            return;
        }
        let now = crate::now();
        let containers: Vec<serde_json::Value> = cur
            .pointer("/spec/containers")
            .and_then(serde_json::Value::as_array)
            .into_iter()
            .flatten()
            .map(|c| {
                serde_json::json!({"name": c["name"], "image": c["image"], "imageID": "",
                    "ready": true, "started": true, "restartCount": 0,
                    "state": {"running": {"startedAt": now}}})
            })
            .collect();
        let cond =
            |t: &str| serde_json::json!({"type": t, "status": "True", "lastTransitionTime": now});
        let mut obj = cur.value.clone();
        obj["status"] = serde_json::json!({
            "phase": "Running", "hostIP": "127.0.0.1", "podIP": "127.0.0.1",
            "podIPs": [{"ip": "127.0.0.1"}], "startTime": now, "qosClass": "BestEffort",
            "conditions": [cond("Initialized"), cond("Ready"), cond("ContainersReady"), cond("PodScheduled")],
            "containerStatuses": containers,
        });
        let target = crate::ops::Target {
            store: &shared.store,
            alloc: &shared.alloc,
            rt: &rt,
            version: "v1",
            ns,
            name: pod,
        };
        let opts = crate::ops::WriteOptions {
            manager: "kubelet",
            dry_run: false,
            validation: crate::ops::FieldValidation::Ignore,
        };
        match target.write(
            crate::ops::Sub::Status,
            &crate::ops::Mutation::Replace(obj),
            &opts,
        ) {
            Err(e) if e.code == 409 => continue,
            _ => return,
        }
    }
}

fn header<'a>(req: &'a http::Request<Incoming>, name: &str) -> &'a str {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

fn switching(headers: &[(&str, String)]) -> http::Response<Body> {
    let mut b = http::Response::builder().status(101);
    for (k, v) in headers {
        b = b.header(*k, v);
    }
    b.body(Empty::new().map_err(|never| match never {}).boxed())
        .unwrap_or_else(|_| h::error(&ApiError::internal("bad upgrade response")))
}

/// Answers a port-forward request: checks who asks and that the pod
/// exists, agrees on a protocol, and serves the session once the
/// connection is upgraded.
pub fn upgrade(
    shared: &Arc<Shared>,
    req: http::Request<Incoming>,
    ns: &str,
    pod: &str,
) -> http::Response<Body> {
    match prepare(shared, &req, ns, pod) {
        Err(e) => h::error(&e),
        Ok((kind, headers)) => {
            let resolve = resolver(shared.clone(), ns.to_owned(), pod.to_owned());
            let ports: Vec<u16> = req
                .uri()
                .query()
                .map(|q| {
                    form_urlencoded::parse(q.as_bytes())
                        .filter(|(k, _)| k == "ports")
                        .flat_map(|(_, v)| {
                            v.split(',')
                                .filter_map(|p| p.trim().parse().ok())
                                .collect::<Vec<_>>()
                        })
                        .collect()
                })
                .unwrap_or_default();
            let mut sessions = shared
                .sessions
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            while sessions.try_join_next().is_some() {}
            sessions.spawn(async move {
                let Ok(up) = hyper::upgrade::on(req).await else {
                    return;
                };
                let io = TokioIo::new(up);
                match kind {
                    Kind::Spdy => spdy::serve(Transport::Raw(io), resolve).await,
                    Kind::Tunnel => {
                        let ws = WebSocketStream::from_raw_socket(io, Role::Server, None).await;
                        spdy::serve(Transport::Ws(Box::new(ws)), resolve).await;
                    }
                    Kind::Channels => {
                        let ws = WebSocketStream::from_raw_socket(io, Role::Server, None).await;
                        channels(ws, ports, resolve).await;
                    }
                }
            });
            switching(&headers)
        }
    }
}

enum Kind {
    Spdy,
    Tunnel,
    Channels,
}

/// The protocol agreed on, and the headers of the 101 answer.
type Agreed = (Kind, Vec<(&'static str, String)>);

fn prepare(
    shared: &Arc<Shared>,
    req: &http::Request<Incoming>,
    ns: &str,
    pod: &str,
) -> Result<Agreed, ApiError> {
    let who = shared.access.authenticate(
        req.headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok()),
    )?;
    let pods = shared
        .store
        .resolve("", "v1", "pods")
        .ok_or_else(|| ApiError::no_route(req.uri().path()))?;
    shared
        .access
        .authorize(&who, "create", &pods, Some(ns), Some(pod))?;
    if shared.store.get(&pods, ns, pod).is_none() {
        return Err(ApiError::not_found("", "pods", pod));
    }
    let upgrade = header(req, "upgrade").to_ascii_lowercase();
    if upgrade == "websocket" {
        let offered: Vec<&str> = header(req, "sec-websocket-protocol")
            .split(',')
            .map(str::trim)
            .collect();
        let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(
            header(req, "sec-websocket-key").as_bytes(),
        );
        let (kind, protocol) = if offered.contains(&TUNNEL) {
            (Kind::Tunnel, TUNNEL)
        } else if let Some(p) = CHANNELS.iter().find(|p| offered.contains(p)) {
            (Kind::Channels, *p)
        } else {
            return Err(ApiError::bad_request(format!(
                "port-forward over WebSocket needs one of the subprotocols {TUNNEL}, {}; got {offered:?}",
                CHANNELS.join(", ")
            )));
        };
        return Ok((
            kind,
            vec![
                ("connection", "Upgrade".into()),
                ("upgrade", "websocket".into()),
                ("sec-websocket-accept", accept),
                ("sec-websocket-protocol", protocol.into()),
            ],
        ));
    }
    if upgrade.contains("spdy/3.1") {
        return Ok((
            Kind::Spdy,
            vec![
                ("connection", "Upgrade".into()),
                ("upgrade", "SPDY/3.1".into()),
                ("x-stream-protocol-version", "portforward.k8s.io".into()),
            ],
        ));
    }
    Err(ApiError::bad_request(
        "Upgrade request required: port-forward needs a WebSocket or SPDY/3.1 upgrade",
    ))
}

/// The WebSocket channel protocol (kube-rs).
async fn channels(
    ws: WebSocketStream<Io>,
    ports: Vec<u16>,
    resolve: impl Fn(u16) -> Result<SocketAddr, String>,
) {
    let (mut sink, mut stream) = ws.split();
    let (out, mut out_rx) = mpsc::unbounded_channel::<Message>();
    let mut writers = Vec::new();
    let mut downloads = tokio::task::JoinSet::new();
    for (i, port) in ports.iter().enumerate() {
        let Ok(ch) = u8::try_from(2 * i) else { break };
        let p = port.to_le_bytes();
        let _ = out.send(Message::binary(vec![ch, p[0], p[1]]));
        let _ = out.send(Message::binary(vec![ch + 1, p[0], p[1]]));
        let conn = match resolve(*port) {
            Ok(addr) => tokio::net::TcpStream::connect(addr)
                .await
                .map_err(|e| format!("dial tcp {addr}: {e}")),
            Err(e) => Err(e),
        };
        match conn {
            Ok(c) => {
                let (mut rd, wr) = c.into_split();
                writers.push(Some(wr));
                let out = out.clone();
                downloads.spawn(async move {
                    let mut b = vec![0u8; 16 * 1024];
                    b[0] = ch;
                    loop {
                        match rd.read(&mut b[1..]).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => {
                                if out.send(Message::binary(b[..=n].to_vec())).is_err() {
                                    return;
                                }
                            }
                        }
                    }
                });
            }
            Err(e) => {
                writers.push(None);
                let mut m = vec![ch + 1];
                m.extend_from_slice(e.as_bytes());
                let _ = out.send(Message::binary(m));
            }
        }
    }
    drop(out);
    let write_loop = async {
        while let Some(m) = out_rx.recv().await {
            if sink.send(m).await.is_err() {
                return;
            }
        }
        // Every target is done.
        let _ = sink.send(Message::Close(None)).await;
    };
    let read_loop = async {
        while let Some(Ok(m)) = stream.next().await {
            let Message::Binary(b) = m else {
                if m.is_close() {
                    return;
                }
                continue;
            };
            let Some((&ch, rest)) = b.split_first() else {
                continue;
            };
            let (index, close) = match ch {
                // v5's close signal: [255, channel].
                255 => (
                    rest.first().map_or(usize::MAX, |c| usize::from(*c) / 2),
                    true,
                ),
                c if c % 2 == 0 => (usize::from(c) / 2, false),
                _ => continue,
            };
            let Some(Some(w)) = writers.get_mut(index) else {
                continue;
            };
            if close || w.write_all(rest).await.is_err() {
                let _ = w.shutdown().await;
                writers[index] = None;
            }
        }
    };
    let all_done = async { while downloads.join_next().await.is_some() {} };
    tokio::select! {
        () = read_loop => {}
        ((), ()) = async { tokio::join!(all_done, write_loop) } => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_forward_paths() {
        assert_eq!(
            target("/api/v1/namespaces/demo/pods/web-0/portforward"),
            Some(("demo".into(), "web-0".into()))
        );
        assert_eq!(target("/api/v1/namespaces/demo/pods/web-0/exec"), None);
        assert_eq!(target("/api/v1/namespaces/demo/pods/web-0"), None);
        assert_eq!(
            target("/apis/x/v1/namespaces/demo/pods/a/portforward"),
            None
        );
    }
}
