//! Why a registry request failed, with the URL and who was asking.

use std::time::Duration;

use crate::limit::Blocked;

/// A registry request failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The registry wants credentials and none match its host.
    #[error("{url}: the registry requires authentication and no credentials match {host}")]
    NoCredentials {
        /// The request.
        url: String,
        /// The registry host.
        host: String,
    },
    /// Every set of credentials offered was rejected.
    #[error("{url}: credentials for {who} were rejected")]
    Unauthorized {
        /// The request.
        url: String,
        /// Which credentials: user, key and source (never the password).
        who: String,
    },
    /// The repository, tag or blob does not exist.
    #[error("{url}: not found ({message})")]
    NotFound {
        /// The request.
        url: String,
        /// The registry's explanation.
        message: String,
    },
    /// The registry answered 429 on every attempt.
    #[error("{url}: too many requests (429){}", retry_after_text(.retry_after))]
    RateLimited {
        /// The request.
        url: String,
        /// What the last `Retry-After` said.
        retry_after: Option<Duration>,
    },
    /// The registry answered with a server error on every attempt.
    #[error("{url}: server error {status}: {message}")]
    Server {
        /// The request.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The registry's explanation.
        message: String,
    },
    /// Some other unexpected HTTP status.
    #[error("{url}: unexpected status {status}: {message}")]
    Status {
        /// The request.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The registry's explanation.
        message: String,
    },
    /// No answer: connection refused, reset, timed out, TLS failure. The
    /// message names the root cause (reqwest's own only says that sending
    /// failed).
    #[error("{url}: {}", transport_reason(.source))]
    Transport {
        /// The request.
        url: String,
        /// The underlying error.
        #[source]
        source: reqwest::Error,
    },
    /// The host is backing off for longer than a scan may wait.
    #[error(transparent)]
    Blocked(#[from] Blocked),
    /// The answer cannot be trusted: bad JSON, digest mismatch, too large.
    #[error("{url}: {reason}")]
    Invalid {
        /// The request.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// A tag list passed one of the caps in [`ClientOptions`](super::ClientOptions)
    /// (tags, pages or bytes): it is not read further and the repository is
    /// not scanned.
    #[error("registry {registry}, repository {repository}: the tag list {what}; not read further")]
    TagListTooLong {
        /// The registry host.
        registry: String,
        /// The repository path.
        repository: String,
        /// Which cap, e.g. `has more than 100000 tags (max_tags)`.
        what: String,
    },
    /// A tag or digest is not one by the distribution spec's grammar, so it
    /// was not put in a URL.
    #[error(
        "registry {registry}, repository {repository}: {reference} is not a valid tag or digest ({reason}); not requested"
    )]
    InvalidReference {
        /// The registry host.
        registry: String,
        /// The repository path.
        repository: String,
        /// The reference, quoted and cut short.
        reference: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The HTTP client could not be built.
    #[error("building the HTTP client: {0}")]
    Build(#[source] reqwest::Error),
    /// A client setting cannot be used.
    #[error("invalid {setting} {value}: {reason}")]
    InvalidOption {
        /// The setting, named as fluxd's flag (`--registry-rps`).
        setting: &'static str,
        /// The value given.
        value: String,
        /// What it must be.
        reason: &'static str,
    },
}

/// What went wrong under a transport error: its kind and root cause, with
/// a hint when the registry's certificate was refused.
fn transport_reason(e: &reqwest::Error) -> String {
    let mut causes: Vec<String> = Vec::new();
    let mut next = std::error::Error::source(e);
    while let Some(cause) = next {
        let text = cause.to_string();
        if !causes.iter().any(|c| c.contains(&text)) {
            causes.push(text);
        }
        next = cause.source();
    }
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else if e.is_body() || e.is_decode() {
        "reading the answer failed"
    } else {
        "sending the request failed"
    };
    let Some(root) = causes.last() else {
        return kind.to_owned();
    };
    let hint = if root.contains("UnknownIssuer") {
        " (the registry's TLS certificate is not signed by a trusted CA: add its CA to the \
         system's store, or to the file SSL_CERT_FILE names)"
    } else if root.contains("certificate") {
        " (the registry's TLS certificate was refused)"
    } else {
        ""
    };
    format!("{kind}: {}{hint}", cut(root))
}

fn retry_after_text(d: &Option<Duration>) -> String {
    d.map(|d| format!(", retry after {}s", d.as_secs()))
        .unwrap_or_default()
}

impl ClientError {
    /// True when the fault lies with the host (429, 5xx, unreachable,
    /// backing off) rather than with this repository or tag: a scan stops
    /// asking that host for the rest of the round.
    pub fn is_host_failure(&self) -> bool {
        matches!(
            self,
            Self::RateLimited { .. }
                | Self::Server { .. }
                | Self::Transport { .. }
                | Self::Blocked(_)
        )
    }

    /// True for a missing repository, tag or manifest.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound { .. })
    }
}

