//! Reading a repository's tag list: pages followed by `Link` headers, only
//! on the first request's origin, within caps on tags, pages and bytes, and
//! tags that are not tags left out.
//!
//! A registry decides how long its tag list is and where the next page is.
//! Without caps, one hostile or broken repository could make fluxd read
//! gigabytes and hold millions of tags; without the origin check, a `Link`
//! to another host would get this registry's credentials.

use std::collections::HashSet;

use flux_core::image::ImageName;
use reqwest::Method;

use super::error::ClientError;
use super::http::{check_status, next_link, read_capped, same_origin};
use super::reference::{check_tag, shown};
use super::{ClientOptions, RegistryClient};
use crate::credentials::Candidate;
use crate::metrics::RequestKind;

/// One page of a tag list: its valid tags, and those that are not tags.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Page {
    pub tags: Vec<String>,
    pub invalid: Vec<String>,
}

/// Decodes a tag list page (`{"name": …, "tags": [...]}`; `tags` may be
/// missing or `null`) and sorts its tags from its non-tags.
pub(crate) fn parse_page(body: &[u8]) -> Result<Page, String> {
    #[derive(serde::Deserialize)]
    struct Raw {
        #[serde(default)]
        tags: Option<Vec<String>>,
    }
    let raw: Raw =
        serde_json::from_slice(body).map_err(|e| format!("tag list is not valid JSON: {e}"))?;
    let (tags, invalid) = raw
        .tags
        .unwrap_or_default()
        .into_iter()
        .partition(|t| check_tag(t).is_ok());
    Ok(Page { tags, invalid })
}

/// The caps of one listing, and how much of them is used.
struct Budget<'a> {
    options: &'a ClientOptions,
    pages: usize,
    bytes: usize,
}

impl RegistryClient {
    /// All tags of `repo`, following pagination on the same origin, within
    /// the caps of [`ClientOptions`]. Entries that are not valid tags are
    /// left out (and logged), never requested.
    pub async fn tags(
        &self,
        repo: &ImageName,
        creds: &[Candidate],
    ) -> Result<Vec<String>, ClientError> {
        let first = {
            let mut url = self.url(repo, "tags/list")?;
            url.query_pairs_mut()
                .append_pair("n", &self.options.page_size.to_string());
            url
        };
        let too_long = |what: String| ClientError::TagListTooLong {
            registry: repo.registry_host().to_owned(),
            repository: repo.path().to_owned(),
            what,
        };
        let mut budget = Budget {
            options: &self.options,
            pages: 0,
            bytes: 0,
        };
        let mut url = first.clone();
        let mut tags = Vec::new();
        let mut seen = HashSet::new();
        let mut invalid = Vec::new();
        loop {
            if budget.pages == budget.options.max_tag_pages {
                return Err(too_long(format!(
                    "goes on past {} pages (max_tag_pages)",
                    budget.options.max_tag_pages
                )));
            }
            budget.pages += 1;
            let resp = self
                .send(
                    repo,
                    RequestKind::Tags,
                    Method::GET,
                    url.clone(),
                    None,
                    creds,
                )
                .await?;
            let next = next_link(resp.headers(), &url);
            let resp = check_status(resp, &url).await?;
            let left = budget.options.max_tag_list_bytes - budget.bytes;
            let Some(body) = read_capped(resp, url.as_str(), left).await? else {
                return Err(too_long(format!(
                    "is larger than {} bytes (max_tag_list_bytes)",
                    budget.options.max_tag_list_bytes
                )));
            };
            budget.bytes += body.len();
            let page = parse_page(&body).map_err(|reason| ClientError::Invalid {
                url: url.to_string(),
                reason,
            })?;
            drop(body);
            for tag in page.tags {
                if !seen.contains(&tag) {
                    if tags.len() == budget.options.max_tags {
                        return Err(too_long(format!(
                            "has more than {} tags (max_tags)",
                            budget.options.max_tags
                        )));
                    }
                    seen.insert(tag.clone());
                    tags.push(tag);
                }
            }
            if invalid.len() < 5 {
                invalid.extend(
                    page.invalid
                        .iter()
                        .take(5 - invalid.len())
                        .map(|t| shown(t)),
                );
            }
            match next {
                Some(n) if n == url => break,
                Some(n) if !same_origin(&n, &first) => {
                    return Err(ClientError::Invalid {
                        url: url.to_string(),
                        reason: format!(
                            "pagination link to {} not followed: tag lists are read from {} only",
                            n.origin().ascii_serialization(),
                            first.origin().ascii_serialization()
                        ),
                    });
                }
                Some(n) => url = n,
                None => break,
            }
        }
        if !invalid.is_empty() {
            tracing::warn!(
                image = %repo,
                "tag list holds entries that are not valid tags, left out: {}",
                invalid.join(", ")
            );
        }
        Ok(tags)
    }
}

/// Checks the caps given in options: each must allow something.
pub(super) fn check_caps(options: &ClientOptions) -> Result<(), ClientError> {
    for (setting, value) in [
        ("tag list cap max_tags", options.max_tags),
        ("tag list cap max_tag_pages", options.max_tag_pages),
        (
            "tag list cap max_tag_list_bytes",
            options.max_tag_list_bytes,
        ),
    ] {
        if value == 0 {
            return Err(ClientError::InvalidOption {
                setting,
                value: "0".into(),
                reason: "must be at least 1",
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages() {
        let page = parse_page(br#"{"name":"a","tags":["1.0","../x","1.1",""]}"#).unwrap();
        assert_eq!(page.tags, ["1.0", "1.1"]);
        assert_eq!(page.invalid, ["../x", ""]);
        assert_eq!(
            parse_page(br#"{"name":"a","tags":null}"#).unwrap(),
            Page::default()
        );
        assert_eq!(parse_page(br#"{"name":"a"}"#).unwrap(), Page::default());
        assert!(parse_page(br#"{"tags":[1]}"#).is_err());
        assert!(parse_page(b"<html>").is_err());
    }
}
