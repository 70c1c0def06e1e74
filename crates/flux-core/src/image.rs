//! Image references, parsed the way Docker and Flux v1 read them.
//!
//! Flux compares the image a container runs with the tags a registry offers,
//! so it needs one notion of "the same repository" however the reference is
//! written: `nginx`, `library/nginx`, `docker.io/library/nginx` and
//! `index.docker.io/nginx` are all one repository. [`ImageName`] is that
//! canonical repository; [`ImageRef`] is a reference *as written* (so that a
//! release can change the tag and leave the rest of the text alone) with its
//! canonical name beside it.
//!
//! The grammar is Docker's (`distribution/reference`): an optional domain,
//! lower-case path components, an optional tag and an optional digest. Two
//! deliberate differences from Flux v1's own parser, both toward Docker:
//! the first component is a domain only if it contains `.` or `:` or is
//! `localhost` (Flux v1 took the first of three or more components as a
//! domain, so `team/group/app` became host `team`), and invalid characters
//! are rejected instead of passed on to the registry.

use std::fmt;
use std::str::FromStr;

/// The canonical Docker Hub domain used in canonical names.
pub const DOCKER_HUB: &str = "docker.io";
/// Docker Hub's registry API host, an alias of [`DOCKER_HUB`] in references.
pub const DOCKER_HUB_INDEX: &str = "index.docker.io";
/// Longest name (domain and path) Docker accepts.
pub const MAX_NAME_LEN: usize = 255;
/// Longest tag Docker accepts.
pub const MAX_TAG_LEN: usize = 128;

/// Why a string is not an image reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid image reference {input:?}: {reason}")]
pub struct ParseImageError {
    /// The text that failed to parse.
    pub input: String,
    /// What is wrong with it.
    pub reason: String,
}

fn err(input: &str, reason: impl Into<String>) -> ParseImageError {
    ParseImageError {
        input: input.to_owned(),
        reason: reason.into(),
    }
}

/// A repository, canonical: domain and full path, with Docker Hub's implied
/// parts filled in (`docker.io/library/nginx`).
///
/// Two names are equal exactly when they name the same repository.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ImageName {
    domain: String,
    path: String,
}

impl ImageName {
    /// Parses a repository name (no tag or digest) into canonical form.
    ///
    /// ```
    /// use flux_core::image::ImageName;
    /// let a: ImageName = "nginx".parse().unwrap();
    /// let b: ImageName = "index.docker.io/library/nginx".parse().unwrap();
    /// assert_eq!(a, b);
    /// assert_eq!(a.to_string(), "docker.io/library/nginx");
    /// assert_eq!(a.short(), "nginx");
    /// ```
    pub fn parse(s: &str) -> Result<Self, ParseImageError> {
        let r = ImageRef::parse(s)?;
        if r.tag.is_some() || r.digest.is_some() {
            return Err(err(s, "a repository name has no tag or digest"));
        }
        Ok(r.name)
    }

    /// The registry host (with port, if any); `docker.io` for Docker Hub.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The path within the registry, e.g. `library/nginx`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Whether this repository is on Docker Hub.
    pub fn is_docker_hub(&self) -> bool {
        self.domain == DOCKER_HUB
    }

    /// The host to talk to for registry API calls: `index.docker.io` for
    /// Docker Hub, the domain otherwise.
    pub fn registry_host(&self) -> &str {
        if self.is_docker_hub() {
            DOCKER_HUB_INDEX
        } else {
            &self.domain
        }
    }

    /// The shortest form that means the same repository, as `docker` prints
    /// it: `nginx`, `fluxcd/flux`, `quay.io/x/y`.
    pub fn short(&self) -> String {
        if self.is_docker_hub() {
            self.path
                .strip_prefix("library/")
                .filter(|rest| !rest.contains('/'))
                .unwrap_or(&self.path)
                .to_owned()
        } else {
            format!("{}/{}", self.domain, self.path)
        }
    }

