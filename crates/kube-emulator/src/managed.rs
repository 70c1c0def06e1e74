//! Field ownership: `metadata.managedFields`, server-side apply and the
//! bookkeeping of ordinary updates.
//!
//! The rules are the API server's (structured-merge-diff):
//! - an apply makes its manager own exactly the fields it specified;
//! - fields the manager owned before and no longer applies are removed from
//!   the object, unless another manager owns them too;
//! - changing a field another manager owns is a conflict (409) unless the
//!   apply is forced, which moves ownership to the applier;
//! - an update (PUT, merge patch…) always wins: its manager gains the fields
//!   it changed and the others lose them.

use serde_json::{Map, Value};

use crate::fieldset::{self, FieldSet, PathElem, compare, to_field_set};
use crate::merge::{merge, remove_paths};
use crate::schema::Node;

/// The kind of write that gave a manager its fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Operation {
    /// Server-side apply.
    Apply,
    /// Create, update or patch.
    Update,
}

impl Operation {
    fn as_str(self) -> &'static str {
        match self {
            Operation::Apply => "Apply",
            Operation::Update => "Update",
        }
    }
}

/// One `managedFields` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The field manager.
    pub manager: String,
    /// How it wrote.
    pub operation: Operation,
    /// The API version it wrote with.
    pub api_version: String,
    /// When it last wrote.
    pub time: Option<String>,
    /// The subresource it wrote through (`""`, `status`, `scale`).
    pub subresource: String,
    /// The fields it owns.
    pub set: FieldSet,
}

impl Entry {
    fn same_identity(
        &self,
        manager: &str,
        op: Operation,
        subresource: &str,
        api_version: &str,
    ) -> bool {
        self.manager == manager
            && self.operation == op
            && self.subresource == subresource
            // Update entries are per API version, apply entries are not.
            && (op == Operation::Apply || self.api_version == api_version)
    }
}

/// All managers of one object.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ManagedFields {
    /// The entries.
    pub entries: Vec<Entry>,
}

/// Where and how a write happens.
pub struct WriteContext<'a> {
    /// The field manager.
    pub manager: &'a str,
    /// API version of the request.
    pub api_version: &'a str,
    /// Subresource written (`""` for the object itself).
    pub subresource: &'a str,
    /// The kind's merge schema.
    pub node: &'a Node,
    /// Top-level fields this endpoint does not write (e.g. `status` for the
    /// main resource of a kind with a status subresource).
    pub ignored: &'a dyn Fn(&str) -> bool,
    /// The current time, RFC 3339.
    pub now: &'a str,
}

/// Why an apply was refused.
#[derive(Debug, Clone, PartialEq)]
pub enum ApplyError {
    /// Fields owned by other managers would change: (manager, apiVersion, path).
    Conflicts(Vec<(String, String, String)>),
    /// The applied configuration does not fit the schema.
    Shape(String),
}

impl ManagedFields {
    /// Reads `metadata.managedFields` of an object.
    pub fn parse(obj: &Value) -> Result<Self, String> {
        let Some(list) = obj.pointer("/metadata/managedFields") else {
            return Ok(Self::default());
        };
        let Some(list) = list.as_array() else {
            return Err("metadata.managedFields must be a list".into());
        };
        let mut entries = Vec::with_capacity(list.len());
        for e in list {
            let s = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
            let operation = match s("operation").as_str() {
                "Apply" => Operation::Apply,
                "Update" => Operation::Update,
                other => return Err(format!("managedFields: invalid operation {other:?}")),
            };
            let set = match e.get("fieldsV1") {
                Some(v) => FieldSet::from_fields_v1(v)?,
                None => FieldSet::new(),
            };
            entries.push(Entry {
                manager: s("manager"),
                operation,
                api_version: s("apiVersion"),
                time: e.get("time").and_then(Value::as_str).map(str::to_owned),
                subresource: s("subresource"),
                set,
            });
        }
        Ok(Self { entries })
    }

