//! Bearer-token authentication against a real docker-registry configured
//! for token auth, with a token service in the test that signs ES256 JWTs
//! (key and certificate made by `openssl`).

use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use base64::Engine as _;
use flux_core::registry::Credentials;
use flux_registry::client::ClientError;
use flux_registry::metrics::RequestKind;
use flux_registry::{Fetched, Keyring};
use flux_testbed::registry::PushAuth;
use flux_testbed::registry::{Format, Pusher, Registry, RegistryOptions, TestImage, TokenAuth};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};

use crate::support::{client_for, repo};

pub(crate) const SERVICE: &str = "flux-test-registry";
pub(crate) const ISSUER: &str = "flux-test-issuer";

pub(crate) struct Signer {
    key: EcdsaKeyPair,
    cert_der: Vec<u8>,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl (Debian package openssl)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub(crate) fn make_signer(dir: &Path) -> Signer {
    openssl(
        dir,
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            "key.pem",
        ],
    );
    openssl(
        dir,
        &[
            "pkcs8", "-topk8", "-nocrypt", "-in", "key.pem", "-outform", "DER", "-out", "key.p8",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-new",
            "-key",
            "key.pem",
            "-subj",
            "/CN=flux-token",
            "-days",
            "2",
            "-out",
            "cert.pem",
        ],
    );
    openssl(
        dir,
        &[
            "x509", "-in", "cert.pem", "-outform", "DER", "-out", "cert.der",
        ],
    );
    let pkcs8 = std::fs::read(dir.join("key.p8")).expect("key");
    let key = EcdsaKeyPair::from_pkcs8(
        &ECDSA_P256_SHA256_FIXED_SIGNING,
        &pkcs8,
        &SystemRandom::new(),
    )
    .expect("key");
    Signer {
        key,
        cert_der: std::fs::read(dir.join("cert.der")).expect("cert"),
    }
}

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

impl Signer {
    pub(crate) fn token(&self, subject: &str, repository: &str, actions: &[&str]) -> String {
        let header = serde_json::json!({
            "alg": "ES256", "typ": "JWT",
            "x5c": [base64::engine::general_purpose::STANDARD.encode(&self.cert_der)],
        });
        let now = chrono::Utc::now().timestamp();
        let access: Vec<serde_json::Value> = if actions.is_empty() {
            Vec::new()
        } else {
            vec![serde_json::json!({"type": "repository", "name": repository, "actions": actions})]
        };
        let claims = serde_json::json!({
            "iss": ISSUER, "sub": subject, "aud": SERVICE,
            "exp": now + 300, "nbf": now - 10, "iat": now, "jti": format!("{now}-{subject}-{repository}"),
            "access": access,
        });
        let input = format!(
            "{}.{}",
            b64url(header.to_string().as_bytes()),
            b64url(claims.to_string().as_bytes())
        );
        let sig = self
            .key
            .sign(&SystemRandom::new(), input.as_bytes())
            .expect("sign");
        format!("{input}.{}", b64url(sig.as_ref()))
    }
}

pub(crate) struct TokenService {
    pub(crate) signer: Signer,
    pub(crate) requests: Mutex<Vec<(Option<String>, String)>>,
}

pub(crate) async fn issue(
    State(st): State<Arc<TokenService>>,
    headers: HeaderMap,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> (StatusCode, String) {
    let scope = q.get("scope").cloned().unwrap_or_default();
    let user = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok());
    st.requests
        .lock()
        .expect("lock")
        .push((user.clone(), scope.clone()));
    // scope = repository:NAME:pull
    let name = scope.split(':').nth(1).unwrap_or_default().to_owned();
    let (subject, actions): (&str, &[&str]) = match user.as_deref() {
        Some("alice:s3cret") => ("alice", &["pull"]),
        Some(_) => {
            return (
                StatusCode::UNAUTHORIZED,
                r#"{"details":"bad credentials"}"#.into(),
            );
        }
        // Anonymous: only public/ repositories.
        None if name.starts_with("public/") => ("", &["pull"]),
        None => ("", &[]),
    };
    let token = st.signer.token(subject, &name, actions);
    (
        StatusCode::OK,
        format!(r#"{{"token":"{token}","expires_in":300}}"#),
    )
}

pub(crate) fn secret(host: &str, user: &str, password: &str) -> Credentials {
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    Credentials::from_dockerconfigjson(
        format!(r#"{{"auths":{{"{host}":{{"auth":"{auth}"}}}}}}"#).as_bytes(),
    )
    .expect("secret")
}

#[tokio::test]
async fn bearer_tokens_from_the_registrys_token_service() {
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
    let registry = Registry::start_with(RegistryOptions {
        token: Some(TokenAuth {
            realm: format!("http://{token_addr}/token"),
            service: SERVICE.into(),
            issuer: ISSUER.into(),
            root_cert_bundle: dir.path().join("cert.pem"),
        }),
        ..RegistryOptions::default()
    })
    .unwrap();
    let addr = registry.addr().to_owned();
    for path in ["team/app", "public/tool"] {
        let push = Pusher::with_auth(
            &addr,
            PushAuth::Bearer(service.signer.token("ci", path, &["pull", "push"])),
        );
        push.push_image(
            path,
            "1.0",
            &TestImage::created("2024-07-01T00:00:00Z"),
            Format::Oci,
        )
        .await
        .unwrap();
    }

    let app = repo(&addr, "team/app");
    let creds = Keyring::from_credentials(&secret(&addr, "alice", "s3cret"), "secret flux/regcred")
        .lookup(&app);
    // The token service is plain HTTP on another port: credentials go
    // there only when its host is named insecure too.
    let strict = client_for(&[&addr], |_| {});
    let e = strict.tags(&app, &creds).await.unwrap_err();
    assert!(e.to_string().contains("plain HTTP"), "{e}");
    assert!(
        service.requests.lock().unwrap().is_empty(),
        "nothing was sent"
    );
    let token_host = token_addr.to_string();
    let client = client_for(&[&addr, &token_host], |_| {});
    assert_eq!(client.tags(&app, &creds).await.unwrap(), ["1.0"]);
    let f = client.image(&app, "1.0", &creds).await.unwrap();
    assert!(
        matches!(f, Fetched::Image(ref i) if i.created.is_some()),
        "{f:?}"
    );
    // One token for the repository, reused for the tag list, manifest and config.
    assert_eq!(client.metrics().requests_of(RequestKind::Token), 1);
    let asked = service.requests.lock().unwrap().clone();
    assert_eq!(
        asked,
        vec![(
            Some("alice:s3cret".to_owned()),
            "repository:team/app:pull".to_owned()
        )]
    );

    // Anonymous pulls work where the token service allows them.
    let public = repo(&addr, "public/tool");
    assert_eq!(client.tags(&public, &[]).await.unwrap(), ["1.0"]);
    // And fail clearly where it does not.
    let e = client.tags(&app, &[]).await.unwrap_err();
    assert!(matches!(e, ClientError::NoCredentials { .. }), "{e}");

    // Wrong password: the token service refuses, and the error says whose.
    let other = client_for(&[&addr, &token_host], |_| {});
    let bad =
        Keyring::from_credentials(&secret(&addr, "alice", "nope"), "secret flux/old").lookup(&app);
    let e = other.tags(&app, &bad).await.unwrap_err();
    assert!(matches!(e, ClientError::Unauthorized { .. }), "{e}");
    assert!(
        e.to_string().contains("secret flux/old") && !e.to_string().contains("nope"),
        "{e}"
    );
}
