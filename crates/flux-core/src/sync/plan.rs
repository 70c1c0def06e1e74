//! Planning a sync: what to apply, in which order, and what to skip and why.

use std::borrow::Cow;
use std::fmt;

use serde_json::{Map, Value};

use super::gc::{self, GcBlocked, GcPlan};
use super::legacy;
use super::live::{
    Ignore, LiveView, as_stored, checksum_of, covers, ignore_policy, mark_of, strongest_ignore,
};
use super::mark::{CHECKSUM_ANNOTATION, GC_MARK_LABEL, checksum_with};
use super::{SyncOptions, allows};
use crate::cluster::{ApplyObject, LiveObject};
use crate::frozen::{Frozen, Node};
use crate::manifest::{Manifests, Resource, SourceRef, Unscoped};
use crate::resource::ResourceId;

/// The stages of applying, in order. Each waits for the one before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum Stage {
    /// Namespaces, which everything namespaced needs.
    Namespaces,
    /// CustomResourceDefinitions, which custom resources need (an adapter
    /// should wait for them to be established, and refresh discovery,
    /// before the next stage).
    CustomResourceDefinitions,
    /// Everything else, in Flux v1's kind order.
    Resources,
}

/// Objects to apply together, after every earlier batch.
#[derive(Debug, Clone, PartialEq)]
pub struct ApplyBatch {
    /// Which stage this is.
    pub stage: Stage,
    /// The objects, in the order to apply them.
    pub objects: Vec<ApplyObject>,
}

/// Why a resource from git is not applied.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum SkipReason {
    /// Its namespace (or, for a Namespace, its name) is not allowed.
    NamespaceNotAllowed,
    /// It has `fluxcd.io/ignore: "true"` in git.
    IgnoredInGit,
    /// Another source of the same daemon also defines it: neither applies
    /// it (nor deletes it) until one of them drops it.
    Overlap {
        /// The other sources defining it.
        sources: Vec<String>,
    },
    /// The live object has `fluxcd.io/ignore: "true"`.
    IgnoredOnCluster,
    /// The live object already has every field git sets, with git's values,
    /// this sync's mark, and this sync's checksum or Flux v1's record of
    /// applying this very document.
    UpToDate,
    /// Its metadata is unusable: `labels` is not a mapping (the API server
    /// would refuse it too), or the `ignore` annotation has a value other
    /// than `"true"`, `"false"` and `"sync_only"` or two keys disagree (so
    /// whether it is meant to be ignored is unclear). Blocks GC.
    InvalidMetadata {
        /// What is wrong.
        message: String,
    },
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::NamespaceNotAllowed => f.write_str("outside the allowed namespaces"),
            SkipReason::IgnoredInGit => f.write_str("ignore annotation in git"),
            SkipReason::Overlap { sources } => write!(
                f,
                "also defined by source {}; not applied until only one source defines it",
                sources.join(", ")
            ),
            SkipReason::IgnoredOnCluster => f.write_str("ignore annotation on the cluster object"),
            SkipReason::UpToDate => f.write_str("already up to date"),
            SkipReason::InvalidMetadata { message } => write!(f, "invalid metadata: {message}"),
        }
    }
}

/// A resource from git that is not applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The resource.
    pub id: ResourceId,
    /// Where git defines it.
    pub source: SourceRef,
    /// Why it is skipped.
    pub reason: SkipReason,
}

/// Something worth telling the operator that does not stop the sync.
#[derive(Debug, Clone, PartialEq)]
pub enum PlanWarning {
    /// A resource whose kind's scope is unknown was left out; GC is blocked
    /// until it can be placed (its live counterpart must not be collected).
    UnknownScope(Unscoped),
    /// An allowed namespace neither exists in the cluster nor is defined in
    /// git; resources in it will fail to apply.
    AllowedNamespaceMissing {
        /// The namespace.
        namespace: String,
    },
}

