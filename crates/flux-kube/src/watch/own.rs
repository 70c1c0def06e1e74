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
    /// Being written; the last notice that arrived meanwhile, without its
    /// ID (the entry's key). Only the last is kept: resourceVersions only
    /// grow, so it is the one the write may leave unexplained, and the
    /// daemon keeps only the last notice of each object anyway (a first
    /// sync holds one for each of thousands of objects at once).
    Pending(Option<Held>),
    /// Applied; notices up to this resourceVersion are ours.
    Applied { rv: String, at: Instant },
    /// Deleted by us.
    Deleted { at: Instant },
}

/// A notice held while its object is being written.
struct Held {
    change: Change,
    marked: bool,
    resource_version: Option<String>,
}

impl Held {
    fn notice(self, id: &ResourceId) -> Notice {
        Notice {
            id: id.clone(),
            change: self.change,
            marked: self.marked,
            resource_version: self.resource_version,
        }
    }
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
            self.entries.insert(id.clone(), Entry::Pending(None));
        }
    }

    /// The apply of `id` finished: written at `rv`, or (`None`) not written
    /// (unchanged or failed). Returns the held notice if it does not
    /// explain it.
    pub fn applied(&mut self, id: &ResourceId, rv: Option<&str>) -> Option<Notice> {
        let held = match self.entries.remove(id) {
            Some(Entry::Pending(held)) => held,
            Some(other) => {
                self.entries.insert(id.clone(), other);
                return None;
            }
            None => None,
        };
        let Some(rv) = rv else {
            return held.map(|h| h.notice(id));
        };
        let left = held
            .filter(|h| {
                !(h.change == Change::Changed && at_or_before(h.resource_version.as_deref(), rv))
            })
            .map(|h| h.notice(id));
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
    /// notice if it does not explain it.
    pub fn deleted(&mut self, id: &ResourceId, ok: bool) -> Option<Notice> {
        let held = match self.entries.remove(id) {
            Some(Entry::Pending(held)) => held,
            _ => None,
        };
        if !ok {
            return held.map(|h| h.notice(id));
        }
        self.entries
            .insert(id.clone(), Entry::Deleted { at: Instant::now() });
        None
    }

    /// A notice from a watch: `Some` when it is drift to report now.
    pub fn filter(&mut self, n: Notice) -> Option<Notice> {
        let Some(entry) = self.entries.get_mut(&n.id) else {
            return Some(n);
        };
        match entry {
            Entry::Pending(held) => {
                *held = Some(Held {
                    change: n.change,
                    marked: n.marked,
                    resource_version: n.resource_version,
                });
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
        assert!(own.applied(&x, Some("5")).is_none());
        // ... or the answer comes first: dropped on arrival.
        assert!(own.applied(&y, Some("6")).is_none());
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
        assert_eq!(left, Some(n("a:configmap/x", Change::Changed, 13)));

        // Deleted by someone while being written, then re-created by the
        // write: nothing left to report.
        own.begin([&x]);
        assert!(
            own.filter(n("a:configmap/x", Change::Deleted, 14))
                .is_none()
        );
        assert!(
            own.filter(n("a:configmap/x", Change::Changed, 15))
                .is_none()
        );
        assert_eq!(own.applied(&x, Some("15")), None);

        // Unchanged or failed: everything held is released.
        own.begin([&x]);
        assert!(
            own.filter(n("a:configmap/x", Change::Deleted, 14))
                .is_none()
        );
        assert_eq!(
            own.applied(&x, None),
            Some(n("a:configmap/x", Change::Deleted, 14))
        );

        // Deletes: the deletion and changes while finalizing are ours.
        own.begin([&y]);
        assert!(
            own.filter(n("a:configmap/y", Change::Changed, 15))
                .is_none()
        );
        assert!(own.deleted(&y, true).is_none());
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
        assert_eq!(
            own.deleted(&y, false),
            Some(n("a:configmap/y", Change::Changed, 18)),
            "a failed delete releases"
        );

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
