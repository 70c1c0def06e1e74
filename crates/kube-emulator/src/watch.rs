//! Watches: a stream of newline-delimited `{"type": …, "object": …}`
//! events, from a resourceVersion (history kept by the store) or from now
//! (current objects first as ADDED), as Tables for `kubectl get -w`.
//!
//! As a real API server does, a change that moves an object into a
//! watch's selectors is sent as ADDED, one that moves it out as DELETED
//! (with the object as it was, at the change's resourceVersion), and a
//! watch resuming from a resourceVersion whose history is gone gets a 410
//! ERROR event rather than an HTTP error, so clients list again.
//!
//! A watch whose client a `Drop` fault starts matching ends at once.
//!
//! Not implemented: periodic BOOKMARK events (allowed: servers need not
//! send them).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt as _;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use serde_json::{Value, json};
use tokio::sync::broadcast;

use crate::api::Shared;
use crate::error::ApiError;
use crate::http::{Body, Request};
use crate::resources::ResourceType;
use crate::selector::{FieldSelector, LabelSelector};
use crate::store::{Event, EventType, GroupResource, Stored, gr};
use crate::table::{self, Include};

struct State {
    pending: VecDeque<Arc<Event>>,
    rx: broadcast::Receiver<Arc<Event>>,
    deadline: tokio::time::Instant,
    rt: Arc<ResourceType>,
    gr: GroupResource,
    ns: Option<String>,
    api_version: String,
    label: LabelSelector,
    field: FieldSelector,
    table: Option<Include>,
    columns_sent: bool,
    tail: VecDeque<Bytes>,
    closed: tokio::sync::watch::Receiver<u64>,
    /// To end the watch when its client is cut off by a fault.
    shared: Arc<Shared>,
    faults_changed: Option<tokio::sync::watch::Receiver<u64>>,
    token: Option<String>,
    user_agent: String,
    path: String,
}

impl State {
    fn selects(&self, obj: &Value) -> bool {
        self.label.matches(obj) && self.field.matches(obj)
    }

    /// What this watch sends for `e`, if anything: the event type and the
    /// object, and whether the object is the one before the change.
    fn view<'e>(&self, e: &'e Event) -> Option<(EventType, &'e Stored, bool)> {
        if e.gr != self.gr || self.ns.as_deref().is_some_and(|n| n != e.namespace) {
            return None;
        }
        let now = self.selects(&e.object);
        let before = e.previous.as_ref().filter(|p| self.selects(p));
        match (e.kind, now, before) {
            (EventType::Modified, true, None) => Some((EventType::Added, &e.object, false)),
            (EventType::Modified, false, Some(p)) => Some((EventType::Deleted, p, true)),
            (kind, true, _) => Some((kind, &e.object, false)),
            _ => None,
        }
    }

    /// Encodes one event; `restamp`: give the object the event's
    /// resourceVersion (an object sent as it was before the change).
    fn encode(&mut self, kind: EventType, object: &Stored, rv: u64, restamp: bool) -> Bytes {
        if self.table.is_none() && !restamp && object.is_in(&self.api_version) {
            let mut b = Vec::with_capacity(object.json.len() + 32);
            b.extend_from_slice(format!("{{\"type\":\"{}\",\"object\":", kind.as_str()).as_bytes());
            b.extend_from_slice(&object.json);
            b.extend_from_slice(b"}\n");
            return Bytes::from(b);
        }
        let mut obj = object.value.clone();
        if let Some(m) = obj.as_object_mut() {
            m.insert("apiVersion".into(), self.api_version.clone().into());
        }
        if restamp && let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
            m.insert("resourceVersion".into(), rv.to_string().into());
        }
        let object = match self.table {
            None => obj,
            Some(include) => {
                let rv = rv.to_string();
                let t = table::table(&self.rt, &[&obj], &rv, include, !self.columns_sent);
                self.columns_sent = true;
                t
            }
        };
        line(&json!({"type": kind.as_str(), "object": object}))
    }
}

fn line(v: &Value) -> Bytes {
    let mut b = serde_json::to_vec(v).unwrap_or_default();
    b.push(b'\n');
    Bytes::from(b)
}

