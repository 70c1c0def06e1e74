//! What can go wrong calling the API, told apart the way a user needs:
//! the daemon is not there, too slow, refuses the credentials, lacks the
//! route, retired it, or failed.

use std::time::Duration;

use crate::error::ApiError;
use crate::routes::Route;

/// What the daemon said in an error reply: Flux v1's JSON error body when it
/// sent one, else the body as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorBody {
    /// Flux v1's error JSON (with a non-empty `error`).
    Api(Box<ApiError>),
    /// Any other body, as text (maybe empty).
    Text(String),
}

impl ErrorBody {
    /// The API error, when the body was one.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            ErrorBody::Api(e) => Some(e),
            ErrorBody::Text(_) => None,
        }
    }
}

impl std::fmt::Display for ErrorBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ErrorBody::Api(e) => write!(f, "{e}"),
            ErrorBody::Text(t) if t.trim().is_empty() => f.write_str("(no message)"),
            ErrorBody::Text(t) => f.write_str(t.trim_end()),
        }
    }
}

/// An API call failed. Every variant names the route and the URL asked
/// (without any password in it).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The base URL cannot be used.
    #[error("invalid Flux API URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL given.
        url: String,
        /// Why it is unusable.
        reason: String,
    },
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {source}")]
    Build {
        /// The cause.
        #[source]
        source: reqwest::Error,
    },
    /// No connection could be made: fluxd is not running there, or the
    /// port-forward is down.
    #[error("cannot reach the Flux daemon at {url} ({route}): {source}")]
    Unreachable {
        /// The route.
        route: Route,
        /// The URL asked.
        url: String,
        /// The cause.
        #[source]
        source: reqwest::Error,
    },
    /// No complete answer came within the timeout.
    #[error("the Flux daemon did not answer {route} at {url} within {timeout:?}")]
    Timeout {
        /// The route.
        route: Route,
        /// The URL asked.
        url: String,
        /// The timeout.
        timeout: Duration,
    },
    /// The connection failed during the exchange.
    #[error("{route} request to {url} failed: {source}")]
    Transport {
        /// The route.
        route: Route,
        /// The URL asked.
        url: String,
        /// The cause.
        #[source]
        source: reqwest::Error,
    },
    /// 401: the token is missing or wrong.
    #[error(
        "the Flux daemon at {url} refused the request ({route}, 401 Unauthorized): \
         the API token is missing or wrong: {body}"
    )]
    Unauthorized {
        /// The route.
        route: Route,
        /// The URL asked.
        url: String,
        /// What the daemon said.
        body: ErrorBody,
    },
    /// 404: the daemon does not serve the route (an older or newer daemon),
    /// or the thing asked for (a job ID) is unknown.
    #[error("{route} at {url}: not found (404): {body}")]
    NotFound {
        /// The route.
        route: Route,
        /// The URL asked.
        url: String,
        /// What the daemon said.
        body: ErrorBody,
    },
    /// 410: the daemon has retired this API version.
    #[error("{route} at {url}: gone (410), the daemon no longer serves this API version: {body}")]
    Gone {
        /// The route.
        route: Route,
        /// The URL asked.
        url: String,
        /// What the daemon said.
        body: ErrorBody,
    },
    /// 5xx: the daemon failed.
    #[error("{route} at {url}: the Flux daemon failed ({status}): {body}")]
    Server {
        /// The route.
        route: Route,
        /// The URL asked.
        url: String,
        /// The status code.
        status: u16,
        /// What the daemon said.
        body: ErrorBody,
    },
    /// Any other non-success status (400, 422, …): the request was refused.
    #[error("{route} at {url}: request refused ({status}): {body}")]
    Rejected {
        /// The route.
        route: Route,
        /// The URL asked.
        url: String,
        /// The status code.
        status: u16,
        /// What the daemon said.
        body: ErrorBody,
    },
    /// The request body could not be written as JSON.
    #[error("{route}: cannot encode the request body: {source}")]
    Encode {
        /// The route.
        route: Route,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// A job the client waited for failed.
    #[error("job {id} failed: {error}")]
    JobFailed {
        /// The job ID.
        id: String,
        /// The job's error.
        error: String,
        /// What the job did before failing.
        result: Box<crate::job::JobResult>,
    },
    /// Waiting for a job or a sync ran out of time.
    #[error("timed out after {timeout:?} waiting for {what}")]
    WaitTimeout {
        /// What was awaited.
        what: String,
        /// How long the wait was allowed.
        timeout: Duration,
    },
    /// The reply was not the JSON the route returns.
    #[error("{route} at {url}: cannot read the reply: {reason}")]
    Decode {
        /// The route.
        route: Route,
        /// The URL asked.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl Error {
    /// The status code of an error reply.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Unauthorized { .. } => Some(401),
            Error::NotFound { .. } => Some(404),
            Error::Gone { .. } => Some(410),
            Error::Server { status, .. } | Error::Rejected { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Flux v1's error body of an error reply, when the daemon sent one;
    /// its `help` is what fluxctl shows the user.
    pub fn api_error(&self) -> Option<&ApiError> {
        match self {
            Error::Unauthorized { body, .. }
            | Error::NotFound { body, .. }
            | Error::Gone { body, .. }
            | Error::Server { body, .. }
            | Error::Rejected { body, .. } => body.api(),
            _ => None,
        }
    }

    /// The route of the failed call, if a call was made.
    pub fn route(&self) -> Option<Route> {
        match self {
            Error::InvalidUrl { .. }
            | Error::Build { .. }
            | Error::JobFailed { .. }
            | Error::WaitTimeout { .. } => None,
            Error::Unreachable { route, .. }
            | Error::Timeout { route, .. }
            | Error::Transport { route, .. }
            | Error::Unauthorized { route, .. }
            | Error::NotFound { route, .. }
            | Error::Gone { route, .. }
            | Error::Server { route, .. }
            | Error::Rejected { route, .. }
            | Error::Encode { route, .. }
            | Error::Decode { route, .. } => Some(*route),
        }
    }
}
