//! Flux v1's HTTP API as Rust types: the JSON of every route, the route
//! table, and the async client fluxctl uses ([`Client`]).
//!
//! A Flux v1 `fluxctl` must be able to talk to our `fluxd`, and our
//! `fluxctl` to a Flux v1 `fluxd`; so the types here write and read exactly
//! the JSON Flux v1 writes and reads: the same keys (Go field names such as
//! `ServiceSpecs`, or the lower-case `json` tags where Flux v1 has them),
//! `null` where Go writes a nil slice, fields left out where Go says
//! `omitempty`, times in Go's RFC 3339 form. Modules follow Flux v1's API
//! versions and packages:
//!
//! - [`routes`]: method, path, name and query keys of every route, and the
//!   dead versions `/v1`–`/v5` (410).
//! - [`v6`] (workloads, images, git config, legacy `update-images` query),
//!   [`v9`] (notifications), [`v10`] and [`v11`] (list options, which
//!   travel as queries).
//! - [`sources`]: `GET /v11/sources` and the `source=` query key that
//!   addresses one repository of a fluxd with several (this project's
//!   addition).
//! - [`client`]: one async method per route, on reqwest, with errors told
//!   apart by cause (daemon unreachable, timeout, 401, 404, 410, 5xx).
//! - [`update`] (the `update-manifests` request and its results), [`job`]
//!   (job IDs and statuses), [`policy`], [`image`], [`git`], [`ssh`],
//!   [`export`], and the error body [`ApiError`].
//!
//! Resource IDs and image references are carried as the strings sent, so a
//! reply round-trips unchanged; accessors such as
//! [`v6::ControllerStatus::resource_id`] and conversions such as
//! [`update::ReleaseImageSpec::to_core`] parse them into flux-core's types.
//!
//! This crate has **no server**: fluxd serves these types with axum, using
//! [`routes`] for its router and [`ApiError`] for its error bodies.
//!
//! ```
//! use flux_api::update::{Cause, ReleaseImageSpec, ReleaseKind, Spec, Update};
//!
//! // What `fluxctl release --workload=default:deployment/web --update-image=nginx:1.27` sends.
//! let json = r#"{"type":"image","cause":{"Message":"","User":"jo"},
//!   "spec":{"ServiceSpecs":["default:deployment/web"],"ImageSpec":"nginx:1.27",
//!           "Kind":"execute","Excludes":null,"Force":false}}"#;
//! let spec: Spec = serde_json::from_str(json).unwrap();
//! let Update::Image(release) = &spec.spec else { panic!("an image release") };
//! assert_eq!(release.kind, ReleaseKind::Execute);
//! let core = release.to_core().unwrap();
//! assert_eq!(core.commit_message(), "Release nginx:1.27 to default:deployment/web");
//! // And back, to the same JSON.
//! let again = serde_json::to_value(&spec).unwrap();
//! assert_eq!(again, serde_json::from_str::<serde_json::Value>(json).unwrap());
//! ```

pub mod client;
pub mod error;
pub mod export;
pub mod git;
pub mod image;
pub mod job;
pub mod policy;
pub mod routes;
pub mod sources;
pub mod ssh;
pub mod update;
pub mod v10;
pub mod v11;
pub mod v6;
pub mod v9;
pub mod wire;

pub use client::{Client, ClientOptions, Token};
pub use error::{ApiError, ErrorFormat, ErrorType};
pub use routes::{API_PREFIX, Route};
