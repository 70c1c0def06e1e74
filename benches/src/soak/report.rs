//! What a soak prints: the seed, the counts (syncs, commits applied,
//! automation commits, hand edits, faults met, recoveries, RSS) and each
//! check's verdict.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use super::check::Verdict;
use super::faults::{self, Episode};
use super::hand::HandCounts;
use super::model::CommitCounts;
use super::monitor::Seen;
use super::tags::TagCounts;

/// Everything a soak measured and concluded.
#[derive(Debug)]
pub struct Report {
    /// The seed.
    pub seed: u64,
    /// The asked load time.
    pub duration: Duration,
    /// The load time it ran (shorter if fluxd exited).
    pub load_time: Duration,
    /// When fluxd was ready, from the soak's start.
    pub ready_at: Duration,
    /// How long the end took to settle.
    pub drain_time: Duration,
    /// master's final head.
    pub head: String,
    /// The soak's commits.
    pub commits: CommitCounts,
    /// The tags pushed.
    pub tags: TagCounts,
    /// The hand edits.
    pub hand: HandCounts,
    /// Automation commits on master.
    pub released: usize,
    /// Fault episodes.
    pub episodes: Vec<Episode>,
    /// What the monitor saw.
    pub seen: Seen,
    /// The RSS baseline's second.
    pub rss_baseline_at: f64,
    /// RSS at the baseline (KiB).
    pub rss_base: Option<u64>,
    /// RSS at the end (KiB).
    pub rss_end: Option<u64>,
    /// The checks.
    pub verdicts: Vec<Verdict>,
    /// Where fluxd's log was kept, if asked.
    pub fluxd_log: Option<PathBuf>,
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

/// `n` samples spread evenly over the series, as `T s: X MiB`.
fn rss_series(samples: &[(f64, u64)], n: usize) -> String {
    if samples.is_empty() {
        return "-".to_owned();
    }
    let picks: Vec<String> = (0..=n)
        .map(|i| &samples[(samples.len() - 1) * i / n])
        .map(|(t, k)| format!("{t:.0} s {:.1}", *k as f64 / 1024.0))
        .collect();
    format!("{} (MiB)", picks.join(", "))
}

impl Report {
    /// Whether every check held.
    pub fn passed(&self) -> bool {
        self.verdicts.iter().all(Verdict::held)
    }

