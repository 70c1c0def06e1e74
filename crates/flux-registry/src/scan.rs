//! The scanner: for every image repository in use, list its tags and fetch
//! metadata only where it is missing and a policy needs it.
//!
//! What Flux v1 did differently, and why this asks registries for less:
//! - It fetched every tag of every image. Here a tag's manifest and config
//!   are fetched only if a policy orders by creation time and the tag
//!   matches it (glob and regex filters); semver filters order by version
//!   and need nothing. The rest is filled in the background, a bounded
//!   number per host per round, so `list-images` shows "unknown" until then.
//! - A re-scan with nothing new asks only for tag lists; known tags are
//!   re-checked on a schedule (see [`crate::cache`]) with one HEAD request.
//! - Repositories never scanned go first, then those whose tags changed most
//!   recently. Each registry host is scanned on its own, so one that is
//!   down or rate-limiting does not hold up the others, and a host that
//!   fails stops being asked for the rest of the round.
//!
//! How fluxd wires it (flags into [`ScanOptions`], pull secrets into each
//! target's [`Keyring`], tag filters into its patterns):
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use flux_core::policy::TagPattern;
//! use flux_core::registry::{Credentials, RegistryView};
//! use flux_registry::cache::ImageCache;
//! use flux_registry::{Keyring, Metrics, ScanOptions, ScanTarget, Scanner, provider};
//!
//! let metrics = Arc::new(Metrics::default());
//! let (cache, _loaded) = ImageCache::open("/var/lib/fluxd/registry.cache".as_ref());
//! let cache = Arc::new(cache.with_metrics(metrics.clone()));
//! let docker_config = Keyring::new(); // from --docker-config
//! let scanner = Scanner::new(
//!     ScanOptions::default(),
//!     cache.clone(),
//!     docker_config,
//!     provider::platform_defaults(),
//!     metrics,
//! )?;
//! let secret = br#"{"auths":{"registry.example.com":{"auth":"dTpw"}}}"#;
//! let pull_secrets = Keyring::from_credentials(
//!     &Credentials::from_dockerconfigjson(secret)?,
//!     "secret apps/regcred",
//! );
//! let target = ScanTarget::new("registry.example.com/team/app".parse()?)
//!     .keyring(pull_secrets)
//!     .pattern(TagPattern::parse("glob:1.*")?);
//! let report = scanner.scan(&[target]).await;
//! println!("{} requests, changed: {:?}", report.requests, report.changed);
//! // Automation and release read the cache through flux-core's view.
//! let tags = cache.tags(&"registry.example.com/team/app".parse()?);
//! # let _ = tags; Ok(()) }
//! ```

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use flux_core::image::ImageName;
use flux_core::policy::TagPattern;
use futures_util::StreamExt as _;
use globset::GlobSet;

use crate::cache::{self, CachedImage, GlobError, ImageCache};
use crate::client::{ClientError, ClientOptions, Fetched, RegistryClient};
use crate::credentials::{Candidate, Keyring};
use crate::metrics::{Metrics, ScanResult};
use crate::provider::CredentialProvider;

/// One repository to scan, with what the workloads using it bring.
#[derive(Debug, Clone)]
pub struct ScanTarget {
    /// The repository.
    pub image: ImageName,
    /// Credentials from the pull secrets of the workloads (and their
    /// service accounts) that use it, tried before `--docker-config`.
    pub keyring: Keyring,
    /// Tag filters of automated workloads using it. A tag needs metadata
    /// if a pattern that orders by creation time allows it.
    pub patterns: Vec<TagPattern>,
}

impl ScanTarget {
    /// A target with no credentials of its own and no policy.
    pub fn new(image: ImageName) -> Self {
        Self {
            image,
            keyring: Keyring::new(),
            patterns: Vec::new(),
        }
    }

    /// With a tag filter.
    pub fn pattern(mut self, pattern: TagPattern) -> Self {
        self.patterns.push(pattern);
        self
    }

