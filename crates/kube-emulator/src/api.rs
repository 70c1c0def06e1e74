//! Request dispatch: discovery, OpenAPI, the resource verbs, and the
//! emulator's own control endpoints under `/emulator/`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use http::Method;
use serde::Serialize;
use serde_json::{Value, json};

use crate::access::{Access, Identity};
use crate::error::ApiError;
use crate::faults::{FaultRule, Faults};
use crate::http::{self as h, Body, Request, ResourcePath};
use crate::ops::{
    Allocator, FieldValidation, Mutation, PatchKind, Sub, Target, WriteOptions, scale_of,
};
use crate::resources::ResourceType;
use crate::store::Store;
use crate::table::{self, Include};
use crate::{discovery, openapi, watch};

/// Request counters, by verb.
#[derive(Debug, Default)]
pub struct Stats {
    pub(crate) requests: AtomicU64,
    pub(crate) gets: AtomicU64,
    pub(crate) lists: AtomicU64,
    pub(crate) watches: AtomicU64,
    pub(crate) creates: AtomicU64,
    pub(crate) updates: AtomicU64,
    pub(crate) patches: AtomicU64,
    pub(crate) deletes: AtomicU64,
}

/// A copy of the counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct StatsSnapshot {
    /// Every request, discovery included.
    pub requests: u64,
    /// GET of one object.
    pub gets: u64,
    /// Lists.
    pub lists: u64,
    /// Watches.
    pub watches: u64,
    /// POSTs.
    pub creates: u64,
    /// PUTs.
    pub updates: u64,
    /// PATCHes (apply included).
    pub patches: u64,
    /// DELETEs.
    pub deletes: u64,
    /// Writes that changed the store.
    pub commits: u64,
}

impl StatsSnapshot {
    /// Write requests (create, update, patch, delete), changing anything or not.
    pub fn writes(&self) -> u64 {
        self.creates + self.updates + self.patches + self.deletes
    }
}

