//! The remote: which URLs are accepted, and how they are shown.
//!
//! fluxd takes `--git-url` in any form git understands for a network or
//! local repository: `ssh://`, scp-like `git@host:path`, `https://`,
//! `http://`, `git://` and `file://` (or a plain local path). Remote-helper
//! and `ext::` transports are refused: they run programs named by the URL.
//! Passwords embedded in URLs are kept for git, but never shown.

use std::fmt;

use crate::error::Error;

/// How a remote is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// `ssh://` or scp-like `user@host:path`: the `ssh` program, with the
    /// deploy key and strict host key checking.
    Ssh,
    /// `https://`.
    Https,
    /// `http://` (no TLS).
    Http,
    /// `git://` (the git daemon protocol; no authentication).
    Git,
    /// `file://` or a local path.
    File,
}

/// A validated `--git-url`.
#[derive(Clone, PartialEq, Eq)]
pub struct Remote {
    raw: String,
    url: gix::Url,
}

impl Remote {
    /// Parses and checks a URL.
    ///
    /// ```
    /// use flux_git::{Remote, Transport};
    /// let r = Remote::parse("git@github.com:fluxcd/flux-get-started").unwrap();
    /// assert_eq!(r.transport(), Transport::Ssh);
    /// let r = Remote::parse("https://flux:s3cret@git.example.com/team/config.git").unwrap();
    /// assert_eq!(r.to_string(), "https://flux@git.example.com/team/config.git");
    /// assert!(Remote::parse("ext::sh -c touch% /tmp/pwned").is_err());
    /// ```
    pub fn parse(url: &str) -> Result<Self, Error> {
        let invalid = |reason: &str| Error::InvalidUrl {
            url: redact(url),
            reason: reason.to_owned(),
        };
        let trimmed = url.trim();
        if trimmed.is_empty() {
            return Err(invalid("it is empty"));
        }
        if trimmed != url {
            return Err(invalid("it has leading or trailing whitespace"));
        }
        if url.starts_with('-') {
            return Err(invalid(
                "it starts with '-' and could be taken for an option",
            ));
        }
        if url.chars().any(char::is_control) {
            return Err(invalid("it contains control characters"));
        }
        let parsed = gix::url::parse(url.as_bytes()).map_err(|e| Error::InvalidUrl {
            url: redact(url),
            reason: e.to_string(),
        })?;
        match parsed.scheme {
            gix::url::Scheme::Ssh
            | gix::url::Scheme::Http
            | gix::url::Scheme::Https
            | gix::url::Scheme::Git
            | gix::url::Scheme::File => {}
            _ => {
                return Err(invalid(
                    "only ssh, https, http, git and file URLs are accepted (remote helpers and ext:: run programs)",
                ));
            }
        }
        if parsed.scheme != gix::url::Scheme::File && parsed.host().is_none_or(str::is_empty) {
            return Err(invalid("it has no host"));
        }
        if parsed.host().is_some_and(|h| h.starts_with('-'))
            || parsed.user().is_some_and(|u| u.starts_with('-'))
        {
            return Err(invalid(
                "its user or host starts with '-' and could be taken for an option",
            ));
        }
        Ok(Remote {
            raw: url.to_owned(),
            url: parsed,
        })
    }

    /// How it is reached.
    pub fn transport(&self) -> Transport {
        match self.url.scheme {
            gix::url::Scheme::Ssh => Transport::Ssh,
            gix::url::Scheme::Https => Transport::Https,
            gix::url::Scheme::Http => Transport::Http,
            gix::url::Scheme::Git => Transport::Git,
            _ => Transport::File,
        }
    }

    /// The URL exactly as given, password included: for git only, never for
    /// display.
    pub(crate) fn secret_url(&self) -> &str {
        &self.raw
    }

    /// The password in the URL, in every form it can show up in: as written
    /// in the URL (percent-encoded; what the `git` program echoes back in
    /// its arguments) and decoded (what is sent, and what gix may print).
    /// Empty when the URL has none.
    pub(crate) fn secrets(&self) -> Vec<String> {
        let mut secrets: Vec<String> = Vec::new();
        for secret in [raw_password(&self.raw), self.url.password()]
            .into_iter()
            .flatten()
        {
            if !secret.is_empty() && !secrets.iter().any(|s| s == secret) {
                secrets.push(secret.to_owned());
            }
        }
        secrets
    }

    /// Flux v1's "safe URL": the URL without its password, with scp-like
    /// addresses written as `ssh://` (as used for the GC sync-set name).
    ///
    /// ```
    /// use flux_git::Remote;
    /// let r = Remote::parse("git@github.com:org/repo").unwrap();
    /// assert_eq!(r.safe_url(), "ssh://git@github.com/org/repo");
    /// ```
    pub fn safe_url(&self) -> String {
        let mut url = self.url.clone();
        url.set_password(None);
        if url.scheme == gix::url::Scheme::Ssh && url.serialize_alternative_form {
            let user = url.user().map(|u| format!("{u}@")).unwrap_or_default();
            let port = url.port.map(|p| format!(":{p}")).unwrap_or_default();
            let path = url.path.to_string();
            return format!(
                "ssh://{user}{}{port}/{}",
                url.host().unwrap_or_default(),
                path.trim_start_matches('/')
            );
        }
        url.to_bstring().to_string()
    }
}

