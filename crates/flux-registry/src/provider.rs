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
