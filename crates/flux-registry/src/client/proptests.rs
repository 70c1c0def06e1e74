//! Property tests: every parser of what a registry sends (manifests and
//! indexes, image configs, tag list pages, `WWW-Authenticate` challenges,
//! `Link` and `Retry-After` headers, token answers, error bodies) is fed
//! arbitrary bytes and JSON-shaped input. None may panic, and what each
//! gives back is no larger than what it was given (so memory follows the
//! size limits the client reads within). A separate probe measures the
//! peak memory of parsing the worst inputs at their size limit.

use std::time::Duration;

use proptest::prelude::*;
use reqwest::Url;
use reqwest::header::{HeaderMap, HeaderValue, LINK, RETRY_AFTER};

use super::auth::{TokenCache, TokenKey, TokenResponse, parse_challenge};
use super::error::error_message;
use super::http::{next_link, retry_after};
use super::manifest::{Manifest, parse_config, parse_manifest};
use super::reference::{check_digest, check_reference, check_tag};
use super::tags::parse_page;

/// JSON text made of the keys and shapes the parsers look for, with
/// arbitrary values, so the search reaches past "not JSON".
fn json_like() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        Just("schemaVersion"),
        Just("mediaType"),
        Just("config"),
        Just("digest"),
        Just("manifests"),
        Just("platform"),
        Just("os"),
        Just("architecture"),
        Just("variant"),
        Just("history"),
        Just("v1Compatibility"),
        Just("created"),
        Just("Labels"),
        Just("container_config"),
        Just("tags"),
        Just("name"),
        Just("token"),
        Just("access_token"),
        Just("expires_in"),
        Just("errors"),
        Just("code"),
        Just("message"),
    ]
    .prop_map(|k| format!("{k:?}"));
    let leaf = prop_oneof![
        Just("null".to_owned()),
        Just("true".to_owned()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|n| format!("{n:e}")),
        Just("1E5".to_owned()),
        Just("18446744073709551615".to_owned()),
        Just("2".to_owned()),
        Just("1".to_owned()),
        ".{0,40}".prop_map(|s| format!("{s:?}")),
        Just(r#""sha256:../../x""#.to_owned()),
        Just(r#""2024-01-01T00:00:00Z""#.to_owned()),
        Just(r#""+262143-12-31T23:59:59Z""#.to_owned()),
        Just(r#""application/vnd.oci.image.index.v1+json""#.to_owned()),
    ];
    leaf.prop_recursive(4, 64, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(|v| format!("[{}]", v.join(","))),
            prop::collection::vec((key.clone(), inner), 0..8).prop_map(|v| {
                let body: Vec<String> = v.into_iter().map(|(k, v)| format!("{k}:{v}")).collect();
                format!("{{{}}}", body.join(","))
            }),
        ]
    })
}

/// Arbitrary bytes, or JSON-shaped text as bytes.
fn input() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..512),
        json_like().prop_map(String::into_bytes),
    ]
}

