//! Platform credential providers: registries that hand out short-lived
//! credentials to the machine they run on (GCR and Artifact Registry via the
//! GCE metadata server, ECR via AWS, ACR via the AKS cloud config).
//!
//! Each is optional and separate. Off its platform a provider answers "no
//! credentials" and says so once in the log; it never fails a scan.
//!
//! Endpoints are not trusted further than they must be: every request has
//! a timeout (a provider whose HTTP client cannot be built fails and says
//! why, rather than using a client without one), answers are read up to a
//! small limit, an error quotes at most the start of a body, and a lifetime
//! an endpoint gives is cut to 12 hours at most, whatever
//! number it sends.

use flux_core::registry::RegistryAuth;

/// A source of credentials for some registry hosts.
#[async_trait::async_trait]
pub trait CredentialProvider: Send + Sync + std::fmt::Debug {
    /// A name for logs and error messages (`gcp`, `ecr`, `acr`).
    fn name(&self) -> &str;
    /// Whether this provider knows about `host` (`host[:port]`).
    fn handles(&self, host: &str) -> bool;
    /// Credentials for `host`, if the platform gives any. Failures are
    /// logged by the provider and answered with `None`.
    async fn credentials(&self, host: &str) -> Option<RegistryAuth>;
}

pub mod aws;
mod azure;
mod gcp;
mod imds;
#[cfg(test)]
mod tests;

pub use self::aws::Ecr;
pub use self::azure::Acr;
pub use self::gcp::Gcp;
pub use self::imds::IMDS;

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// GCR, ECR and ACR providers with their platforms' default endpoints.
pub fn platform_defaults() -> Vec<std::sync::Arc<dyn CredentialProvider>> {
    vec![
        std::sync::Arc::new(Gcp::default()),
        std::sync::Arc::new(Ecr::default()),
        std::sync::Arc::new(Acr::default()),
    ]
}

/// The longest any platform credentials are kept (ECR's tokens live 12
/// hours, GCP's and instance roles' less), whatever an endpoint says.
pub(crate) const MAX_LIFE: Duration = Duration::from_secs(12 * 3600);

/// How long a provider that failed stays quiet before trying again.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(600);

/// Credentials cached until they expire, failures remembered for a while,
/// and a single log line the first time the platform is not there.
#[derive(Debug, Default)]
pub(crate) struct Memo {
    state: Mutex<MemoState>,
}

#[derive(Debug, Default)]
struct MemoState {
    entries: std::collections::HashMap<String, (RegistryAuth, Instant)>,
    failed_until: Option<Instant>,
    warned: bool,
}

impl Memo {
    pub(crate) fn get(&self, key: &str) -> Option<Option<RegistryAuth>> {
        let s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if let Some((auth, until)) = s.entries.get(key)
            && *until > now
        {
            return Some(Some(auth.clone()));
        }
        if s.failed_until.is_some_and(|t| t > now) {
            return Some(None);
        }
        None
    }

    pub(crate) fn put(&self, key: &str, auth: RegistryAuth, life: Duration) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.failed_until = None;
        s.entries
            .insert(key.to_owned(), (auth, Instant::now() + life.min(MAX_LIFE)));
    }

    pub(crate) fn fail(&self, provider: &str, host: &str, why: &str) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.failed_until = Some(Instant::now() + RETRY_AFTER_FAILURE);
        if !s.warned {
            s.warned = true;
            tracing::info!(
                provider,
                host,
                "no {provider} platform credentials for {host}: {why}"
            );
        } else {
            tracing::debug!(provider, host, "no {provider} platform credentials: {why}");
        }
    }
}

/// An HTTP client for a platform endpoint with this overall `timeout`, or
/// why none could be built. There is no fallback to a client without the
/// timeout: a provider without its client fails, and says why.
pub(crate) fn endpoint_client(timeout: Duration) -> Result<reqwest::Client, String> {
    crate::install_crypto_provider();
    reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .map_err(|e| format!("cannot build an HTTP client: {e}"))
}

/// The body of a successful answer, at most `limit` bytes; or an error with
/// the status and the start of the body (cut short) when it failed.
pub(crate) async fn read_answer(
    resp: reqwest::Response,
    limit: usize,
    what: &str,
) -> Result<Vec<u8>, String> {
    let status = resp.status();
    if !status.is_success() {
        let (start, _) = read_at_most(resp, 4 << 10).await.unwrap_or_default();
        let text = String::from_utf8_lossy(&start);
        return Err(format!(
            "{what} answered {status}: {}",
            crate::client::cut(text.trim())
        ));
    }
    match read_at_most(resp, limit).await {
        Ok((body, true)) => Ok(body),
        Ok((_, false)) => Err(format!("{what}: the answer is larger than {limit} bytes")),
        Err(e) => Err(format!("{what}: {e}")),
    }
}

/// Up to `limit` bytes of the body, and whether that was all of it.
async fn read_at_most(
    mut resp: reqwest::Response,
    limit: usize,
) -> Result<(Vec<u8>, bool), reqwest::Error> {
    let mut out = Vec::new();
    if resp.content_length().is_some_and(|n| n > limit as u64) {
        return Ok((out, false));
    }
    while let Some(chunk) = resp.chunk().await? {
        let room = limit - out.len();
        if chunk.len() > room {
            out.extend_from_slice(&chunk[..room]);
            return Ok((out, false));
        }
        out.extend_from_slice(&chunk);
    }
    Ok((out, true))
}

/// The host without a port.
pub(crate) fn bare_host(host: &str) -> &str {
    crate::credentials::split_port(host).0
}
