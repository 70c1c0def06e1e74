//! Waiting for jobs and syncs against a real server that answers "not yet"
//! a few times.

use std::time::Duration;

use flux_api::client::{Backoff, Client, ClientOptions, Error};
use flux_api::job::Id;

use crate::server::{Canned, TestServer};

const FAST: Backoff = Backoff {
    initial: Duration::from_millis(10),
    max: Duration::from_millis(40),
};

const QUEUED: &str = r#"{"Result":{},"Err":"","StatusString":"queued"}"#;
const RUNNING: &str = r#"{"Result":{},"Err":"","StatusString":"running"}"#;

#[tokio::test]
async fn a_job_is_polled_until_it_succeeds() {
    let done = r#"{"Result":{"revision":"abc"},"Err":"","StatusString":"succeeded"}"#;
    let server = TestServer::start(vec![
        Canned::json(200, QUEUED),
        Canned::json(200, RUNNING),
        Canned::json(200, done),
    ])
    .await;
    let client = Client::new(&server.base_url(), ClientOptions::default()).expect("client");
    let result = client
        .await_job_with(&Id::from("j1"), Duration::from_secs(30), FAST)
        .await
        .expect("succeeds");
    assert_eq!(result.revision, "abc");
    let requests = server.requests();
    assert_eq!(requests.len(), 3);
    assert!(requests.iter().all(|r| r.query.as_deref() == Some("id=j1")));
    server.stop().await;
}

#[tokio::test]
async fn a_failed_job_is_an_error_with_its_result() {
    let failed = r#"{"Result":{"result":{"default:deployment/web":{"Status":"failed","Error":"no such container","PerContainer":null}}},"Err":"one workload failed","StatusString":"failed"}"#;
    let server =
        TestServer::start(vec![Canned::json(200, QUEUED), Canned::json(200, failed)]).await;
    let client = Client::new(&server.base_url(), ClientOptions::default()).expect("client");
    let err = client
        .await_job_with(&Id::from("j2"), Duration::from_secs(30), FAST)
        .await
        .expect_err("fails");
    let Error::JobFailed { id, error, result } = &err else {
        panic!("a job failure: {err:?}")
    };
    assert_eq!((id.as_str(), error.as_str()), ("j2", "one workload failed"));
    assert_eq!(
        result.result.error().as_deref(),
        Some("default:deployment/web failed: no such container")
    );
    server.stop().await;

    // Succeeded but with an error: a failure too, as in Flux v1.
    let odd = r#"{"Result":{},"Err":"half done","StatusString":"succeeded"}"#;
    let server = TestServer::start(vec![Canned::json(200, odd)]).await;
    let client = Client::new(&server.base_url(), ClientOptions::default()).expect("client");
    let err = client
        .await_job_with(&Id::from("j3"), Duration::from_secs(30), FAST)
        .await
        .expect_err("fails");
    assert!(err.to_string().contains("half done"), "{err}");
    server.stop().await;
}

#[tokio::test]
async fn a_job_that_never_ends_times_out_and_an_unknown_one_is_not_found() {
    let server = TestServer::start(vec![Canned::json(200, RUNNING)]).await;
    let client = Client::new(&server.base_url(), ClientOptions::default()).expect("client");
    let err = client
        .await_job_with(&Id::from("j4"), Duration::from_millis(150), FAST)
        .await
        .expect_err("never ends");
    assert!(matches!(err, Error::WaitTimeout { .. }), "{err:?}");
    assert!(err.to_string().contains("job j4"), "{err}");
    assert!(server.requests().len() >= 2);
    server.stop().await;

    let server = TestServer::start(vec![Canned::json(
        404,
        r#"{"type":"missing","help":"unknown job","error":"unknown job j5"}"#,
    )])
    .await;
    let client = Client::new(&server.base_url(), ClientOptions::default()).expect("client");
    let err = client
        .await_job_with(&Id::from("j5"), Duration::from_secs(30), FAST)
        .await
        .expect_err("unknown");
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    assert_eq!(server.requests().len(), 1, "an error stops the polling");
    server.stop().await;
}

#[tokio::test]
async fn a_sync_is_polled_until_nothing_is_pending() {
    let server = TestServer::start(vec![
        Canned::json(200, r#"["abc","def"]"#),
        Canned::json(200, r#"["def"]"#),
        Canned::json(200, "[]"),
    ])
    .await;
    let client = Client::new(&server.base_url(), ClientOptions::default()).expect("client");
    client
        .await_sync_with("def", Duration::from_secs(30), FAST)
        .await
        .expect("applied");
    let requests = server.requests();
    assert_eq!(requests.len(), 3);
    assert!(
        requests
            .iter()
            .all(|r| r.query.as_deref() == Some("ref=def"))
    );
    server.stop().await;

    let server = TestServer::start(vec![Canned::json(200, r#"["def"]"#)]).await;
    let client = Client::new(&server.base_url(), ClientOptions::default()).expect("client");
    let err = client
        .await_sync_with("def", Duration::from_millis(100), FAST)
        .await
        .expect_err("never applied");
    assert!(err.to_string().contains("revision def"), "{err}");
    server.stop().await;
}
