//! Which source (repository) a request is for, and the routes about
//! sources: `GET /v11/sources` (this project's addition), and the deploy
//! key and repository settings of `git-repo-config` and `identity.pub`.
//!
//! A request names its source with the query key `source=NAME`
//! ([`flux_api::routes::query::SOURCE`]); without it, it is for the first
//! source, as every request to a Flux v1 daemon was for its one
//! repository. An unknown name is a 404 naming the sources fluxd has.

use std::sync::Arc;

use flux_api::ApiError;
use flux_api::sources::SourceStatus;
use flux_api::v6::{GitConfig, GitRemoteConfig};

use crate::daemon::Shared;
use crate::source::Source;

/// The source a request addresses.
#[derive(Clone, Copy, Debug)]
pub struct Target<'a> {
    /// The source named by `source=`, else the first; `None` when fluxd
    /// has no repository.
    pub source: Option<&'a Arc<Source>>,
    /// Whether the request named it (`source=` given and not empty).
    pub named: bool,
}

impl<'a> Target<'a> {
    /// The target of a request with this query string.
    pub fn resolve(shared: &'a Shared, query: &str) -> Result<Self, ApiError> {
        let name = form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == flux_api::routes::query::SOURCE)
            .map(|(_, v)| v.into_owned())
            .filter(|v| !v.is_empty());
        let Some(name) = name else {
            return Ok(Target {
                source: shared.default_source(),
                named: false,
            });
        };
        match shared.source(&name) {
            Some(source) => Ok(Target {
                source: Some(source),
                named: true,
            }),
            None => Err(ApiError::missing(unknown_source(shared, &name))),
        }
    }

    /// The sources a request looks through for something it names (a job
    /// ID): the named one, or every source when none was named.
    pub fn searched(&self, shared: &'a Shared) -> Vec<&'a Arc<Source>> {
        if self.named {
            self.source.into_iter().collect()
        } else {
            shared.sources.iter().collect()
        }
    }
}

/// The message for `source=NAME` naming no source.
fn unknown_source(shared: &Shared, name: &str) -> String {
    if shared.sources.is_empty() {
        return format!(
            "unknown source {name:?}: fluxd has no git repository (no --git-url or --config)"
        );
    }
    let known: Vec<&str> = shared.sources.iter().map(|s| s.name.as_str()).collect();
    format!(
        "unknown source {name:?}: fluxd's sources are {}",
        known.join(", ")
    )
}

/// `GET /v11/sources`: every source, or just the one named.
pub fn list_sources(shared: &Shared, target: Target<'_>) -> Vec<SourceStatus> {
    let sources: Vec<&Arc<Source>> = if target.named {
        target.source.into_iter().collect()
    } else {
        shared.sources.iter().collect()
    };
    sources.into_iter().map(|s| source_status(s)).collect()
}

/// One source as `list-sources` shows it.
pub fn source_status(source: &Source) -> SourceStatus {
    let config = source.repo.config();
    let repo = source.repo.status();
    let (last_sync, synced, load_error, overlaps) = source.with_status(|st| {
        (
            st.last_sync.clone(),
            st.synced.clone(),
            st.load_error.clone(),
            st.overlaps.len(),
        )
    });
    let error = repo
        .error
        .clone()
        .or(load_error)
        .or_else(|| last_sync.as_ref().and_then(|l| l.error.clone()))
        .unwrap_or_default();
    SourceStatus {
        name: source.name.clone(),
        url: config.remote.safe_url(),
        branch: config.branch.clone(),
        paths: source.paths.clone(),
        readonly: config.readonly,
        status: super::convert::repo_status(&repo),
        head: repo.head.clone().unwrap_or_default(),
        sync_state: format!("{:?}", source.state),
        synced: synced.unwrap_or_default(),
        last_sync_revision: last_sync
            .as_ref()
            .map(|l| l.revision.clone())
            .unwrap_or_default(),
        last_sync: last_sync.map(|l| chrono::DateTime::<chrono::Utc>::from(l.finished)),
        error,
        overlaps,
        owner: source
            .fence
            .as_ref()
            .and_then(|f| f.owner())
            .unwrap_or_default(),
    }
}

/// `git-repo-config`: the source's repository and deploy key.
pub async fn git_repo_config(
    shared: &Shared,
    target: Target<'_>,
    regenerate: bool,
) -> Result<GitConfig, ApiError> {
    if regenerate {
        regenerate_key(shared, target).await?;
    }
    let public_ssh_key = public_key(shared, target).unwrap_or_default();
    let Some(source) = target.source else {
        return Ok(GitConfig {
            public_ssh_key,
            status: flux_api::git::GitRepoStatus::Unconfigured,
            ..GitConfig::default()
        });
    };
    let config = source.repo.config();
    let status = source.repo.status();
    Ok(GitConfig {
        remote: GitRemoteConfig {
            url: config.remote.safe_url(),
            branch: config.branch.clone(),
            path: config.paths.join(","),
        },
        public_ssh_key,
        status: super::convert::repo_status(&status),
        error: status.error.unwrap_or_default(),
    })
}

/// The deploy key of the source (fluxd's first key without a source).
fn identity<'a>(
    shared: &'a Shared,
    target: Target<'a>,
) -> Result<&'a Arc<crate::deploykey::Identity>, ApiError> {
    let identity = match target.source {
        Some(source) => source.identity.as_ref(),
        None => shared.identity.as_ref(),
    };
    identity.ok_or_else(|| {
        ApiError::missing("fluxd has no deploy key (the git remote is not reached over ssh)")
    })
}

/// `GET /v6/identity.pub`.
pub fn public_key(
    shared: &Shared,
    target: Target<'_>,
) -> Result<flux_api::ssh::PublicKey, ApiError> {
    super::convert::public_key(identity(shared, target)?)
        .map_err(|e| ApiError::server(e.to_string()))
}

/// `POST /v6/identity.pub`: a new key for the source (and every source
/// sharing its Secret).
pub async fn regenerate_key(shared: &Shared, target: Target<'_>) -> Result<(), ApiError> {
    identity(shared, target)?
        .regenerate()
        .await
        .map(drop)
        .map_err(|e| ApiError::server(e.to_string()))
}
