//! flux-core's [`flux_core::Cluster`] seam, implemented on kube-rs.
//!
//! This crate will discover the API, apply objects with server-side apply
//! (field manager `flux`), export workloads, list objects carrying the
//! garbage-collection mark, delete them, and read image pull secrets, all
//! within the allowed namespaces.
//!
//! It is not where sync decisions are made: flux-core plans, this crate
//! carries the plan out.
//!
//! Status: scaffolding only; the implementation is tracked by its own issue.
