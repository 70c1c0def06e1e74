//! Faults injected at random while the soak runs, one episode at a time
//! (now and then two at once; three in a short soak): the API server answering 500 or 429,
//! slow, or dropping connections (for fluxd's requests alone: kubectl and
//! the soak's own checks are not affected); the registry answering 503 or
//! slow (through the proxy fluxd scans); the git remote (sshd) stopped and
//! started again on the same port. A registry fault starts with a notice of
//! an image change to fluxd's API, so that fluxd scans while it lasts.
//! After each episode the injector waits
//! until fluxd has recovered: git ready, a clean sync, and, after a
//! registry fault, a successful scan, all after the fault was removed.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use flux_api::image::ImageName;
use flux_api::v9::{Change, ImageUpdate};
use flux_testbed::git::SshServer;
use flux_testbed::registry::{Fault, Proxy};
use kube_emulator::{FaultAction, FaultId, FaultRule};

use super::monitor::{self, SeenHandle};
use super::rng::Rng;

/// How long fluxd gets to recover from one episode before the soak fails.
pub const RECOVERY_TIMEOUT: Duration = Duration::from_secs(120);

/// The shortest git outage: longer than the soak's `--git-poll-interval`
/// (5 s), so fluxd tries to fetch while the remote is down.
pub const GIT_OUTAGE_MIN: Duration = Duration::from_secs(7);

/// The kinds of fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// The API server answers 500 (to all, to writes, or a burst).
    Api500,
    /// The API server answers 429 with `Retry-After: 1`.
    Api429,
    /// Every API request waits.
    ApiLatency,
    /// API connections are closed without an answer (watches end too).
    ApiDrop,
    /// The registry answers 503.
    Registry503,
    /// The registry is slow.
    RegistrySlow,
    /// The git remote stops, then starts again on the same port.
    GitRestart,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Kind; 7] = [
        Kind::Api500,
        Kind::Api429,
        Kind::ApiLatency,
        Kind::ApiDrop,
        Kind::Registry503,
        Kind::RegistrySlow,
        Kind::GitRestart,
    ];

    /// The server it hits: 0 the API server, 1 the registry, 2 git.
    fn server(self) -> u8 {
        match self {
            Kind::Api500 | Kind::Api429 | Kind::ApiLatency | Kind::ApiDrop => 0,
            Kind::Registry503 | Kind::RegistrySlow => 1,
            Kind::GitRestart => 2,
        }
    }

    /// Its name in the report.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Api500 => "API 500",
            Kind::Api429 => "API 429",
            Kind::ApiLatency => "API latency",
            Kind::ApiDrop => "API dropped connections",
            Kind::Registry503 => "registry 503",
            Kind::RegistrySlow => "registry slowness",
            Kind::GitRestart => "git remote restart",
        }
    }
}

/// One episode: what was injected, for how long, and how fluxd recovered.
#[derive(Debug, Clone)]
pub struct Episode {
    /// The faults (one or two).
    pub faults: Vec<(Kind, String)>,
    /// When it started (seconds since the soak started).
    pub at: f64,
    /// How long the faults lasted.
    pub lasted: Duration,
    /// How long after the faults were removed fluxd was healthy again
    /// (`None`: not within [`RECOVERY_TIMEOUT`]).
    pub recovered_after: Option<Duration>,
    /// What fluxd met: registry requests answered by the fault.
    pub registry_requests: u64,
}

/// What the injector works on.
pub struct Injector {
    /// The emulator (its fault rules).
    pub emulator: Arc<kube_emulator::Server>,
    /// The registry proxy fluxd scans through.
    pub proxy: Arc<Proxy>,
    /// The git remote.
    pub sshd: Arc<Mutex<SshServer>>,
    /// What the monitor sees.
    pub seen: SeenHandle,
    /// Random choices.
    pub rng: Rng,
    /// Longest fault and longest quiet gap.
    pub longest: Duration,
    /// When the soak started.
    pub started: Instant,
    /// fluxd's API: a registry fault starts with a notice of an image
    /// change (as a registry webhook sends), so fluxd scans during it.
    pub api: flux_api::client::Client,
    /// The image repository named in that notice (`host/path`).
    pub notify_image: String,
    /// Most faults at once in an episode (a short soak puts three at
    /// once, so that it meets every kind in three episodes).
    pub at_once: usize,
    /// Percent of episodes that have more than one fault.
    pub combine_percent: u64,
}

/// A fault in place, to be removed.
enum Active {
    Api(FaultId),
    Registry,
    Git,
}

