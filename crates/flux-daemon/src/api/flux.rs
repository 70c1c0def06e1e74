//! Flux v1's API under `/api/flux`: every route of Flux v1's router (the
//! table is flux-api's [`Route`]), with Flux v1's JSON, status codes and
//! error bodies; `/v1`–`/v5` answer 410 and anything else a JSON 404.
//! Every route also takes `source=NAME` ([`super::sources`]), and
//! `GET /v11/sources` lists the sources (both this project's additions).

use std::sync::Arc;
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use flux_api::error::ErrorFormat;
use flux_api::routes::{QueryError, is_dead_path};
use flux_api::update::{ResourceSpec, Spec};
use flux_api::v6::UpdateImagesQuery;
use flux_api::{ApiError, Route, v9, v10, v11};

use super::jobs;
use super::sources::Target;
use crate::daemon::Shared;
use crate::job::JobId;
use crate::metrics::RequestLabels;

/// The largest request body accepted (update specs and policy changes are
/// small; this bounds what a client can make fluxd buffer).
pub const MAX_BODY: usize = 1 << 20;

/// Answers one request under `/api/flux` (`path` is what follows it).
pub async fn handle(
    shared: Arc<Shared>,
    method: Method,
    path: &str,
    uri: &Uri,
    headers: &HeaderMap,
    body: Bytes,
) -> Response {
    let started = Instant::now();
    let query = uri.query().unwrap_or("");
    let keys: Vec<String> = form_urlencoded::parse(query.as_bytes())
        .map(|(k, _)| k.into_owned())
        .collect();
    let route = Route::matching(&method, path, keys.iter().map(String::as_str));
    let format = ErrorFormat::negotiate(headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()));
    let result = match route {
        None if is_dead_path(path) => Err(Failure(StatusCode::GONE, ApiError::deprecated())),
        None => Err(Failure(StatusCode::NOT_FOUND, ApiError::not_found(path))),
        Some(_) if !authorised(&shared, headers) => {
            Err(Failure(StatusCode::UNAUTHORIZED, ApiError::unauthorized()))
        }
        Some(route) => dispatch(&shared, route, &method, query, body).await,
    };
    let response = match result {
        Ok(r) => r,
        Err(Failure(status, e)) => error(status, &e, format),
    };
    shared
        .metrics
        .request_duration
        .get_or_create(&RequestLabels {
            method: method.to_string(),
            route: route.map_or("NotFound", Route::name).to_owned(),
            status_code: response.status().as_u16().to_string(),
            ws: "false".into(),
        })
        .observe(started.elapsed().as_secs_f64());
    response
}

/// Whether the request carries the API token, when one is required:
/// `Authorization: Bearer <token>`, or Flux v1's `Scope-Probe token=<token>`.
fn authorised(shared: &Shared, headers: &HeaderMap) -> bool {
    let Some(token) = &shared.config.api_token else {
        return true;
    };
    let Some(given) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let offered = given
        .strip_prefix("Bearer ")
        .or_else(|| given.strip_prefix("Scope-Probe token="))
        .unwrap_or("");
    constant_time_eq(offered.as_bytes(), token.as_bytes())
}

/// Compares secrets without leaking where they differ through timing.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A failed request: status and Flux v1's error body.
pub struct Failure(StatusCode, ApiError);

impl Failure {
    /// A failure with this status.
    pub fn new(status: StatusCode, error: ApiError) -> Self {
        Failure(status, error)
    }
}

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Self {
        let status =
            StatusCode::from_u16(e.kind.status_code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        Failure(status, e)
    }
}

pub(super) fn bad_request(message: impl Into<String>) -> Failure {
    Failure(StatusCode::BAD_REQUEST, ApiError::user(message))
}

fn query_error(e: QueryError) -> Failure {
    bad_request(e.to_string())
}

/// An error reply in the form the client asked for (Flux v1's rules: JSON
/// when `Accept` names it, else the error or help text).
fn error(status: StatusCode, body: &ApiError, format: ErrorFormat) -> Response {
    let content_type = match format {
        ErrorFormat::Json => "application/json; charset=utf-8",
        ErrorFormat::Help | ErrorFormat::Error => "text/plain; charset=utf-8",
    };
    (
        status,
        [(header::CONTENT_TYPE, content_type)],
        body.render(format),
    )
        .into_response()
}

fn json_body<T: serde::Serialize>(value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(bytes) => (
            [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
            bytes,
        )
            .into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("encoding the reply: {e}"),
        )
            .into_response(),
    }
}

fn ok<T: serde::Serialize>(value: &T) -> Result<Response, Failure> {
    Ok(json_body(value))
}

fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8], what: &str) -> Result<T, Failure> {
    serde_json::from_slice(body)
        .map_err(|e| bad_request(format!("the request body is not {what}: {e}")))
}

