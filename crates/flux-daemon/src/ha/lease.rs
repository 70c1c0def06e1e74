//! One Lease (`coordination.k8s.io/v1`): read it, take it when it is free
//! or expired, renew it while held, give it back.
//!
//! Written on kube's `Api<Lease>` rather than a leader-election crate: it
//! is a few dozen lines; fencing needs the instant each renewal was *sent*
//! (a crate reports only that it leads); and the API emulator our tests run
//! against is the referee of who wins a race (every update carries the
//! resourceVersion read, and a 409 means another replica got there first).

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ObjectMeta, PostParams};

/// A Lease request failed for a reason other than losing a race.
#[derive(Debug, thiserror::Error)]
#[error("lease {name}: {source}")]
pub struct LeaseError {
    /// The Lease.
    pub name: String,
    /// Why.
    #[source]
    pub source: kube::Error,
}

/// What trying to hold a Lease ended in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hold {
    /// This replica holds it; the write that said so was sent at this instant.
    Held(Instant),
    /// Another replica holds it (unexpired), or won the race (409).
    Taken(Option<String>),
}

/// The Lease fields the decisions read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseView {
    /// Its name.
    pub name: String,
    /// `holderIdentity` (`None` or empty: given back).
    pub holder: Option<String>,
    /// `renewTime`.
    pub renew: Option<Timestamp>,
    /// `leaseDurationSeconds`.
    pub duration: Duration,
}

impl LeaseView {
    /// Reads the fields of `lease`.
    pub fn of(lease: &Lease) -> Self {
        let spec = lease.spec.clone().unwrap_or_default();
        LeaseView {
            name: lease.metadata.name.clone().unwrap_or_default(),
            holder: spec.holder_identity.filter(|h| !h.is_empty()),
            renew: spec.renew_time.map(|t| t.0),
            duration: Duration::from_secs(
                u64::try_from(spec.lease_duration_seconds.unwrap_or(0)).unwrap_or(0),
            ),
        }
    }

    /// The holder, if the Lease is held and not expired at `now`
    /// (`renewTime + leaseDurationSeconds >= now`).
    pub fn live_holder(&self, now: Timestamp) -> Option<&str> {
        let holder = self.holder.as_deref()?;
        let renew = self.renew?;
        let end = renew.checked_add(self.duration).unwrap_or(Timestamp::MAX);
        (end >= now).then_some(holder)
    }
}

/// Leases in one namespace, held as one replica.
#[derive(Clone)]
pub struct Leases {
    api: Api<Lease>,
    replica: String,
    duration: Duration,
}

fn code(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(s) => Some(s.code),
        _ => None,
    }
}

impl Leases {
    /// Leases in `namespace`, written as `replica` with `duration`.
    pub fn new(client: kube::Client, namespace: &str, replica: &str, duration: Duration) -> Self {
        Leases {
            api: Api::namespaced(client, namespace),
            replica: replica.to_owned(),
            duration,
        }
    }

    /// This replica's name.
    pub fn replica(&self) -> &str {
        &self.replica
    }

    /// Every Lease in the namespace whose name starts with `prefix`.
    pub async fn list(&self, prefix: &str) -> Result<Vec<LeaseView>, LeaseError> {
        let list = self
            .api
            .list(&Default::default())
            .await
            .map_err(|source| LeaseError {
                name: format!("{prefix}*"),
                source,
            })?;
        Ok(list
            .items
            .iter()
            .map(LeaseView::of)
            .filter(|l| l.name.starts_with(prefix))
            .collect())
    }