impl Stats {
    pub(crate) fn bump(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// A copy of the counters.
    pub fn snapshot(&self, commits: u64) -> StatsSnapshot {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StatsSnapshot {
            requests: g(&self.requests),
            gets: g(&self.gets),
            lists: g(&self.lists),
            watches: g(&self.watches),
            creates: g(&self.creates),
            updates: g(&self.updates),
            patches: g(&self.patches),
            deletes: g(&self.deletes),
            commits,
        }
    }
}

/// Everything the handlers share.
pub struct Shared {
    /// Objects and types.
    pub store: Store,
    /// Ids and IPs.
    pub alloc: Allocator,
    /// Who may do what.
    pub access: Access,
    /// Fault injection.
    pub faults: Faults,
    /// Counters.
    pub stats: Stats,
    /// The listening address, for discovery.
    pub addr: String,
    /// Every request received, for tests.
    pub requests: crate::requests::RequestLog,
    /// Where pods' ports are forwarded: (namespace, pod, port) → address.
    pub forwards:
        std::sync::Mutex<std::collections::HashMap<(String, String, u16), std::net::SocketAddr>>,
    /// Open port-forward sessions (ended with the server).
    pub sessions: std::sync::Mutex<tokio::task::JoinSet<()>>,
}

/// Handles one request.
pub async fn handle(shared: Arc<Shared>, req: Request) -> http::Response<Body> {
    Stats::bump(&shared.stats.requests);
    match route(&shared, &req).await {
        Ok(r) => r,
        Err(e) => h::error(&e),
    }
}

async fn route(shared: &Arc<Shared>, req: &Request) -> Result<http::Response<Body>, ApiError> {
    let path = req.path.as_str();
    if matches!(path, "/healthz" | "/readyz" | "/livez") {
        return Ok(h::text(200, "ok"));
    }
    if let Some(rest) = path.strip_prefix("/emulator/") {
        return control(shared, req, rest);
    }
    let who = shared.access.authenticate(
        req.headers
            .get("authorization")
            .and_then(|v| v.to_str().ok()),
    )?;
    if let Some(rp) = h::parse_resource_path(path) {
        return resource(shared, req, &who, &rp).await;
    }
    if req.method != Method::GET {
        return Err(ApiError::method_not_allowed(req.method.as_str()));
    }
    let types = shared.store.types();
    let accept = req.header("accept");
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let found = match segs.as_slice() {
        ["version"] => Some(discovery::version()),
        ["api"] | ["apis"] => {
            let core = segs[0] == "api";
            if let Some(v) = discovery::aggregated_version(accept) {
                let doc = discovery::aggregated(&types, core, v);
                let ct = format!(
                    "application/json;g=apidiscovery.k8s.io;v={v};as=APIGroupDiscoveryList"
                );
                return Ok(h::json_bytes(
                    200,
                    serde_json::to_vec(&doc).unwrap_or_default(),
                    &ct,
                    &[],
                ));
            }
            Some(if core {
                discovery::core_versions(&shared.addr)
            } else {
                discovery::group_list(&types)
            })
        }
        ["api", v] => discovery::resource_list(&types, "", v),
        ["apis", g] => discovery::group(&types, g),
        ["apis", g, v] => discovery::resource_list(&types, g, v),
        ["openapi", "v2"] => {
            if accept.contains("protobuf") {
                return Ok(h::json_bytes(
                    200,
                    openapi::v2::protobuf(&shared.store),
                    openapi::v2::PROTOBUF,
                    &[],
                ));
            }
            Some(openapi::v2::json(&shared.store))
        }
        ["openapi", "v3"] => Some(openapi::index(&shared.store)),
        ["openapi", "v3", rest @ ..] => openapi::document(&shared.store, &rest.join("/")),
        _ => None,
    };
    found
        .map(|v| h::json(200, &v, &[]))
        .ok_or_else(|| ApiError::no_route(path))
}

fn control(shared: &Shared, req: &Request, rest: &str) -> Result<http::Response<Body>, ApiError> {
    match (req.method.clone(), rest) {
        (Method::GET, "stats") => {
            let s = shared.stats.snapshot(shared.store.commits());
            Ok(h::json(
                200,
                &serde_json::to_value(s).unwrap_or_default(),
                &[],
            ))
        }
        (Method::GET, "requests") => Ok(h::json(
            200,
            &serde_json::to_value(shared.requests.all()).unwrap_or_default(),
            &[],
        )),
        (Method::DELETE, "requests") => {
            shared.requests.clear();
            Ok(h::json(200, &json!({}), &[]))
        }
        (Method::POST, "portforward") => {
            let body = req.json_body()?;
            let s = |k: &str| body.get(k).and_then(Value::as_str).unwrap_or("");
            let port = body
                .get("port")
                .and_then(Value::as_u64)
                .and_then(|p| u16::try_from(p).ok())
                .ok_or_else(|| {
                    ApiError::bad_request("port: a number from 1 to 65535 is required")
                })?;
            let addr: std::net::SocketAddr = s("address").parse().map_err(|_| {
                ApiError::bad_request(format!("address: {:?} is not HOST:PORT", s("address")))
            })?;
            if s("namespace").is_empty() || s("pod").is_empty() {
                return Err(ApiError::bad_request("namespace and pod are required"));
            }
            crate::portforward::register(shared, s("namespace"), s("pod"), port, addr);
            Ok(h::json(200, &json!({}), &[]))
        }
        (Method::GET, "faults") => Ok(h::json(
            200,
            &serde_json::to_value(shared.faults.rules()).unwrap_or_default(),
            &[],
        )),
        (Method::POST, "faults") => {
            let body = req.json_body()?;
            let rules: Vec<FaultRule> = if body.is_array() {
                serde_json::from_value(body)
            } else {
                serde_json::from_value(body).map(|r| vec![r])
            }
            .map_err(|e| ApiError::bad_request(format!("invalid fault rule: {e}")))?;
            let ids: Vec<u64> = rules.into_iter().map(|r| shared.faults.add(r).0).collect();
            Ok(h::json(200, &json!({"ids": ids}), &[]))
        }
        (Method::DELETE, "faults") => {
            shared.faults.clear();
            Ok(h::json(200, &json!({}), &[]))
        }
        _ => Err(ApiError::no_route(&req.path)),
    }
}

fn verb_of(method: &Method, named: bool, watching: bool) -> &'static str {
    match (method.as_str(), named) {
        ("GET", false) if watching => "watch",
        ("GET", false) => "list",
        ("GET", true) if watching => "watch",
        ("GET", true) => "get",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", false) => "deletecollection",
        ("DELETE", true) => "delete",
        _ => "unknown",
    }
}

