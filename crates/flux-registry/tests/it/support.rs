//! Shared helpers: clients for loopback registries and a standard image set.

use std::sync::Arc;

use flux_registry::{ClientOptions, Metrics, RegistryClient};

/// A client that speaks plain HTTP to the given hosts.
pub fn client_for(hosts: &[&str], tweak: impl FnOnce(&mut ClientOptions)) -> RegistryClient {
    flux_registry::install_crypto_provider();
    let mut options = ClientOptions {
        insecure_hosts: hosts.iter().map(|h| (*h).to_owned()).collect(),
        ..ClientOptions::default()
    };
    tweak(&mut options);
    RegistryClient::new(options, Arc::new(Metrics::default())).expect("client")
}

/// `addr/path` as a repository name.
pub fn repo(addr: &str, path: &str) -> flux_core::image::ImageName {
    flux_core::image::ImageName::parse(&format!("{addr}/{path}")).expect("name")
}
