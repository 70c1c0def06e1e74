//! Change notices: what the watches saw change that Flux did not change
//! itself, and a debouncer that turns a burst of them into one batch, so
//! the daemon runs one sync for a `kubectl apply` of twenty objects.

use std::collections::BTreeMap;
use std::time::Duration;

use flux_core::ResourceId;
use tokio::sync::broadcast;
use tokio::time::Instant;

/// What happened to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Change {
    /// Created or changed (beyond its status and bookkeeping metadata).
    Changed,
    /// Deleted, or no longer carrying the GC mark.
    Deleted,
}

/// An object changed by someone other than this process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// The object.
    pub id: ResourceId,
    /// What happened.
    pub change: Change,
    /// Whether it carries (or, deleted, carried) the GC mark; workloads
    /// and namespaces are reported either way.
    pub marked: bool,
    /// Its resourceVersion at the change.
    pub resource_version: Option<String>,
}

/// Notices gathered by [`Debouncer::next`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Batch {
    /// The last notice of each object, by ID.
    pub notices: Vec<Notice>,
    /// Notices lost because the receiver fell behind (their objects are
    /// unknown, but something changed).
    pub lagged: u64,
}

impl Batch {
    /// Whether a marked object changed (or notices were lost, which might
    /// have been about one).
    pub fn touches_marked(&self) -> bool {
        self.lagged > 0 || self.notices.iter().any(|n| n.marked)
    }
}

/// Gathers notices until none came for `quiet`, or `max_delay` after the
/// first of a batch, whichever is sooner.
pub struct Debouncer {
    rx: broadcast::Receiver<Notice>,
    quiet: Duration,
    max_delay: Duration,
}

impl Debouncer {
    /// A debouncer reading `rx` (from `WatchedCluster::notices`).
    pub fn new(rx: broadcast::Receiver<Notice>, quiet: Duration, max_delay: Duration) -> Self {
        Debouncer {
            rx,
            quiet,
            max_delay: max_delay.max(quiet),
        }
    }

    /// The next batch; `None` once the sender is gone and nothing is left.
    pub async fn next(&mut self) -> Option<Batch> {
        let mut by_id: BTreeMap<ResourceId, Notice> = BTreeMap::new();
        let mut lagged = 0;
        // The first notice opens a batch.
        match self.rx.recv().await {
            Ok(n) => {
                by_id.insert(n.id.clone(), n);
            }
            Err(broadcast::error::RecvError::Lagged(k)) => lagged += k,
            Err(broadcast::error::RecvError::Closed) => return None,
        }
        let first = Instant::now();
        let mut quiet_until = first + self.quiet;
        loop {
            let deadline = quiet_until.min(first + self.max_delay);
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Err(_elapsed) => break,
                Ok(Ok(n)) => {
                    by_id.insert(n.id.clone(), n);
                    quiet_until = Instant::now() + self.quiet;
                }
                Ok(Err(broadcast::error::RecvError::Lagged(k))) => {
                    lagged += k;
                    quiet_until = Instant::now() + self.quiet;
                }
                Ok(Err(broadcast::error::RecvError::Closed)) => break,
            }
        }
        Some(Batch {
            notices: by_id.into_values().collect(),
            lagged,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice(id: &str, change: Change) -> Notice {
        Notice {
            id: id.parse().expect("test ID"),
            change,
            marked: true,
            resource_version: None,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_is_one_batch_after_a_quiet_spell_and_never_later_than_max_delay() {
        let (tx, rx) = broadcast::channel(16);
        let quiet = Duration::from_secs(2);
        let mut d = Debouncer::new(rx, quiet, Duration::from_secs(10));
        let sender = tokio::spawn(async move {
            // A burst: three notices 1 s apart (the same object twice).
            for (i, id) in ["a:configmap/x", "a:configmap/y", "a:configmap/x"]
                .iter()
                .enumerate()
            {
                if i > 0 {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                let change = if i == 2 {
                    Change::Deleted
                } else {
                    Change::Changed
                };
                tx.send(notice(id, change)).expect("a receiver");
            }
            // A steady trickle, one a second for 30 s: cut at max_delay.
            tokio::time::sleep(Duration::from_secs(5)).await;
            for _ in 0..30 {
                tx.send(notice("a:deployment/busy", Change::Changed))
                    .expect("a receiver");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            tx
        });
        let start = Instant::now();
        let b = d.next().await.expect("a batch");
        // Last notice at 2 s, then 2 s of quiet.
        assert_eq!(start.elapsed(), Duration::from_secs(4));
        assert_eq!(
            b.notices,
            [
                notice("a:configmap/x", Change::Deleted),
                notice("a:configmap/y", Change::Changed)
            ]
        );
        assert!(b.touches_marked());
        let b = d.next().await.expect("a batch");
        // The trickle began at 7 s; cut 10 s later.
        assert_eq!(start.elapsed(), Duration::from_secs(17));
        assert_eq!(b.notices.len(), 1);
        let tx = sender.await.expect("sender");
        drop(tx);
        // What was sent after the cut comes next, then the end.
        let b = d.next().await.expect("the rest");
        assert_eq!(b.notices.len(), 1);
        assert!(d.next().await.is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn lost_notices_still_make_a_batch() {
        let (tx, rx) = broadcast::channel(2);
        let mut d = Debouncer::new(rx, Duration::from_secs(1), Duration::from_secs(5));
        for i in 0..5 {
            tx.send(notice(&format!("a:configmap/c{i}"), Change::Changed))
                .expect("a receiver");
        }
        let b = d.next().await.expect("a batch");
        assert_eq!(b.lagged, 3);
        assert_eq!(b.notices.len(), 2);
        assert!(b.touches_marked());
        let unmarked = Batch {
            notices: vec![Notice {
                marked: false,
                ..notice("a:deployment/d", Change::Changed)
            }],
            lagged: 0,
        };
        assert!(!unmarked.touches_marked());
    }
}
