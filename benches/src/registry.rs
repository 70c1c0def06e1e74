//! A registry cache filled with generated tags, for measuring what cached
//! tags cost: alone (`registry-bench memory`) and inside fluxd
//! (`fluxd-bench` with `FLUXD_BENCH_TAGS`, seeding fluxd's cache file).

use std::path::Path;

use chrono::{DateTime, Duration, Utc};
use flux_core::image::ImageName;
use flux_core::registry::ImageInfo;
use flux_registry::cache::{CachedImage, ImageCache};

/// A creation time for generated tag `i` (one minute apart).
pub fn created(i: usize) -> DateTime<Utc> {
    DateTime::<Utc>::UNIX_EPOCH + Duration::days(19_000) + Duration::minutes(i as i64)
}

/// Records `tags` images in `cache`: repositories of 50 tags each, 500 tags
/// a team, each image with a digest, a creation time and two labels.
pub fn fill(cache: &ImageCache, tags: usize) -> anyhow::Result<()> {
    let now = Utc::now();
    for i in 0..tags {
        let repo = ImageName::parse(&format!(
            "registry.example.com/team-{}/app-{}",
            i / 500,
            i / 50
        ))?;
        if i % 50 == 0 {
            let tags: Vec<String> = (0..50).map(|t| format!("1.{t}.0")).collect();
            cache.record_tags(&repo, tags, now);
        }
        let mut info = ImageInfo {
            digest: Some(format!("sha256:{i:064x}")),
            created: Some(created(i)),
            ..ImageInfo::default()
        };
        info.labels.insert(
            "org.opencontainers.image.revision".into(),
            format!("{i:040x}"),
        );
        info.labels.insert(
            "org.opencontainers.image.source".into(),
            "https://example.com/app".into(),
        );
        cache.record_image(
            &repo,
            &format!("1.{}.0", i % 50),
            CachedImage::new(info, now, 3600),
        );
    }
    Ok(())
}

/// Writes a cache file at `path` holding `tags` generated images.
pub fn write_file(path: &Path, tags: usize) -> anyhow::Result<()> {
    let (cache, _) = ImageCache::open(path);
    fill(&cache, tags)?;
    cache.persist()?;
    Ok(())
}