/// Starts a watch; `name_selector` narrows it to one object.
pub fn serve(
    shared: &Arc<Shared>,
    req: &Request,
    rt: &Arc<ResourceType>,
    version: &str,
    ns: Option<&str>,
    name_selector: Option<&str>,
) -> Result<http::Response<Body>, ApiError> {
    let label = LabelSelector::parse(req.param("labelSelector").unwrap_or(""))
        .map_err(ApiError::bad_request)?;
    let mut fs = req.param("fieldSelector").unwrap_or("").to_owned();
    if let Some(n) = name_selector {
        if !fs.is_empty() {
            fs.push(',');
        }
        fs.push_str(n);
    }
    let field = FieldSelector::parse(&fs).map_err(ApiError::bad_request)?;
    let rv = req
        .param("resourceVersion")
        .filter(|v| !v.is_empty() && *v != "0");
    let initial_events = req.flag("sendInitialEvents");
    let closed = shared.store.watch_closer();
    let (pending, rx) = match rv {
        Some(v) if !initial_events => {
            let rv: u64 = v
                .parse()
                .map_err(|_| ApiError::bad_request(format!("invalid resource version {v:?}")))?;
            match shared.store.subscribe(rt, ns, rv) {
                Ok(s) => s,
                // A real API server answers 200 and sends the 410 as an
                // event; clients list again on it.
                Err(e) if e.code == 410 => return Ok(expired(&e)),
                Err(e) => return Err(e),
            }
        }
        _ => shared.store.subscribe_now(rt, ns),
    };
    let timeout = req
        .param("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .unwrap_or(1800);
    let accept = req.header("accept");
    let table = accept
        .split(',')
        .next()
        .unwrap_or("")
        .contains("as=Table")
        .then(|| match req.param("includeObject") {
            Some("None") => Include::None,
            Some("Object") => Include::Object,
            _ => Include::Metadata,
        });
    let api_version = rt.api_version(version);
    let mut tail = VecDeque::new();
    if initial_events {
        tail.push_back(line(&json!({
            "type": "BOOKMARK",
            "object": {
                "kind": rt.kind, "apiVersion": api_version,
                "metadata": {"resourceVersion": shared.store.resource_version().to_string(),
                             "annotations": {"k8s.io/initial-events-end": "true"}}
            }
        })));
    }
    let state = State {
        pending: pending.into(),
        rx,
        deadline: tokio::time::Instant::now() + Duration::from_secs(timeout),
        rt: rt.clone(),
        gr: gr(rt),
        ns: ns.map(str::to_owned),
        api_version,
        label,
        field,
        table,
        columns_sent: false,
        tail,
        closed,
        shared: shared.clone(),
        faults_changed: Some(shared.faults.changed()),
        token: crate::server::bearer(&req.headers).map(str::to_owned),
        user_agent: req.header("user-agent").to_owned(),
        path: req.path.clone(),
    };
    let stream = futures::stream::unfold(state, next).map(|b| Ok::<_, Infallible>(Frame::data(b)));
    let body: Body = BodyExt::boxed(StreamBody::new(stream));
    http::Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .header("cache-control", "no-cache, private")
        .body(body)
        .map_err(|e| ApiError::internal(e.to_string()))
}

/// A watch that only says its resourceVersion is too old.
fn expired(e: &ApiError) -> http::Response<Body> {
    let event = line(&json!({"type": "ERROR", "object": e.to_status()}));
    let stream = futures::stream::iter([Ok::<_, Infallible>(Frame::data(event))]);
    let body: Body = BodyExt::boxed(StreamBody::new(stream));
    http::Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .body(body)
        .unwrap_or_else(|_| crate::http::error(e))
}

async fn next(mut st: State) -> Option<(Bytes, State)> {
    loop {
        if let Some(e) = st.pending.pop_front() {
            if let Some((kind, object, before)) = st.view(&e) {
                let b = st.encode(kind, object, e.rv, before);
                return Some((b, st));
            }
            continue;
        }
        if let Some(b) = st.tail.pop_front() {
            return Some((b, st));
        }
        let faults = async {
            match st.faults_changed.as_mut() {
                Some(rx) => rx.changed().await.is_ok(),
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            r = st.rx.recv() => match r {
                Ok(e) => st.pending.push_back(e),
                // A watcher that falls behind is closed; clients re-list.
                Err(_) => return None,
            },
            () = tokio::time::sleep_until(st.deadline) => return None,
            _ = st.closed.changed() => return None,
            alive = faults => {
                if !alive {
                    st.faults_changed = None;
                } else if st.shared.faults.drops(&crate::faults::Call {
                    method: "GET",
                    path: &st.path,
                    token: st.token.as_deref(),
                    user_agent: &st.user_agent,
                }) {
                    // Cut off: the watch ends.
                    return None;
                }
            }
        }
    }
}
