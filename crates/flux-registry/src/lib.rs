//! Container registries for fluxd: tags, image metadata and credentials.
//!
//! This crate will list tags and fetch image metadata with oci-client, find
//! credentials in pull secrets and docker config files, respect per-host
//! rate limits, and keep a persistent cache so a restart does not rescan.
//!
//! It is not a registry client for pushing images, and it does not decide
//! which image is "latest": flux-core's policies do.
//!
//! Status: scaffolding only; the implementation is tracked by its own issue.
