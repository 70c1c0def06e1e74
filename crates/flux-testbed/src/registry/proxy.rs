//! An HTTP proxy in front of a registry that counts every request by kind
//! and can answer with errors, slow down, or pretend the registry is down;
//! and play a hostile registry: canned answers for chosen paths, tag lists
//! with injected tags, pagination links to another origin, or pages that
//! never end.

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
    paging: Paging,
    canned: Vec<Canned>,
}

/// How tag list pages are made up, beyond their size.
#[derive(Debug, Clone, Default)]
struct Paging {
    /// `scheme://host:port` put in front of `Link` targets.
    link_origin: Option<String>,
    /// Tags added to every repository's list.
    inject: Vec<String>,
    /// Tags per page of a list that never ends (the registry's own list is
    /// not asked for).
    endless: Option<usize>,
}

/// A fixed answer for one path.
#[derive(Debug, Clone)]
struct Canned {
    path: String,
    content_type: String,
    body: Vec<u8>,
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

    /// Makes `Link` headers of paged tag lists absolute URLs at `origin`
    /// (`http://host:port`) instead of paths on the proxy: a registry that
    /// points its clients at another host.
    pub fn link_origin(&self, origin: Option<String>) {
        self.shared
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .paging
            .link_origin = origin;
    }

    /// Adds `tags` to every tag list served while paging (what a broken or
    /// hostile registry might list: `../x`, `a/b`, `%2F`, …).
    pub fn inject_tags(&self, tags: Vec<String>) {
        self.shared
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .paging
            .inject = tags;
    }

    /// Serves tag lists that never end: pages of `per_page` made-up tags
    /// (`t<page>-<n>`), each with a `Link` to the next (needs
    /// [`Proxy::paginate_tags`] on). `None` goes back to the real lists.
    pub fn endless_tags(&self, per_page: Option<usize>) {
        self.shared
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .paging
            .endless = per_page;
    }

    /// Answers GET and HEAD requests for `path` (without a query) with 200,
    /// `content_type` and `body`, and no digest header, instead of asking
    /// the registry.
    pub fn serve(&self, path: &str, content_type: &str, body: Vec<u8>) {
        let mut shared = self.shared.lock().unwrap_or_else(|p| p.into_inner());
        shared.canned.retain(|c| c.path != path);
        shared.canned.push(Canned {
            path: path.to_owned(),
            content_type: content_type.to_owned(),
            body,
        });
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
    let (fault, page_limit, paging, canned) = {
        let mut shared = st.shared.lock().unwrap_or_else(|p| p.into_inner());
        shared.log.push((method.to_string(), path.clone()));
        let page_limit = shared.page_limit;
        let paging = shared.paging.clone();
        let bare = path.split('?').next().unwrap_or(&path);
        let canned = shared.canned.iter().find(|c| c.path == bare).cloned();
        let fault = shared.fault.clone();
        if let Fault::Status { times: Some(n), .. } = &mut shared.fault {
            *n = n.saturating_sub(1);
            if *n == 0 {
                shared.fault = Fault::None;
            }
        }
        (fault, page_limit, paging, canned)
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
    if let Some(c) = canned.filter(|_| method == "GET" || method == "HEAD") {
        let body = if method == "HEAD" { Vec::new() } else { c.body };
        let mut resp = Response::new(Body::from(body));
        if let Ok(v) = HeaderValue::from_str(&c.content_type) {
            resp.headers_mut().insert("content-type", v);
        }
        return resp;
    }
    if let Some(limit) = page_limit.filter(|_| classify(method.as_str(), &path) == "tags") {
        return paginate(&st, req, &path, limit, &paging).await;
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
async fn paginate(
    st: &ProxyState,
    req: Request,
    path: &str,
    limit: usize,
    paging: &Paging,
) -> Response {
    let (base, query) = path.split_once('?').unwrap_or((path, ""));
    let mut n = limit;
    let mut last = None;
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some(("n", v)) => n = v.parse().unwrap_or(limit).min(limit),
            Some(("last", v)) => last = Some(percent_decode(v)),
            _ => {}
        }
    }
    if let Some(per_page) = paging.endless {
        // Pages are numbered by the `last` tag of the previous one: t<k>-<n>.
        let k: u64 = last
            .as_deref()
            .and_then(|l| l.strip_prefix('t')?.split('-').next()?.parse().ok())
            .map_or(0, |k: u64| k + 1);
        let page: Vec<String> = (0..per_page).map(|n| format!("t{k}-{n:06}")).collect();
        let name = base
            .strip_prefix("/v2/")
            .and_then(|b| b.strip_suffix("/tags/list"))
            .unwrap_or_default();
        let mut back = Response::new(Body::from(
            serde_json::json!({"name": name, "tags": page}).to_string(),
        ));
        if let Some(l) = page.last() {
            link(&mut back, paging, base, per_page, l);
        }
        return back;
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
    let challenge = resp.headers().get("www-authenticate").cloned();
    let Ok(bytes) = resp.bytes().await else {
        return status(StatusCode::BAD_GATEWAY);
    };
    if !code.is_success() {
        let mut back = Response::new(Body::from(bytes));
        *back.status_mut() = code;
        if let Some(c) = challenge {
            back.headers_mut().insert("www-authenticate", c);
        }
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
    tags.extend(paging.inject.iter().cloned());
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
    {
        link(&mut back, paging, base, n, l);
    }
    back
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (b[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Adds the `Link` to the page after `last`.
fn link(resp: &mut Response, paging: &Paging, base: &str, n: usize, last: &str) {
    let origin = paging.link_origin.as_deref().unwrap_or_default();
    let last: String = last
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    if let Ok(v) =
        HeaderValue::from_str(&format!("<{origin}{base}?n={n}&last={last}>; rel=\"next\""))
    {
        resp.headers_mut().insert("link", v);
    }
}

fn status(code: StatusCode) -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = code;
    r
}
