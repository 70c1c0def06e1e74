//! The scanner against a real docker-registry: what it asks for, and how it
//! behaves when a registry fails.

use std::sync::Arc;
use std::time::Duration;

use flux_core::policy::TagPattern;
use flux_core::registry::RegistryView;
use flux_registry::cache::{ImageCache, Loaded};
use flux_registry::limit::RateOptions;
use flux_registry::metrics::RequestKind;
use flux_registry::{Keyring, Metrics, ScanOptions, ScanTarget, Scanner};
use flux_testbed::registry::{Fault, Format, Proxy, Pusher, Registry, TestImage, dead_addr};

use crate::support::repo;

fn scanner(
    cache: Arc<ImageCache>,
    hosts: &[&str],
    tweak: impl FnOnce(&mut ScanOptions),
) -> Scanner {
    flux_registry::install_crypto_provider();
    let mut options = ScanOptions::default();
    options.client.insecure_hosts = hosts.iter().map(|h| (*h).to_owned()).collect();
    tweak(&mut options);
    Scanner::new(
        options,
        cache,
        Keyring::new(),
        Vec::new(),
        Arc::new(Metrics::default()),
    )
    .expect("scanner")
}

fn pattern(p: &str) -> TagPattern {
    TagPattern::parse(p).expect("pattern")
}

async fn push_tags(push: &Pusher, path: &str, tags: &[&str]) {
    for (i, tag) in tags.iter().enumerate() {
        let created = format!("2024-01-{:02}T00:00:00Z", i + 1);
        push.push_image(path, tag, &TestImage::created(&created), Format::Oci)
            .await
            .expect("push");
    }
}

#[tokio::test]
async fn rescan_with_nothing_new_asks_only_for_tag_lists_even_after_a_restart() {
    let registry = Registry::start().unwrap();
    let push = Pusher::new(registry.addr());
    push_tags(&push, "team/auto", &["1.0", "1.1", "2.0"]).await;
    push_tags(&push, "team/semver", &["1.0.0", "1.1.0", "2.0.0"]).await;
    push_tags(&push, "team/glob", &["1.0", "1.1", "2.0", "latest"]).await;
    let proxy = Proxy::start(registry.addr()).await.unwrap();
    let addr = proxy.addr().to_owned();
    let targets = vec![
        ScanTarget::new(repo(&addr, "team/auto")).pattern(TagPattern::all()),
        ScanTarget::new(repo(&addr, "team/semver")).pattern(pattern("semver:~1")),
        ScanTarget::new(repo(&addr, "team/glob")).pattern(pattern("glob:1.*")),
    ];
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("registry.cache");
    let no_background = |o: &mut ScanOptions| o.background_per_round = 0;

    let cache = Arc::new(ImageCache::open(&path).0);
    let s = scanner(cache.clone(), &[&addr], no_background);
    let report = s.scan(&targets).await;
    assert_eq!(report.scanned.len(), 3, "{report:?}");
    assert!(report.failed.is_empty(), "{report:?}");
    // glob:* needs all three tags (not "latest": never a candidate); semver
    // needs none; glob:1.* needs 1.0 and 1.1.
    assert_eq!(report.fetched, 3 + 2);
    assert_eq!(proxy.count("tags"), 3);
    assert_eq!(proxy.count("manifest"), 5);
    assert_eq!(proxy.count("blob"), 5);
    assert_eq!(
        proxy.requests().len(),
        13,
        "nothing else: {:?}",
        proxy.requests()
    );
    let auto = repo(&addr, "team/auto");
    let info = cache.image_info(&auto, "1.1").expect("fetched");
    assert_eq!(
        info.created.unwrap().to_rfc3339(),
        "2024-01-02T00:00:00+00:00"
    );
    assert_eq!(cache.image_info(&repo(&addr, "team/semver"), "1.0.0"), None);
    assert_eq!(cache.tags(&repo(&addr, "team/semver")).unwrap().len(), 3);

    // Again: only tag lists.
    proxy.reset();
    let report = s.scan(&targets).await;
    assert_eq!(
        (report.fetched, report.refreshed, report.requests),
        (0, 0, 3)
    );
    assert!(report.changed.is_empty(), "{report:?}");
    assert_eq!(proxy.count("tags"), 3);
    assert_eq!(proxy.requests().len(), 3, "{:?}", proxy.requests());

    // A restart reads the cache file: still only tag lists.
    drop(s);
    let (cache, loaded) = ImageCache::open(&path);
    assert_eq!(
        loaded,
        Loaded::Read {
            repositories: 3,
            images: 5
        }
    );
    let s = scanner(Arc::new(cache), &[&addr], no_background);
    proxy.reset();
    let report = s.scan(&targets).await;
    assert_eq!(report.requests, 3, "{report:?}");
    assert_eq!(proxy.requests().len(), 3, "{:?}", proxy.requests());

    // A new tag: its metadata alone is fetched, and the repository is reported changed.
    push_tags(&push, "team/auto", &["3.0"]).await;
    proxy.reset();
    let report = s.scan(&targets).await;
    assert_eq!(report.changed, vec![auto.clone()]);
    assert_eq!(report.fetched, 1);
    assert_eq!(
        (
            proxy.count("tags"),
            proxy.count("manifest"),
            proxy.count("blob")
        ),
        (3, 1, 1)
    );
}

