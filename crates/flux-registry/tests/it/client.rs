//! The registry client against a real docker-registry.

use flux_core::registry::{Credentials, RegistryAuth};
use flux_registry::client::ClientError;
use flux_registry::metrics::RequestKind;
use flux_registry::{Fetched, Keyring};
use flux_testbed::registry::PushAuth;
use flux_testbed::registry::{Format, Proxy, Pusher, Registry, RegistryOptions, TestImage};

use crate::support::{client_for, repo};

fn created(f: &Fetched) -> String {
    match f {
        Fetched::Image(i) => i.created.map(|c| c.to_rfc3339()).unwrap_or_default(),
        Fetched::Excluded { reason, .. } => format!("excluded: {reason}"),
    }
}

#[tokio::test]
async fn reads_tags_digests_creation_times_and_manifest_lists() {
    let registry = Registry::start().unwrap();
    let push = Pusher::new(registry.addr());
    let d10 = push
        .push_image(
            "team/app",
            "1.0",
            &TestImage::created("2024-01-01T00:00:00Z")
                .label("org.opencontainers.image.revision", "abc"),
            Format::Docker,
        )
        .await
        .unwrap();
    let d11 = push
        .push_image(
            "team/app",
            "1.1",
            &TestImage::created("2024-02-01T10:30:00.5Z"),
            Format::Oci,
        )
        .await
        .unwrap();
    let images = [
        TestImage::created("2024-03-01T00:00:00Z").arch("arm64"),
        TestImage::created("2024-03-02T00:00:00Z"),
    ];
    let (list, _) = push
        .push_index("team/app", "multi", &images, Format::Docker)
        .await
        .unwrap();
    let (index, _) = push
        .push_index("team/app", "multi-oci", &images, Format::Oci)
        .await
        .unwrap();
    let (arm, _) = push
        .push_index("team/app", "arm-only", &images[..1], Format::Oci)
        .await
        .unwrap();

    // Through a counting proxy that pages tag lists (distribution 2.8 does
    // not), with a page size smaller than the proxy's.
    let proxy = Proxy::start(registry.addr()).await.unwrap();
    proxy.paginate_tags(Some(3));
    let client = client_for(&[proxy.addr()], |o| o.page_size = 2);
    let app = repo(proxy.addr(), "team/app");
    let mut tags = client.tags(&app, &[]).await.unwrap();
    tags.sort();
    assert_eq!(tags, ["1.0", "1.1", "arm-only", "multi", "multi-oci"]);
    assert_eq!(proxy.count("tags"), 3, "5 tags in pages of 2");

    let f = client.image(&app, "1.0", &[]).await.unwrap();
    let Fetched::Image(info) = &f else {
        panic!("{f:?}")
    };
    assert_eq!(info.digest.as_deref(), Some(d10.as_str()));
    assert_eq!(created(&f), "2024-01-01T00:00:00+00:00");
    assert_eq!(info.labels["org.opencontainers.image.revision"], "abc");

    let f = client.image(&app, "1.1", &[]).await.unwrap();
    assert_eq!(created(&f), "2024-02-01T10:30:00.500+00:00");
    assert!(matches!(&f, Fetched::Image(i) if i.digest.as_deref() == Some(d11.as_str())));

    // Manifest lists and OCI indexes resolve to linux/amd64; the digest is the list's.
    for (tag, digest) in [("multi", &list), ("multi-oci", &index)] {
        let f = client.image(&app, tag, &[]).await.unwrap();
        assert_eq!(created(&f), "2024-03-02T00:00:00+00:00", "{tag}");
        assert!(
            matches!(&f, Fetched::Image(i) if i.digest.as_deref() == Some(digest.as_str())),
            "{tag}"
        );
    }
    // Another platform can be chosen.
    let arm_client = client_for(&[proxy.addr()], |o| {
        o.platform = "linux/arm64".parse().unwrap()
    });
    let f = arm_client.image(&app, "multi", &[]).await.unwrap();
    assert_eq!(created(&f), "2024-03-01T00:00:00+00:00");
    // No image for our platform: excluded, as Flux v1 did.
    let f = client.image(&app, "arm-only", &[]).await.unwrap();
    assert_eq!(
        f,
        Fetched::Excluded {
            digest: arm,
            reason: "no suitable manifest (linux/amd64) in the manifest list".into()
        }
    );

    // HEAD gives the same digest as a full fetch.
    assert_eq!(client.digest(&app, "multi", &[]).await.unwrap(), list);
    assert_eq!(proxy.count("head"), 1);

    // The clients' own counters agree with what the proxy saw.
    let seen = |kind| client.metrics().requests_of(kind) + arm_client.metrics().requests_of(kind);
    assert_eq!(seen(RequestKind::Tags) as usize, proxy.count("tags"));
    assert_eq!(
        seen(RequestKind::Manifest) as usize,
        proxy.count("manifest")
    );
    assert_eq!(seen(RequestKind::Head) as usize, proxy.count("head"));
    assert_eq!(seen(RequestKind::Blob) as usize, proxy.count("blob"));
    // A plain image takes a manifest and a config, a list one more manifest,
    // an excluded list only itself: 1.0, 1.1, multi, multi-oci, multi (arm), arm-only.
    assert_eq!(proxy.count("manifest"), 1 + 1 + 2 + 2 + 2 + 1);
    assert_eq!(proxy.count("blob"), 5);
    assert_eq!(
        proxy.requests().len(),
        3 + 9 + 5 + 1,
        "nothing else was asked"
    );
}

