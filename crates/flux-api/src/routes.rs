//! The route table of Flux v1's API: method, path and name of every route,
//! the query parameter names, and the dead versions.
//!
//! Paths are relative to the API's mount point, [`API_PREFIX`] (`/api/flux`);
//! fluxctl's base URL ends with it (`http://127.0.0.1:3030/api/flux`).
//!
//! How Flux v1's router (gorilla/mux) matched, which a server should
//! reproduce:
//! - A route with required query keys ([`Route::required_query`]) does not
//!   match when one is absent; the request then falls through to "not
//!   found" (404, JSON [`crate::ApiError::not_found`]). So does a request
//!   with the wrong method on a known path: Flux v1 answers 404, not 405.
//! - Any path under `/v1/` … `/v5/` ([`DEAD_VERSIONS`]) answers 410 Gone
//!   with [`crate::ApiError::deprecated`].
//! - Success codes: `Ping` and `RegeneratePublicSSHKey` answer 204 with no
//!   body, `Notify` 202 with no body, every other route 200 with a JSON body
//!   (`Content-Type: application/json; charset=utf-8`).

use std::fmt;

use http::Method;

/// Where the API is mounted on fluxd's listener.
pub const API_PREFIX: &str = "/api/flux";

/// API versions whose every path answers 410 Gone.
pub const DEAD_VERSIONS: [&str; 5] = ["v1", "v2", "v3", "v4", "v5"];

/// Query parameter names.
pub mod query {
    /// `GET /v6/services`, `/v11/services`, `/v10/images`: a namespace.
    pub const NAMESPACE: &str = "namespace";
    /// `GET /v11/services`: comma-separated workload IDs.
    pub const SERVICES: &str = "services";
    /// `GET /v6/images`, `/v10/images`: a workload ID or `<all>`;
    /// `POST /v6/update-images`: a workload spec (repeatable).
    pub const SERVICE: &str = "service";
    /// `GET /v10/images`: comma-separated container fields.
    pub const CONTAINER_FIELDS: &str = "containerFields";
    /// `GET /v6/jobs`: the job ID.
    pub const ID: &str = "id";
    /// `GET /v6/sync`: the revision to check.
    pub const REF: &str = "ref";
    /// `POST /v6/update-images`: the image spec.
    pub const IMAGE: &str = "image";
    /// `POST /v6/update-images`: `plan` or `execute`.
    pub const KIND: &str = "kind";
    /// `POST /v6/update-images`: a workload to leave out (repeatable).
    pub const EXCLUDE: &str = "exclude";
    /// `POST /v6/update-images`, `PATCH /v6/policies`: the cause's user.
    pub const USER: &str = "user";
    /// `POST /v6/update-images`, `PATCH /v6/policies`: the cause's message.
    pub const MESSAGE: &str = "message";
    /// Any route: the name of the source (repository) of a fluxd with
    /// several (`fluxd --config`) the request is for; without it, the
    /// first source. This project's addition: Flux v1 had one repository
    /// and ignored the key.
    pub const SOURCE: &str = "source";
}

/// A query string is missing a required key or has a bad value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// A required key is absent.
    #[error("query parameter {0:?} is missing")]
    Missing(&'static str),
    /// A value is invalid.
    #[error("query parameter {param:?}: {value:?} is invalid: {reason}")]
    Invalid {
        /// The key.
        param: &'static str,
        /// The value given.
        value: String,
        /// Why it is invalid.
        reason: String,
    },
}