async fn resource(
    shared: &Arc<Shared>,
    req: &Request,
    who: &Identity,
    rp: &ResourcePath,
) -> Result<http::Response<Body>, ApiError> {
    let rt = shared
        .store
        .resolve(&rp.group, &rp.version, &rp.plural)
        .ok_or_else(|| ApiError::no_route(&req.path))?;
    let name = rp.name.as_deref().map(h::decode_path);
    if rt.namespaced && name.is_some() && rp.namespace.is_none() {
        return Err(ApiError::no_route(&req.path));
    }
    if !rt.namespaced && rp.namespace.is_some() {
        return Err(ApiError::no_route(&req.path));
    }
    let sub = match rp.sub.as_deref() {
        None => Sub::Main,
        Some("status") if rt.status => Sub::Status,
        Some("scale") if rt.scale.is_some() => Sub::Scale,
        Some(_) => return Err(ApiError::no_route(&req.path)),
    };
    let watching = req.flag("watch");
    let verb = verb_of(&req.method, name.is_some(), watching);
    // As kube-apiserver does, a list or watch narrowed to one name by
    // `fieldSelector=metadata.name=X` is authorized as a request for X.
    let selected = match (&name, verb) {
        (None, "list" | "watch") => req
            .param("fieldSelector")
            .and_then(|f| f.strip_prefix("metadata.name="))
            .filter(|n| !n.is_empty() && !n.contains(','))
            .map(str::to_owned),
        _ => None,
    };
    shared.access.authorize(
        who,
        verb,
        &rt,
        rp.namespace.as_deref(),
        name.as_deref().or(selected.as_deref()),
    )?;
    let ns = rp.namespace.clone().unwrap_or_default();

    let Some(name) = name else {
        return crate::list::collection(
            shared,
            req,
            &rt,
            &rp.version,
            rp.namespace.as_deref(),
            verb,
        )
        .await;
    };
    if watching {
        Stats::bump(&shared.stats.watches);
        let field = format!("metadata.name={name}");
        return watch::serve(
            shared,
            req,
            &rt,
            &rp.version,
            rp.namespace.as_deref(),
            Some(&field),
        );
    }
    let target = Target {
        store: &shared.store,
        alloc: &shared.alloc,
        rt: &rt,
        version: &rp.version,
        ns: &ns,
        name: &name,
    };
    let dry_run = req.param("dryRun") == Some("All");
    match req.method.clone() {
        Method::GET => {
            Stats::bump(&shared.stats.gets);
            let obj = shared
                .store
                .get(&rt, &ns, &name)
                .ok_or_else(|| ApiError::not_found(&rt.group, &rt.plural, &name))?;
            if matches!(view(req), View::Full) {
                return Ok(h::raw(200, target.respond(sub, &obj), &[]));
            }
            let shown = if sub == Sub::Scale {
                scale_of(&rt, &obj)
            } else {
                target.present(&obj)
            };
            Ok(render_one(req, &rt, &shown))
        }
        Method::PUT | Method::PATCH => {
            let body = req.json_body()?;
            let mutation = if req.method == Method::PUT {
                Stats::bump(&shared.stats.updates);
                Mutation::Replace(body)
            } else {
                Stats::bump(&shared.stats.patches);
                let ct = req.header("content-type");
                let ct = ct.split(';').next().unwrap_or("").trim();
                match ct {
                    "application/apply-patch+yaml" | "application/apply-patch+json" => {
                        Mutation::Apply {
                            body,
                            force: req.flag("force"),
                        }
                    }
                    "application/merge-patch+json" => Mutation::Patch(PatchKind::Merge, body),
                    "application/strategic-merge-patch+json" => {
                        Mutation::Patch(PatchKind::Strategic, body)
                    }
                    "application/json-patch+json" => Mutation::Patch(PatchKind::Json, body),
                    other => return Err(ApiError::unsupported_media_type(other)),
                }
            };
            let manager = match (&mutation, req.field_manager()) {
                (Mutation::Apply { .. }, None) => {
                    return Err(ApiError::invalid(
                        "meta.k8s.io",
                        "PatchOptions",
                        "",
                        &[(
                            "fieldManager".into(),
                            "Required value: is required for apply patch".into(),
                        )],
                    ));
                }
                (_, m) => m.unwrap_or_else(|| "unknown".into()),
            };
            if req.flag("force") && !matches!(mutation, Mutation::Apply { .. }) {
                return Err(ApiError::invalid(
                    "meta.k8s.io",
                    "PatchOptions",
                    "",
                    &[(
                        "force".into(),
                        "Forbidden: may not be specified for non-apply patch".into(),
                    )],
                ));
            }
            let opts = WriteOptions {
                manager: &manager,
                dry_run,
                validation: validation(req)?,
            };
            let w = target.write(sub, &mutation, &opts)?;
            Ok(h::raw(
                if w.created { 201 } else { 200 },
                w.body,
                &w.warnings,
            ))
        }
        Method::DELETE => {
            Stats::bump(&shared.stats.deletes);
            let options = req.json_body()?;
            check_propagation(req, &options)?;
            let obj = target.delete(&options, dry_run)?;
            Ok(h::json(200, &obj, &[]))
        }
        Method::POST => Err(ApiError::method_not_allowed("POST")),
        other => Err(ApiError::method_not_allowed(other.as_str())),
    }
}

