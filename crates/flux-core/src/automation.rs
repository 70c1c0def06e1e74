//! Automation: moving automated workloads to the newest images their tag
//! filters allow, as fluxd does every `--automation-interval`.
//!
//! [`calculate_automation`] is pure: it reads the manifests and a
//! [`RegistryView`](crate::RegistryView) and produces the same [`ReleaseResult`] a release does,
//! edits included. The rules are Flux v1's: only workloads with
//! `automated: "true"` that are neither locked nor ignored; for each
//! container the newest allowed tag (by creation time for glob and regex
//! filters, by version for semver); a container is left alone when the
//! metadata needed to order its tags is missing, or when a time-ordered
//! filter lacks the creation time of the current or the newest image (so a
//! half-warmed cache never causes a downgrade).

use crate::image::ImageRef;
use crate::manifest::Resource;
use crate::policy::{Ignore, Policies, Policy};
use crate::release::{
    ContainerUpdate, Newest, ReleaseContext, ReleaseResult, Status, WorkloadResult, newest,
    reasons, write_edits,
};

/// Calculates one automation run over every automated workload.
pub fn calculate_automation(cx: &ReleaseContext<'_>) -> ReleaseResult {
    let mut result = ReleaseResult::default();
    let mut changes: Vec<(&Resource, Vec<ContainerUpdate>)> = Vec::new();
    for w in cx.manifests.workloads() {
        let policies = match Policies::of(w) {
            Ok(p) => p,
            Err(e) => {
                // Report broken policies only where automation was asked for.
                let wants_automation = w
                    .annotations()
                    .keys()
                    .any(|k| Policy::from_annotation_key(k) == Some(Policy::Automated));
                if wants_automation {
                    result.workloads.insert(
                        w.id().clone(),
                        WorkloadResult::new(Status::Failed, e.to_string()),
                    );
                }
                continue;
            }
        };
        if !policies.automated {
            continue;
        }
        let r = if policies.locked {
            WorkloadResult::new(Status::Skipped, reasons::LOCKED)
        } else if policies.ignore == Ignore::Yes {
            WorkloadResult::new(Status::Skipped, reasons::IGNORE)
        } else if !cx.in_cluster.is_none_or(|ids| ids.contains(w.id())) {
            WorkloadResult::new(Status::Skipped, reasons::NOT_IN_CLUSTER)
        } else {
            automate(w, &policies, cx)
        };
        if r.status == Status::Success {
            changes.push((w, r.per_container.clone()));
        }
        result.workloads.insert(w.id().clone(), r);
    }
    result.edits = write_edits(cx.files, &changes, &mut result.workloads);
    result
}

fn automate(w: &Resource, policies: &Policies, cx: &ReleaseContext<'_>) -> WorkloadResult {
    let containers = match w.containers() {
        Ok(c) => c,
        Err(e) => return WorkloadResult::new(Status::Failed, e.to_string()),
    };
    let mut updates = Vec::new();
    let mut missing = false;
    for c in &containers {
        let current = match ImageRef::parse(&c.image) {
            Ok(i) => i,
            Err(e) => {
                return WorkloadResult::new(Status::Failed, format!("container {}: {e}", c.name));
            }
        };
        let pattern = policies.tag_pattern(&c.name);
        let latest = match newest(cx.registry, &current, &pattern) {
            Newest::Tag(t) => t,
            Newest::NoneAllowed => continue,
            Newest::MissingMetadata => {
                missing = true;
                continue;
            }
        };
        if current.tag() == Some(latest.as_str()) && current.digest().is_none() {
            continue;
        }
        if pattern.requires_timestamp() {
            let created = |tag: Option<&str>| {
                tag.and_then(|t| cx.registry.image_info(current.name(), t))
                    .and_then(|i| i.created)
            };
            if created(current.tag()).is_none() || created(Some(&latest)).is_none() {
                missing = true;
                continue;
            }
        }
        match current.with_tag(&latest) {
            Ok(target) => updates.push(ContainerUpdate {
                container: c.name.clone(),
                current,
                target,
            }),
            Err(e) => return WorkloadResult::new(Status::Failed, e.to_string()),
        }
    }
    if !updates.is_empty() {
        WorkloadResult::success(updates)
    } else if missing {
        WorkloadResult::new(Status::Skipped, reasons::IMAGE_NOT_FOUND)
    } else {
        WorkloadResult::new(Status::Skipped, reasons::UP_TO_DATE)
    }
}

/// The commit message Flux v1 writes for an automation run.
pub fn commit_message(result: &ReleaseResult) -> String {
    let images = result.changed_images();
    match images.as_slice() {
        [] => "Auto-release (no images)".to_owned(),
        [one] => format!("Auto-release {one}"),
        many => {
            let mut s = format!("Auto-release multiple ({}) images\n\n", many.len());
            for image in many {
                s.push_str(&format!(" - {image}\n"));
            }
            s
        }
    }
}

#[cfg(test)]
mod tests;
