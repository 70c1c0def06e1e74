//! The error body of Flux v1's API: `{"type":…,"help":…,"error":…}`.
//!
//! fluxd answers a failed request with this JSON (when the request's
//! `Accept` header asks for JSON, as every fluxctl does) and a status code
//! that follows from its type: `missing` → 404, `user` → 422, `server` →
//! 500; a dead API version is `missing` with 410, a bad request body 400.
//! A request without an `Accept` header gets the bare `error` text, and one
//! preferring `text/plain` gets the `help` text; both with
//! `Content-Type: text/plain; charset=utf-8`. [`ErrorFormat::negotiate`]
//! makes that choice and [`ApiError::render`] writes the body.
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

/// How an error reply is written, chosen from the request's `Accept`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorFormat {
    /// Flux's JSON error body.
    Json,
    /// The `help` text, as plain text.
    Help,
    /// The one-line `error` text, as plain text.
    Error,
}

impl ErrorFormat {
    /// Chooses as Flux v1 did. No `Accept` header (older clients): the
    /// error text. Otherwise, of `application/json` and `text/plain`, the
    /// one with the highest `q` (JSON on a tie); when the header names
    /// neither (`*/*` included), the error text; an `Accept` header with no
    /// media ranges at all means JSON. Ranges with `q=0` are not acceptable.
    pub fn negotiate(accept: Option<&str>) -> ErrorFormat {
        let Some(accept) = accept else {
            return ErrorFormat::Error;
        };
        let mut best: Option<(f32, ErrorFormat)> = None;
        let mut any_range = false;
        for range in accept.split(',') {
            let mut parts = range.split(';');
            let media = parts.next().unwrap_or_default().trim();
            if media.is_empty() {
                continue;
            }
            any_range = true;
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|v| v.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            let format = if media.eq_ignore_ascii_case("application/json") {
                ErrorFormat::Json
            } else if media.eq_ignore_ascii_case("text/plain") {
                ErrorFormat::Help
            } else {
                continue;
            };
            if q <= 0.0 {
                continue;
            }
            let better = match best {
                None => true,
                Some((bq, bf)) => {
                    q > bq || (q == bq && format == ErrorFormat::Json && bf != ErrorFormat::Json)
                }
            };
            if better {
                best = Some((q, format));
            }
        }
        match best {
            Some((_, format)) => format,
            None if !any_range => ErrorFormat::Json,
            None => ErrorFormat::Error,
        }
    }

    /// The `Content-Type` of the reply.
    pub fn content_type(self) -> &'static str {
        match self {
            ErrorFormat::Json => "application/json; charset=utf-8",
            ErrorFormat::Help | ErrorFormat::Error => "text/plain; charset=utf-8",
        }
    }
}

impl ApiError {
    /// The reply body in the given format.
    pub fn render(&self, format: ErrorFormat) -> Vec<u8> {
        match format {
            ErrorFormat::Json => {
                serde_json::to_vec(self).expect("an ApiError always serialises to JSON")
            }
            ErrorFormat::Help => self.help.clone().into_bytes(),
            ErrorFormat::Error => self.error.clone().into_bytes(),
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_negotiated_as_flux_v1_did() {
        let cases = [
            (None, ErrorFormat::Error),
            (Some("application/json"), ErrorFormat::Json),
            (Some("text/plain"), ErrorFormat::Help),
            (Some("text/plain, application/json"), ErrorFormat::Json),
            (
                Some("application/json;q=0.5, text/plain"),
                ErrorFormat::Help,
            ),
            (
                Some("text/plain;q=0.9, application/json;q=0.8"),
                ErrorFormat::Help,
            ),
            (Some("*/*"), ErrorFormat::Error),
            (Some("text/html"), ErrorFormat::Error),
            (Some("application/json;q=0"), ErrorFormat::Error),
            (Some(""), ErrorFormat::Json),
        ];
        for (accept, want) in cases {
            assert_eq!(ErrorFormat::negotiate(accept), want, "{accept:?}");
        }
    }

    #[test]
    fn bodies_are_rendered_per_format() {
        let e = ApiError::new(ErrorType::User, "short", "long help\n");
        assert_eq!(e.render(ErrorFormat::Help), b"long help\n");
        assert_eq!(e.render(ErrorFormat::Error), b"short");
        let json: ApiError = serde_json::from_slice(&e.render(ErrorFormat::Json)).expect("JSON");
        assert_eq!(json, e);
        assert_eq!(
            ErrorFormat::Help.content_type(),
            "text/plain; charset=utf-8"
        );
    }
}