pub(crate) fn validation(req: &Request) -> Result<FieldValidation, ApiError> {
    match req.param("fieldValidation") {
        None | Some("") | Some("Warn") => Ok(FieldValidation::Warn),
        Some("Strict") => Ok(FieldValidation::Strict),
        Some("Ignore") => Ok(FieldValidation::Ignore),
        Some(other) => Err(ApiError::bad_request(format!(
            "fieldValidation: Unsupported value: {other:?}: supported values: \"Ignore\", \"Strict\", \"Warn\""
        ))),
    }
}

pub(crate) fn check_propagation(req: &Request, options: &Value) -> Result<(), ApiError> {
    let policy = req
        .param("propagationPolicy")
        .map(str::to_owned)
        .or_else(|| {
            options
                .get("propagationPolicy")
                .and_then(Value::as_str)
                .map(str::to_owned)
        });
    match policy.as_deref() {
        None | Some("Orphan" | "Background" | "Foreground") => Ok(()),
        Some(other) => Err(ApiError::invalid(
            "meta.k8s.io",
            "DeleteOptions",
            "",
            &[(
                "propagationPolicy".into(),
                format!(
                    "Unsupported value: {other:?}: supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\""
                ),
            )],
        )),
    }
}

/// How a GET wants its answer.
pub(crate) enum View {
    Full,
    Table(Include),
    Metadata,
}

pub(crate) fn view(req: &Request) -> View {
    let accept = req.header("accept");
    let first = accept.split(',').next().unwrap_or("").replace(' ', "");
    if first.contains("as=Table") {
        let include = match req.param("includeObject") {
            Some("None") => Include::None,
            Some("Object") => Include::Object,
            _ => Include::Metadata,
        };
        View::Table(include)
    } else if first.contains("as=PartialObjectMetadata") {
        View::Metadata
    } else {
        View::Full
    }
}

fn render_one(req: &Request, rt: &ResourceType, obj: &Value) -> http::Response<Body> {
    match view(req) {
        View::Full => h::json(200, obj, &[]),
        View::Metadata => h::json(200, &table::partial_metadata(obj), &[]),
        View::Table(include) => {
            let rv = obj
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
                .unwrap_or("");
            h::json(200, &table::table(rt, &[obj], rv, include, true), &[])
        }
    }
}
