//! fluxd's Prometheus metrics, under Flux v1's names where Flux v1 had the
//! metric (`flux_daemon_sync_duration_seconds`, `flux_daemon_job_duration_seconds`,
//! `flux_daemon_queue_duration_seconds`, `flux_daemon_queue_length_count`,
//! `flux_daemon_sync_manifests`, `flux_git_ready`,
//! `flux_request_duration_seconds`), so dashboards and alerts carry over;
//! the registry scanner's own (`flux_registry_*`) and a few new ones beside
//! them, each with a `source` label (the repository's name) where it is
//! about one.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// `success="true|false"`, with the source.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Outcome {
    /// The source (repository) name.
    pub source: String,
    /// Whether it succeeded.
    pub success: String,
}

impl Outcome {
    /// Labels for `source` and `ok`.
    pub fn new(source: &str, ok: bool) -> Self {
        Outcome {
            source: source.to_owned(),
            success: ok.to_string(),
        }
    }
}

/// Labels naming only a source.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SourceLabel {
    /// The source (repository) name.
    pub source: String,
}

/// Labels of a job.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct JobLabels {
    /// The source (repository) name.
    pub source: String,
    /// release, containers, policy or sync.
    pub kind: String,
    /// Whether it succeeded.
    pub success: String,
}

/// Labels of an HTTP request (Flux v1's `flux_request_duration_seconds`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// The HTTP method.
    pub method: String,
    /// The route name (Flux v1's names, e.g. `ListServices`).
    pub route: String,
    /// The status code.
    pub status_code: String,
    /// Always `false` (there is no websocket mode).
    pub ws: String,
}

/// Labels of a sync's objects.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ObjectLabels {
    /// The source (repository) name.
    pub source: String,
    /// created, configured, unchanged, failed, deleted, skipped.
    pub action: String,
}

fn buckets(v: &[f64]) -> impl Iterator<Item = f64> + '_ {
    v.iter().copied()
}

const SYNC_BUCKETS: &[f64] = &[
    0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 240.0,
];
const JOB_BUCKETS: &[f64] = &[
    0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 120.0,
];
const HTTP_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Every metric fluxd keeps.
pub struct Metrics {
    /// `flux_daemon_sync_duration_seconds`.
    pub sync_duration: Family<Outcome, Histogram>,
    /// `flux_daemon_job_duration_seconds`.
    pub job_duration: Family<JobLabels, Histogram>,
    /// `flux_daemon_queue_duration_seconds`.
    pub queue_duration: Family<SourceLabel, Histogram>,
    /// `flux_daemon_queue_length_count`.
    pub queue_length: Family<SourceLabel, Gauge>,
    /// `flux_daemon_sync_manifests`: resources in the last sync.
    pub sync_manifests: Family<Outcome, Gauge>,
    /// `flux_daemon_sync_objects_total`: what syncs did to objects.
    pub sync_objects: Family<ObjectLabels, Counter>,
    /// `flux_daemon_drift_corrections_total`: syncs started by a watch.
    pub drift_syncs: Family<SourceLabel, Counter>,
    /// `flux_daemon_last_sync_timestamp_seconds`: when the last clean sync ended.
    pub last_sync: Family<SourceLabel, Gauge<f64, std::sync::atomic::AtomicU64>>,
    /// `flux_daemon_automation_commits_total`.
    pub automation_commits: Family<SourceLabel, Counter>,
    /// `flux_git_ready`: 1 when the repository is fetched and its last
    /// fetch or push worked (set when scraped).
    pub git_ready: Family<SourceLabel, Gauge>,
    /// `flux_request_duration_seconds`.
    pub request_duration: Family<RequestLabels, Histogram>,
    /// `flux_daemon_source_overlaps`: resources of a source that another
    /// source also defines (left alone by both).
    pub overlaps: Family<SourceLabel, Gauge>,
    /// `flux_daemon_source_owned` (with `--ha`): 1 while this replica
    /// holds the source's Lease and may write for it (set when scraped).
    pub source_owned: Family<SourceLabel, Gauge>,
    /// `flux_daemon_source_acquisitions` (with `--ha`): times this replica
    /// took the source's Lease.
    pub source_acquisitions: Family<SourceLabel, Counter>,
    /// `flux_kube_watch_*`: the watch caches (set when scraped).
    pub watch: WatchGauges,
    /// The registry scanner's counters.
    pub registry: Arc<flux_registry::Metrics>,
}

/// Gauges of the watch caches, set from their counters at each scrape.
#[derive(Default)]
pub struct WatchGauges {
    /// Collections watched.
    pub collections: Gauge,
    /// Collections whose cache is complete.
    pub ready: Gauge,
    /// Objects cached.
    pub objects: Gauge,
    /// Lists made by the watchers since start (first lists and re-lists).
    pub lists: Gauge,
    /// Watch errors since start (each restarts a watch).
    pub errors: Gauge,
    /// Watch events applied since start.
    pub events: Gauge,
}

