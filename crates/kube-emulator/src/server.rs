//! The HTTP/1.1 server: accepts connections (over TLS if configured),
//! applies injected faults, reads request bodies and hands requests to
//! [`crate::api`].
//!
//! hyper is used directly (not through a router) because a dropped
//! connection is one of the faults: a service error makes hyper close the
//! connection without answering, which is exactly what a client sees when
//! an API server or a load balancer goes away mid-request.

use std::sync::Arc;

use http_body_util::{BodyExt as _, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use crate::api::{self, Shared};
use crate::error::ApiError;
use crate::faults::FaultAction;
use crate::http::{self as h, Body, Request};

/// Largest request body accepted (the API server's limit is 3 MiB).
const MAX_BODY: usize = 3 * 1024 * 1024;

/// The error that makes hyper drop a connection.
#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by fault injection")
    }
}

impl std::error::Error for Dropped {}

/// Serves connections until the task is aborted; aborting it also ends
/// every open connection. With `tls`, every connection must complete a TLS
/// handshake first (a failed one is dropped).
pub async fn serve(listener: TcpListener, shared: Arc<Shared>, tls: Option<TlsAcceptor>) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let _ = stream.set_nodelay(true);
                let shared = shared.clone();
                let tls = tls.clone();
                conns.spawn(async move {
                    let svc = service_fn(move |req| one(shared.clone(), req));
                    let mut http = http1::Builder::new();
                    http.keep_alive(true);
                    match tls {
                        None => {
                            let _ = http.serve_connection(TokioIo::new(stream), svc).await;
                        }
                        Some(acceptor) => match acceptor.accept(stream).await {
                            Ok(stream) => {
                                let _ = http.serve_connection(TokioIo::new(stream), svc).await;
                            }
                            Err(e) => tracing::debug!(error = %e, "TLS handshake failed"),
                        },
                    }
                });
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

async fn one(
    shared: Arc<Shared>,
    req: http::Request<Incoming>,
) -> Result<http::Response<Body>, Dropped> {
    let verdict = shared
        .faults
        .verdict(req.method().as_str(), req.uri().path());
    if !verdict.delay.is_zero() {
        tokio::time::sleep(verdict.delay).await;
    }
    match verdict.action {
        Some(FaultAction::Drop) => return Err(Dropped),
        Some(FaultAction::Status { code, retry_after }) => {
            let e = match code {
                429 => ApiError::too_many_requests(retry_after.unwrap_or(1)),
                c => {
                    let mut e = ApiError::internal(format!("injected fault: HTTP {c}"));
                    e.code = c;
                    if let Some(s) = retry_after {
                        e.details = Some(serde_json::json!({"retryAfterSeconds": s}));
                    }
                    e
                }
            };
            return Ok(h::error(&e));
        }
        Some(FaultAction::Latency { .. }) | None => {}
    }
    let (parts, body) = req.into_parts();
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            return Ok(h::error(&ApiError {
                code: 413,
                reason: "RequestEntityTooLarge",
                message: format!("the request body could not be read: {e}"),
                details: None,
            }));
        }
    };
    let query = parts
        .uri
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let request = Request {
        method: parts.method,
        path: parts.uri.path().to_owned(),
        query,
        headers: parts.headers,
        body,
    };
    Ok(api::handle(shared, request).await)
}