    /// With credentials.
    pub fn keyring(mut self, keyring: Keyring) -> Self {
        self.keyring = keyring;
        self
    }

    fn needs(&self, tag: &str) -> bool {
        self.patterns
            .iter()
            .any(|p| p.requires_timestamp() && p.allows(tag))
    }
}

/// Scanner settings (fluxd's `--registry-*` flags).
#[derive(Debug, Clone)]
pub struct ScanOptions {
    /// How to talk to registries.
    pub client: ClientOptions,
    /// Repositories not to scan (`--registry-exclude-image`, globs over the
    /// canonical name; `*` also matches `/`).
    pub exclude_images: Vec<String>,
    /// If not empty, scan only these (`--registry-include-image`).
    pub include_images: Vec<String>,
    /// Scan nothing (`--registry-disable-scanning`).
    pub disabled: bool,
    /// Tags no policy needs, fetched per host per round for `list-images`.
    pub background_per_round: usize,
}

impl Default for ScanOptions {
    fn default() -> Self {
        Self {
            client: ClientOptions::default(),
            exclude_images: vec!["k8s.gcr.io/*".into()],
            include_images: Vec::new(),
            disabled: false,
            background_per_round: 100,
        }
    }
}

/// What one round did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanReport {
    /// Repositories scanned without error.
    pub scanned: Vec<ImageName>,
    /// Repositories that failed, with the error.
    pub failed: Vec<(ImageName, String)>,
    /// Repositories not tried because their host was failing or backing off.
    pub skipped: Vec<ImageName>,
    /// Repositories left out by the include/exclude globs.
    pub excluded: Vec<ImageName>,
    /// Repositories with new tags or new metadata (worth an automation run).
    pub changed: Vec<ImageName>,
    /// Tags whose metadata was fetched because a policy needs it.
    pub fetched: usize,
    /// Known tags re-checked for a moved digest.
    pub refreshed: usize,
    /// Tags fetched in the background.
    pub background: usize,
    /// Requests sent this round.
    pub requests: u64,
    /// Why the cache could not be written, if it could not.
    pub persist_error: Option<String>,
}

