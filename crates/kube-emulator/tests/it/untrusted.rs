//! Arbitrary request paths and query strings (percent-encoded bytes,
//! selectors, paging and options) sent to one running emulator: every
//! request gets an answer that is not a server error, and the emulator
//! keeps serving. Run more cases with `PROPTEST_CASES=2000`.

use std::io::{Read as _, Write as _};
use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use crate::{APP, Emu};

/// Percent-encodes every byte but unreserved ones.
fn encode(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(*b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("api".to_owned()),
        Just("apis".to_owned()),
        Just("v1".to_owned()),
        Just("apps".to_owned()),
        Just("namespaces".to_owned()),
        Just("demo".to_owned()),
        Just("deployments".to_owned()),
        Just("configmaps".to_owned()),
        Just("web".to_owned()),
        Just("status".to_owned()),
        Just("scale".to_owned()),
        Just("openapi".to_owned()),
        Just("..".to_owned()),
        Just("%".to_owned()),
        Just("%e9".to_owned()),
        proptest::collection::vec(any::<u8>(), 0..12).prop_map(|b| encode(&b)),
    ]
}

fn query() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        Just("labelSelector"),
        Just("fieldSelector"),
        Just("limit"),
        Just("continue"),
        Just("resourceVersion"),
        Just("resourceVersionMatch"),
        Just("timeoutSeconds"),
        Just("fieldManager"),
        Just("fieldValidation"),
        Just("dryRun"),
        Just("propagationPolicy"),
        Just("gracePeriodSeconds"),
        Just("pretty"),
        Just("allowWatchBookmarks"),
    ];
    let value = prop_oneof![
        Just(b"app=web".to_vec()),
        Just(b"app in (web,db),!legacy".to_vec()),
        Just(b"metadata.name=web".to_vec()),
        Just(b"-1".to_vec()),
        Just(b"99999999999999999999".to_vec()),
        Just(b"0".to_vec()),
        Just(b"All".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..24),
    ];
    proptest::collection::vec((key, value), 0..5).prop_map(|pairs| {
        pairs
            .iter()
            .map(|(k, v)| format!("{k}={}", encode(v)))
            .collect::<Vec<_>>()
            .join("&")
    })
}

/// `GET target` (or another method) over a fresh connection; the status,
/// 0 when the connection closed without an answer.
fn send(addr: &str, method: &str, target: &str) -> u16 {
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    write!(
        s,
        "{method} {target} HTTP/1.1\r\nHost: {addr}\r\nAccept: application/json\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .expect("write request");
    let mut resp = Vec::new();
    let _ = s.read_to_end(&mut resp);
    String::from_utf8_lossy(&resp)
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

#[test]
fn arbitrary_paths_and_queries_get_answers_not_server_errors() {
    let emu = Emu::start();
    emu.apply(APP, &[]).expect_ok("apply");
    let addr = emu.url.trim_start_matches("http://").to_owned();
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(256);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let method = prop_oneof![Just("GET"), Just("GET"), Just("GET"), Just("DELETE")];
    let strategy = (method, proptest::collection::vec(segment(), 0..8), query());
    runner
        .run(&strategy, |(method, segments, query)| {
            let mut target = format!("/{}", segments.join("/"));
            if !query.is_empty() {
                target = format!("{target}?{query}");
            }
            let status = send(&addr, method, &target);
            prop_assert!(
                (200..500).contains(&status),
                "{method} {target}: status {status}"
            );
            Ok(())
        })
        .unwrap();
    // Still serving, and what was applied is still there unless deleted.
    assert_eq!(send(&addr, "GET", "/version"), 200);
}
