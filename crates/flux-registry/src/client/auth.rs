//! Registry authentication: reading `WWW-Authenticate` challenges and
//! keeping bearer tokens until they expire.
//!
//! A registry answers an unauthenticated request with 401 and a challenge:
//! `Basic realm=…` (send the user and password on every request) or
//! `Bearer realm=…,service=…` (trade them, or nothing for anonymous access,
//! for a short-lived token at the realm, scoped to one repository). A realm
//! may be on another host than the registry; credentials go to it only over
//! https, or to a host named in `--registry-insecure-host`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine as _;

use tokio::time::Instant;

/// How a registry host wants to be authenticated, learnt from its first 401.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Scheme {
    /// HTTP basic authentication.
    Basic,
    /// Token authentication at `realm`.
    Bearer {
        realm: String,
        service: Option<String>,
    },
}

/// Parses a `WWW-Authenticate` header value. Unknown schemes give `None`.
pub(crate) fn parse_challenge(header: &str) -> Option<Scheme> {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    let params = parse_params(rest);
    if scheme.eq_ignore_ascii_case("basic") {
        Some(Scheme::Basic)
    } else if scheme.eq_ignore_ascii_case("bearer") {
        let realm = params.get("realm")?.clone();
        Some(Scheme::Bearer {
            realm,
            service: params.get("service").cloned(),
        })
    } else {
        None
    }
}

fn parse_params(s: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = std::iter::from_fn(|| chars.next_if(|c| *c != '=' && *c != ','))
            .collect::<String>()
            .trim()
            .to_ascii_lowercase();
        if key.is_empty() {
            return out;
        }
        if chars.next_if_eq(&'=').is_none() {
            continue;
        }
        let mut value = String::new();
        if chars.next_if_eq(&'"').is_some() {
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            value = std::iter::from_fn(|| chars.next_if(|c| *c != ','))
                .collect::<String>()
                .trim()
                .to_owned();
        }
        out.insert(key, value);
    }
}

/// The body of a token endpoint's answer.
#[derive(serde::Deserialize)]
pub(crate) struct TokenResponse {
    #[serde(default)]
    pub token: Option<String>,
    #[serde(default)]
    pub access_token: Option<String>,
    #[serde(default)]
    pub expires_in: Option<u64>,
}

/// Tokens are trusted for this long when the server does not say.
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(60);
/// Tokens are kept at most this long, whatever the server says.
const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

impl TokenResponse {
    /// The token and how long to keep it (a tenth less than it lives, and
    /// at most an hour).
    pub fn into_token(self) -> Option<(String, Duration)> {
        let token = self.token.or(self.access_token).filter(|t| !t.is_empty())?;
        let life = self
            .expires_in
            .map_or(DEFAULT_TOKEN_LIFETIME, Duration::from_secs)
            .min(MAX_TOKEN_LIFETIME);
        Some((token, life.mul_f64(0.9)))
    }
}

/// What a token is for: realm, service, scope and whose credentials.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct TokenKey {
    pub realm: String,
    pub service: Option<String>,
    pub scope: String,
    /// Identifies the credentials (never the password itself).
    pub who: Option<String>,
}

/// Bearer tokens until they expire.
#[derive(Debug, Default)]
pub(crate) struct TokenCache {
    tokens: Mutex<HashMap<TokenKey, (String, Instant)>>,
}

impl TokenCache {
    pub fn get(&self, key: &TokenKey) -> Option<String> {
        let tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        tokens
            .get(key)
            .filter(|(_, until)| *until > Instant::now())
            .map(|(t, _)| t.clone())
    }

    pub fn put(&self, key: TokenKey, token: String, life: Duration) {
        let mut tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        tokens.retain(|_, (_, until)| *until > now);
        tokens.insert(key, (token, now + life.min(MAX_TOKEN_LIFETIME)));
    }

    pub fn forget(&self, key: &TokenKey) {
        let mut tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        tokens.remove(key);
    }
}