#[tokio::test]
async fn tags_no_policy_needs_are_filled_in_the_background_a_few_per_round() {
    let registry = Registry::start().unwrap();
    let push = Pusher::new(registry.addr());
    push_tags(
        &push,
        "lib/x",
        &["1.0.0", "1.1.0", "1.2.0", "1.3.0", "1.4.0"],
    )
    .await;
    let cache = Arc::new(ImageCache::in_memory());
    let s = scanner(cache.clone(), &[registry.addr()], |o| {
        o.background_per_round = 2
    });
    let targets = [ScanTarget::new(repo(registry.addr(), "lib/x")).pattern(pattern("semver:^1"))];
    let mut filled = Vec::new();
    for _ in 0..4 {
        filled.push(s.scan(&targets).await.background);
    }
    assert_eq!(filled, [2, 2, 1, 0]);
    let x = repo(registry.addr(), "lib/x");
    for tag in ["1.0.0", "1.4.0"] {
        assert!(cache.image_info(&x, tag).is_some(), "{tag}");
    }
}

#[tokio::test]
async fn excluded_and_disabled_scan_nothing() {
    let registry = Registry::start().unwrap();
    push_tags(&Pusher::new(registry.addr()), "k8s/app", &["1"]).await;
    let name = repo(registry.addr(), "k8s/app");
    let cache = Arc::new(ImageCache::in_memory());
    let s = scanner(cache.clone(), &[registry.addr()], |o| {
        o.exclude_images = vec![format!("{}/k8s/*", registry.addr())];
    });
    let report = s.scan(&[ScanTarget::new(name.clone())]).await;
    assert_eq!((report.excluded.len(), report.requests), (1, 0));
    let s = scanner(cache.clone(), &[registry.addr()], |o| o.disabled = true);
    assert_eq!(s.scan(&[ScanTarget::new(name.clone())]).await.requests, 0);
    assert_eq!(cache.tags(&name), None);
    let e = Scanner::new(
        ScanOptions {
            exclude_images: vec!["[".into()],
            ..ScanOptions::default()
        },
        cache,
        Keyring::new(),
        Vec::new(),
        Arc::new(Metrics::default()),
    )
    .unwrap_err();
    assert!(e.to_string().contains("invalid image glob \"[\""), "{e}");
}

fn fault_options(o: &mut ScanOptions) {
    o.background_per_round = 0;
    o.client.attempts = 3;
    o.client.connect_timeout = None;
    o.client.read_timeout = None;
    // The pool's idle timer would let the paused clock jump ahead while the
    // test waits on the real registry.
    o.client.pool_idle_timeout = None;
    o.client.rate = RateOptions {
        max_wait: Duration::from_secs(60),
        ..RateOptions::default()
    };
}