    /// The `metadata.managedFields` list, in the API server's order.
    pub fn encode(&self) -> Value {
        let mut entries: Vec<&Entry> = self.entries.iter().filter(|e| !e.set.is_empty()).collect();
        entries.sort_by(|a, b| {
            (
                a.operation,
                &a.time,
                &a.manager,
                &a.api_version,
                &a.subresource,
            )
                .cmp(&(
                    b.operation,
                    &b.time,
                    &b.manager,
                    &b.api_version,
                    &b.subresource,
                ))
        });
        Value::Array(
            entries
                .into_iter()
                .map(|e| {
                    let mut m = Map::new();
                    m.insert("manager".into(), e.manager.clone().into());
                    m.insert("operation".into(), e.operation.as_str().into());
                    m.insert("apiVersion".into(), e.api_version.clone().into());
                    if let Some(t) = &e.time {
                        m.insert("time".into(), t.clone().into());
                    }
                    m.insert("fieldsType".into(), "FieldsV1".into());
                    m.insert("fieldsV1".into(), e.set.to_fields_v1());
                    if !e.subresource.is_empty() {
                        m.insert("subresource".into(), e.subresource.clone().into());
                    }
                    Value::Object(m)
                })
                .collect(),
        )
    }

    /// Whether both hold the same managers owning the same fields (times
    /// aside).
    pub fn same_ownership(&self, other: &ManagedFields) -> bool {
        let key = |e: &Entry| {
            (
                e.manager.clone(),
                e.operation,
                e.subresource.clone(),
                e.api_version.clone(),
            )
        };
        let mut a: Vec<_> = self.entries.iter().filter(|e| !e.set.is_empty()).collect();
        let mut b: Vec<_> = other.entries.iter().filter(|e| !e.set.is_empty()).collect();
        a.sort_by_key(|e| key(e));
        b.sort_by_key(|e| key(e));
        a.len() == b.len()
            && a.iter()
                .zip(&b)
                .all(|(x, y)| key(x) == key(y) && x.set == y.set)
    }

    fn position(
        &self,
        manager: &str,
        op: Operation,
        sub: &str,
        api_version: &str,
    ) -> Option<usize> {
        self.entries
            .iter()
            .position(|e| e.same_identity(manager, op, sub, api_version))
    }

    fn owned(&self) -> FieldSet {
        let mut all = FieldSet::new();
        for e in &self.entries {
            all.union_with(&e.set);
        }
        all
    }
}

/// Fields never tracked: identity and server-set metadata.
fn strip(set: &mut FieldSet, ignored: &dyn Fn(&str) -> bool) {
    let f = |s: &str| PathElem::Field(s.to_owned());
    for top in ["apiVersion", "kind"] {
        set.remove_subtree(&[f(top)]);
    }
    for meta in [
        "name",
        "namespace",
        "creationTimestamp",
        "selfLink",
        "uid",
        "generation",
        "managedFields",
        "resourceVersion",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
    ] {
        set.remove_subtree(&[f("metadata"), f(meta)]);
    }
    let tops: Vec<String> = set
        .children()
        .filter_map(|(pe, _)| match pe {
            PathElem::Field(n) if ignored(n) => Some(n.clone()),
            _ => None,
        })
        .collect();
    for t in tops {
        set.remove_subtree(&[f(&t)]);
    }
    // `.metadata` itself is never a member.
    set.unmark(&[f("metadata")]);
}