impl Injector {
    /// Injects episodes until `stop` (or the episode under way ends).
    pub async fn run(mut self, stop: Arc<AtomicBool>) -> anyhow::Result<Vec<Episode>> {
        let mut episodes = Vec::new();
        let mut deck: Vec<Kind> = Vec::new();
        let longest = self.longest.as_millis() as u64;
        while !stop.load(Ordering::Relaxed) {
            let gap = self.rng.range(longest / 4, longest);
            sleep_unless(&stop, Duration::from_millis(gap)).await;
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let mut kinds = vec![draw(&mut deck, &mut self.rng)];
            if self.rng.chance(self.combine_percent) {
                draw_more(&mut deck, &mut kinds, self.at_once);
            }
            let mut lasted = Duration::from_millis(self.rng.range(longest / 5, longest));
            if kinds.contains(&Kind::GitRestart) {
                // Longer than fluxd's git poll, so that it meets the outage.
                lasted = lasted.max(GIT_OUTAGE_MIN);
            }
            let registry = kinds
                .iter()
                .any(|k| matches!(k, Kind::Registry503 | Kind::RegistrySlow));
            let at = self.started.elapsed().as_secs_f64();
            let proxy_before = self.proxy.requests().len();
            let mut faults = Vec::new();
            let mut active = Vec::new();
            for &kind in &kinds {
                monitor::open_window(&self.seen, kind);
                let (detail, a) = self.inject(kind).await?;
                faults.push((kind, detail));
                active.push((kind, a));
            }
            if registry {
                let change = Change::Image(ImageUpdate {
                    name: ImageName::from_repository(&self.notify_image),
                });
                // Refused or not, the fault stays its time.
                let _ = self.api.notify(&change).await;
            }
            tokio::time::sleep(lasted).await;
            for (kind, a) in active {
                self.remove(a).await?;
                monitor::close_window(&self.seen, kind);
            }
            let registry_requests = if registry {
                (self.proxy.requests().len() - proxy_before) as u64
            } else {
                0
            };
            let recovered_after = self.await_recovery(&kinds).await;
            let episode = Episode {
                faults,
                at,
                lasted,
                recovered_after,
                registry_requests,
            };
            let failed = recovered_after.is_none();
            episodes.push(episode);
            if failed {
                // No point going on: the soak reports it.
                break;
            }
        }
        Ok(episodes)
    }

    async fn inject(&mut self, kind: Kind) -> anyhow::Result<(String, Active)> {
        let faults = self.emulator.faults();
        let fluxd = |action| FaultRule::always(action).user_agent("fluxd/");
        Ok(match kind {
            Kind::Api500 => {
                let action = FaultAction::Status {
                    code: 500,
                    retry_after: None,
                };
                let (rule, what) = match self.rng.range(0, 2) {
                    0 => (fluxd(action), "every request"),
                    1 => (fluxd(action).method("PATCH"), "writes (PATCH)"),
                    _ => (fluxd(action).method("GET"), "reads (GET)"),
                };
                (format!("500 to {what}"), Active::Api(faults.add(rule)))
            }
            Kind::Api429 => (
                "429, Retry-After 1".to_owned(),
                Active::Api(faults.add(fluxd(FaultAction::Status {
                    code: 429,
                    retry_after: Some(1),
                }))),
            ),
            Kind::ApiLatency => {
                let millis = self.rng.range(100, 1500);
                (
                    format!("{millis} ms per request"),
                    Active::Api(faults.add(fluxd(FaultAction::Latency { millis }))),
                )
            }
            Kind::ApiDrop => (
                "connections dropped".to_owned(),
                Active::Api(faults.add(fluxd(FaultAction::Drop))),
            ),
            Kind::Registry503 => {
                self.proxy.set_fault(Fault::Status {
                    status: 503,
                    retry_after: None,
                    times: None,
                });
                ("503".to_owned(), Active::Registry)
            }
            Kind::RegistrySlow => {
                let millis = self.rng.range(500, 5000);
                self.proxy
                    .set_fault(Fault::Delay(Duration::from_millis(millis)));
                (format!("{millis} ms per request"), Active::Registry)
            }
            Kind::GitRestart => {
                let sshd = self.sshd.clone();
                tokio::task::spawn_blocking(move || {
                    super::lock_sshd(&sshd).stop();
                })
                .await?;
                ("sshd stopped".to_owned(), Active::Git)
            }
        })
    }

    async fn remove(&self, active: Active) -> anyhow::Result<()> {
        match active {
            Active::Api(id) => self.emulator.faults().remove(id),
            Active::Registry => self.proxy.set_fault(Fault::None),
            Active::Git => {
                let sshd = self.sshd.clone();
                tokio::task::spawn_blocking(move || super::lock_sshd(&sshd).restart()).await??;
            }
        }
        Ok(())
    }

