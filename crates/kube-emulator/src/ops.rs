//! The write verbs on one object: create, update, the patch types,
//! server-side apply and delete, on the object itself and on its `status`
//! and `scale` subresources.
//!
//! Every write runs the same pipeline a real API server runs: compute the
//! next version, track field ownership, default, validate, skip no-ops, and
//! commit with optimistic concurrency (retrying when another writer won).

use std::sync::Arc;

use bytes::Bytes;
use serde_json::{Value, json};

use crate::admission;
use crate::error::ApiError;
use crate::managed::{self, ApplyError, ManagedFields, WriteContext, without_managed};
use crate::patch;
use crate::resources::ResourceType;
use crate::schema;
use crate::store::{Change, CommitError, Store, Stored};

/// How strictly unknown fields are treated (`fieldValidation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldValidation {
    /// Drop them silently.
    Ignore,
    /// Drop them with a warning.
    Warn,
    /// Refuse the request.
    Strict,
}

/// The object a request addresses.
pub struct Target<'a> {
    /// The store.
    pub store: &'a Store,
    /// The allocator.
    pub alloc: &'a Allocator,
    /// Its type.
    pub rt: &'a Arc<ResourceType>,
    /// The version asked for.
    pub version: &'a str,
    /// Its namespace (`""` for cluster-scoped).
    pub ns: &'a str,
    /// Its name.
    pub name: &'a str,
}

/// Which part of the object a write goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sub {
    /// The object.
    Main,
    /// `/status`.
    Status,
    /// `/scale`.
    Scale,
}

/// The patch types other than apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchKind {
    /// `application/merge-patch+json`.
    Merge,
    /// `application/strategic-merge-patch+json`.
    Strategic,
    /// `application/json-patch+json`.
    Json,
}

/// A write.
pub enum Mutation {
    /// POST.
    Create(Value),
    /// PUT.
    Replace(Value),
    /// PATCH.
    Patch(PatchKind, Value),
    /// PATCH with `application/apply-patch+yaml`.
    Apply {
        /// The applied configuration.
        body: Value,
        /// `force=true`.
        force: bool,
    },
}

/// Options every write carries.
pub struct WriteOptions<'a> {
    /// The field manager.
    pub manager: &'a str,
    /// `dryRun=All`.
    pub dry_run: bool,
    /// `fieldValidation`.
    pub validation: FieldValidation,
}

/// A write that succeeded.
pub struct Written {
    /// The response body (JSON).
    pub body: Bytes,
    /// Whether the object was created (201).
    pub created: bool,
    /// Warnings for the `Warning` header.
    pub warnings: Vec<String>,
}

enum Attempt {
    NoOp(Arc<Stored>),
    Commit {
        new: Value,
        change_is_delete: bool,
        created: bool,
    },
}