#[tokio::test]
async fn missing_repositories_and_tags_are_not_found() {
    let registry = Registry::start().unwrap();
    Pusher::new(registry.addr())
        .push_image(
            "a",
            "1",
            &TestImage::created("2024-01-01T00:00:00Z"),
            Format::Oci,
        )
        .await
        .unwrap();
    let client = client_for(&[registry.addr()], |_| {});
    let e = client
        .tags(&repo(registry.addr(), "nope"), &[])
        .await
        .unwrap_err();
    assert!(e.is_not_found(), "{e}");
    assert!(e.to_string().contains("NAME_UNKNOWN"), "{e}");
    let e = client
        .image(&repo(registry.addr(), "a"), "2", &[])
        .await
        .unwrap_err();
    assert!(e.is_not_found() && !e.is_host_failure(), "{e}");
}

fn secret_for(host: &str, user: &str, password: &str) -> Credentials {
    use base64::Engine as _;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let json = format!(r#"{{"auths":{{"{host}":{{"auth":"{auth}"}}}}}}"#);
    Credentials::from_dockerconfigjson(json.as_bytes()).expect("a valid secret")
}

#[tokio::test]
async fn htpasswd_registry_with_credentials_from_a_dockerconfigjson_secret() {
    let registry = Registry::start_with(RegistryOptions {
        htpasswd: Some(("alice".into(), "s3cret".into())),
        ..RegistryOptions::default()
    })
    .unwrap();
    let addr = registry.addr().to_owned();
    let push = Pusher::with_auth(&addr, PushAuth::Basic("alice".into(), "s3cret".into()));
    push.push_image(
        "private/app",
        "2.0",
        &TestImage::created("2024-05-01T12:00:00Z"),
        Format::Docker,
    )
    .await
    .unwrap();
    let client = client_for(&[&addr], |_| {});
    let app = repo(&addr, "private/app");

    // Right credentials, from a secret keyed by URL as `kubectl create secret docker-registry` writes it.
    let keyring = Keyring::from_credentials(
        &secret_for(&format!("http://{addr}"), "alice", "s3cret"),
        "secret flux/regcred",
    );
    let creds = keyring.lookup(&app);
    assert_eq!(creds.len(), 1);
    assert_eq!(client.tags(&app, &creds).await.unwrap(), ["2.0"]);
    let f = client.image(&app, "2.0", &creds).await.unwrap();
    assert_eq!(created(&f), "2024-05-01T12:00:00+00:00");

    // Wrong password: a clear error naming the user and the secret, never the password.
    let bad = Keyring::from_credentials(&secret_for(&addr, "alice", "wrong-pw"), "secret flux/old");
    let e = client.tags(&app, &bad.lookup(&app)).await.unwrap_err();
    let text = e.to_string();
    assert!(matches!(e, ClientError::Unauthorized { .. }), "{text}");
    assert!(
        text.contains("alice") && text.contains("secret flux/old"),
        "{text}"
    );
    assert!(!text.contains("wrong-pw"), "{text}");

    // No credentials at all.
    let e = client.tags(&app, &[]).await.unwrap_err();
    assert!(matches!(e, ClientError::NoCredentials { .. }), "{e}");
    assert!(e.to_string().contains("no credentials match"), "{e}");

    // Several candidates: a stale one first, then the good one; kubelet tries each in turn.
    let mut both = Keyring::new();
    both.add(&secret_for(&addr, "alice", "wrong-pw"), "pod secret");
    both.add(&secret_for(&addr, "alice", "s3cret"), "--docker-config");
    assert_eq!(
        client.tags(&app, &both.lookup(&app)).await.unwrap(),
        ["2.0"]
    );

    let _ = RegistryAuth::default();
}

#[test]
fn unusable_settings_are_refused_by_name() {
    use std::sync::Arc;

    use flux_registry::limit::RateOptions;
    use flux_registry::{ClientOptions, Metrics, RegistryClient};

    let build = |tweak: &dyn Fn(&mut ClientOptions)| {
        let mut options = ClientOptions::default();
        tweak(&mut options);
        RegistryClient::new(options, Arc::new(Metrics::default())).map(|_| ())
    };
    for rps in [0.0, -5.0, f64::NAN, f64::INFINITY] {
        let err = build(&|o| {
            o.rate = RateOptions {
                rps,
                ..RateOptions::default()
            }
        })
        .unwrap_err();
        assert!(
            matches!(err, ClientError::InvalidOption { .. }),
            "{rps}: {err}"
        );
        assert!(err.to_string().contains("--registry-rps"), "{err}");
    }
    let err = build(&|o| o.page_size = 0).unwrap_err();
    assert!(err.to_string().contains("page size"), "{err}");
    build(&|o| o.rate.rps = 0.5).unwrap();
}
