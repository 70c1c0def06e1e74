//! fluxd's HTTP side: Flux v1's API under `/api/flux`, `/metrics`,
//! `/healthz` and `/readyz`, served with axum on `--listen` (metrics also or
//! only on `--listen-metrics`).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::TcpListener;

mod convert;
mod export;
pub mod flux;
pub mod hooks;
pub mod jobs;
pub mod sources;
pub mod status;
pub mod workloads;

use crate::config::Config;
use crate::daemon::{Shared, StartError};

/// The bound sockets.
pub struct Listeners {
    api: TcpListener,
    metrics: Option<TcpListener>,
}

impl Listeners {
    /// Binds `--listen` and `--listen-metrics`.
    pub async fn bind(config: &Config) -> Result<Self, StartError> {
        let bind = |addr: SocketAddr| async move {
            TcpListener::bind(addr)
                .await
                .map_err(|source| StartError::Listen { addr, source })
        };
        let api = bind(config.listen).await?;
        let metrics = match config.listen_metrics {
            Some(addr) => Some(bind(addr).await?),
            None => None,
        };
        Ok(Listeners { api, metrics })
    }

    /// The API's address.
    pub fn api_addr(&self) -> SocketAddr {
        self.api
            .local_addr()
            .expect("a bound TCP listener has a local address")
    }

    /// The metrics address, when separate.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().and_then(|l| l.local_addr().ok())
    }
}

/// The router of everything fluxd serves on `--listen`.
pub fn router(shared: Arc<Shared>) -> Router {
    let mut router = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/hooks/github", axum::routing::post(hooks::github))
        .route("/hooks/gitlab", axum::routing::post(hooks::gitlab))
        .route(flux_api::API_PREFIX, axum::routing::any(flux::api_handler))
        .route(
            &format!("{}/{{*rest}}", flux_api::API_PREFIX),
            axum::routing::any(flux::api_handler),
        );
    if shared.config.listen_metrics.is_none() {
        router = router.route("/metrics", get(metrics));
    }
    router.with_state(shared)
}

fn metrics_router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .with_state(shared)
}

/// Serves until `stop` completes, then drains open requests.
pub async fn serve(
    listeners: Listeners,
    shared: Arc<Shared>,
    stop: impl Future<Output = ()> + Send + 'static,
) {
    let Listeners {
        api,
        metrics: metrics_listener,
    } = listeners;
    let (tx, rx) = tokio::sync::watch::channel(false);
    let wait = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    tracing::info!(addr = %api.local_addr().map(|a| a.to_string()).unwrap_or_default(), "serving the API");
    let api_server =
        axum::serve(api, router(shared.clone())).with_graceful_shutdown(wait(rx.clone()));
    let metrics_server = metrics_listener.map(|l| {
        axum::serve(l, metrics_router(shared.clone())).with_graceful_shutdown(wait(rx.clone()))
    });
    let signal = async move {
        stop.await;
        let _ = tx.send(true);
    };
    let servers = async {
        match metrics_server {
            Some(m) => {
                let (a, b) = tokio::join!(api_server, m);
                a.and(b)
            }
            None => api_server.await,
        }
    };
    let (result, ()) = tokio::join!(servers, signal);
    if let Err(e) = result {
        tracing::error!(error = %e, "the HTTP server failed");
    }
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    if shared.is_ready() {
        (StatusCode::OK, "ready\n".to_owned())
    } else {
        let mut why = Vec::new();
        for s in &shared.sources {
            if s.repo.head().is_none() {
                why.push(format!(
                    "{}: git repository not fetched yet{}",
                    s.name,
                    s.repo
                        .status()
                        .error
                        .map(|e| format!(" ({e})"))
                        .unwrap_or_default()
                ));
            } else if !s.with_status(|st| st.tried) {
                why.push(format!("{}: first sync not done yet", s.name));
            }
        }
        if let Some(w) = shared.watch.as_ref().filter(|w| !w.is_ready()) {
            let pending: Vec<String> = w
                .collections()
                .into_iter()
                .filter(|c| {
                    !matches!(
                        c.phase,
                        flux_kube::watch::Phase::Ready | flux_kube::watch::Phase::Skipped
                    )
                })
                .map(|c| format!("{} {}", c.api_version, c.kind))
                .take(5)
                .collect();
            why.push(format!(
                "cluster watches not filled yet ({})",
                pending.join(", ")
            ));
        }
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {}\n", why.join("; ")),
        )
    }
}

async fn metrics(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    if let Some(w) = &shared.watch {
        shared.metrics.watch.set(&w.stats());
    }
    for s in &shared.sources {
        let status = s.repo.status();
        let label = crate::metrics::SourceLabel {
            source: s.name.clone(),
        };
        let ready = status.head.is_some() && status.error.is_none();
        if let Some(fence) = &s.fence {
            shared
                .metrics
                .source_owned
                .get_or_create(&label)
                .set(i64::from(fence.is_open()));
        }
        shared
            .metrics
            .git_ready
            .get_or_create(&label)
            .set(i64::from(ready));
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        shared.metrics.encode(),
    )
}
