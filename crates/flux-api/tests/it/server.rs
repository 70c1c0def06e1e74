//! A tiny real HTTP server on a free loopback port that records every
//! request and answers from a list of canned replies (the last one repeats).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, Response, StatusCode, header};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// One request as the server received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: Method,
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Recorded {
    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("the request body is JSON")
    }

    /// A header's value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A canned reply.
#[derive(Debug, Clone)]
pub struct Canned {
    pub status: u16,
    pub content_type: Option<&'static str>,
    pub body: Vec<u8>,
    pub delay: Option<Duration>,
}

impl Canned {
    /// A JSON reply, as fluxd writes one.
    pub fn json(status: u16, body: &str) -> Self {
        Canned {
            status,
            content_type: Some("application/json; charset=utf-8"),
            body: body.as_bytes().to_vec(),
            delay: None,
        }
    }

    /// A reply with no body.
    pub fn empty(status: u16) -> Self {
        Canned {
            status,
            content_type: None,
            body: Vec::new(),
            delay: None,
        }
    }

    /// A plain-text reply.
    pub fn text(status: u16, body: &str) -> Self {
        Canned {
            status,
            content_type: Some("text/plain; charset=utf-8"),
            body: body.as_bytes().to_vec(),
            delay: None,
        }
    }

    /// The same reply, sent after a delay.
    pub fn after(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self
    }
}

#[derive(Clone)]
struct Shared {
    replies: Arc<Mutex<Vec<Canned>>>,
    requests: Arc<Mutex<Vec<Recorded>>>,
}

/// The running server; stop it with [`TestServer::stop`].
pub struct TestServer {
    addr: SocketAddr,
    shared: Shared,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl TestServer {
    /// Starts a server answering with `replies` in turn (the last repeats).
    pub async fn start(replies: Vec<Canned>) -> TestServer {
        assert!(!replies.is_empty(), "a server needs a reply");
        let shared = Shared {
            replies: Arc::new(Mutex::new(replies)),
            requests: Arc::new(Mutex::new(Vec::new())),
        };
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("bound address");
        let app = Router::new().fallback(answer).with_state(shared.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
                .expect("test server runs");
        });
        TestServer {
            addr,
            shared,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// The API base URL fluxctl would be given.
    pub fn base_url(&self) -> String {
        format!("http://{}/api/flux", self.addr)
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.requests.lock().expect("not poisoned").clone()
    }

    /// The one request made so far.
    pub fn only_request(&self) -> Recorded {
        let requests = self.requests();
        assert_eq!(requests.len(), 1, "requests: {requests:?}");
        requests.into_iter().next().expect("one request")
    }

    /// Stops the server and waits for it.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(mut task) = self.task.take() {
            // A slow handler may still hold a connection: end it.
            if tokio::time::timeout(Duration::from_millis(500), &mut task)
                .await
                .is_err()
            {
                task.abort();
                let _ = task.await;
            }
        }
    }
}

async fn answer(State(shared): State<Shared>, request: Request) -> Response<Body> {
    let (parts, body) = request.into_parts();
    let body = to_bytes(body, 1 << 20)
        .await
        .expect("request body")
        .to_vec();
    shared
        .requests
        .lock()
        .expect("not poisoned")
        .push(Recorded {
            method: parts.method,
            path: parts.uri.path().to_owned(),
            query: parts.uri.query().map(str::to_owned),
            headers: parts.headers,
            body,
        });
    let reply = {
        let mut replies = shared.replies.lock().expect("not poisoned");
        if replies.len() > 1 {
            replies.remove(0)
        } else {
            replies[0].clone()
        }
    };
    if let Some(delay) = reply.delay {
        tokio::time::sleep(delay).await;
    }
    let mut response =
        Response::builder().status(StatusCode::from_u16(reply.status).expect("a valid status"));
    if let Some(ct) = reply.content_type {
        response = response.header(header::CONTENT_TYPE, ct);
    }
    response
        .body(Body::from(reply.body))
        .expect("a valid response")
}
