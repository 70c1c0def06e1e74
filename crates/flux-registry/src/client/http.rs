//! HTTP details of the registry API: reading answers within size limits,
//! turning statuses into errors, `Retry-After`, `Link` pagination, digests.

use std::time::Duration;

use reqwest::header::{HeaderMap, LINK, RETRY_AFTER};
use reqwest::{Response, StatusCode, Url};

use super::error::{ClientError, error_message};

/// `Retry-After` as seconds or an HTTP date.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let delta = when.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(delta.to_std().unwrap_or(Duration::ZERO))
}

/// The `rel="next"` target of a `Link` header, resolved against `base`.
pub(crate) fn next_link(headers: &HeaderMap, base: &Url) -> Option<Url> {
    for value in headers.get_all(LINK) {
        let Ok(value) = value.to_str() else { continue };
        for link in value.split(',') {
            let mut parts = link.split(';');
            let target = parts.next()?.trim();
            let is_next = parts.any(|p| {
                let p = p.trim().replace(' ', "");
                p == "rel=\"next\"" || p == "rel=next"
            });
            if is_next {
                let target = target.strip_prefix('<')?.strip_suffix('>')?;
                return base.join(target).ok();
            }
        }
    }
    None
}

/// True when `link` has the scheme, host and port of `first`: the only
/// pagination links followed, so a registry's credentials (and its rate
/// budget) are never spent on another host.
pub(super) fn same_origin(link: &Url, first: &Url) -> bool {
    link.scheme() == first.scheme()
        && link.host_str().map(str::to_ascii_lowercase)
            == first.host_str().map(str::to_ascii_lowercase)
        && link.port_or_known_default() == first.port_or_known_default()
}

pub(super) fn header_digest(headers: &HeaderMap) -> Option<String> {
    headers
        .get("docker-content-digest")
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_owned())
}

pub(super) fn sha256_digest(body: &[u8]) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, body);
    let hex: String = d.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

pub(super) fn verify_digest(expected: &str, body: &[u8], url: &Url) -> Result<(), ClientError> {
    if let Some(hex) = expected.strip_prefix("sha512:") {
        let d = ring::digest::digest(&ring::digest::SHA512, body);
        let got: String = d.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        if got == hex {
            return Ok(());
        }
    } else if sha256_digest(body) == expected {
        return Ok(());
    }
    Err(ClientError::Invalid {
        url: url.to_string(),
        reason: format!("content does not match its digest {expected}"),
    })
}

/// The body of a 200 answer, or the error the status means.
pub(super) async fn expect_ok(
    resp: Response,
    url: &Url,
    limit: usize,
) -> Result<Vec<u8>, ClientError> {
    let resp = check_status(resp, url).await?;
    read_limited(resp, url.as_str(), limit).await
}

/// The answer if it is a success, or the error its status means.
pub(super) async fn check_status(resp: Response, url: &Url) -> Result<Response, ClientError> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let url = url.to_string();
    let body = read_limited(resp, &url, 64 << 10).await.unwrap_or_default();
    let message = error_message(&body);
    Err(if status == StatusCode::NOT_FOUND {
        ClientError::NotFound { url, message }
    } else {
        ClientError::Status {
            url,
            status: status.as_u16(),
            message,
        }
    })
}

pub(super) async fn read_limited(
    resp: Response,
    url: &str,
    limit: usize,
) -> Result<Vec<u8>, ClientError> {
    read_capped(resp, url, limit)
        .await?
        .ok_or_else(|| ClientError::Invalid {
            url: url.to_owned(),
            reason: format!("answer is larger than {limit} bytes"),
        })
}

/// The body if it is at most `limit` bytes, `None` if it is larger (read no
/// further than the limit).
pub(super) async fn read_capped(
    mut resp: Response,
    url: &str,
    limit: usize,
) -> Result<Option<Vec<u8>>, ClientError> {
    if resp.content_length().is_some_and(|n| n > limit as u64) {
        return Ok(None);
    }
    let mut out = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|source| ClientError::Transport {
            url: url.to_owned(),
            source,
        })?
    {
        if out.len() + chunk.len() > limit {
            return Ok(None);
        }
        out.extend_from_slice(&chunk);
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn link_headers() {
        let base = Url::parse("http://r:5000/v2/a/tags/list?n=2").unwrap();
        let mut h = HeaderMap::new();
        assert_eq!(next_link(&h, &base), None);
        h.insert(
            LINK,
            HeaderValue::from_static(r#"</v2/a/tags/list?last=b&n=2>; rel="next""#),
        );
        assert_eq!(
            next_link(&h, &base).unwrap().as_str(),
            "http://r:5000/v2/a/tags/list?last=b&n=2"
        );
        h.insert(
            LINK,
            HeaderValue::from_static(r#"<https://x/p>; rel="prev", <https://x/n>; rel=next"#),
        );
        // Parsed, but on another origin: the tag list reader refuses it.
        let foreign = next_link(&h, &base).unwrap();
        assert_eq!(foreign.as_str(), "https://x/n");
        assert!(!same_origin(&foreign, &base));
    }

    #[test]
    fn origins() {
        let first = Url::parse("https://r.io/v2/a/tags/list?n=2").unwrap();
        for (link, same) in [
            ("https://r.io/v2/a/tags/list?last=b", true),
            ("https://R.IO:443/v2/a/tags/list?last=b", true),
            ("https://r.io:443/other", true),
            ("http://r.io/v2/a/tags/list", false),
            ("https://r.io:8443/v2/a/tags/list", false),
            ("https://s.io/v2/a/tags/list", false),
            ("https://r.io.evil/v2/a/tags/list", false),
            ("https://user:pw@s.io/", false),
        ] {
            let link = Url::parse(link).unwrap();
            assert_eq!(same_origin(&link, &first), same, "{link}");
        }
    }

    #[test]
    fn retry_after_forms() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert(RETRY_AFTER, HeaderValue::from_static("120"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(120)));
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&h), Some(Duration::ZERO), "a date in the past");
        let future = (chrono::Utc::now() + chrono::Duration::seconds(90)).to_rfc2822();
        h.insert(RETRY_AFTER, HeaderValue::from_str(&future).unwrap());
        let d = retry_after(&h).unwrap().as_secs();
        assert!((85..=90).contains(&d), "{d}");
        h.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn digests() {
        assert_eq!(
            sha256_digest(b""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let url = Url::parse("http://h/").unwrap();
        assert!(verify_digest(&sha256_digest(b"x"), b"x", &url).is_ok());
        assert!(verify_digest(&sha256_digest(b"x"), b"y", &url).is_err());
        assert_eq!(super::super::auth::basic("u", "p"), "Basic dTpw");
    }
}
