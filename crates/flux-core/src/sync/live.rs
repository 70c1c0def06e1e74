//! The live state as the planner reads it: objects grouped by ID, with
//! conservative answers when one object was listed more than once.
//!
//! The same object can arrive twice (from `export_workloads` and from
//! `list_managed`), possibly read at different moments. Every question is
//! answered so that disagreement between copies leads to doing less: an
//! object is ignored if any copy says so, ours only if every copy carries
//! our mark, up to date only if every copy is.

use std::borrow::Cow;

use base64::Engine as _;
use serde_json::{Map, Value};

use super::mark::{CHECKSUM_ANNOTATION, GC_MARK_LABEL, MarkState, SyncSetName};
use crate::cluster::LiveObject;
use crate::frozen::{Frozen, Node};
use crate::manifest::annotations;
use crate::policy::{self, PolicyError};
use crate::resource::ResourceId;

/// The `ignore` policy of an object, ordered from weakest to strongest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Ignore {
    /// Synced and collected as usual.
    No,
    /// `sync_only`: applied from git, never garbage-collected.
    SyncOnly,
    /// `true`: neither applied nor garbage-collected.
    Yes,
}

/// Reads `fluxcd.io/ignore` (or the legacy `flux.weave.works/ignore`)
/// through the policy module, which refuses values other than `"true"`,
/// `"false"` and `"sync_only"` and two keys that disagree.
pub(crate) fn ignore_policy(object: &Frozen) -> Result<Ignore, PolicyError> {
    let all = object.pointer(&["metadata", "annotations"]);
    if IGNORE_KEYS
        .iter()
        .all(|k| all.and_then(|a| a.get(k)).is_none())
    {
        // The common case, without collecting every annotation.
        return Ok(Ignore::No);
    }
    let object = object.to_value();
    Ok(
        match policy::Ignore::from_annotations(&annotations(&object))? {
            policy::Ignore::No => Ignore::No,
            policy::Ignore::SyncOnly => Ignore::SyncOnly,
            policy::Ignore::Yes => Ignore::Yes,
        },
    )
}

/// The annotations holding the ignore policy (current and legacy).
const IGNORE_KEYS: [&str; 2] = ["fluxcd.io/ignore", "flux.weave.works/ignore"];

/// The ignore policy of a live object, where an unreadable one counts as
/// `true`: whoever annotated it meant to keep Flux away.
pub(crate) fn live_ignore(object: &Frozen) -> Ignore {
    ignore_policy(object).unwrap_or(Ignore::Yes)
}

/// The label value of the GC mark, if the object has the label.
pub(crate) fn mark_of(object: &Frozen) -> Option<Node<'_>> {
    object.pointer(&["metadata", "labels", GC_MARK_LABEL])
}

/// The checksum annotation, if present.
pub(crate) fn checksum_of(object: &Frozen) -> Option<&str> {
    object
        .pointer(&["metadata", "annotations", CHECKSUM_ANNOTATION])
        .and_then(Node::as_str)
}

/// Whether an object is owned by another (has `ownerReferences`).
pub(crate) fn has_owner(object: &Frozen) -> bool {
    object
        .pointer(&["metadata", "ownerReferences"])
        .and_then(Node::list_len)
        .is_some_and(|n| n > 0)
}

/// Live objects by ID: one sorted list, each ID's copies side by side.
pub(crate) struct LiveView<'a> {
    entries: Vec<(&'a ResourceId, &'a Frozen)>,
    copies: Vec<&'a Frozen>,
}

impl<'a> LiveView<'a> {
    pub(crate) fn new<I: IntoIterator<Item = &'a LiveObject>>(live: I) -> Self {
        let mut entries: Vec<(&'a ResourceId, &'a Frozen)> =
            live.into_iter().map(|o| (&o.id, &*o.object)).collect();
        // Copies keep their given order; every answer about them is
        // order-independent.
        entries.sort_by(|a, b| a.0.cmp(b.0));
        let copies = entries.iter().map(|(_, v)| *v).collect();
        LiveView { entries, copies }
    }

    fn range(&self, id: &ResourceId) -> std::ops::Range<usize> {
        let start = self.entries.partition_point(|(other, _)| *other < id);
        let len = self.entries[start..].partition_point(|(other, _)| *other == id);
        start..start + len
    }

    /// The copies of an object, if it is live.
    pub(crate) fn get(&self, id: &ResourceId) -> Option<&[&'a Frozen]> {
        let range = self.range(id);
        (!range.is_empty()).then(|| &self.copies[range])
    }

    /// Whether an object with this ID is live.
    pub(crate) fn contains(&self, id: &ResourceId) -> bool {
        !self.range(id).is_empty()
    }

    /// Every live object, in ID order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&'a ResourceId, &[&'a Frozen])> + '_ {
        let mut start = 0;
        std::iter::from_fn(move || {
            let (id, _) = *self.entries.get(start)?;
            let len = self.entries[start..].partition_point(|(other, _)| *other == id);
            let copies = &self.copies[start..start + len];
            start += len;
            Some((id, copies))
        })
    }

    /// A cursor for looking up IDs in increasing order (as a
    /// `BTreeMap` of resources yields them) without searching.
    pub(crate) fn cursor(&self) -> Cursor<'_, 'a> {
        Cursor { view: self, at: 0 }
    }
}

