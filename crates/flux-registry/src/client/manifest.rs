//! Decoding what the registry sends back: manifests of every kind Flux v1
//! understood (Docker schema 2, OCI, manifest lists and OCI indexes, and
//! the old Docker schema 1) and image config blobs.
//!
//! Decoding is lenient where registries are sloppy (unknown fields, missing
//! optional ones, `null` label maps) and strict where a wrong answer would
//! mislead automation (a config without a digest, an index entry without a
//! platform is never chosen).

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Datelike, Utc};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::reference::shown;

/// Docker schema 2 image manifest.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list.
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker schema 1 (signed) manifest.
pub const DOCKER_SCHEMA1_SIGNED: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";
/// Docker schema 1 manifest.
pub const DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+json";

/// The `Accept` header for manifest requests: every kind we can decode.
pub(crate) const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.v2+json, \
application/vnd.docker.distribution.manifest.v1+prettyjws;q=0.5, \
application/vnd.docker.distribution.manifest.v1+json;q=0.5";

/// An OS/architecture pair (with optional variant) to pick from an index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    /// Operating system, e.g. `linux`.
    pub os: String,
    /// Architecture, e.g. `amd64`.
    pub architecture: String,
    /// Variant, e.g. `v8`; `None` accepts any.
    pub variant: Option<String>,
}

impl Default for Platform {
    /// `linux/amd64`, as Flux v1 chose.
    fn default() -> Self {
        Self {
            os: "linux".into(),
            architecture: "amd64".into(),
            variant: None,
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Platform {
    type Err = String;
    /// Parses `os/arch[/variant]`.
    fn from_str(s: &str) -> Result<Self, String> {
        let parts: Vec<&str> = s.split('/').collect();
        match parts.as_slice() {
            [os, arch] if !os.is_empty() && !arch.is_empty() => Ok(Self {
                os: (*os).into(),
                architecture: (*arch).into(),
                variant: None,
            }),
            [os, arch, v] if !os.is_empty() && !arch.is_empty() && !v.is_empty() => Ok(Self {
                os: (*os).into(),
                architecture: (*arch).into(),
                variant: Some((*v).into()),
            }),
            _ => Err(format!("platform {s:?} is not os/arch[/variant]")),
        }
    }
}

/// A decoded manifest.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Manifest {
    /// A single-platform image: its config blob tells the rest.
    Image {
        /// Digest of the config blob.
        config: String,
    },
    /// A list of per-platform manifests.
    Index(Vec<IndexEntry>),
    /// Docker schema 1: the metadata is inline.
    Schema1 {
        created: Option<DateTime<Utc>>,
        labels: BTreeMap<String, String>,
    },
}

/// One entry of a manifest list or OCI index.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub(crate) struct IndexEntry {
    pub digest: String,
    #[serde(default)]
    pub platform: Option<EntryPlatform>,
}

/// The platform of an index entry.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub(crate) struct EntryPlatform {
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub variant: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawManifest {
    schema_version: Option<i64>,
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default, deserialize_with = "capped_entries")]
    manifests: Option<Vec<IndexEntry>>,
    #[serde(default)]
    history: Option<Vec<Schema1History>>,
}

/// Most entries a manifest list or index may have. Real ones list a
/// platform each (a few dozen at most); without a cap a 4 MiB list of
/// empty entries took ten times its size in memory.
pub(crate) const MAX_INDEX_ENTRIES: usize = 1000;

fn capped_entries<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Vec<IndexEntry>>, D::Error> {
    struct Entries;
    impl<'de> serde::de::Visitor<'de> for Entries {
        type Value = Option<Vec<IndexEntry>>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a list of manifests")
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_seq(self)
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(e) = seq.next_element::<IndexEntry>()? {
                if out.len() == MAX_INDEX_ENTRIES {
                    return Err(serde::de::Error::custom(format!(
                        "a manifest list has more than {MAX_INDEX_ENTRIES} entries"
                    )));
                }
                out.push(e);
            }
            Ok(Some(out))
        }
    }
    d.deserialize_option(Entries)
}

