//! Integration tests of flux-registry against a real registry (Debian's
//! docker-registry on loopback, started by the tests). Modules mirror `src/`.

mod cache;
mod client;
mod client_auth;
mod client_hostile;
mod client_tls;
mod provider;
mod scan;
mod support;
