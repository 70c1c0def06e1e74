//! The async client of Flux v1's API, as fluxctl uses it: one method per
//! route, on reqwest.
//!
//! It sends what Flux v1's fluxctl sends: `Accept: application/json` on
//! every request (so fluxd answers errors as JSON), the token as
//! `Authorization: Scope-Probe token=<token>` (Flux v1's header; a plain
//! `Bearer` is offered too), every query key of a route even when empty, and
//! JSON bodies (with `Content-Type: application/json`, which Flux v1's
//! client left out). Any 2xx is success; `null` where a list is expected
//! reads as an empty list, as in Go. Errors are told apart by cause
//! ([`Error`]). [`Client::await_job`] and [`Client::await_sync`] poll as
//! fluxctl does after a write verb.
//!
//! With [`ClientOptions::source`] set, every request carries
//! `source=NAME` in its query, addressing that repository of a fluxd with
//! several (this project's addition); without it, requests are Flux v1's
//! byte for byte.
//!
//! reqwest is built without a TLS crypto provider of its own; if the
//! process has not installed one when a [`Client`] is made, ring's is
//! installed (the workspace's one provider), so plain `http://` works with
//! no set-up.
//!
//! ```no_run
//! use flux_api::client::{Client, ClientOptions, Error};
//! use flux_api::update::Spec;
//!
//! # async fn sync_now() -> Result<(), Error> {
//! let client = Client::new("http://127.0.0.1:3030/api/flux", ClientOptions::default())?;
//! let job = client.update_manifests(&Spec::sync()).await?;
//! let status = client.job_status(&job).await?;
//! println!("job {job}: {}", status.status_string);
//! # Ok(())
//! # }
//! ```

mod error;
mod wait;

use std::time::Duration;

use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use reqwest::{Method, StatusCode, Url};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use error::{Error, ErrorBody};
pub use wait::Backoff;

use crate::error::ApiError;
use crate::export::Export;
use crate::job;
use crate::policy::PolicyUpdates;
use crate::routes::{Route, query};
use crate::sources::SourceStatus;
use crate::ssh::PublicKey;
use crate::update::{self, Cause, ResourceSpec};
use crate::v6::{self, ControllerStatus, GitConfig, ImageStatus, UpdateImagesQuery};
use crate::v9::Change;
use crate::v10::ListImagesOptions;
use crate::v11::ListServicesOptions;

/// fluxctl's default `--timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// How the client proves who it is.
#[derive(Clone, PartialEq, Eq)]
pub enum Token {
    /// `Authorization: Scope-Probe token=<token>`, as Flux v1's fluxctl
    /// sends `--token`.
    ScopeProbe(String),
    /// `Authorization: Bearer <token>`.
    Bearer(String),
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret.
        match self {
            Token::ScopeProbe(_) => f.write_str("ScopeProbe(<redacted>)"),
            Token::Bearer(_) => f.write_str("Bearer(<redacted>)"),
        }
    }
}

impl Token {
    fn header(&self) -> Result<HeaderValue, String> {
        let text = match self {
            Token::ScopeProbe(t) => format!("Scope-Probe token={t}"),
            Token::Bearer(t) => format!("Bearer {t}"),
        };
        let mut value = HeaderValue::from_str(&text)
            .map_err(|_| "the token holds characters not allowed in a header".to_owned())?;
        value.set_sensitive(true);
        Ok(value)
    }
}

/// Settings of a [`Client`].
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// The token, if the daemon wants one.
    pub token: Option<Token>,
    /// The limit on each whole request (connect, send, read the reply).
    pub timeout: Duration,
    /// The source (repository) of fluxd every request is for, sent as
    /// `source=NAME`; `None`: fluxd's first (all a Flux v1 fluxd has).
    pub source: Option<String>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            token: None,
            timeout: DEFAULT_TIMEOUT,
            source: None,
        }
    }
}

/// A client of one daemon's API.
#[derive(Clone, Debug)]
pub struct Client {
    http: reqwest::Client,
    base: Url,
    auth: Option<HeaderValue>,
    timeout: Duration,
    source: Option<String>,
}

/// What a route's reply is read as.
enum Reply {
    /// No body expected (any body is ignored).
    Empty,
    /// A JSON body.
    Json,
}

