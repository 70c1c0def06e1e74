//! Checks of what an operator runs, against the real tools: the `deploy/`
//! manifests (rendered by `kubectl kustomize`, applied to the emulator,
//! printed by `fluxctl install`, and their RBAC held against every request
//! fluxd makes), the `Dockerfile`, the commands in `docs/`, and a cluster
//! switched from Flux v1 to fluxd.
//!
//! The checks are this crate's integration tests (`tests/it/`). The library
//! holds what they share and can be unit-tested on its own:
//! [`rbac`] (Kubernetes RBAC rules evaluated for one service account) and
//! [`docs`] (the commands of the Markdown pages, taken out to be run).
//!
//! It is not used by fluxd or fluxctl, and nothing here runs in a cluster.
//!
//! ```
//! use flux_ops::rbac::Attributes;
//! let a = Attributes::from_request("list", "/apis/apps/v1/namespaces/apps/deployments", "");
//! assert_eq!((a.api_group.as_str(), a.resource.as_str(), a.namespace.as_deref()), ("apps", "deployments", Some("apps")));
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod docs;
pub mod rbac;