impl fmt::Display for PlanWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlanWarning::UnknownScope(u) => write!(f, "{u}"),
            PlanWarning::AllowedNamespaceMissing { namespace } => write!(
                f,
                "allowed namespace {namespace:?} does not exist in the cluster and git does not define it"
            ),
        }
    }
}

/// What a sync will do: apply batches, skips, warnings and the GC plan.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncPlan {
    /// Non-empty batches, in the order to apply them.
    pub batches: Vec<ApplyBatch>,
    /// Resources from git not applied, in ID order.
    pub skipped: Vec<Skipped>,
    /// Things to tell the operator.
    pub warnings: Vec<PlanWarning>,
    /// Garbage collection as the live state read before applying shows it.
    pub gc: GcPlan,
}

impl SyncPlan {
    /// Every object to apply, in order.
    pub fn applies(&self) -> impl Iterator<Item = &ApplyObject> {
        self.batches.iter().flat_map(|b| b.objects.iter())
    }

    /// How many objects will be applied.
    pub fn apply_count(&self) -> usize {
        self.batches.iter().map(|b| b.objects.len()).sum()
    }

    /// Why `id` is skipped, if it is.
    pub fn skip_reason(&self, id: &ResourceId) -> Option<&SkipReason> {
        self.skipped
            .binary_search_by(|s| s.id.cmp(id))
            .ok()
            .map(|i| &self.skipped[i].reason)
    }

    /// Whether carrying the plan out would change nothing: no object to
    /// apply, and nothing GC would delete.
    pub fn is_noop(&self) -> bool {
        self.batches.is_empty() && self.gc.to_delete().is_empty()
    }
}

/// Plans a sync of `desired` (read from git) onto a cluster whose relevant
/// objects are `live` (from [`Cluster::export_workloads`] and
/// [`Cluster::list_managed`]; an object may appear more than once).
///
/// The plan depends only on the contents of its inputs, never on the order
/// of `live`. See the [module docs](super) for the rules.
///
/// [`Cluster::export_workloads`]: crate::Cluster::export_workloads
/// [`Cluster::list_managed`]: crate::Cluster::list_managed
pub fn plan_sync(desired: &Manifests, live: &[LiveObject], options: &SyncOptions) -> SyncPlan {
    let view = LiveView::new(live);
    let set = &options.sync_set;
    let mut staged: [Vec<(u8, ApplyObject)>; 3] = Default::default();
    let mut skipped = Vec::new();
    let mut invalid = 0;
    let mut buffer = Vec::with_capacity(4096);
    let mut cursor = view.cursor();
    for (id, resource) in &desired.resources {
        let copies = cursor.seek(id);
        let reason = if !allows(&options.namespaces, id) {
            Some(SkipReason::NamespaceNotAllowed)
        } else if let Some(others) = options.overlaps.get(id) {
            Some(SkipReason::Overlap {
                sources: others.clone(),
            })
        } else {
            match ignore_policy(resource.object()) {
                Err(e) => {
                    invalid += 1;
                    Some(SkipReason::InvalidMetadata {
                        message: e.to_string(),
                    })
                }
                Ok(Ignore::Yes) => Some(SkipReason::IgnoredInGit),
                Ok(_) if strongest_ignore(copies) == Ignore::Yes => {
                    Some(SkipReason::IgnoredOnCluster)
                }
                Ok(_) => None,
            }
        };
        if let Some(reason) = reason {
            skipped.push(skip(resource, reason));
            continue;
        }
        let sum = checksum_with(&mut buffer, resource.object());
        let mark = set.gc_mark(id);
        if !options.apply_unchanged
            && !copies.is_empty()
            && up_to_date(copies, resource, &mark, &sum)
        {
            skipped.push(skip(resource, SkipReason::UpToDate));
            continue;
        }
        match apply_object(resource, mark, sum) {
            Ok(object) => {
                let (stage, rank) = stage_of(id);
                staged[stage as usize].push((rank, object));
            }
            Err(message) => {
                invalid += 1;
                skipped.push(skip(resource, SkipReason::InvalidMetadata { message }));
            }
        }
    }

    let stages = [
        Stage::Namespaces,
        Stage::CustomResourceDefinitions,
        Stage::Resources,
    ];
    let batches = stages
        .into_iter()
        .zip(staged)
        .filter(|(_, objects)| !objects.is_empty())
        .map(|(stage, mut objects)| {
            // Resources arrive in ID order; a stable sort by rank keeps it
            // within each rank.
            objects.sort_by_key(|(rank, _)| *rank);
            ApplyBatch {
                stage,
                objects: objects.into_iter().map(|(_, o)| o).collect(),
            }
        })
        .collect();

    let mut warnings: Vec<PlanWarning> = desired
        .unscoped
        .iter()
        .cloned()
        .map(PlanWarning::UnknownScope)
        .collect();
    if let crate::cluster::Namespaces::Only(allowed) = &options.namespaces {
        for namespace in allowed {
            let id = ResourceId::cluster("namespace", namespace.as_str());
            if !view.contains(&id) && !desired.resources.contains_key(&id) {
                warnings.push(PlanWarning::AllowedNamespaceMissing {
                    namespace: namespace.clone(),
                });
            }
        }
    }

    let mut blocked = gc::blocked_by_desired(desired);
    if invalid > 0 {
        blocked.push(GcBlocked::InvalidResources { count: invalid });
    }
    SyncPlan {
        batches,
        skipped,
        warnings,
        gc: gc::plan_with(desired, &view, options, blocked),
    }
}

