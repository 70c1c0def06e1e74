//! What a watch cache holds for one object: [`Cached`], the object as the
//! watch decoded it, trimmed and frozen ([`flux_core::frozen`]).
//!
//! The caches answer the export and the GC listing with the objects the
//! listing adapter would return: every field but managedFields (which no
//! decision reads, and which would be nearly half of each object); a
//! frozen object keeps them in a fraction of the memory a decoded one takes
//! and turns back into the same JSON. Name, namespace, resourceVersion,
//! labels and owners are read without thawing it, and a sync reads the
//! frozen document itself (shared, not copied).

use std::borrow::Cow;
use std::sync::Arc;

use flux_core::frozen::{Frozen, Node};
use kube::api::DynamicObject;
use kube::runtime::reflector::{Lookup, ObjectRef};
use kube::runtime::watcher;

use super::scope::Spec;

/// One cached object.
#[derive(Debug, Clone)]
pub struct Cached(Arc<Frozen>);

/// Fields that change without the object changing: left out when telling
/// whether it did.
const BOOKKEEPING: &[&[&str]] = &[
    &["metadata", "resourceVersion"],
    &["metadata", "managedFields"],
    &["metadata", "generation"],
    &["status"],
];

/// Drops managedFields, and fills in the kind (list items of built-in
/// kinds come without it).
pub fn trim(obj: &mut DynamicObject, spec: &Spec) {
    obj.metadata.managed_fields = None;
    if obj.types.is_none() {
        obj.types = Some(kube::api::TypeMeta {
            api_version: spec.served.ar.api_version.clone(),
            kind: spec.served.ar.kind.clone(),
        });
    }
}

/// A watch event of decoded objects as one of cached objects (trimmed);
/// `None` when an object cannot be cached (it has no name).
pub fn freeze_event(
    event: watcher::Event<DynamicObject>,
    spec: &Spec,
) -> Option<watcher::Event<Cached>> {
    let cache = |mut o: DynamicObject| {
        trim(&mut o, spec);
        Cached::new(&o)
    };
    Some(match event {
        watcher::Event::Init => watcher::Event::Init,
        watcher::Event::InitDone => watcher::Event::InitDone,
        watcher::Event::InitApply(o) => watcher::Event::InitApply(cache(o)?),
        watcher::Event::Apply(o) => watcher::Event::Apply(cache(o)?),
        watcher::Event::Delete(o) => watcher::Event::Delete(cache(o)?),
    })
}

impl Cached {
    /// `obj` as cached: its JSON, frozen; `None` without a name, or (never
    /// seen: the API server refuses objects over a few MiB) of 4 GiB or
    /// more.
    pub fn new(obj: &DynamicObject) -> Option<Cached> {
        let name = obj.metadata.name.as_ref()?;
        let v = serde_json::to_value(obj).ok()?;
        match Frozen::new(&v) {
            Ok(f) => Some(Cached(Arc::new(f))),
            Err(e) => {
                tracing::error!(name, namespace = ?obj.metadata.namespace, "not cached: {e}");
                None
            }
        }
    }

    fn str_at(&self, path: &[&str]) -> Option<&str> {
        self.0.pointer(path).and_then(Node::as_str)
    }

    /// The frozen document, shared.
    pub fn doc(&self) -> Arc<Frozen> {
        Arc::clone(&self.0)
    }

    /// The value of label `key`, if it is a string.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.str_at(&["metadata", "labels", key])
    }

    /// Its name.
    pub fn name(&self) -> &str {
        self.str_at(&["metadata", "name"]).unwrap_or_default()
    }

    /// Its namespace, if it has one.
    pub fn namespace(&self) -> Option<&str> {
        self.str_at(&["metadata", "namespace"])
    }

    /// Its resourceVersion.
    pub fn resource_version(&self) -> Option<&str> {
        self.str_at(&["metadata", "resourceVersion"])
    }

    /// Whether it carries the label `key` (any value).
    pub fn has_label(&self, key: &str) -> bool {
        self.0.pointer(&["metadata", "labels", key]).is_some()
    }

    /// Whether another object owns it (`ownerReferences` not empty).
    pub fn owned(&self) -> bool {
        self.0
            .pointer(&["metadata", "ownerReferences"])
            .and_then(Node::list_len)
            .is_some_and(|n| n > 0)
    }

    /// The object as JSON.
    #[cfg(test)]
    pub fn to_value(&self) -> serde_json::Value {
        self.0.to_value()
    }

    /// Whether `other` is this object with at most its status and
    /// bookkeeping metadata (resourceVersion, generation, managedFields)
    /// changed.
    pub fn same_content(&self, other: &Cached) -> bool {
        self.0.same_except(&other.0, BOOKKEEPING)
    }
}

/// Keyed by namespace and name alone: each collection has its own store of
/// one kind.
impl Lookup for Cached {
    type DynamicType = ();

