//! Platform credential providers: registries that hand out short-lived
//! credentials to the machine they run on (GCR and Artifact Registry via the
//! GCE metadata server, ECR via AWS, ACR via the AKS cloud config).
//!
//! Each is optional and separate. Off its platform a provider answers "no
//! credentials" and says so once in the log; it never fails a scan.

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
            .insert(key.to_owned(), (auth, Instant::now() + life));
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

/// The host without a port.
pub(crate) fn bare_host(host: &str) -> &str {
    crate::credentials::split_port(host).0
}
