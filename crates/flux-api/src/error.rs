//! The error body of Flux v1's API: `{"type":…,"help":…,"error":…}`.
//!
//! fluxd answers a failed request with this JSON (when the request's
//! `Accept` header asks for JSON, as every fluxctl does) and a status code
//! that follows from its type: `missing` → 404, `user` → 422, `server` →
//! 500; a dead API version is `missing` with 410, a bad request body 400.
//! A request without an `Accept` header gets the bare `error` text, and one
//! accepting only `text/plain` gets the `help` text; both with
//! `Content-Type: text/plain; charset=utf-8`.
//!
//! fluxctl prints `help` to the user and treats a JSON body whose `error`
//! is empty as "not one of Flux's errors", falling back to the status line
//! and raw body.

use serde::{Deserialize, Serialize};

use crate::wire::open_string_enum;

open_string_enum! {
    /// Whose fault an error is, which also decides its status code.
    pub enum ErrorType {
        /// Something went wrong on the daemon's side; retrying may help.
        Server = "server",
        /// The thing asked for does not exist (404).
        Missing = "missing",
        /// The request was well formed but cannot be done as things are (422).
        User = "user",
    }
}

/// Go's zero value: the empty string.
impl Default for ErrorType {
    fn default() -> Self {
        ErrorType::Other(String::new())
    }
}

impl ErrorType {
    /// The status code fluxd answers with for this type of error.
    pub fn status_code(&self) -> u16 {
        match self {
            ErrorType::Missing => 404,
            ErrorType::User => 422,
            ErrorType::Server | ErrorType::Other(_) => 500,
        }
    }
}

/// Flux v1's error body (`fluxerr.Error` as JSON).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(default)]
pub struct ApiError {
    /// Whose fault it is.
    #[serde(rename = "type")]
    pub kind: ErrorType,
    /// A message written for the user, often several lines.
    pub help: String,
    /// The underlying error, one line; left out when empty.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub error: String,
}

/// The short `error` text of a request to a route the daemon does not serve.
pub const NOT_FOUND: &str = "API endpoint not found";
/// The short `error` text of a request to a dead API version (`/v1`–`/v5`).
pub const DEPRECATED: &str = "API endpoint deprecated";
/// The short `error` text of a request that failed authentication.
pub const UNAUTHORIZED: &str = "request failed authentication";

impl ApiError {
    /// An error of the given type.
    pub fn new(kind: ErrorType, error: impl Into<String>, help: impl Into<String>) -> Self {
        ApiError {
            kind,
            help: help.into(),
            error: error.into(),
        }
    }

    /// The body for a request to an unknown route (404), naming its path.
    pub fn not_found(path: &str) -> Self {
        ApiError::new(
            ErrorType::Missing,
            NOT_FOUND,
            format!(
                "This daemon does not serve the API route {path}.\n\n\
                 The client is probably newer or older than the daemon: use a\n\
                 fluxctl that matches the daemon's version.\n"
            ),
        )
    }

    /// The body for a request to a dead API version (410).
    pub fn deprecated() -> Self {
        ApiError::new(
            ErrorType::Missing,
            DEPRECATED,
            "This version of the API is no longer served (versions 1 to 5 were\n\
             retired): upgrade the client (fluxctl) to one matching the daemon.\n",
        )
    }

    /// The body for a request without valid credentials (401).
    pub fn unauthorized() -> Self {
        ApiError::new(
            ErrorType::User,
            UNAUTHORIZED,
            "The request failed authentication: the API token is missing or\n\
             wrong. Give fluxctl the token with --token or FLUX_SERVICE_TOKEN.\n",
        )
    }

    /// A user error (422) whose help repeats the message, for errors that
    /// have no help text of their own (Flux v1's catch-all).
    pub fn user(error: impl Into<String>) -> Self {
        let error = error.into();
        let help = format!("Error: {error}\n");
        ApiError::new(ErrorType::User, error, help)
    }

    /// A server error (500) whose help repeats the message.
    pub fn server(error: impl Into<String>) -> Self {
        let error = error.into();
        let help = format!("Error: {error}\n");
        ApiError::new(ErrorType::Server, error, help)
    }

    /// A missing-thing error (404), such as an unknown job ID.
    pub fn missing(error: impl Into<String>) -> Self {
        let error = error.into();
        let help = format!("Error: {error}\n");
        ApiError::new(ErrorType::Missing, error, help)
    }

    /// Whether fluxctl would recognise this as one of Flux's errors (it
    /// ignores a JSON error body whose `error` is empty).
    pub fn is_flux_error(&self) -> bool {
        !self.error.is_empty()
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.error.is_empty() {
            f.write_str(self.help.trim_end())
        } else {
            f.write_str(&self.error)
        }
    }
}

impl std::error::Error for ApiError {}
