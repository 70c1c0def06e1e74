//! The client against a registry that misbehaves (the testbed proxy in front
//! of a real docker-registry plays the hostile part): tag lists that never
//! end, pagination links to another host, tags and digests that are not
//! tags or digests.

use std::sync::{Arc, Mutex};

use axum::http::HeaderMap;
use flux_core::policy::TagPattern;
use flux_core::registry::Credentials;
use flux_registry::cache::ImageCache;
use flux_registry::client::ClientError;
use flux_registry::limit::RateOptions;
use flux_registry::{ClientOptions, Keyring, Metrics, ScanOptions, ScanTarget, Scanner};
use flux_testbed::registry::{
    Format, Proxy, PushAuth, Pusher, Registry, RegistryOptions, TestImage,
};

use crate::support::{client_for, repo};

/// Fast enough that the limiter does not set the pace of a few hundred pages.
fn fast(o: &mut ClientOptions) {
    o.rate = RateOptions {
        rps: 100_000.0,
        burst: 100,
        ..RateOptions::default()
    };
}

async fn registry_with(path: &str, tags: &[&str]) -> Registry {
    let registry = Registry::start().expect("registry");
    let push = Pusher::new(registry.addr());
    for tag in tags {
        push.push_image(
            path,
            tag,
            &TestImage::created("2024-01-01T00:00:00Z"),
            Format::Oci,
        )
        .await
        .expect("push");
    }
    registry
}

#[tokio::test]
async fn a_tag_list_that_never_ends_stops_at_the_default_cap_naming_the_repository() {
    let registry = registry_with("team/app", &["1.0"]).await;
    let proxy = Proxy::start(registry.addr()).await.unwrap();
    proxy.paginate_tags(Some(1000));
    proxy.endless_tags(Some(1000));
    let client = client_for(&[proxy.addr()], fast);
    let app = repo(proxy.addr(), "team/app");
    let e = client.tags(&app, &[]).await.unwrap_err();
    let text = e.to_string();
    // 100,000 tags by default, in pages of 1,000: the 101st page is one too
    // many (before the cap, 10,000 pages of tags were followed).
    assert!(
        proxy.count("tags") <= 101,
        "{} pages asked for",
        proxy.count("tags")
    );
    assert!(
        text.contains(proxy.addr()) && text.contains("team/app"),
        "names the registry and repository: {text}"
    );
    assert!(text.contains("100000 tags"), "{text}");
    assert!(!e.is_host_failure(), "only this repository is at fault");
}

#[tokio::test]
async fn tag_list_caps_are_configurable() {
    let registry = registry_with("team/app", &["1.0"]).await;
    let proxy = Proxy::start(registry.addr()).await.unwrap();
    proxy.paginate_tags(Some(10));
    proxy.endless_tags(Some(10));
    let app = repo(proxy.addr(), "team/app");

    let client = client_for(&[proxy.addr()], |o| {
        fast(o);
        o.max_tag_pages = 3;
    });
    let e = client.tags(&app, &[]).await.unwrap_err();
    assert_eq!(proxy.count("tags"), 3, "{e}");
    assert!(
        matches!(&e, ClientError::TagListTooLong { registry, repository, .. }
            if registry == proxy.addr() && repository == "team/app"),
        "{e:?}"
    );
    assert!(e.to_string().contains("3 pages"), "{e}");

    proxy.reset();
    let client = client_for(&[proxy.addr()], |o| {
        fast(o);
        o.max_tags = 25;
    });
    let e = client.tags(&app, &[]).await.unwrap_err();
    assert_eq!(proxy.count("tags"), 3, "the third page passes 25 tags: {e}");
    assert!(e.to_string().contains("25 tags"), "{e}");

    // Bytes are counted over the whole list, not per page: pages of 10 tags
    // are ~130 bytes, so 300 bytes end it on the third page.
    proxy.reset();
    let client = client_for(&[proxy.addr()], |o| {
        fast(o);
        o.max_tag_list_bytes = 300;
    });
    let e = client.tags(&app, &[]).await.unwrap_err();
    assert_eq!(proxy.count("tags"), 3, "{e}");
    assert!(e.to_string().contains("300 bytes"), "{e}");

    // A list within the caps is read whole.
    proxy.endless_tags(None);
    let client = client_for(&[proxy.addr()], |o| {
        fast(o);
        o.max_tags = 1;
        o.max_tag_pages = 1;
    });
    assert_eq!(client.tags(&app, &[]).await.unwrap(), ["1.0"]);

    for (what, tweak) in [
        (
            "max_tags",
            (|o: &mut ClientOptions| o.max_tags = 0) as fn(&mut ClientOptions),
        ),
        ("max_tag_pages", |o| o.max_tag_pages = 0),
        ("max_tag_list_bytes", |o| o.max_tag_list_bytes = 0),
    ] {
        let mut options = ClientOptions::default();
        tweak(&mut options);
        let e =
            flux_registry::RegistryClient::new(options, Arc::new(Metrics::default())).unwrap_err();
        assert!(e.to_string().contains("tag list"), "{what}: {e}");
    }
}

