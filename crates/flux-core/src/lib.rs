//! The pure heart of a Flux v1-compatible GitOps operator.
//!
//! flux-core reads a repository of Kubernetes manifests the way Flux v1 did,
//! names resources the way Flux v1 users know them (`namespace:kind/name`),
//! finds the containers and images of workloads, reads their policies
//! ([`policy`]), decides releases and automation ([`release`],
//! [`automation`]) and edits manifests keeping every other byte
//! ([`update`]), plans syncs and garbage collection ([`sync`]), reads
//! `.flux.yaml` files and keeps the patch files of generated manifests
//! ([`generation`]; the commands run in `flux-generate`); and it
//! defines the seams ([`Cluster`], [`ManifestSource`], [`ImageRegistry`])
//! that the adapter crates implement. Objects held for long (the
//! repository's resources, live objects, objects to apply) are kept as
//! compact, read-only JSON documents ([`frozen`]). The `testing` feature
//! adds an in-memory `Cluster` and proptest strategies
//! (`flux_core::testing`).
//!
//! It is **not** an IO crate: it has no async runtime, opens no network
//! connection and writes no file. The one IO it does is *reading* a directory
//! for `fluxctl --local` ([`manifest::load_dir`]). Git, registries and the
//! Kubernetes API live in `flux-git`, `flux-registry` and `flux-kube`.
//!
//! ```
//! use flux_core::manifest::{FileSet, LoadOptions, parse_files};
//! use flux_core::ScopeTable;
//!
//! let mut files = FileSet::new();
//! files.insert("apps/web.yaml", "\
//! apiVersion: apps/v1
//! kind: Deployment
//! metadata:
//!   name: web
//! spec:
//!   template:
//!     spec:
//!       containers:
//!       - name: nginx
//!         image: nginx:1.25 # pinned
//! ");
//! let manifests = parse_files(&files, &["".into()], &ScopeTable::builtin(), &LoadOptions::default()).unwrap();
//! let web = &manifests.resources[&"default:deployment/web".parse().unwrap()];
//! assert_eq!(web.source().to_string(), "apps/web.yaml:1");
//! assert_eq!(web.containers().unwrap()[0].image, "nginx:1.25");
//! ```

pub mod automation;
pub mod cluster;
pub mod fence;
pub mod frozen;
pub mod generation;
pub mod image;
pub mod manifest;
pub mod policy;
pub mod registry;
pub mod release;
pub mod resource;
pub mod source;
pub mod sync;
#[cfg(feature = "testing")]
pub mod testing;
pub mod update;
pub mod workload;
pub mod yaml;

pub use cluster::{Cluster, ClusterError, Namespaces};
pub use image::{ImageName, ImageRef};
pub use manifest::{Manifests, Resource};
pub use policy::{Ignore, Policies};
pub use registry::{ImageRegistry, RegistryView};
pub use resource::{ResourceId, Scope, ScopeTable};
pub use source::ManifestSource;
