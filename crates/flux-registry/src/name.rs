//! Image repository names as the registry API needs them: which host to
//! talk to and which path to ask for.
//!
//! This is the small subset of Docker's reference grammar the scanner needs
//! (domain detection, Docker Hub's aliases and its `library/` prefix). When
//! flux-core's `image` module lands, parsing moves there and this type
//! becomes a thin adapter over it.

use std::fmt;

/// The canonical domain of Docker Hub.
pub const DOCKER_HUB: &str = "docker.io";
/// The host Docker Hub's registry API is served from.
pub const DOCKER_HUB_API: &str = "registry-1.docker.io";

/// Host names that all mean Docker Hub.
const DOCKER_HUB_ALIASES: &[&str] = &[
    "docker.io",
    "index.docker.io",
    "registry-1.docker.io",
    "registry.hub.docker.com",
];

/// True when `host` (without a port) is one of Docker Hub's names.
pub fn is_docker_hub(host: &str) -> bool {
    DOCKER_HUB_ALIASES
        .iter()
        .any(|alias| alias.eq_ignore_ascii_case(host))
}

/// An image repository (no tag, no digest), e.g. `docker.io/library/nginx`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RepositoryName {
    domain: String,
    path: String,
}

/// A repository name could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid image repository {name:?}: {reason}")]
pub struct NameError {
    /// The text given.
    pub name: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl RepositoryName {
    /// Parses a repository name such as `nginx`, `fluxcd/flux`,
    /// `index.docker.io/fluxcd/flux` or `localhost:5000/team/app`.
    /// A tag or digest is an error: the scanner works on repositories.
    pub fn parse(name: &str) -> Result<Self, NameError> {
        let err = |reason| NameError {
            name: name.to_owned(),
            reason,
        };
        if name.is_empty() {
            return Err(err("empty name"));
        }
        if name.contains('@') {
            return Err(err("a repository has no digest"));
        }
        let (domain, path) = match name.split_once('/') {
            Some((first, rest))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first.to_ascii_lowercase(), rest.to_owned())
            }
            _ => (DOCKER_HUB.to_owned(), name.to_owned()),
        };
        if path.contains(':') {
            return Err(err("a repository has no tag"));
        }
        if path.is_empty() || path.split('/').any(str::is_empty) {
            return Err(err("empty path component"));
        }
        let valid = |c: char| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-' | '/')
        };
        if !path.chars().all(valid) {
            return Err(err(
                "path may hold only lower-case letters, digits, '.', '_', '-' and '/'",
            ));
        }
        let (host, port) = split_port(&domain);
        if host.is_empty() || port.is_some_and(|p| p.parse::<u16>().is_err()) {
            return Err(err("bad registry host or port"));
        }
        if port.is_none() && is_docker_hub(host) {
            let path = if path.contains('/') {
                path
            } else {
                format!("library/{path}")
            };
            return Ok(Self {
                domain: DOCKER_HUB.to_owned(),
                path,
            });
        }
        Ok(Self { domain, path })
    }

    /// The registry domain, with port if any (`docker.io` for Docker Hub).
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The repository path inside the registry (`library/nginx`).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The `host[:port]` that serves this repository's registry API.
    pub fn api_host(&self) -> &str {
        if self.domain == DOCKER_HUB {
            DOCKER_HUB_API
        } else {
            &self.domain
        }
    }

    /// The host without the port.
    pub fn host(&self) -> &str {
        split_port(&self.domain).0
    }

    /// The port, if the name gives one.
    pub fn port(&self) -> Option<&str> {
        split_port(&self.domain).1
    }
}

impl fmt::Display for RepositoryName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.domain, self.path)
    }
}

impl std::str::FromStr for RepositoryName {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Splits `host:port` (IPv6 literals in brackets keep their colons).
pub(crate) fn split_port(domain: &str) -> (&str, Option<&str>) {
    if let Some(rest) = domain.strip_prefix('[') {
        if let Some((inside, after)) = rest.split_once(']') {
            let port = after.strip_prefix(':');
            return (&domain[..inside.len() + 2], port);
        }
        return (domain, None);
    }
    match domain.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (domain, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_like_docker() {
        for (input, canonical, api) in [
            ("nginx", "docker.io/library/nginx", "registry-1.docker.io"),
            (
                "fluxcd/flux",
                "docker.io/fluxcd/flux",
                "registry-1.docker.io",
            ),
            (
                "index.docker.io/fluxcd/flux",
                "docker.io/fluxcd/flux",
                "registry-1.docker.io",
            ),
            (
                "docker.io/alpine",
                "docker.io/library/alpine",
                "registry-1.docker.io",
            ),
            (
                "registry.hub.docker.com/library/alpine",
                "docker.io/library/alpine",
                "registry-1.docker.io",
            ),
            ("localhost/app", "localhost/app", "localhost"),
            (
                "localhost:5000/a/b/c",
                "localhost:5000/a/b/c",
                "localhost:5000",
            ),
            ("Quay.IO/coreos/etcd", "quay.io/coreos/etcd", "quay.io"),
            ("127.0.0.1:5000/x", "127.0.0.1:5000/x", "127.0.0.1:5000"),
            ("[::1]:5000/x", "[::1]:5000/x", "[::1]:5000"),
            (
                "docker.io:443/alpine",
                "docker.io:443/alpine",
                "docker.io:443",
            ),
        ] {
            let n = RepositoryName::parse(input).unwrap();
            assert_eq!(n.to_string(), canonical, "{input}");
            assert_eq!(n.api_host(), api, "{input}");
        }
    }

    #[test]
    fn rejects_bad_names() {
        for input in [
            "",
            "nginx:1.25",
            "nginx@sha256:abc",
            "quay.io/",
            "quay.io//x",
            "Upper/case",
            "host:port/x",
            "a b",
        ] {
            assert!(RepositoryName::parse(input).is_err(), "{input:?}");
        }
    }

    #[test]
    fn host_and_port() {
        let n = RepositoryName::parse("localhost:5000/a").unwrap();
        assert_eq!((n.host(), n.port()), ("localhost", Some("5000")));
        let n = RepositoryName::parse("[::1]:5000/a").unwrap();
        assert_eq!((n.host(), n.port()), ("[::1]", Some("5000")));
        let n = RepositoryName::parse("gcr.io/p/a").unwrap();
        assert_eq!((n.host(), n.port()), ("gcr.io", None));
    }
}
