//! Images as Flux v1's API carries them: [`ImageInfo`] (what `list-images`
//! shows per tag), its [`Labels`], and the structured [`ImageName`] of an
//! image notification.
//!
//! Image references travel as strings (`"quay.io/org/app:1.0"`), exactly as
//! sent; [`ImageInfo::image_ref`] parses one with flux-core. Flux v1 writes a
//! missing reference as `""` (and a tag with no repository as `":tag"`), so
//! the string form is the only one that round-trips every reply.

use chrono::{DateTime, Utc};
use flux_core::image::{ImageRef, ParseImageError};
use serde::{Deserialize, Serialize};

use crate::wire;

/// Flux v1's `image.Info`: what the daemon knows about one image reference.
///
/// `ID` is always written (`""` when unknown), as is `Labels` (`{}` when
/// empty); the other fields are left out when empty. Times are RFC 3339 in
/// UTC.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(default)]
pub struct ImageInfo {
    /// The image reference, usually with a tag: `"nginx:1.25"`.
    #[serde(rename = "ID")]
    pub id: String,
    /// The manifest digest fetched for the reference (`sha256:…`).
    #[serde(rename = "Digest", skip_serializing_if = "String::is_empty")]
    pub digest: String,
    /// An identifier of the image itself (its config digest).
    #[serde(rename = "ImageID", skip_serializing_if = "String::is_empty")]
    pub image_id: String,
    /// Timestamps read from the image's labels.
    #[serde(rename = "Labels", deserialize_with = "wire::nullable")]
    pub labels: Labels,
    /// When the image was built.
    #[serde(
        rename = "CreatedAt",
        with = "wire::opt_time",
        skip_serializing_if = "Option::is_none"
    )]
    pub created_at: Option<DateTime<Utc>>,
    /// When the daemon last fetched the image's metadata.
    #[serde(
        rename = "LastFetched",
        with = "wire::opt_time",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_fetched: Option<DateTime<Utc>>,
}

impl ImageInfo {
    /// An info carrying only a reference, as Flux v1 fills `Current` when it
    /// has no metadata.
    pub fn from_ref(id: impl Into<String>) -> Self {
        ImageInfo {
            id: id.into(),
            ..ImageInfo::default()
        }
    }

    /// Parses [`ImageInfo::id`].
    pub fn image_ref(&self) -> Result<ImageRef, ParseImageError> {
        ImageRef::parse(&self.id)
    }

    /// Whether this is the zero value Flux v1 writes for "nothing"
    /// (`{"ID":"","Labels":{}}`).
    pub fn is_empty(&self) -> bool {
        *self == ImageInfo::default()
    }
}

/// Flux v1's `image.Labels`: the two label timestamps it reads, keyed by the
/// label names themselves; each left out when absent.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(default)]
pub struct Labels {
    /// `org.label-schema.build-date`.
    #[serde(
        rename = "org.label-schema.build-date",
        with = "wire::opt_time",
        skip_serializing_if = "Option::is_none"
    )]
    pub build_date: Option<DateTime<Utc>>,
    /// `org.opencontainers.image.created`.
    #[serde(
        rename = "org.opencontainers.image.created",
        with = "wire::opt_time",
        skip_serializing_if = "Option::is_none"
    )]
    pub created: Option<DateTime<Utc>>,
}

/// Flux v1's `image.Name` as its JSON object `{"Domain":…,"Image":…}` (the
/// one place the API sends an image name as a struct: the `image` kind of
/// [`crate::v9::Change`]).
///
/// `Domain` is empty for Docker Hub names written without one
/// (`fluxcd/flux` has domain `""`, image `fluxcd/flux`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, Hash)]
#[serde(default)]
pub struct ImageName {
    /// The registry host (with port), or `""`.
    #[serde(rename = "Domain")]
    pub domain: String,
    /// The repository path.
    #[serde(rename = "Image")]
    pub image: String,
}

impl ImageName {
    /// Splits a repository name the way Flux v1 does: the first path element
    /// is the domain when there are three or more elements, or when there are
    /// two and it looks like a host (`localhost`, or has a dot).
    pub fn from_repository(name: &str) -> Self {
        let elements: Vec<&str> = name.split('/').collect();
        let domain_first = match elements.len() {
            0 | 1 => false,
            2 => looks_like_host(elements[0]),
            _ => true,
        };
        match (domain_first, name.split_once('/')) {
            (true, Some((domain, image))) => ImageName {
                domain: domain.to_owned(),
                image: image.to_owned(),
            },
            _ => ImageName {
                domain: String::new(),
                image: name.to_owned(),
            },
        }
    }

    /// Parses the name with flux-core (which canonicalises Docker Hub names).
    pub fn to_core(&self) -> Result<flux_core::ImageName, ParseImageError> {
        flux_core::ImageName::parse(&self.to_string())
    }
}

/// Flux v1's test is a (loose) host pattern: `localhost`, or two dotted
/// components, anywhere in the element.
fn looks_like_host(element: &str) -> bool {
    if element.contains("localhost") {
        return true;
    }
    let bytes = element.as_bytes();
    bytes
        .windows(3)
        .any(|w| w[1] == b'.' && w[0].is_ascii_alphanumeric() && w[2].is_ascii_alphanumeric())
}

impl std::fmt::Display for ImageName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.image.is_empty() {
            return Ok(());
        }
        if !self.domain.is_empty() {
            write!(f, "{}/", self.domain)?;
        }
        f.write_str(&self.image)
    }
}

impl From<&flux_core::ImageName> for ImageName {
    fn from(name: &flux_core::ImageName) -> Self {
        ImageName {
            domain: name.domain().to_owned(),
            image: name.path().to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_names_split_like_flux_v1() {
        let cases = [
            ("alpine", "", "alpine"),
            ("fluxcd/flux", "", "fluxcd/flux"),
            ("docker.io/fluxcd/flux", "docker.io", "fluxcd/flux"),
            ("localhost:5000/app", "localhost:5000", "app"),
            ("quay.io/app", "quay.io", "app"),
            ("registry:5000/app", "", "registry:5000/app"),
            ("host/a/b", "host", "a/b"),
        ];
        for (input, domain, image) in cases {
            let name = ImageName::from_repository(input);
            assert_eq!(
                (name.domain.as_str(), name.image.as_str()),
                (domain, image),
                "{input}"
            );
            assert_eq!(name.to_string(), input);
        }
    }

    #[test]
    fn core_names_convert() {
        let core = flux_core::ImageName::parse("quay.io/org/app").expect("valid");
        let name = ImageName::from(&core);
        assert_eq!(name.domain, "quay.io");
        assert_eq!(name.to_core().expect("valid"), core);
    }

    #[test]
    fn zero_info_is_written_as_flux_v1_writes_it() {
        let json = serde_json::to_value(ImageInfo::default()).expect("serialises");
        assert_eq!(json, serde_json::json!({"ID": "", "Labels": {}}));
        assert!(ImageInfo::default().is_empty());
    }
}
