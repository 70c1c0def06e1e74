//! Telling Flux's own writes from drift.
//!
//! Every apply and delete this process makes comes back through the
//! watches. Reporting those as changes would make each sync schedule
//! another. So writes are announced before they are sent: a notice about
//! an object being written is held until the write returns, then dropped
//! if the write explains it (a change at or before the resourceVersion the
//! apply returned; any change or deletion of an object this process
//! deleted) and released otherwise. A write that failed releases what it
//! held. What a write explains is remembered for [`REMEMBER`] at most.

use std::collections::HashMap;
use std::time::Duration;

use flux_core::ResourceId;
use tokio::time::Instant;

use super::notice::{Change, Notice};

/// How long a finished write stays able to explain notices.
pub const REMEMBER: Duration = Duration::from_secs(60);

enum Entry {
    /// Being written; the notices that arrived meanwhile.
    Pending(Vec<Notice>),
    /// Applied; notices up to this resourceVersion are ours.
    Applied { rv: String, at: Instant },
    /// Deleted by us.
    Deleted { at: Instant },
}

/// The writes in flight or recently finished.
#[derive(Default)]
pub struct Own {
    entries: HashMap<ResourceId, Entry>,
}

/// Whether resourceVersion `a` is at or before `b` (they are opaque, but
/// every API server in use makes them increasing integers).
fn at_or_before(a: Option<&str>, b: &str) -> bool {
    match (a.and_then(|a| a.parse::<u64>().ok()), b.parse::<u64>()) {
        (Some(a), Ok(b)) => a <= b,
        _ => a == Some(b),
    }
}

impl Own {
    /// Announces writes to `ids`.
    pub fn begin<'a>(&mut self, ids: impl IntoIterator<Item = &'a ResourceId>) {
        let now = Instant::now();
        self.entries.retain(|_, e| match e {
            Entry::Pending(_) => true,
            Entry::Applied { at, .. } | Entry::Deleted { at } => now.duration_since(*at) < REMEMBER,
        });
        for id in ids {
            self.entries.insert(id.clone(), Entry::Pending(Vec::new()));
        }
    }

    /// The apply of `id` finished: written at `rv`, or (`None`) not written
    /// (unchanged or failed). Returns the held notices it does not explain.
    pub fn applied(&mut self, id: &ResourceId, rv: Option<&str>) -> Vec<Notice> {
        let held = match self.entries.remove(id) {
            Some(Entry::Pending(held)) => held,
            Some(other) => {
                self.entries.insert(id.clone(), other);
                return Vec::new();
            }
            None => Vec::new(),
        };
        let Some(rv) = rv else { return held };
        let left: Vec<Notice> = held
            .into_iter()
            .filter(|n| {
                !(n.change == Change::Changed && at_or_before(n.resource_version.as_deref(), rv))
            })
            .collect();
        self.entries.insert(
            id.clone(),
            Entry::Applied {
                rv: rv.to_owned(),
                at: Instant::now(),
            },
        );
        left
    }

    /// The delete of `id` finished (`ok`: it is gone). Returns the held
    /// notices it does not explain.
    pub fn deleted(&mut self, id: &ResourceId, ok: bool) -> Vec<Notice> {
        let held = match self.entries.remove(id) {
            Some(Entry::Pending(held)) => held,
            _ => Vec::new(),
        };
        if !ok {
            return held;
        }
        self.entries
            .insert(id.clone(), Entry::Deleted { at: Instant::now() });
        Vec::new()
    }

    /// A notice from a watch: `Some` when it is drift to report now.
    pub fn filter(&mut self, n: Notice) -> Option<Notice> {
        let Some(entry) = self.entries.get_mut(&n.id) else {
            return Some(n);
        };
        match entry {
            Entry::Pending(held) => {
                held.push(n);
                None
            }
            Entry::Applied { rv, .. } => {
                if n.change == Change::Changed && at_or_before(n.resource_version.as_deref(), rv) {
                    if n.resource_version.as_deref() == Some(rv.as_str()) {
                        self.entries.remove(&n.id);
                    }
                    None
                } else {
                    self.entries.remove(&n.id);
                    Some(n)
                }
            }
            Entry::Deleted { .. } => {
                if n.change == Change::Deleted {
                    self.entries.remove(&n.id);
                }
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(id: &str, change: Change, rv: u64) -> Notice {
        Notice {
            id: id.parse().expect("test ID"),
            change,
            marked: true,
            resource_version: Some(rv.to_string()),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn own_writes_are_not_drift_and_others_are() {
        let x: ResourceId = "a:configmap/x".parse().unwrap();
        let y: ResourceId = "a:configmap/y".parse().unwrap();
        let mut own = Own::default();

        // Nothing announced: reported.
        assert!(own.filter(n("a:configmap/x", Change::Changed, 1)).is_some());

        // The watch is faster than the apply's answer: held, then dropped.
        own.begin([&x, &y]);
        assert!(own.filter(n("a:configmap/x", Change::Changed, 5)).is_none());
        assert!(own.applied(&x, Some("5")).is_empty());
        // ... or the answer comes first: dropped on arrival.
        assert!(own.applied(&y, Some("6")).is_empty());
        assert!(own.filter(n("a:configmap/y", Change::Changed, 6)).is_none());
        // A later change by someone else is drift.
        assert!(own.filter(n("a:configmap/y", Change::Changed, 9)).is_some());
        assert!(
            own.filter(n("a:configmap/x", Change::Changed, 10))
                .is_some()
        );

        // A change that came after the apply, while it was in flight.
        own.begin([&x]);
        assert!(
            own.filter(n("a:configmap/x", Change::Changed, 11))
                .is_none()
        );
        assert!(
            own.filter(n("a:configmap/x", Change::Changed, 13))
                .is_none()
        );
        let left = own.applied(&x, Some("11"));
        assert_eq!(left, [n("a:configmap/x", Change::Changed, 13)]);

        // Unchanged or failed: everything held is released.
        own.begin([&x]);
        assert!(
            own.filter(n("a:configmap/x", Change::Deleted, 14))
                .is_none()
        );
        assert_eq!(own.applied(&x, None).len(), 1);

        // Deletes: the deletion and changes while finalizing are ours.
        own.begin([&y]);
        assert!(
            own.filter(n("a:configmap/y", Change::Changed, 15))
                .is_none()
        );
        assert!(own.deleted(&y, true).is_empty());
        assert!(
            own.filter(n("a:configmap/y", Change::Deleted, 16))
                .is_none()
        );
        assert!(
            own.filter(n("a:configmap/y", Change::Changed, 17))
                .is_some(),
            "re-created by someone"
        );
        own.begin([&y]);
        assert!(
            own.filter(n("a:configmap/y", Change::Changed, 18))
                .is_none()
        );
        assert_eq!(own.deleted(&y, false).len(), 1, "a failed delete releases");

        // Remembered for a while only.
        own.begin([&x]);
        own.applied(&x, Some("20"));
        tokio::time::advance(REMEMBER).await;
        own.begin([]);
        assert!(
            own.filter(n("a:configmap/x", Change::Changed, 20))
                .is_some()
        );
    }
}