impl Client {
    /// A client of the API at `base_url`, the URL fluxctl's `--url` takes:
    /// `http://127.0.0.1:3030/api/flux`.
    pub fn new(base_url: &str, options: ClientOptions) -> Result<Client, Error> {
        let invalid = |reason: String| Error::InvalidUrl {
            url: redact(base_url),
            reason,
        };
        if !base_url.contains("://") {
            return Err(invalid(
                "it has no scheme: write it like http://127.0.0.1:3030/api/flux".to_owned(),
            ));
        }
        let base = Url::parse(base_url).map_err(|e| invalid(e.to_string()))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(invalid(format!(
                "the scheme must be http or https, not {}",
                base.scheme()
            )));
        }
        if base.cannot_be_a_base() || base.host_str().is_none() {
            return Err(invalid("it has no host".to_owned()));
        }
        if base.query().is_some() || base.fragment().is_some() {
            return Err(invalid("it must not have a query or fragment".to_owned()));
        }
        let auth = options
            .token
            .as_ref()
            .map(Token::header)
            .transpose()
            .map_err(invalid)?;
        // reqwest is built with rustls but no provider; install the
        // workspace's (ring) if the process has none, so a client can be made
        // anywhere. Failure means another thread installed one first.
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let http = reqwest::Client::builder()
            .timeout(options.timeout)
            .build()
            .map_err(|source| Error::Build { source })?;
        Ok(Client {
            http,
            base,
            auth,
            timeout: options.timeout,
            source: options.source,
        })
    }

    /// The base URL.
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// The source every request is for, if one was given.
    pub fn source(&self) -> Option<&str> {
        self.source.as_deref()
    }

    /// The URL of a route with a query (empty: none), and `source=NAME`
    /// after it when the client has a source.
    pub fn url(&self, route: Route, query: &str) -> Url {
        let mut url = self.base.clone();
        let path = format!("{}{}", self.base.path().trim_end_matches('/'), route.path());
        url.set_path(&path);
        let query = crate::sources::with_source(query, self.source.as_deref());
        url.set_query((!query.is_empty()).then_some(query.as_str()));
        url
    }

    /// `GET /v11/ping`: whether the daemon is up and can reach its cluster.
    pub async fn ping(&self) -> Result<(), Error> {
        self.call(Route::Ping, "", None, Reply::Empty)
            .await
            .map(drop)
    }

    /// `GET /v11/version`: the daemon's version.
    pub async fn version(&self) -> Result<String, Error> {
        self.json(Route::Version, "", None).await
    }

    /// `POST /v11/notify`: tell the daemon a repository or image changed.
    pub async fn notify(&self, change: &Change) -> Result<(), Error> {
        let body = encode(Route::Notify, change)?;
        self.call(Route::Notify, "", Some(body), Reply::Empty)
            .await
            .map(drop)
    }

    /// `GET /v6/services?namespace=`: the workloads (of one namespace, or
    /// all when `namespace` is empty).
    pub async fn list_services(&self, namespace: &str) -> Result<Vec<ControllerStatus>, Error> {
        let q = v6::list_services_query(namespace);
        self.json_list(Route::ListServices, &q).await
    }

    /// `GET /v11/services?namespace=&services=`: workloads with options.
    pub async fn list_services_with_options(
        &self,
        options: &ListServicesOptions,
    ) -> Result<Vec<ControllerStatus>, Error> {
        self.json_list(Route::ListServicesWithOptions, &options.to_query())
            .await
    }

    /// `GET /v6/images?service=`: the images of one workload or `<all>`.
    pub async fn list_images(&self, spec: &ResourceSpec) -> Result<Vec<ImageStatus>, Error> {
        self.json_list(Route::ListImages, &v6::list_images_query(spec))
            .await
    }

    /// `GET /v10/images?service=&containerFields=&namespace=`: images with
    /// options.
    pub async fn list_images_with_options(
        &self,
        options: &ListImagesOptions,
    ) -> Result<Vec<ImageStatus>, Error> {
        self.json_list(Route::ListImagesWithOptions, &options.to_query())
            .await
    }

    /// `POST /v9/update-manifests`: queue an update; its job ID.
    pub async fn update_manifests(&self, spec: &update::Spec) -> Result<job::Id, Error> {
        let body = encode(Route::UpdateManifests, spec)?;
        self.json(Route::UpdateManifests, "", Some(body)).await
    }

    /// `GET /v6/jobs?id=`: where a job is.
    pub async fn job_status(&self, id: &job::Id) -> Result<job::Status, Error> {
        let q = form_urlencoded::Serializer::new(String::new())
            .append_pair(query::ID, id.as_str())
            .finish();
        self.json(Route::JobStatus, &q, None).await
    }

    /// `GET /v6/sync?ref=`: the revisions up to `revision` the daemon has
    /// not applied yet (empty once it has).
    pub async fn sync_status(&self, revision: &str) -> Result<Vec<String>, Error> {
        let q = form_urlencoded::Serializer::new(String::new())
            .append_pair(query::REF, revision)
            .finish();
        self.json_list(Route::SyncStatus, &q).await
    }

    /// `GET /v6/export`: the cluster's objects as YAML bytes.
    pub async fn export(&self) -> Result<Vec<u8>, Error> {
        let export: Option<Export> = self.json(Route::Export, "", None).await?;
        Ok(export.unwrap_or_default().0)
    }

    /// `POST /v9/git-repo-config`: the repository configuration and deploy
    /// key, after regenerating the key if asked.
    pub async fn git_repo_config(&self, regenerate: bool) -> Result<GitConfig, Error> {
        let body = encode(Route::GitRepoConfig, &regenerate)?;
        self.json(Route::GitRepoConfig, "", Some(body)).await
    }

    /// `POST /v6/update-images?…` (legacy release): its job ID.
    pub async fn update_images(&self, request: &UpdateImagesQuery) -> Result<job::Id, Error> {
        self.json(Route::UpdateImages, &request.to_query(), None)
            .await
    }

    /// `PATCH /v6/policies` (legacy policy change, the cause in the query):
    /// its job ID.
    pub async fn update_policies(
        &self,
        updates: &PolicyUpdates,
        cause: &Cause,
    ) -> Result<job::Id, Error> {
        let mut q = form_urlencoded::Serializer::new(String::new());
        if !cause.message.is_empty() {
            q.append_pair(query::MESSAGE, &cause.message);
        }
        if !cause.user.is_empty() {
            q.append_pair(query::USER, &cause.user);
        }
        let body = encode(Route::UpdatePolicies, updates)?;
        self.json(Route::UpdatePolicies, &q.finish(), Some(body))
            .await
    }

    /// `GET /v6/identity.pub` (legacy): the deploy key.
    pub async fn public_ssh_key(&self) -> Result<PublicKey, Error> {
        self.json(Route::GetPublicSshKey, "", None).await
    }

    /// `POST /v6/identity.pub` (legacy): make a new deploy key.
    pub async fn regenerate_ssh_key(&self) -> Result<(), Error> {
        self.call(Route::RegeneratePublicSshKey, "", None, Reply::Empty)
            .await
            .map(drop)
    }

    /// `GET /v11/sources` (this project's addition): the repositories
    /// fluxd syncs, or just the client's source when it has one. A Flux v1
    /// fluxd answers [`Error::NotFound`].
    pub async fn list_sources(&self) -> Result<Vec<SourceStatus>, Error> {
        self.json_list(Route::ListSources, "").await
    }

    async fn json<T: DeserializeOwned>(
        &self,
        route: Route,
        query: &str,
        body: Option<Vec<u8>>,
    ) -> Result<T, Error> {
        let (url, bytes) = self.call(route, query, body, Reply::Json).await?;
        serde_json::from_slice(&bytes).map_err(|e| Error::Decode {
            route,
            url,
            reason: if bytes.is_empty() {
                "the reply is empty".to_owned()
            } else {
                e.to_string()
            },
        })
    }

    /// A list reply; `null` reads as empty, as in Go.
    async fn json_list<T: DeserializeOwned>(
        &self,
        route: Route,
        query: &str,
    ) -> Result<Vec<T>, Error> {
        let list: Option<Vec<T>> = self.json(route, query, None).await?;
        Ok(list.unwrap_or_default())
    }

    /// Sends one request; on success, the URL shown in errors and the body.
    async fn call(
        &self,
        route: Route,
        query: &str,
        body: Option<Vec<u8>>,
        reply: Reply,
    ) -> Result<(String, Vec<u8>), Error> {
        let url = self.url(route, query);
        let shown = redact(url.as_str());
        let method: Method = route.method();
        let mut request = self
            .http
            .request(method, url)
            .header(ACCEPT, "application/json");
        if let Some(auth) = &self.auth {
            request = request.header(AUTHORIZATION, auth.clone());
        }
        if let Some(body) = body {
            request = request.header(CONTENT_TYPE, "application/json").body(body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| self.send_error(route, &shown, e))?;
        let status = response.status();
        let json_reply = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        let bytes = response
            .bytes()
            .await
            .map_err(|e| self.send_error(route, &shown, e))?;
        if status.is_success() {
            return Ok(match reply {
                Reply::Empty => (shown, Vec::new()),
                Reply::Json => (shown, bytes.to_vec()),
            });
        }
        let body = error_body(json_reply, &bytes);
        let url = shown;
        Err(match status {
            StatusCode::UNAUTHORIZED => Error::Unauthorized { route, url, body },
            StatusCode::NOT_FOUND => Error::NotFound { route, url, body },
            StatusCode::GONE => Error::Gone { route, url, body },
            s if s.is_server_error() => Error::Server {
                route,
                url,
                status: s.as_u16(),
                body,
            },
            s => Error::Rejected {
                route,
                url,
                status: s.as_u16(),
                body,
            },
        })
    }

    fn send_error(&self, route: Route, url: &str, e: reqwest::Error) -> Error {
        let url = url.to_owned();
        if e.is_timeout() {
            Error::Timeout {
                route,
                url,
                timeout: self.timeout,
            }
        } else if e.is_connect() {
            Error::Unreachable {
                route,
                url,
                source: e.without_url(),
            }
        } else {
            Error::Transport {
                route,
                url,
                source: e.without_url(),
            }
        }
    }
}