    /// Takes `name` if it is free or expired, or renews it if this replica
    /// holds it; every write carries the resourceVersion read.
    pub async fn hold(&self, name: &str) -> Result<Hold, LeaseError> {
        let err = |source| LeaseError {
            name: name.to_owned(),
            source,
        };
        let now = Timestamp::now();
        let current = match self.api.get_opt(name).await.map_err(err)? {
            Some(l) => l,
            None => {
                let lease = Lease {
                    metadata: ObjectMeta {
                        name: Some(name.to_owned()),
                        ..ObjectMeta::default()
                    },
                    spec: Some(self.spec(now, now, 0)),
                };
                let sent = Instant::now();
                return match self.api.create(&PostParams::default(), &lease).await {
                    Ok(_) => Ok(Hold::Held(sent)),
                    Err(e) if code(&e) == Some(409) => Ok(Hold::Taken(None)),
                    Err(e) => Err(err(e)),
                };
            }
        };
        let view = LeaseView::of(&current);
        let spec = current.spec.clone().unwrap_or_default();
        let transitions = spec.lease_transitions.unwrap_or(0);
        let new_spec = match view.live_holder(now) {
            Some(h) if h == self.replica => {
                let acquired = spec.acquire_time.map_or(now, |t| t.0);
                self.spec(acquired, now, transitions)
            }
            Some(other) => return Ok(Hold::Taken(Some(other.to_owned()))),
            None => self.spec(now, now, transitions.saturating_add(1)),
        };
        let mut next = current;
        next.spec = Some(new_spec);
        let sent = Instant::now();
        match self.api.replace(name, &PostParams::default(), &next).await {
            Ok(_) => Ok(Hold::Held(sent)),
            Err(e) if code(&e) == Some(409) => Ok(Hold::Taken(None)),
            Err(e) => Err(err(e)),
        }
    }

    /// Gives `name` back (clears `holderIdentity`) if this replica holds it.
    pub async fn release(&self, name: &str) -> Result<(), LeaseError> {
        let err = |source| LeaseError {
            name: name.to_owned(),
            source,
        };
        let Some(mut current) = self.api.get_opt(name).await.map_err(err)? else {
            return Ok(());
        };
        if LeaseView::of(&current).holder.as_deref() != Some(self.replica.as_str()) {
            return Ok(());
        }
        if let Some(spec) = current.spec.as_mut() {
            spec.holder_identity = None;
        }
        match self
            .api
            .replace(name, &PostParams::default(), &current)
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if code(&e) == Some(409) => Ok(()),
            Err(e) => Err(err(e)),
        }
    }

    fn spec(&self, acquired: Timestamp, now: Timestamp, transitions: i32) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(self.replica.clone()),
            lease_duration_seconds: Some(
                i32::try_from(self.duration.as_secs()).unwrap_or(i32::MAX),
            ),
            acquire_time: Some(MicroTime(acquired)),
            renew_time: Some(MicroTime(now)),
            lease_transitions: Some(transitions),
            ..LeaseSpec::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(holder: Option<&str>, renew: Option<Timestamp>, secs: u64) -> LeaseView {
        LeaseView {
            name: "fluxd-apps".into(),
            holder: holder.map(str::to_owned),
            renew,
            duration: Duration::from_secs(secs),
        }
    }

    #[test]
    fn a_lease_is_live_until_renew_time_plus_duration() {
        let t0: Timestamp = "2026-12-04T17:00:00Z".parse().unwrap();
        let l = view(Some("r1"), Some(t0), 15);
        let at = |s: i64| t0.checked_add(jiff_secs(s)).unwrap();
        assert_eq!(l.live_holder(at(0)), Some("r1"));
        assert_eq!(l.live_holder(at(15)), Some("r1"));
        assert_eq!(l.live_holder(at(16)), None, "expired");
        assert_eq!(
            view(None, Some(t0), 15).live_holder(at(0)),
            None,
            "given back"
        );
        assert_eq!(
            view(Some("r1"), None, 15).live_holder(at(0)),
            None,
            "never renewed"
        );
    }

    fn jiff_secs(s: i64) -> k8s_openapi::jiff::SignedDuration {
        k8s_openapi::jiff::SignedDuration::from_secs(s)
    }
}