fn skip(resource: &Resource, reason: SkipReason) -> Skipped {
    Skipped {
        id: resource.id().clone(),
        source: resource.source().clone(),
        reason,
    }
}

/// Whether every copy of the live object already matches what applying
/// `resource` would write.
fn up_to_date(copies: &[&Frozen], resource: &Resource, mark: &str, sum: &str) -> bool {
    let id = resource.id();
    let git = resource.object();
    let Some(wanted) = as_stored_when_applied(resource, mark, sum) else {
        return false;
    };
    copies.iter().all(|live| {
        (checksum_of(live) == Some(sum) || legacy::applied_from(live, git, id, mark))
            && mark_of(live).and_then(Node::as_str) == Some(mark)
            && id.namespace().is_none_or(|ns| {
                live.pointer(&["metadata", "namespace"])
                    .and_then(Node::as_str)
                    == Some(ns)
            })
            && covers(live.root(), wanted.root())
    })
}

/// What the server stores of `resource` once applied, to compare live
/// objects with: git's document itself, unless (rarely) it sets Flux's own
/// mark or checksum (applying overrides them), is a Secret with
/// `stringData` (stored as `data`), or names a namespace on a
/// cluster-scoped object (not stored). A namespaced object's namespace is
/// compared on its own. `None` if it cannot be applied at all.
fn as_stored_when_applied<'r>(
    resource: &'r Resource,
    mark: &str,
    sum: &str,
) -> Option<Cow<'r, Frozen>> {
    let id = resource.id();
    let git = resource.object();
    let sets_our_keys = git
        .pointer(&["metadata", "labels", GC_MARK_LABEL])
        .is_some()
        || git
            .pointer(&["metadata", "annotations", CHECKSUM_ANNOTATION])
            .is_some();
    // A namespace the object names (as text, if it is text) that the
    // server does not store.
    let stray = |ns: Option<Option<&str>>| {
        ns.is_some_and(|ns| id.is_cluster_scoped() || ns != id.namespace())
    };
    let string_data = resource.kind() == "Secret" && git.pointer(&["stringData"]).is_some();
    let stray_namespace = stray(git.pointer(&["metadata", "namespace"]).map(Node::as_str));
    if !sets_our_keys && !string_data && !stray_namespace {
        return Some(Cow::Borrowed(git));
    }
    let applied = if sets_our_keys {
        applied_value(resource, mark.to_owned(), sum.to_owned()).ok()?
    } else {
        git.to_value()
    };
    let mut wanted = as_stored(&applied).into_owned();
    let namespace = wanted.get("metadata").and_then(|m| m.get("namespace"));
    if stray(namespace.map(Value::as_str))
        && let Some(metadata) = wanted["metadata"].as_object_mut()
    {
        metadata.remove("namespace");
    }
    Frozen::new(&wanted).ok().map(Cow::Owned)
}