/// One route of Flux v1's API (named as in Flux v1's router).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Route {
    /// `GET /v11/ping`: 204 when the daemon can reach the cluster.
    Ping,
    /// `GET /v11/version`: the daemon's version, a JSON string.
    Version,
    /// `POST /v11/notify`: a [`crate::v9::Change`]; 202.
    Notify,
    /// `GET /v6/services?namespace=`: [`crate::v6::ControllerStatus`] list.
    ListServices,
    /// `GET /v11/services?namespace=&services=`: the same, with options.
    ListServicesWithOptions,
    /// `GET /v6/images?service=`: [`crate::v6::ImageStatus`] list.
    ListImages,
    /// `GET /v10/images?service=&containerFields=&namespace=`: the same,
    /// with options.
    ListImagesWithOptions,
    /// `POST /v9/update-manifests`: an [`crate::update::Spec`]; a job ID.
    UpdateManifests,
    /// `GET /v6/jobs?id=`: a [`crate::job::Status`].
    JobStatus,
    /// `GET /v6/sync?ref=`: the revisions up to `ref` not yet applied.
    SyncStatus,
    /// `GET|HEAD /v6/export`: the cluster's objects as YAML, sent as a JSON
    /// string holding the base64 of the bytes ([`crate::export`]).
    Export,
    /// `POST /v9/git-repo-config`: body `true` to regenerate the key;
    /// a [`crate::v6::GitConfig`].
    GitRepoConfig,
    /// `POST /v6/update-images?service=&image=&kind=`: legacy release; a
    /// job ID.
    UpdateImages,
    /// `PATCH /v6/policies`: legacy policy change (body: ID →
    /// `{add,remove}`, cause in `user`/`message` query keys); a job ID.
    UpdatePolicies,
    /// `GET /v6/identity.pub`: a [`crate::ssh::PublicKey`].
    GetPublicSshKey,
    /// `POST /v6/identity.pub`: regenerate the deploy key; 204.
    RegeneratePublicSshKey,
    /// `GET /v11/sources`: the repositories fluxd syncs, a
    /// [`crate::sources::SourceStatus`] list. This project's addition (not
    /// in Flux v1, whose fluxd answers it 404), so not in [`Route::ALL`]
    /// but in [`Route::EXTENSIONS`].
    ListSources,
}

impl Route {
    /// Every route, in Flux v1's order.
    pub const ALL: [Route; 16] = [
        Route::Ping,
        Route::Version,
        Route::Notify,
        Route::ListServices,
        Route::ListServicesWithOptions,
        Route::ListImages,
        Route::ListImagesWithOptions,
        Route::UpdateManifests,
        Route::JobStatus,
        Route::SyncStatus,
        Route::Export,
        Route::GitRepoConfig,
        Route::UpdateImages,
        Route::UpdatePolicies,
        Route::GetPublicSshKey,
        Route::RegeneratePublicSshKey,
    ];

    /// The routes this project added to Flux v1's.
    pub const EXTENSIONS: [Route; 1] = [Route::ListSources];

    /// The route's name in Flux v1 (its metrics label `route`).
    pub fn name(self) -> &'static str {
        match self {
            Route::Ping => "Ping",
            Route::Version => "Version",
            Route::Notify => "Notify",
            Route::ListServices => "ListServices",
            Route::ListServicesWithOptions => "ListServicesWithOptions",
            Route::ListImages => "ListImages",
            Route::ListImagesWithOptions => "ListImagesWithOptions",
            Route::UpdateManifests => "UpdateManifests",
            Route::JobStatus => "JobStatus",
            Route::SyncStatus => "SyncStatus",
            Route::Export => "Export",
            Route::GitRepoConfig => "GitRepoConfig",
            Route::UpdateImages => "UpdateImages",
            Route::UpdatePolicies => "UpdatePolicies",
            Route::GetPublicSshKey => "GetPublicSSHKey",
            Route::RegeneratePublicSshKey => "RegeneratePublicSSHKey",
            Route::ListSources => "ListSources",
        }
    }

    /// The path under [`API_PREFIX`].
    pub fn path(self) -> &'static str {
        match self {
            Route::Ping => "/v11/ping",
            Route::Version => "/v11/version",
            Route::Notify => "/v11/notify",
            Route::ListServices => "/v6/services",
            Route::ListServicesWithOptions => "/v11/services",
            Route::ListImages => "/v6/images",
            Route::ListImagesWithOptions => "/v10/images",
            Route::UpdateManifests => "/v9/update-manifests",
            Route::JobStatus => "/v6/jobs",
            Route::SyncStatus => "/v6/sync",
            Route::Export => "/v6/export",
            Route::GitRepoConfig => "/v9/git-repo-config",
            Route::UpdateImages => "/v6/update-images",
            Route::UpdatePolicies => "/v6/policies",
            Route::GetPublicSshKey | Route::RegeneratePublicSshKey => "/v6/identity.pub",
            Route::ListSources => "/v11/sources",
        }
    }

    /// The method a client uses.
    pub fn method(self) -> Method {
        match self {
            Route::Notify
            | Route::UpdateManifests
            | Route::GitRepoConfig
            | Route::UpdateImages
            | Route::RegeneratePublicSshKey => Method::POST,
            Route::UpdatePolicies => Method::PATCH,
            _ => Method::GET,
        }
    }

    /// Every method the route answers (`Export` also answers `HEAD`).
    pub fn methods(self) -> &'static [Method] {
        match self {
            Route::Export => &[Method::GET, Method::HEAD],
            Route::Notify
            | Route::UpdateManifests
            | Route::GitRepoConfig
            | Route::UpdateImages
            | Route::RegeneratePublicSshKey => &[Method::POST],
            Route::UpdatePolicies => &[Method::PATCH],
            _ => &[Method::GET],
        }
    }

    /// Query keys without which the route does not match (404).
    pub fn required_query(self) -> &'static [&'static str] {
        match self {
            Route::JobStatus => &[query::ID],
            Route::SyncStatus => &[query::REF],
            Route::UpdateImages => &[query::SERVICE, query::IMAGE, query::KIND],
            _ => &[],
        }
    }

    /// Whether Flux v1 kept the route only for older fluxctls.
    pub fn is_legacy(self) -> bool {
        matches!(
            self,
            Route::UpdateImages
                | Route::UpdatePolicies
                | Route::GetPublicSshKey
                | Route::RegeneratePublicSshKey
        )
    }

    /// The status code of success.
    pub fn success_status(self) -> u16 {
        match self {
            Route::Ping | Route::RegeneratePublicSshKey => 204,
            Route::Notify => 202,
            _ => 200,
        }
    }

    /// The route a request matches, given its method, its path under
    /// [`API_PREFIX`] and the keys of its query. `None` means 404 (or 410,
    /// see [`is_dead_path`]).
    pub fn matching<'a>(
        method: &Method,
        path: &str,
        query_keys: impl IntoIterator<Item = &'a str> + Clone,
    ) -> Option<Route> {
        Route::ALL.into_iter().chain(Route::EXTENSIONS).find(|r| {
            r.path() == path
                && r.methods().contains(method)
                && r.required_query()
                    .iter()
                    .all(|k| query_keys.clone().into_iter().any(|q| q == *k))
        })
    }
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} ({})", self.method(), self.path(), self.name())
    }
}

