//! Watches: a stream of newline-delimited `{"type": …, "object": …}`
//! events, from a resourceVersion (history kept by the store) or from now
//! (current objects first as ADDED), as Tables for `kubectl get -w`.
//!
//! Not implemented: periodic BOOKMARK events (allowed: servers need not
//! send them), and turning MODIFIED into ADDED/DELETED when an object
//! enters or leaves a label selector.

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
use crate::store::{Event, GroupResource, gr};
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
}

impl State {
    fn wanted(&self, e: &Event) -> bool {
        e.gr == self.gr
            && self.ns.as_deref().is_none_or(|n| n == e.namespace)
            && self.label.matches(&e.object)
            && self.field.matches(&e.object)
    }

    fn encode(&mut self, e: &Event) -> Bytes {
        if self.table.is_none() && e.object.is_in(&self.api_version) {
            let mut b = Vec::with_capacity(e.object.json.len() + 32);
            b.extend_from_slice(
                format!("{{\"type\":\"{}\",\"object\":", e.kind.as_str()).as_bytes(),
            );
            b.extend_from_slice(&e.object.json);
            b.extend_from_slice(b"}\n");
            return Bytes::from(b);
        }
        let mut obj = e.object.value.clone();
        if let Some(m) = obj.as_object_mut() {
            m.insert("apiVersion".into(), self.api_version.clone().into());
        }
        let object = match self.table {
            None => obj,
            Some(include) => {
                let rv = e.rv.to_string();
                let t = table::table(&self.rt, &[&obj], &rv, include, !self.columns_sent);
                self.columns_sent = true;
                t
            }
        };
        line(&json!({"type": e.kind.as_str(), "object": object}))
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
    let (pending, rx) = match rv {
        Some(v) if !initial_events => {
            let rv: u64 = v
                .parse()
                .map_err(|_| ApiError::bad_request(format!("invalid resource version {v:?}")))?;
            shared.store.subscribe(rt, ns, rv)?
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

async fn next(mut st: State) -> Option<(Bytes, State)> {
    loop {
        if let Some(e) = st.pending.pop_front() {
            if st.wanted(&e) {
                let b = st.encode(&e);
                return Some((b, st));
            }
            continue;
        }
        if let Some(b) = st.tail.pop_front() {
            return Some((b, st));
        }
        tokio::select! {
            r = st.rx.recv() => match r {
                Ok(e) => st.pending.push_back(e),
                // A watcher that falls behind is closed; clients re-list.
                Err(_) => return None,
            },
            () = tokio::time::sleep_until(st.deadline) => return None,
        }
    }
}