impl fmt::Display for Remote {
    /// The URL as given, without its password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact(&self.raw))
    }
}

impl fmt::Debug for Remote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Remote").field(&self.to_string()).finish()
    }
}

/// The byte range of the password in `scheme://user:password@host…`.
fn password_range(url: &str) -> Option<std::ops::Range<usize>> {
    let start = url.find("://")? + 3;
    let rest = &url[start..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let at = rest[..authority_end].rfind('@')?;
    let colon = rest[..at].find(':')?;
    Some(start + colon + 1..start + at)
}

/// The password of `scheme://user:password@host…` as written.
fn raw_password(url: &str) -> Option<&str> {
    password_range(url).map(|r| &url[r])
}

/// `url` with any `:password` of a `scheme://user:password@host` removed.
pub(crate) fn redact(url: &str) -> String {
    match password_range(url) {
        Some(r) => format!("{}{}", &url[..r.start - 1], &url[r.end..]),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_urls_and_their_transports() {
        for (url, transport) in [
            (
                "ssh://git@github.com/fluxcd/flux-get-started",
                Transport::Ssh,
            ),
            ("ssh://git@127.0.0.1:2222/srv/repo.git", Transport::Ssh),
            ("git@github.com:fluxcd/flux-get-started", Transport::Ssh),
            ("git@ssh.dev.azure.com:v3/org/project/repo", Transport::Ssh),
            (
                "https://github.com/fluxcd/flux-get-started",
                Transport::Https,
            ),
            ("http://127.0.0.1:8080/repo.git", Transport::Http),
            ("git://127.0.0.1:9418/repo.git", Transport::Git),
            ("file:///srv/git/repo.git", Transport::File),
            ("/srv/git/repo.git", Transport::File),
        ] {
            let r = Remote::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"));
            assert_eq!(r.transport(), transport, "{url}");
        }
    }

    #[test]
    fn refused_urls() {
        for (url, why) in [
            ("", "empty"),
            (" https://x/y", "whitespace"),
            ("-oProxyCommand=evil", "option"),
            ("--upload-pack=touch /tmp/pwned", "option"),
            ("ext::sh -c evil", "ext"),
            ("ssh://-oProxyCommand=x/path", "option"),
            ("https:///path-only", "host"),
        ] {
            let err = Remote::parse(url).unwrap_err().to_string();
            assert!(err.contains("invalid git URL"), "{url}: {err}");
            let _ = why;
        }
    }

    #[test]
    fn passwords_never_show() {
        let r = Remote::parse("https://user:hunter2@example.com/r.git").unwrap();
        assert_eq!(r.secrets(), ["hunter2"]);
        for shown in [r.to_string(), format!("{r:?}"), r.safe_url()] {
            assert!(!shown.contains("hunter2"), "{shown}");
            assert!(shown.contains("user@example.com"), "{shown}");
        }
        let err = Remote::parse("xx://user:hunter2@example.com/r.git")
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn secrets_are_the_password_as_written_and_as_sent() {
        let r = Remote::parse("https://flux:p%40ss%2Fw@example.com/r.git").unwrap();
        let mut secrets = r.secrets();
        secrets.sort();
        assert_eq!(secrets, ["p%40ss%2Fw", "p@ss/w"]);
        let r = Remote::parse("https://flux:plain@example.com/r.git").unwrap();
        assert_eq!(r.secrets(), ["plain"]);
        for url in [
            "https://flux@example.com/r.git",
            "https://example.com/r.git",
            "git@example.com:r",
        ] {
            assert!(Remote::parse(url).unwrap().secrets().is_empty(), "{url}");
        }
    }

    #[test]
    fn safe_urls_as_flux_v1_wrote_them() {
        for (input, want) in [
            ("git@github.com:org/repo", "ssh://git@github.com/org/repo"),
            (
                "git@ssh.dev.azure.com:v3/o/p/r",
                "ssh://git@ssh.dev.azure.com/v3/o/p/r",
            ),
            (
                "ssh://git@example.com:2222/srv/r.git",
                "ssh://git@example.com:2222/srv/r.git",
            ),
            (
                "https://u:p@example.com/r.git",
                "https://u@example.com/r.git",
            ),
            ("git://example.com/r.git", "git://example.com/r.git"),
        ] {
            assert_eq!(Remote::parse(input).unwrap().safe_url(), want, "{input}");
        }
    }

    #[test]
    fn redact_leaves_urls_without_password_alone() {
        for (input, want) in [
            ("https://a:b@h/p", "https://a@h/p"),
            ("https://a@h/p", "https://a@h/p"),
            ("https://h/p@x:y", "https://h/p@x:y"),
            ("git@h:p", "git@h:p"),
        ] {
            assert_eq!(redact(input), want);
        }
    }
}
