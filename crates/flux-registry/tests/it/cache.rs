//! The cache file when fluxd is killed while writing it.

use std::process::Command;
use std::time::Duration;

use chrono::Utc;
use flux_core::image::ImageName;
use flux_core::registry::ImageInfo;
use flux_registry::cache::{CachedImage, ImageCache, Loaded};

const WRITER_ENV: &str = "FLUX_REGISTRY_TEST_CACHE_WRITER";

/// Not a test on its own: when started by the test below with the
/// environment variable set, writes ever-changing caches until killed.
#[test]
fn cache_writer_child() {
    let Some(path) = std::env::var_os(WRITER_ENV) else {
        return;
    };
    let (cache, _) = ImageCache::open(path.as_ref());
    let now = Utc::now();
    for round in 0u64.. {
        for r in 0..20 {
            let repo = ImageName::parse(&format!("r.io/team/app-{r}")).expect("name");
            let tags: Vec<String> = (0..200).map(|t| format!("{round}.{t}")).collect();
            cache.record_tags(&repo, tags.clone(), now);
            for tag in tags {
                let info = ImageInfo {
                    digest: Some(format!("sha256:{round:064x}")),
                    ..ImageInfo::default()
                };
                cache.record_image(&repo, &tag, CachedImage::new(info, now, 3600));
            }
        }
        cache.persist().expect("persist");
    }
}

#[test]
fn killing_the_writer_never_leaves_a_file_that_is_not_trusted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("registry.cache");
    let exe = std::env::current_exe().expect("test binary");
    let mut read = 0;
    for i in 0..8u64 {
        let mut child = Command::new(&exe)
            .args(["cache::cache_writer_child", "--exact", "--nocapture"])
            .env(WRITER_ENV, &path)
            .spawn()
            .expect("spawn writer");
        // The first writer is given time to write once however loaded the
        // machine is (other tests run beside this one); then each is
        // killed at a different point of its write cycle.
        let start = std::time::Instant::now();
        while !path.exists() && start.elapsed() < Duration::from_secs(60) {
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(150 + 37 * i));
        child.kill().expect("kill");
        child.wait().expect("reap");
        match ImageCache::open(&path).1 {
            Loaded::Read {
                repositories,
                images,
            } => {
                assert_eq!((repositories, images), (20, 4000));
                read += 1;
            }
            Loaded::Missing => {}
            Loaded::Discarded(d) => panic!("a killed writer left an untrusted file: {d}"),
        }
    }
    assert!(
        read >= 4,
        "the writer got far enough to write a cache in most runs ({read}/8)"
    );
}
