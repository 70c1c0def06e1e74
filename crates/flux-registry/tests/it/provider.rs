//! Platform credential providers against local stand-ins for their
//! platforms' endpoints (there is no GCE, AWS or AKS here), and off-platform.

use std::sync::{Arc, Mutex};

use axum::http::HeaderMap;
use base64::Engine as _;
use flux_registry::provider::{Acr, CredentialProvider, Ecr, Gcp, aws::AwsKeys};

async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    addr
}

#[tokio::test]
async fn gcp_token_from_the_metadata_server_is_cached() {
    let calls = Arc::new(Mutex::new(Vec::<HeaderMap>::new()));
    let seen = calls.clone();
    let app = axum::Router::new().route(
        "/token",
        axum::routing::get(move |h: HeaderMap| {
            seen.lock().unwrap().push(h);
            async { r#"{"access_token":"ya29.tok","expires_in":3599,"token_type":"Bearer"}"# }
        }),
    );
    let addr = serve(app).await;
    let gcp = Gcp::with_token_url(&format!("http://{addr}/token"));
    assert!(
        gcp.handles("gcr.io") && gcp.handles("eu.gcr.io") && gcp.handles("europe-docker.pkg.dev")
    );
    assert!(!gcp.handles("quay.io") && !gcp.handles("evilgcr.io"));
    for _ in 0..3 {
        let auth = gcp.credentials("eu.gcr.io").await.unwrap();
        assert_eq!(
            (auth.username.as_str(), auth.password.as_str()),
            ("oauth2accesstoken", "ya29.tok")
        );
    }
    let calls = calls.lock().unwrap();
    assert_eq!(calls.len(), 1, "cached until it expires");
    assert_eq!(calls[0]["metadata-flavor"], "Google");
}

#[tokio::test]
async fn off_platform_providers_give_no_credentials_and_stay_quiet() {
    let dead = flux_testbed::registry::dead_addr().unwrap();
    let gcp = Gcp::with_token_url(&format!("http://{dead}/token"));
    assert_eq!(gcp.credentials("gcr.io").await, None);
    assert_eq!(
        gcp.credentials("gcr.io").await,
        None,
        "remembered, not asked again"
    );
    let acr = Acr::with_config("/nonexistent/azure.json");
    assert_eq!(acr.credentials("x.azurecr.io").await, None);
    let ecr = Ecr::new(None, None);
    assert_eq!(
        ecr.credentials("123456789012.dkr.ecr.eu-west-1.amazonaws.com")
            .await,
        None
    );
}

#[tokio::test]
async fn acr_reads_the_aks_cloud_config() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("azure.json");
    std::fs::write(
        &path,
        r#"{"cloud":"AzurePublicCloud","aadClientId":"app-id","aadClientSecret":"s"}"#,
    )
    .unwrap();
    let acr = Acr::with_config(&path);
    assert!(
        acr.handles("team.azurecr.io")
            && acr.handles("team.azurecr.cn")
            && !acr.handles("azurecr.io.evil.com")
    );
    let auth = acr.credentials("team.azurecr.io").await.unwrap();
    assert_eq!(
        (auth.username.as_str(), auth.password.as_str()),
        ("app-id", "s")
    );
    // A cloud config padded past a megabyte is not read.
    let big = dir.path().join("big.json");
    std::fs::write(
        &big,
        format!(
            r#"{}{{"aadClientId":"app-id","aadClientSecret":"s"}}"#,
            " ".repeat(2 << 20)
        ),
    )
    .unwrap();
    assert_eq!(
        Acr::with_config(&big).credentials("team.azurecr.io").await,
        None
    );
}

#[tokio::test]
async fn ecr_token_from_a_signed_get_authorization_token() {
    let seen = Arc::new(Mutex::new(None::<(HeaderMap, String)>));
    let record = seen.clone();
    let app = axum::Router::new().route(
        "/",
        axum::routing::post(move |h: HeaderMap, body: String| {
            *record.lock().unwrap() = Some((h, body));
            async {
                let token = base64::engine::general_purpose::STANDARD.encode("AWS:ecr-password");
                format!(r#"{{"authorizationData":[{{"authorizationToken":"{token}","expiresAt":4102444800.0,"proxyEndpoint":"https://x"}}]}}"#)
            }
        }),
    );
    let addr = serve(app).await;
    let keys = AwsKeys {
        access_key: "AKIDEXAMPLE".into(),
        secret_key: "secret".into(),
        session_token: Some("session".into()),
    };
    let ecr = Ecr::new(Some(keys), Some(format!("http://{addr}/")));
    let host = "123456789012.dkr.ecr.eu-west-1.amazonaws.com";
    let auth = ecr.credentials(host).await.unwrap();
    assert_eq!(
        (auth.username.as_str(), auth.password.as_str()),
        ("AWS", "ecr-password")
    );
    let (headers, body) = seen.lock().unwrap().clone().unwrap();
    assert_eq!(body, r#"{"registryIds":["123456789012"]}"#);
    assert_eq!(
        headers["x-amz-target"],
        "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken"
    );
    assert_eq!(headers["x-amz-security-token"], "session");
    let authz = headers["authorization"].to_str().unwrap();
    assert!(
        authz.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"),
        "{authz}"
    );
    assert!(authz.contains("/eu-west-1/ecr/aws4_request"), "{authz}");
    assert!(
        authz.contains(
            "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target"
        ),
        "{authz}"
    );
}

#[tokio::test]
async fn ecr_with_the_instance_role_from_imdsv2() {
    use axum::routing::{get, post, put};
    let imds = axum::Router::new()
        .route(
            "/latest/api/token",
            put(|h: HeaderMap| async move {
                assert_eq!(h["x-aws-ec2-metadata-token-ttl-seconds"], "21600");
                "imds-session"
            }),
        )
        .route(
            "/latest/meta-data/iam/security-credentials/",
            get(|h: HeaderMap| async move {
                assert_eq!(h["x-aws-ec2-metadata-token"], "imds-session");
                "node-role\n"
            }),
        )
        .route(
            "/latest/meta-data/iam/security-credentials/node-role",
            get(|| async {
                r#"{"Code":"Success","AccessKeyId":"ASIAROLE","SecretAccessKey":"rolesecret","Token":"roletoken","Expiration":"2099-01-01T00:00:00Z"}"#
            }),
        );
    let imds_addr = serve(imds).await;
    let seen = Arc::new(Mutex::new(None::<HeaderMap>));
    let record = seen.clone();
    let ecr_api = axum::Router::new().route(
        "/",
        post(move |h: HeaderMap| {
            *record.lock().expect("lock") = Some(h);
            async {
                let token = base64::engine::general_purpose::STANDARD.encode("AWS:from-role");
                format!(r#"{{"authorizationData":[{{"authorizationToken":"{token}"}}]}}"#)
            }
        }),
    );
    let ecr_addr = serve(ecr_api).await;
    let ecr = Ecr::new(None, Some(format!("http://{ecr_addr}/")))
        .with_instance_metadata(&format!("http://{imds_addr}"));
    let auth = ecr
        .credentials("123456789012.dkr.ecr.us-west-2.amazonaws.com")
        .await
        .unwrap();
    assert_eq!(auth.password, "from-role");
    let headers = seen.lock().unwrap().clone().unwrap();
    assert_eq!(headers["x-amz-security-token"], "roletoken");
    assert!(
        headers["authorization"]
            .to_str()
            .unwrap()
            .contains("Credential=ASIAROLE/")
    );
}
