//! One cached tag, stored compactly: a cache holds tens of thousands of
//! these, and a `BTreeMap` of labels alone costs over 500 bytes a tag (one
//! 11-slot node, however few labels), so labels are kept as a boxed slice
//! and strings as boxed `str`. Converted to flux-core's `ImageInfo` on read.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use flux_core::registry::ImageInfo;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Image labels, sorted by key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Labels(Box<[(Box<str>, Box<str>)]>);

impl Labels {
    /// No labels.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .binary_search_by(|(k, _)| (**k).cmp(key))
            .ok()
            .map(|i| &*self.0[i].1)
    }

    /// As a map.
    pub fn to_map(&self) -> BTreeMap<String, String> {
        self.0
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }
}

impl From<BTreeMap<String, String>> for Labels {
    fn from(map: BTreeMap<String, String>) -> Self {
        Self(
            map.into_iter()
                .map(|(k, v)| (k.into_boxed_str(), v.into_boxed_str()))
                .collect(),
        )
    }
}

impl Serialize for Labels {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, v)| (&**k, &**v)))
    }
}

impl<'de> Deserialize<'de> for Labels {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        BTreeMap::<String, String>::deserialize(d).map(Self::from)
    }
}

/// What is known about one tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedImage {
    /// Manifest digest (of the list, for multi-platform images).
    pub digest: Option<Box<str>>,
    /// Creation time from the image config.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<DateTime<Utc>>,
    /// Labels from the image config.
    #[serde(default, skip_serializing_if = "Labels::is_empty")]
    pub labels: Labels,
    /// Set when the tag has no image for our platform: never a candidate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub excluded: Option<Box<str>>,
    /// When it was last fetched or confirmed unchanged.
    pub fetched: DateTime<Utc>,
    /// Seconds until it should be checked again.
    pub refresh_secs: u64,
}

impl CachedImage {
    /// An image fetched at `fetched`, to be checked again in `refresh_secs`.
    pub fn new(info: ImageInfo, fetched: DateTime<Utc>, refresh_secs: u64) -> Self {
        Self {
            digest: info.digest.map(String::into_boxed_str),
            created: info.created,
            labels: info.labels.into(),
            excluded: None,
            fetched,
            refresh_secs,
        }
    }

    /// A manifest list with no image for our platform.
    pub fn excluded(
        digest: String,
        reason: String,
        fetched: DateTime<Utc>,
        refresh_secs: u64,
    ) -> Self {
        Self {
            digest: Some(digest.into_boxed_str()),
            created: None,
            labels: Labels::default(),
            excluded: Some(reason.into_boxed_str()),
            fetched,
            refresh_secs,
        }
    }

    /// Digest, creation time and labels.
    pub fn info(&self) -> ImageInfo {
        ImageInfo {
            digest: self.digest.as_deref().map(str::to_owned),
            created: self.created,
            labels: self.labels.to_map(),
        }
    }

    /// Whether it is time to check the tag again.
    pub fn refresh_due(&self, now: DateTime<Utc>) -> bool {
        let secs = i64::try_from(self.refresh_secs).unwrap_or(i64::MAX);
        self.fetched + chrono::Duration::seconds(secs) <= now
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_form_round_trips() {
        let info = ImageInfo {
            digest: Some("sha256:ab".into()),
            created: Some("2024-01-01T00:00:00Z".parse().unwrap()),
            labels: [
                ("b".to_owned(), "2".to_owned()),
                ("a".to_owned(), "1".to_owned()),
            ]
            .into(),
        };
        let now = "2024-02-01T00:00:00Z".parse().unwrap();
        let img = CachedImage::new(info.clone(), now, 60);
        assert_eq!(img.info(), info);
        assert_eq!(
            (
                img.labels.get("a"),
                img.labels.get("b"),
                img.labels.get("c")
            ),
            (Some("1"), Some("2"), None)
        );
        let json = serde_json::to_string(&img).unwrap();
        assert_eq!(
            json,
            r#"{"digest":"sha256:ab","created":"2024-01-01T00:00:00Z","labels":{"a":"1","b":"2"},"fetched":"2024-02-01T00:00:00Z","refresh_secs":60}"#
        );
        assert_eq!(serde_json::from_str::<CachedImage>(&json).unwrap(), img);
        let ex = CachedImage::excluded("sha256:cd".into(), "no linux/amd64".into(), now, 86400);
        let back: CachedImage = serde_json::from_str(&serde_json::to_string(&ex).unwrap()).unwrap();
        assert_eq!(back, ex);
        assert_eq!(back.info().created, None);
    }
}