/// Paused tokio time: backoff waits cost no real time, and the virtual
/// clock shows how long the scanner waited.
#[tokio::test(start_paused = true)]
async fn server_errors_back_off_while_other_registries_carry_on_then_recover() {
    let good = Registry::start().unwrap();
    let flaky = Registry::start().unwrap();
    push_tags(&Pusher::new(good.addr()), "a", &["1"]).await;
    push_tags(&Pusher::new(flaky.addr()), "b", &["1"]).await;
    let proxy = Proxy::start(flaky.addr()).await.unwrap();
    let (a, b) = (repo(good.addr(), "a"), repo(proxy.addr(), "b"));
    let cache = Arc::new(ImageCache::in_memory());
    let s = scanner(cache.clone(), &[good.addr(), proxy.addr()], fault_options);
    let targets = [
        ScanTarget::new(a.clone()).pattern(TagPattern::all()),
        ScanTarget::new(b.clone()).pattern(TagPattern::all()),
    ];

    proxy.set_fault(Fault::Status {
        status: 503,
        retry_after: None,
        times: None,
    });
    let start = tokio::time::Instant::now();
    let report = s.scan(&targets).await;
    assert_eq!(report.scanned, vec![a.clone()], "{report:?}");
    assert_eq!(report.failed.len(), 1, "{report:?}");
    assert!(
        report.failed[0].1.contains("server error 503"),
        "{report:?}"
    );
    assert_eq!(proxy.count("tags"), 3, "three attempts");
    // Backoff between attempts: 1s, then 2s.
    assert_eq!(start.elapsed(), Duration::from_secs(3));
    let status = s.client().limiter().status(proxy.addr());
    assert_eq!(
        (status.failures, status.blocked_for),
        (3, Some(Duration::from_secs(4)))
    );
    assert_eq!(s.client().metrics().backoffs(proxy.addr()), 3);
    assert!(cache.last_error(&b).unwrap().contains("503"));
    assert!(cache.image_info(&a, "1").is_some());

    // The registry comes back: the next round waits out the backoff and succeeds.
    proxy.set_fault(Fault::None);
    let report = s.scan(&targets).await;
    assert_eq!(report.scanned.len(), 2, "{report:?}");
    assert!(cache.image_info(&b, "1").is_some());
    assert_eq!(cache.last_error(&b), None);
    assert_eq!(s.client().limiter().status(proxy.addr()).failures, 0);
}