impl Target<'_> {
    fn api_version(&self) -> String {
        self.rt.api_version(self.version)
    }

    fn not_found(&self) -> ApiError {
        ApiError::not_found(&self.rt.group, &self.rt.plural, self.name)
    }

    /// The object as the request's version shows it.
    pub fn present(&self, obj: &Value) -> Value {
        let mut v = obj.clone();
        if let Some(m) = v.as_object_mut() {
            m.insert("apiVersion".into(), self.api_version().into());
        }
        v
    }

    /// Runs a write to completion.
    pub fn write(
        &self,
        sub: Sub,
        mutation: &Mutation,
        opts: &WriteOptions<'_>,
    ) -> Result<Written, ApiError> {
        let mut warnings = Vec::new();
        for _ in 0..100 {
            let current = self.store.get(self.rt, self.ns, self.name);
            warnings.clear();
            match self.attempt(sub, mutation, opts, current.as_ref(), &mut warnings)? {
                Attempt::NoOp(obj) => {
                    let body = self.respond(sub, &obj);
                    return Ok(Written {
                        body,
                        created: false,
                        warnings,
                    });
                }
                Attempt::Commit {
                    new,
                    change_is_delete,
                    created,
                } => {
                    if opts.dry_run {
                        // What a real commit would check, and the
                        // resourceVersion the object keeps.
                        if current.is_none()
                            && self.rt.namespaced
                            && !self.store.namespace_exists(self.ns)
                        {
                            return Err(ApiError::not_found("", "namespaces", self.ns));
                        }
                        let mut new = new;
                        if let (Some(cur), Some(m)) = (
                            current.as_ref(),
                            new.get_mut("metadata").and_then(Value::as_object_mut),
                        ) && let Some(rv) = cur.pointer("/metadata/resourceVersion")
                        {
                            m.insert("resourceVersion".into(), rv.clone());
                        }
                        let body = self.respond_value(sub, &new);
                        return Ok(Written {
                            body,
                            created,
                            warnings,
                        });
                    }
                    let change = if change_is_delete {
                        Change::Delete
                    } else {
                        Change::Put(new)
                    };
                    match self
                        .store
                        .commit(self.rt, self.ns, self.name, current.as_ref(), change)
                    {
                        Ok(Some(obj)) => {
                            let body = self.respond(sub, &obj);
                            return Ok(Written {
                                body,
                                created,
                                warnings,
                            });
                        }
                        Ok(None) => return Err(self.not_found()),
                        Err(CommitError::Retry) => continue,
                        Err(CommitError::Api(e)) => return Err(e),
                    }
                }
            }
        }
        Err(ApiError::internal("too many concurrent writers; giving up"))
    }

    /// The response body for a stored object: its stored JSON when the
    /// request's version is the stored one.
    pub fn respond(&self, sub: Sub, obj: &Stored) -> Bytes {
        if sub != Sub::Scale && obj.is_in(&self.api_version()) {
            return obj.json.clone();
        }
        self.respond_value(sub, obj)
    }

    fn respond_value(&self, sub: Sub, obj: &Value) -> Bytes {
        let v = match sub {
            Sub::Scale => scale_of(self.rt, obj),
            _ => self.present(obj),
        };
        Bytes::from(serde_json::to_vec(&v).unwrap_or_default())
    }

    fn check_identity(&self, body: &Value, require_type: bool) -> Result<(), ApiError> {
        let Some(obj) = body.as_object() else {
            return Err(ApiError::bad_request("the request body must be an object"));
        };
        let av = obj.get("apiVersion").and_then(Value::as_str);
        let kind = obj.get("kind").and_then(Value::as_str);
        if require_type && (av.is_none() || kind.is_none()) {
            return Err(ApiError::bad_request(format!(
                "invalid object type: apiVersion and kind must be set (got apiVersion {:?}, kind {:?})",
                av.unwrap_or(""),
                kind.unwrap_or("")
            )));
        }
        if let Some(k) = kind
            && k != self.rt.kind
        {
            return Err(ApiError::bad_request(format!(
                "the kind of the object ({k}) does not match the kind of the request ({})",
                self.rt.kind
            )));
        }
        if let Some(av) = av {
            let (g, _) = av.rsplit_once('/').unwrap_or(("", av));
            if g != self.rt.group
                || !self
                    .rt
                    .versions
                    .iter()
                    .any(|v| self.rt.api_version(v) == av)
            {
                return Err(ApiError::bad_request(format!(
                    "the API version in the data ({av}) does not match the expected API version ({})",
                    self.api_version()
                )));
            }
        }
        if let Some(n) = body.pointer("/metadata/name").and_then(Value::as_str)
            && !n.is_empty()
            && n != self.name
        {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({n}) does not match the name on the URL ({})",
                self.name
            )));
        }
        if self.rt.namespaced
            && let Some(n) = body.pointer("/metadata/namespace").and_then(Value::as_str)
            && !n.is_empty()
            && n != self.ns
        {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        Ok(())
    }

    fn check_rv(&self, body: &Value, current: Option<&Arc<Stored>>) -> Result<(), ApiError> {
        let Some(want) = body
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
        else {
            return Ok(());
        };
        if want.is_empty() {
            return Ok(());
        }
        let have = current
            .and_then(|c| c.pointer("/metadata/resourceVersion"))
            .and_then(Value::as_str);
        if have != Some(want) {
            return Err(ApiError::stale(&self.rt.group, &self.rt.plural, self.name));
        }
        Ok(())
    }

    /// Prunes fields a custom resource's schema does not declare.
    fn prune(
        &self,
        body: &mut Value,
        opts: &WriteOptions<'_>,
        warnings: &mut Vec<String>,
    ) -> Result<(), ApiError> {
        if self.rt.crd.is_none() {
            return Ok(());
        }
        let removed = schema::prune_unknown(body, &self.rt.schema);
        if removed.is_empty() {
            return Ok(());
        }
        let names: Vec<String> = removed
            .iter()
            .map(|p| format!("unknown field {:?}", p.trim_start_matches('.')))
            .collect();
        match opts.validation {
            FieldValidation::Strict => Err(ApiError::bad_request(format!(
                "{} in version {:?} cannot be handled as a {}: strict decoding error: {}",
                self.rt.kind,
                self.api_version(),
                self.rt.kind,
                names.join(", ")
            ))),
            FieldValidation::Warn => {
                warnings.extend(names);
                Ok(())
            }
            FieldValidation::Ignore => Ok(()),
        }
    }

    fn attempt(
        &self,
        sub: Sub,
        mutation: &Mutation,
        opts: &WriteOptions<'_>,
        current: Option<&Arc<Stored>>,
        warnings: &mut Vec<String>,
    ) -> Result<Attempt, ApiError> {
        let live = current.map(|c| without_managed(c));
        let old_managed = match current {
            Some(c) => ManagedFields::parse(c).map_err(ApiError::internal)?,
            None => ManagedFields::default(),
        };
        let has_status = self.rt.status;
        let ignore_main = move |f: &str| has_status && f == "status";
        let ignore_status = |f: &str| f != "status";
        let ignore_none = |_: &str| false;
        let ignored: &dyn Fn(&str) -> bool = match sub {
            Sub::Main => &ignore_main,
            Sub::Status => &ignore_status,
            Sub::Scale => &ignore_none,
        };
        let now = crate::now();
        let api_version = self.api_version();
        let subresource = match sub {
            Sub::Main => "",
            Sub::Status => "status",
            Sub::Scale => "scale",
        };
        let wcx = WriteContext {
            manager: opts.manager,
            api_version: &api_version,
            subresource,
            node: &self.rt.schema,
            ignored,
            now: &now,
        };
        if sub != Sub::Main && current.is_none() {
            return Err(self.not_found());
        }
        let (mut new, managed, created) = match mutation {
            Mutation::Create(body) => {
                if current.is_some() {
                    return Err(ApiError::already_exists(
                        &self.rt.group,
                        &self.rt.plural,
                        self.name,
                    ));
                }
                self.check_identity(body, false)?;
                let base = managed::requested_or_live(
                    body.pointer("/metadata/managedFields"),
                    &ManagedFields::default(),
                );
                let mut new = clean_system_fields(body);
                self.prune(&mut new, opts, warnings)?;
                let mf = managed::update(None, &mut new, base, &wcx);
                (new, mf, true)
            }
            Mutation::Replace(body) => {
                let live = live.as_ref().ok_or_else(|| self.not_found())?;
                if sub == Sub::Scale {
                    let mut new = self.scaled(live, body)?;
                    let mf = managed::update(Some(live), &mut new, old_managed.clone(), &wcx);
                    (new, mf, false)
                } else {
                    self.check_identity(body, false)?;
                    self.check_rv(body, current)?;
                    let base = managed::requested_or_live(
                        body.pointer("/metadata/managedFields"),
                        &old_managed,
                    );
                    let mut new = clean_system_fields(body);
                    self.prune(&mut new, opts, warnings)?;
                    let mf = managed::update(Some(live), &mut new, base, &wcx);
                    (new, mf, false)
                }
            }
            Mutation::Patch(kind, body) => {
                let live = live.as_ref().ok_or_else(|| self.not_found())?;
                if sub == Sub::Scale {
                    let patched =
                        apply_patch(*kind, &scale_of(self.rt, live), body, &schema::Node::Loose)?;
                    let mut new = self.scaled(live, &patched)?;
                    let mf = managed::update(Some(live), &mut new, old_managed.clone(), &wcx);
                    (new, mf, false)
                } else {
                    if *kind == PatchKind::Strategic && self.rt.crd.is_some() {
                        return Err(ApiError::unsupported_media_type(
                            "application/strategic-merge-patch+json (not supported for custom resources)",
                        ));
                    }
                    // Patched with its managedFields, which a patch may set
                    // (a JSON patch replacing them moves ownership).
                    let stored = current.map(|c| &c.value).unwrap_or(live);
                    let patched = apply_patch(*kind, stored, body, &self.rt.schema)?;
                    self.check_identity(&patched, false)?;
                    self.check_rv(&patched, current)?;
                    let requested = patched.pointer("/metadata/managedFields");
                    let base = if requested == stored.pointer("/metadata/managedFields") {
                        old_managed.clone()
                    } else {
                        managed::requested_or_live(requested, &old_managed)
                    };
                    let mut new = clean_system_fields(&patched);
                    self.prune(&mut new, opts, warnings)?;
                    let mf = managed::update(Some(live), &mut new, base, &wcx);
                    (new, mf, false)
                }
            }
            Mutation::Apply { body, force } => {
                if sub == Sub::Scale {
                    return Err(ApiError::method_not_allowed(
                        "apply to the scale subresource",
                    ));
                }
                self.check_identity(body, true)?;
                if body
                    .pointer("/metadata/managedFields")
                    .is_some_and(|v| !v.is_null())
                {
                    return Err(ApiError::bad_request("metadata.managedFields must be nil"));
                }
                self.check_rv(body, current)?;
                let mut applied = clean_system_fields(body);
                self.prune(&mut applied, opts, warnings)?;
                admission::decode_check(self.rt, &applied).map_err(ApiError::bad_request)?;
                let base = live.clone().unwrap_or_else(|| json!({}));
                let (merged, mf) =
                    managed::apply(&base, old_managed.clone(), &applied, *force, &wcx).map_err(
                        |e| match e {
                            ApplyError::Conflicts(c) => ApiError::apply_conflicts(
                                &self.rt.group,
                                &self.rt.plural,
                                self.name,
                                &c,
                            ),
                            ApplyError::Shape(s) => ApiError::invalid(
                                &self.rt.group,
                                &self.rt.kind,
                                self.name,
                                &[(String::new(), s)],
                            ),
                        },
                    )?;
                (merged, mf, current.is_none())
            }
        };
        admission::decode_check(self.rt, &new).map_err(ApiError::bad_request)?;
        admission::default(self.rt, &mut new, live.as_ref(), &|| {
            self.alloc.cluster_ip()
        });
        admission::system_metadata(
            self.rt,
            &api_version,
            &mut new,
            live.as_ref(),
            self.ns,
            self.name,
            &|| self.alloc.uid(),
        );
        admission::validate(self.rt, &new, live.as_ref())
            .map_err(|c| ApiError::invalid(&self.rt.group, &self.rt.kind, self.name, &c))?;
        if let (Some(cur), Some(live)) = (current, live.as_ref()) {
            let mut l = live.clone();
            if let Some(m) = l.get_mut("metadata").and_then(Value::as_object_mut) {
                m.remove("resourceVersion");
            }
            if l == new && managed.same_ownership(&old_managed) {
                return Ok(Attempt::NoOp(cur.clone()));
            }
        }
        if let Some(m) = new.get_mut("metadata").and_then(Value::as_object_mut) {
            let enc = managed.encode();
            if enc.as_array().is_some_and(|a| !a.is_empty()) {
                m.insert("managedFields".into(), enc);
            } else {
                m.remove("managedFields");
            }
        }
        let finalizers_done = new
            .pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .is_none_or(Vec::is_empty);
        let deleting = new.pointer("/metadata/deletionTimestamp").is_some();
        Ok(Attempt::Commit {
            new,
            change_is_delete: deleting && finalizers_done,
            created,
        })
    }

    /// The object with its replicas set from a Scale object.
    fn scaled(&self, live: &Value, scale: &Value) -> Result<Value, ApiError> {
        let paths = self
            .rt
            .scale
            .as_ref()
            .ok_or_else(|| ApiError::no_route("scale"))?;
        let replicas = scale
            .pointer("/spec/replicas")
            .and_then(Value::as_i64)
            .ok_or_else(|| {
                ApiError::invalid(
                    "autoscaling",
                    "Scale",
                    self.name,
                    &[("spec.replicas".into(), "Required value".into())],
                )
            })?;
        if replicas < 0 {
            return Err(ApiError::invalid(
                "autoscaling",
                "Scale",
                self.name,
                &[(
                    "spec.replicas".into(),
                    format!("Invalid value: {replicas}: must be greater than or equal to 0"),
                )],
            ));
        }
        let mut new = live.clone();
        set_pointer(&mut new, &paths.spec_replicas, json!(replicas));
        Ok(new)
    }

    /// Deletes the object (or marks it for deletion while finalizers
    /// remain). Returns the response body.
    pub fn delete(&self, options: &Value, dry_run: bool) -> Result<Value, ApiError> {
        for _ in 0..100 {
            let current = self
                .store
                .get(self.rt, self.ns, self.name)
                .ok_or_else(|| self.not_found())?;
            if let Some(pre) = options.get("preconditions") {
                for (field, pointer) in [
                    ("uid", "/metadata/uid"),
                    ("resourceVersion", "/metadata/resourceVersion"),
                ] {
                    if let Some(want) = pre.get(field).and_then(Value::as_str)
                        && current.pointer(pointer).and_then(Value::as_str) != Some(want)
                    {
                        return Err(ApiError::stale(&self.rt.group, &self.rt.plural, self.name));
                    }
                }
            }
            let finalizers = current
                .pointer("/metadata/finalizers")
                .and_then(Value::as_array)
                .is_some_and(|f| !f.is_empty());
            let change = if finalizers {
                if current.pointer("/metadata/deletionTimestamp").is_some() {
                    return Ok(self.present(&current));
                }
                let mut marked = current.value.clone();
                if let Some(m) = marked.get_mut("metadata").and_then(Value::as_object_mut) {
                    m.insert("deletionTimestamp".into(), crate::now().into());
                    m.insert("deletionGracePeriodSeconds".into(), 0.into());
                }
                Change::Put(marked)
            } else {
                Change::Delete
            };
            if dry_run {
                return Ok(self.present(&current));
            }
            match self
                .store
                .commit(self.rt, self.ns, self.name, Some(&current), change)
            {
                Ok(Some(obj)) => {
                    let mut out = self.present(&obj);
                    if self.rt.group.is_empty() && self.rt.kind == "Namespace" {
                        set_pointer(&mut out, "/status/phase", json!("Terminating"));
                    }
                    return Ok(out);
                }
                Ok(None) => return Err(self.not_found()),
                Err(CommitError::Retry) => continue,
                Err(CommitError::Api(e)) => return Err(e),
            }
        }
        Err(ApiError::internal("too many concurrent writers; giving up"))
    }
}

fn apply_patch(
    kind: PatchKind,
    live: &Value,
    body: &Value,
    node: &schema::Node,
) -> Result<Value, ApiError> {
    match kind {
        PatchKind::Merge => Ok(patch::merge_patch(live, body)),
        PatchKind::Strategic => {
            patch::strategic_merge_patch(live, body, node).map_err(ApiError::bad_request)
        }
        PatchKind::Json => patch::json_patch(live, body)
            .map_err(|e| ApiError::invalid("", "", "", &[(String::new(), e)])),
    }
}

/// Without the metadata the server owns (uid, resourceVersion…), which
/// requests may echo back but never set.
fn clean_system_fields(body: &Value) -> Value {
    let mut v = body.clone();
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        for k in [
            "uid",
            "resourceVersion",
            "creationTimestamp",
            "generation",
            "selfLink",
            "managedFields",
            "deletionTimestamp",
        ] {
            m.remove(k);
        }
    }
    v
}

pub use crate::alloc::Allocator;
pub use crate::scale::scale_of;
use crate::scale::set_pointer;
