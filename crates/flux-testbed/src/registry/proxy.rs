//! An HTTP proxy in front of a registry that counts every request by kind
//! and can answer with errors, slow down, or pretend the registry is down.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;

use super::{TestbedError, tb_err};

/// What the proxy does to requests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Fault {
    /// Forward everything.
    #[default]
    None,
    /// Answer `status` (with `Retry-After` if given) instead of forwarding,
    /// for the next `times` requests (`None`: until told otherwise).
    Status {
        /// HTTP status to answer.
        status: u16,
        /// `Retry-After` seconds.
        retry_after: Option<u64>,
        /// How many requests to fail.
        times: Option<u32>,
    },
    /// Wait this long before forwarding.
    Delay(Duration),
}

#[derive(Debug, Default)]
struct Shared {
    fault: Fault,
    log: Vec<(String, String)>,
    page_limit: Option<usize>,
}

#[derive(Clone)]
struct ProxyState {
    upstream: String,
    http: reqwest::Client,
    shared: Arc<Mutex<Shared>>,
}

/// A counting, fault-injecting proxy; stopped when dropped.
#[derive(Debug)]
pub struct Proxy {
    addr: String,
    shared: Arc<Mutex<Shared>>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Starts a proxy to `upstream` (`host:port`) on a free loopback port.
    /// Must be called inside a tokio runtime.
    pub async fn start(upstream: &str) -> Result<Self, TestbedError> {
        super::install_crypto_provider();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| tb_err("binding proxy", e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| tb_err("binding proxy", e))?
            .to_string();
        let shared = Arc::new(Mutex::new(Shared::default()));
        let state = ProxyState {
            upstream: upstream.to_owned(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                // No idle timer: tests on paused time would see the clock jump.
                .pool_idle_timeout(None)
                .build()
                .map_err(|e| tb_err("proxy client", e))?,
            shared: shared.clone(),
        };
        let app = axum::Router::new().fallback(forward).with_state(state);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { addr, shared, task })
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Sets what happens to the following requests.
    pub fn set_fault(&self, fault: Fault) {
        self.shared.lock().unwrap_or_else(|p| p.into_inner()).fault = fault;
    }

    /// Serves tag lists in pages of at most `limit` with `Link` headers, as
    /// Docker Hub and distribution 3 do (the installed distribution 2.8
    /// always returns the whole list).
    pub fn paginate_tags(&self, limit: Option<usize>) {
        self.shared
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .page_limit = limit;
    }

    /// Every request so far as (method, path and query).
    pub fn requests(&self) -> Vec<(String, String)> {
        self.shared
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .log
            .clone()
    }

    /// Forgets the requests seen so far.
    pub fn reset(&self) {
        self.shared
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .log
            .clear();
    }

    /// Requests so far by kind: `tags`, `manifest` (GET), `head`, `blob`,
    /// `ping` (`/v2/`) or `other`.
    pub fn count(&self, kind: &str) -> usize {
        self.requests()
            .iter()
            .filter(|(m, p)| classify(m, p) == kind)
            .count()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The kind of a registry API request.
pub fn classify(method: &str, path: &str) -> &'static str {
    let path = path.split('?').next().unwrap_or(path);
    if path.ends_with("/tags/list") {
        "tags"
    } else if path.contains("/manifests/") {
        if method == "HEAD" { "head" } else { "manifest" }
    } else if path.contains("/blobs/") {
        "blob"
    } else if path == "/v2/" || path == "/v2" {
        "ping"
    } else {
        "other"
    }
}

async fn forward(State(st): State<ProxyState>, req: Request) -> Response {
    let method = req.method().clone();
    let path = req
        .uri()
        .path_and_query()
        .map_or_else(|| req.uri().path().to_owned(), |p| p.as_str().to_owned());
    let (fault, page_limit) = {
        let mut shared = st.shared.lock().unwrap_or_else(|p| p.into_inner());
        shared.log.push((method.to_string(), path.clone()));
        let page_limit = shared.page_limit;
        let fault = shared.fault.clone();
        if let Fault::Status { times: Some(n), .. } = &mut shared.fault {
            *n = n.saturating_sub(1);
            if *n == 0 {
                shared.fault = Fault::None;
            }
        }
        (fault, page_limit)
    };
    match fault {
        Fault::Status {
            status,
            retry_after,
            ..
        } => {
            let mut resp = Response::new(Body::from(format!(
                r#"{{"errors":[{{"code":"INJECTED","message":"proxy answered {status}"}}]}}"#
            )));
            *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
            if let Some(s) = retry_after
                && let Ok(v) = HeaderValue::from_str(&s.to_string())
            {
                resp.headers_mut().insert("retry-after", v);
            }
            return resp;
        }
        Fault::Delay(d) => tokio::time::sleep(d).await,
        Fault::None => {}
    }
    if let Some(limit) = page_limit.filter(|_| classify(method.as_str(), &path) == "tags") {
        return paginate(&st, req, &path, limit).await;
    }
    let (parts, body) = req.into_parts();
    let Ok(body) = axum::body::to_bytes(body, 64 << 20).await else {
        return status(StatusCode::BAD_REQUEST);
    };
    let mut out = st
        .http
        .request(parts.method, format!("http://{}{path}", st.upstream))
        .body(body.to_vec());
    for (name, value) in &parts.headers {
        if name != "host" {
            out = out.header(name, value);
        }
    }
    let Ok(resp) = out.send().await else {
        return status(StatusCode::BAD_GATEWAY);
    };
    let code = resp.status();
    let headers = resp.headers().clone();
    let Ok(bytes) = resp.bytes().await else {
        return status(StatusCode::BAD_GATEWAY);
    };
    let mut back = Response::new(Body::from(bytes));
    *back.status_mut() = code;
    for (name, value) in &headers {
        if name != "transfer-encoding" && name != "connection" && name != "content-length" {
            back.headers_mut().append(name, value.clone());
        }
    }
    back
}

/// Fetches the whole tag list and serves one page of it.
async fn paginate(st: &ProxyState, req: Request, path: &str, limit: usize) -> Response {
    let (base, query) = path.split_once('?').unwrap_or((path, ""));
    let mut n = limit;
    let mut last = None;
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some(("n", v)) => n = v.parse().unwrap_or(limit).min(limit),
            Some(("last", v)) => last = Some(v.to_owned()),
            _ => {}
        }
    }
    let mut out = st.http.get(format!("http://{}{base}", st.upstream));
    for (name, value) in req.headers() {
        if name != "host" {
            out = out.header(name, value);
        }
    }
    let Ok(resp) = out.send().await else {
        return status(StatusCode::BAD_GATEWAY);
    };
    let code = resp.status();
    let Ok(bytes) = resp.bytes().await else {
        return status(StatusCode::BAD_GATEWAY);
    };
    if !code.is_success() {
        let mut back = Response::new(Body::from(bytes));
        *back.status_mut() = code;
        return back;
    }
    let Ok(mut list) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        return status(StatusCode::BAD_GATEWAY);
    };
    let mut tags: Vec<String> = list["tags"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|t| t.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    tags.sort();
    let rest: Vec<String> = tags
        .into_iter()
        .filter(|t| last.as_ref().is_none_or(|l| t > l))
        .collect();
    let page: Vec<String> = rest.iter().take(n).cloned().collect();
    list["tags"] = serde_json::json!(page);
    let mut back = Response::new(Body::from(list.to_string()));
    if rest.len() > page.len()
        && let Some(l) = page.last()
        && let Ok(v) = HeaderValue::from_str(&format!("<{base}?n={n}&last={l}>; rel=\"next\""))
    {
        back.headers_mut().insert("link", v);
    }
    back
}

fn status(code: StatusCode) -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = code;
    r
}
