//! `--ha`: several fluxd replicas sharing the sources through Kubernetes
//! Leases, so that each source is synced, automated and written to by one
//! replica at a time and another takes it over when that one stops.
//!
//! - [`lease`]: taking, renewing and giving back one Lease;
//! - [`fence`]: whether this replica may write for a source right now;
//! - [`ownership`]: the loop that keeps a membership Lease per replica,
//!   spreads the sources' Leases over the live replicas and opens or closes
//!   each source's [`fence::Fence`].
//!
//! docs/ha.md says how it works and what it guarantees.

pub mod fence;
pub mod lease;
pub mod ownership;

pub use fence::{Fence, FenceError};
pub use ownership::{Ownership, spread};
