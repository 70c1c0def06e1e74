//! fluxd: the daemon that keeps a cluster in step with a git repository.
//!
//! This crate will wire flux-git, flux-registry and flux-kube around
//! flux-core's pure logic: the git poll, sync and automation loops, the job
//! queue, Flux v1's HTTP API and metrics. `main.rs` stays tiny; the testable
//! whole is a library function.
//!
//! Status: scaffolding only; the implementation is tracked by its own issue.