/// A stand-in for "some other host": records the `Authorization` header of
/// every request it gets, and answers a tag list page.
async fn collector() -> (String, Arc<Mutex<Vec<Option<String>>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let app = axum::Router::new().fallback(move |h: HeaderMap| {
        record.lock().expect("lock").push(
            h.get("authorization")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        );
        async { r#"{"name":"team/app","tags":["stolen"]}"# }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    (addr, seen)
}

#[tokio::test]
async fn pagination_links_to_another_host_are_not_followed_and_get_no_credentials() {
    let registry = Registry::start_with(RegistryOptions {
        htpasswd: Some(("alice".into(), "s3cret".into())),
        ..RegistryOptions::default()
    })
    .unwrap();
    let push = Pusher::with_auth(
        registry.addr(),
        PushAuth::Basic("alice".into(), "s3cret".into()),
    );
    for tag in ["1.0", "1.1"] {
        push.push_image(
            "team/app",
            tag,
            &TestImage::created("2024-01-01T00:00:00Z"),
            Format::Oci,
        )
        .await
        .unwrap();
    }
    let proxy = Proxy::start(registry.addr()).await.unwrap();
    proxy.paginate_tags(Some(1));
    let (other, seen) = collector().await;
    // Both hosts may be spoken to over plain HTTP: the host, not the
    // scheme, is what differs.
    let client = client_for(&[proxy.addr(), &other], |_| {});
    let app = repo(proxy.addr(), "team/app");
    let secret = format!(
        r#"{{"auths":{{"{}":{{"username":"alice","password":"s3cret"}}}}}}"#,
        proxy.addr()
    );
    let creds = Keyring::from_credentials(
        &Credentials::from_dockerconfigjson(secret.as_bytes()).unwrap(),
        "secret flux/regcred",
    )
    .lookup(&app);
    // Same-origin links are followed (absolute or not).
    assert_eq!(client.tags(&app, &creds).await.unwrap(), ["1.0", "1.1"]);
    proxy.link_origin(Some(format!("http://{}", proxy.addr())));
    assert_eq!(client.tags(&app, &creds).await.unwrap(), ["1.0", "1.1"]);

    for origin in [
        format!("http://{other}"),
        // Another name for the same machine, same port.
        format!(
            "http://localhost:{}",
            proxy.addr().rsplit(':').next().unwrap()
        ),
        // Same host and port, another scheme.
        format!("https://{}", proxy.addr()),
    ] {
        proxy.link_origin(Some(origin.clone()));
        let e = client.tags(&app, &creds).await.unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("not followed") && text.contains(&origin),
            "{origin}: {text}"
        );
        assert!(text.contains("team/app"), "{text}");
    }
    assert_eq!(
        *seen.lock().unwrap(),
        Vec::<Option<String>>::new(),
        "the other host was never asked, so never got the credentials"
    );
}

#[tokio::test]
async fn tags_that_are_not_tags_are_skipped_and_never_requested() {
    let registry = registry_with("team/app", &["1.0", "1.1"]).await;
    let proxy = Proxy::start(registry.addr()).await.unwrap();
    proxy.paginate_tags(Some(100));
    let bad = [
        "../../../v2/other/manifests/x",
        "a/b",
        "%2e%2e",
        ".hidden",
        "-dash",
        "sp ace",
        "q?x=1",
        "h#frag",
        "ünïcode",
        "",
    ];
    let too_long = "x".repeat(129);
    let longest = format!("_{}", "x".repeat(127));
    let mut injected: Vec<String> = bad.iter().map(|s| (*s).to_owned()).collect();
    injected.push(too_long.clone());
    injected.push(longest.clone());
    proxy.inject_tags(injected);

    let client = client_for(&[proxy.addr()], |_| {});
    let app = repo(proxy.addr(), "team/app");
    let mut tags = client.tags(&app, &[]).await.unwrap();
    tags.sort();
    assert_eq!(tags, ["1.0", "1.1", longest.as_str()]);

    // Asked directly, a bad tag is refused by name before any request.
    proxy.reset();
    for tag in bad.iter().copied().chain([too_long.as_str()]) {
        let e = client.image(&app, tag, &[]).await.unwrap_err();
        assert!(
            matches!(e, ClientError::InvalidReference { .. }),
            "{tag:?}: {e}"
        );
        assert!(e.to_string().contains("team/app"), "{e}");
        let e = client.digest(&app, tag, &[]).await.unwrap_err();
        assert!(
            matches!(e, ClientError::InvalidReference { .. }),
            "{tag:?}: {e}"
        );
    }
    assert_eq!(proxy.requests(), Vec::<(String, String)>::new());

    // A scan that wants every tag asks for the good ones only.
    let dir = tempfile::tempdir().unwrap();
    let cache = Arc::new(ImageCache::open(&dir.path().join("c")).0);
    let mut options = ScanOptions::default();
    options.client.insecure_hosts = vec![proxy.addr().to_owned()];
    let scanner = Scanner::new(
        options,
        cache,
        Keyring::new(),
        Vec::new(),
        Arc::new(Metrics::default()),
    )
    .unwrap();
    let report = scanner
        .scan(&[ScanTarget::new(app.clone()).pattern(TagPattern::all())])
        .await;
    assert_eq!(report.scanned, std::slice::from_ref(&app), "{report:?}");
    let asked: Vec<String> = proxy
        .requests()
        .into_iter()
        .filter(|(_, p)| p.contains("/manifests/"))
        .map(|(_, p)| p.rsplit('/').next().unwrap().to_owned())
        .collect();
    let mut asked_sorted = asked.clone();
    asked_sorted.sort();
    asked_sorted.dedup();
    // The longest valid tag is listed but not in the registry: asked, and
    // answered "not found".
    assert_eq!(asked_sorted, ["1.0", "1.1", longest.as_str()], "{asked:?}");
}

#[tokio::test]
async fn digests_in_manifests_are_checked_before_they_are_requested() {
    let registry = registry_with("team/app", &["1.0"]).await;
    let proxy = Proxy::start(registry.addr()).await.unwrap();
    let client = client_for(&[proxy.addr()], |_| {});
    let app = repo(proxy.addr(), "team/app");
    let hex = "a".repeat(64);
    for digest in [
        "sha256:../../../v2/other/blobs/x".to_owned(),
        format!("sha256:{}", &hex[..63]),
        format!("sha256:{}", hex.to_uppercase()),
        format!("sha256:{hex}/x"),
        format!("sha256:{hex}?x"),
        "SHA256:00".to_owned(),
        ":abc".to_owned(),
        "sha256".to_owned(),
    ] {
        proxy.reset();
        let index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [{"digest": digest, "platform": {"os": "linux", "architecture": "amd64"}}],
        });
        proxy.serve(
            "/v2/team/app/manifests/evil-index",
            "application/vnd.oci.image.index.v1+json",
            index.to_string().into_bytes(),
        );
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"digest": digest},
            "layers": [],
        });
        proxy.serve(
            "/v2/team/app/manifests/evil-config",
            "application/vnd.oci.image.manifest.v1+json",
            manifest.to_string().into_bytes(),
        );
        for tag in ["evil-index", "evil-config"] {
            let e = client.image(&app, tag, &[]).await.unwrap_err();
            assert!(e.to_string().contains("digest"), "{tag} {digest}: {e}");
        }
        let asked: Vec<String> = proxy.requests().into_iter().map(|(_, p)| p).collect();
        assert_eq!(
            asked,
            [
                "/v2/team/app/manifests/evil-index",
                "/v2/team/app/manifests/evil-config"
            ],
            "{digest}: nothing else was asked"
        );
    }
}
