//! The client against docker-registry serving HTTPS with a certificate from
//! a throw-away CA: certificates are checked, a CA that is not trusted is
//! refused with a clear error, and credentials never go to a token service
//! over plain HTTP.
//!
//! fluxd trusts a private registry's CA the way it trusts a private git
//! host's: through the system store, or the file `SSL_CERT_FILE` names
//! (rustls' platform verifier reads it). A process's environment cannot be
//! changed safely from inside a test, so the client side of each trusted
//! case runs in a child process of this test binary with `SSL_CERT_FILE`
//! set; the servers run here.

use std::path::Path;
use std::sync::{Arc, Mutex};

use flux_registry::client::ClientError;
use flux_registry::{Fetched, Keyring};
use flux_testbed::registry::{
    Format, PushAuth, Pusher, Registry, RegistryOptions, TestImage, TokenAuth,
};
use flux_testbed::tls::TestCa;

use crate::client_auth::{ISSUER, SERVICE, TokenService, issue, make_signer, secret};
use crate::support::{client_for, repo};

/// Names the child's job: a JSON object with `mode` and `addr`.
const CHILD: &str = "FLUX_REGISTRY_TEST_TLS_CHILD";

/// Not a test on its own: the trusted client side of the tests below, run
/// in a child process whose `SSL_CERT_FILE` names the CA.
#[tokio::test]
async fn tls_child() {
    let Ok(spec) = std::env::var(CHILD) else {
        return;
    };
    let spec: serde_json::Value = serde_json::from_str(&spec).unwrap();
    let addr = spec["addr"].as_str().unwrap();
    // No insecure hosts: everything goes over https.
    let client = client_for(&[], |_| {});
    let app = repo(addr, "team/app");
    let alice = Keyring::from_credentials(&secret(addr, "alice", "s3cret"), "secret flux/regcred")
        .lookup(&app);
    match spec["mode"].as_str().unwrap() {
        "basic" => {
            assert_eq!(client.tags(&app, &alice).await.unwrap(), ["1.0"]);
            let f = client.image(&app, "1.0", &alice).await.unwrap();
            assert!(
                matches!(&f, Fetched::Image(i) if i.created.is_some()),
                "{f:?}"
            );
            let e = client.tags(&app, &[]).await.unwrap_err();
            assert!(matches!(e, ClientError::NoCredentials { .. }), "{e}");
        }
        "untrusted" => {
            let e = client.tags(&app, &alice).await.unwrap_err();
            assert_untrusted(&e);
        }
        "token" => {
            // An https registry whose token service is plain HTTP: the
            // credentials are not sent there, and the error says why.
            let e = client.tags(&app, &alice).await.unwrap_err();
            let text = e.to_string();
            assert!(
                text.contains("plain HTTP") && text.contains("alice"),
                "{text}"
            );
            assert!(!text.contains("s3cret"), "{text}");
            // Anonymous pulls send nothing to protect: they go ahead.
            let public = repo(addr, "public/tool");
            assert_eq!(client.tags(&public, &[]).await.unwrap(), ["1.0"]);
        }
        other => panic!("no mode {other}"),
    }
}

fn assert_untrusted(e: &ClientError) {
    let text = e.to_string();
    assert!(matches!(e, ClientError::Transport { .. }), "{text}");
    // The reason is in the message itself, not only deep in its sources.
    assert!(
        text.contains("certificate") && text.contains("UnknownIssuer"),
        "{text}"
    );
}

/// Runs [`tls_child`] with `SSL_CERT_FILE=ca`.
async fn child(mode: &str, addr: &str, ca: &Path) {
    let spec = serde_json::json!({"mode": mode, "addr": addr}).to_string();
    let out = tokio::process::Command::new(std::env::current_exe().expect("test binary"))
        .args(["client_tls::tls_child", "--exact", "--nocapture"])
        .env(CHILD, spec)
        .env("SSL_CERT_FILE", ca)
        .output()
        .await
        .expect("run the child");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{mode}: {said}");
    assert!(said.contains("1 passed"), "{mode}: the child ran: {said}");
}

#[tokio::test]
async fn https_registry_with_a_private_ca() {
    let ca = TestCa::new().unwrap();
    let registry = Registry::start_with(RegistryOptions {
        htpasswd: Some(("alice".into(), "s3cret".into())),
        tls: Some((ca.server_cert(), ca.server_key())),
        ..RegistryOptions::default()
    })
    .unwrap();
    let addr = registry.addr().to_owned();
    Pusher::with_tls(
        &addr,
        &ca.ca_file(),
        PushAuth::Basic("alice".into(), "s3cret".into()),
    )
    .unwrap()
    .push_image(
        "team/app",
        "1.0",
        &TestImage::created("2024-06-01T00:00:00Z"),
        Format::Oci,
    )
    .await
    .unwrap();

    // Not trusted here (the system store does not hold the test CA): a
    // clear error, and no credentials were sent (the handshake failed
    // before any request).
    let client = client_for(&[], |_| {});
    let app = repo(&addr, "team/app");
    let alice = Keyring::from_credentials(&secret(&addr, "alice", "s3cret"), "secret flux/regcred")
        .lookup(&app);
    assert_untrusted(&client.tags(&app, &alice).await.unwrap_err());
    // Another CA is no better.
    let stranger = TestCa::new().unwrap();
    child("untrusted", &addr, &stranger.ca_file()).await;
    // Trusting the CA: tag lists, manifests and configs over https, with
    // basic credentials.
    child("basic", &addr, &ca.ca_file()).await;
}

#[tokio::test]
async fn credentials_never_go_to_a_plain_http_token_service() {
    let dir = tempfile::tempdir().unwrap();
    let service = Arc::new(TokenService {
        signer: make_signer(dir.path()),
        requests: Mutex::new(Vec::new()),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let token_addr = listener.local_addr().unwrap();
    let app = axum::Router::new()
        .route("/token", axum::routing::get(issue))
        .with_state(service.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    let ca = TestCa::new().unwrap();
    let registry = Registry::start_with(RegistryOptions {
        token: Some(TokenAuth {
            realm: format!("http://{token_addr}/token"),
            service: SERVICE.into(),
            issuer: ISSUER.into(),
            root_cert_bundle: dir.path().join("cert.pem"),
        }),
        tls: Some((ca.server_cert(), ca.server_key())),
        ..RegistryOptions::default()
    })
    .unwrap();
    let addr = registry.addr().to_owned();
    for path in ["team/app", "public/tool"] {
        let push = Pusher::with_tls(
            &addr,
            &ca.ca_file(),
            PushAuth::Bearer(service.signer.token("ci", path, &["pull", "push"])),
        )
        .unwrap();
        push.push_image(
            path,
            "1.0",
            &TestImage::created("2024-07-01T00:00:00Z"),
            Format::Oci,
        )
        .await
        .unwrap();
    }

    child("token", &addr, &ca.ca_file()).await;
    let asked = service.requests.lock().unwrap().clone();
    assert!(
        !asked.is_empty(),
        "the anonymous pull asked the token service"
    );
    assert!(
        asked.iter().all(|(user, _)| user.is_none()),
        "no credentials reached the plain-HTTP token service: {asked:?}"
    );
}
