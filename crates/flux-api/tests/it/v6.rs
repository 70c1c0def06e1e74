//! Workloads, images and git config as fluxd sends them, and the v6/v10/v11
//! queries as fluxctl sends them.

use std::collections::BTreeMap;

use chrono::{TimeZone, Utc};
use flux_api::git::GitRepoStatus;
use flux_api::image::{ImageInfo, Labels};
use flux_api::ssh::{Fingerprint, PublicKey};
use flux_api::update::{ResourceSpec, Update};
use flux_api::v6::{
    Container, ControllerStatus, GitConfig, GitRemoteConfig, ImageStatus, ReadOnlyReason,
    RolloutStatus, UpdateImagesQuery,
};
use flux_api::v10::ListImagesOptions;
use flux_api::v11::ListServicesOptions;
use flux_core::ResourceId;

use crate::support::round_trip;

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn list_workloads_reply() {
    let json = r#"[
      {"ID":"default:deployment/web",
       "Containers":[{"Name":"nginx","Current":{"ID":"nginx:1.25","Labels":{}},"LatestFiltered":{"ID":"","Labels":{}}}],
       "ReadOnly":"","Status":"ready",
       "Rollout":{"Desired":2,"Updated":2,"Ready":2,"Available":2,"Outdated":0,"Messages":null},
       "SyncError":"","Antecedent":"","Labels":{"app":"web"},
       "Automated":true,"Locked":false,"Ignore":false,
       "Policies":{"automated":"true","tag.nginx":"semver:~1.25"}},
      {"ID":"kube-system:deployment/coredns","Containers":[],"ReadOnly":"NotInRepo","Status":"updating",
       "Rollout":{"Desired":2,"Updated":1,"Ready":1,"Available":1,"Outdated":1,"Messages":["ProgressDeadlineExceeded"]},
       "SyncError":"","Antecedent":"flux:helmrelease/dns","Labels":null,
       "Automated":false,"Locked":false,"Ignore":false,"Policies":{}}
    ]"#;
    let want = vec![
        ControllerStatus {
            id: "default:deployment/web".into(),
            containers: vec![Container {
                name: "nginx".into(),
                current: ImageInfo::from_ref("nginx:1.25"),
                ..Container::default()
            }],
            read_only: ReadOnlyReason::Ok,
            status: "ready".into(),
            rollout: RolloutStatus {
                desired: 2,
                updated: 2,
                ready: 2,
                available: 2,
                outdated: 0,
                messages: vec![],
            },
            sync_error: String::new(),
            antecedent: String::new(),
            labels: map(&[("app", "web")]),
            automated: true,
            locked: false,
            ignore: false,
            policies: map(&[("automated", "true"), ("tag.nginx", "semver:~1.25")]),
        },
        ControllerStatus {
            id: "kube-system:deployment/coredns".into(),
            containers: vec![],
            read_only: ReadOnlyReason::NotInRepo,
            status: "updating".into(),
            rollout: RolloutStatus {
                desired: 2,
                updated: 1,
                ready: 1,
                available: 1,
                outdated: 1,
                messages: vec!["ProgressDeadlineExceeded".into()],
            },
            antecedent: "flux:helmrelease/dns".into(),
            ..ControllerStatus::default()
        },
    ];
    let got = round_trip(json, &want);
    assert_eq!(
        got[0].resource_id().expect("valid"),
        ResourceId::new("default", "Deployment", "web")
    );
    assert_eq!(
        got[0].containers[0]
            .current
            .image_ref()
            .expect("valid")
            .tag(),
        Some("1.25")
    );
}

fn info(id: &str, created: (u32, u32), nanos: u32) -> ImageInfo {
    let at = Utc
        .with_ymd_and_hms(2024, created.0, created.1, 12, 0, 0)
        .single()
        .expect("valid date")
        + chrono::Duration::nanoseconds(nanos.into());
    ImageInfo {
        id: id.into(),
        digest: format!("sha256:d{}", created.1),
        image_id: format!("sha256:i{}", created.1),
        labels: Labels {
            build_date: None,
            created: Some(at),
        },
        created_at: Some(at),
        last_fetched: Some(
            Utc.with_ymd_and_hms(2024, 7, 1, 0, 0, 0)
                .single()
                .expect("valid date"),
        ),
    }
}