fn text_len(labels: &std::collections::BTreeMap<String, String>) -> usize {
    labels.iter().map(|(k, v)| k.len() + v.len()).sum()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn manifests_never_panic_and_give_back_no_more_than_given(
        body in input(),
        content_type in prop::option::of(".{0,60}"),
    ) {
        if let Ok(m) = parse_manifest(content_type.as_deref(), &body) {
            let out = match &m {
                Manifest::Image { config } => {
                    prop_assert!(check_digest(config).is_ok(), "{config}");
                    config.len()
                }
                Manifest::Index(entries) => entries
                    .iter()
                    .map(|e| {
                        e.digest.len()
                            + e.platform.as_ref().map_or(0, |p| {
                                p.os.len() + p.architecture.len() + p.variant.as_ref().map_or(0, String::len)
                            })
                    })
                    .sum(),
                Manifest::Schema1 { labels, .. } => text_len(labels),
            };
            prop_assert!(out <= body.len(), "{out} > {}", body.len());
        }
    }

    #[test]
    fn configs_never_panic_and_give_back_no_more_than_given(body in input()) {
        if let Ok((_, labels)) = parse_config(&body) {
            prop_assert!(text_len(&labels) <= body.len(), "{labels:?}");
        }
    }

    #[test]
    fn tag_pages_never_panic_and_keep_only_tags(body in input()) {
        if let Ok(page) = parse_page(&body, 10) {
            for t in &page.tags {
                prop_assert!(check_tag(t).is_ok(), "{t:?}");
            }
            prop_assert!(page.tags.len() <= 10 && page.invalid.len() <= 5);
            let out: usize = page.tags.iter().map(String::len).sum();
            prop_assert!(out <= body.len());
        }
    }

    #[test]
    fn challenges_never_panic(header in prop_oneof![
        ".{0,200}",
        (prop::sample::select(vec!["Bearer ", "Basic ", "bearer", ""]),
         prop::collection::vec(("[a-z]{0,8}", prop_oneof![".{0,20}", "\"[^\"]{0,20}\"?", "\"(\\\\.|[^\"]){0,20}\""]), 0..6))
            .prop_map(|(s, ps)| format!("{s}{}", ps.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","))),
    ]) {
        if let Some(super::auth::Scheme::Bearer { realm, service }) = parse_challenge(&header) {
            prop_assert!(realm.len() + service.map_or(0, |s| s.len()) <= header.len());
        }
    }

    #[test]
    fn link_and_retry_after_headers_never_panic(
        value in prop::collection::vec(any::<u8>(), 0..300),
        text in "(<[^>]{0,40}>?;? ?(rel=\"?(next|prev)\"?)?,? ?){0,4}",
        base in prop::sample::select(vec!["http://r:5000/v2/a/tags/list?n=2", "https://r/v2/a/b/tags/list"]),
    ) {
        let base = Url::parse(base).expect("a URL");
        for v in [HeaderValue::from_bytes(&value).ok(), HeaderValue::from_str(&text).ok()].into_iter().flatten() {
            let mut h = HeaderMap::new();
            h.insert(LINK, v.clone());
            h.insert(RETRY_AFTER, v.clone());
            if let Some(next) = next_link(&h, &base) {
                prop_assert!(next.as_str().len() <= base.as_str().len() + 3 * v.len());
            }
            let _ = retry_after(&h);
        }
    }

    #[test]
    fn token_answers_never_panic_and_lifetimes_stay_bounded(body in input()) {
        if let Ok(t) = serde_json::from_slice::<TokenResponse>(&body)
            && let Some((token, life)) = t.into_token()
        {
            prop_assert!(token.len() <= body.len());
            prop_assert!(life <= Duration::from_secs(3600));
            let cache = TokenCache::default();
            let key = TokenKey { realm: "r".into(), service: None, scope: "s".into(), who: None };
            cache.put(key, token, life);
        }
    }

    #[test]
    fn error_bodies_give_short_one_line_messages(body in prop_oneof![
        input(),
        prop::collection::vec((".{0,100}", ".{0,100}"), 0..20).prop_map(|v| {
            serde_json::json!({"errors": v.into_iter()
                .map(|(c, m)| serde_json::json!({"code": c, "message": m}))
                .collect::<Vec<_>>()})
            .to_string()
            .into_bytes()
        }),
    ]) {
        let m = error_message(&body);
        prop_assert!(m.chars().count() <= 201 * 10, "{}", m.len());
        prop_assert!(!m.contains('\n') && !m.contains('\r'));
    }

    #[test]
    fn parse_errors_quote_little_of_the_input(long in "[a-z]{2000,4000}") {
        let manifests = [
            format!(r#"{{"schemaVersion":"{long}"}}"#),
            format!(r#"{{"schemaVersion":2,"config":{{"digest":"{long}"}}}}"#),
            format!(r#"{{"schemaVersion":2,"manifests":[{{"digest":1,"x":"{long}"}}],"mediaType":{long:?}}}"#),
            format!(r#"{{"schemaVersion":2,"mediaType":["{long}"]}}"#),
        ];
        for body in &manifests {
            if let Err(e) = parse_manifest(None, body.as_bytes()) {
                prop_assert!(e.len() < 1024, "{} bytes: {}", e.len(), &e[..100]);
            }
        }
        for body in [
            format!(r#"{{"created":"{long}"}}"#),
            format!(r#"{{"created":{{"{long}":1}}}}"#),
            format!(r#"{{"config":"{long}"}}"#),
        ] {
            let e = parse_config(body.as_bytes()).expect_err("not a config");
            prop_assert!(e.len() < 1024, "{} bytes", e.len());
        }
        for body in [format!(r#"{{"tags":"{long}"}}"#), format!(r#"["{long}"]"#)] {
            let e = parse_page(body.as_bytes(), 10).expect_err("not a page");
            prop_assert!(e.len() < 1024, "{} bytes", e.len());
        }
    }

    #[test]
    fn references_never_panic(s in ".{0,200}") {
        let _ = (check_tag(&s), check_digest(&s), check_reference(&s));
    }
}

/// Set in the probe's own process: which input to parse.
const PROBE: &str = "FLUX_REGISTRY_MEMORY_PROBE";

/// Input size of each probe: the most the client reads of that kind
/// (`MAX_CONFIG`, `max_tag_list_bytes`' default, `MAX_MANIFEST`).
fn probe_bytes(which: &str) -> usize {
    match which {
        "config-labels" | "config-created" => super::MAX_CONFIG,
        "tag-page" | "tag-page-valid" => super::ClientOptions::default().max_tag_list_bytes,
        _ => super::MAX_MANIFEST,
    }
}

/// The worst inputs per parser: many tiny values, each costing a large
/// value in memory.
fn probe_input(which: &str) -> Vec<u8> {
    let size = probe_bytes(which);
    let many = |item: &str, head: &str, tail: &str| {
        let mut s = String::with_capacity(size + 64);
        s.push_str(head);
        while s.len() + item.len() + tail.len() < size {
            s.push_str(item);
        }
        s.pop();
        s.push_str(tail);
        s.into_bytes()
    };
    match which {
        "config-labels" => many("0,", r#"{"config":{"Labels":{"a":["#, "]}}}"),
        "config-created" => many("0,", r#"{"created":["#, "]}"),
        "tag-page" => many(r#""","#, r#"{"tags":["#, "]}"),
        "tag-page-valid" => many(r#""a","#, r#"{"tags":["#, "]}"),
        "manifest-index" => many(
            r#"{"digest":""},"#,
            r#"{"schemaVersion":2,"manifests":["#,
            "]}",
        ),
        other => panic!("no probe {other}"),
    }
}

/// Peak resident memory of this process so far, in bytes.
fn peak_rss() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kb: usize = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM");
    kb * 1024
}

/// Not a test on its own: `parsing_memory_is_bounded` runs it in a child
/// process (peak memory is per process) with [`PROBE`] naming the input.
#[test]
fn memory_probe() {
    let Ok(which) = std::env::var(PROBE) else {
        return;
    };
    let body = probe_input(&which);
    let before = peak_rss();
    match which.as_str() {
        "config-labels" | "config-created" => drop(parse_config(&body)),
        "tag-page" | "tag-page-valid" => {
            drop(parse_page(&body, super::ClientOptions::default().max_tags))
        }
        "manifest-index" => drop(parse_manifest(None, &body)),
        _ => unreachable!("probe_input checked the name"),
    }
    println!("probe {which}: before {before} after {}", peak_rss());
}

#[test]
fn parsing_memory_is_bounded() {
    let exe = std::env::current_exe().expect("test binary");
    let mut over = Vec::new();
    for which in [
        "config-labels",
        "config-created",
        "tag-page",
        "tag-page-valid",
        "manifest-index",
    ] {
        let out = std::process::Command::new(&exe)
            .args(["client::proptests::memory_probe", "--exact", "--nocapture"])
            .env(PROBE, which)
            .output()
            .expect("run the probe");
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{which}: {said}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let line = said
            .lines()
            .find_map(|l| l.strip_prefix(&format!("probe {which}: before ")))
            .unwrap_or_else(|| panic!("{which}: the probe ran: {said}"));
        let (before, after) = line.split_once(" after ").expect("two numbers");
        let (before, after): (usize, usize) = (before.parse().unwrap(), after.parse().unwrap());
        let used = after.saturating_sub(before);
        let size = probe_bytes(which);
        let said = format!(
            "{which}: parsing {} MiB took {} MiB more at its peak",
            size >> 20,
            used >> 20
        );
        println!("{said}");
        // Parsing may hold up to twice its input (a tag list's strings, say)
        // beyond the input itself, never ten times it.
        if used > 2 * size {
            over.push(said);
        }
    }
    assert!(over.is_empty(), "{over:#?}");
}
