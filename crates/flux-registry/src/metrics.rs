//! Counters for registry traffic and scan progress, ready to be registered
//! with fluxd's Prometheus registry (`flux_registry_*`), and readable
//! directly by tests and benchmarks.

use std::collections::BTreeMap;
use std::sync::Mutex;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// What a request asked for.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, PartialOrd, Ord, EncodeLabelValue)]
pub enum RequestKind {
    /// A page of a tag list.
    Tags,
    /// A manifest (GET).
    Manifest,
    /// A manifest digest only (HEAD).
    Head,
    /// A config blob.
    Blob,
    /// A bearer token from the registry's auth realm.
    Token,
    /// A platform credential provider (GCP metadata, ECR, …).
    Platform,
}

/// Labels of `flux_registry_requests_total`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// Registry host.
    pub host: String,
    /// What was asked.
    pub kind: RequestKind,
    /// HTTP status, or `error` when no answer came.
    pub code: String,
}

/// Outcome of one repository in one scan.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
pub enum ScanResult {
    /// Tags listed and every needed image fetched.
    Ok,
    /// The repository could not be scanned (the error is kept in the cache).
    Error,
    /// Not tried: the host was backing off.
    Skipped,
}

/// Labels of `flux_registry_scans_total`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ScanLabels {
    /// Registry host.
    pub host: String,
    /// Outcome.
    pub result: ScanResult,
}

/// Labels keyed by host only.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HostLabels {
    /// Registry host.
    pub host: String,
}

/// All counters of this crate.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Family<RequestLabels, Counter>,
    scans: Family<ScanLabels, Counter>,
    images_fetched: Family<HostLabels, Counter>,
    backoffs: Family<HostLabels, Counter>,
    cached_tags: Gauge,
    tally: Mutex<BTreeMap<(String, RequestKind), u64>>,
}

impl Metrics {
    /// Registers every counter under `registry` (prefix it with `flux_registry`).
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "requests",
            "Requests sent to registries, by host, kind and HTTP status",
            self.requests.clone(),
        );
        registry.register(
            "scans",
            "Repository scans, by host and outcome",
            self.scans.clone(),
        );
        registry.register(
            "images_fetched",
            "Image metadata fetched (manifest and config), by host",
            self.images_fetched.clone(),
        );
        registry.register(
            "backoffs",
            "Times a host answered 429 or 5xx or could not be reached",
            self.backoffs.clone(),
        );
        registry.register(
            "cached_tags",
            "Tags held in the image cache",
            self.cached_tags.clone(),
        );
    }

    pub(crate) fn request(&self, host: &str, kind: RequestKind, code: Option<u16>) {
        let code = code.map_or_else(|| "error".to_owned(), |c| c.to_string());
        self.requests
            .get_or_create(&RequestLabels {
                host: host.to_owned(),
                kind,
                code,
            })
            .inc();
        let mut tally = self.tally.lock().unwrap_or_else(|p| p.into_inner());
        *tally.entry((host.to_owned(), kind)).or_default() += 1;
    }

    pub(crate) fn scan(&self, host: &str, result: ScanResult) {
        self.scans
            .get_or_create(&ScanLabels {
                host: host.to_owned(),
                result,
            })
            .inc();
    }

    pub(crate) fn image_fetched(&self, host: &str) {
        self.images_fetched
            .get_or_create(&HostLabels {
                host: host.to_owned(),
            })
            .inc();
    }

    pub(crate) fn backoff(&self, host: &str) {
        self.backoffs
            .get_or_create(&HostLabels {
                host: host.to_owned(),
            })
            .inc();
    }

    pub(crate) fn set_cached_tags(&self, n: usize) {
        self.cached_tags.set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// Requests sent so far, by host and kind.
    pub fn request_counts(&self) -> BTreeMap<(String, RequestKind), u64> {
        self.tally.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Requests of `kind` sent so far, to any host.
    pub fn requests_of(&self, kind: RequestKind) -> u64 {
        self.request_counts()
            .iter()
            .filter(|((_, k), _)| *k == kind)
            .map(|(_, n)| n)
            .sum()
    }

    /// Requests sent so far, of any kind, to any host.
    pub fn requests_total(&self) -> u64 {
        self.request_counts().values().sum()
    }

    /// Scans of repositories on `host` with this outcome.
    pub fn scans(&self, host: &str, result: ScanResult) -> u64 {
        self.scans
            .get(&ScanLabels {
                host: host.to_owned(),
                result,
            })
            .map_or(0, |c| c.get())
    }

    /// Backoffs of `host` so far.
    pub fn backoffs(&self, host: &str) -> u64 {
        self.backoffs
            .get(&HostLabels {
                host: host.to_owned(),
            })
            .map_or(0, |c| c.get())
    }

    /// Images fetched from `host` so far.
    pub fn images_fetched(&self, host: &str) -> u64 {
        self.images_fetched
            .get(&HostLabels {
                host: host.to_owned(),
            })
            .map_or(0, |c| c.get())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_exports() {
        let m = Metrics::default();
        m.request("h", RequestKind::Tags, Some(200));
        m.request("h", RequestKind::Tags, None);
        m.request("g", RequestKind::Blob, Some(200));
        m.scan("h", ScanResult::Ok);
        m.backoff("h");
        m.set_cached_tags(3);
        assert_eq!(m.requests_of(RequestKind::Tags), 2);
        assert_eq!(m.requests_total(), 3);
        assert_eq!(m.scans("h", ScanResult::Ok), 1);
        assert_eq!(m.backoffs("h"), 1);
        let mut registry = Registry::with_prefix("flux_registry");
        m.register(&mut registry);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(
            text.contains(r#"flux_registry_requests_total{host="h",kind="Tags",code="error"} 1"#),
            "{text}"
        );
        assert!(text.contains("flux_registry_cached_tags 3"), "{text}");
    }
}
