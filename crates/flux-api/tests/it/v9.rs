//! Notifications (`POST /v11/notify`) as Flux v1 sends them.

use flux_api::image::ImageName;
use flux_api::v9::{Change, GitUpdate, ImageUpdate};

use crate::support::round_trip;

#[test]
fn a_git_push() {
    round_trip(
        r#"{"Kind":"git","Source":{"URL":"git@github.com:fluxcd/flux","Branch":"master"}}"#,
        &Change::Git(GitUpdate {
            url: "git@github.com:fluxcd/flux".into(),
            branch: "master".into(),
        }),
    );
}

#[test]
fn a_new_image() {
    let change = round_trip(
        r#"{"Kind":"image","Source":{"Name":{"Domain":"docker.io","Image":"fluxcd/flux"}}}"#,
        &Change::Image(ImageUpdate {
            name: ImageName {
                domain: "docker.io".into(),
                image: "fluxcd/flux".into(),
            },
        }),
    );
    let Change::Image(update) = change else {
        panic!("an image change")
    };
    assert_eq!(
        update.name.to_core().expect("valid").to_string(),
        "docker.io/fluxcd/flux"
    );
    assert_eq!(
        ImageName::from_repository("docker.io/fluxcd/flux"),
        update.name,
        "split as Flux v1 splits it"
    );
}

#[test]
fn an_unknown_kind_is_refused() {
    let err = serde_json::from_str::<Change>(r#"{"Kind":"helm","Source":{}}"#)
        .expect_err("unknown kind")
        .to_string();
    assert!(err.contains("helm"), "{err}");
}
