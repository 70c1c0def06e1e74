//! Garbage collection planning: which marked live objects are gone from git
//! and may be deleted, and why every other marked object is kept.

use std::collections::BTreeSet;
use std::fmt;

use super::live::{Ignore, LiveView, has_owner, live_ignore, mark_of, mark_state};
use super::mark::{MarkState, is_well_formed_mark};
use super::plan::rank_of_kind;
use super::{GcMode, SyncOptions, allows, is_cascading};
use crate::cluster::LiveObject;
use crate::frozen::{Frozen, Node};
use crate::manifest::Manifests;
use crate::resource::{ResourceId, split_api_version};

/// Why garbage collection deletes nothing this time.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum GcBlocked {
    /// Some resources in git have a kind whose scope is unknown, so their
    /// live counterparts cannot be told apart from garbage.
    UnknownScope {
        /// How many.
        count: usize,
    },
    /// Some resources in git could not be applied as written.
    InvalidResources {
        /// How many.
        count: usize,
    },
    /// Applying failed for some objects.
    ApplyFailed {
        /// How many.
        count: usize,
    },
    /// Listing the marked objects after applying failed.
    ListFailed {
        /// The error.
        message: String,
    },
}

impl fmt::Display for GcBlocked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GcBlocked::UnknownScope { count } => {
                write!(f, "{count} resource(s) in git have a kind of unknown scope")
            }
            GcBlocked::InvalidResources { count } => {
                write!(f, "{count} resource(s) in git cannot be applied as written")
            }
            GcBlocked::ApplyFailed { count } => write!(f, "{count} object(s) failed to apply"),
            GcBlocked::ListFailed { message } => {
                write!(f, "listing marked objects failed: {message}")
            }
        }
    }
}

/// Why a live object carrying a GC mark label is not deleted although it is
/// gone from git.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum KeptReason {
    /// It carries the mark of another sync set (another Flux, or another
    /// repository, branch or path), or of another object.
    OtherSyncSet,
    /// Its mark is not a value Flux writes.
    MalformedMark {
        /// The label value (`<missing>` if one copy has no label).
        value: String,
    },
    /// It is outside the allowed namespaces.
    NamespaceNotAllowed,
    /// It has `fluxcd.io/ignore: "true"`.
    Ignored,
    /// It has `fluxcd.io/ignore: "sync_only"`.
    SyncOnly,
    /// It has an owner, which decides its life.
    Owned,
    /// It is a Namespace or CustomResourceDefinition, and cascading
    /// deletes are off ([`SyncOptions::gc_cascading`]).
    Cascading,
    /// It is a Namespace or CustomResourceDefinition that still holds an
    /// object which is not being deleted.
    CascadingNotEmpty {
        /// One such object.
        holds: ResourceId,
    },
}

impl fmt::Display for KeptReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeptReason::OtherSyncSet => f.write_str("marked by another sync set"),
            KeptReason::MalformedMark { value } => write!(f, "malformed GC mark {value:?}"),
            KeptReason::NamespaceNotAllowed => f.write_str("outside the allowed namespaces"),
            KeptReason::Ignored => f.write_str("ignore annotation on the cluster object"),
            KeptReason::SyncOnly => f.write_str("ignore: sync_only on the cluster object"),
            KeptReason::Owned => f.write_str("has an owner"),
            KeptReason::Cascading => {
                f.write_str("deleting it would delete what it contains; cascading GC is off")
            }
            KeptReason::CascadingNotEmpty { holds } => write!(f, "still contains {holds}"),
        }
    }
}

/// A marked live object gone from git that is kept.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Kept {
    /// The object.
    pub id: ResourceId,
    /// Why.
    pub reason: KeptReason,
}

/// What garbage collection finds.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct GcPlan {
    /// The mode it was planned for.
    pub mode: GcMode,
    /// Objects that may be deleted, in the order to delete them (what
    /// others depend on last, Namespaces at the very end).
    pub candidates: Vec<ResourceId>,
    /// Marked objects gone from git that are kept, in ID order.
    pub kept: Vec<Kept>,
    /// Why nothing may be deleted, if anything stops it.
    pub blocked: Vec<GcBlocked>,
}

impl GcPlan {
    /// What to delete: the candidates when GC is on and nothing blocks it,
    /// otherwise nothing (dry-run included).
    pub fn to_delete(&self) -> &[ResourceId] {
        if self.mode == GcMode::On && self.blocked.is_empty() {
            &self.candidates
        } else {
            &[]
        }
    }
}

/// Plans garbage collection of the marked objects in `live` against the
/// resources in `desired`.
///
/// Every resource in `desired` protects its live object, whether or not the
/// sync applies it (ignored and out-of-namespace resources included).
/// With [`GcMode::Off`] nothing is examined and the plan is empty.
///
/// ```
/// use flux_core::cluster::LiveObject;
/// use flux_core::manifest::Manifests;
/// use flux_core::sync::{GcMode, GC_MARK_LABEL, SyncOptions, SyncSetName, plan_gc};
/// use serde_json::json;
///
/// let mut options = SyncOptions::new(SyncSetName::new("example"));
/// options.gc = GcMode::On;
/// let id = "demo:configmap/old".parse().unwrap();
/// let mark = options.sync_set.gc_mark(&id);
/// let object = json!({"metadata": {"name": "old", "namespace": "demo", "labels": {GC_MARK_LABEL: mark}}});
/// let live = [LiveObject::new(id, &object)?];
/// let gc = plan_gc(&Manifests::default(), &live, &options);
/// assert_eq!(gc.to_delete(), &["demo:configmap/old".parse().unwrap()]);
/// # Ok::<(), flux_core::frozen::TooLarge>(())
/// ```
pub fn plan_gc(desired: &Manifests, live: &[LiveObject], options: &SyncOptions) -> GcPlan {
    plan_with(
        desired,
        &LiveView::new(live),
        options,
        blocked_by_desired(desired),
    )
}

