//! The request log: every request the emulator received, with when it
//! came, who sent it (bearer token, the user it maps to, User-Agent), the
//! verb, path and query, and the status it got (`0` when the connection
//! was dropped by a fault). Tests read it through
//! [`crate::Server::request_log`] to assert what a client did and when
//! ("applied once", "stopped writing after T"); the binary serves it at
//! `GET /emulator/requests`.

use std::collections::VecDeque;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use http::Method;
use serde::Serialize;

use crate::http::parse_resource_path;

/// How many requests the log keeps (the oldest go first).
pub const LOG_SIZE: usize = 100_000;

/// One request and its outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestRecord {
    /// When it arrived.
    pub time: DateTime<Utc>,
    /// The bearer token it carried, if any.
    pub token: Option<String>,
    /// The identity the token maps to: a limited rule's user, `admin` for
    /// full access (also without a token when anonymous access is on), or
    /// `""` when it did not authenticate.
    pub user: String,
    /// Its `User-Agent` header.
    pub user_agent: String,
    /// HTTP method.
    pub method: String,
    /// The API verb (`get`, `list`, `watch`, `create`, `update`, `patch`,
    /// `delete`, `deletecollection`), or the lower-case method for paths
    /// that are not resources (discovery, OpenAPI).
    pub verb: String,
    /// Path, without the query.
    pub path: String,
    /// The query string as sent (`""` if none).
    pub query: String,
    /// The status answered, `101` for a protocol upgrade, `0` when the
    /// connection was dropped without an answer.
    pub status: u16,
}

impl RequestRecord {
    /// Whether it is a write (create, update, patch, delete,
    /// deletecollection).
    pub fn is_write(&self) -> bool {
        matches!(
            self.verb.as_str(),
            "create" | "update" | "patch" | "delete" | "deletecollection"
        )
    }

    /// `METHOD /path?query` with the query decoded, the form
    /// [`crate::Server::requests`] lists.
    pub fn line(&self) -> String {
        let query: Vec<String> = form_urlencoded::parse(self.query.as_bytes())
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        format!("{} {}?{}", self.method, self.path, query.join("&"))
    }
}

/// The API verb of a request.
pub fn verb(method: &Method, path: &str, query: &str) -> String {
    let watching = query
        .split('&')
        .any(|kv| matches!(kv, "watch=true" | "watch=1"));
    let Some(rp) = parse_resource_path(path) else {
        return method.as_str().to_ascii_lowercase();
    };
    let named = rp.name.is_some();
    match (method.as_str(), named) {
        ("GET", _) if watching => "watch",
        ("GET", false) => "list",
        ("GET", true) => "get",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", false) => "deletecollection",
        ("DELETE", true) => "delete",
        _ => return method.as_str().to_ascii_lowercase(),
    }
    .to_owned()
}

/// The log.
#[derive(Debug, Default)]
pub struct RequestLog {
    entries: Mutex<Entries>,
}

/// The records kept, and how many were ever pushed (the sequence number of
/// the next one).
#[derive(Debug, Default)]
struct Entries {
    records: VecDeque<RequestRecord>,
    pushed: u64,
}

/// Records logged since a sequence number: what a reader that follows the
/// log gets ([`RequestLog::since`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestTail {
    /// The records from the asked sequence number on, oldest first (in the
    /// order they were logged, which is when they were answered: a delayed
    /// request comes after later arrivals).
    pub records: Vec<RequestRecord>,
    /// The sequence number to ask for next time.
    pub next: u64,
    /// Records after the asked number that were already dropped (the log
    /// keeps the last [`LOG_SIZE`]): the reader did not keep up.
    pub missed: u64,
}

impl RequestLog {
    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records one request.
    pub fn push(&self, r: RequestRecord) {
        let mut log = self.lock();
        if log.records.len() == LOG_SIZE {
            log.records.pop_front();
        }
        log.records.push_back(r);
        log.pushed += 1;
    }

    /// Every record, oldest first.
    pub fn all(&self) -> Vec<RequestRecord> {
        self.lock().records.iter().cloned().collect()
    }

