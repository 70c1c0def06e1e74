//! Which credentials to present to which registry, matched the way kubelet
//! matches image pull secrets.
//!
//! Keys of a docker config (`.dockerconfigjson`, `.dockercfg`,
//! `--docker-config`) may be a host (`registry.example.com`), a host with a
//! port, a host with a path prefix (`registry.example.com/team`), a URL
//! (`https://index.docker.io/v1/`), or a host glob (`*.gcr.io`, each `*`
//! matching within one DNS label). As kubelet does:
//! - the scheme and a leading `/v1/` or `/v2/` are ignored;
//! - hosts match label by label, with the same number of labels;
//! - a port in the key must equal the image's port, and a key without a port
//!   matches only images without one;
//! - a path in the key must be a prefix of the image path (here compared by
//!   whole path components, so `team` does not match `teammate`);
//! - Docker Hub's names (`docker.io`, `index.docker.io`, …) are one registry.
//!
//! When several keys match, all are returned, most specific first (no
//! wildcard before wildcard, longer path before shorter), and sources added
//! earlier (the workload's own pull secrets) before later ones
//! (`--docker-config`). The client tries them in that order.

use std::path::Path;
use std::sync::Arc;

use flux_core::registry::{Credentials, RegistryAuth};

use flux_core::image::ImageName;

/// Credentials that may be presented for one repository, with where they came from.
#[derive(Clone, PartialEq, Eq)]
pub struct Candidate {
    /// User name and password (or token).
    pub auth: RegistryAuth,
    /// Where they came from, for messages (e.g. `secret default/regcred`).
    pub source: Arc<str>,
    /// The key they were given under.
    pub key: Arc<str>,
}

impl std::fmt::Debug for Candidate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "<{} for {} from {}>",
            self.auth.username, self.key, self.source
        )
    }
}

#[derive(Debug, Clone)]
struct Entry {
    labels: Vec<String>,
    port: Option<String>,
    path: Vec<String>,
    wildcard: bool,
    order: usize,
    candidate: Candidate,
}

/// Credentials from several sources, looked up by repository.
#[derive(Debug, Clone, Default)]
pub struct Keyring {
    entries: Vec<Entry>,
    sources: usize,
}

/// A key of a docker config that cannot name a registry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{source_name}: registry key {key:?} ignored: {reason}")]
pub struct KeyError {
    /// Where the key came from.
    pub source_name: String,
    /// The key.
    pub key: String,
    /// Why it was ignored.
    pub reason: &'static str,
}

impl Keyring {
    /// An empty keyring.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds all entries of `creds`, which came from `source`. Sources added
    /// first win over later ones. Keys that name no registry are skipped and
    /// returned, so the caller can log them.
    pub fn add(&mut self, creds: &Credentials, source: &str) -> Vec<KeyError> {
        let order = self.sources;
        self.sources += 1;
        let source: Arc<str> = source.into();
        let mut errors = Vec::new();
        for (key, auth) in &creds.entries {
            match parse_key(key) {
                Ok((labels, port, path)) => {
                    let wildcard = labels.iter().any(|l| l.contains('*'));
                    self.entries.push(Entry {
                        labels,
                        port,
                        path,
                        wildcard,
                        order,
                        candidate: Candidate {
                            auth: auth.clone(),
                            source: source.clone(),
                            key: key.as_str().into(),
                        },
                    });
                }
                Err(reason) => errors.push(KeyError {
                    source_name: source.to_string(),
                    key: key.clone(),
                    reason,
                }),
            }
        }
        errors
    }

    /// A keyring holding only `creds` from `source`.
    pub fn from_credentials(creds: &Credentials, source: &str) -> Self {
        let mut k = Self::new();
        k.add(creds, source);
        k
    }

    /// Adds every entry of `other` after the entries already here.
    pub fn extend(&mut self, other: &Keyring) {
        let base = self.sources;
        for e in &other.entries {
            let mut e = e.clone();
            e.order += base;
            self.entries.push(e);
        }
        self.sources += other.sources;
    }

