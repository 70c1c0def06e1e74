//! Helper binary for `benches/compare/registry.sh`.
//!
//! - `registry-bench populate ADDR REPOS TAGS`: push REPOS repositories
//!   (`bench/rN`) of TAGS tags each (small OCI images, distinct creation
//!   times) to the registry at ADDR over plain HTTP.
//! - `registry-bench scan ADDR REPOS CACHE [RPS]`: scan them with the flux-registry
//!   scanner (every tag needed, as `glob:*` automation does) from an empty
//!   cache, then again, then again after reopening the cache file as a
//!   restart would; prints `first_ms first_requests rescan_ms
//!   rescan_requests restart_ms restart_requests`.
//! - `registry-bench memory TAGS`: fill an image cache with TAGS tags (50 per
//!   repository, digest, creation time and two labels each) and print the
//!   resident memory it added (kB), the cache file size (bytes) and the
//!   load time of that file (ms).

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use flux_benches::registry::created;
use flux_core::image::ImageName;
use flux_core::policy::TagPattern;
use flux_registry::cache::ImageCache;
use flux_registry::{Keyring, Metrics, ScanOptions, ScanTarget, Scanner};
use flux_testbed::registry::{Format, Pusher, TestImage};
use futures_util::StreamExt as _;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let rt = tokio::runtime::Runtime::new()?;
    match args.as_slice() {
        ["populate", addr, repos, tags] => {
            rt.block_on(populate(addr, repos.parse()?, tags.parse()?))
        }
        ["scan", addr, repos, cache, rest @ ..] => {
            let rps = rest.first().map_or(Ok(10_000.0), |r| r.parse())?;
            rt.block_on(scan(addr, repos.parse()?, cache, rps))
        }
        ["memory", tags] => memory(tags.parse()?),
        _ => bail!(
            "usage: registry-bench populate ADDR REPOS TAGS | scan ADDR REPOS CACHE [RPS] | memory TAGS"
        ),
    }
}

async fn populate(addr: &str, repos: usize, tags: usize) -> anyhow::Result<()> {
    let push = Pusher::new(addr);
    // Repositories in parallel, tags of one repository in turn (concurrent
    // uploads of the same layer blob race in the registry).
    let results: Vec<anyhow::Result<()>> = futures_util::stream::iter(0..repos)
        .map(|r| {
            let push = push.clone();
            async move {
                for t in 0..tags {
                    let image = TestImage::created(&created(r * 1000 + t).to_rfc3339())
                        .label("org.opencontainers.image.revision", &format!("{r}-{t}"));
                    push.push_image(
                        &format!("bench/r{r}"),
                        &format!("1.{t}.0"),
                        &image,
                        Format::Oci,
                    )
                    .await
                    .with_context(|| format!("bench/r{r}:1.{t}.0"))?;
                }
                Ok(())
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    results.into_iter().collect::<anyhow::Result<Vec<()>>>()?;
    Ok(())
}

fn scanner(addr: &str, cache: Arc<ImageCache>, rps: f64) -> anyhow::Result<Scanner> {
    let mut options = ScanOptions::default();
    options.client.insecure_hosts = vec![addr.to_owned()];
    options.client.rate.rps = rps;
    options.background_per_round = 0;
    Ok(Scanner::new(
        options,
        cache,
        Keyring::new(),
        Vec::new(),
        Arc::new(Metrics::default()),
    )?)
}

async fn scan(addr: &str, repos: usize, cache_path: &str, rps: f64) -> anyhow::Result<()> {
    flux_registry::install_crypto_provider();
    let _ = std::fs::remove_file(cache_path);
    let targets: Vec<ScanTarget> = (0..repos)
        .map(|r| {
            let name = ImageName::parse(&format!("{addr}/bench/r{r}"))?;
            Ok(ScanTarget::new(name).pattern(TagPattern::all()))
        })
        .collect::<anyhow::Result<_>>()?;
    let cache = Arc::new(ImageCache::open(cache_path.as_ref()).0);
    let s = scanner(addr, cache, rps)?;
    let mut out = Vec::new();
    for _ in 0..2 {
        let t = Instant::now();
        let report = s.scan(&targets).await;
        if !report.failed.is_empty() {
            bail!("scan failed: {:?}", report.failed.first());
        }
        out.push((t.elapsed().as_secs_f64() * 1000.0, report.requests));
    }
    drop(s);
    let t = Instant::now();
    let cache = Arc::new(ImageCache::open(cache_path.as_ref()).0);
    let s = scanner(addr, cache, rps)?;
    let report = s.scan(&targets).await;
    out.push((t.elapsed().as_secs_f64() * 1000.0, report.requests));
    let line: Vec<String> = out.iter().map(|(ms, n)| format!("{ms:.1} {n}")).collect();
    println!("{}", line.join(" "));
    Ok(())
}

fn rss_kb() -> anyhow::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmRSS in /proc/self/status")
}

fn memory(tags: usize) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("registry.cache");
    let before = rss_kb()?;
    let (cache, _) = ImageCache::open(&path);
    flux_benches::registry::fill(&cache, tags)?;
    let after = rss_kb()?;
    cache.persist()?;
    let size = std::fs::metadata(&path)?.len();
    let t = Instant::now();
    let (reloaded, _) = ImageCache::open(&path);
    let load_ms = t.elapsed().as_secs_f64() * 1000.0;
    anyhow::ensure!(
        reloaded.image_count() == tags,
        "reloaded {}",
        reloaded.image_count()
    );
    println!("{} {size} {load_ms:.1}", after.saturating_sub(before));
    Ok(())
}