#[tokio::test(start_paused = true)]
async fn too_many_requests_honours_retry_after_and_slows_the_host() {
    let registry = Registry::start().unwrap();
    push_tags(&Pusher::new(registry.addr()), "a", &["1", "2"]).await;
    let proxy = Proxy::start(registry.addr()).await.unwrap();
    let a = repo(proxy.addr(), "a");
    let s = scanner(
        Arc::new(ImageCache::in_memory()),
        &[proxy.addr()],
        fault_options,
    );
    proxy.set_fault(Fault::Status {
        status: 429,
        retry_after: Some(30),
        times: Some(1),
    });
    let start = tokio::time::Instant::now();
    let report = s
        .scan(&[ScanTarget::new(a).pattern(TagPattern::all())])
        .await;
    assert_eq!((report.scanned.len(), report.fetched), (1, 2), "{report:?}");
    assert!(
        start.elapsed() >= Duration::from_secs(30),
        "{:?}",
        start.elapsed()
    );
    assert!(
        start.elapsed() < Duration::from_secs(31),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(
        s.client().limiter().status(proxy.addr()).rps,
        25.0,
        "halved"
    );
    assert_eq!(s.client().metrics().requests_of(RequestKind::Tags), 2);
}

#[tokio::test(start_paused = true)]
async fn a_registry_that_is_down_fails_alone_and_is_skipped_while_backing_off() {
    let good = Registry::start().unwrap();
    push_tags(&Pusher::new(good.addr()), "a", &["1"]).await;
    let down = dead_addr().unwrap();
    let (a, d) = (repo(good.addr(), "a"), repo(&down, "d"));
    let s = scanner(
        Arc::new(ImageCache::in_memory()),
        &[good.addr(), &down],
        |o| {
            fault_options(o);
            o.client.rate.backoff_base = Duration::from_secs(30);
            o.client.rate.max_wait = Duration::from_secs(20);
        },
    );
    let targets = [
        ScanTarget::new(a.clone()).pattern(TagPattern::all()),
        ScanTarget::new(d.clone()),
    ];
    let report = s.scan(&targets).await;
    assert_eq!(report.scanned, vec![a.clone()], "{report:?}");
    assert_eq!(report.failed.len(), 1, "{report:?}");
    assert_eq!(report.failed[0].0, d);
    // One attempt: the 30 s backoff is beyond the 20 s a scan may wait.
    assert_eq!(s.client().metrics().requests_of(RequestKind::Tags), 2);
    let status = s.client().limiter().status(&down);
    assert_eq!(status.failures, 1, "{status:?}");
    assert_eq!(
        status.blocked_for,
        Some(Duration::from_secs(30)),
        "{status:?}"
    );

    // Next round: the failing host is still backing off and is skipped
    // without a request; the good one is scanned as usual.
    let report = s.scan(&targets).await;
    assert_eq!(report.scanned, vec![a], "{report:?}");
    assert_eq!(report.skipped, vec![d], "{report:?}");
    assert_eq!(s.client().metrics().requests_of(RequestKind::Tags), 3);
}

/// Alone in its runtime so that the paused clock only jumps for its timers.
#[tokio::test(start_paused = true)]
async fn a_registry_too_slow_to_answer_times_out() {
    let registry = Registry::start().unwrap();
    push_tags(&Pusher::new(registry.addr()), "s", &["1"]).await;
    let slow = Proxy::start(registry.addr()).await.unwrap();
    slow.set_fault(Fault::Delay(Duration::from_secs(120)));
    let s = scanner(Arc::new(ImageCache::in_memory()), &[slow.addr()], |o| {
        fault_options(o);
        o.client.attempts = 1;
        o.client.read_timeout = Some(Duration::from_secs(10));
    });
    let start = tokio::time::Instant::now();
    let report = s.scan(&[ScanTarget::new(repo(slow.addr(), "s"))]).await;
    assert_eq!(report.failed.len(), 1, "{report:?}");
    assert_eq!(
        start.elapsed(),
        Duration::from_secs(10),
        "gave up at the read timeout"
    );
    assert_eq!(s.client().limiter().status(slow.addr()).failures, 1);
}

#[tokio::test]
async fn moved_tags_are_noticed_on_their_refresh_with_one_head_request() {
    let registry = Registry::start().unwrap();
    let push = Pusher::new(registry.addr());
    push_tags(&push, "app", &["stable", "1.0"]).await;
    let proxy = Proxy::start(registry.addr()).await.unwrap();
    let app = repo(proxy.addr(), "app");
    let cache = Arc::new(ImageCache::in_memory());
    let s = scanner(cache.clone(), &[proxy.addr()], |o| {
        o.background_per_round = 0
    });
    let targets = [ScanTarget::new(app.clone()).pattern(TagPattern::all())];
    s.scan(&targets).await;
    let old = cache.image_info(&app, "stable").unwrap();

    // Make both tags due for a refresh, and move `stable` to a new image.
    let mut entries = cache.with_repo(&app, |r| r.unwrap().images.clone());
    for image in entries.values_mut() {
        image.fetched -= chrono::Duration::hours(2);
    }
    for (tag, image) in entries {
        cache.record_image(&app, &tag, image);
    }
    push.push_image(
        "app",
        "stable",
        &TestImage::created("2025-06-01T00:00:00Z"),
        Format::Oci,
    )
    .await
    .unwrap();
    proxy.reset();
    let report = s.scan(&targets).await;
    assert_eq!(report.refreshed, 2, "{report:?}");
    assert_eq!(
        report.changed,
        vec![app.clone()],
        "the moved tag is a change"
    );
    // One HEAD per tag; only the moved one is fetched again.
    assert_eq!(
        (
            proxy.count("head"),
            proxy.count("manifest"),
            proxy.count("blob")
        ),
        (2, 1, 1)
    );
    let new = cache.image_info(&app, "stable").unwrap();
    assert_ne!(new.digest, old.digest);
    assert_eq!(
        new.created.unwrap().to_rfc3339(),
        "2025-06-01T00:00:00+00:00"
    );
    cache.with_repo(&app, |r| {
        let r = r.unwrap();
        // Unchanged: checked again in twice the time; moved: in half (at least 5 minutes).
        assert_eq!(r.images["1.0"].refresh_secs, 7200);
        assert_eq!(r.images["stable"].refresh_secs, 1800);
    });
}

#[tokio::test]
async fn new_repositories_then_recently_changed_ones_go_first() {
    let registry = Registry::start().unwrap();
    let push = Pusher::new(registry.addr());
    for path in ["old", "busy", "new"] {
        push_tags(&push, path, &["1"]).await;
    }
    let proxy = Proxy::start(registry.addr()).await.unwrap();
    let cache = Arc::new(ImageCache::in_memory());
    let name = |p: &str| repo(proxy.addr(), p);
    let one_at_a_time = |o: &mut ScanOptions| {
        o.background_per_round = 0;
        o.client.rate.burst = 1;
    };
    let s = scanner(cache.clone(), &[proxy.addr()], one_at_a_time);
    // "old" and "busy" were scanned before; "busy" changed since.
    s.scan(&[ScanTarget::new(name("old")), ScanTarget::new(name("busy"))])
        .await;
    push_tags(&push, "busy", &["2"]).await;
    s.scan(&[ScanTarget::new(name("busy"))]).await;
    proxy.reset();
    s.scan(&[
        ScanTarget::new(name("old")),
        ScanTarget::new(name("busy")),
        ScanTarget::new(name("new")),
    ])
    .await;
    let order: Vec<String> = proxy.requests().into_iter().map(|(_, p)| p).collect();
    assert_eq!(
        order,
        [
            "/v2/new/tags/list?n=1000",
            "/v2/busy/tags/list?n=1000",
            "/v2/old/tags/list?n=1000"
        ]
    );
}

#[tokio::test]
async fn credentials_from_the_workload_then_docker_config() {
    use flux_core::registry::Credentials;
    use flux_testbed::registry::PushAuth;
    use flux_testbed::registry::RegistryOptions;
    let registry = Registry::start_with(RegistryOptions {
        htpasswd: Some(("bob".into(), "hunter2".into())),
        ..RegistryOptions::default()
    })
    .unwrap();
    let addr = registry.addr().to_owned();
    Pusher::with_auth(&addr, PushAuth::Basic("bob".into(), "hunter2".into()))
        .push_image(
            "p/app",
            "1",
            &TestImage::created("2024-01-01T00:00:00Z"),
            Format::Docker,
        )
        .await
        .unwrap();
    let secret = |pw: &str| {
        use base64::Engine as _;
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("bob:{pw}"));
        Credentials::from_dockerconfigjson(
            format!(r#"{{"auths":{{"{addr}":{{"auth":"{auth}"}}}}}}"#).as_bytes(),
        )
        .expect("secret")
    };
    let mut options = ScanOptions::default();
    options.client.insecure_hosts = vec![addr.clone()];
    let cache = Arc::new(ImageCache::in_memory());
    // A stale pull secret on the workload; the right one in --docker-config.
    let s = Scanner::new(
        options,
        cache.clone(),
        Keyring::from_credentials(&secret("hunter2"), "--docker-config"),
        Vec::new(),
        Arc::new(Metrics::default()),
    )
    .unwrap();
    let app = repo(&addr, "p/app");
    let target = ScanTarget::new(app.clone())
        .pattern(TagPattern::all())
        .keyring(Keyring::from_credentials(&secret("old"), "secret ns/stale"));
    let report = s.scan(&[target]).await;
    assert_eq!(report.scanned, vec![app.clone()], "{report:?}");
    assert!(cache.image_info(&app, "1").is_some());

    // With only the stale secret: a clear error, kept for list-images.
    let s = scanner(Arc::new(ImageCache::in_memory()), &[&addr], |_| {});
    let target = ScanTarget::new(app.clone())
        .keyring(Keyring::from_credentials(&secret("old"), "secret ns/stale"));
    let report = s.scan(&[target]).await;
    assert_eq!(report.failed.len(), 1, "{report:?}");
    assert!(
        report.failed[0].1.contains("credentials for user \"bob\""),
        "{report:?}"
    );
    assert!(report.failed[0].1.contains("secret ns/stale"), "{report:?}");
    assert!(!report.failed[0].1.contains("old"), "{report:?}");
}
