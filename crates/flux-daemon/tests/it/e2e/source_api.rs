//! The API of a fluxd with two sources (`--config`): `source=NAME` on any
//! route addresses one repository (its workloads, its job queue, its
//! commits, its key), no name the first, an unknown name is a 404 naming
//! the sources; `GET /v11/sources` lists both with their heads.

use flux_api::client::{Client, ClientOptions, Error};
use flux_api::job::{Id, StatusString};
use flux_api::update::Spec;
use flux_api::v11::ListServicesOptions;

use super::*;

fn client_of(fluxd: &Fluxd, source: &str) -> Client {
    Client::new(
        &fluxd.api_url(),
        ClientOptions {
            source: Some(source.to_owned()),
            ..ClientOptions::default()
        },
    )
    .expect("client")
}

/// A Deployment `name` in `namespace`.
fn deployment_in(namespace: &str, name: &str) -> String {
    deployment(name, "registry.example.com/team/app:1.0", "")
        .replace("namespace: default", &format!("namespace: {namespace}"))
}

async fn ids(client: &Client) -> Vec<String> {
    let mut ids: Vec<String> = client
        .list_services_with_options(&ListServicesOptions::default())
        .await
        .expect("list-workloads")
        .into_iter()
        .map(|w| w.id)
        .collect();
    ids.sort();
    ids
}

async fn wait_job_of(client: &Client, id: &Id) -> flux_api::job::Status {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let status = client.job_status(id).await.expect("job status");
        if status.is_finished() {
            return status;
        }
        assert!(tokio::time::Instant::now() < deadline, "{id}: {status:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_route_answers_for_the_source_named() {
    let apps_files = [("a.yaml", deployment_in("apps", "a"))];
    let bed = TestBed::start(&[(apps_files[0].0, apps_files[0].1.as_bytes())])
        .await
        .expect("bed");
    for ns in ["apps", "team"] {
        kubectl(&bed, &["create", "namespace", ns]);
    }
    let b = deployment_in("team", "b");
    let (fluxd, team, team_url) = bed
        .start_apps_and_team(&[("b.yaml", b.as_bytes())], PATIENCE)
        .await
        .expect("fluxd with sources apps and team");

    // Workloads: each source's own; no name is the first source's.
    let (apps, team_api) = (client_of(&fluxd, "apps"), client_of(&fluxd, "team"));
    assert_eq!(ids(&apps).await, ["apps:deployment/a"]);
    assert_eq!(ids(&team_api).await, ["team:deployment/b"]);
    assert_eq!(ids(&client(&fluxd)).await, ["apps:deployment/a"]);

    // The repository settings are the source's.
    let config = team_api.git_repo_config(false).await.expect("config");
    assert_eq!(config.remote.url, team_url);
    assert_eq!(
        client(&fluxd)
            .git_repo_config(false)
            .await
            .expect("config")
            .remote
            .url,
        bed.git_url
    );

    // A policy change for team commits to team's repository only.
    let apps_before = bed.repo.subjects("master").expect("log");
    let spec: Spec = serde_json::from_str(
        r#"{"type":"policy","cause":{"Message":"","User":"Jo"},"spec":{"team:deployment/b":{"add":{"automated":"true"}}}}"#,
    )
    .expect("a policy spec");
    let job = team_api.update_manifests(&spec).await.expect("queued");
    let status = wait_job_of(&team_api, &job).await;
    assert_eq!(status.status_string, StatusString::Succeeded, "{status:?}");
    let team_head = team.head("master").expect("head").expect("a commit");
    assert_eq!(status.result.revision, team_head);
    let b = String::from_utf8(team.show("master", "b.yaml").expect("show")).expect("UTF-8");
    assert!(b.contains("fluxcd.io/automated: \"true\""), "{b}");
    assert_eq!(bed.repo.subjects("master").expect("log"), apps_before);
    // Its job is found without a source (every source is searched), not
    // under apps.
    let found = client(&fluxd).job_status(&job).await.expect("found");
    assert_eq!(found.status_string, StatusString::Succeeded);
    assert!(
        matches!(apps.job_status(&job).await, Err(Error::NotFound { .. })),
        "apps knows no such job"
    );

    // A sync of team: its job, then its revision synced.
    let job = team_api
        .update_manifests(&Spec::sync())
        .await
        .expect("sync");
    let status = wait_job_of(&team_api, &job).await;
    assert_eq!(status.status_string, StatusString::Succeeded, "{status:?}");
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !team_api
        .sync_status(&team_head)
        .await
        .expect("sync status")
        .is_empty()
    {
        assert!(tokio::time::Instant::now() < deadline, "team never synced");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The list: both sources, with their heads and URLs.
    let sources = client(&fluxd).list_sources().await.expect("sources");
    let rows: Vec<(&str, &str, &str, &str)> = sources
        .iter()
        .map(|s| {
            (
                s.name.as_str(),
                s.url.as_str(),
                s.branch.as_str(),
                s.head.as_str(),
            )
        })
        .collect();
    let apps_head = bed.repo.head("master").expect("head").expect("a commit");
    assert_eq!(
        rows,
        [
            ("apps", bed.git_url.as_str(), "master", apps_head.as_str()),
            ("team", team_url.as_str(), "master", team_head.as_str()),
        ]
    );
    assert_eq!(sources[1].synced, team_head);
    assert!(sources[1].last_sync.is_some());
    assert_eq!(sources[1].sync_state, "git tag flux-sync");
    assert!(sources.iter().all(|s| s.error.is_empty()), "{sources:?}");
    let only = team_api.list_sources().await.expect("one source");
    assert_eq!(only.len(), 1);
    assert_eq!(only[0].name, "team");

    // An unknown name: 404, naming it and the sources there are, on any route.
    for path in ["/v11/sources?source=nope", "/v6/jobs?id=x&source=nope"] {
        let r = reqwest::Client::new()
            .get(format!("{}{path}", fluxd.api_url()))
            .header("Accept", "application/json")
            .send()
            .await
            .expect("get");
        assert_eq!(r.status().as_u16(), 404, "{path}");
        let body: serde_json::Value =
            serde_json::from_str(&r.text().await.expect("body")).expect("JSON error");
        assert_eq!(
            body["error"], "unknown source \"nope\": fluxd's sources are apps, team",
            "{path}"
        );
    }
    let (code, _) = post(&fluxd, "/v9/update-manifests?source=nope", "{}").await;
    assert_eq!(code, 404);
    fluxd.stop().await;
}
