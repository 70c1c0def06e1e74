//! Who owns which source: each replica keeps a membership Lease
//! (`fluxd-replica-<id>`), counts the live replicas from those, and holds
//! about its share of the sources' Leases (`fluxd-<source>`): it takes free
//! or expired ones while below its share and gives back extra ones (fence
//! closed first, then the Lease released) when above. It opens and closes
//! each source's [`Fence`] as renewals succeed or fail.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::Arc;

use k8s_openapi::jiff::Timestamp;

use super::fence::Fence;
use super::lease::{Hold, LeaseView, Leases};
use crate::config::HaSettings;

/// Prefix of every Lease fluxd writes.
pub const LEASE_PREFIX: &str = "fluxd-";
/// Prefix of the replicas' membership Leases.
pub const MEMBER_PREFIX: &str = "fluxd-replica-";

/// The Lease of source `source`.
pub fn source_lease(source: &str) -> String {
    format!("{LEASE_PREFIX}{source}")
}

/// How many free source Leases replica `me` may take (positive) or must give
/// back (negative) now, given how many of the `sources` each live replica holds
/// (`holdings`, every live replica listed, `me` included).
///
/// Each replica aims at `floor(sources / live)` or one more: one above
/// `ceil` gives back the excess; while some replica is below `floor`, only
/// the replica holding most (ties: the smallest name) gives back one, and
/// only replicas below `floor` take. So 4 sources on 3 replicas settle to
/// 2/1/1 without two replicas giving back the same round.
pub fn spread(me: &str, sources: usize, holdings: &BTreeMap<String, usize>) -> isize {
    let live = holdings.len().max(1);
    let floor = sources / live;
    let ceil = sources.div_ceil(live);
    let mine = holdings.get(me).copied().unwrap_or(0);
    let diff =
        |a: usize, b: usize| isize::try_from(a).unwrap_or(0) - isize::try_from(b).unwrap_or(0);
    if mine > ceil {
        return diff(ceil, mine);
    }
    let starving = holdings.values().any(|&n| n < floor);
    if starving {
        if mine < floor {
            return diff(floor, mine);
        }
        // The richest replica (smallest name among equals) gives one back.
        let richest = holdings
            .iter()
            .max_by(|a, b| a.1.cmp(b.1).then_with(|| b.0.cmp(a.0)))
            .map(|(name, _)| name.as_str());
        if mine > floor && richest == Some(me) {
            return -1;
        }
        return 0;
    }
    diff(ceil, mine)
}

/// The Lease loop of one replica over its sources.
pub struct Ownership {
    leases: Leases,
    settings: HaSettings,
    fences: BTreeMap<String, Arc<Fence>>,
    held: BTreeSet<String>,
}

impl Ownership {
    /// The loop for `sources` (with their fences), holding Leases as
    /// `settings.replica_id` through `leases`.
    pub fn new(leases: Leases, settings: HaSettings, fences: BTreeMap<String, Arc<Fence>>) -> Self {
        Ownership {
            leases,
            settings,
            fences,
            held: BTreeSet::new(),
        }
    }

    fn me(&self) -> &str {
        &self.settings.replica_id
    }

    /// The sources this replica holds.
    pub fn held(&self) -> &BTreeSet<String> {
        &self.held
    }

    fn lost(&mut self, source: &str, owner: Option<String>) {
        if let Some(f) = self.fences.get(source) {
            f.close(owner.clone());
        }
        if self.held.remove(source) {
            tracing::warn!(source, owner = ?owner, replica = self.me(), "lost the source's lease; stopped writing for it");
        }
    }