/// The scanner could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ScanSetupError {
    /// An include or exclude glob is invalid.
    #[error(transparent)]
    Glob(#[from] GlobError),
    /// The HTTP client could not be built.
    #[error(transparent)]
    Client(#[from] ClientError),
}

/// Scans registries into an [`ImageCache`].
#[derive(Debug)]
pub struct Scanner {
    client: RegistryClient,
    cache: Arc<ImageCache>,
    defaults: Keyring,
    providers: Vec<Arc<dyn CredentialProvider>>,
    exclude: GlobSet,
    include: Option<GlobSet>,
    options: ScanOptions,
}

#[derive(Debug, Clone)]
enum Job {
    New,
    Refresh(CachedImage),
}

#[derive(Debug)]
struct Planned {
    target: ScanTarget,
    creds: Vec<Candidate>,
    jobs: Vec<(String, Job)>,
    background: Vec<String>,
    added: bool,
}

impl Scanner {
    /// A scanner writing into `cache`, with `docker_config` (from
    /// `--docker-config`) tried after each target's own credentials, and
    /// platform providers after that.
    pub fn new(
        options: ScanOptions,
        cache: Arc<ImageCache>,
        docker_config: Keyring,
        providers: Vec<Arc<dyn CredentialProvider>>,
        metrics: Arc<Metrics>,
    ) -> Result<Self, ScanSetupError> {
        let exclude = cache::glob_set(&options.exclude_images)?;
        let include = if options.include_images.is_empty() {
            None
        } else {
            Some(cache::glob_set(&options.include_images)?)
        };
        Ok(Self {
            client: RegistryClient::new(options.client.clone(), metrics)?,
            cache,
            defaults: docker_config,
            providers,
            exclude,
            include,
            options,
        })
    }

    /// The client (its limiter and metrics).
    pub fn client(&self) -> &RegistryClient {
        &self.client
    }

    /// The cache written to.
    pub fn cache(&self) -> &Arc<ImageCache> {
        &self.cache
    }

    /// One round over `targets`; persists the cache at the end.
    pub async fn scan(&self, targets: &[ScanTarget]) -> ScanReport {
        let mut report = ScanReport::default();
        if self.options.disabled {
            return report;
        }
        let before = self.client.metrics().requests_total();
        // One target per repository: credentials and patterns merged.
        let mut merged: BTreeMap<ImageName, ScanTarget> = BTreeMap::new();
        for t in targets {
            let name = t.image.to_string();
            let included = self.include.as_ref().is_none_or(|g| g.is_match(&name));
            if !included || self.exclude.is_match(&name) {
                if !report.excluded.contains(&t.image) {
                    report.excluded.push(t.image.clone());
                }
                continue;
            }
            match merged.get_mut(&t.image) {
                Some(m) => {
                    m.keyring.extend(&t.keyring);
                    m.patterns.extend(t.patterns.iter().cloned());
                }
                None => {
                    merged.insert(t.image.clone(), t.clone());
                }
            }
        }
        let mut by_host: BTreeMap<String, Vec<ScanTarget>> = BTreeMap::new();
        for t in merged.into_values() {
            by_host
                .entry(t.image.registry_host().to_owned())
                .or_default()
                .push(t);
        }
        let rounds = by_host
            .into_iter()
            .map(|(host, targets)| self.scan_host(host, targets));
        for r in futures_util::future::join_all(rounds).await {
            report.scanned.extend(r.scanned);
            report.failed.extend(r.failed);
            report.skipped.extend(r.skipped);
            report.changed.extend(r.changed);
            report.fetched += r.fetched;
            report.refreshed += r.refreshed;
            report.background += r.background;
        }
        let cache = self.cache.clone();
        match tokio::task::spawn_blocking(move || cache.persist()).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "registry cache not saved");
                report.persist_error = Some(e.to_string());
            }
            Err(e) => report.persist_error = Some(e.to_string()),
        }
        report.requests = self.client.metrics().requests_total() - before;
        report
    }

    /// Scans every `interval` until `shutdown` resolves, calling `on_report`
    /// after each round.
    pub async fn run(
        &self,
        targets: impl Fn() -> Vec<ScanTarget>,
        interval: Duration,
        mut on_report: impl FnMut(&ScanReport),
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        loop {
            let list = targets();
            let report = tokio::select! {
                r = self.scan(&list) => r,
                () = &mut shutdown => break,
            };
            on_report(&report);
            tokio::select! {
                () = tokio::time::sleep(interval) => {}
                () = &mut shutdown => break,
            }
        }
    }

    async fn credentials(&self, target: &ScanTarget) -> Vec<Candidate> {
        let mut out = target.keyring.lookup(&target.image);
        out.extend(self.defaults.lookup(&target.image));
        let host = target.image.domain();
        for p in self.providers.iter().filter(|p| p.handles(host)) {
            if let Some(auth) = p.credentials(host).await {
                out.push(Candidate {
                    auth,
                    source: p.name().into(),
                    key: host.into(),
                });
            }
        }
        let mut seen = Vec::new();
        out.retain(|c| {
            let new = !seen.contains(&c.auth);
            if new {
                seen.push(c.auth.clone());
            }
            new
        });
        out
    }

    async fn scan_host(&self, host: String, mut targets: Vec<ScanTarget>) -> ScanReport {
        let mut report = ScanReport::default();
        let limiter = self.client.limiter();
        if let Some(wait) = limiter.status(&host).blocked_for
            && wait > limiter.options().max_wait
        {
            tracing::info!(
                host,
                wait_secs = wait.as_secs(),
                "registry backing off: skipping this round"
            );
            for t in targets {
                self.client.metrics().scan(&host, ScanResult::Skipped);
                report.skipped.push(t.image);
            }
            return report;
        }
        // Never scanned first, then most recently changed, then by name.
        targets.sort_by_cached_key(|t| {
            self.cache.with_repo(&t.image, |r| {
                let changed = r.and_then(|r| r.changed);
                (
                    r.and_then(|r| r.listed).is_some(),
                    std::cmp::Reverse(changed),
                )
            })
        });
        let concurrency = self.options.client.rate.burst.max(1) as usize;
        let down = AtomicBool::new(false);
        let errors: std::sync::Mutex<HashMap<ImageName, String>> = Default::default();
        let fail = |name: &ImageName, e: &ClientError| {
            if e.is_host_failure() {
                down.store(true, Ordering::Release);
            }
            let mut errs = errors.lock().unwrap_or_else(|p| p.into_inner());
            errs.entry(name.clone()).or_insert_with(|| e.to_string());
        };

        // Phase 1: tag lists, and what each repository needs.
        let mut planned: Vec<Option<Planned>> = futures_util::stream::iter(targets.iter().cloned())
            .map(|target| async {
                if down.load(Ordering::Acquire) {
                    return None;
                }
                let creds = self.credentials(&target).await;
                match self.client.tags(&target.image, &creds).await {
                    Ok(tags) => Some(self.plan(target, creds, tags)),
                    Err(e) => {
                        fail(&target.image, &e);
                        None
                    }
                }
            })
            .buffered(concurrency)
            .collect()
            .await;
        let mut changed: Vec<ImageName> = planned
            .iter()
            .flatten()
            .filter(|p| p.added)
            .map(|p| p.target.image.clone())
            .collect();

        // Phase 2: metadata policies need, in priority order.
        // Owned work items: a stream over borrowing closures would make this
        // future's type higher-ranked, and then it could not be spawned.
        let mut jobs: Vec<(ImageName, Arc<Vec<Candidate>>, String, Job)> = Vec::new();
        for p in planned.iter().flatten() {
            let creds = Arc::new(p.creds.clone());
            for (tag, job) in &p.jobs {
                jobs.push((
                    p.target.image.clone(),
                    creds.clone(),
                    tag.clone(),
                    job.clone(),
                ));
            }
        }
        let results: Vec<Option<(ImageName, bool, bool)>> = futures_util::stream::iter(jobs)
            .map(|(name, creds, tag, job)| {
                let (down, fail) = (&down, &fail);
                async move {
                let (name, creds) = (&name, &*creds);
                if down.load(Ordering::Acquire) {
                    return None;
                }
                let refresh = matches!(job, Job::Refresh(_));
                match self.fetch(name, creds, &tag, job).await {
                    Ok(moved) => Some((name.clone(), refresh, moved)),
                    Err(e) if e.is_not_found() => {
                        tracing::warn!(image = %name, tag, "manifest missing from the registry: skipped");
                        None
                    }
                    Err(e) => {
                        fail(name, &e);
                        None
                    }
                }
                }
            })
            .buffer_unordered(concurrency)
            .collect()
            .await;
        for (name, refresh, moved) in results.into_iter().flatten() {
            if refresh {
                report.refreshed += 1;
            } else {
                report.fetched += 1;
            }
            if moved && !changed.contains(&name) {
                changed.push(name);
            }
        }

        // Phase 3: the rest, in the background, within the round's budget.
        let background = planned.iter_mut().flatten().flat_map(|p| {
            std::mem::take(&mut p.background)
                .into_iter()
                .map(|tag| (p.target.image.clone(), p.creds.clone(), tag))
        });
        let background: Vec<_> = background.take(self.options.background_per_round).collect();
        let filled: usize = futures_util::stream::iter(background)
            .map(|(name, creds, tag)| {
                let down = &down;
                async move {
                    if down.load(Ordering::Acquire) {
                        return 0;
                    }
                    match self.fetch(&name, &creds, &tag, Job::New).await {
                        Ok(_) => 1,
                        Err(e) => {
                            if e.is_host_failure() {
                                down.store(true, Ordering::Release);
                            }
                            0
                        }
                    }
                }
            })
            .buffer_unordered(concurrency)
            .collect::<Vec<usize>>()
            .await
            .into_iter()
            .sum();
        report.background = filled;

        let errors = errors.into_inner().unwrap_or_else(|p| p.into_inner());
        let listed: Vec<ImageName> = planned
            .iter()
            .flatten()
            .map(|p| p.target.image.clone())
            .collect();
        for t in targets {
            let name = t.image;
            if let Some(e) = errors.get(&name) {
                tracing::warn!(image = %name, error = %e, "registry scan failed");
                self.cache.record_error(&name, e.clone());
                self.client.metrics().scan(&host, ScanResult::Error);
                report.failed.push((name, e.clone()));
            } else if listed.contains(&name) {
                self.client.metrics().scan(&host, ScanResult::Ok);
                report.scanned.push(name);
            } else {
                self.client.metrics().scan(&host, ScanResult::Skipped);
                report.skipped.push(name);
            }
        }
        if errors.is_empty() && !down.load(Ordering::Acquire) {
            limiter.recover(&host);
        }
        report.changed = changed;
        report
    }

    /// Records the listing and works out which tags to fetch.
    fn plan(&self, target: ScanTarget, creds: Vec<Candidate>, tags: Vec<String>) -> Planned {
        let now = Utc::now();
        let change = self.cache.record_tags(&target.image, tags.clone(), now);
        let (jobs, background) = self.cache.with_repo(&target.image, |entry| {
            let mut jobs = Vec::new();
            let mut background = Vec::new();
            for tag in tags {
                let known = entry.and_then(|e| e.images.get(&tag));
                match (target.needs(&tag), known) {
                    (true, None) => jobs.push((tag, Job::New)),
                    (true, Some(img)) if img.refresh_due(now) => {
                        jobs.push((tag, Job::Refresh(img.clone())));
                    }
                    (false, None) => background.push(tag),
                    _ => {}
                }
            }
            (jobs, background)
        });
        Planned {
            target,
            creds,
            jobs,
            background,
            added: !change.added.is_empty(),
        }
    }

    /// Fetches or re-checks one tag; returns whether anything changed.
    async fn fetch(
        &self,
        name: &ImageName,
        creds: &[Candidate],
        tag: &str,
        job: Job,
    ) -> Result<bool, ClientError> {
        let now = Utc::now();
        let (fresh, refresh) = match job {
            Job::New => (
                self.client.image(name, tag, creds).await?,
                cache::INITIAL_REFRESH,
            ),
            Job::Refresh(prev) => {
                let digest = self.client.digest(name, tag, creds).await?;
                if prev.digest.as_deref() == Some(digest.as_str()) {
                    let next = if prev.excluded.is_some() {
                        cache::EXCLUDED_REFRESH
                    } else {
                        clip(Duration::from_secs(prev.refresh_secs.saturating_mul(2)))
                    };
                    self.cache.record_image(
                        name,
                        tag,
                        CachedImage {
                            fetched: now,
                            refresh_secs: next.as_secs(),
                            ..prev
                        },
                    );
                    return Ok(false);
                }
                tracing::info!(image = %name, tag, "tag moved to {digest}");
                let half = clip(Duration::from_secs(prev.refresh_secs / 2));
                (self.client.image(name, tag, creds).await?, half)
            }
        };
        self.cache
            .record_image(name, tag, cached(fresh, refresh, now));
        Ok(true)
    }
}

fn clip(d: Duration) -> Duration {
    d.clamp(cache::MIN_REFRESH, cache::MAX_REFRESH)
}

fn cached(fetched: Fetched, refresh: Duration, now: DateTime<Utc>) -> CachedImage {
    match fetched {
        Fetched::Image(info) => CachedImage::new(info, now, refresh.as_secs()),
        Fetched::Excluded { digest, reason } => {
            CachedImage::excluded(digest, reason, now, cache::EXCLUDED_REFRESH.as_secs())
        }
    }
}