async fn dispatch(
    shared: &Arc<Shared>,
    route: Route,
    method: &Method,
    query: &str,
    body: Bytes,
) -> Result<Response, Failure> {
    let target = Target::resolve(shared, query)?;
    match route {
        Route::Ping => ping(shared),
        Route::Version => ok(&env!("CARGO_PKG_VERSION")),
        Route::ListSources => ok(&super::sources::list_sources(shared, target)),
        Route::Notify => {
            let change: v9::Change = parse_json(&body, "a change notification")?;
            jobs::notify(shared, target, change);
            Ok(StatusCode::ACCEPTED.into_response())
        }
        Route::ListServices | Route::ListServicesWithOptions => {
            let opts = v11::ListServicesOptions::from_query(query).map_err(query_error)?;
            let ns = (!opts.namespace.is_empty()).then_some(opts.namespace.as_str());
            ok(&super::workloads::list_services(shared, target.source, ns, &opts.services).await?)
        }
        Route::ListImages | Route::ListImagesWithOptions => {
            let opts = v10::ListImagesOptions::from_query(query).map_err(query_error)?;
            let workload = match opts.spec {
                ResourceSpec::All => None,
                ResourceSpec::Id(id) => Some(id),
            };
            let ns = (!opts.namespace.is_empty()).then_some(opts.namespace.as_str());
            ok(&super::workloads::list_images(
                shared,
                target.source,
                workload,
                ns,
                &opts.override_container_fields,
            )
            .await?)
        }
        Route::UpdateManifests => {
            let spec: Spec = parse_json(&body, "an update spec")?;
            ok(&jobs::update_manifests(shared, target, spec).await?)
        }
        Route::UpdateImages => {
            let q = UpdateImagesQuery::from_query(query).map_err(query_error)?;
            let spec = q.to_spec().map_err(query_error)?;
            ok(&jobs::update_manifests(shared, target, spec).await?)
        }
        Route::UpdatePolicies => {
            let updates: flux_api::policy::PolicyUpdates = parse_json(&body, "policy updates")?;
            let mut cause = flux_api::update::Cause::default();
            for (k, v) in form_urlencoded::parse(query.as_bytes()) {
                match k.as_ref() {
                    "user" => cause.user = v.into_owned(),
                    "message" => cause.message = v.into_owned(),
                    _ => {}
                }
            }
            let spec = Spec::new(cause, flux_api::update::Update::Policy(updates));
            ok(&jobs::update_manifests(shared, target, spec).await?)
        }
        Route::JobStatus => {
            let id = query_value(query, "id");
            ok(&jobs::job_status(shared, target, &JobId(id)).await?)
        }
        Route::SyncStatus => {
            let reference = query_value(query, "ref");
            ok(&jobs::sync_status(target, &reference).await?)
        }
        Route::Export => {
            let bytes = super::export::export(shared, target.source).await?;
            if method == Method::HEAD {
                return Ok(StatusCode::OK.into_response());
            }
            ok(&flux_api::export::Export(bytes))
        }
        Route::GitRepoConfig => {
            let regenerate: bool = if body.iter().all(u8::is_ascii_whitespace) {
                false
            } else {
                parse_json(&body, "a JSON boolean")?
            };
            ok(&super::sources::git_repo_config(shared, target, regenerate).await?)
        }
        Route::GetPublicSshKey => ok(&super::sources::public_key(shared, target)?),
        Route::RegeneratePublicSshKey => {
            super::sources::regenerate_key(shared, target).await?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
    }
}

fn query_value(query: &str, key: &str) -> String {
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

fn ping(shared: &Shared) -> Result<Response, Failure> {
    let unreachable = shared.sources.iter().find_map(|s| {
        s.with_status(|st| {
            st.last_sync
                .as_ref()
                .and_then(|l| l.error.clone())
                .filter(|e| e.starts_with("cannot read the cluster"))
        })
    });
    match unreachable {
        Some(e) => Err(Failure(
            StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::server(e),
        )),
        None => Ok(StatusCode::NO_CONTENT.into_response()),
    }
}

/// Whether two repository URLs name the same repository, loosely (scheme,
/// user, `.git` suffix and trailing slashes aside), as Flux v1 compared them.
pub fn same_repo(a: &str, b: &str) -> bool {
    fn norm(u: &str) -> String {
        let u = u.trim().trim_end_matches('/');
        let u = u.strip_suffix(".git").unwrap_or(u);
        let u = u.split_once("://").map_or(u, |(_, rest)| rest);
        let u = u.split_once('@').map_or(u, |(_, rest)| rest);
        u.replacen(':', "/", 1).to_lowercase()
    }
    norm(a) == norm(b)
}

/// The axum handler of every path under `/api/flux`.
pub async fn api_handler(
    axum::extract::State(shared): axum::extract::State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let path = uri
        .path()
        .strip_prefix(flux_api::API_PREFIX)
        .unwrap_or(uri.path())
        .to_owned();
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => {
            let format =
                ErrorFormat::negotiate(headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()));
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                &ApiError::user(format!("the request body is larger than {MAX_BODY} bytes")),
                format,
            );
        }
    };
    handle(shared, method, &path, &uri, &headers, body).await
}
