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
use crate::faults::{Call, FaultAction};
use crate::http::{self as h, Body, Request};
use crate::requests::{self, RequestRecord};

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
                            let _ = http
                                .serve_connection(TokioIo::new(stream), svc)
                                .with_upgrades()
                                .await;
                        }
                        Some(acceptor) => match acceptor.accept(stream).await {
                            Ok(stream) => {
                                let _ = http
                                    .serve_connection(TokioIo::new(stream), svc)
                                    .with_upgrades()
                                    .await;
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

/// The bearer token of a request, if any.
pub(crate) fn bearer(headers: &http::HeaderMap) -> Option<&str> {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::trim)
}

async fn one(
    shared: Arc<Shared>,
    req: http::Request<Incoming>,
) -> Result<http::Response<Body>, Dropped> {
    let headers = req.headers();
    let token = bearer(headers);
    let user_agent = headers
        .get("user-agent")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let path = req.uri().path();
    let query = req.uri().query().unwrap_or("");
    let mut record = RequestRecord {
        time: chrono::Utc::now(),
        token: token.map(str::to_owned),
        user: shared
            .access
            .user_name(headers.get("authorization").and_then(|v| v.to_str().ok())),
        user_agent: user_agent.to_owned(),
        method: req.method().as_str().to_owned(),
        verb: requests::verb(req.method(), path, query),
        path: path.to_owned(),
        query: query.to_owned(),
        status: 0,
    };
    let verdict = shared.faults.verdict(&Call {
        method: req.method().as_str(),
        path,
        token,
        user_agent,
    });
    if !verdict.delay.is_zero() {
        tokio::time::sleep(verdict.delay).await;
    }
    let response = match verdict.action {
        Some(FaultAction::Drop) => {
            shared.requests.push(record);
            return Err(Dropped);
        }
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
            h::error(&e)
        }
        Some(FaultAction::Latency { .. }) | None => {
            match crate::portforward::target(req.uri().path()) {
                Some((ns, pod)) => crate::portforward::upgrade(&shared, req, &ns, &pod),
                None => handle(&shared, req).await,
            }
        }
    };
    record.status = response.status().as_u16();
    shared.requests.push(record);
    Ok(response)
}

async fn handle(shared: &Arc<Shared>, req: http::Request<Incoming>) -> http::Response<Body> {
    let (parts, body) = req.into_parts();
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            return h::error(&ApiError {
                code: 413,
                reason: "RequestEntityTooLarge",
                message: format!("the request body could not be read: {e}"),
                details: None,
            });
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
    api::handle(shared.clone(), request).await
}
