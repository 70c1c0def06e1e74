//! The providers against hostile stand-ins for their platforms' endpoints:
//! huge answers, long error bodies, lifetimes far in the future or
//! nonsensical, and an endpoint that never answers.

use std::time::Duration;

use axum::http::StatusCode;
use axum::routing::{get, post, put};
use base64::Engine as _;

use super::aws::AwsKeys;
use super::imds::Imds;
use super::{CredentialProvider, Ecr, Gcp, MAX_LIFE};

async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    addr
}

fn keys() -> AwsKeys {
    AwsKeys {
        access_key: "AKID".into(),
        secret_key: "secret".into(),
        session_token: None,
    }
}

const ECR_HOST: &str = "123456789012.dkr.ecr.eu-west-1.amazonaws.com";

/// 8 MiB of JSON whitespace before a valid answer.
fn padded(json: &str) -> String {
    format!("{}{json}", " ".repeat(8 << 20))
}

fn ecr_answer(expires_at: &str) -> String {
    let token = base64::engine::general_purpose::STANDARD.encode("AWS:pw");
    format!(
        r#"{{"authorizationData":[{{"authorizationToken":"{token}","expiresAt":{expires_at}}}]}}"#
    )
}

#[tokio::test]
async fn ecr_error_bodies_are_cut_and_answers_are_bounded() {
    let app = axum::Router::new()
        .route(
            "/fail",
            post(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "x\n".repeat(4 << 20)) }),
        )
        .route("/huge", post(|| async { padded(&ecr_answer("0")) }));
    let addr = serve(app).await;
    let ecr = Ecr::new(Some(keys()), Some(format!("http://{addr}/fail")));
    let err = ecr.fetch("123456789012", "eu-west-1").await.unwrap_err();
    assert!(err.contains("500"), "{err}");
    assert!(
        err.len() < 1024 && !err.contains('\n'),
        "{} bytes",
        err.len()
    );

    let ecr = Ecr::new(Some(keys()), Some(format!("http://{addr}/huge")));
    let err = ecr.fetch("123456789012", "eu-west-1").await.unwrap_err();
    assert!(err.contains("larger than"), "{err}");
}

#[tokio::test]
async fn ecr_expiry_far_away_or_nonsense_does_not_panic() {
    for expires_at in ["1e300", "1.8e19", "-1e300", "0", "4102444800.5", "1e-300"] {
        let body = ecr_answer(expires_at);
        let app = axum::Router::new().route("/", post(move || async move { body }));
        let addr = serve(app).await;
        let ecr = Ecr::new(Some(keys()), Some(format!("http://{addr}/")));
        let (auth, life) = ecr
            .fetch("123456789012", "eu-west-1")
            .await
            .unwrap_or_else(|e| panic!("{expires_at}: {e}"));
        assert_eq!(auth.password, "pw");
        assert!(life <= MAX_LIFE, "{expires_at}: {life:?}");
        // And remembering it (an Instant plus the life) does not overflow.
        assert!(ecr.credentials(ECR_HOST).await.is_some(), "{expires_at}");
    }
}