/// Looks up IDs in increasing order by walking the sorted view once.
pub(crate) struct Cursor<'v, 'a> {
    view: &'v LiveView<'a>,
    at: usize,
}

impl<'v, 'a> Cursor<'v, 'a> {
    /// The copies of `id` (empty if it is not live). Each `id` must be
    /// greater than the one before; a smaller one finds nothing.
    pub(crate) fn seek(&mut self, id: &ResourceId) -> &'v [&'a Frozen] {
        let entries = &self.view.entries;
        while self.at < entries.len() && entries[self.at].0 < id {
            self.at += 1;
        }
        let start = self.at;
        while self.at < entries.len() && entries[self.at].0 == id {
            self.at += 1;
        }
        &self.view.copies[start..self.at]
    }
}

/// The strongest ignore policy of any copy.
pub(crate) fn strongest_ignore(copies: &[&Frozen]) -> Ignore {
    copies
        .iter()
        .map(|o| live_ignore(o))
        .max()
        .unwrap_or(Ignore::No)
}

/// What the copies of one live object say about its GC mark.
pub(crate) fn mark_state(set: &SyncSetName, id: &ResourceId, copies: &[&Frozen]) -> MarkState {
    let mut state = MarkState::Ours;
    for copy in copies {
        let this = match mark_of(copy).and_then(Node::as_str) {
            Some(value) => set.mark_state(id, value),
            None => MarkState::Malformed,
        };
        state = match (state, this) {
            (MarkState::Malformed, _) | (_, MarkState::Malformed) => MarkState::Malformed,
            (MarkState::Foreign, _) | (_, MarkState::Foreign) => MarkState::Foreign,
            _ => MarkState::Ours,
        };
    }
    state
}

/// Whether `live` already holds every field of `desired` with the same
/// value: applying `desired` again would change nothing Flux owns.
///
/// Maps may have extra keys in `live` (server defaults, status, fields other
/// managers own); lists must have the same length and match item by item.
/// A `null` in `desired` matches an absent field. Both are read in place.
pub(crate) fn covers(live: Node<'_>, desired: Node<'_>) -> bool {
    if live.is_map() && desired.is_map() {
        return desired.entries().all(|(k, dv)| match live.get(k) {
            Some(lv) => covers(lv, dv),
            None => dv.is_null(),
        });
    }
    if let (Some(l), Some(d)) = (live.list_len(), desired.list_len()) {
        return l == d
            && live
                .items()
                .zip(desired.items())
                .all(|(lv, dv)| covers(lv, dv));
    }
    live == desired
}