/// What in `desired` alone blocks GC.
pub(crate) fn blocked_by_desired(desired: &Manifests) -> Vec<GcBlocked> {
    if desired.unscoped.is_empty() {
        Vec::new()
    } else {
        vec![GcBlocked::UnknownScope {
            count: desired.unscoped.len(),
        }]
    }
}

pub(crate) fn plan_with(
    desired: &Manifests,
    view: &LiveView<'_>,
    options: &SyncOptions,
    blocked: Vec<GcBlocked>,
) -> GcPlan {
    let mut plan = GcPlan {
        mode: options.gc,
        blocked,
        ..GcPlan::default()
    };
    if options.gc == GcMode::Off {
        return plan;
    }
    let set = &options.sync_set;
    let mut candidates: BTreeSet<&ResourceId> = BTreeSet::new();
    let mut cascading = Vec::new();
    let mut in_git = desired.resources.keys().peekable();
    for (id, copies) in view.iter() {
        // Both are in ID order: walk them together.
        while in_git.next_if(|d| *d < id).is_some() {}
        if in_git.peek() == Some(&id) || !copies.iter().any(|c| mark_of(c).is_some()) {
            continue;
        }
        let reason = match mark_state(set, id, copies) {
            MarkState::Foreign => Some(KeptReason::OtherSyncSet),
            MarkState::Malformed => Some(KeptReason::MalformedMark {
                value: shown_mark(copies),
            }),
            MarkState::Ours if !allows(&options.namespaces, id) => {
                Some(KeptReason::NamespaceNotAllowed)
            }
            MarkState::Ours => match copies.iter().map(|c| live_ignore(c)).max() {
                Some(Ignore::Yes) => Some(KeptReason::Ignored),
                Some(Ignore::SyncOnly) => Some(KeptReason::SyncOnly),
                _ if copies.iter().any(|c| has_owner(c)) => Some(KeptReason::Owned),
                _ if is_cascading(id) && !options.gc_cascading => Some(KeptReason::Cascading),
                _ if is_cascading(id) => {
                    cascading.push((id, copies));
                    None
                }
                _ => {
                    candidates.insert(id);
                    None
                }
            },
        };
        if let Some(reason) = reason {
            plan.kept.push(Kept {
                id: id.clone(),
                reason,
            });
        }
    }

    // A Namespace or CRD goes only when everything visible in it goes too.
    // CRDs are decided first: a CRD kept holds its custom resources, and so
    // keeps their namespaces.
    cascading.sort_by_key(|(id, _)| id.kind() == "namespace");
    for (id, copies) in cascading {
        let holds = view
            .iter()
            .find(|(other, other_copies)| {
                *other != id
                    && !candidates.contains(other)
                    && contained_in(id, copies, other, other_copies)
            })
            .map(|(other, _)| other.clone());
        match holds {
            Some(holds) => plan.kept.push(Kept {
                id: id.clone(),
                reason: KeptReason::CascadingNotEmpty { holds },
            }),
            None => {
                candidates.insert(id);
            }
        }
    }
    plan.kept.sort_by(|a, b| a.id.cmp(&b.id));

    let mut candidates: Vec<ResourceId> = candidates.into_iter().cloned().collect();
    candidates.sort_by(|a, b| {
        rank_of_kind(b.kind())
            .cmp(&rank_of_kind(a.kind()))
            .then_with(|| a.cmp(b))
    });
    plan.candidates = candidates;
    plan
}

/// Whether deleting the cascading object `id` would delete `other`.
fn contained_in(
    id: &ResourceId,
    copies: &[&Frozen],
    other: &ResourceId,
    other_copies: &[&Frozen],
) -> bool {
    if id.kind() == "namespace" {
        return other.namespace() == Some(id.name());
    }
    // A CRD: its custom resources are of its group and kind. Any copy
    // claiming `other` (or unreadable) is enough to keep the CRD.
    copies.iter().any(|crd| {
        let read = |path: &[&str]| crd.pointer(path).and_then(Node::as_str);
        match (read(&["spec", "group"]), read(&["spec", "names", "kind"])) {
            (Some(group), Some(kind)) => {
                other.kind() == kind.to_ascii_lowercase()
                    && other_copies.iter().any(|o| {
                        let api_version = o.pointer(&["apiVersion"]).and_then(Node::as_str);
                        split_api_version(api_version.unwrap_or_default()).0 == group
                    })
            }
            // Cannot tell what it defines: treat everything as its content.
            _ => true,
        }
    })
}

/// The malformed mark to show: the least of the copies' malformed values,
/// so the plan does not depend on the order copies were listed in.
fn shown_mark(copies: &[&Frozen]) -> String {
    copies
        .iter()
        .map(|c| match mark_of(c) {
            Some(mark) => mark
                .as_str()
                .map_or_else(|| mark.to_value().to_string(), str::to_owned),
            None => "<missing>".to_owned(),
        })
        .filter(|v| !is_well_formed_mark(v))
        .min()
        .unwrap_or_default()
}
