//! Container registries for fluxd: tags, image metadata and credentials.
//!
//! This crate lists tags and fetches image metadata (digest, creation time,
//! labels) from registries speaking the Docker/OCI distribution API, finds
//! the credentials for each repository in pull secrets and docker config
//! files the way kubelet does, keeps within per-host rate limits and backs
//! off when a registry pushes back, and keeps what it learnt in a cache that
//! survives restarts, so a re-scan asks registries only for tag lists.
//!
//! It is not a registry client for pushing images, and it does not decide
//! which image is "latest": flux-core's policies do. It reads the cache
//! through the same [`flux_core::ImageRegistry`] seam as any other
//! implementation.
//!
//! ```
//! use flux_registry::credentials::Keyring;
//! use flux_core::image::ImageName;
//! use flux_core::registry::Credentials;
//!
//! let secret = br#"{"auths":{"https://index.docker.io/v1/":{"auth":"dXNlcjpwYXNz"}}}"#;
//! let creds = Credentials::from_dockerconfigjson(secret).unwrap();
//! let keyring = Keyring::from_credentials(&creds, "secret default/regcred");
//! let repo = ImageName::parse("fluxcd/flux").unwrap();
//! assert_eq!(repo.to_string(), "docker.io/fluxcd/flux");
//! assert_eq!(keyring.lookup(&repo)[0].auth.username, "user");
//! ```

pub mod cache;
pub mod client;
pub mod credentials;
pub mod limit;
pub mod metrics;
pub mod provider;
pub mod scan;

pub use client::{ClientError, ClientOptions, Fetched, Platform, RegistryClient};
pub use credentials::{Candidate, Keyring};
pub use limit::{Limiter, RateOptions};
pub use metrics::Metrics;
pub use scan::{ScanOptions, ScanReport, ScanTarget, Scanner};

/// Installs rustls' ring crypto provider as the process default, if none is
/// installed yet. reqwest is built without a provider of its own, so call
/// this once before building a [`RegistryClient`]; calling it again is harmless.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
