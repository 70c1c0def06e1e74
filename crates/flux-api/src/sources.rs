//! `GET /v11/sources`: the repositories a fluxd syncs (this project's
//! addition; Flux v1 had one repository per daemon). Every other route
//! takes the query key [`crate::routes::query::SOURCE`] to address one of
//! them; [`source_query`] writes it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::git::GitRepoStatus;
use crate::routes::query;
use crate::wire;

/// One source as `GET /v11/sources` lists it. The keys are camelCase; a
/// field fluxd does not know yet is empty (`""`, `0`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SourceStatus {
    /// Its name (`default` for the repository of `fluxd --git-url`).
    pub name: String,
    /// The repository's URL, without a password.
    pub url: String,
    /// The branch synced.
    pub branch: String,
    /// The paths within the repository synced (empty: all of it).
    pub paths: Vec<String>,
    /// Whether fluxd only reads the repository (`readonly`).
    pub readonly: bool,
    /// How far fluxd got with the repository (as `git-repo-config` says).
    pub status: GitRepoStatus,
    /// The branch head at the last fetch (empty before the first).
    pub head: String,
    /// Where the sync high-water mark is kept: the sync tag (`git tag
    /// flux-sync`) or the Secret annotation.
    pub sync_state: String,
    /// The revision of the last clean sync: the high-water mark (empty:
    /// none yet).
    pub synced: String,
    /// The revision the last sync (clean or not) applied.
    pub last_sync_revision: String,
    /// When the last sync finished (`""`: none since fluxd started).
    #[serde(with = "wire::opt_time")]
    pub last_sync: Option<DateTime<Utc>>,
    /// What went wrong last: the repository's error, the manifests' or the
    /// last sync's (empty: nothing).
    pub error: String,
    /// Objects this source and another both define, left alone by both.
    pub overlaps: usize,
    /// With `fluxd --ha`: the replica holding the source's Lease, the one
    /// that syncs it and takes its jobs (empty without `--ha`, or when no
    /// replica holds it).
    pub owner: String,
}

/// The query (without `?`) that addresses source `name`: `source=NAME`.
pub fn source_query(name: &str) -> String {
    form_urlencoded::Serializer::new(String::new())
        .append_pair(query::SOURCE, name)
        .finish()
}

/// `query` with `source=NAME` appended when `source` is given.
pub fn with_source(query: &str, source: Option<&str>) -> String {
    match source {
        None => query.to_owned(),
        Some(name) if query.is_empty() => source_query(name),
        Some(name) => format!("{query}&{}", source_query(name)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_source_key_is_appended_and_encoded() {
        assert_eq!(with_source("", None), "");
        assert_eq!(with_source("id=1", None), "id=1");
        assert_eq!(with_source("", Some("apps")), "source=apps");
        assert_eq!(with_source("id=1", Some("apps")), "id=1&source=apps");
        // Names are DNS labels, but whatever is given travels intact.
        assert_eq!(source_query("a b&c=d"), "source=a+b%26c%3Dd");
        let back: Vec<(String, String)> =
            form_urlencoded::parse(with_source("ref=HEAD", Some("a b&c=d")).as_bytes())
                .into_owned()
                .collect();
        assert_eq!(
            back,
            [
                ("ref".to_owned(), "HEAD".to_owned()),
                ("source".to_owned(), "a b&c=d".to_owned())
            ]
        );
    }

    #[test]
    fn a_source_round_trips_with_camel_case_keys() {
        let s = SourceStatus {
            name: "apps".into(),
            url: "ssh://git@example.com/apps".into(),
            branch: "main".into(),
            paths: vec!["deploy".into()],
            status: GitRepoStatus::Ready,
            head: "abc".into(),
            sync_state: "git tag flux-sync".into(),
            synced: "abc".into(),
            last_sync_revision: "abc".into(),
            last_sync: wire::parse_time("2026-12-04T10:00:00Z").ok(),
            overlaps: 2,
            owner: "fluxd-0".into(),
            ..SourceStatus::default()
        };
        let json = serde_json::to_value(&s).expect("serialises");
        assert_eq!(json["lastSync"], "2026-12-04T10:00:00Z");
        assert_eq!(json["syncState"], "git tag flux-sync");
        assert_eq!(json["status"], "ready");
        assert_eq!(json["owner"], "fluxd-0");
        let back: SourceStatus = serde_json::from_value(json).expect("reads");
        assert_eq!(back, s);
        // Fields a fluxd leaves out read as empty.
        let bare: SourceStatus =
            serde_json::from_str(r#"{"name":"x","lastSync":""}"#).expect("reads");
        assert_eq!(bare.name, "x");
        assert_eq!(bare.last_sync, None);
    }
}