    /// The report as text.
    pub fn render(&self) -> String {
        let mut o = String::new();
        let s = &self.seen;
        let _ = writeln!(
            o,
            "soak: {} of load (asked {}), seed {}; fluxd ready after {}, drain {}",
            secs(self.load_time),
            secs(self.duration),
            self.seed,
            secs(self.ready_at),
            secs(self.drain_time)
        );
        let _ = writeln!(
            o,
            "syncs: {} ({} clean, {} failed or with errors); {} started by drift correction",
            s.scrape.syncs_clean + s.scrape.syncs_failed,
            s.scrape.syncs_clean,
            s.scrape.syncs_failed,
            s.scrape.drift_syncs
        );
        let c = &self.commits;
        let _ = writeln!(
            o,
            "commits applied: {} by the soak ({} files added, {} changed, {} deleted; {} pushes rebased over fluxd's), final head {}",
            c.pushed.len(),
            c.added,
            c.changed,
            c.deleted,
            c.rebases,
            self.head.get(..8).unwrap_or(&self.head)
        );
        let pushed: usize = self
            .tags
            .apps
            .iter()
            .map(|a| a.pushed.len().saturating_sub(1))
            .sum();
        let _ = writeln!(
            o,
            "automation: {} tags pushed over {} workloads ({} announced to fluxd), {} automation commits on master",
            pushed,
            self.tags.apps.len(),
            self.tags.notified,
            self.released
        );
        let h = &self.hand;
        let _ = writeln!(
            o,
            "hand edits (kubectl): {} objects made by hand, {} edits of them, {} drift edits and {} deletions of objects fluxd manages; {} kubectl runs, {} failed",
            h.made.len(),
            h.own_edits,
            h.drift_edits,
            h.deletions,
            h.runs,
            h.failed.len()
        );
        let _ = writeln!(
            o,
            "API requests by fluxd: {}; DELETEs: {}; watch errors: {}; registry scans: {} ok, {} failed or skipped",
            s.api_requests,
            s.deletes.len(),
            s.scrape.watch_errors,
            s.scrape.scans_ok,
            s.scrape.scans_failed
        );
        let met = faults::met(&self.episodes, s);
        let _ = writeln!(o, "faults: {} episodes", self.episodes.len());
        for (kind, (n, m)) in &met {
            let unit = match kind {
                faults::Kind::GitRestart => "outages seen by fluxd (flux_git_ready 0)",
                faults::Kind::Registry503 | faults::Kind::RegistrySlow => {
                    "registry requests met it"
                }
                _ => "API requests met it",
            };
            let _ = writeln!(o, "  {:<24} {n:>3} times; {m} {unit}", kind.name());
        }
        let missing: Vec<&str> = faults::Kind::ALL
            .iter()
            .filter(|k| !met.contains_key(k))
            .map(|k| k.name())
            .collect();
        if !missing.is_empty() {
            let _ = writeln!(o, "  not injected in this run: {}", missing.join(", "));
        }
        for e in &self.episodes {
            let what: Vec<String> = e
                .faults
                .iter()
                .map(|(k, detail)| format!("{} ({detail})", k.name()))
                .collect();
            let _ = writeln!(
                o,
                "    at {:>5.0} s for {}: {}; recovered {}",
                e.at,
                secs(e.lasted),
                what.join(" + "),
                e.recovered_after
                    .map_or("never".to_owned(), |d| format!("after {}", secs(d)))
            );
        }
        let mut times: Vec<Duration> = self
            .episodes
            .iter()
            .filter_map(|e| e.recovered_after)
            .collect();
        times.sort();
        let _ = writeln!(
            o,
            "recoveries: {} of {} episodes; time to recover median {}, max {}",
            times.len(),
            self.episodes.len(),
            times
                .get(times.len() / 2)
                .map_or("-".to_owned(), |d| secs(*d)),
            times.last().map_or("-".to_owned(), |d| secs(*d)),
        );
        let peak = s.rss.iter().map(|(_, k)| *k).max();
        let _ = writeln!(
            o,
            "RSS of fluxd: {} at {:.0} s, {} at the end ({}), peak {} ({} samples)",
            self.rss_base.map_or("-".to_owned(), mib),
            self.rss_baseline_at,
            self.rss_end.map_or("-".to_owned(), mib),
            match (self.rss_base, self.rss_end) {
                (Some(b), Some(e)) => format!("{:+.1} %", (e as f64 / b as f64 - 1.0) * 100.0),
                _ => "-".to_owned(),
            },
            peak.map_or("-".to_owned(), mib),
            s.rss.len()
        );
        let _ = writeln!(o, "  RSS over time: {}", rss_series(&s.rss, 10));
        for v in &self.verdicts {
            let mark = if v.held() { "held  " } else { "FAILED" };
            let _ = writeln!(o, "  {mark} {}", v.name);
            for p in v.problems.iter().take(20) {
                let _ = writeln!(o, "         {p}");
            }
            if v.problems.len() > 20 {
                let _ = writeln!(o, "         … and {} more", v.problems.len() - 20);
            }
        }
        if let Some(path) = &self.fluxd_log {
            let _ = writeln!(o, "fluxd's log: {}", path.display());
        }
        let held = self.verdicts.iter().filter(|v| v.held()).count();
        let _ = writeln!(
            o,
            "soak {}: {held} of {} checks held (seed {})",
            if self.passed() { "passed" } else { "FAILED" },
            self.verdicts.len(),
            self.seed
        );
        o
    }
}
