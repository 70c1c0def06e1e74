//! fluxd's answers in the shapes fluxctl prints ([`crate::view`]).

use flux_api::image::ImageInfo;
use flux_api::update::UpdateResult;
use flux_api::v6::{self, ControllerStatus, ImageStatus};

use crate::view;

fn image(i: &ImageInfo) -> view::Image {
    view::Image {
        id: i.id.clone(),
        digest: (!i.digest.is_empty()).then(|| i.digest.clone()),
        created_at: i.created_at,
        error: None,
    }
}

fn container(c: &v6::Container) -> view::Container {
    view::Container {
        name: c.name.clone(),
        current: image(&c.current),
        latest_filtered: (!c.latest_filtered.id.is_empty()).then(|| image(&c.latest_filtered)),
        available: c.available.iter().map(image).collect(),
        available_error: c.available_error.clone(),
        available_images_count: c.available_images_count,
        new_available_images_count: c.new_available_images_count,
        filtered_images_count: c.filtered_images_count,
        new_filtered_images_count: c.new_filtered_images_count,
    }
}

/// A workload as fluxd reports it.
pub fn workload(s: &ControllerStatus) -> view::Workload {
    view::Workload {
        id: s.id.clone(),
        containers: s.containers.iter().map(container).collect(),
        read_only: serde_json::to_value(&s.read_only)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default(),
        status: s.status.clone(),
        rollout: view::Rollout {
            desired: s.rollout.desired.into(),
            updated: s.rollout.updated.into(),
            ready: s.rollout.ready.into(),
            available: s.rollout.available.into(),
            outdated: s.rollout.outdated.into(),
            messages: s.rollout.messages.clone(),
        },
        sync_error: s.sync_error.clone(),
        antecedent: s.antecedent.clone(),
        labels: s.labels.clone(),
        automated: s.automated,
        locked: s.locked,
        ignore: s.ignore,
        policies: s.policies.clone(),
        source: None,
        error: None,
    }
}

/// One workload's images as fluxd reports them.
pub fn images(s: &ImageStatus) -> view::WorkloadImages {
    view::WorkloadImages {
        id: s.id.clone(),
        containers: s.containers.iter().map(container).collect(),
        error: None,
    }
}

/// A job's per-workload results.
pub fn outcomes(r: &UpdateResult) -> Vec<view::Outcome> {
    r.0.iter()
        .map(|(id, w)| view::Outcome {
            id: id.clone(),
            status: serde_json::to_value(&w.status)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            error: w.error.clone(),
            per_container: w
                .per_container
                .iter()
                .map(|c| view::ContainerChange {
                    container: c.container.clone(),
                    current: c.current.clone(),
                    target: c.target.clone(),
                })
                .collect(),
        })
        .collect()
}
