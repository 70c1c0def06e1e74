//! Flux v1's API under `/api/flux`: every route of Flux v1's router (the
//! table is flux-api's [`Route`]), with Flux v1's JSON, status codes and
//! error bodies; `/v1`–`/v5` answer 410 and anything else a JSON 404.

use std::sync::Arc;
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use flux_api::error::ErrorFormat;
use flux_api::routes::{QueryError, is_dead_path};
use flux_api::update::{ResourceSpec, Spec};
use flux_api::v6::{GitConfig, GitRemoteConfig, UpdateImagesQuery};
use flux_api::{ApiError, Route, v9, v10, v11};

use crate::daemon::Shared;
use crate::job::{JobId, JobSpec, JobStatus};
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

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Self {
        let status =
            StatusCode::from_u16(e.kind.status_code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        Failure(status, e)
    }
}

fn bad_request(message: impl Into<String>) -> Failure {
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
    match route {
        Route::Ping => ping(shared),
        Route::Version => ok(&env!("CARGO_PKG_VERSION")),
        Route::Notify => {
            let change: v9::Change = parse_json(&body, "a change notification")?;
            notify(shared, change);
            Ok(StatusCode::ACCEPTED.into_response())
        }
        Route::ListServices | Route::ListServicesWithOptions => {
            let opts = v11::ListServicesOptions::from_query(query).map_err(query_error)?;
            let ns = (!opts.namespace.is_empty()).then_some(opts.namespace.as_str());
            ok(&super::workloads::list_services(shared, ns, &opts.services).await?)
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
                workload,
                ns,
                &opts.override_container_fields,
            )
            .await?)
        }
        Route::UpdateManifests => {
            let spec: Spec = parse_json(&body, "an update spec")?;
            ok(&update_manifests(shared, spec).await?)
        }
        Route::UpdateImages => {
            let q = UpdateImagesQuery::from_query(query).map_err(query_error)?;
            let spec = q.to_spec().map_err(query_error)?;
            ok(&update_manifests(shared, spec).await?)
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
            ok(&update_manifests(shared, spec).await?)
        }
        Route::JobStatus => {
            let id = query_value(query, "id");
            ok(&job_status(shared, &JobId(id)).await?)
        }
        Route::SyncStatus => {
            let reference = query_value(query, "ref");
            ok(&sync_status(shared, &reference).await?)
        }
        Route::Export => {
            let bytes = super::export::export(shared).await?;
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
            ok(&git_repo_config(shared, regenerate).await?)
        }
        Route::GetPublicSshKey => ok(&public_key(shared)?),
        Route::RegeneratePublicSshKey => {
            regenerate_key(shared).await?;
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

fn notify(shared: &Shared, change: v9::Change) {
    match change {
        v9::Change::Git(update) => {
            for s in &shared.sources {
                let ours = same_repo(&update.url, &s.repo.config().remote.safe_url());
                if ours && !update.branch.is_empty() && update.branch != s.repo.config().branch {
                    tracing::info!(url = %update.url, branch = %update.branch, "notified about another branch; ignored");
                    continue;
                }
                tracing::info!(source = %s.name, "notified of a git change: fetching");
                s.repo.notify();
            }
        }
        v9::Change::Image(update) => {
            tracing::info!(image = ?update.name, "notified of an image change: scanning");
            shared.registry.scan_soon.notify_one();
        }
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

async fn update_manifests(shared: &Arc<Shared>, spec: Spec) -> Result<JobId, Failure> {
    let source = shared.default_source().ok_or_else(|| {
        Failure(
            StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::server("no git repository is configured (--git-url)"),
        )
    })?;
    let job = JobSpec::from_api(spec).map_err(bad_request)?;
    if job.is_plan() {
        // A plan writes nothing: run it now, as Flux v1 did.
        let id = JobId::random();
        source.jobs.set_status(&id, JobStatus::Running);
        let cx = crate::job::run::JobContext {
            source,
            cluster: &*shared.cluster,
            registry: crate::run::registry_view(shared),
        };
        let status = match crate::job::run::execute(&cx, &id, &job).await {
            Ok(outcome) => JobStatus::Succeeded(outcome),
            Err(f) => JobStatus::Failed {
                error: f.error,
                outcome: f.outcome,
            },
        };
        source.jobs.set_status(&id, status);
        return Ok(id);
    }
    source.jobs.enqueue(job).map_err(|e| {
        Failure(
            StatusCode::SERVICE_UNAVAILABLE,
            ApiError::server(e.to_string()),
        )
    })
}

/// Flux v1's job status for `id`: from the status cache, or else from the
/// notes of fluxd's commits (so a job that pushed is found after a restart).
async fn job_status(shared: &Shared, id: &JobId) -> Result<flux_api::job::Status, Failure> {
    let source = shared
        .default_source()
        .ok_or_else(|| ApiError::missing(format!("unknown job {id}")))?;
    if let Some(status) = source.jobs.status(id) {
        return Ok(super::convert::job_status(&status));
    }
    match super::convert::find_job_in_notes(source, id).await {
        Some(status) => Ok(status),
        None => Err(ApiError::missing(format!("unknown job {id}")).into()),
    }
}

/// The revisions up to `reference` not yet synced (newest first).
async fn sync_status(shared: &Shared, reference: &str) -> Result<Vec<String>, Failure> {
    let source = shared
        .default_source()
        .ok_or_else(|| ApiError::server("no git repository is configured (--git-url)"))?;
    let synced = source.with_status(|s| s.synced.clone());
    let reference = if reference.is_empty() || reference == "HEAD" {
        source.repo.head().unwrap_or_default()
    } else {
        reference.to_owned()
    };
    let commits = source
        .repo
        .commits_between(synced.as_deref(), &reference, false, &source.paths)
        .await
        .map_err(|e| ApiError::server(e.to_string()))?;
    Ok(commits.into_iter().map(|c| c.revision).collect())
}

async fn git_repo_config(shared: &Shared, regenerate: bool) -> Result<GitConfig, Failure> {
    if regenerate {
        regenerate_key(shared).await?;
    }
    let public_ssh_key = public_key(shared).unwrap_or_default();
    let Some(source) = shared.default_source() else {
        return Ok(GitConfig {
            public_ssh_key,
            status: flux_api::git::GitRepoStatus::Unconfigured,
            ..GitConfig::default()
        });
    };
    let config = source.repo.config();
    let status = source.repo.status();
    Ok(GitConfig {
        remote: GitRemoteConfig {
            url: config.remote.safe_url(),
            branch: config.branch.clone(),
            path: config.paths.join(","),
        },
        public_ssh_key,
        status: super::convert::repo_status(&status),
        error: status.error.unwrap_or_default(),
    })
}

fn public_key(shared: &Shared) -> Result<flux_api::ssh::PublicKey, Failure> {
    let identity = shared.identity.as_ref().ok_or_else(|| {
        ApiError::missing("fluxd has no deploy key (the git remote is not reached over ssh)")
    })?;
    super::convert::public_key(identity).map_err(|e| ApiError::server(e.to_string()).into())
}

async fn regenerate_key(shared: &Shared) -> Result<(), Failure> {
    let identity = shared.identity.as_ref().ok_or_else(|| {
        ApiError::missing("fluxd has no deploy key (the git remote is not reached over ssh)")
    })?;
    identity
        .regenerate()
        .await
        .map_err(|e| ApiError::server(e.to_string()))?;
    Ok(())
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