/// Whether a path under [`API_PREFIX`] belongs to a dead version (410).
/// Like Flux v1's prefix match, `/v3/anything` is dead but `/v3` is not.
pub fn is_dead_path(path: &str) -> bool {
    DEAD_VERSIONS.iter().any(|v| {
        path.strip_prefix('/')
            .and_then(|p| p.strip_prefix(v))
            .is_some_and(|rest| rest.starts_with('/'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_has_a_distinct_method_and_path() {
        let mut seen = std::collections::BTreeSet::new();
        for r in Route::ALL.into_iter().chain(Route::EXTENSIONS) {
            for m in r.methods() {
                assert!(seen.insert((m.to_string(), r.path())), "{r} twice");
            }
        }
        assert_eq!(seen.len(), 18);
    }

    #[test]
    fn requests_match_routes_as_flux_v1_did() {
        let none: [&str; 0] = [];
        assert_eq!(
            Route::matching(&Method::GET, "/v11/ping", none),
            Some(Route::Ping)
        );
        assert_eq!(Route::matching(&Method::POST, "/v11/ping", none), None);
        assert_eq!(
            Route::matching(&Method::HEAD, "/v6/export", none),
            Some(Route::Export)
        );
        assert_eq!(Route::matching(&Method::GET, "/v6/jobs", none), None);
        assert_eq!(
            Route::matching(&Method::GET, "/v6/jobs", ["id"]),
            Some(Route::JobStatus)
        );
        assert_eq!(
            Route::matching(&Method::POST, "/v6/identity.pub", none),
            Some(Route::RegeneratePublicSshKey)
        );
        assert_eq!(
            Route::matching(&Method::POST, "/v6/update-images", ["service", "image"]),
            None
        );
        assert_eq!(
            Route::matching(
                &Method::POST,
                "/v6/update-images",
                ["kind", "service", "image"]
            ),
            Some(Route::UpdateImages)
        );
        // Our addition matches too, and `source` is never required.
        assert_eq!(
            Route::matching(&Method::GET, "/v11/sources", none),
            Some(Route::ListSources)
        );
        assert_eq!(
            Route::matching(&Method::GET, "/v6/jobs", ["source", "id"]),
            Some(Route::JobStatus)
        );
    }

    #[test]
    fn dead_versions_are_prefixes() {
        assert!(is_dead_path("/v1/ping"));
        assert!(is_dead_path("/v5/"));
        assert!(!is_dead_path("/v5"));
        assert!(!is_dead_path("/v6/services"));
        assert!(!is_dead_path("/v10/images"));
        assert!(!is_dead_path("/v11/ping"));
    }
}
