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

/// One page of a tag list: its valid tags, and a note of those that are
/// not tags.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Page {
    /// Valid tags, in order, at most the cap given to [`parse_page`].
    pub tags: Vec<String>,
    /// True when the page held more valid tags than the cap.
    pub overflow: bool,
    /// The first few entries that are not tags, quoted and cut short.
    pub invalid: Vec<String>,
    /// How many entries are not tags.
    pub invalid_count: usize,
}

/// Entries that are not tags quoted in a note, at most.
const INVALID_SHOWN: usize = 5;

/// Decodes a tag list page (`{"name": …, "tags": [...]}`; `tags` may be
/// missing or `null`), keeping at most `cap` valid tags. Public for the
/// crate's benchmark; [`RegistryClient::tags`] is what reads tag lists.
///
/// Tags are checked as they are read, straight from the input: only valid
/// ones up to the cap are copied, so a 32 MiB page of `""` or of one-letter
/// tags costs little more than its own bytes (decoded into a `Vec<String>`
/// first, it took 20 times that).
pub fn parse_page(body: &[u8], cap: usize) -> Result<Page, String> {
    use std::borrow::Cow;
    use std::fmt;

    use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

    #[derive(serde::Deserialize)]
    struct Text<'a>(#[serde(borrow)] Cow<'a, str>);

    struct Body<'p> {
        page: &'p mut Page,
        cap: usize,
    }
    impl<'de> Visitor<'de> for Body<'_> {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a tag list object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            while let Some(Text(key)) = map.next_key()? {
                if key == "tags" {
                    map.next_value_seed(Tags {
                        page: &mut *self.page,
                        cap: self.cap,
                    })?;
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            Ok(())
        }
    }

    struct Tags<'p> {
        page: &'p mut Page,
        cap: usize,
    }
    impl<'de> DeserializeSeed<'de> for Tags<'_> {
        type Value = ();
        fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_option(self)
        }
    }
    impl<'de> Visitor<'de> for Tags<'_> {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a list of tags")
        }
        fn visit_none<E>(self) -> Result<(), E> {
            Ok(())
        }
        fn visit_unit<E>(self) -> Result<(), E> {
            Ok(())
        }
        fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_seq(self)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            let page = self.page;
            while let Some(Text(tag)) = seq.next_element()? {
                if check_tag(&tag).is_ok() {
                    if page.tags.len() < self.cap {
                        page.tags.push(tag.into_owned());
                    } else {
                        page.overflow = true;
                    }
                } else {
                    page.invalid_count += 1;
                    if page.invalid.len() < INVALID_SHOWN {
                        page.invalid.push(shown(&tag));
                    }
                }
            }
            Ok(())
        }
    }

    let mut page = Page::default();
    let mut de = serde_json::Deserializer::from_slice(body);
    serde::Deserializer::deserialize_map(
        &mut de,
        Body {
            page: &mut page,
            cap,
        },
    )
    .and_then(|()| de.end())
    .map_err(|e| format!("tag list is not valid JSON: {}", super::json_error(&e)))?;
    Ok(page)
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
        let mut invalid_count = 0;
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
            let page = parse_page(&body, budget.options.max_tags).map_err(|reason| {
                ClientError::Invalid {
                    url: url.to_string(),
                    reason,
                }
            })?;
            drop(body);
            if page.overflow {
                return Err(too_long(format!(
                    "has more than {} tags (max_tags)",
                    budget.options.max_tags
                )));
            }
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
            invalid_count += page.invalid_count;
            let room = INVALID_SHOWN.saturating_sub(invalid.len());
            invalid.extend(page.invalid.into_iter().take(room));
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
        if invalid_count > 0 {
            tracing::warn!(
                image = %repo,
                "tag list holds {invalid_count} entries that are not valid tags, left out: {}{}",
                invalid.join(", "),
                if invalid_count > invalid.len() { ", …" } else { "" }
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
        let page = parse_page(
            br#"{"name":"a","tags":["1.0","../x","1.1","","\u0031.2"]}"#,
            10,
        )
        .unwrap();
        assert_eq!(page.tags, ["1.0", "1.1", "1.2"]);
        assert_eq!(page.invalid, [r#""../x""#, r#""""#]);
        assert_eq!((page.invalid_count, page.overflow), (2, false));
        let page = parse_page(br#"{"tags":["a","b","c"],"name":"x"}"#, 2).unwrap();
        assert_eq!((page.tags.len(), page.overflow), (2, true));
        assert_eq!(
            parse_page(br#"{"name":"a","tags":null}"#, 10).unwrap(),
            Page::default()
        );
        assert_eq!(parse_page(br#"{"name":"a"}"#, 10).unwrap(), Page::default());
        for bad in [
            &br#"{"tags":[1]}"#[..],
            b"<html>",
            br#"["a"]"#,
            br#"{"tags":["a"]} x"#,
            br#"{"tags":"a"}"#,
        ] {
            assert!(
                parse_page(bad, 10).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
