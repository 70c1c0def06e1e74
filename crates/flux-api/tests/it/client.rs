//! The client against a real HTTP server: each method sends Flux v1's
//! method, path, query and body, and reads the reply.

use std::collections::BTreeMap;

use axum::http::Method;
use flux_api::client::{Client, ClientOptions, Error, Token};
use flux_api::image::ImageName;
use flux_api::job::{Id, StatusString};
use flux_api::policy::{PolicySet, PolicyUpdate};
use flux_api::update::{Cause, ResourceSpec, Spec};
use flux_api::v6::UpdateImagesQuery;
use flux_api::v9::{Change, GitUpdate, ImageUpdate};
use flux_api::v10::ListImagesOptions;
use flux_api::v11::ListServicesOptions;
use flux_api::{ApiError, ErrorType, Route};
use flux_core::ResourceId;

use crate::server::{Canned, Recorded, TestServer};

/// Starts a server with one reply, makes the call, and returns the result
/// with the one request the server saw.
macro_rules! exchange {
    ($reply:expr, |$c:ident| $call:expr) => {
        exchange!($reply, ClientOptions::default(), |$c| $call)
    };
    ($reply:expr, $options:expr, |$c:ident| $call:expr) => {{
        let server = TestServer::start(vec![$reply]).await;
        let $c = Client::new(&server.base_url(), $options).expect("client");
        let result = $call.await;
        let request = server.only_request();
        server.stop().await;
        (result, request)
    }};
}

fn assert_request(r: &Recorded, method: Method, path: &str, query: Option<&str>) {
    assert_eq!(r.method, method, "{r:?}");
    assert_eq!(r.path, format!("/api/flux{path}"), "{r:?}");
    assert_eq!(r.query.as_deref(), query, "{r:?}");
    assert_eq!(r.header("accept"), Some("application/json"), "{r:?}");
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).expect("JSON")
}

#[tokio::test]
async fn ping() {
    let (result, r) = exchange!(Canned::empty(204), |c| c.ping());
    result.expect("pong");
    assert_request(&r, Method::GET, "/v11/ping", None);
    assert!(r.body.is_empty());
    assert_eq!(r.header("authorization"), None);
}

