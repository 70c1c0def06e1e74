//! The fence: a replica writes for a source (git pushes, cluster applies
//! and deletes, the sync tag or Secret) only while it is sure it still holds
//! the source's Lease. That is until `renew_deadline` after it *sent* its last
//! successful renewal: the Lease stays valid for other replicas until
//! `lease_duration` after the renewal was written, which is later, so with
//! clocks running at about the same rate the fence closes before anyone else
//! may take the Lease. It exists apart from the Lease loop so that the
//! source's loop, its jobs and the API read the same answer, and it is the
//! [`flux_core::fence::WriteGate`] flux-git and flux-kube ask right before
//! each push, apply and delete request.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A write was refused: this replica does not (or may no longer) hold the
/// source's Lease.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("source {source_name:?} is owned by {}", owner.as_deref().unwrap_or("no replica"))]
pub struct FenceError {
    /// The source.
    pub source_name: String,
    /// The replica that holds its Lease, as last read (`None`: free).
    pub owner: Option<String>,
}

#[derive(Debug, Default)]
struct State {
    /// Writes are allowed before this instant.
    until: Option<Instant>,
    /// The holder of the Lease as last read.
    owner: Option<String>,
}

/// Whether this replica may write for one source.
#[derive(Debug)]
pub struct Fence {
    source: String,
    replica: String,
    deadline: Duration,
    state: Mutex<State>,
}

impl Fence {
    /// A closed fence for `source`, held by `replica` once renewed.
    pub fn new(source: &str, replica: &str, deadline: Duration) -> Self {
        Fence {
            source: source.to_owned(),
            replica: replica.to_owned(),
            deadline,
            state: Mutex::new(State::default()),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A renewal (or acquisition) sent at `sent` succeeded: writes are
    /// allowed until `sent + renew_deadline`.
    pub fn renewed(&self, sent: Instant) {
        let mut s = self.state();
        s.until = Some(sent + self.deadline);
        s.owner = Some(self.replica.clone());
    }

    /// The Lease was lost, given back or never held; `owner` holds it now
    /// (as far as this replica knows). Writes stop at once.
    pub fn close(&self, owner: Option<String>) {
        let mut s = self.state();
        s.until = None;
        s.owner = owner;
    }

    /// Writes are allowed now.
    pub fn check(&self) -> Result<(), FenceError> {
        self.check_at(Instant::now())
    }

    /// Writes are allowed at `now`.
    pub fn check_at(&self, now: Instant) -> Result<(), FenceError> {
        let s = self.state();
        match s.until {
            Some(until) if now < until => Ok(()),
            Some(_) => Err(FenceError {
                source_name: self.source.clone(),
                // Held by us on paper, but not renewed in time: nobody is
                // known to hold it.
                owner: None,
            }),
            None => Err(FenceError {
                source_name: self.source.clone(),
                owner: s.owner.clone(),
            }),
        }
    }

    /// Whether this replica holds the Lease (renewed and within the deadline).
    pub fn is_open(&self) -> bool {
        self.check().is_ok()
    }

    /// The holder of the Lease as last read (this replica when it holds it).
    pub fn owner(&self) -> Option<String> {
        match self.check() {
            Ok(()) => Some(self.replica.clone()),
            Err(e) => e.owner,
        }
    }
}

/// Asked before each push, apply and delete of the source's steps.
impl flux_core::fence::WriteGate for Fence {
    fn check(&self) -> Result<(), String> {
        Fence::check(self).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_only_until_the_deadline_after_the_send() {
        let f = Fence::new("apps", "r1", Duration::from_secs(10));
        let t0 = Instant::now();
        assert!(f.check_at(t0).is_err(), "closed before any renewal");
        f.renewed(t0);
        assert!(f.check_at(t0 + Duration::from_secs(9)).is_ok());
        let late = f.check_at(t0 + Duration::from_secs(10)).unwrap_err();
        assert_eq!(late.owner, None);
        f.renewed(t0 + Duration::from_secs(5));
        assert!(f.check_at(t0 + Duration::from_secs(14)).is_ok());
    }

    #[test]
    fn closing_stops_writes_at_once_and_names_the_owner() {
        let f = Fence::new("apps", "r1", Duration::from_secs(10));
        f.renewed(Instant::now());
        assert_eq!(f.owner().as_deref(), Some("r1"));
        f.close(Some("r2".into()));
        let e = f.check().unwrap_err();
        assert_eq!(e.owner.as_deref(), Some("r2"));
        assert_eq!(e.to_string(), "source \"apps\" is owned by r2");
        assert!(!f.is_open());
    }
}