/// The object as the API server stores it, for the normalisations every
/// API server makes on write: a core `v1` Secret's `stringData` is
/// base64-encoded into `data` (overwriting a key `data` also has) and is
/// never stored itself.
///
/// The planner compares git's object in this form against the live one,
/// so a Secret written with `stringData` is up to date once applied.
/// Adapters comparing before applying (flux-kube) and the in-memory cluster
/// use it too. An object the server would refuse (a `stringData` value
/// that is not a string, `data` that is not a mapping) is returned as it
/// is: it then never looks up to date, and applying it shows the server's
/// error.
///
/// ```
/// use flux_core::sync::as_stored;
/// use serde_json::json;
/// let git = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
///                  "stringData": {"password": "hunter2"}});
/// assert_eq!(
///     *as_stored(&git),
///     json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
///            "data": {"password": "aHVudGVyMg=="}}),
/// );
/// ```
pub fn as_stored(object: &Value) -> Cow<'_, Value> {
    let is_secret = object["kind"] == "Secret" && object["apiVersion"] == "v1";
    let Some(Value::Object(string_data)) = object.get("stringData").filter(|_| is_secret) else {
        return Cow::Borrowed(object);
    };
    if !string_data.values().all(Value::is_string)
        || !matches!(
            object.get("data"),
            None | Some(Value::Null | Value::Object(_))
        )
    {
        return Cow::Borrowed(object);
    }
    let mut stored = object.clone();
    let Some(root) = stored.as_object_mut() else {
        return Cow::Borrowed(object);
    };
    root.remove("stringData");
    if string_data.is_empty() {
        // The server leaves `data` as it was.
        return Cow::Owned(stored);
    }
    let data = root
        .entry("data")
        .or_insert_with(|| Value::Object(Map::new()));
    if data.is_null() {
        *data = Value::Object(Map::new());
    }
    if let Value::Object(data) = data {
        for (key, text) in string_data {
            let text = text.as_str().unwrap_or_default();
            let encoded = base64::engine::general_purpose::STANDARD.encode(text);
            data.insert(key.clone(), Value::String(encoded));
        }
    }
    Cow::Owned(stored)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn frozen(v: &Value) -> Frozen {
        Frozen::new(v).unwrap()
    }

    fn annotated(pairs: &[(&str, &str)]) -> Value {
        let map: serde_json::Map<String, Value> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
            .collect();
        json!({"metadata": {"annotations": map}})
    }

    macro_rules! ignore {
        ($name:ident, $pairs:expr, $want:expr) => {
            #[test]
            fn $name() {
                let object = annotated($pairs);
                let got = ignore_policy(&frozen(&object)).map_err(|e| e.to_string());
                assert_eq!(got, $want);
                assert_eq!(live_ignore(&frozen(&object)), got.unwrap_or(Ignore::Yes));
            }
        };
    }
    ignore!(none, &[], Ok(Ignore::No));
    ignore!(true_, &[("fluxcd.io/ignore", "true")], Ok(Ignore::Yes));
    ignore!(
        legacy,
        &[("flux.weave.works/ignore", "true")],
        Ok(Ignore::Yes)
    );
    ignore!(
        sync_only,
        &[("fluxcd.io/ignore", "sync_only")],
        Ok(Ignore::SyncOnly)
    );
    ignore!(
        legacy_sync_only,
        &[("flux.weave.works/ignore", "sync_only")],
        Ok(Ignore::SyncOnly)
    );
    ignore!(false_, &[("fluxcd.io/ignore", "false")], Ok(Ignore::No));
    ignore!(other_key, &[("fluxcd.io/ignored", "true")], Ok(Ignore::No));
    ignore!(
        same_value_twice,
        &[
            ("fluxcd.io/ignore", "true"),
            ("flux.weave.works/ignore", "true")
        ],
        Ok(Ignore::Yes)
    );

    #[test]
    fn unreadable_ignore_is_an_error_and_ignored_on_the_cluster() {
        for pairs in [
            &[("fluxcd.io/ignore", "True")][..],
            &[("fluxcd.io/ignore", "yes")][..],
            &[
                ("fluxcd.io/ignore", "sync_only"),
                ("flux.weave.works/ignore", "true"),
            ][..],
        ] {
            let object = annotated(pairs);
            let e = ignore_policy(&frozen(&object)).expect_err("unreadable");
            assert!(e.to_string().contains("ignore"), "{e}");
            assert_eq!(live_ignore(&frozen(&object)), Ignore::Yes);
        }
    }

    macro_rules! covers {
        ($name:ident, $live:tt, $desired:tt, $want:expr) => {
            #[test]
            fn $name() {
                let (live, desired) = (frozen(&json!($live)), frozen(&json!($desired)));
                assert_eq!(covers(live.root(), desired.root()), $want);
            }
        };
    }
    covers!(equal, {"a": 1}, {"a": 1}, true);
    covers!(extra_live_key, {"a": 1, "status": {}}, {"a": 1}, true);
    covers!(missing_key, {"b": 1}, {"a": 1}, false);
    covers!(changed_value, {"a": 2}, {"a": 1}, false);
    covers!(nested, {"s": {"r": 3, "t": {"x": 1}}}, {"s": {"t": {"x": 1}}}, true);
    covers!(list_items_with_defaults, {"c": [{"n": "a", "pull": "Always"}]}, {"c": [{"n": "a"}]}, true);
    covers!(list_longer_live, {"c": [1, 2]}, {"c": [1]}, false);
    covers!(list_reordered, {"c": [2, 1]}, {"c": [1, 2]}, false);
    covers!(null_matches_absent, {}, {"a": null}, true);
    covers!(int_vs_float, {"a": 1.0}, {"a": 1}, false);
    covers!(type_change, {"a": "1"}, {"a": 1}, false);

    macro_rules! stored {
        ($name:ident, $object:tt, $want:tt) => {
            #[test]
            fn $name() {
                assert_eq!(*as_stored(&json!($object)), json!($want));
            }
        };
    }
    stored!(secret_string_data,
        {"apiVersion": "v1", "kind": "Secret", "stringData": {"a": "x", "b": ""}},
        {"apiVersion": "v1", "kind": "Secret", "data": {"a": "eA==", "b": ""}});
    stored!(string_data_overwrites_data,
        {"apiVersion": "v1", "kind": "Secret", "data": {"a": "b2xk", "k": "aw=="}, "stringData": {"a": "new"}},
        {"apiVersion": "v1", "kind": "Secret", "data": {"a": "bmV3", "k": "aw=="}});
    stored!(null_data,
        {"apiVersion": "v1", "kind": "Secret", "data": null, "stringData": {"a": "x"}},
        {"apiVersion": "v1", "kind": "Secret", "data": {"a": "eA=="}});
    stored!(empty_string_data_leaves_data_alone,
        {"apiVersion": "v1", "kind": "Secret", "stringData": {}},
        {"apiVersion": "v1", "kind": "Secret"});
    stored!(null_string_data_is_untouched,
        {"apiVersion": "v1", "kind": "Secret", "stringData": null},
        {"apiVersion": "v1", "kind": "Secret", "stringData": null});
    stored!(non_string_value_is_untouched,
        {"apiVersion": "v1", "kind": "Secret", "stringData": {"port": 80}},
        {"apiVersion": "v1", "kind": "Secret", "stringData": {"port": 80}});
    stored!(data_not_a_map_is_untouched,
        {"apiVersion": "v1", "kind": "Secret", "data": "x", "stringData": {"a": "x"}},
        {"apiVersion": "v1", "kind": "Secret", "data": "x", "stringData": {"a": "x"}});
    stored!(other_kinds_are_untouched,
        {"apiVersion": "v1", "kind": "ConfigMap", "stringData": {"a": "x"}},
        {"apiVersion": "v1", "kind": "ConfigMap", "stringData": {"a": "x"}});
    stored!(custom_secret_kind_is_untouched,
        {"apiVersion": "example.com/v1", "kind": "Secret", "stringData": {"a": "x"}},
        {"apiVersion": "example.com/v1", "kind": "Secret", "stringData": {"a": "x"}});

    #[test]
    fn copies_merge_conservatively() {
        let set = SyncSetName::new("s");
        let id: ResourceId = "a:configmap/x".parse().unwrap();
        let ours = frozen(&json!({"metadata": {"labels": {GC_MARK_LABEL: set.gc_mark(&id)}}}));
        let theirs = frozen(
            &json!({"metadata": {"labels": {GC_MARK_LABEL: SyncSetName::new("t").gc_mark(&id)}}}),
        );
        let broken = frozen(&json!({"metadata": {"labels": {GC_MARK_LABEL: 7}}}));
        assert_eq!(mark_state(&set, &id, &[&ours]), MarkState::Ours);
        assert_eq!(mark_state(&set, &id, &[&ours, &ours]), MarkState::Ours);
        assert_eq!(mark_state(&set, &id, &[&ours, &theirs]), MarkState::Foreign);
        assert_eq!(mark_state(&set, &id, &[&theirs, &ours]), MarkState::Foreign);
        assert_eq!(
            mark_state(&set, &id, &[&ours, &broken]),
            MarkState::Malformed
        );
        assert_eq!(
            mark_state(&set, &id, &[&frozen(&json!({}))]),
            MarkState::Malformed
        );

        let live = [
            LiveObject::new(id.clone(), &ours.to_value()).unwrap(),
            LiveObject::new(id.clone(), &annotated(&[("fluxcd.io/ignore", "true")])).unwrap(),
        ];
        for view in [LiveView::new(&live), LiveView::new(live.iter().rev())] {
            let copies = view.get(&id).expect("live");
            assert_eq!(strongest_ignore(copies), Ignore::Yes);
            assert_eq!(view.cursor().seek(&id).len(), 2);
        }
    }
}

#[cfg(test)]
mod cursor_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cursor_finds_what_get_finds() {
        let ids = ["a:x/1", "a:x/2", "a:x/2", "b:x/1", "c:x/9"];
        let live: Vec<LiveObject> = ids
            .iter()
            .map(|i| LiveObject::new(i.parse().unwrap(), &json!({ "id": i })).unwrap())
            .collect();
        let view = LiveView::new(live.iter().rev());
        let mut cursor = view.cursor();
        for probe in [
            "a:x/0", "a:x/1", "a:x/2", "a:x/3", "b:x/1", "c:x/9", "d:x/1",
        ] {
            let id: ResourceId = probe.parse().unwrap();
            let want = view.get(&id).map_or(0, <[_]>::len);
            assert_eq!(cursor.seek(&id).len(), want, "{probe}");
        }
        let grouped: Vec<(String, usize)> = view
            .iter()
            .map(|(id, c)| (id.to_string(), c.len()))
            .collect();
        assert_eq!(
            grouped,
            [
                ("a:x/1".into(), 1),
                ("a:x/2".into(), 2),
                ("b:x/1".into(), 1),
                ("c:x/9".into(), 1)
            ]
        );
    }
}
