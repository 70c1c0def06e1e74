//! Collection requests: list (with selectors and pagination), watch,
//! create and delete-collection.

use std::sync::Arc;

use base64::Engine as _;
use serde_json::{Value, json};

use crate::api::{Shared, Stats, View, check_propagation, validation, view};
use crate::error::ApiError;
use crate::http::{self as h, Body, Request};
use crate::ops::{Allocator, Mutation, Sub, Target, WriteOptions};
use crate::resources::ResourceType;
use crate::selector::{FieldSelector, LabelSelector};
use crate::store::Stored;
use crate::table;
use crate::watch;

/// Handles a request on a collection.
pub async fn collection(
    shared: &Arc<Shared>,
    req: &Request,
    rt: &Arc<ResourceType>,
    version: &str,
    ns: Option<&str>,
    verb: &str,
) -> Result<http::Response<Body>, ApiError> {
    match verb {
        "watch" => {
            Stats::bump(&shared.stats.watches);
            watch::serve(shared, req, rt, version, ns, None)
        }
        "list" => {
            Stats::bump(&shared.stats.lists);
            list(shared, req, rt, version, ns)
        }
        "create" => {
            Stats::bump(&shared.stats.creates);
            if rt.namespaced && ns.is_none() {
                return Err(ApiError::method_not_allowed("POST"));
            }
            let body = req.json_body()?;
            let name = match body.pointer("/metadata/name").and_then(Value::as_str) {
                Some(n) if !n.is_empty() => n.to_owned(),
                _ => match body
                    .pointer("/metadata/generateName")
                    .and_then(Value::as_str)
                {
                    Some(prefix) if !prefix.is_empty() => {
                        format!("{prefix}{}", suffix(&shared.alloc))
                    }
                    _ => {
                        return Err(ApiError::invalid(
                            &rt.group,
                            &rt.kind,
                            "",
                            &[(
                                "metadata.name".into(),
                                "Required value: name or generateName is required".into(),
                            )],
                        ));
                    }
                },
            };
            let mut body = body;
            if let Some(m) = body.get_mut("metadata").and_then(Value::as_object_mut) {
                m.insert("name".into(), name.clone().into());
            }
            let ns = ns.unwrap_or("");
            let target = Target {
                store: &shared.store,
                alloc: &shared.alloc,
                rt,
                version,
                ns,
                name: &name,
            };
            let manager = req.field_manager().unwrap_or_else(|| "unknown".into());
            let opts = WriteOptions {
                manager: &manager,
                dry_run: req.param("dryRun") == Some("All"),
                validation: validation(req)?,
            };
            let w = target.write(Sub::Main, &Mutation::Create(body), &opts)?;
            Ok(h::raw(201, w.body, &w.warnings))
        }
        "deletecollection" => {
            Stats::bump(&shared.stats.deletes);
            let (items, _) = selected(shared, req, rt, ns)?;
            let options = req.json_body()?;
            check_propagation(req, &options)?;
            let dry_run = req.param("dryRun") == Some("All");
            let mut deleted = Vec::new();
            for obj in items {
                let (ons, oname) = ident(&obj);
                let target = Target {
                    store: &shared.store,
                    alloc: &shared.alloc,
                    rt,
                    version,
                    ns: &ons,
                    name: &oname,
                };
                match target.delete(&options, dry_run) {
                    Ok(o) => deleted.push(o),
                    Err(e) if e.code == 404 => {}
                    Err(e) => return Err(e),
                }
            }
            let list = json!({
                "kind": format!("{}List", rt.kind),
                "apiVersion": rt.api_version(version),
                "metadata": {"resourceVersion": shared.store.resource_version().to_string()},
                "items": deleted,
            });
            Ok(h::json(200, &list, &[]))
        }
        other => Err(ApiError::method_not_allowed(other)),
    }
}

fn ident(obj: &Value) -> (String, String) {
    let s = |p: &str| {
        obj.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    (s("/metadata/namespace"), s("/metadata/name"))
}

fn suffix(alloc: &Allocator) -> String {
    let uid = alloc.uid().replace('-', "");
    const CHARS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    uid.bytes()
        .take(5)
        .map(|b| CHARS[b as usize % CHARS.len()] as char)
        .collect()
}

/// Objects matching the request's selectors, with the list resourceVersion.
pub fn selected(
    shared: &Shared,
    req: &Request,
    rt: &ResourceType,
    ns: Option<&str>,
) -> Result<(Vec<Arc<Stored>>, u64), ApiError> {
    let label = LabelSelector::parse(req.param("labelSelector").unwrap_or(""))
        .map_err(ApiError::bad_request)?;
    let field = FieldSelector::parse(req.param("fieldSelector").unwrap_or(""))
        .map_err(ApiError::bad_request)?;
    let (items, rv) = shared.store.list(rt, ns);
    let items = items
        .into_iter()
        .filter(|o| label.matches(o) && field.matches(o))
        .collect();
    Ok((items, rv))
}

fn list(
    shared: &Arc<Shared>,
    req: &Request,
    rt: &Arc<ResourceType>,
    version: &str,
    ns: Option<&str>,
) -> Result<http::Response<Body>, ApiError> {
    let (mut items, rv) = selected(shared, req, rt, ns)?;
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    if let Some(token) = req.param("continue").filter(|t| !t.is_empty()) {
        let after = engine
            .decode(token)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| ApiError::bad_request("continue key is not valid"))?;
        items.retain(|o| {
            let (n, m) = ident(o);
            format!("{n}/{m}") > after
        });
    }
    let mut cont = None;
    if let Some(limit) = req
        .param("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .filter(|l| *l > 0)
        && items.len() > limit
    {
        items.truncate(limit);
        if let Some(last) = items.last() {
            let (n, m) = ident(last);
            cont = Some(engine.encode(format!("{n}/{m}")));
        }
    }
    let rv = rv.to_string();
    let api_version = rt.api_version(version);
    let present = |o: &Value| {
        let mut v = o.clone();
        if let Some(m) = v.as_object_mut() {
            m.insert("apiVersion".into(), api_version.clone().into());
        }
        v
    };
    let mut meta = json!({"resourceVersion": rv});
    if let Some(c) = &cont {
        meta["continue"] = json!(c);
    }
    let body = match view(req) {
        View::Table(include) => {
            let shown: Vec<Value> = items.iter().map(|o| present(o)).collect();
            let refs: Vec<&Value> = shown.iter().collect();
            let mut t = table::table(rt, &refs, &rv, include, true);
            t["metadata"] = meta;
            t
        }
        View::Metadata => json!({
            "kind": "PartialObjectMetadataList",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": meta,
            "items": items.iter().map(|o| table::partial_metadata(o)).collect::<Vec<_>>(),
        }),
        View::Full => {
            // Stored JSON copied as is: no re-encoding of every object.
            let head = json!({"kind": format!("{}List", rt.kind), "apiVersion": api_version, "metadata": meta});
            let head = serde_json::to_vec(&head).unwrap_or_default();
            let size: usize = items.iter().map(|o| o.json.len() + 1).sum();
            let mut out = Vec::with_capacity(head.len() + size + 16);
            out.extend_from_slice(&head[..head.len() - 1]);
            out.extend_from_slice(b",\"items\":[");
            for (i, o) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                if o.is_in(&api_version) {
                    out.extend_from_slice(&o.json);
                } else {
                    out.extend_from_slice(&serde_json::to_vec(&present(o)).unwrap_or_default());
                }
            }
            out.extend_from_slice(b"]}");
            return Ok(h::raw(200, bytes::Bytes::from(out), &[]));
        }
    };
    Ok(h::json(200, &body, &[]))
}