#[derive(Deserialize)]
struct Descriptor {
    digest: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Schema1History {
    v1_compatibility: String,
}

/// Decodes a manifest body; `content_type` is the response's media type.
pub(crate) fn parse_manifest(content_type: Option<&str>, body: &[u8]) -> Result<Manifest, String> {
    let raw: RawManifest = serde_json::from_slice(body)
        .map_err(|e| format!("manifest is not valid JSON: {}", super::json_error(&e)))?;
    let media_type = raw
        .media_type
        .as_deref()
        .or(content_type)
        .map(|m| m.split(';').next().unwrap_or(m).trim().to_owned());
    if raw.schema_version == Some(1) {
        let first = raw
            .history
            .as_ref()
            .and_then(|h| h.first())
            .ok_or("schema 1 manifest without history")?;
        let (created, labels) = parse_config(first.v1_compatibility.as_bytes())?;
        return Ok(Manifest::Schema1 { created, labels });
    }
    if raw.schema_version != Some(2) {
        return Err(format!(
            "unsupported manifest schema version {:?}",
            raw.schema_version
        ));
    }
    let is_index = matches!(
        media_type.as_deref(),
        Some(DOCKER_MANIFEST_LIST | OCI_INDEX)
    ) || (media_type.is_none() && raw.manifests.is_some() && raw.config.is_none());
    if is_index {
        return Ok(Manifest::Index(raw.manifests.unwrap_or_default()));
    }
    match raw.config {
        Some(c)
            if super::reference::check_digest(&c.digest).is_ok()
                && (c.digest.starts_with("sha256:") || c.digest.starts_with("sha512:")) =>
        {
            Ok(Manifest::Image { config: c.digest })
        }
        Some(c) => Err(format!(
            "config digest {} is not a sha256 or sha512 digest; not requested",
            super::reference::shown(&c.digest)
        )),
        None => Err(format!(
            "manifest of type {} has no config",
            media_type.as_deref().unwrap_or("(none)")
        )),
    }
}

/// Picks the entry for `platform` from an index: exact variant match first,
/// then an entry of the right OS and architecture.
pub(crate) fn choose<'a>(entries: &'a [IndexEntry], platform: &Platform) -> Option<&'a IndexEntry> {
    let fits = |e: &&IndexEntry| {
        e.platform
            .as_ref()
            .is_some_and(|p| p.os == platform.os && p.architecture == platform.architecture)
    };
    if let Some(v) = &platform.variant
        && let Some(e) = entries
            .iter()
            .filter(fits)
            .find(|e| e.platform.as_ref().and_then(|p| p.variant.as_ref()) == Some(v))
    {
        return Some(e);
    }
    entries.iter().find(fits)
}

// Values that may be of any JSON type are kept as the raw text they are
// (`&RawValue`, a slice of the input) rather than decoded into
// `serde_json::Value`s: an array of a million zeros costs no memory then,
// where as `Value`s it cost 16 times its size.
#[derive(Deserialize, Default)]
struct RawConfig<'a> {
    #[serde(default, borrow)]
    created: Option<&'a RawValue>,
    #[serde(default, borrow)]
    config: Option<ContainerConfig<'a>>,
    #[serde(default, borrow)]
    container_config: Option<ContainerConfig<'a>>,
}

#[derive(Deserialize, Default)]
struct ContainerConfig<'a> {
    #[serde(default, rename = "Labels", borrow)]
    labels: Option<BTreeMap<String, &'a RawValue>>,
}

/// A JSON string's value, or `None` when `raw` is not a string.
fn raw_string(raw: &RawValue) -> Option<String> {
    raw.get()
        .starts_with('"')
        .then(|| serde_json::from_str(raw.get()).ok())
        .flatten()
}

/// Creation time and labels of an image.
pub(crate) type ConfigInfo = (Option<DateTime<Utc>>, BTreeMap<String, String>);