    /// A reference to `tag` in this repository, in canonical form.
    pub fn with_tag(&self, tag: &str) -> Result<ImageRef, ParseImageError> {
        ImageRef::parse(&format!("{self}:{tag}"))
    }
}

impl fmt::Display for ImageName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.domain, self.path)
    }
}

impl FromStr for ImageName {
    type Err = ParseImageError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// An image reference as written, with its canonical repository.
///
/// [`Display`](fmt::Display) gives the text as written; equality compares
/// the canonical form, so `nginx:1.25 == docker.io/library/nginx:1.25`.
///
/// ```
/// use flux_core::image::ImageRef;
/// let r: ImageRef = "localhost:5000/team/app:1.0".parse().unwrap();
/// assert_eq!(r.name().domain(), "localhost:5000");
/// assert_eq!(r.tag(), Some("1.0"));
/// let short: ImageRef = "nginx:1.25".parse().unwrap();
/// assert_eq!(short.canonical(), "docker.io/library/nginx:1.25");
/// assert_eq!(short.with_tag("1.26").unwrap().to_string(), "nginx:1.26");
/// ```
#[derive(Debug, Clone)]
pub struct ImageRef {
    /// Everything before the tag or digest, as written.
    written: String,
    name: ImageName,
    tag: Option<String>,
    digest: Option<String>,
}

impl ImageRef {
    /// Parses a reference: `[domain/]path[:tag][@digest]`.
    pub fn parse(s: &str) -> Result<Self, ParseImageError> {
        if s.is_empty() {
            return Err(err(s, "it is empty"));
        }
        if let Some(c) = s
            .chars()
            .find(|c| c.is_whitespace() || c.is_control() || !c.is_ascii())
        {
            return Err(err(s, format!("it contains the character {c:?}")));
        }
        let (rest, digest) = match s.split_once('@') {
            Some((rest, digest)) => (rest, Some(parse_digest(s, digest)?)),
            None => (s, None),
        };
        // A tag follows the last ':' if no '/' comes after it (a ':' before
        // a '/' is a port).
        let (written, tag) = match rest.rfind(':') {
            Some(i) if !rest[i..].contains('/') => (&rest[..i], Some(&rest[i + 1..])),
            _ => (rest, None),
        };
        if let Some(tag) = tag {
            check_tag(s, tag)?;
        }
        let name = parse_name(s, written)?;
        Ok(ImageRef {
            written: written.to_owned(),
            name,
            tag: tag.map(str::to_owned),
            digest,
        })
    }

    /// The canonical repository.
    pub fn name(&self) -> &ImageName {
        &self.name
    }

    /// The repository as written (`nginx` for `nginx:1.25`).
    pub fn written_name(&self) -> &str {
        &self.written
    }

    /// The tag, if any.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest (`sha256:…`), if any.
    pub fn digest(&self) -> Option<&str> {
        self.digest.as_deref()
    }

    /// The same repository, written the same way, with another tag and no
    /// digest (a digest would pin the old image).
    pub fn with_tag(&self, tag: &str) -> Result<ImageRef, ParseImageError> {
        check_tag(tag, tag)?;
        Ok(ImageRef {
            written: self.written.clone(),
            name: self.name.clone(),
            tag: Some(tag.to_owned()),
            digest: None,
        })
    }

    /// The fully qualified form: `docker.io/library/nginx:1.25`.
    pub fn canonical(&self) -> String {
        let mut s = self.name.to_string();
        self.push_suffix(&mut s);
        s
    }

    /// The shortest form: `nginx:1.25`.
    pub fn short(&self) -> String {
        let mut s = self.name.short();
        self.push_suffix(&mut s);
        s
    }

    fn push_suffix(&self, s: &mut String) {
        if let Some(t) = &self.tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(d);
        }
    }
}

impl PartialEq for ImageRef {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.tag == other.tag && self.digest == other.digest
    }
}