/// The ownership an ordinary write (create, update, patch of the object
/// itself) starts from, as the API server decides it: `managedFields` the
/// request sets replace the live ones (how `kubectl apply --server-side`
/// and controllers move client-side apply ownership to an apply manager);
/// `[]` or `[{}]` clear them; absent, `null`, undecodable or without any
/// field, the live ones stay (so a client unaware of them loses nothing).
pub fn requested_or_live(requested: Option<&Value>, live: &ManagedFields) -> ManagedFields {
    let Some(list) = requested.filter(|v| !v.is_null()) else {
        return live.clone();
    };
    let reset = match list.as_array() {
        Some(entries) => {
            entries.is_empty()
                || (entries.len() == 1 && entries[0].as_object().is_some_and(Map::is_empty))
        }
        None => false,
    };
    if reset {
        return ManagedFields::default();
    }
    let wrapped = serde_json::json!({"metadata": {"managedFields": list}});
    match ManagedFields::parse(&wrapped) {
        Ok(m) if m.entries.iter().any(|e| !e.set.is_empty()) => m,
        _ => live.clone(),
    }
}

/// Without `metadata.managedFields`.
pub fn without_managed(obj: &Value) -> Value {
    let mut o = obj.clone();
    if let Some(m) = o.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("managedFields");
    }
    o
}

fn reset_ignored(new: &mut Value, live: &Value, ignored: &dyn Fn(&str) -> bool) {
    let Some(n) = new.as_object_mut() else { return };
    let keys: Vec<String> = n.keys().filter(|k| ignored(k)).cloned().collect();
    for k in keys {
        n.remove(&k);
    }
    if let Some(l) = live.as_object() {
        for (k, v) in l {
            if ignored(k) {
                n.insert(k.clone(), v.clone());
            }
        }
    }
}

/// Server-side apply of `applied` onto `live` (`{}` when creating), which
/// must not carry `metadata.managedFields`. Returns the new object (still
/// without managed fields) and the new ownership.
pub fn apply(
    live: &Value,
    mut managed: ManagedFields,
    applied: &Value,
    force: bool,
    cx: &WriteContext<'_>,
) -> Result<(Value, ManagedFields), ApplyError> {
    let mut set = to_field_set(applied, cx.node).map_err(ApplyError::Shape)?;
    strip(&mut set, cx.ignored);
    let mut merged = merge(live, applied, cx.node);
    reset_ignored(&mut merged, live, cx.ignored);

    let last = match managed.position(cx.manager, Operation::Apply, cx.subresource, cx.api_version)
    {
        Some(i) => managed.entries.remove(i).set,
        None => FieldSet::new(),
    };
    managed.entries.push(Entry {
        manager: cx.manager.to_owned(),
        operation: Operation::Apply,
        api_version: cx.api_version.to_owned(),
        time: Some(cx.now.to_owned()),
        subresource: cx.subresource.to_owned(),
        set,
    });
    let me = managed.entries.len() - 1;

    // Prune: what this manager stopped applying and nobody else owns.
    let owned = managed.owned().with_named_fields_as_members();
    let mut gone = last.with_named_fields_as_members().difference(&owned);
    keep_identity(&mut gone);
    remove_paths(&mut merged, &gone, cx.node);

    // Conflicts: fields of other managers this apply changes.
    let cmp = compare(live, &merged, cx.node);
    let mut changed = cmp.added;
    changed.union_with(&cmp.modified);
    let mut conflicts = Vec::new();
    let mut lost = Vec::new();
    for (i, e) in managed.entries.iter().enumerate() {
        if i == me {
            continue;
        }
        let c = e.set.intersection(&changed);
        if c.is_empty() {
            continue;
        }
        for p in c.paths() {
            conflicts.push((
                e.manager.clone(),
                e.api_version.clone(),
                fieldset::path_string(&p),
            ));
        }
        lost.push((i, c));
    }
    if !conflicts.is_empty() && !force {
        return Err(ApplyError::Conflicts(conflicts));
    }
    for (i, c) in lost {
        managed.entries[i].set = managed.entries[i].set.difference(&c);
    }
    managed.entries.retain(|e| !e.set.is_empty());
    Ok((merged, managed))
}

/// Never prune the object's identity, whatever the sets say.
fn keep_identity(gone: &mut FieldSet) {
    let f = |s: &str| PathElem::Field(s.to_owned());
    for top in ["apiVersion", "kind"] {
        gone.remove_subtree(&[f(top)]);
    }
    gone.unmark(&[f("metadata")]);
}

