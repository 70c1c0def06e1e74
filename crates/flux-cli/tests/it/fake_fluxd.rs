//! A small stand-in for fluxd's API, serving the routes fluxctl uses with
//! flux-api's types over real HTTP on a free loopback port, until the real
//! fluxd serves them. Tests script its answers and read what it was sent.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use flux_api::job::Status;
use flux_api::v6::{ControllerStatus, GitConfig, ImageStatus};

/// What the fake fluxd answers and what it was asked.
#[derive(Default)]
pub struct Script {
    /// `list-workloads` answers (filtered by namespace, `""` for all).
    pub services: Vec<ControllerStatus>,
    /// `list-images` answers.
    pub images: Vec<ImageStatus>,
    /// For each job ID handed out, in order, the statuses `jobs` returns
    /// (the last one repeats).
    pub jobs: Vec<(String, Vec<Status>)>,
    /// How many times SyncStatus still lists the revision as pending.
    pub sync_pending: usize,
    /// GitRepoConfig's answer.
    pub git: GitConfig,
    /// Export's answer.
    pub export: Vec<u8>,
    /// Rollout statuses for ListServicesWithOptions, in order (the last
    /// repeats).
    pub rollouts: Vec<Vec<ControllerStatus>>,
    /// Update specs received (as JSON).
    pub received: Vec<serde_json::Value>,
    /// Query strings of the requests, by path.
    pub queries: Vec<(String, String)>,
    /// Authorization headers seen.
    pub auth: Vec<String>,
}

type Shared = Arc<Mutex<Script>>;

/// A running fake fluxd.
pub struct FakeFluxd {
    /// The API base URL (`http://127.0.0.1:PORT/api/flux`).
    pub url: String,
    /// The script, readable and changeable while it runs.
    pub script: Shared,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Drop for FakeFluxd {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

impl FakeFluxd {
    /// Starts serving `script` on a free loopback port.
    pub fn start(script: Script) -> FakeFluxd {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let shared: Shared = Arc::new(Mutex::new(script));
        let jobs: Arc<Mutex<HashMap<String, VecDeque<Status>>>> = Arc::default();
        let app = Router::new()
            .route("/api/flux/v6/services", get(services))
            .route("/api/flux/v11/services", get(services_with_options))
            .route("/api/flux/v10/images", get(images))
            .route("/api/flux/v9/update-manifests", post(update_manifests))
            .route("/api/flux/v6/jobs", get(job_status))
            .route("/api/flux/v6/sync", get(sync_status))
            .route("/api/flux/v9/git-repo-config", post(git_repo_config))
            .route("/api/flux/v6/export", get(export))
            .with_state((shared.clone(), jobs));
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        runtime.spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeFluxd {
            url: format!("http://127.0.0.1:{port}/api/flux"),
            script: shared,
            runtime: Some(runtime),
        }
    }

    /// The update specs received so far.
    pub fn received(&self) -> Vec<serde_json::Value> {
        self.script.lock().expect("lock").received.clone()
    }
}

type St = State<(Shared, Arc<Mutex<HashMap<String, VecDeque<Status>>>>)>;

fn json<T: serde::Serialize>(v: &T) -> Response {
    (
        [("content-type", "application/json")],
        serde_json::to_vec(v).expect("json"),
    )
        .into_response()
}

fn record(s: &Shared, path: &str, q: &BTreeMap<String, String>, headers: &HeaderMap) {
    let mut s = s.lock().expect("lock");
    let query = q
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    s.queries.push((path.to_owned(), query));
    if let Some(a) = headers.get("authorization") {
        s.auth.push(a.to_str().unwrap_or_default().to_owned());
    }
}

async fn services(
    State((s, _)): St,
    headers: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    record(&s, "services", &q, &headers);
    let ns = q.get("namespace").cloned().unwrap_or_default();
    let list: Vec<ControllerStatus> = s
        .lock()
        .expect("lock")
        .services
        .iter()
        .filter(|w| ns.is_empty() || w.id.starts_with(&format!("{ns}:")))
        .cloned()
        .collect();
    json(&list)
}

async fn services_with_options(
    State((s, _)): St,
    headers: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    record(&s, "services11", &q, &headers);
    let mut script = s.lock().expect("lock");
    let answer = if script.rollouts.len() > 1 {
        script.rollouts.remove(0)
    } else {
        script.rollouts.first().cloned().unwrap_or_default()
    };
    json(&answer)
}

async fn images(
    State((s, _)): St,
    headers: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    record(&s, "images", &q, &headers);
    let list = s.lock().expect("lock").images.clone();
    json(&list)
}

async fn update_manifests(State((s, jobs)): St, headers: HeaderMap, body: Bytes) -> Response {
    record(&s, "update-manifests", &BTreeMap::new(), &headers);
    let spec: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    let mut script = s.lock().expect("lock");
    script.received.push(spec);
    if script.jobs.is_empty() {
        return (StatusCode::INTERNAL_SERVER_ERROR, "no job scripted").into_response();
    }
    let (id, statuses) = script.jobs.remove(0);
    jobs.lock()
        .expect("lock")
        .insert(id.clone(), statuses.into());
    json(&id)
}

async fn job_status(
    State((s, jobs)): St,
    headers: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    record(&s, "jobs", &q, &headers);
    let id = q.get("id").cloned().unwrap_or_default();
    let mut jobs = jobs.lock().expect("lock");
    let Some(statuses) = jobs.get_mut(&id) else {
        return (StatusCode::NOT_FOUND, "unknown job").into_response();
    };
    let status = if statuses.len() > 1 {
        statuses.pop_front().expect("non-empty")
    } else {
        statuses.front().cloned().unwrap_or_default()
    };
    json(&status)
}

async fn sync_status(
    State((s, _)): St,
    headers: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    record(&s, "sync", &q, &headers);
    let rev = q.get("ref").cloned().unwrap_or_default();
    let mut script = s.lock().expect("lock");
    if script.sync_pending > 0 {
        script.sync_pending -= 1;
        json(&vec![rev])
    } else {
        json(&Vec::<String>::new())
    }
}

async fn git_repo_config(State((s, _)): St, headers: HeaderMap, body: Bytes) -> Response {
    let regenerate = String::from_utf8_lossy(&body).trim().to_owned();
    record(
        &s,
        "git-repo-config",
        &BTreeMap::from([("regenerate".to_owned(), regenerate)]),
        &headers,
    );
    let config = s.lock().expect("lock").git.clone();
    json(&config)
}

async fn export(State((s, _)): St, headers: HeaderMap) -> Response {
    record(&s, "export", &BTreeMap::new(), &headers);
    let bytes = s.lock().expect("lock").export.clone();
    json(&flux_api::export::Export(bytes))
}