impl Eq for ImageRef {}

impl std::hash::Hash for ImageRef {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (&self.name, &self.tag, &self.digest).hash(state);
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.written)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

impl FromStr for ImageRef {
    type Err = ParseImageError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl serde::Serialize for ImageRef {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for ImageRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

fn check_tag(input: &str, tag: &str) -> Result<(), ParseImageError> {
    if tag.is_empty() {
        return Err(err(input, "the tag after ':' is empty"));
    }
    if tag.len() > MAX_TAG_LEN {
        return Err(err(
            input,
            format!("the tag is longer than {MAX_TAG_LEN} characters"),
        ));
    }
    let ok_first = tag
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    if !ok_first
        || !tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
    {
        return Err(err(
            input,
            format!("tag {tag:?} must be [A-Za-z0-9_][A-Za-z0-9_.-]*"),
        ));
    }
    Ok(())
}

fn parse_digest(input: &str, digest: &str) -> Result<String, ParseImageError> {
    let Some((algorithm, hex)) = digest.split_once(':') else {
        return Err(err(input, "a digest must be algorithm:hex, e.g. sha256:…"));
    };
    let algorithm_ok = algorithm
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase())
        && algorithm
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+._-".contains(c));
    if !algorithm_ok {
        return Err(err(
            input,
            format!("digest algorithm {algorithm:?} is not valid"),
        ));
    }
    let want = match algorithm {
        "sha256" => Some(64),
        "sha384" => Some(96),
        "sha512" => Some(128),
        _ => None,
    };
    let hex_ok = hex
        .chars()
        .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
        && match want {
            Some(n) => hex.len() == n,
            None => hex.len() >= 32,
        };
    if !hex_ok {
        return Err(err(
            input,
            match want {
                Some(n) => format!("a {algorithm} digest is {n} lower-case hexadecimal characters"),
                None => "a digest is at least 32 lower-case hexadecimal characters".to_owned(),
            },
        ));
    }
    Ok(digest.to_owned())
}

/// Whether the first component of a name is a registry domain (Docker's rule).
fn is_domain(first: &str) -> bool {
    first.contains('.')
        || first.contains(':')
        || first == "localhost"
        || first.chars().any(|c| c.is_ascii_uppercase())
}

fn check_domain(input: &str, domain: &str) -> Result<(), ParseImageError> {
    let (host, port) = match domain.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (domain, None),
    };
    if let Some(port) = port
        && (port.is_empty() || !port.chars().all(|c| c.is_ascii_digit()) || port.len() > 5)
    {
        return Err(err(
            input,
            format!("registry port {port:?} is not a number"),
        ));
    }
    let component_ok = |c: &str| {
        !c.is_empty()
            && c.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '-')
            && !c.starts_with('-')
            && !c.ends_with('-')
    };
    if host.is_empty() || !host.split('.').all(component_ok) {
        return Err(err(
            input,
            format!("registry host {host:?} is not a valid host name"),
        ));
    }
    Ok(())
}

/// Checks a path component: `[a-z0-9]+` joined by `.`, `_`, `__` or `-+`.
fn check_component(input: &str, c: &str) -> Result<(), ParseImageError> {
    if c.is_empty() {
        return Err(err(input, "the name has an empty path component"));
    }
    if c.chars().any(|ch| ch.is_ascii_uppercase()) {
        return Err(err(
            input,
            format!("repository name component {c:?} must be lower case"),
        ));
    }
    let bytes = c.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return Err(err(
            input,
            format!("repository name component {c:?} must start and end with a letter or digit"),
        ));
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = matches!(sep, "." | "_" | "__") || sep.chars().all(|ch| ch == '-');
        if !ok {
            return Err(err(
                input,
                format!(
                    "repository name component {c:?} has the separator {sep:?}; only '.', '_', '__' or dashes are allowed"
                ),
            ));
        }
    }
    Ok(())
}