    /// The records logged since sequence number `seq` (the first record
    /// ever logged is 0; a cleared log keeps counting).
    pub fn since(&self, seq: u64) -> RequestTail {
        let log = self.lock();
        let first = log.pushed - log.records.len() as u64;
        let from = seq.max(first);
        let skip = usize::try_from(from - first).unwrap_or(usize::MAX);
        RequestTail {
            records: log.records.iter().skip(skip).cloned().collect(),
            next: log.pushed.max(seq),
            missed: first.saturating_sub(seq),
        }
    }

    /// Forgets everything.
    pub fn clear(&self) {
        self.lock().records.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbs() {
        let cases = [
            ("GET", "/api/v1/namespaces/a/pods", "", "list"),
            (
                "GET",
                "/api/v1/namespaces/a/pods",
                "watch=true&rv=1",
                "watch",
            ),
            ("GET", "/api/v1/namespaces/a/pods/p", "", "get"),
            ("POST", "/api/v1/namespaces/a/pods", "", "create"),
            (
                "PUT",
                "/apis/coordination.k8s.io/v1/namespaces/a/leases/l",
                "",
                "update",
            ),
            (
                "PATCH",
                "/apis/apps/v1/namespaces/a/deployments/d",
                "fieldManager=x",
                "patch",
            ),
            (
                "DELETE",
                "/api/v1/namespaces/a/configmaps",
                "",
                "deletecollection",
            ),
            ("DELETE", "/api/v1/namespaces/a/configmaps/c", "", "delete"),
            (
                "POST",
                "/api/v1/namespaces/a/pods/p/portforward",
                "",
                "create",
            ),
            ("GET", "/openapi/v3", "", "get"),
            ("GET", "/apis", "", "get"),
        ];
        for (m, p, q, want) in cases {
            let m: Method = m.parse().unwrap();
            assert_eq!(verb(&m, p, q), want, "{m} {p}?{q}");
        }
        let log = RequestLog::default();
        let r = RequestRecord {
            time: Utc::now(),
            token: None,
            user: "admin".into(),
            user_agent: "kubectl/v1.32".into(),
            method: "PATCH".into(),
            verb: "patch".into(),
            path: "/api/v1/namespaces/a/configmaps/c".into(),
            query: "fieldManager=flux".into(),
            status: 200,
        };
        assert!(r.is_write());
        assert_eq!(
            r.line(),
            "PATCH /api/v1/namespaces/a/configmaps/c?fieldManager=flux"
        );
        log.push(r);
        assert_eq!(log.all().len(), 1);
        log.clear();
        assert!(log.all().is_empty());
    }

    #[test]
    fn a_reader_follows_the_log_and_learns_what_it_missed() {
        let log = RequestLog::default();
        let record = |path: &str| RequestRecord {
            time: Utc::now(),
            token: None,
            user: "admin".into(),
            user_agent: "t".into(),
            method: "GET".into(),
            verb: "get".into(),
            path: path.into(),
            query: String::new(),
            status: 200,
        };
        let paths =
            |t: &RequestTail| -> Vec<String> { t.records.iter().map(|r| r.path.clone()).collect() };
        assert_eq!(log.since(0), RequestTail::default());
        log.push(record("/a"));
        log.push(record("/b"));
        let t = log.since(0);
        assert_eq!(
            (paths(&t), t.next, t.missed),
            (vec!["/a".into(), "/b".into()], 2, 0)
        );
        log.push(record("/c"));
        let t = log.since(t.next);
        assert_eq!((paths(&t), t.next, t.missed), (vec!["/c".into()], 3, 0));
        let t = log.since(t.next);
        assert_eq!((t.records.len(), t.next, t.missed), (0, 3, 0));
        // Cleared: the numbers go on; what was cleared counts as missed.
        log.clear();
        log.push(record("/d"));
        let t = log.since(2);
        assert_eq!((paths(&t), t.next, t.missed), (vec!["/d".into()], 4, 1));
        // Past the log's size the oldest go, and a slow reader is told.
        for _ in 0..LOG_SIZE {
            log.push(record("/e"));
        }
        let t = log.since(3);
        assert_eq!(
            (t.records.len(), t.next, t.missed),
            (LOG_SIZE, 4 + LOG_SIZE as u64, 1)
        );
    }
}
