//! The deploy key Secret against the API emulator: replicas starting
//! together on an absent or empty Secret (the deploy manifests create it
//! empty) each generate a key, and all end up using the one stored first.

use std::sync::Arc;

use flux_daemon::deploykey::{Identity, KeyOrigin};
use flux_daemon::secret::{KubeSecret, SecretStore};
use flux_git::KeySpec;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_starting_on_an_absent_secret_share_the_first_key_stored() {
    let (_server, client) = emulator().await;
    replicas_share_one_key(&client).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_starting_on_an_empty_secret_share_the_first_key_stored() {
    let (_server, client) = emulator().await;
    let empty = k8s_openapi::api::core::v1::Secret {
        metadata: kube::api::ObjectMeta {
            name: Some("flux-git-deploy".into()),
            ..Default::default()
        },
        type_: Some("Opaque".into()),
        ..Default::default()
    };
    kube::Api::<k8s_openapi::api::core::v1::Secret>::namespaced(client.clone(), "default")
        .create(&Default::default(), &empty)
        .await
        .expect("empty secret");
    replicas_share_one_key(&client).await;
}

/// A running emulator (kept alive by the caller) and a client for it.
async fn emulator() -> (kube_emulator::Server, kube::Client) {
    let server = kube_emulator::Emulator::new()
        .start()
        .await
        .expect("emulator");
    let cfg = kube::Config::new(server.url().parse().expect("url"));
    let client = kube::Client::try_from(cfg).expect("client");
    (server, client)
}

async fn replicas_share_one_key(client: &kube::Client) {
    let dir = tempfile::tempdir().expect("dir");
    let mount = dir.path().join("mount");

    let setups = (0..4).map(|i| {
        let secret: Arc<dyn SecretStore> = Arc::new(KubeSecret::new(
            client.clone(),
            "default",
            "flux-git-deploy",
        ));
        let mount = mount.clone();
        let work = dir.path().join(format!("replica-{i}"));
        tokio::spawn(async move {
            Identity::setup(&mount, "identity", Some(secret), &work, KeySpec::default()).await
        })
    });
    let mut identities = Vec::new();
    for setup in setups.collect::<Vec<_>>() {
        identities.push(setup.await.expect("task").expect("setup"));
    }
    let keys: Vec<String> = identities.iter().map(Identity::public_key).collect();
    assert!(
        keys.iter().all(|k| *k == keys[0]),
        "replicas use different keys: {keys:#?}"
    );
    let generated = identities
        .iter()
        .filter(|i| i.origin() == KeyOrigin::Generated)
        .count();
    assert_eq!(generated, 1, "exactly one replica's key was stored");

    // What the Secret holds is that key, and a replica starting later reads it.
    let later = Identity::setup(
        &mount,
        "identity",
        Some(Arc::new(KubeSecret::new(
            client.clone(),
            "default",
            "flux-git-deploy",
        ))),
        &dir.path().join("later"),
        KeySpec::default(),
    )
    .await
    .expect("setup");
    assert_eq!(later.origin(), KeyOrigin::Secret);
    assert_eq!(later.public_key(), keys[0]);
}