/// Ownership after an ordinary write changed `live` (`None` when creating)
/// into `new`: the writer gains what it changed, others lose it.
pub fn update(
    live: Option<&Value>,
    new: &mut Value,
    mut managed: ManagedFields,
    cx: &WriteContext<'_>,
) -> ManagedFields {
    let empty = Value::Object(Map::new());
    let base = live.unwrap_or(&empty);
    reset_ignored(new, base, cx.ignored);
    let cmp = compare(base, new, cx.node);
    let mut changed = cmp.added;
    changed.union_with(&cmp.modified);
    strip(&mut changed, cx.ignored);
    for e in &mut managed.entries {
        if !e.same_identity(
            cx.manager,
            Operation::Update,
            cx.subresource,
            cx.api_version,
        ) {
            e.set = e.set.difference(&changed);
        }
    }
    let prev = match managed.position(
        cx.manager,
        Operation::Update,
        cx.subresource,
        cx.api_version,
    ) {
        Some(i) => managed.entries.remove(i).set,
        None => FieldSet::new(),
    };
    let mut set = prev.difference(&cmp.removed);
    set.union_with(&changed);
    strip(&mut set, cx.ignored);
    managed.entries.retain(|e| !e.set.is_empty());
    if !set.is_empty() {
        managed.entries.push(Entry {
            manager: cx.manager.to_owned(),
            operation: Operation::Update,
            api_version: cx.api_version.to_owned(),
            time: Some(cx.now.to_owned()),
            subresource: cx.subresource.to_owned(),
            set,
        });
    }
    managed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema;
    use serde_json::json;

    fn cx<'a>(
        manager: &'a str,
        node: &'a Node,
        ignored: &'a dyn Fn(&str) -> bool,
    ) -> WriteContext<'a> {
        WriteContext {
            manager,
            api_version: "apps/v1",
            subresource: "",
            node,
            ignored,
            now: "2026-01-01T00:00:00Z",
        }
    }

    fn deploy(replicas: Option<i64>, image: &str) -> Value {
        let mut d = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "demo", "labels": {"app": "web"}},
            "spec": {"selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "app", "image": image}]}}}
        });
        if let Some(r) = replicas {
            d["spec"]["replicas"] = json!(r);
        }
        d
    }

    fn status(s: &str) -> bool {
        s == "status"
    }

    #[test]
    fn replicas_owned_by_another_manager_survive() {
        let node = schema::builtin("apps", "Deployment");
        let (obj, mf) = apply(
            &json!({}),
            ManagedFields::default(),
            &deploy(Some(2), "nginx:1"),
            false,
            &cx("flux", &node, &status),
        )
        .unwrap();
        assert_eq!(obj["spec"]["replicas"], json!(2));
        // The HPA scales to 5 (an update through the scale subresource).
        let mut scaled = obj.clone();
        scaled["spec"]["replicas"] = json!(5);
        let mut scx = cx("kube-controller-manager", &node, &status);
        scx.subresource = "scale";
        let mf = update(Some(&obj), &mut scaled, mf, &scx);
        let flux = mf.entries.iter().find(|e| e.manager == "flux").unwrap();
        assert!(!flux.set.contains(&[
            PathElem::Field("spec".into()),
            PathElem::Field("replicas".into())
        ]));
        // Flux applies again without replicas: 5 stays.
        let (obj2, mf2) = apply(
            &scaled,
            mf,
            &deploy(None, "nginx:2"),
            false,
            &cx("flux", &node, &status),
        )
        .unwrap();
        assert_eq!(obj2["spec"]["replicas"], json!(5));
        assert_eq!(
            obj2["spec"]["template"]["spec"]["containers"][0]["image"],
            json!("nginx:2")
        );
        // Applying replicas again conflicts with the scaler, unless forced.
        let err = apply(
            &obj2,
            mf2.clone(),
            &deploy(Some(2), "nginx:2"),
            false,
            &cx("flux", &node, &status),
        )
        .unwrap_err();
        assert_eq!(
            err,
            ApplyError::Conflicts(vec![(
                "kube-controller-manager".into(),
                "apps/v1".into(),
                ".spec.replicas".into()
            )])
        );
        let (obj3, mf3) = apply(
            &obj2,
            mf2,
            &deploy(Some(2), "nginx:2"),
            true,
            &cx("flux", &node, &status),
        )
        .unwrap();
        assert_eq!(obj3["spec"]["replicas"], json!(2));
        assert!(mf3.entries.iter().all(|e| e.manager == "flux"), "{mf3:?}");
    }

    #[test]
    fn fields_no_longer_applied_are_removed_unless_shared() {
        let node = schema::builtin("apps", "Deployment");
        let mut a = deploy(Some(1), "x");
        a["metadata"]["annotations"] = json!({"one": "1", "two": "2"});
        let (obj, mf) = apply(
            &json!({}),
            ManagedFields::default(),
            &a,
            false,
            &cx("flux", &node, &status),
        )
        .unwrap();
        // Another applier co-owns annotation "two" with the same value.
        let other = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "annotations": {"two": "2"}}});
        let (obj, mf) = apply(&obj, mf, &other, false, &cx("other", &node, &status)).unwrap();
        let mut b = deploy(None, "x");
        b["metadata"]["annotations"] = json!({});
        let (obj, mf) = apply(&obj, mf, &b, false, &cx("flux", &node, &status)).unwrap();
        assert_eq!(obj["metadata"]["annotations"], json!({"two": "2"}));
        assert!(obj["spec"].get("replicas").is_none());
        assert_eq!(obj["metadata"]["name"], json!("web"));
        assert_eq!(mf.entries.len(), 2);
    }

    #[test]
    fn update_takes_ownership_and_status_is_ignored() {
        let node = schema::builtin("apps", "Deployment");
        let (obj, mf) = apply(
            &json!({}),
            ManagedFields::default(),
            &deploy(Some(1), "x"),
            false,
            &cx("flux", &node, &status),
        )
        .unwrap();
        let mut edited = obj.clone();
        edited["spec"]["template"]["spec"]["containers"][0]["image"] = json!("y");
        edited["status"] = json!({"replicas": 3});
        let mf = update(
            Some(&obj),
            &mut edited,
            mf,
            &cx("kubectl-edit", &node, &status),
        );
        assert!(edited.get("status").is_none(), "status reset from live");
        let enc = mf.encode();
        let edit = enc
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["manager"] == "kubectl-edit")
            .unwrap();
        assert_eq!(edit["operation"], "Update");
        assert!(edit["fieldsV1"]["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"app\"}"]["f:image"].is_object());
        let flux = enc
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["manager"] == "flux")
            .unwrap();
        assert!(flux["fieldsV1"]["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"app\"}"].get("f:image").is_none());
        assert_eq!(enc[0]["operation"], "Apply", "Apply entries sort first");
    }

    #[test]
    fn managed_fields_round_trip() {
        let node = schema::builtin("apps", "Deployment");
        let (_, mf) = apply(
            &json!({}),
            ManagedFields::default(),
            &deploy(Some(1), "x"),
            false,
            &cx("flux", &node, &status),
        )
        .unwrap();
        let obj = json!({"metadata": {"managedFields": mf.encode()}});
        let back = ManagedFields::parse(&obj).unwrap();
        assert!(back.same_ownership(&mf));
        assert!(back.entries[0].set.contains(&[
            PathElem::Field("metadata".into()),
            PathElem::Field("labels".into()),
            PathElem::Field("app".into())
        ]));
        assert!(!back.entries[0].set.contains(&[
            PathElem::Field("metadata".into()),
            PathElem::Field("name".into())
        ]));
    }
}