#[tokio::test]
async fn gcp_huge_lifetimes_and_answers() {
    let app = axum::Router::new()
        .route(
            "/forever",
            get(|| async { r#"{"access_token":"t","expires_in":18446744073709551615}"# }),
        )
        .route(
            "/huge",
            get(|| async { padded(r#"{"access_token":"t","expires_in":60}"#) }),
        )
        .route(
            "/fail",
            get(|| async { (StatusCode::FORBIDDEN, "no\n".repeat(1 << 20)) }),
        );
    let addr = serve(app).await;
    let gcp = Gcp::with_token_url(&format!("http://{addr}/forever"));
    let (token, life) = gcp.fetch().await.unwrap();
    assert_eq!(token, "t");
    assert!(life <= MAX_LIFE, "{life:?}");
    assert!(gcp.credentials("gcr.io").await.is_some());

    let gcp = Gcp::with_token_url(&format!("http://{addr}/huge"));
    let err = gcp.fetch().await.unwrap_err();
    assert!(err.contains("larger than"), "{err}");

    let gcp = Gcp::with_token_url(&format!("http://{addr}/fail"));
    let err = gcp.fetch().await.unwrap_err();
    assert!(err.contains("403") && err.len() < 1024, "{err}");
}

#[tokio::test]
async fn a_metadata_server_that_never_answers_times_out() {
    let app = axum::Router::new().route(
        "/token",
        get(|| async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            "never"
        }),
    );
    let addr = serve(app).await;
    let gcp = Gcp::with_token_url(&format!("http://{addr}/token"));
    let err = gcp.fetch().await.unwrap_err();
    assert!(
        err.contains("unreachable") || err.contains("timed out"),
        "{err}"
    );
}

#[tokio::test]
async fn imds_far_future_expiration_and_huge_answers() {
    let creds = r#"{"AccessKeyId":"A","SecretAccessKey":"S","Token":"T","Expiration":"9999-12-31T23:59:59Z"}"#;
    let app = axum::Router::new()
        .route("/ok/latest/api/token", put(|| async { "session" }))
        .route(
            "/ok/latest/meta-data/iam/security-credentials/",
            get(|| async { "role" }),
        )
        .route(
            "/ok/latest/meta-data/iam/security-credentials/role",
            get(move || async move { creds }),
        )
        .route("/huge/latest/api/token", put(|| async { "session" }))
        .route(
            "/huge/latest/meta-data/iam/security-credentials/",
            get(|| async { padded("role") }),
        );
    let addr = serve(app).await;
    let imds = Imds::new(&format!("http://{addr}/ok"));
    let (keys, life) = imds.fetch().await.unwrap();
    assert_eq!(keys.access_key, "A");
    assert!(life <= MAX_LIFE, "{life:?}");
    assert_eq!(imds.keys().await.unwrap().secret_key, "S");

    let imds = Imds::new(&format!("http://{addr}/huge"));
    let err = imds.fetch().await.unwrap_err();
    assert!(err.contains("larger than"), "{err}");
}

mod properties {
    //! Arbitrary answers to every platform endpoint's parser: no panic, and
    //! lifetimes within [`MAX_LIFE`].

    use proptest::prelude::*;

    use super::super::MAX_LIFE;
    use super::super::aws::{parse_answer, parse_ecr_host};
    use super::super::gcp::parse_token;
    use super::super::imds::parse_credentials;

    fn number() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<f64>().prop_map(|n| format!("{n:e}")),
            any::<i64>().prop_map(|n| n.to_string()),
            any::<u64>().prop_map(|n| n.to_string()),
            Just("1e308".to_owned()),
            Just("-0".to_owned()),
            Just("null".to_owned()),
            Just("\"soon\"".to_owned()),
        ]
    }

    fn when() -> impl Strategy<Value = chrono::DateTime<chrono::Utc>> {
        (-62_000_000_000i64..253_000_000_000i64)
            .prop_map(|s| chrono::DateTime::from_timestamp(s, 0).unwrap_or_default())
    }

    proptest! {
        #[test]
        fn ecr_answers(
            body in prop_oneof![
                prop::collection::vec(any::<u8>(), 0..300),
                ("[A-Za-z0-9+/=]{0,40}", number()).prop_map(|(t, n)| format!(
                    r#"{{"authorizationData":[{{"authorizationToken":"{t}","expiresAt":{n}}}]}}"#
                ).into_bytes()),
            ],
            now in when(),
        ) {
            if let Ok((auth, life)) = parse_answer(&body, now) {
                prop_assert!(life <= MAX_LIFE);
                prop_assert!(auth.username.len() + auth.password.len() <= body.len());
            }
        }

        #[test]
        fn gcp_answers(body in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..300),
            (".{0,20}", number()).prop_map(|(t, n)| format!(
                r#"{{"access_token":{t:?},"expires_in":{n}}}"#
            ).into_bytes()),
        ]) {
            if let Ok((token, life)) = parse_token(&body) {
                prop_assert!(life <= MAX_LIFE && token.len() <= body.len());
            }
        }

        #[test]
        fn imds_answers(
            body in prop_oneof![
                ".{0,300}",
                ("[+-]?[0-9]{1,6}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})")
                    .prop_map(|e| format!(
                        r#"{{"AccessKeyId":"A","SecretAccessKey":"S","Expiration":"{e}"}}"#
                    )),
            ],
            now in when(),
        ) {
            if let Ok((_, life)) = parse_credentials(&body, now) {
                prop_assert!(life <= MAX_LIFE);
            }
        }

        #[test]
        fn parse_errors_quote_little_of_the_answer(long in "[a-z]{2000,4000}") {
            let now = chrono::Utc::now();
            for body in [
                format!(r#"{{"authorizationData":[{{"authorizationToken":1,"expiresAt":"{long}"}}]}}"#),
                format!(r#"{{"authorizationData":"{long}"}}"#),
            ] {
                let e = parse_answer(body.as_bytes(), now).expect_err("not an answer");
                prop_assert!(e.len() < 1024, "{} bytes", e.len());
            }
            let e = parse_token(format!(r#"{{"access_token":1,"expires_in":"{long}"}}"#).as_bytes())
                .expect_err("not a token");
            prop_assert!(e.len() < 1024, "{} bytes", e.len());
            let e = parse_credentials(&format!(r#"{{"AccessKeyId":"{long}","Expiration":"{long}"}}"#), now)
                .expect_err("not credentials");
            prop_assert!(e.len() < 1024, "{} bytes", e.len());
        }

        #[test]
        fn ecr_host_names(host in ".{0,80}") {
            if let Some((account, region)) = parse_ecr_host(&host) {
                prop_assert!(account.len() + region.len() <= host.len());
            }
        }
    }
}