    fn kind(_: &()) -> Cow<'_, str> {
        Cow::Borrowed("")
    }

    fn group(_: &()) -> Cow<'_, str> {
        Cow::Borrowed("")
    }

    fn version(_: &()) -> Cow<'_, str> {
        Cow::Borrowed("")
    }

    fn plural(_: &()) -> Cow<'_, str> {
        Cow::Borrowed("")
    }

    fn name(&self) -> Option<Cow<'_, str>> {
        Some(Cow::Borrowed(Cached::name(self)))
    }

    fn namespace(&self) -> Option<Cow<'_, str>> {
        Cached::namespace(self).map(Cow::Borrowed)
    }

    fn resource_version(&self) -> Option<Cow<'_, str>> {
        Cached::resource_version(self).map(Cow::Borrowed)
    }

    fn uid(&self) -> Option<Cow<'_, str>> {
        self.str_at(&["metadata", "uid"]).map(Cow::Borrowed)
    }

    /// Without the resourceVersion and UID a reference may carry (nothing
    /// reads them, and every key would hold two more strings).
    fn to_object_ref(&self, (): ()) -> ObjectRef<Self> {
        key(Cached::namespace(self), Cached::name(self))
    }
}

/// The store key of the object `name` in `namespace`.
pub fn key(namespace: Option<&str>, name: &str) -> ObjectRef<Cached> {
    let r = ObjectRef::new_with(name, ());
    match namespace {
        Some(ns) => r.within(ns),
        None => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use serde_json::json;

    fn obj(v: Value) -> DynamicObject {
        serde_json::from_value(v).expect("an object")
    }

    fn cached(v: Value) -> Cached {
        Cached::new(&obj(v)).expect("named")
    }

    fn spec() -> Spec {
        crate::watch::scope::configmaps()
    }

    #[test]
    fn status_and_bookkeeping_are_not_changes() {
        let a = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "w", "namespace": "n", "resourceVersion": "1", "generation": 1},
            "spec": {"replicas": 1}, "status": {"readyReplicas": 0}});
        let mut b = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "w", "namespace": "n", "resourceVersion": "2", "generation": 2,
                         "managedFields": [{"manager": "flux", "operation": "Apply"}]},
            "spec": {"replicas": 1}, "status": {"readyReplicas": 1}});
        assert!(cached(a.clone()).same_content(&cached(b.clone())));
        b["spec"]["replicas"] = json!(2);
        assert!(!cached(a.clone()).same_content(&cached(b)));
        let mut c = a.clone();
        c["metadata"]["labels"] = json!({"x": "y"});
        assert!(!cached(a.clone()).same_content(&cached(c)));
        let mut d = a.clone();
        d["kind"] = json!("StatefulSet");
        assert!(!cached(a).same_content(&cached(d)));
    }

    #[test]
    fn managed_fields_are_dropped_and_the_kind_filled_in() {
        let spec = spec();
        let mut o = obj(
            json!({"metadata": {"name": "c", "namespace": "n", "managedFields": [
            {"manager": "flux", "operation": "Apply", "fieldsV1": {"f:data": {}}},
            {"manager": "kubectl", "operation": "Update"}]}}),
        );
        trim(&mut o, &spec);
        assert!(o.metadata.managed_fields.is_none());
        assert_eq!(o.types.as_ref().map(|t| t.kind.as_str()), Some("ConfigMap"));
        let value = Cached::new(&o).unwrap().to_value();
        assert!(value["metadata"].get("managedFields").is_none(), "{value}");
    }

    #[test]
    fn reads_what_the_decoded_object_says() {
        let o = obj(json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "namespace": "n", "resourceVersion": "12", "uid": "u-1",
                         "labels": {"fluxcd.io/sync-gc-mark": "sha256.x"},
                         "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "o", "uid": "u-2"}],
                         "managedFields": [{"manager": "flux", "operation": "Apply", "fieldsV1": {"f:data": {}}}]},
            "data": {"k": "v", "n": "1"}}));
        let c = Cached::new(&o).unwrap();
        assert_eq!(c.to_value(), serde_json::to_value(&o).unwrap());
        assert_eq!(
            (c.name(), c.namespace(), c.resource_version()),
            ("c", Some("n"), Some("12"))
        );
        assert_eq!(Lookup::uid(&c).as_deref(), Some("u-1"));
        assert!(c.has_label("fluxcd.io/sync-gc-mark") && !c.has_label("app"));
        assert!(c.owned());
        assert_eq!(c.to_object_ref(()), key(Some("n"), "c"));
        assert_ne!(c.to_object_ref(()), key(None, "c"));
        let bare = cached(json!({"metadata": {"name": "x"}}));
        assert!(!bare.owned() && !bare.has_label("a") && bare.namespace().is_none());
        assert!(Cached::new(&obj(json!({"metadata": {}}))).is_none());
    }

    #[test]
    fn events_are_frozen_trimmed() {
        let spec = spec();
        let o = obj(json!({"metadata": {"name": "c", "namespace": "n",
            "managedFields": [{"manager": "kubectl", "operation": "Update"}]}}));
        let Some(watcher::Event::Apply(c)) = freeze_event(watcher::Event::Apply(o.clone()), &spec)
        else {
            panic!("an apply event");
        };
        assert_eq!(c.to_value()["kind"], "ConfigMap");
        assert!(c.to_value()["metadata"].get("managedFields").is_none());
        assert!(matches!(
            freeze_event(watcher::Event::InitDone, &spec),
            Some(watcher::Event::InitDone)
        ));
        let nameless = obj(json!({"metadata": {"namespace": "n"}}));
        assert!(freeze_event(watcher::Event::Delete(nameless), &spec).is_none());
    }
}
