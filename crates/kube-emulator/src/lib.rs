//! An in-memory Kubernetes API server over HTTP, for tests and demos.
//!
//! No real API server can be installed on the machines this project is built
//! on, so this crate will serve enough of the Kubernetes API (discovery, CRUD,
//! server-side apply with managed fields, label selectors, Status errors)
//! that the real `kubectl` and kube-rs work against it unchanged. kubectl is
//! the referee of its behaviour.
//!
//! It is not a cluster: nothing is scheduled, no controller runs, and
//! admission is limited to what Flux's tests need.
//!
//! Status: scaffolding only; the implementation is tracked by its own issue.