    /// Waits until fluxd is healthy again after an episode of `kinds`: a
    /// clean sync and git ready (and a successful registry scan after a
    /// registry fault), all seen after the faults were removed.
    async fn await_recovery(&self, kinds: &[Kind]) -> Option<Duration> {
        let ended = Instant::now();
        let before = monitor::lock(&self.seen).scrape.clone();
        let registry = kinds
            .iter()
            .any(|k| matches!(k, Kind::Registry503 | Kind::RegistrySlow));
        while ended.elapsed() < RECOVERY_TIMEOUT {
            tokio::time::sleep(Duration::from_millis(250)).await;
            let now = monitor::lock(&self.seen).scrape.clone();
            let synced = now.syncs_clean > before.syncs_clean;
            let git = now.git_ready == Some(true);
            let scanned = !registry || now.scans_ok > before.scans_ok;
            if synced && git && scanned {
                return Some(ended.elapsed());
            }
        }
        None
    }
}

/// The next kind from a shuffled deck of all kinds (refilled when empty),
/// so even a short soak meets each kind once before any repeats.
fn draw(deck: &mut Vec<Kind>, rng: &mut Rng) -> Kind {
    if deck.is_empty() {
        deck.extend(Kind::ALL);
        rng.shuffle(deck);
    }
    deck.pop().expect("refilled above")
}

/// Whether `a` and `b` can be in place at once: on different servers, or
/// latency with another API fault (the emulator delays, then answers the
/// other fault).
fn compatible(a: Kind, b: Kind) -> bool {
    a != b && (a.server() != b.server() || a == Kind::ApiLatency || b == Kind::ApiLatency)
}

/// Whether `k` makes the API server answer something else than fluxd asked
/// for (500, 429, no answer): at most one of those at a time.
fn api_answer(k: Kind) -> bool {
    matches!(k, Kind::Api500 | Kind::Api429 | Kind::ApiDrop)
}

/// Takes kinds out of `deck` that can go with `kinds` until there are
/// `most` of them or none fits; an API answer fault first when `kinds` has
/// none (they are the most numerous and cannot go together).
fn draw_more(deck: &mut Vec<Kind>, kinds: &mut Vec<Kind>, most: usize) {
    while kinds.len() < most {
        let fits = |k: &Kind| kinds.iter().all(|have| compatible(*have, *k));
        let want_answer = !kinds.iter().any(|k| api_answer(*k));
        let i = deck
            .iter()
            .rposition(|k| fits(k) && (!want_answer || api_answer(*k)))
            .or_else(|| deck.iter().rposition(fits));
        match i {
            Some(i) => kinds.push(deck.remove(i)),
            None => return,
        }
    }
}

async fn sleep_unless(stop: &AtomicBool, d: Duration) {
    let end = Instant::now() + d;
    while !stop.load(Ordering::Relaxed) && Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Faults met per kind, from the episodes and the monitor.
pub fn met(episodes: &[Episode], seen: &monitor::Seen) -> BTreeMap<Kind, (u64, u64)> {
    // kind -> (episodes, requests or outages met)
    let mut out: BTreeMap<Kind, (u64, u64)> = BTreeMap::new();
    for e in episodes {
        for (kind, _) in &e.faults {
            out.entry(*kind).or_default().0 += 1;
            if matches!(kind, Kind::Registry503 | Kind::RegistrySlow) {
                out.entry(*kind).or_default().1 += e.registry_requests;
            }
        }
    }
    for (kind, n) in &seen.api_faults_met {
        out.entry(*kind).or_default().1 += n;
    }
    if seen.git_outages_noticed > 0 {
        out.entry(Kind::GitRestart).or_default().1 += seen.git_outages_noticed;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_at_once_meet_every_kind_in_three_episodes() {
        for seed in 0..200 {
            let mut rng = Rng::new(seed);
            let mut deck = Vec::new();
            let mut met = std::collections::BTreeSet::new();
            for _ in 0..3 {
                let mut kinds = vec![draw(&mut deck, &mut rng)];
                draw_more(&mut deck, &mut kinds, 3);
                for (i, a) in kinds.iter().enumerate() {
                    for b in &kinds[i + 1..] {
                        assert!(compatible(*a, *b), "seed {seed}: {kinds:?}");
                    }
                }
                met.extend(kinds);
            }
            assert_eq!(met.len(), Kind::ALL.len(), "seed {seed}: {met:?}");
        }
        assert!(!compatible(Kind::Api500, Kind::ApiDrop));
        assert!(!compatible(Kind::Registry503, Kind::RegistrySlow));
        assert!(compatible(Kind::ApiLatency, Kind::Api429));
        assert!(compatible(Kind::GitRestart, Kind::Registry503));
    }
}