#[tokio::test]
async fn version() {
    let (result, r) = exchange!(Canned::json(200, r#""1.25.4""#), |c| c.version());
    assert_eq!(result.expect("a version"), "1.25.4");
    assert_request(&r, Method::GET, "/v11/version", None);
}

#[tokio::test]
async fn notify_git_and_image() {
    let change = Change::Git(GitUpdate {
        url: "ssh://git@example.com/org/config".into(),
        branch: "main".into(),
    });
    let (result, r) = exchange!(Canned::empty(202), |c| c.notify(&change));
    result.expect("accepted");
    assert_request(&r, Method::POST, "/v11/notify", None);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(
        r.json(),
        json(
            r#"{"Kind":"git","Source":{"URL":"ssh://git@example.com/org/config","Branch":"main"}}"#
        )
    );

    let change = Change::Image(ImageUpdate {
        name: ImageName::from_repository("quay.io/org/app"),
    });
    let (result, r) = exchange!(Canned::empty(202), |c| c.notify(&change));
    result.expect("accepted");
    assert_eq!(
        r.json(),
        json(r#"{"Kind":"image","Source":{"Name":{"Domain":"quay.io","Image":"org/app"}}}"#)
    );
}

const WORKLOADS: &str = r#"[{"ID":"default:deployment/web","Containers":[{"Name":"nginx","Current":{"ID":"nginx:1.25","Labels":{}},"LatestFiltered":{"ID":"","Labels":{}}}],"ReadOnly":"","Status":"ready","Rollout":{"Desired":1,"Updated":1,"Ready":1,"Available":1,"Outdated":0,"Messages":null},"SyncError":"","Antecedent":"","Labels":null,"Automated":false,"Locked":true,"Ignore":false,"Policies":{"locked":"true"}}]"#;

#[tokio::test]
async fn list_services() {
    let (result, r) = exchange!(Canned::json(200, WORKLOADS), |c| c.list_services("default"));
    let workloads = result.expect("workloads");
    assert_eq!(workloads.len(), 1);
    assert!(workloads[0].locked);
    assert_eq!(workloads[0].containers[0].current.id, "nginx:1.25");
    assert_request(&r, Method::GET, "/v6/services", Some("namespace=default"));

    // All namespaces: the key is still sent; Go's `null` reads as no workloads.
    let (result, r) = exchange!(Canned::json(200, "null"), |c| c.list_services(""));
    assert!(result.expect("no workloads").is_empty());
    assert_request(&r, Method::GET, "/v6/services", Some("namespace="));
}

#[tokio::test]
async fn list_services_with_options() {
    let options = ListServicesOptions {
        namespace: String::new(),
        services: vec![ResourceId::new("default", "deployment", "web")],
    };
    let (result, r) = exchange!(Canned::json(200, WORKLOADS), |c| c
        .list_services_with_options(&options));
    assert_eq!(result.expect("workloads")[0].id, "default:deployment/web");
    assert_request(
        &r,
        Method::GET,
        "/v11/services",
        Some("namespace=&services=default%3Adeployment%2Fweb"),
    );
}

const IMAGES: &str = r#"[{"ID":"default:deployment/web","Containers":[{"Name":"nginx","Current":{"ID":"nginx:1.25","Labels":{}},"LatestFiltered":{"ID":"nginx:1.27","Labels":{},"CreatedAt":"2024-06-02T12:00:00Z"},"Available":[{"ID":"nginx:1.27","Labels":{},"CreatedAt":"2024-06-02T12:00:00Z"},{"ID":"nginx:1.25","Labels":{}}],"AvailableImagesCount":2,"NewAvailableImagesCount":1,"FilteredImagesCount":2,"NewFilteredImagesCount":1}]}]"#;

#[tokio::test]
async fn list_images() {
    let (result, r) = exchange!(Canned::json(200, IMAGES), |c| c
        .list_images(&ResourceSpec::All));
    let images = result.expect("images");
    assert_eq!(images[0].containers[0].available.len(), 2);
    assert_request(&r, Method::GET, "/v6/images", Some("service=%3Call%3E"));
}

#[tokio::test]
async fn list_images_with_options() {
    let options = ListImagesOptions {
        spec: ResourceSpec::Id(ResourceId::new("default", "deployment", "web")),
        override_container_fields: vec!["Name".into(), "Available".into()],
        namespace: String::new(),
    };
    let (result, r) = exchange!(Canned::json(200, IMAGES), |c| c
        .list_images_with_options(&options));
    let images = result.expect("images");
    assert_eq!(images[0].containers[0].latest_filtered.id, "nginx:1.27");
    assert_request(
        &r,
        Method::GET,
        "/v10/images",
        Some("containerFields=Name%2CAvailable&namespace=&service=default%3Adeployment%2Fweb"),
    );
    let (result, r) = exchange!(Canned::json(200, "[]"), |c| c
        .list_images_with_options(&ListImagesOptions::default()));
    assert!(result.expect("no images").is_empty());
    assert_eq!(
        r.query.as_deref(),
        Some("containerFields=&namespace=&service=%3Call%3E")
    );
}

#[tokio::test]
async fn update_manifests() {
    let spec = Spec::sync();
    let (result, r) = exchange!(
        Canned::json(200, r#""0a1b2c3d-0000-1111-2222-333344445555""#),
        |c| c.update_manifests(&spec)
    );
    assert_eq!(
        result.expect("a job"),
        Id::from("0a1b2c3d-0000-1111-2222-333344445555")
    );
    assert_request(&r, Method::POST, "/v9/update-manifests", None);
    assert_eq!(
        r.json(),
        json(r#"{"type":"sync","cause":{"Message":"","User":""},"spec":{}}"#)
    );
}

#[tokio::test]
async fn job_status() {
    let reply = r#"{"Result":{"revision":"abc"},"Err":"","StatusString":"succeeded"}"#;
    let id = Id::from("0a1b2c3d-0000");
    let (result, r) = exchange!(Canned::json(200, reply), |c| c.job_status(&id));
    let status = result.expect("a status");
    assert_eq!(status.status_string, StatusString::Succeeded);
    assert_eq!(status.result.revision, "abc");
    assert_request(&r, Method::GET, "/v6/jobs", Some("id=0a1b2c3d-0000"));
}

#[tokio::test]
async fn sync_status() {
    let (result, r) = exchange!(Canned::json(200, r#"["abc","def"]"#), |c| c
        .sync_status("def"));
    assert_eq!(result.expect("revisions"), ["abc", "def"]);
    assert_request(&r, Method::GET, "/v6/sync", Some("ref=def"));
}

#[tokio::test]
async fn export() {
    // "kind: Namespace\n" in base64, as Go writes a []byte.
    let (result, r) = exchange!(Canned::json(200, r#""a2luZDogTmFtZXNwYWNlCg==""#), |c| c
        .export());
    assert_eq!(result.expect("bytes"), b"kind: Namespace\n");
    assert_request(&r, Method::GET, "/v6/export", None);
}

#[tokio::test]
async fn git_repo_config() {
    let reply = r#"{"remote":{"url":"ssh://git@h/r","branch":"master","path":""},"publicSSHKey":{"key":"ssh-ed25519 AAAA","fingerprints":{}},"status":"ready","errors":""}"#;
    let (result, r) = exchange!(Canned::json(200, reply), |c| c.git_repo_config(true));
    let config = result.expect("config");
    assert_eq!(config.remote.branch, "master");
    assert_eq!(config.public_ssh_key.key, "ssh-ed25519 AAAA");
    assert_request(&r, Method::POST, "/v9/git-repo-config", None);
    assert_eq!(r.body, b"true");
}

#[tokio::test]
async fn legacy_update_images() {
    let request = UpdateImagesQuery {
        services: vec!["default:deployment/web".into()],
        image: "nginx:1.27".into(),
        kind: "execute".into(),
        excludes: vec![],
        user: "jo".into(),
        message: String::new(),
    };
    let (result, r) = exchange!(Canned::json(200, r#""job-1""#), |c| c
        .update_images(&request));
    assert_eq!(result.expect("a job"), Id::from("job-1"));
    assert_request(
        &r,
        Method::POST,
        "/v6/update-images",
        Some("image=nginx%3A1.27&kind=execute&service=default%3Adeployment%2Fweb&user=jo"),
    );
    // What the server reads back is the request sent.
    let query = r.query.as_deref().expect("a query");
    assert_eq!(
        UpdateImagesQuery::from_query(query).expect("reads"),
        request
    );
}

#[tokio::test]
async fn legacy_update_policies() {
    let mut updates = BTreeMap::new();
    updates.insert(
        "default:deployment/web".to_owned(),
        PolicyUpdate {
            add: PolicySet::new().with_flag("automated"),
            remove: PolicySet::new(),
        },
    );
    let cause = Cause {
        message: "go".into(),
        user: "jo".into(),
    };
    let (result, r) = exchange!(Canned::json(200, r#""job-2""#), |c| c
        .update_policies(&updates, &cause));
    assert_eq!(result.expect("a job"), Id::from("job-2"));
    assert_request(
        &r,
        Method::PATCH,
        "/v6/policies",
        Some("message=go&user=jo"),
    );
    assert_eq!(
        r.json(),
        json(r#"{"default:deployment/web":{"add":{"automated":"true"},"remove":{}}}"#)
    );
}

#[tokio::test]
async fn legacy_identity() {
    let reply =
        r#"{"key":"ssh-rsa AAAA","fingerprints":{"md5":{"hash":"MD5:aa","randomart":"art"}}}"#;
    let (result, r) = exchange!(Canned::json(200, reply), |c| c.public_ssh_key());
    assert_eq!(result.expect("a key").fingerprints["md5"].hash, "MD5:aa");
    assert_request(&r, Method::GET, "/v6/identity.pub", None);

    let (result, r) = exchange!(Canned::empty(204), |c| c.regenerate_ssh_key());
    result.expect("regenerated");
    assert_request(&r, Method::POST, "/v6/identity.pub", None);
}

#[tokio::test]
async fn tokens_are_sent_as_flux_v1_and_bearer() {
    let options = ClientOptions {
        token: Some(Token::ScopeProbe("s3cret".into())),
        ..ClientOptions::default()
    };
    let (result, r) = exchange!(Canned::empty(204), options, |c| c.ping());
    result.expect("pong");
    assert_eq!(r.header("authorization"), Some("Scope-Probe token=s3cret"));

    let options = ClientOptions {
        token: Some(Token::Bearer("s3cret".into())),
        ..ClientOptions::default()
    };
    let (result, r) = exchange!(Canned::empty(204), options, |c| c.ping());
    result.expect("pong");
    assert_eq!(r.header("authorization"), Some("Bearer s3cret"));
}

#[tokio::test]
async fn a_source_is_sent_on_every_request_and_sources_are_listed() {
    let with_source = || ClientOptions {
        source: Some("infra".into()),
        ..ClientOptions::default()
    };
    let (result, r) = exchange!(Canned::empty(204), with_source(), |c| c.ping());
    result.expect("pong");
    assert_request(&r, Method::GET, "/v11/ping", Some("source=infra"));

    let (result, r) = exchange!(
        Canned::json(200, r#"{"Result":{},"Err":"","StatusString":"queued"}"#),
        with_source(),
        |c| c.job_status(&Id::from("j1"))
    );
    result.expect("a status");
    assert_request(&r, Method::GET, "/v6/jobs", Some("id=j1&source=infra"));

    let (result, r) = exchange!(Canned::json(200, r#""j""#), with_source(), |c| c
        .update_manifests(&Spec::sync()));
    result.expect("a job");
    assert_request(
        &r,
        Method::POST,
        "/v9/update-manifests",
        Some("source=infra"),
    );

    let reply = r#"[{"name":"apps","url":"ssh://git@h/apps","branch":"main","paths":[],
        "readonly":false,"status":"ready","head":"abc","syncState":"git tag flux-sync",
        "synced":"abc","lastSyncRevision":"abc","lastSync":"2026-12-04T10:00:00Z","error":"","overlaps":0}]"#;
    let (result, r) = exchange!(Canned::json(200, reply), |c| c.list_sources());
    let list = result.expect("sources");
    assert_eq!(list.len(), 1);
    assert_eq!(
        (list[0].name.as_str(), list[0].head.as_str()),
        ("apps", "abc")
    );
    assert!(list[0].last_sync.is_some());
    assert_request(&r, Method::GET, "/v11/sources", None);

    // A Flux v1 fluxd has no such route.
    let missing = r#"{"type":"missing","help":"","error":"API endpoint not found"}"#;
    let (result, _) = exchange!(Canned::json(404, missing), |c| c.list_sources());
    assert!(
        matches!(
            result,
            Err(Error::NotFound {
                route: Route::ListSources,
                ..
            })
        ),
        "{result:?}"
    );
}

#[tokio::test]
async fn one_method_per_route() {
    // Every method once, in Route::ALL's order; the server sees every route.
    let replies = vec![
        Canned::empty(204),
        Canned::json(200, r#""1.0""#),
        Canned::empty(202),
        Canned::json(200, "null"),
        Canned::json(200, "null"),
        Canned::json(200, "null"),
        Canned::json(200, "null"),
        Canned::json(200, r#""j""#),
        Canned::json(200, r#"{"Result":{},"Err":"","StatusString":"queued"}"#),
        Canned::json(200, "[]"),
        Canned::json(200, r#""""#),
        Canned::json(200, "{}"),
        Canned::json(200, r#""j""#),
        Canned::json(200, r#""j""#),
        Canned::json(200, "{}"),
        Canned::empty(204),
    ];
    let server = TestServer::start(replies).await;
    let c = Client::new(&server.base_url(), ClientOptions::default()).expect("client");
    let id = ResourceId::new("default", "deployment", "web");
    c.ping().await.expect("Ping");
    c.version().await.expect("Version");
    c.notify(&Change::Git(GitUpdate::default()))
        .await
        .expect("Notify");
    c.list_services("").await.expect("ListServices");
    c.list_services_with_options(&ListServicesOptions::default())
        .await
        .expect("ListServicesWithOptions");
    c.list_images(&ResourceSpec::Id(id))
        .await
        .expect("ListImages");
    c.list_images_with_options(&ListImagesOptions::default())
        .await
        .expect("ListImagesWithOptions");
    c.update_manifests(&Spec::sync())
        .await
        .expect("UpdateManifests");
    c.job_status(&Id::from("j")).await.expect("JobStatus");
    c.sync_status("HEAD").await.expect("SyncStatus");
    assert!(c.export().await.expect("Export").is_empty());
    c.git_repo_config(false).await.expect("GitRepoConfig");
    let legacy = UpdateImagesQuery {
        services: vec!["<all>".into()],
        image: "<all latest>".into(),
        kind: "plan".into(),
        ..UpdateImagesQuery::default()
    };
    c.update_images(&legacy).await.expect("UpdateImages");
    c.update_policies(&BTreeMap::new(), &Cause::default())
        .await
        .expect("UpdatePolicies");
    c.public_ssh_key().await.expect("GetPublicSSHKey");
    c.regenerate_ssh_key()
        .await
        .expect("RegeneratePublicSSHKey");

    let requests = server.requests();
    server.stop().await;
    assert_eq!(requests.len(), Route::ALL.len());
    for (route, r) in Route::ALL.into_iter().zip(&requests) {
        let path = r.path.strip_prefix("/api/flux").expect("under the prefix");
        let keys: Vec<String> = r
            .query
            .iter()
            .flat_map(|q| form_urlencoded_keys(q))
            .collect();
        assert_eq!(
            Route::matching(&r.method, path, keys.iter().map(String::as_str)),
            Some(route),
            "{r:?}"
        );
    }
}

fn form_urlencoded_keys(q: &str) -> Vec<String> {
    q.split('&')
        .filter_map(|pair| pair.split('=').next())
        .filter(|k| !k.is_empty())
        .map(str::to_owned)
        .collect()
}

// --- errors

fn api_body(e: &ApiError) -> String {
    serde_json::to_string(e).expect("serialises")
}

#[tokio::test]
async fn a_missing_route_is_not_found_with_the_daemons_help() {
    let body = api_body(&ApiError::not_found("/v10/images"));
    let (result, _) = exchange!(Canned::json(404, &body), |c| c
        .list_images_with_options(&ListImagesOptions::default()));
    let err = result.expect_err("404");
    assert!(
        matches!(
            err,
            Error::NotFound {
                route: Route::ListImagesWithOptions,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.status(), Some(404));
    let api = err.api_error().expect("Flux's error body");
    assert_eq!(api.kind, ErrorType::Missing);
    assert!(api.help.contains("/v10/images"));
    let text = err.to_string();
    assert!(text.contains("/api/flux/v10/images"), "{text}");
    assert!(text.contains("API endpoint not found"), "{text}");
}

#[tokio::test]
async fn an_unknown_job_is_not_found_as_text() {
    let (result, _) = exchange!(Canned::text(404, "404 page not found\n"), |c| c
        .job_status(&Id::from("nope")));
    let err = result.expect_err("404");
    assert!(err.api_error().is_none());
    assert!(err.to_string().contains("404 page not found"), "{err}");
}

#[tokio::test]
async fn a_dead_version_is_gone() {
    let body = api_body(&ApiError::deprecated());
    let (result, _) = exchange!(Canned::json(410, &body), |c| c.version());
    let err = result.expect_err("410");
    assert!(matches!(err, Error::Gone { .. }), "{err:?}");
    assert_eq!(
        err.api_error().map(|e| e.error.as_str()),
        Some("API endpoint deprecated")
    );
}

#[tokio::test]
async fn server_failures_are_5xx_with_the_message() {
    let body = api_body(&ApiError::server("cannot reach the cluster"));
    let (result, _) = exchange!(Canned::json(500, &body), |c| c.ping());
    let err = result.expect_err("500");
    assert!(matches!(err, Error::Server { status: 500, .. }), "{err:?}");
    assert!(
        err.to_string().contains("cannot reach the cluster"),
        "{err}"
    );

    let (result, _) = exchange!(Canned::text(502, "bad gateway"), |c| c.ping());
    let err = result.expect_err("502");
    assert!(matches!(err, Error::Server { status: 502, .. }), "{err:?}");
    assert!(err.to_string().contains("bad gateway"), "{err}");
}

#[tokio::test]
async fn user_errors_are_rejections() {
    let body = api_body(&ApiError::user(
        "cannot filter by 'namespace' and 'workloads' at the same time",
    ));
    let (result, _) = exchange!(Canned::json(422, &body), |c| c.list_services("x"));
    let err = result.expect_err("422");
    assert!(
        matches!(err, Error::Rejected { status: 422, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("at the same time"), "{err}");
}

#[tokio::test]
async fn a_refused_token_is_unauthorized() {
    let body = api_body(&ApiError::unauthorized());
    let (result, _) = exchange!(Canned::json(401, &body), |c| c.version());
    let err = result.expect_err("401");
    assert!(matches!(err, Error::Unauthorized { .. }), "{err:?}");
    assert!(err.to_string().contains("token"), "{err}");
}

#[tokio::test]
async fn bad_replies_are_decode_errors() {
    let (result, _) = exchange!(Canned::json(200, "{not json"), |c| c.version());
    let err = result.expect_err("garbage");
    assert!(
        matches!(
            err,
            Error::Decode {
                route: Route::Version,
                ..
            }
        ),
        "{err:?}"
    );

    let (result, _) = exchange!(Canned::empty(200), |c| c.update_manifests(&Spec::sync()));
    let err = result.expect_err("no job ID");
    assert!(err.to_string().contains("the reply is empty"), "{err}");
}

#[tokio::test]
async fn no_daemon_is_unreachable() {
    // A port that was free a moment ago, with nothing listening now.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    drop(listener);
    let client =
        Client::new(&format!("http://{addr}/api/flux"), ClientOptions::default()).expect("client");
    let err = client.ping().await.expect_err("nothing listens");
    assert!(
        matches!(
            err,
            Error::Unreachable {
                route: Route::Ping,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
}

#[tokio::test]
async fn a_slow_daemon_times_out() {
    let server = TestServer::start(vec![
        Canned::json(200, r#""1.0""#).after(std::time::Duration::from_secs(10)),
    ])
    .await;
    let options = ClientOptions {
        timeout: std::time::Duration::from_millis(200),
        ..ClientOptions::default()
    };
    let client = Client::new(&server.base_url(), options).expect("client");
    let err = client.version().await.expect_err("too slow");
    assert!(
        matches!(
            err,
            Error::Timeout {
                route: Route::Version,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("200ms"), "{err}");
    server.stop().await;
}