fn parse_name(input: &str, written: &str) -> Result<ImageName, ParseImageError> {
    if written.is_empty() {
        return Err(err(input, "the repository name is empty"));
    }
    if written.len() > MAX_NAME_LEN {
        return Err(err(
            input,
            format!("the repository name is longer than {MAX_NAME_LEN} characters"),
        ));
    }
    let (domain, path) = match written.split_once('/') {
        Some((first, rest)) if is_domain(first) => {
            check_domain(input, first)?;
            (first, rest)
        }
        _ => (DOCKER_HUB, written),
    };
    for c in path.split('/') {
        check_component(input, c)?;
    }
    let hub = domain == DOCKER_HUB || domain == DOCKER_HUB_INDEX;
    let (domain, path) = if hub {
        let path = if path.contains('/') {
            path.to_owned()
        } else {
            format!("library/{path}")
        };
        (DOCKER_HUB.to_owned(), path)
    } else {
        (domain.to_owned(), path.to_owned())
    };
    Ok(ImageName { domain, path })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn digests() {
        let r = ImageRef::parse(&format!("nginx@{SHA}")).unwrap();
        assert_eq!(r.digest(), Some(SHA));
        assert_eq!(r.tag(), None);
        let r = ImageRef::parse(&format!("gcr.io/x/y:1.0@{SHA}")).unwrap();
        assert_eq!(r.tag(), Some("1.0"));
        assert_eq!(r.digest(), Some(SHA));
        assert_eq!(r.canonical(), format!("gcr.io/x/y:1.0@{SHA}"));
        // A release drops the digest: it would pin the old image.
        assert_eq!(r.with_tag("1.1").unwrap().to_string(), "gcr.io/x/y:1.1");
    }

    #[test]
    fn with_tag_keeps_the_written_form() {
        let cases = [
            ("nginx:1.25", "nginx:1.26"),
            (
                "docker.io/library/nginx:1.25",
                "docker.io/library/nginx:1.26",
            ),
            ("localhost:5000/app", "localhost:5000/app:1.26"),
        ];
        for (from, want) in cases {
            let r: ImageRef = from.parse().unwrap();
            assert_eq!(r.with_tag("1.26").unwrap().to_string(), want);
        }
        assert!(
            "nginx"
                .parse::<ImageRef>()
                .unwrap()
                .with_tag("bad tag")
                .is_err()
        );
    }

    #[test]
    fn rejects() {
        let long_name = format!("a/{}", "b".repeat(300));
        let long_tag = format!("a:{}", "t".repeat(129));
        let cases: &[(&str, &str)] = &[
            ("", "empty"),
            ("Nginx", "lower case"),
            ("team/App:1", "lower case"),
            ("nginx:", "tag after ':' is empty"),
            (":1.0", "repository name is empty"),
            ("a//b", "empty path component"),
            ("/a", "empty path component"),
            ("a/", "empty path component"),
            ("nginx:1.0:2", "separator \":\""),
            ("nginx:-x", "tag \"-x\""),
            ("nginx:a/b", "registry port \"a\" is not a number"),
            ("ng!nx", "separator \"!\""),
            ("a-/b", "start and end"),
            ("a..b", "separator \"..\""),
            ("host:port/a", "not a number"),
            ("bad_host.io/a", "not a valid host name"),
            ("nginx@sha256:abc", "64 lower-case hexadecimal"),
            ("nginx@abc", "algorithm:hex"),
            ("nginx @x", "character ' '"),
            ("{{ .Values.image }}", "character ' '"),
            ("${image}", "start and end"),
            ("${IMAGE}", "lower case"),
            (&long_name, "longer than 255"),
            (&long_tag, "longer than 128"),
        ];
        for (input, want) in cases {
            let e = ImageRef::parse(input).expect_err(input).to_string();
            assert!(e.contains(want), "{input:?}: {e}");
        }
        assert!(ImageName::parse("nginx:1").is_err());
    }
}