#[test]
fn list_images_reply_with_every_field() {
    let json = r#"[{"ID":"default:deployment/web","Containers":[{"Name":"nginx",
      "Current":{"ID":"nginx:1.25","Digest":"sha256:d1","ImageID":"sha256:i1","Labels":{"org.opencontainers.image.created":"2024-05-01T12:00:00Z"},"CreatedAt":"2024-05-01T12:00:00Z","LastFetched":"2024-07-01T00:00:00Z"},
      "LatestFiltered":{"ID":"nginx:1.27","Digest":"sha256:d2","ImageID":"sha256:i2","Labels":{"org.opencontainers.image.created":"2024-06-02T12:00:00.5Z"},"CreatedAt":"2024-06-02T12:00:00.5Z","LastFetched":"2024-07-01T00:00:00Z"},
      "Available":[
        {"ID":"nginx:1.27","Digest":"sha256:d2","ImageID":"sha256:i2","Labels":{"org.opencontainers.image.created":"2024-06-02T12:00:00.5Z"},"CreatedAt":"2024-06-02T12:00:00.5Z","LastFetched":"2024-07-01T00:00:00Z"},
        {"ID":"nginx:1.25","Digest":"sha256:d1","ImageID":"sha256:i1","Labels":{"org.opencontainers.image.created":"2024-05-01T12:00:00Z"},"CreatedAt":"2024-05-01T12:00:00Z","LastFetched":"2024-07-01T00:00:00Z"}],
      "AvailableImagesCount":2,"NewAvailableImagesCount":1,"FilteredImagesCount":2,"NewFilteredImagesCount":1}]}]"#;
    let current = info("nginx:1.25", (5, 1), 0);
    let latest = info("nginx:1.27", (6, 2), 500_000_000);
    let want = vec![ImageStatus {
        id: "default:deployment/web".into(),
        containers: vec![Container {
            name: "nginx".into(),
            current: current.clone(),
            latest_filtered: latest.clone(),
            available: vec![latest, current],
            available_error: String::new(),
            available_images_count: 2,
            new_available_images_count: 1,
            filtered_images_count: 2,
            new_filtered_images_count: 1,
        }],
    }];
    round_trip(json, &want);
}

#[test]
fn list_images_reply_with_few_fields_or_no_data() {
    // containerFields=Name: the two infos are still written, empty.
    let json = r#"[{"ID":"default:deployment/web","Containers":[{"Name":"nginx","Current":{"ID":"","Labels":{}},"LatestFiltered":{"ID":"","Labels":{}}}]},
                   {"ID":"default:deployment/db","Containers":[{"Name":"pg","Current":{"ID":"postgres:16","Labels":{}},"LatestFiltered":{"ID":"","Labels":{}},"AvailableError":"image data not available"}]},
                   {"ID":"default:cronjob/none","Containers":null}]"#;
    let want = vec![
        ImageStatus {
            id: "default:deployment/web".into(),
            containers: vec![Container {
                name: "nginx".into(),
                ..Container::default()
            }],
        },
        ImageStatus {
            id: "default:deployment/db".into(),
            containers: vec![Container {
                name: "pg".into(),
                current: ImageInfo::from_ref("postgres:16"),
                available_error: flux_api::v6::NO_IMAGE_DATA.into(),
                ..Container::default()
            }],
        },
        ImageStatus {
            id: "default:cronjob/none".into(),
            containers: vec![],
        },
    ];
    round_trip(json, &want);
}

#[test]
fn bad_times_are_errors_naming_the_value() {
    let err = serde_json::from_str::<ImageInfo>(r#"{"ID":"a:1","CreatedAt":"last week"}"#)
        .expect_err("bad time")
        .to_string();
    assert!(err.contains("last week"), "{err}");
}

#[test]
fn git_repo_config_reply() {
    let json = r#"{"remote":{"url":"ssh://git@github.com/org/config","branch":"main","path":"apps,infra"},
      "publicSSHKey":{"key":"ssh-ed25519 AAAAC3Nza flux","fingerprints":{
         "md5":{"hash":"MD5:12:34","randomart":"+---[ED25519 256]--+\n|    .o.          |\n+----[MD5]--------+"},
         "sha256":{"hash":"SHA256:abc","randomart":"+--[SHA256]--+"}}},
      "status":"ready","errors":""}"#;
    let mut fingerprints = BTreeMap::new();
    fingerprints.insert(
        "md5".to_owned(),
        Fingerprint {
            hash: "MD5:12:34".into(),
            randomart: "+---[ED25519 256]--+\n|    .o.          |\n+----[MD5]--------+".into(),
        },
    );
    fingerprints.insert(
        "sha256".to_owned(),
        Fingerprint {
            hash: "SHA256:abc".into(),
            randomart: "+--[SHA256]--+".into(),
        },
    );
    let key = PublicKey {
        key: "ssh-ed25519 AAAAC3Nza flux".into(),
        fingerprints,
    };
    let want = GitConfig {
        remote: GitRemoteConfig {
            url: "ssh://git@github.com/org/config".into(),
            branch: "main".into(),
            path: "apps,infra".into(),
        },
        public_ssh_key: key.clone(),
        status: GitRepoStatus::Ready,
        error: String::new(),
    };
    let got = round_trip(json, &want);
    assert_eq!(got.remote.paths(), ["apps", "infra"]);
    // GET /v6/identity.pub answers the key alone.
    let key_json = serde_json::to_string(&key).expect("writes");
    round_trip(&key_json, &key);
}

