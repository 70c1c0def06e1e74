//! Policy changes (`fluxctl policy`, `automate`, `lock` and their inverses)
//! turned into annotation edits of the workloads' files.

use std::collections::BTreeMap;

use super::edits::Edits;
use super::result::{ReleaseResult, Status, WorkloadResult, reasons};
use crate::manifest::{FileSet, Manifests};
use crate::policy::PolicyUpdate;
use crate::resource::ResourceId;
use crate::update::set_annotations;

/// The reason given for a policy change that changes nothing.
pub const POLICIES_UNCHANGED: &str = "policies unchanged";

/// Calculates the file edits for policy changes per workload. Each workload
/// succeeds or fails on its own: one not in the repository, with an invalid
/// tag pattern, or whose annotations cannot be edited fails with the reason;
/// the others still change.
///
/// ```
/// use std::collections::BTreeMap;
/// use flux_core::manifest::{FileSet, LoadOptions, parse_files};
/// use flux_core::policy::PolicyUpdate;
/// use flux_core::release::{calculate_policy_updates, Status};
/// use flux_core::ScopeTable;
/// let mut files = FileSet::new();
/// files.insert("web.yaml", "kind: Deployment\napiVersion: apps/v1\nmetadata:\n  name: web\n");
/// let manifests = parse_files(&files, &["".into()], &ScopeTable::builtin(), &LoadOptions::default()).unwrap();
/// let id = "default:deployment/web".parse().unwrap();
/// let result = calculate_policy_updates(&manifests, &files, &BTreeMap::from([(id, PolicyUpdate::automate())]));
/// assert_eq!(result.edits[0].text, "kind: Deployment\napiVersion: apps/v1\nmetadata:\n  name: web\n  annotations:\n    fluxcd.io/automated: \"true\"\n");
/// ```
pub fn calculate_policy_updates(
    manifests: &Manifests,
    files: &FileSet,
    updates: &BTreeMap<ResourceId, PolicyUpdate>,
) -> ReleaseResult {
    let mut result = ReleaseResult::default();
    let mut edits = Edits::new(files);
    for (id, update) in updates {
        let Some(w) = manifests.resources.get(id) else {
            result.workloads.insert(
                id.clone(),
                WorkloadResult::new(Status::Failed, reasons::NOT_IN_REPO),
            );
            continue;
        };
        let names: Vec<String> = match w.containers() {
            Ok(cs) => cs.into_iter().map(|c| c.name).collect(),
            Err(e) => {
                result.workloads.insert(
                    id.clone(),
                    WorkloadResult::new(Status::Failed, e.to_string()),
                );
                continue;
            }
        };
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let changes = match update.annotation_changes(&w.annotations(), &names) {
            Ok(c) => c,
            Err(e) => {
                result.workloads.insert(
                    id.clone(),
                    WorkloadResult::new(Status::Failed, e.to_string()),
                );
                continue;
            }
        };
        if changes.is_empty() {
            result.workloads.insert(
                id.clone(),
                WorkloadResult::new(Status::Skipped, POLICIES_UNCHANGED),
            );
            continue;
        }
        let r = match edits.edit(w.source(), |text| {
            set_annotations(text, w.source(), &changes)
        }) {
            Ok(()) => WorkloadResult::success(Vec::new()),
            Err(e) => WorkloadResult::new(Status::Failed, e),
        };
        result.workloads.insert(id.clone(), r);
    }
    result.edits = edits.finish();
    result
}
