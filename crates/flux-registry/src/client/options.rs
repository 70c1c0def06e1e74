//! The client's settings: where to speak plain HTTP, which platform to pick,
//! rate limits, timeouts, and the caps on what one tag list may cost.

use std::time::Duration;

use super::manifest::Platform;
use crate::limit::RateOptions;

/// How the client talks to registries.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Hosts (`host` or `host:port`) spoken to over plain HTTP
    /// (`--registry-insecure-host`). Credentials travel over plain HTTP only
    /// to these: a token service whose realm is `http://` on any other host
    /// gets no credentials (the request fails, saying so), while anonymous
    /// token requests, which carry nothing to protect, go ahead.
    pub insecure_hosts: Vec<String>,
    /// The platform chosen from manifest lists and indexes.
    pub platform: Platform,
    /// Rate limits and backoff.
    pub rate: RateOptions,
    /// Tries per request when the registry answers 429 or 5xx or cannot be reached.
    pub attempts: u32,
    /// Tags asked for per page.
    pub page_size: usize,
    /// Connect timeout.
    pub connect_timeout: Option<Duration>,
    /// Read timeout (between bytes of an answer).
    pub read_timeout: Option<Duration>,
    /// How long idle connections are kept (`None`: until the host closes
    /// them, and no timer runs, which tests on paused time need).
    pub pool_idle_timeout: Option<Duration>,
    /// Most distinct tags read from one repository's tag list (100,000).
    /// The largest repositories in common use list a few tens of thousands
    /// (a tag per CI build); a list longer than this is more likely broken
    /// or hostile, and every tag costs memory in the cache and work in each
    /// automation run. Past the cap the repository fails with
    /// [`ClientError::TagListTooLong`](super::ClientError::TagListTooLong).
    pub max_tags: usize,
    /// Most pages followed for one tag list (1,000). Every page is a
    /// request out of the host's `--registry-rps` budget, shared with every
    /// other repository there: 1,000 pages are 20 s of the default 50/s.
    /// Registries that page 100 tags at a time reach this cap at 100,000
    /// tags, as [`max_tags`](Self::max_tags) would.
    pub max_tag_pages: usize,
    /// Most bytes read for one tag list, all pages together (32 MiB). A
    /// tag is at most 128 characters, so 100,000 tags as JSON take at most
    /// 13 MiB; this bounds the download when a registry pads its pages or
    /// repeats tags from page to page.
    pub max_tag_list_bytes: usize,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            insecure_hosts: Vec::new(),
            platform: Platform::default(),
            rate: RateOptions::default(),
            attempts: 3,
            page_size: 1000,
            connect_timeout: Some(Duration::from_secs(10)),
            read_timeout: Some(Duration::from_secs(30)),
            pool_idle_timeout: Some(Duration::from_secs(30)),
            max_tags: 100_000,
            max_tag_pages: 1_000,
            max_tag_list_bytes: 32 << 20,
        }
    }
}
