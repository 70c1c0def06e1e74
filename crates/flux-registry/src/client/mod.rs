//! The registry API client: tag lists, manifests and config blobs, with
//! authentication, per-host rate limits and retries.
//!
//! Every request goes through [`Limiter`]: one token per HTTP request
//! (token fetches included, under the token realm's host), so the
//! `--registry-rps` budget counts what the registry sees. A 429 or 5xx is
//! retried a few times under the host's backoff; a registry that keeps
//! failing is reported as such, and the scanner moves on to other hosts.
//!
//! TLS: registries are spoken to over https (plain HTTP only for the hosts
//! in [`ClientOptions::insecure_hosts`]), with certificates checked against
//! the system's CA store, or only the CAs in the file `SSL_CERT_FILE`
//! names when it is set (rustls' platform verifier reads it): how fluxd
//! trusts a private registry's CA, as flux-git does for git hosts. A
//! certificate that is not trusted fails the request with the reason in the
//! message. Credentials never go over plain HTTP to a host not named
//! insecure, token services included (see [`ClientOptions::insecure_hosts`]).
//!
//! Why not oci-client for the requests: its errors do not carry response
//! headers (no `Retry-After`), it sends requests the caller cannot rate-limit
//! (the `/v2/` ping and token fetches), it keeps the first credentials seen
//! for a registry host for the life of the client (different pull secrets for
//! different repositories on one host would be ignored), it falls back to
//! anonymous silently when a token request fails, and it does not follow
//! `Link` pagination. This client is small and sends exactly the requests
//! the registry API needs, on the same reqwest stack.

mod auth;
mod error;
mod http;
pub mod manifest;
mod options;
#[cfg(test)]
mod proptests;
pub mod reference;
pub mod tags;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use flux_core::image::ImageName;
use flux_core::registry::ImageInfo;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use reqwest::{Method, Response, StatusCode, Url};

use self::auth::{Scheme, TokenCache, basic, parse_challenge, token_key};
pub use self::error::ClientError;
use self::error::error_message;
pub(crate) use self::error::{cut, json_error};
use self::http::{
    expect_ok, header_digest, read_limited, retry_after, sha256_digest, verify_digest,
};
use self::manifest::Manifest;
pub use self::manifest::Platform;
pub use self::options::ClientOptions;
use self::reference::{check_digest, check_reference, shown};
use crate::credentials::{Candidate, split_port};
use crate::limit::{Limiter, Outcome};
use crate::metrics::{Metrics, RequestKind};

/// Largest manifest accepted (Docker's own limit).
const MAX_MANIFEST: usize = 4 << 20;
/// Largest config blob accepted.
const MAX_CONFIG: usize = 16 << 20;
/// Largest token answer accepted (tokens are a few kilobytes).
const MAX_TOKEN_ANSWER: usize = 1 << 20;

/// What a registry says about one tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    /// An image for our platform.
    Image(ImageInfo),
    /// A manifest list with no image for our platform (Flux v1 called these
    /// excluded): it can never be deployed here, so it is never "latest".
    Excluded {
        /// Digest of the list.
        digest: String,
        /// Why it is excluded.
        reason: String,
    },
}

/// A registry API client shared by every scan.
#[derive(Debug)]
pub struct RegistryClient {
    http: reqwest::Client,
    options: ClientOptions,
    limiter: Limiter,
    tokens: TokenCache,
    schemes: Mutex<HashMap<String, Scheme>>,
    metrics: Arc<Metrics>,
}

