//! Reading the workloads once per sync instead of twice.
//!
//! A sync reads the cluster with two calls, back to back: the export (every
//! workload, unfiltered) and the GC listing (every object carrying the
//! mark, which includes the marked workloads again). On a sync with
//! nothing to do, decoding those objects is most of what the adapter
//! spends, so the GC listing takes the export's workload lists instead of
//! asking for them again, and filters them by the label itself.
//!
//! A reused list is never older than a fresh one would be in any way that
//! matters to a sync:
//! - it is taken once: the first GC listing after an export consumes it,
//!   so a later listing (garbage collection after the applies, the next
//!   sync) always reads the cluster;
//! - any write through this adapter (apply, delete), started or finished
//!   since the export began, voids it;
//! - it is used only within [`MAX_AGE`] of the export's start, for the
//!   same allowed namespaces, and only for a plain label-key selector.
//!
//! What it cannot see is another writer's change between the two reads,
//! which the export itself already missed; the planner reads both. Lists
//! no GC listing takes (an export on its own, for `fluxctl
//! list-workloads`) are dropped after [`MAX_AGE`] rather than held.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use flux_core::cluster::Namespaces;
use serde_json::Value;
use tokio::time::Instant;

/// How long after an export began its lists may stand in for new ones.
pub const MAX_AGE: Duration = Duration::from_secs(1);

/// A listed collection: apiVersion, plural, and namespace (`None`:
/// cluster-wide).
pub type Key = (String, String, Option<String>);

/// The export's lists, waiting for the GC listing.
struct Lists {
    epoch: u64,
    began: Instant,
    namespaces: Namespaces,
    lists: HashMap<Key, Vec<Value>>,
}

/// The lists held for reuse, and a count of writes to void them.
#[derive(Default)]
pub struct Recent {
    held: Arc<Mutex<Option<Lists>>>,
    epoch: AtomicU64,
}

fn lock(held: &Mutex<Option<Lists>>) -> std::sync::MutexGuard<'_, Option<Lists>> {
    held.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Marks a write in progress: voids held lists when it starts and when it
/// ends.
pub struct Writing<'a>(&'a Recent);

impl Drop for Writing<'_> {
    fn drop(&mut self) {
        self.0.bump();
    }
}

impl Recent {
    fn slot(&self) -> std::sync::MutexGuard<'_, Option<Lists>> {
        lock(&self.held)
    }

    fn bump(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        self.slot().take();
    }

    /// The write count, read before an export starts listing.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    /// Call before writing; keep the guard until the write is done.
    pub fn writing(&self) -> Writing<'_> {
        self.bump();
        Writing(self)
    }

    /// Holds an export's lists (which began at `began`, with the write
    /// count at `epoch`) unless a write has happened since.
    pub fn keep(
        &self,
        epoch: u64,
        began: Instant,
        namespaces: &Namespaces,
        lists: HashMap<Key, Vec<Value>>,
    ) {
        let mut slot = self.slot();
        *slot = (self.epoch() == epoch).then(|| Lists {
            epoch,
            began,
            namespaces: namespaces.clone(),
            lists,
        });
        if slot.is_some()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            // Not held past their use-by time.
            let held = Arc::downgrade(&self.held);
            runtime.spawn(async move {
                tokio::time::sleep_until(began + MAX_AGE).await;
                if let Some(held) = held.upgrade() {
                    let mut slot = lock(&held);
                    if slot.as_ref().is_some_and(|l| l.began == began) {
                        slot.take();
                    }
                }
            });
        }
    }

    /// Takes the held lists (always emptying the slot) if they are still
    /// good for a GC listing of `namespaces`.
    pub fn take(&self, namespaces: &Namespaces) -> Option<HashMap<Key, Vec<Value>>> {
        let held = self.slot().take()?;
        let fresh = held.epoch == self.epoch()
            && held.began.elapsed() <= MAX_AGE
            && held.namespaces == *namespaces;
        fresh.then_some(held.lists)
    }
}

/// Whether `selector` is a bare label key (`key`, meaning "has the
/// label"), the one form matched here rather than by the server.
pub fn is_plain_key(selector: &str) -> bool {
    !selector.is_empty()
        && selector
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
}

/// Whether `obj` carries the label `key` (any value).
pub fn has_label(obj: &Value, key: &str) -> bool {
    obj.pointer("/metadata/labels")
        .and_then(Value::as_object)
        .is_some_and(|l| l.contains_key(key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::BTreeSet;

    fn lists() -> HashMap<Key, Vec<Value>> {
        HashMap::from([(
            ("apps/v1".into(), "deployments".into(), None),
            vec![json!({"metadata": {"name": "a"}})],
        )])
    }

    #[tokio::test(start_paused = true)]
    async fn taken_once_voided_by_writes_age_and_other_namespaces() {
        let all = Namespaces::All;
        let r = Recent::default();

        // Kept, then taken once.
        r.keep(r.epoch(), Instant::now(), &all, lists());
        assert!(r.take(&all).is_some());
        assert!(r.take(&all).is_none(), "a second listing reads the cluster");

        // A write that began during the export: never kept.
        let e = r.epoch();
        drop(r.writing());
        r.keep(e, Instant::now(), &all, lists());
        assert!(r.take(&all).is_none());

        // A write after the export: voided at its start.
        r.keep(r.epoch(), Instant::now(), &all, lists());
        let w = r.writing();
        assert!(r.take(&all).is_none());
        // ...and lists kept while it runs are voided when it ends.
        r.keep(r.epoch(), Instant::now(), &all, lists());
        drop(w);
        assert!(r.take(&all).is_none());

        // Too old: refused, and not held either.
        r.keep(r.epoch(), Instant::now(), &all, lists());
        tokio::time::sleep(MAX_AGE / 2).await;
        assert!(r.slot().is_some());
        tokio::time::sleep(MAX_AGE / 2 + Duration::from_millis(1)).await;
        assert!(r.slot().is_none(), "dropped after MAX_AGE");
        r.keep(r.epoch(), Instant::now(), &all, lists());
        tokio::time::advance(MAX_AGE / 2).await;
        assert!(r.take(&all).is_some(), "within MAX_AGE");
        // Without the runtime's timer (as if it had not fired yet).
        let began = Instant::now();
        tokio::time::advance(MAX_AGE + Duration::from_millis(1)).await;
        *r.slot() = Some(Lists {
            epoch: r.epoch(),
            began,
            namespaces: all.clone(),
            lists: lists(),
        });
        assert!(r.take(&all).is_none(), "older than MAX_AGE");

        // Other namespaces.
        r.keep(r.epoch(), Instant::now(), &all, lists());
        let only = Namespaces::Only(BTreeSet::from(["a".to_owned()]));
        assert!(r.take(&only).is_none());
    }

    #[test]
    fn selectors_and_labels() {
        let cases = [
            ("fluxcd.io/sync-gc-mark", true),
            ("app", true),
            ("", false),
            ("app=web", false),
            ("app,tier", false),
            ("!app", false),
            ("app in (a)", false),
        ];
        for (s, want) in cases {
            assert_eq!(is_plain_key(s), want, "{s:?}");
        }
        let obj = json!({"metadata": {"labels": {"fluxcd.io/sync-gc-mark": ""}}});
        assert!(has_label(&obj, "fluxcd.io/sync-gc-mark"));
        assert!(!has_label(&obj, "app"));
        assert!(!has_label(&json!({"metadata": {}}), "app"));
    }
}