impl WatchGauges {
    /// Sets the gauges from the watches' counters.
    pub fn set(&self, s: &flux_kube::watch::WatchStats) {
        let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        self.collections.set(n(s.collections as u64));
        self.ready.set(n(s.ready as u64));
        self.objects.set(n(s.objects as u64));
        self.lists.set(n(s.lists));
        self.errors.set(n(s.errors));
        self.events.set(n(s.events));
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            sync_duration: Family::new_with_constructor(|| Histogram::new(buckets(SYNC_BUCKETS))),
            job_duration: Family::new_with_constructor(|| Histogram::new(buckets(JOB_BUCKETS))),
            queue_duration: Family::new_with_constructor(|| Histogram::new(buckets(JOB_BUCKETS))),
            queue_length: Family::default(),
            sync_manifests: Family::default(),
            sync_objects: Family::default(),
            drift_syncs: Family::default(),
            last_sync: Family::default(),
            automation_commits: Family::default(),
            git_ready: Family::default(),
            overlaps: Family::default(),
            source_owned: Family::default(),
            source_acquisitions: Family::default(),
            request_duration: Family::new_with_constructor(|| {
                Histogram::new(buckets(HTTP_BUCKETS))
            }),
            watch: WatchGauges::default(),
            registry: Arc::new(flux_registry::Metrics::default()),
        }
    }
}

impl Metrics {
    /// A registry holding every metric, ready to encode.
    pub fn registry(&self) -> Registry {
        let mut root = Registry::default();
        {
            let flux = root.sub_registry_with_prefix("flux");
            flux.register(
                "request_duration_seconds",
                "Time (in seconds) spent serving HTTP requests.",
                self.request_duration.clone(),
            );
            let daemon = flux.sub_registry_with_prefix("daemon");
            daemon.register(
                "sync_duration_seconds",
                "Duration of git-to-cluster synchronisation, in seconds.",
                self.sync_duration.clone(),
            );
            daemon.register(
                "job_duration_seconds",
                "Duration of job execution, in seconds.",
                self.job_duration.clone(),
            );
            daemon.register(
                "queue_duration_seconds",
                "Duration of time spent in the job queue before execution, in seconds.",
                self.queue_duration.clone(),
            );
            daemon.register(
                "queue_length_count",
                "Count of jobs waiting in the queue to be run.",
                self.queue_length.clone(),
            );
            daemon.register(
                "sync_manifests",
                "Number of synchronized manifests",
                self.sync_manifests.clone(),
            );
            daemon.register(
                "sync_objects",
                "Objects handled by syncs, by what was done to them.",
                self.sync_objects.clone(),
            );
            daemon.register(
                "drift_syncs",
                "Syncs started because a watched object was changed or deleted by hand.",
                self.drift_syncs.clone(),
            );
            daemon.register(
                "last_sync_timestamp_seconds",
                "When the last clean sync finished (Unix time).",
                self.last_sync.clone(),
            );
            daemon.register(
                "source_overlaps",
                "Resources of the source that another source also defines (applied by neither).",
                self.overlaps.clone(),
            );
            daemon.register(
                "source_owned",
                "1 while this replica holds the source's Lease and may write for it (--ha).",
                self.source_owned.clone(),
            );
            daemon.register(
                "source_acquisitions",
                "Times this replica took the source's Lease (--ha).",
                self.source_acquisitions.clone(),
            );
            daemon.register(
                "automation_commits",
                "Commits made by automation.",
                self.automation_commits.clone(),
            );
            let git = flux.sub_registry_with_prefix("git");
            git.register(
                "ready",
                "Status of the git repository.",
                self.git_ready.clone(),
            );
            let watch = flux.sub_registry_with_prefix("kube_watch");
            for (name, help, g) in [
                (
                    "collections",
                    "Collections watched.",
                    &self.watch.collections,
                ),
                (
                    "ready_collections",
                    "Collections whose cache is complete.",
                    &self.watch.ready,
                ),
                (
                    "objects",
                    "Objects in the watch caches.",
                    &self.watch.objects,
                ),
                (
                    "lists",
                    "Lists made by the watchers since start.",
                    &self.watch.lists,
                ),
                ("errors", "Watch errors since start.", &self.watch.errors),
                (
                    "events",
                    "Watch events applied since start.",
                    &self.watch.events,
                ),
            ] {
                watch.register(name, help, g.clone());
            }
            self.registry
                .register(flux.sub_registry_with_prefix("registry"));
        }
        root
    }

    /// The metrics in Prometheus' text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Encoding into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flux_v1_names_are_kept() {
        let m = Metrics::default();
        m.sync_duration
            .get_or_create(&Outcome::new("default", true))
            .observe(1.5);
        m.queue_length
            .get_or_create(&SourceLabel {
                source: "default".into(),
            })
            .set(2);
        m.git_ready
            .get_or_create(&SourceLabel {
                source: "default".into(),
            })
            .set(1);
        let text = m.encode();
        for name in [
            "flux_daemon_sync_duration_seconds_bucket",
            "flux_daemon_queue_length_count{source=\"default\"} 2",
            "flux_git_ready{source=\"default\"} 1",
        ] {
            assert!(text.contains(name), "{name} missing from:\n{text}");
        }
    }
}
