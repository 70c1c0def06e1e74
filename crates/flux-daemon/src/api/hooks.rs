//! Push webhooks (this project's addition): GitHub and GitLab tell fluxd a
//! branch moved, so it fetches at once instead of at the next poll.
//!
//! Served at `/hooks/github` and `/hooks/gitlab` when `--webhook-secret-file`
//! is given (otherwise they are not routes). GitHub's requests must carry
//! `X-Hub-Signature-256`, the HMAC-SHA256 of the body with the secret;
//! GitLab's carry the secret itself in `X-Gitlab-Token`. A request that
//! fails the check gets 401 and changes nothing. A push to another
//! repository or branch is acknowledged and ignored.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::daemon::Shared;

/// The largest webhook body read (GitHub caps payloads at 25 MB; pushes
/// with many commits are large, but fluxd only needs the ref and URLs).
pub const MAX_HOOK_BODY: usize = 25 << 20;

/// What a push webhook says, whichever host sent it.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Push {
    /// The ref that moved (`refs/heads/main`).
    pub reference: String,
    /// Every URL the repository is known by.
    pub urls: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct GitHubPush {
    #[serde(rename = "ref")]
    reference: String,
    repository: GitHubRepo,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct GitHubRepo {
    clone_url: String,
    ssh_url: String,
    git_url: String,
    html_url: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct GitLabPush {
    #[serde(rename = "ref")]
    reference: String,
    project: GitLabProject,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct GitLabProject {
    git_ssh_url: String,
    git_http_url: String,
    web_url: String,
}

/// Checks a GitHub signature header (`sha256=<hex>`) against the body.
pub fn github_signature_ok(secret: &str, body: &[u8], header: Option<&str>) -> bool {
    let Some(hex) = header.and_then(|h| h.strip_prefix("sha256=")) else {
        return false;
    };
    let Some(given) = decode_hex(hex) else {
        return false;
    };
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    ring::hmac::verify(&key, body, &given).is_ok()
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

fn notify(shared: &Shared, push: &Push) -> usize {
    let mut notified = 0;
    for s in &shared.sources {
        let config = s.repo.config();
        let ours = push
            .urls
            .iter()
            .filter(|u| !u.is_empty())
            .any(|u| super::flux::same_repo(u, &config.remote.safe_url()));
        if ours && push.reference == config.branch_ref() {
            tracing::info!(source = %s.name, reference = %push.reference, "push webhook: fetching");
            s.repo.notify();
            notified += 1;
        }
    }
    notified
}

async fn read(body: Body) -> Result<axum::body::Bytes, Response> {
    axum::body::to_bytes(body, MAX_HOOK_BODY)
        .await
        .map_err(|_| (StatusCode::PAYLOAD_TOO_LARGE, "payload too large\n").into_response())
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// `POST /hooks/github`.
pub async fn github(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Body) -> Response {
    let Some(secret) = shared.config.webhook_secret.clone() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let body = match read(body).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    if !github_signature_ok(&secret, &body, header(&headers, "x-hub-signature-256")) {
        tracing::warn!("GitHub webhook with a missing or wrong signature: refused");
        return (StatusCode::UNAUTHORIZED, "signature does not match\n").into_response();
    }
    match header(&headers, "x-github-event") {
        Some("ping") => return (StatusCode::OK, "pong\n").into_response(),
        Some("push") => {}
        other => {
            return (StatusCode::ACCEPTED, format!("event {other:?} ignored\n")).into_response();
        }
    }
    let Ok(p) = serde_json::from_slice::<GitHubPush>(&body) else {
        return (StatusCode::BAD_REQUEST, "not a GitHub push payload\n").into_response();
    };
    let push = Push {
        reference: p.reference,
        urls: vec![
            p.repository.clone_url,
            p.repository.ssh_url,
            p.repository.git_url,
            p.repository.html_url,
        ],
    };
    let n = notify(&shared, &push);
    (StatusCode::ACCEPTED, format!("{n} repositories fetching\n")).into_response()
}

/// `POST /hooks/gitlab`.
pub async fn gitlab(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Body) -> Response {
    let Some(secret) = shared.config.webhook_secret.clone() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let token_ok = header(&headers, "x-gitlab-token")
        .is_some_and(|t| super::flux::constant_time_eq(t.as_bytes(), secret.as_bytes()));
    if !token_ok {
        tracing::warn!("GitLab webhook with a missing or wrong token: refused");
        return (StatusCode::UNAUTHORIZED, "token does not match\n").into_response();
    }
    let body = match read(body).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    if header(&headers, "x-gitlab-event") != Some("Push Hook") {
        return (StatusCode::ACCEPTED, "event ignored\n").into_response();
    }
    let Ok(p) = serde_json::from_slice::<GitLabPush>(&body) else {
        return (StatusCode::BAD_REQUEST, "not a GitLab push payload\n").into_response();
    };
    let push = Push {
        reference: p.reference,
        urls: vec![
            p.project.git_ssh_url,
            p.project.git_http_url,
            p.project.web_url,
        ],
    };
    let n = notify(&shared, &push);
    (StatusCode::ACCEPTED, format!("{n} repositories fetching\n")).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_signatures() {
        // HMAC-SHA256("It's a Secret to Everybody", "Hello, World!"), GitHub's documented example.
        let sig = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert!(github_signature_ok(
            "It's a Secret to Everybody",
            b"Hello, World!",
            Some(sig)
        ));
        assert!(!github_signature_ok("wrong", b"Hello, World!", Some(sig)));
        assert!(!github_signature_ok(
            "It's a Secret to Everybody",
            b"Hello, World?",
            Some(sig)
        ));
        assert!(!github_signature_ok(
            "It's a Secret to Everybody",
            b"Hello, World!",
            None
        ));
        assert!(!github_signature_ok(
            "It's a Secret to Everybody",
            b"Hello, World!",
            Some("sha1=abc")
        ));
        assert!(!github_signature_ok(
            "It's a Secret to Everybody",
            b"Hello, World!",
            Some("sha256=zz")
        ));
    }
}