    /// True when no credentials are held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The credentials that match `repo`, best first, without duplicates.
    pub fn lookup(&self, repo: &ImageName) -> Vec<Candidate> {
        let (host, port) = split_port(repo.domain());
        let host = host.to_ascii_lowercase();
        let host = if port.is_none() && is_docker_hub(&host) {
            "docker.io".to_owned()
        } else {
            host
        };
        let target_labels: Vec<&str> = host.split('.').collect();
        let target_path: Vec<&str> = repo.path().split('/').collect();
        let mut matched: Vec<&Entry> = self
            .entries
            .iter()
            .filter(|e| {
                e.port.as_deref() == port
                    && e.labels.len() == target_labels.len()
                    && e.labels
                        .iter()
                        .zip(&target_labels)
                        .all(|(glob, label)| label_matches(glob, label))
                    && e.path.len() <= target_path.len()
                    && e.path.iter().zip(&target_path).all(|(a, b)| a == b)
            })
            .collect();
        matched.sort_by(|a, b| {
            (a.order, a.wildcard, std::cmp::Reverse(a.path.len())).cmp(&(
                b.order,
                b.wildcard,
                std::cmp::Reverse(b.path.len()),
            ))
        });
        let mut out: Vec<Candidate> = Vec::new();
        for e in matched {
            if !out.iter().any(|c| c.auth == e.candidate.auth) {
                out.push(e.candidate.clone());
            }
        }
        out
    }
}

/// Host names that all mean Docker Hub.
const DOCKER_HUB_ALIASES: &[&str] = &[
    "docker.io",
    "index.docker.io",
    "registry-1.docker.io",
    "registry.hub.docker.com",
];

/// True when `host` (without a port) is one of Docker Hub's names.
pub(crate) fn is_docker_hub(host: &str) -> bool {
    DOCKER_HUB_ALIASES
        .iter()
        .any(|alias| alias.eq_ignore_ascii_case(host))
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

type ParsedKey = (Vec<String>, Option<String>, Vec<String>);

fn parse_key(key: &str) -> Result<ParsedKey, &'static str> {
    let rest = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let (authority, path) = match rest.split_once('/') {
        Some((a, p)) => (a, p),
        None => (rest, ""),
    };
    if authority.is_empty() {
        return Err("no host");
    }
    let path = path
        .strip_prefix("v1/")
        .or_else(|| path.strip_prefix("v2/"))
        .or_else(|| {
            if path == "v1" || path == "v2" {
                Some("")
            } else {
                None
            }
        })
        .unwrap_or(path);
    let (host, port) = split_port(authority);
    let host = host.to_ascii_lowercase();
    if host.is_empty() || port.is_some_and(|p| p.parse::<u16>().is_err()) {
        return Err("bad host or port");
    }
    let host = if port.is_none() && is_docker_hub(&host) {
        "docker.io".to_owned()
    } else {
        host
    };
    let labels = host.split('.').map(str::to_owned).collect::<Vec<_>>();
    if labels.iter().any(String::is_empty) {
        return Err("empty DNS label");
    }
    let path = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    Ok((labels, port.map(str::to_owned), path))
}

/// Glob match of one DNS label: `*` matches any run of characters, `?` one.
///
/// Linear backtracking (only the latest `*` is revisited), so a key such as
/// `*a*a*a…` in a pull secret costs at most `glob × label` steps instead of
/// growing exponentially with the number of stars.
fn label_matches(glob: &str, label: &str) -> bool {
    let (g, l) = (glob.as_bytes(), label.as_bytes());
    let (mut gi, mut li) = (0, 0);
    // Where to resume after the latest `*`: the glob just past it, and the
    // label position it has swallowed up to.
    let mut star: Option<(usize, usize)> = None;
    while li < l.len() {
        match g.get(gi) {
            Some(b'*') => {
                gi += 1;
                star = Some((gi, li));
            }
            Some(&c) if c == b'?' || c == l[li] => {
                gi += 1;
                li += 1;
            }
            _ => match star {
                Some((after, swallowed)) => {
                    gi = after;
                    li = swallowed + 1;
                    star = Some((after, li));
                }
                None => return false,
            },
        }
    }
    g[gi..].iter().all(|&c| c == b'*')
}

/// A docker config file (`--docker-config`) could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigFileError {
    /// The file could not be read.
    #[error("reading docker config {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a docker config.
    #[error("docker config {path}: {source}")]
    Parse {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: flux_core::registry::CredentialsError,
    },
}

/// Largest docker config file read (they are a few KiB even with many
/// registries).
pub const MAX_DOCKER_CONFIG: u64 = 4 << 20;

/// The file at `path` if it is at most `limit` bytes.
pub(crate) fn read_small(path: &std::path::Path, limit: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read as _;
    let mut out = Vec::new();
    std::fs::File::open(path)?
        .take(limit + 1)
        .read_to_end(&mut out)?;
    if out.len() as u64 > limit {
        return Err(std::io::Error::other(format!("larger than {limit} bytes")));
    }
    Ok(out)
}