/// Reads the creation time and labels of an image config blob (or of a
/// schema 1 `v1Compatibility` entry, which has the same shape).
pub(crate) fn parse_config(body: &[u8]) -> Result<ConfigInfo, String> {
    let raw: RawConfig<'_> = serde_json::from_slice(body)
        .map_err(|e| format!("image config is not valid JSON: {}", super::json_error(&e)))?;
    let created = match raw.created {
        None => None,
        Some(r) => match raw_string(r) {
            Some(s) => Some(
                DateTime::parse_from_rfc3339(&s)
                    .map_err(|e| format!("image config created {}: {e}", shown(&s)))?
                    .with_timezone(&Utc),
            ),
            None => {
                return Err(format!(
                    "image config created is not a string: {}",
                    shown(r.get())
                ));
            }
        },
    }
    // Docker writes year 1 for "unknown".
    .filter(|t| t.year() > 1);
    let labels = raw
        .config
        .and_then(|c| c.labels)
        .filter(|l| !l.is_empty())
        .or_else(|| raw.container_config.and_then(|c| c.labels))
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| match raw_string(v) {
            Some(s) => (k, s),
            None => (k, v.get().to_owned()),
        })
        .collect();
    Ok((created, labels))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_every_manifest_kind() {
        let docker = br#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"x","size":1,"digest":"sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},"layers":[]}"#;
        let oci_no_media_type =
            br#"{"schemaVersion":2,"config":{"digest":"sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"},"layers":[]}"#;
        let list = br#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json","manifests":[{"digest":"sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc","platform":{"os":"linux","architecture":"arm64","variant":"v8"}}]}"#;
        let index_by_header = br#"{"schemaVersion":2,"manifests":[{"digest":"sha256:dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"}]}"#;
        let schema1 = br#"{"schemaVersion":1,"history":[{"v1Compatibility":"{\"created\":\"2019-01-02T03:04:05Z\",\"config\":{\"Labels\":{\"a\":\"b\"}}}"}]}"#;
        let cases: Vec<(&[u8], Option<&str>, Manifest)> = vec![
            (
                docker,
                None,
                Manifest::Image {
                    config:
                        "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                            .into(),
                },
            ),
            (
                oci_no_media_type,
                Some(OCI_MANIFEST),
                Manifest::Image {
                    config:
                        "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
                            .into(),
                },
            ),
            (
                list,
                None,
                Manifest::Index(vec![IndexEntry {
                    digest:
                        "sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
                            .into(),
                    platform: Some(EntryPlatform {
                        os: "linux".into(),
                        architecture: "arm64".into(),
                        variant: Some("v8".into()),
                    }),
                }]),
            ),
            (
                index_by_header,
                Some("application/vnd.oci.image.index.v1+json; charset=utf-8"),
                Manifest::Index(vec![IndexEntry {
                    digest:
                        "sha256:dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"
                            .into(),
                    platform: None,
                }]),
            ),
            (
                schema1,
                Some(DOCKER_SCHEMA1_SIGNED),
                Manifest::Schema1 {
                    created: Some("2019-01-02T03:04:05Z".parse().unwrap()),
                    labels: [("a".to_owned(), "b".to_owned())].into(),
                },
            ),
        ];
        for (body, ct, want) in cases {
            assert_eq!(
                parse_manifest(ct, body).unwrap(),
                want,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn rejects_what_it_cannot_trust() {
        for body in [
            &b"not json"[..],
            br#"{"schemaVersion":3}"#,
            br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}"#,
            br#"{"schemaVersion":2,"config":{"digest":"md5:00"}}"#,
            br#"{"schemaVersion":2,"config":{"digest":"sha256:../../x"}}"#,
            br#"{"schemaVersion":2,"config":{"digest":"sha256:aa"}}"#,
            br#"{"schemaVersion":1,"history":[]}"#,
        ] {
            assert!(
                parse_manifest(None, body).is_err(),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn chooses_platforms_like_flux_v1() {
        let entry = |d: &str, os: &str, arch: &str, v: Option<&str>| IndexEntry {
            digest: d.into(),
            platform: Some(EntryPlatform {
                os: os.into(),
                architecture: arch.into(),
                variant: v.map(Into::into),
            }),
        };
        let entries = vec![
            IndexEntry {
                digest: "none".into(),
                platform: None,
            },
            entry("win", "windows", "amd64", None),
            entry("arm7", "linux", "arm", Some("v7")),
            entry("arm6", "linux", "arm", Some("v6")),
            entry("amd", "linux", "amd64", None),
        ];
        let pick = |p: &str| choose(&entries, &p.parse().unwrap()).map(|e| e.digest.clone());
        assert_eq!(
            choose(&entries, &Platform::default()).unwrap().digest,
            "amd"
        );
        assert_eq!(pick("linux/arm/v6").as_deref(), Some("arm6"));
        assert_eq!(pick("linux/arm").as_deref(), Some("arm7"));
        assert_eq!(pick("linux/arm/v5").as_deref(), Some("arm7"));
        assert_eq!(pick("linux/s390x"), None);
        assert!("linux".parse::<Platform>().is_err());
        assert_eq!(Platform::default().to_string(), "linux/amd64");
    }

    #[test]
    fn reads_created_and_labels() {
        let (c, l) = parse_config(
            br#"{"created":"2024-05-01T12:00:00.123456789Z","config":{"Labels":{"org.opencontainers.image.revision":"abc","n":1}},"rootfs":{}}"#,
        )
        .unwrap();
        assert_eq!(
            c.unwrap().to_rfc3339(),
            "2024-05-01T12:00:00.123456789+00:00"
        );
        assert_eq!(l["org.opencontainers.image.revision"], "abc");
        assert_eq!(l["n"], "1");
        // Labels only on container_config (older Docker builds), null labels, no created.
        let (c, l) =
            parse_config(br#"{"config":{"Labels":null},"container_config":{"Labels":{"x":"y"}}}"#)
                .unwrap();
        assert_eq!((c, l["x"].as_str()), (None, "y"));
        let (c, _) = parse_config(br#"{"created":"0001-01-01T00:00:00Z"}"#).unwrap();
        assert_eq!(c, None);
        assert!(parse_config(br#"{"created":"yesterday"}"#).is_err());
        assert!(parse_config(br#"{"created":5}"#).is_err());
    }
}