impl RegistryClient {
    /// Builds a client (installing rustls' ring provider as the process
    /// default if none is installed yet).
    pub fn new(options: ClientOptions, metrics: Arc<Metrics>) -> Result<Self, ClientError> {
        let rps = options.rate.rps;
        if !(rps.is_finite() && rps > 0.0) {
            return Err(ClientError::InvalidOption {
                setting: "--registry-rps",
                value: rps.to_string(),
                reason: "must be a number of requests per second above zero",
            });
        }
        if options.page_size == 0 {
            return Err(ClientError::InvalidOption {
                setting: "tag list page size",
                value: "0".into(),
                reason: "must be at least 1",
            });
        }
        tags::check_caps(&options)?;
        crate::install_crypto_provider();
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("fluxd-rs/", env!("CARGO_PKG_VERSION")))
            .pool_max_idle_per_host(options.rate.burst.max(1) as usize)
            .pool_idle_timeout(options.pool_idle_timeout);
        if let Some(t) = options.connect_timeout {
            builder = builder.connect_timeout(t);
        }
        if let Some(t) = options.read_timeout {
            builder = builder.read_timeout(t);
        }
        let http = builder.build().map_err(ClientError::Build)?;
        Ok(Self {
            http,
            limiter: Limiter::new(options.rate.clone()),
            options,
            tokens: TokenCache::default(),
            schemes: Mutex::new(HashMap::new()),
            metrics,
        })
    }

    /// The per-host limiter (for status and recovery after a good scan).
    pub fn limiter(&self) -> &Limiter {
        &self.limiter
    }

    /// The counters this client updates.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The options given.
    pub fn options(&self) -> &ClientOptions {
        &self.options
    }

    fn is_insecure(&self, repo: &ImageName) -> bool {
        self.options
            .insecure_hosts
            .iter()
            .any(|h| h == repo.registry_host() || h == split_port(repo.domain()).0)
    }

    /// Whether `host` (with `port`) is named in `insecure_hosts`, with or
    /// without its port.
    fn is_insecure_host(&self, host: &str, port: Option<u16>) -> bool {
        let with_port = port.map(|p| format!("{host}:{p}"));
        self.options
            .insecure_hosts
            .iter()
            .any(|h| h == host || Some(h) == with_port.as_ref())
    }

    fn url(&self, repo: &ImageName, rest: &str) -> Result<Url, ClientError> {
        let scheme = if self.is_insecure(repo) {
            "http"
        } else {
            "https"
        };
        let text = format!(
            "{scheme}://{}/v2/{}/{rest}",
            repo.registry_host(),
            repo.path()
        );
        Url::parse(&text).map_err(|e| ClientError::Invalid {
            url: text.clone(),
            reason: format!("bad URL: {e}"),
        })
    }

    /// Refuses a tag or digest that is not one, before it goes in a URL.
    fn check_reference(&self, repo: &ImageName, reference: &str) -> Result<(), ClientError> {
        check_reference(reference).map_err(|reason| ClientError::InvalidReference {
            registry: repo.registry_host().to_owned(),
            repository: repo.path().to_owned(),
            reference: shown(reference),
            reason,
        })
    }

    /// The digest of `repo:tag` (a HEAD request): the cheap way to see
    /// whether a tag moved.
    pub async fn digest(
        &self,
        repo: &ImageName,
        tag: &str,
        creds: &[Candidate],
    ) -> Result<String, ClientError> {
        self.check_reference(repo, tag)?;
        let url = self.url(repo, &format!("manifests/{tag}"))?;
        let resp = self
            .send(
                repo,
                RequestKind::Head,
                Method::HEAD,
                url.clone(),
                Some(manifest::ACCEPT),
                creds,
            )
            .await?;
        let digest = header_digest(resp.headers());
        expect_ok(resp, &url, 0).await?;
        let digest = digest.ok_or_else(|| ClientError::Invalid {
            url: url.to_string(),
            reason: "no Docker-Content-Digest header".into(),
        })?;
        check_digest(&digest).map_err(|why| ClientError::Invalid {
            url: url.to_string(),
            reason: format!(
                "Docker-Content-Digest {} is not a digest: {why}",
                shown(&digest)
            ),
        })?;
        Ok(digest)
    }

    /// Digest, creation time and labels of `repo:tag`. A manifest list or
    /// index is resolved to the configured platform.
    pub async fn image(
        &self,
        repo: &ImageName,
        tag: &str,
        creds: &[Candidate],
    ) -> Result<Fetched, ClientError> {
        self.check_reference(repo, tag)?;
        let (digest, manifest) = self.manifest(repo, tag, creds).await?;
        let manifest = match manifest {
            Manifest::Index(entries) => {
                let Some(entry) = manifest::choose(&entries, &self.options.platform) else {
                    return Ok(Fetched::Excluded {
                        digest,
                        reason: format!(
                            "no suitable manifest ({}) in the manifest list",
                            self.options.platform
                        ),
                    });
                };
                if let Err(why) = check_digest(&entry.digest) {
                    return Err(ClientError::Invalid {
                        url: self.url(repo, &format!("manifests/{tag}"))?.to_string(),
                        reason: format!(
                            "the manifest list's entry for {} has an invalid digest {} ({why}); not requested",
                            self.options.platform,
                            shown(&entry.digest)
                        ),
                    });
                }
                let (_, inner) = self.manifest(repo, &entry.digest, creds).await?;
                inner
            }
            other => other,
        };
        let (created, labels) = match manifest {
            Manifest::Schema1 { created, labels } => (created, labels),
            Manifest::Image { config } => {
                let url = self.url(repo, &format!("blobs/{config}"))?;
                let resp = self
                    .send(
                        repo,
                        RequestKind::Blob,
                        Method::GET,
                        url.clone(),
                        None,
                        creds,
                    )
                    .await?;
                let body = expect_ok(resp, &url, MAX_CONFIG).await?;
                verify_digest(&config, &body, &url)?;
                manifest::parse_config(&body).map_err(|reason| ClientError::Invalid {
                    url: url.to_string(),
                    reason,
                })?
            }
            Manifest::Index(_) => {
                return Err(ClientError::Invalid {
                    url: self.url(repo, &format!("manifests/{tag}"))?.to_string(),
                    reason: "a manifest list points at another manifest list".into(),
                });
            }
        };
        self.metrics.image_fetched(repo.registry_host());
        Ok(Fetched::Image(ImageInfo {
            digest: Some(digest),
            created,
            labels,
        }))
    }

    async fn manifest(
        &self,
        repo: &ImageName,
        reference: &str,
        creds: &[Candidate],
    ) -> Result<(String, Manifest), ClientError> {
        self.check_reference(repo, reference)?;
        let url = self.url(repo, &format!("manifests/{reference}"))?;
        let resp = self
            .send(
                repo,
                RequestKind::Manifest,
                Method::GET,
                url.clone(),
                Some(manifest::ACCEPT),
                creds,
            )
            .await?;
        let header = header_digest(resp.headers());
        let content_type = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = expect_ok(resp, &url, MAX_MANIFEST).await?;
        let parsed =
            manifest::parse_manifest(content_type.as_deref(), &body).map_err(|reason| {
                ClientError::Invalid {
                    url: url.to_string(),
                    reason,
                }
            })?;
        let digest = match header {
            None => sha256_digest(&body),
            Some(h) => {
                check_digest(&h).map_err(|why| ClientError::Invalid {
                    url: url.to_string(),
                    reason: format!("Docker-Content-Digest {} is not a digest: {why}", shown(&h)),
                })?;
                match &parsed {
                    // Signed schema 1 manifests are digested without their signatures.
                    Manifest::Schema1 { .. } => {}
                    _ if h.starts_with("sha256:") || h.starts_with("sha512:") => {
                        verify_digest(&h, &body, &url)?;
                    }
                    _ => {
                        return Err(ClientError::Invalid {
                            url: url.to_string(),
                            reason: format!(
                                "Docker-Content-Digest {} uses an algorithm that cannot be checked (sha256 and sha512 can)",
                                shown(&h)
                            ),
                        });
                    }
                }
                h
            }
        };
        if reference.contains(':') && reference != digest {
            return Err(ClientError::Invalid {
                url: url.to_string(),
                reason: format!("asked for {reference}, got {digest}"),
            });
        }
        Ok((digest, parsed))
    }

    fn scheme(&self, host: &str) -> Option<Scheme> {
        let schemes = self.schemes.lock().unwrap_or_else(|p| p.into_inner());
        schemes.get(host).cloned()
    }

    fn set_scheme(&self, host: &str, scheme: Scheme) {
        let mut schemes = self.schemes.lock().unwrap_or_else(|p| p.into_inner());
        schemes.insert(host.to_owned(), scheme);
    }

    /// Sends a request with whatever authentication the host asks for,
    /// trying each set of credentials in turn.
    async fn send(
        &self,
        repo: &ImageName,
        kind: RequestKind,
        method: Method,
        url: Url,
        accept: Option<&str>,
        creds: &[Candidate],
    ) -> Result<Response, ClientError> {
        let host = repo.registry_host();
        let choices: Vec<Option<&Candidate>> = if creds.is_empty() {
            vec![None]
        } else {
            creds.iter().map(Some).collect()
        };
        let mut rejected = Vec::new();
        for cand in choices {
            let mut learnt = false;
            let mut refreshed = false;
            loop {
                let scheme = self.scheme(host);
                let authorization = match &scheme {
                    None => None,
                    Some(Scheme::Basic) => cand.map(|c| basic(&c.auth.username, &c.auth.password)),
                    Some(Scheme::Bearer { realm, service }) => {
                        match self.bearer(repo, realm, service.as_deref(), cand).await {
                            Ok(token) => Some(format!("Bearer {token}")),
                            Err(ClientError::Unauthorized { .. }) => {
                                rejected.push(cand);
                                break;
                            }
                            Err(e) => return Err(e),
                        }
                    }
                };
                let mut req = self.http.request(method.clone(), url.clone());
                if let Some(a) = accept {
                    req = req.header(ACCEPT, a);
                }
                if let Some(a) = authorization {
                    req = req.header(AUTHORIZATION, a);
                }
                let req = req.build().map_err(|e| ClientError::Transport {
                    url: url.to_string(),
                    source: e,
                })?;
                let resp = self.execute(host, kind, req).await?;
                // fluxd's --registry-trace shows these (no credentials in them).
                tracing::trace!(target: "flux_registry::request", %method, %url, status = resp.status().as_u16(), "registry request");
                if resp.status() != StatusCode::UNAUTHORIZED {
                    return Ok(resp);
                }
                let challenge = resp
                    .headers()
                    .get(WWW_AUTHENTICATE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(parse_challenge);
                match challenge {
                    Some(ch) if scheme.as_ref() != Some(&ch) && !learnt => {
                        self.set_scheme(host, ch);
                        learnt = true;
                    }
                    Some(Scheme::Bearer { realm, service }) if !refreshed => {
                        refreshed = true;
                        self.tokens
                            .forget(&token_key(repo, &realm, service.as_deref(), cand));
                    }
                    _ => {
                        rejected.push(cand);
                        break;
                    }
                }
            }
        }
        let who: Vec<String> = rejected
            .iter()
            .flatten()
            .map(|c| format!("user {:?} ({} from {})", c.auth.username, c.key, c.source))
            .collect();
        if who.is_empty() {
            Err(ClientError::NoCredentials {
                url: url.to_string(),
                host: repo.domain().to_owned(),
            })
        } else {
            Err(ClientError::Unauthorized {
                url: url.to_string(),
                who: who.join(", "),
            })
        }
    }

    /// A bearer token for pulling `repo`, from the cache or the realm.
    async fn bearer(
        &self,
        repo: &ImageName,
        realm: &str,
        service: Option<&str>,
        cand: Option<&Candidate>,
    ) -> Result<String, ClientError> {
        let key = token_key(repo, realm, service, cand);
        if let Some(t) = self.tokens.get(&key) {
            return Ok(t);
        }
        let mut url = Url::parse(realm).map_err(|e| ClientError::Invalid {
            url: cut(realm),
            reason: format!("bad token realm: {e}"),
        })?;
        // Credentials go over plain HTTP only to a host the user named in
        // --registry-insecure-host; anonymous token requests carry nothing
        // to protect and go ahead.
        if let Some(c) = cand
            && url.scheme() != "https"
            && !self.is_insecure_host(url.host_str().unwrap_or_default(), url.port())
        {
            return Err(ClientError::Invalid {
                url: cut(realm),
                reason: format!(
                    "the token service is plain HTTP: credentials of user {:?} ({} from {}) are not sent there \
                     (serve it over https, or name its host in --registry-insecure-host)",
                    c.auth.username, c.key, c.source
                ),
            });
        }
        {
            let mut q = url.query_pairs_mut();
            if let Some(s) = service {
                q.append_pair("service", s);
            }
            q.append_pair("scope", &key.scope);
        }
        let realm_host = match (url.host_str(), url.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_owned(),
            (None, _) => repo.registry_host().to_owned(),
        };
        let mut req = self.http.get(url.clone());
        if let Some(c) = cand {
            req = req.basic_auth(&c.auth.username, Some(&c.auth.password));
        }
        let req = req.build().map_err(|e| ClientError::Transport {
            url: url.to_string(),
            source: e,
        })?;
        let resp = self.execute(&realm_host, RequestKind::Token, req).await?;
        if matches!(
            resp.status(),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
        ) {
            return Err(ClientError::Unauthorized {
                url: url.to_string(),
                who: cand.map_or_else(|| "anonymous".into(), |c| format!("{:?}", c)),
            });
        }
        let body = expect_ok(resp, &url, MAX_TOKEN_ANSWER).await?;
        let (token, life) = serde_json::from_slice::<auth::TokenResponse>(&body)
            .ok()
            .and_then(auth::TokenResponse::into_token)
            .ok_or_else(|| ClientError::Invalid {
                url: url.to_string(),
                reason: "token answer holds no token".into(),
            })?;
        self.tokens.put(key, token.clone(), life);
        Ok(token)
    }

    /// Sends one request under the host's limits, retrying 429s, 5xx and
    /// failed connections.
    async fn execute(
        &self,
        host: &str,
        kind: RequestKind,
        req: reqwest::Request,
    ) -> Result<Response, ClientError> {
        let url = req.url().to_string();
        let mut last: Option<ClientError> = None;
        for _ in 0..self.options.attempts.max(1) {
            if let Err(blocked) = self.limiter.acquire(host).await {
                return Err(last.unwrap_or(ClientError::Blocked(blocked)));
            }
            let Some(attempt) = req.try_clone() else {
                return Err(ClientError::Invalid {
                    url,
                    reason: "request cannot be retried".into(),
                });
            };
            match self.http.execute(attempt).await {
                Err(source) => {
                    self.metrics.request(host, kind, None);
                    self.metrics.backoff(host);
                    self.limiter.record(host, Outcome::Failed);
                    tracing::debug!(host, %url, error = %source, "registry request failed");
                    last = Some(ClientError::Transport {
                        url: url.clone(),
                        source,
                    });
                }
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    self.metrics.request(host, kind, Some(status));
                    if status == 429 {
                        let retry_after = retry_after(resp.headers());
                        self.metrics.backoff(host);
                        self.limiter
                            .record(host, Outcome::TooManyRequests(retry_after));
                        last = Some(ClientError::RateLimited {
                            url: url.clone(),
                            retry_after,
                        });
                    } else if status >= 500 {
                        self.metrics.backoff(host);
                        self.limiter.record(host, Outcome::Failed);
                        let body = read_limited(resp, &url, 64 << 10).await.unwrap_or_default();
                        last = Some(ClientError::Server {
                            url: url.clone(),
                            status,
                            message: error_message(&body),
                        });
                    } else {
                        self.limiter.record(host, Outcome::Answered);
                        return Ok(resp);
                    }
                }
            }
        }
        Err(last.unwrap_or(ClientError::Invalid {
            url,
            reason: "no attempt was made".into(),
        }))
    }
}
