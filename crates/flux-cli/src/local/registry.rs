//! `--registry` with `--local`: ask the image registries for tags as
//! fluxd's scanner does (flux-registry, with `--docker-config` credentials
//! and `--registry-insecure-host`), into an in-memory cache that the
//! release calculation and `list-images` read.
//!
//! Unlike fluxd, no pull secrets are read (there is no cluster) and no
//! cloud credential helper is asked (ECR, GCR, ACR tokens come from cloud
//! metadata servers fluxctl should not call from a laptop): give
//! credentials in a docker config file.

use std::cmp::Ordering;
use std::sync::Arc;

use anyhow::Context as _;
use flux_core::Resource;
use flux_core::image::ImageRef;
use flux_core::policy::{Policies, TagPattern};
use flux_core::registry::RegistryView;
use flux_core::release::{ImageSpec, ReleaseSpec};
use flux_registry::cache::ImageCache;
use flux_registry::client::ClientOptions;
use flux_registry::credentials::read_docker_config;
use flux_registry::{Keyring, Metrics, ScanOptions, ScanTarget, Scanner};

use super::Checkout;
use crate::request::RegistryAccess;
use crate::view::{self, WorkloadImages};

/// Most tags whose metadata one `list-images` fetches per registry host.
const METADATA_BUDGET: usize = 10_000;

/// Scans `targets` into a new in-memory cache; failures become notes.
fn scan(
    targets: Vec<ScanTarget>,
    access: &RegistryAccess,
    all_metadata: bool,
    notes: &mut Vec<String>,
) -> anyhow::Result<Arc<ImageCache>> {
    let mut keyring = Keyring::new();
    if let Some(path) = &access.docker_config {
        let creds = read_docker_config(path)?;
        for e in keyring.add(&creds, &format!("--docker-config {}", path.display())) {
            notes.push(e.to_string());
        }
    }
    let options = ScanOptions {
        client: ClientOptions {
            insecure_hosts: access.insecure_hosts.clone(),
            ..ClientOptions::default()
        },
        exclude_images: Vec::new(),
        background_per_round: if all_metadata { METADATA_BUDGET } else { 0 },
        ..ScanOptions::default()
    };
    let cache = Arc::new(ImageCache::in_memory());
    let scanner = Scanner::new(
        options,
        cache.clone(),
        keyring,
        Vec::new(),
        Arc::new(Metrics::default()),
    )
    .context("setting up the registry client")?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let report = runtime.block_on(scanner.scan(&targets));
    for (name, e) in &report.failed {
        notes.push(format!("registry: {name}: {e}"));
    }
    for name in &report.skipped {
        notes.push(format!(
            "registry: {name}: not asked (its registry was failing)"
        ));
    }
    Ok(cache)
}

/// The scan targets of workloads' containers, with their tag filters.
fn targets<'a>(workloads: impl Iterator<Item = &'a Resource>) -> Vec<ScanTarget> {
    let mut out = Vec::new();
    for w in workloads {
        let policies = Policies::of(w).unwrap_or_default();
        for c in w.containers().unwrap_or_default() {
            if let Ok(image) = ImageRef::parse(&c.image) {
                out.push(
                    ScanTarget::new(image.name().clone()).pattern(policies.tag_pattern(&c.name)),
                );
            }
        }
    }
    out
}

/// Scans what a release needs: the repositories of the workloads it may
/// change (for a specific image, that image's repository only).
pub fn scan_for_release(
    checkout: &Checkout,
    spec: &ReleaseSpec,
    access: &RegistryAccess,
    notes: &mut Vec<String>,
) -> anyhow::Result<Arc<ImageCache>> {
    let list = match &spec.image {
        ImageSpec::Image(image) => {
            let mut t = ScanTarget::new(image.name().clone());
            if spec.force {
                t = t.pattern(TagPattern::all());
            }
            vec![t]
        }
        ImageSpec::Latest => targets(checkout.manifests.workloads().filter(|w| {
            spec.workloads
                .as_ref()
                .is_none_or(|ids| ids.contains(w.id()))
                && !spec.excludes.contains(w.id())
        })),
    };
    scan(list, access, false, notes)
}

/// Fills the available images of `list` (the views of `workloads`, in
/// the same order) from the registries.
pub fn fill_available(
    workloads: &[&Resource],
    list: &mut [WorkloadImages],
    access: &RegistryAccess,
    notes: &mut Vec<String>,
) -> anyhow::Result<()> {
    let cache = scan(targets(workloads.iter().copied()), access, true, notes)?;
    for (w, view) in workloads.iter().zip(list.iter_mut()) {
        let policies = Policies::of(w).unwrap_or_default();
        for c in &mut view.containers {
            let Ok(current) = ImageRef::parse(&c.current.id) else {
                continue;
            };
            let pattern = policies.tag_pattern(&c.name);
            available(&cache, &current, &pattern, c);
        }
    }
    Ok(())
}

/// One container's available images, newest first by its tag filter's
/// ordering, with Flux v1's counts.
fn available(
    cache: &ImageCache,
    current: &ImageRef,
    pattern: &TagPattern,
    c: &mut view::Container,
) {
    let name = current.name();
    let Some(tags) = cache.tags(name) else {
        c.available_error = cache
            .last_error(name)
            .unwrap_or_else(|| "not scanned".into());
        return;
    };
    let mut infos: Vec<(
        String,
        Option<chrono::DateTime<chrono::Utc>>,
        Option<String>,
    )> = tags
        .into_iter()
        .map(|t| {
            let info = cache.image_info(name, &t);
            let created = info.as_ref().and_then(|i| i.created);
            let digest = info.and_then(|i| i.digest);
            (t, created, digest)
        })
        .collect();
    let order = if matches!(pattern, TagPattern::Semver(_)) {
        pattern.clone()
    } else {
        TagPattern::all()
    };
    infos.sort_by(|a, b| match order.compare((&a.0, a.1), (&b.0, b.1)) {
        Ordering::Equal => a.0.cmp(&b.0),
        o => o.reverse(),
    });
    let current_tag = current.tag().unwrap_or_default();
    let position = infos.iter().position(|(t, _, _)| t == current_tag);
    c.available_images_count = infos.len();
    c.new_available_images_count = position.unwrap_or(infos.len());
    let allowed: Vec<usize> = (0..infos.len())
        .filter(|&i| pattern.allows(&infos[i].0))
        .collect();
    c.filtered_images_count = allowed.len();
    c.new_filtered_images_count = allowed
        .iter()
        .filter(|&&i| position.is_none_or(|p| i < p))
        .count();
    let image = |(tag, created, digest): &(String, _, Option<String>)| view::Image {
        id: current
            .with_tag(tag)
            .map(|i| i.to_string())
            .unwrap_or_else(|_| format!("{}:{tag}", current.written_name())),
        digest: digest.clone(),
        created_at: *created,
        error: None,
    };
    c.latest_filtered = allowed.first().map(|&i| image(&infos[i]));
    if let Some(p) = position {
        c.current.created_at = infos[p].1;
        c.current.digest = infos[p].2.clone();
    }
    c.available = infos.iter().map(image).collect();
}