/// Reads a docker `config.json` (`{"auths": …}`) or a legacy `.dockercfg`,
/// as given to fluxd with `--docker-config`, of at most
/// [`MAX_DOCKER_CONFIG`] bytes.
pub fn read_docker_config(path: &Path) -> Result<Credentials, ConfigFileError> {
    let bytes = read_small(path, MAX_DOCKER_CONFIG).map_err(|source| ConfigFileError::Read {
        path: path.display().to_string(),
        source,
    })?;
    let is_config_json = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .is_some_and(|v| v.get("auths").is_some());
    let parsed = if is_config_json {
        Credentials::from_dockerconfigjson(&bytes)
    } else {
        Credentials::from_dockercfg(&bytes)
    };
    parsed.map_err(|source| ConfigFileError::Parse {
        path: path.display().to_string(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds(keys: &[(&str, &str)]) -> Credentials {
        let mut c = Credentials::default();
        for (k, user) in keys {
            c.entries.insert(
                (*k).to_owned(),
                RegistryAuth {
                    username: (*user).to_owned(),
                    password: "pw".to_owned(),
                },
            );
        }
        c
    }

    fn users(k: &Keyring, image: &str) -> Vec<String> {
        k.lookup(&ImageName::parse(image).unwrap())
            .into_iter()
            .map(|c| c.auth.username)
            .collect()
    }

    #[test]
    fn kubelet_style_matching() {
        let k = Keyring::from_credentials(
            &creds(&[
                ("https://index.docker.io/v1/", "hub"),
                ("registry.example.com", "plain"),
                ("registry.example.com/team", "team"),
                ("*.gcr.io", "gcr-wild"),
                ("eu.gcr.io", "gcr-eu"),
                ("localhost:5000", "local"),
                ("http://quay.io/v2/", "quay"),
                ("*.*.registry.io", "deep"),
                ("registry.io:8080/path", "ported"),
            ]),
            "secret default/regcred",
        );
        for (image, want) in [
            ("nginx", vec!["hub"]),
            ("docker.io/library/nginx", vec!["hub"]),
            ("index.docker.io/fluxcd/flux", vec!["hub"]),
            ("registry.example.com/app", vec!["plain"]),
            ("registry.example.com/team/app", vec!["team", "plain"]),
            ("registry.example.com/teammate/app", vec!["plain"]),
            ("eu.gcr.io/p/a", vec!["gcr-eu", "gcr-wild"]),
            ("us.gcr.io/p/a", vec!["gcr-wild"]),
            ("gcr.io/p/a", vec![]),
            ("localhost:5000/a", vec!["local"]),
            ("localhost/a", vec![]),
            ("localhost:5001/a", vec![]),
            ("quay.io/coreos/etcd", vec!["quay"]),
            ("a.b.registry.io/x", vec!["deep"]),
            ("b.registry.io/x", vec![]),
            ("registry.io:8080/path/x", vec!["ported"]),
            ("registry.io:8080/other", vec![]),
            ("registry.example.com:443/app", vec![]),
        ] {
            assert_eq!(users(&k, image), want, "{image}");
        }
    }

    #[test]
    fn earlier_sources_win_and_duplicates_collapse() {
        let mut k = Keyring::new();
        k.add(&creds(&[("*.example.com", "pod")]), "pod secret");
        k.add(
            &creds(&[("r.example.com", "file"), ("r.example.com/x", "pod")]),
            "--docker-config",
        );
        // The pod's wildcard comes first because its source was added first;
        // the second "pod" entry is the same auth and collapses.
        assert_eq!(users(&k, "r.example.com/x/y"), vec!["pod", "file"]);
        let c = &k.lookup(&ImageName::parse("r.example.com/x/y").unwrap())[0];
        assert_eq!(&*c.source, "pod secret");
        assert!(!format!("{c:?}").contains("pw"));
    }

    #[test]
    fn bad_keys_are_reported_not_fatal() {
        let mut k = Keyring::new();
        let errors = k.add(
            &creds(&[("https://", "x"), ("host:notaport", "y"), ("ok.io", "z")]),
            "s",
        );
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert_eq!(users(&k, "ok.io/a"), vec!["z"]);
    }

    #[test]
    fn label_globs() {
        for (g, l, want) in [
            ("*", "anything", true),
            ("k8s", "k8s", true),
            ("app*", "apple", true),
            ("app*", "ap", false),
            ("a?c", "abc", true),
            ("*-docker", "eu-docker", true),
            ("", "", true),
            ("", "a", false),
            ("*", "", true),
            ("?", "", false),
            ("a*b*c", "aXbYc", true),
            ("a*b*c", "aXbYcZ", false),
            ("a*c", "abcbc", true),
            ("*ab", "aab", true),
            ("**", "x", true),
        ] {
            assert_eq!(label_matches(g, l), want, "{g} {l}");
        }
    }

    #[test]
    fn many_stars_do_not_take_exponential_time() {
        // Regression: a recursive matcher took about C(90, 30) steps here,
        // so one crafted pull secret key could stall every scan.
        let glob = format!("{}x", "*a".repeat(30));
        let label = "a".repeat(60);
        let start = std::time::Instant::now();
        assert!(!label_matches(&glob, &label));
        assert!(label_matches(&glob, &format!("{label}x")));
        // Not a benchmark: microseconds against years for the old matcher.
        assert!(start.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn reads_docker_config_files() {
        let dir = tempfile::tempdir().unwrap();
        let json = dir.path().join("config.json");
        std::fs::write(&json, br#"{"auths":{"r.io":{"auth":"dTpw"}}}"#).unwrap();
        assert_eq!(
            read_docker_config(&json).unwrap().entries["r.io"].username,
            "u"
        );
        let legacy = dir.path().join(".dockercfg");
        std::fs::write(&legacy, br#"{"r.io":{"auth":"dTpw"}}"#).unwrap();
        assert_eq!(
            read_docker_config(&legacy).unwrap().entries["r.io"].password,
            "p"
        );
        let bad = dir.path().join("bad.json");
        std::fs::write(&bad, b"{").unwrap();
        let e = read_docker_config(&bad).unwrap_err().to_string();
        assert!(e.contains("bad.json"), "{e}");
        let e = read_docker_config(&dir.path().join("missing"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing"), "{e}");
        let big = dir.path().join("big.json");
        let padding = " ".repeat(MAX_DOCKER_CONFIG as usize);
        std::fs::write(&big, format!(r#"{padding}{{"auths":{{}}}}"#)).unwrap();
        let e = read_docker_config(&big).unwrap_err().to_string();
        assert!(e.contains("big.json") && e.contains("larger than"), "{e}");
    }

    mod properties {
        //! Docker configs are read from pull secrets and files: arbitrary
        //! bytes never panic the readers or the keyring built from them.

        use proptest::prelude::*;

        use super::*;

        fn config() -> impl Strategy<Value = Vec<u8>> {
            let key = prop_oneof![
                ".{0,30}",
                "(https?://)?[a-z*?.]{0,20}(:[0-9]{0,6})?(/[a-z0-9/]{0,12})?",
            ];
            let entry = prop_oneof![
                "[A-Za-z0-9+/=]{0,24}".prop_map(|a| format!(r#"{{"auth":"{a}"}}"#)),
                (".{0,10}", ".{0,10}")
                    .prop_map(|(u, p)| format!(r#"{{"username":{u:?},"password":{p:?}}}"#)),
                Just("{}".to_owned()),
                Just("null".to_owned()),
                Just("1".to_owned()),
            ];
            prop_oneof![
                prop::collection::vec(any::<u8>(), 0..300),
                (prop::bool::ANY, prop::collection::vec((key, entry), 0..6)).prop_map(
                    |(wrap, es)| {
                        let map = es
                            .iter()
                            .map(|(k, v)| format!("{k:?}:{v}"))
                            .collect::<Vec<_>>()
                            .join(",");
                        if wrap {
                            format!(r#"{{"auths":{{{map}}}}}"#).into_bytes()
                        } else {
                            format!("{{{map}}}").into_bytes()
                        }
                    }
                ),
            ]
        }

        proptest! {
            #[test]
            fn docker_configs_never_panic(bytes in config()) {
                let dir = tempfile::tempdir().expect("tempdir");
                let path = dir.path().join("config.json");
                std::fs::write(&path, &bytes).expect("write");
                let from_file = read_docker_config(&path);
                for parsed in [
                    from_file.ok(),
                    Credentials::from_dockerconfigjson(&bytes).ok(),
                    Credentials::from_dockercfg(&bytes).ok(),
                ]
                .into_iter()
                .flatten()
                {
                    let size: usize = parsed
                        .entries
                        .iter()
                        .map(|(k, a)| k.len() + a.username.len() + a.password.len())
                        .sum();
                    prop_assert!(size <= bytes.len());
                    let mut k = Keyring::new();
                    let _ = k.add(&parsed, "prop");
                    for image in ["nginx", "r.io/a/b", "localhost:5000/x", "eu.gcr.io/p/a"] {
                        let found = k.lookup(&ImageName::parse(image).expect("name"));
                        prop_assert!(found.len() <= parsed.entries.len());
                    }
                }
            }
        }
    }
}