/// The object to apply: the git document, with its namespace, GC mark and
/// checksum, and nothing else added.
fn apply_object(resource: &Resource, mark: String, sum: String) -> Result<ApplyObject, String> {
    let object = applied_value(resource, mark, sum)?;
    ApplyObject::new(resource.id().clone(), &object).map_err(|e| e.to_string())
}

/// [`apply_object`]'s object, as a `Value`.
fn applied_value(resource: &Resource, mark: String, sum: String) -> Result<Value, String> {
    let mut object = resource.object().to_value();
    let metadata = object
        .as_object_mut()
        .and_then(|root| root.get_mut("metadata"))
        .and_then(Value::as_object_mut)
        .ok_or_else(|| "metadata is not a mapping".to_owned())?;
    if let Some(ns) = resource.id().namespace() {
        metadata.insert("namespace".into(), Value::String(ns.to_owned()));
    }
    entry_map(metadata, "labels")?.insert(GC_MARK_LABEL.into(), Value::String(mark));
    entry_map(metadata, "annotations")?.insert(CHECKSUM_ANNOTATION.into(), Value::String(sum));
    Ok(object)
}

fn entry_map<'m>(
    metadata: &'m mut Map<String, Value>,
    key: &str,
) -> Result<&'m mut Map<String, Value>, String> {
    let slot = metadata
        .entry(key)
        .or_insert_with(|| Value::Object(Map::new()));
    if slot.is_null() {
        *slot = Value::Object(Map::new());
    }
    slot.as_object_mut()
        .ok_or_else(|| format!("metadata.{key} is not a mapping"))
}

/// The stage of an object, and its rank within the stage.
fn stage_of(id: &ResourceId) -> (Stage, u8) {
    match (id.is_cluster_scoped(), id.kind()) {
        (true, "namespace") => (Stage::Namespaces, 0),
        (true, "customresourcedefinition") => (Stage::CustomResourceDefinitions, 0),
        (_, kind) => (Stage::Resources, rank_of_kind(kind)),
    }
}

/// Flux v1's partial order of kinds (lower-case, as in resource IDs): what
/// others depend on comes first. Adapters use it to order applies within a
/// batch and deletions (in reverse).
pub fn rank_of_kind(kind: &str) -> u8 {
    match kind {
        "namespace" => 0,
        "customresourcedefinition"
        | "serviceaccount"
        | "clusterrole"
        | "role"
        | "persistentvolume"
        | "service" => 1,
        "resourcequota"
        | "limitrange"
        | "secret"
        | "configmap"
        | "rolebinding"
        | "clusterrolebinding"
        | "persistentvolumeclaim"
        | "ingress" => 2,
        "daemonset"
        | "deployment"
        | "replicationcontroller"
        | "replicaset"
        | "job"
        | "cronjob"
        | "statefulset" => 3,
        _ => 4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_and_ranks() {
        let cases = [
            ("<cluster>:namespace/a", Stage::Namespaces, 0),
            (
                "<cluster>:customresourcedefinition/w.example.com",
                Stage::CustomResourceDefinitions,
                0,
            ),
            ("a:serviceaccount/x", Stage::Resources, 1),
            ("<cluster>:clusterrole/x", Stage::Resources, 1),
            ("a:configmap/x", Stage::Resources, 2),
            ("a:deployment/x", Stage::Resources, 3),
            ("a:widget/x", Stage::Resources, 4),
            // A namespaced kind called Namespace is not a Namespace.
            ("a:namespace/x", Stage::Resources, 0),
        ];
        for (id, stage, rank) in cases {
            assert_eq!(stage_of(&id.parse().unwrap()), (stage, rank), "{id}");
        }
    }
}