#[test]
fn an_unready_repository() {
    let json = r#"{"remote":{"url":"","branch":"master","path":""},"publicSSHKey":{"key":"","fingerprints":null},"status":"unconfigured","errors":"git repo does not have valid config"}"#;
    let got: GitConfig = serde_json::from_str(json).expect("reads");
    assert_eq!(got.status, GitRepoStatus::Unconfigured);
    assert!(got.remote.paths().is_empty());
    assert_eq!(got.error, "git repo does not have valid config");
}

#[test]
fn list_options_queries_as_fluxctl_sends_them() {
    let opts = ListImagesOptions::default();
    assert_eq!(
        opts.to_query(),
        "containerFields=&namespace=&service=%3Call%3E"
    );
    assert_eq!(
        ListImagesOptions::from_query(&opts.to_query()).expect("reads"),
        opts
    );
    let one = ListImagesOptions {
        spec: ResourceSpec::Id(ResourceId::new("default", "deployment", "web")),
        override_container_fields: vec!["Name".into(), "Current".into()],
        namespace: String::new(),
    };
    assert_eq!(
        one.to_query(),
        "containerFields=Name%2CCurrent&namespace=&service=default%3Adeployment%2Fweb"
    );
    assert_eq!(
        ListImagesOptions::from_query(&one.to_query()).expect("reads"),
        one
    );
    // An empty or absent service means all.
    assert_eq!(
        ListImagesOptions::from_query("service=").expect("reads"),
        opts
    );
    let err = ListImagesOptions::from_query("containerFields=Name,Size").expect_err("bad field");
    assert!(err.to_string().contains("\"Size\""), "{err}");
    let err = ListImagesOptions::from_query("service=web").expect_err("bad ID");
    assert!(err.to_string().contains("\"web\""), "{err}");

    let svc = ListServicesOptions {
        namespace: String::new(),
        services: vec![
            ResourceId::new("default", "deployment", "a"),
            ResourceId::new("default", "deployment", "b"),
        ],
    };
    assert_eq!(
        svc.to_query(),
        "namespace=&services=default%3Adeployment%2Fa%2Cdefault%3Adeployment%2Fb"
    );
    assert_eq!(
        ListServicesOptions::from_query(&svc.to_query()).expect("reads"),
        svc
    );
    assert_eq!(
        ListServicesOptions::from_query("namespace=&services=").expect("reads"),
        ListServicesOptions::default()
    );
    assert!(ListServicesOptions::from_query("services=default:deployment/a,x").is_err());
}

#[test]
fn legacy_update_images_query() {
    let q = "service=default%3Adeployment%2Fweb&service=default%3Adeployment%2Fdb&image=nginx%3A1.27&kind=plan&exclude=default%3Adeployment%2Fold&user=jo&message=why";
    let got = UpdateImagesQuery::from_query(q).expect("reads");
    assert_eq!(got.services.len(), 2);
    assert_eq!(
        UpdateImagesQuery::from_query(&got.to_query()).expect("reads"),
        got
    );
    let spec = got.to_spec().expect("valid kind");
    assert_eq!(spec.cause.user, "jo");
    let Update::Image(release) = &spec.spec else {
        panic!("an image release")
    };
    assert_eq!(release.excludes, ["default:deployment/old"]);
    assert!(release.to_core().is_ok());
    assert!(UpdateImagesQuery::from_query("service=a%2Fb&image=x%3A1").is_err());
    let bad_kind = UpdateImagesQuery::from_query("service=a%2Fb&image=x%3A1&kind=now")
        .expect("reads")
        .to_spec()
        .expect_err("bad kind");
    assert!(bad_kind.to_string().contains("now"), "{bad_kind}");
}
