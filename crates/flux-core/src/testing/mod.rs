//! Test support for anything built on flux-core (feature `testing`): an
//! in-memory [`Cluster`](crate::Cluster), proptest strategies for resources,
//! repositories and live clusters, and a tiny executor for futures that
//! never wait.
//!
//! With these, another Rust tool can property-test its own use of the sync
//! planner, and adapters can check their `Cluster` against the in-memory
//! one's documented behaviour:
//!
//! ```
//! use flux_core::sync::{GcMode, SyncOptions, SyncSetName, run};
//! use flux_core::testing::{MemoryCluster, block_on, strategies};
//! use proptest::prelude::*;
//! use proptest::test_runner::{Config, TestRunner};
//!
//! let mut runner = TestRunner::new(Config::with_cases(16));
//! runner.run(&strategies::scenario(), |scenario| {
//!     let Ok(desired) = scenario.desired() else { return Ok(()) };
//!     let cluster = scenario.memory_cluster();
//!     let report = block_on(run(&cluster, &desired, &scenario.options)).unwrap();
//!     // Whatever was deleted carried this sync set's mark.
//!     for (id, result) in &report.gc.deleted {
//!         prop_assert!(result.is_ok());
//!         prop_assert!(scenario.is_ours(id));
//!     }
//!     Ok(())
//! }).unwrap();
//! ```
//!
//! Add it to a crate's tests with
//! `flux-core = { workspace = true, features = ["testing"] }` under
//! `[dev-dependencies]`.

mod apply;
mod cluster;
mod journal;
pub mod strategies;

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

pub use cluster::{Call, Failure, MemoryCluster, Operation};

/// Runs a future to completion on the current thread.
///
/// Only for futures that finish without waiting on IO or timers, such as
/// those of [`MemoryCluster`] and of [`crate::sync::run`] over it: nothing
/// would wake a waiting future, so one that waits is polled in a busy loop.
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        std::thread::yield_now();
    }
}