/// The message of a registry error body (`{"errors":[{"code":…,"message":…}]}`),
/// or the start of the body as text.
pub(crate) fn error_message(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Envelope {
        errors: Vec<Item>,
    }
    #[derive(serde::Deserialize)]
    struct Item {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    if let Ok(env) = serde_json::from_slice::<Envelope>(body)
        && !env.errors.is_empty()
    {
        let joined = env
            .errors
            .iter()
            .map(|e| format!("{}: {}", e.code, e.message))
            .collect::<Vec<_>>()
            .join("; ");
        return cut(&joined);
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        "no message".to_owned()
    } else {
        cut(text)
    }
}

/// A JSON decoding error, cut short: serde quotes the offending value whole
/// (`invalid type: string "…"`), which may be most of a large answer.
pub(crate) fn json_error(e: &serde_json::Error) -> String {
    let text = e.to_string();
    if text.chars().count() <= MAX_MESSAGE_CHARS {
        return text;
    }
    format!("{} at line {} column {}", cut(&text), e.line(), e.column())
}

/// Most characters of a registry's text copied into an error.
pub(crate) const MAX_MESSAGE_CHARS: usize = 200;

/// `text` cut to [`MAX_MESSAGE_CHARS`], control characters escaped, so a
/// registry cannot make our errors or logs long or multi-line.
pub(crate) fn cut(text: &str) -> String {
    let mut out = String::new();
    for (n, c) in text.chars().enumerate() {
        if n == MAX_MESSAGE_CHARS {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages() {
        assert_eq!(
            error_message(br#"{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry","detail":{}}]}"#),
            "NAME_UNKNOWN: repository name not known to registry"
        );
        assert_eq!(error_message(b"  oops \n"), "oops");
        assert_eq!(error_message(b""), "no message");
        assert_eq!(
            error_message("x".repeat(300).as_bytes()).chars().count(),
            201
        );
        // Many long registry errors are cut too, and cannot add lines.
        let many = serde_json::json!({"errors": (0..1000)
            .map(|i| serde_json::json!({"code": "X", "message": format!("line {i}\n{}", "y".repeat(100))}))
            .collect::<Vec<_>>()});
        let m = error_message(many.to_string().as_bytes());
        assert!(m.chars().count() <= 210 && !m.contains('\n'), "{m}");
        let e = ClientError::RateLimited {
            url: "http://h/v2/a/tags/list".into(),
            retry_after: Some(Duration::from_secs(30)),
        };
        assert_eq!(
            e.to_string(),
            "http://h/v2/a/tags/list: too many requests (429), retry after 30s"
        );
        assert!(e.is_host_failure());
        let e = ClientError::NotFound {
            url: "u".into(),
            message: "m".into(),
        };
        assert!(!e.is_host_failure() && e.is_not_found());
    }
}
