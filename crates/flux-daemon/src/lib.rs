//! fluxd: the daemon that keeps a Kubernetes cluster in step with a git
//! repository of manifests, and the manifests in step with container
//! registries.
//!
//! It wires flux-git (the mirror, commits, the sync tag), flux-registry
//! (scanning and the cache) and a [`flux_core::Cluster`] (flux-kube's, in
//! fluxd) around flux-core's pure decisions: each source (repository:
//! `--git-url`'s, or each one the `--config` file lists, see
//! [`config::file`]) has a loop that syncs on a new commit, on request and
//! every `--sync-interval`, runs `fluxctl`'s jobs one at a time, and runs
//! automation, leaving alone what another source also defines; registries are
//! scanned in the background; drift seen by watches triggers a sync. The
//! API is Flux v1's, under `/api/flux` on `--listen`, with `/metrics`,
//! `/healthz` and `/readyz`.
//!
//! It is not where decisions are made (flux-core makes them) nor where
//! bytes are moved (the adapter crates move them): this crate schedules and
//! carries them out. `main.rs` is flag parsing, logging and
//! [`Daemon::run`]; everything is testable as a library:
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use flux_daemon::{Config, Daemon, Parts};
//!
//! let config = Config::from_args(["fluxd", "--git-url", "ssh://git@example.com/config", "--listen", "127.0.0.1:0"])?;
//! let cluster = flux_kube::KubeCluster::infer(flux_kube::Options::default()).await?;
//! let parts = Parts {
//!     cluster: Arc::new(cluster),
//!     watch: None,
//!     secret: None,
//!     default_namespace: "default".into(),
//!     client: None,
//!     namespace: "flux".into(),
//!     command_path: None,
//! };
//! let daemon = Daemon::new(config, parts).await?;
//! println!("API on {:?}", daemon.api_addr());
//! daemon.run(async { let _ = tokio::signal::ctrl_c().await; }).await;
//! # Ok(()) }
//! ```

pub mod api;
pub mod automation;
pub mod config;
pub mod connect;
pub mod daemon;
pub mod deploykey;
pub mod generation;
pub mod ha;
pub mod job;
pub mod metrics;
pub mod registry;
pub mod run;
pub mod secret;
pub mod source;
pub mod state;
pub mod sync;
#[cfg(feature = "testing")]
pub mod testing;

pub use config::Config;
pub use daemon::{Daemon, Parts, Shared, StartError};
