//! Types of Flux API version 9: change notifications (`POST /v11/notify`).
//!
//! A notification is `{"Kind":"git","Source":{"URL":…,"Branch":…}}` or
//! `{"Kind":"image","Source":{"Name":{"Domain":…,"Image":…}}}`. Any other
//! `Kind` is an error, as in Flux v1.

use serde::{Deserialize, Serialize};

use crate::image::ImageName;

/// Flux v1's `v9.Change`: something changed upstream, so now is a good time
/// to look (fetch the repository, or scan an image).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(tag = "Kind", content = "Source")]
pub enum Change {
    /// `git`: a push to a repository.
    #[serde(rename = "git")]
    Git(GitUpdate),
    /// `image`: a new image in a repository.
    #[serde(rename = "image")]
    Image(ImageUpdate),
}

impl Change {
    /// The `Kind` written for this change.
    pub fn kind(&self) -> &'static str {
        match self {
            Change::Git(_) => "git",
            Change::Image(_) => "image",
        }
    }
}

/// Flux v1's `v9.GitUpdate`: which repository and branch moved. fluxd
/// ignores a notification for its own repository but another branch.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(default)]
pub struct GitUpdate {
    /// The repository URL (any form: fluxd compares them loosely).
    #[serde(rename = "URL")]
    pub url: String,
    /// The branch that moved.
    #[serde(rename = "Branch")]
    pub branch: String,
}

/// Flux v1's `v9.ImageUpdate`: which image repository has a new image.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(default)]
pub struct ImageUpdate {
    /// The image repository.
    #[serde(rename = "Name")]
    pub name: ImageName,
}