fn encode<T: Serialize>(route: Route, body: &T) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(body).map_err(|source| Error::Encode { route, source })
}

/// Reads an error reply as fluxctl does: Flux's JSON error when the content
/// type says JSON and the body is one (with a non-empty `error`), else text.
fn error_body(json: bool, bytes: &[u8]) -> ErrorBody {
    if json
        && let Ok(api) = serde_json::from_slice::<ApiError>(bytes)
        && api.is_flux_error()
    {
        return ErrorBody::Api(Box::new(api));
    }
    ErrorBody::Text(String::from_utf8_lossy(bytes).into_owned())
}

/// The URL without a password, for messages.
fn redact(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("<redacted>"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_join_the_base_path_and_route() {
        for base in ["http://h:3030/api/flux", "http://h:3030/api/flux/"] {
            let c = Client::new(base, ClientOptions::default()).expect("valid");
            assert_eq!(
                c.url(Route::JobStatus, "id=1").as_str(),
                "http://h:3030/api/flux/v6/jobs?id=1"
            );
            assert_eq!(
                c.url(Route::Ping, "").as_str(),
                "http://h:3030/api/flux/v11/ping"
            );
        }
        let apps = Client::new(
            "http://h/api/flux",
            ClientOptions {
                source: Some("apps".into()),
                ..ClientOptions::default()
            },
        )
        .expect("valid");
        assert_eq!(apps.source(), Some("apps"));
        assert_eq!(
            apps.url(Route::JobStatus, "id=1").as_str(),
            "http://h/api/flux/v6/jobs?id=1&source=apps"
        );
        assert_eq!(
            apps.url(Route::ListSources, "").as_str(),
            "http://h/api/flux/v11/sources?source=apps"
        );
        let root = Client::new("http://h", ClientOptions::default()).expect("valid");
        assert_eq!(
            root.url(Route::Version, "").as_str(),
            "http://h/v11/version"
        );
    }

    #[test]
    fn bad_base_urls_are_refused_with_the_reason() {
        let cases = [
            ("127.0.0.1:3030", "no scheme"),
            ("localhost:3030/api/flux", "no scheme"),
            ("ftp://h/api/flux", "scheme must be http or https"),
            ("http://h/api?x=1", "query"),
            ("http://", "empty host"),
        ];
        for (url, want) in cases {
            let err = Client::new(url, ClientOptions::default())
                .expect_err(url)
                .to_string();
            assert!(err.contains(want), "{url}: {err}");
        }
    }

    #[test]
    fn passwords_and_tokens_are_not_shown() {
        assert_eq!(
            redact("http://u:secret@h/api"),
            "http://u:%3Credacted%3E@h/api"
        );
        assert_eq!(
            format!("{:?}", Token::Bearer("secret".into())),
            "Bearer(<redacted>)"
        );
        let err = Client::new(
            "http://h",
            ClientOptions {
                token: Some(Token::Bearer("bad\ntoken".into())),
                ..ClientOptions::default()
            },
        )
        .expect_err("a newline cannot go in a header")
        .to_string();
        assert!(!err.contains("bad\ntoken"), "{err}");
    }

    #[test]
    fn error_bodies_are_read_as_fluxctl_reads_them() {
        let api = br#"{"type":"missing","help":"h","error":"API endpoint not found"}"#;
        assert!(matches!(error_body(true, api), ErrorBody::Api(_)));
        // Not JSON by content type: text, even if it parses.
        assert!(matches!(error_body(false, api), ErrorBody::Text(_)));
        // JSON but not Flux's error: text.
        assert_eq!(
            error_body(true, br#"{"message":"nope"}"#),
            ErrorBody::Text(r#"{"message":"nope"}"#.into())
        );
    }
}