/// A fingerprint of a user and password, to tell tokens apart without
/// keeping the password in the key.
pub(crate) fn fingerprint(user: &str, password: &str) -> String {
    let d = ring::digest::digest(
        &ring::digest::SHA256,
        format!("{user}\0{password}").as_bytes(),
    );
    let hex: String = d.as_ref()[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("{user}#{hex}")
}

/// The cache key of a pull token for `repo` with these credentials.
pub(crate) fn token_key(
    repo: &flux_core::image::ImageName,
    realm: &str,
    service: Option<&str>,
    cand: Option<&crate::credentials::Candidate>,
) -> TokenKey {
    TokenKey {
        realm: realm.to_owned(),
        service: service.map(str::to_owned),
        scope: format!("repository:{}:pull", repo.path()),
        who: cand.map(|c| fingerprint(&c.auth.username, &c.auth.password)),
    }
}

/// A basic `Authorization` header value.
pub(crate) fn basic(user: &str, password: &str) -> String {
    let raw = format!("{user}:{password}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges() {
        for (header, want) in [
            (r#"Basic realm="Registry Realm""#, Some(Scheme::Basic)),
            ("basic", Some(Scheme::Basic)),
            (
                r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull""#,
                Some(Scheme::Bearer {
                    realm: "https://auth.docker.io/token".into(),
                    service: Some("registry.docker.io".into()),
                }),
            ),
            (
                r#"Bearer service="s", realm="http://127.0.0.1:1/t?x=\"y\"""#,
                Some(Scheme::Bearer {
                    realm: r#"http://127.0.0.1:1/t?x="y""#.into(),
                    service: Some("s".into()),
                }),
            ),
            (
                "Bearer realm=https://a/t,service=b",
                Some(Scheme::Bearer {
                    realm: "https://a/t".into(),
                    service: Some("b".into()),
                }),
            ),
            (r#"Bearer service="no realm""#, None),
            ("Negotiate abc", None),
            ("", None),
        ] {
            assert_eq!(parse_challenge(header), want, "{header}");
        }
    }

    #[test]
    fn token_responses() {
        let t: TokenResponse = serde_json::from_str(r#"{"token":"t","expires_in":300}"#).unwrap();
        assert_eq!(t.into_token(), Some(("t".into(), Duration::from_secs(270))));
        let t: TokenResponse = serde_json::from_str(r#"{"access_token":"a"}"#).unwrap();
        assert_eq!(t.into_token(), Some(("a".into(), Duration::from_secs(54))));
        let t: TokenResponse = serde_json::from_str(r#"{"token":""}"#).unwrap();
        assert_eq!(t.into_token(), None);
    }

    #[tokio::test]
    async fn a_token_that_lives_forever_is_kept_a_while_without_overflow() {
        let t: TokenResponse =
            serde_json::from_str(r#"{"token":"t","expires_in":18446744073709551615}"#).unwrap();
        let (token, life) = t.into_token().unwrap();
        assert!(life <= MAX_TOKEN_LIFETIME, "{life:?}");
        let c = TokenCache::default();
        let key = TokenKey {
            realm: "r".into(),
            service: None,
            scope: "repository:a:pull".into(),
            who: None,
        };
        c.put(key.clone(), token, Duration::MAX);
        assert_eq!(c.get(&key).as_deref(), Some("t"));
    }

    #[tokio::test(start_paused = true)]
    async fn tokens_expire() {
        let c = TokenCache::default();
        let key = TokenKey {
            realm: "r".into(),
            service: None,
            scope: "repository:a:pull".into(),
            who: Some(fingerprint("u", "p")),
        };
        c.put(key.clone(), "tok".into(), Duration::from_secs(10));
        assert_eq!(c.get(&key).as_deref(), Some("tok"));
        tokio::time::advance(Duration::from_secs(11)).await;
        assert_eq!(c.get(&key), None);
        assert_ne!(fingerprint("u", "p"), fingerprint("u", "q"));
        assert!(!fingerprint("u", "secret").contains("secret"));
    }
}