    /// One round: renew the membership Lease and the held ones, then take
    /// or give back to reach this replica's share. Returns the sources
    /// taken this round.
    pub async fn tick(&mut self) -> Vec<String> {
        let me = self.me().to_owned();
        if let Err(e) = self.leases.hold(&format!("{MEMBER_PREFIX}{me}")).await {
            tracing::warn!(error = %e, "cannot renew the replica's membership lease");
        }
        for source in self.held.clone() {
            match self.leases.hold(&source_lease(&source)).await {
                Ok(Hold::Held(sent)) => {
                    if let Some(f) = self.fences.get(&source) {
                        f.renewed(sent);
                    }
                }
                Ok(Hold::Taken(owner)) => self.lost(&source, owner),
                Err(e) => {
                    // The fence closes by itself at the deadline.
                    tracing::warn!(source, error = %e, "cannot renew the source's lease");
                }
            }
        }
        let views = match self.leases.list(LEASE_PREFIX).await {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list leases");
                return Vec::new();
            }
        };
        let now = Timestamp::now();
        let by_name: BTreeMap<&str, &LeaseView> =
            views.iter().map(|v| (v.name.as_str(), v)).collect();
        let mut holdings: BTreeMap<String, usize> = views
            .iter()
            .filter(|v| v.name.starts_with(MEMBER_PREFIX))
            .filter_map(|v| v.live_holder(now))
            .map(|h| (h.to_owned(), 0))
            .collect();
        holdings.insert(me.clone(), 0);
        let mut free = Vec::new();
        for source in self.fences.keys() {
            let holder = by_name
                .get(source_lease(source).as_str())
                .and_then(|v| v.live_holder(now));
            if self.held.contains(source) {
                *holdings.entry(me.clone()).or_default() += 1;
                continue;
            }
            match holder {
                Some(h) => {
                    if let Some(n) = holdings.get_mut(h) {
                        *n += 1;
                    }
                    if let Some(f) = self.fences.get(source) {
                        f.close(Some(h.to_owned()));
                    }
                }
                None => free.push(source.clone()),
            }
        }
        let delta = spread(&me, self.fences.len(), &holdings);
        let mut taken = Vec::new();
        if delta < 0 {
            let extra: Vec<String> = self
                .held
                .iter()
                .rev()
                .take(delta.unsigned_abs())
                .cloned()
                .collect();
            for source in extra {
                // Stop writing first, then let the Lease go.
                self.lost(&source, None);
                if let Err(e) = self.leases.release(&source_lease(&source)).await {
                    tracing::warn!(source, error = %e, "cannot give the source's lease back; it will expire");
                }
                tracing::info!(source, replica = %me, "gave the source back to spread the load");
            }
        } else if delta > 0 {
            for source in free {
                if taken.len() >= delta.unsigned_abs() {
                    break;
                }
                match self.leases.hold(&source_lease(&source)).await {
                    Ok(Hold::Held(sent)) => {
                        if let Some(f) = self.fences.get(&source) {
                            f.renewed(sent);
                        }
                        self.held.insert(source.clone());
                        tracing::info!(source, replica = %me, "took the source's lease");
                        taken.push(source);
                    }
                    Ok(Hold::Taken(owner)) => self.lost(&source, owner),
                    Err(e) => tracing::warn!(source, error = %e, "cannot take the source's lease"),
                }
            }
        }
        taken
    }

    /// Gives back every Lease held, the membership Lease last, with the
    /// fences closed first.
    pub async fn release_all(&mut self) {
        for source in std::mem::take(&mut self.held) {
            if let Some(f) = self.fences.get(&source) {
                f.close(None);
            }
            if let Err(e) = self.leases.release(&source_lease(&source)).await {
                tracing::warn!(source, error = %e, "cannot give the source's lease back; it will expire");
            }
        }
        let member = format!("{MEMBER_PREFIX}{}", self.me());
        if let Err(e) = self.leases.release(&member).await {
            tracing::warn!(error = %e, "cannot give the membership lease back; it will expire");
        }
    }

    /// Runs rounds every `--ha-renew-interval` until `stop`, calling
    /// `taken` with each source taken; then gives every Lease back.
    pub async fn run(mut self, taken: impl Fn(&str) + Send, stop: impl Future<Output = ()>) {
        tokio::pin!(stop);
        let mut ticks = tokio::time::interval(self.settings.renew_interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = &mut stop => break,
                _ = ticks.tick() => {}
            }
            let round = tokio::select! {
                () = &mut stop => break,
                t = self.tick() => t,
            };
            for s in round {
                taken(&s);
            }
        }
        self.release_all().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holdings(pairs: &[(&str, usize)]) -> BTreeMap<String, usize> {
        pairs.iter().map(|(n, c)| ((*n).to_owned(), *c)).collect()
    }

    #[test]
    fn a_lone_replica_takes_everything() {
        assert_eq!(spread("a", 4, &holdings(&[("a", 0)])), 4);
        assert_eq!(spread("a", 4, &holdings(&[("a", 4)])), 0);
    }

    #[test]
    fn above_the_ceiling_gives_back_the_excess() {
        assert_eq!(spread("a", 4, &holdings(&[("a", 4), ("b", 0)])), -2);
        assert_eq!(spread("b", 4, &holdings(&[("a", 4), ("b", 0)])), 2);
    }

    #[test]
    fn four_sources_on_three_replicas_settle_to_two_one_one() {
        // After two replicas split 2/2, a third joins with nothing: only the
        // richest with the smallest name gives one back, only the newcomer takes.
        let h = holdings(&[("a", 2), ("b", 2), ("c", 0)]);
        assert_eq!(spread("a", 4, &h), -1);
        assert_eq!(spread("b", 4, &h), 0);
        assert_eq!(spread("c", 4, &h), 1);
        let settled = holdings(&[("a", 1), ("b", 2), ("c", 1)]);
        // Nobody gives back (a and c may take, but nothing is free).
        assert_eq!(spread("a", 4, &settled), 1);
        assert_eq!(spread("b", 4, &settled), 0);
        assert_eq!(spread("c", 4, &settled), 1);
    }

    #[test]
    fn a_free_source_goes_to_a_replica_below_the_ceiling() {
        let h = holdings(&[("a", 1), ("b", 1), ("c", 1)]);
        assert_eq!(spread("a", 4, &h), 1);
        assert_eq!(spread("c", 4, &h), 1);
    }
}
