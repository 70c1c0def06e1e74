//! `list-workloads` and `list-images`: the cluster's workloads (from the
//! live objects, as Flux v1 listed them), joined with their policies in git
//! and what the registry cache knows of their images.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use flux_api::ApiError;
use flux_api::image::{ImageInfo, Labels};
use flux_api::v6::{
    CONTAINER_FIELDS, Container, ControllerStatus, ImageStatus, NO_IMAGE_DATA, ReadOnlyReason,
};
use flux_core::cluster::{LiveObject, Namespaces};
use flux_core::image::ImageRef;
use flux_core::policy::{Policy, TagPattern};
use flux_core::registry::RegistryView;
use flux_core::{ResourceId, manifest::Resource};

use crate::daemon::Shared;
use crate::source::{Loaded, Source};

/// The namespaces a request about `source` sees: the source's own
/// (`allowNamespaces`), or fluxd's without a source.
pub fn allowed_namespaces<'a>(
    shared: &'a Shared,
    source: Option<&'a Arc<Source>>,
) -> &'a Namespaces {
    source.map_or(&shared.config.k8s.namespaces, |s| &s.sync.namespaces)
}

/// The workloads in the cluster, within `namespace` when given and the
/// source's allowed namespaces, or just those named.
async fn cluster_workloads(
    shared: &Shared,
    source: Option<&Arc<Source>>,
    namespace: Option<&str>,
    only: &[ResourceId],
) -> Result<Vec<LiveObject>, ApiError> {
    let allowed = allowed_namespaces(shared, source);
    let scope = match namespace {
        Some(ns) if !allowed.allows(ns) => return Ok(Vec::new()),
        Some(ns) => Namespaces::from_list(&[ns]),
        None => allowed.clone(),
    };
    let live = shared
        .cluster
        .export_workloads(&scope)
        .await
        .map_err(|e| ApiError::server(format!("getting workloads from cluster: {e}")))?;
    let mut out: Vec<LiveObject> = live
        .into_iter()
        .filter(|o| crate::source::is_workload(&o.id))
        .filter(|o| namespace.is_none_or(|ns| o.id.namespace() == Some(ns)))
        .filter(|o| only.is_empty() || only.contains(&o.id))
        .collect();
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(out)
}

/// The manifests at the source's branch head, and why a workload missing
/// from them is read-only.
async fn head_manifests(
    source: Option<&Arc<Source>>,
) -> Result<(Option<Arc<Loaded>>, ReadOnlyReason), ApiError> {
    let Some(source) = source else {
        return Ok((None, ReadOnlyReason::NoRepo));
    };
    let Ok(revision) = crate::sync::target_revision(source).await else {
        return Ok((None, ReadOnlyReason::NotReady));
    };
    match crate::sync::load(source, &revision).await {
        Ok(loaded) => Ok((Some(loaded), ReadOnlyReason::NotInRepo)),
        Err(e) => Err(ApiError::server(e.to_string())),
    }
}

/// Flux v1's policy map of a resource: policy name → the annotation's value.
fn policy_map(resource: &Resource) -> BTreeMap<String, String> {
    resource
        .annotations()
        .into_iter()
        .filter_map(|(k, v)| {
            let p = Policy::from_annotation_key(k)?;
            Some((p.to_string(), v.to_owned()))
        })
        .collect()
}

/// A live workload's containers, as Flux v1 listed them: containers, then
/// init containers.
fn containers_of(object: &serde_json::Value) -> Vec<flux_core::workload::Container> {
    let mut cs = flux_core::workload::containers(object).unwrap_or_default();
    cs.sort_by_key(|c| c.kind == flux_core::workload::ContainerKind::Init);
    cs
}

/// `ListServices`: the cluster's workloads in `source`'s namespaces, with
/// what `source`'s manifests say of them.
pub async fn list_services(
    shared: &Shared,
    source: Option<&Arc<Source>>,
    namespace: Option<&str>,
    services: &[ResourceId],
) -> Result<Vec<ControllerStatus>, ApiError> {
    if namespace.is_some() && !services.is_empty() {
        return Err(ApiError::user(
            "cannot filter by 'namespace' and 'workloads' at the same time",
        ));
    }
    let live = cluster_workloads(shared, source, namespace, services).await?;
    let (loaded, missing) = head_manifests(source).await?;
    let readonly_repo = source.is_some_and(|s| s.repo.config().readonly);
    let errors = source
        .map(|s| s.with_status(|st| st.resource_errors.clone()))
        .unwrap_or_default();
    let mut out = Vec::with_capacity(live.len());
    for o in &live {
        let resource = loaded
            .as_ref()
            .and_then(|l| l.manifests.resources.get(&o.id));
        let policies = resource.map(policy_map).unwrap_or_default();
        let read_only = match resource {
            None => missing.clone(),
            Some(_) if readonly_repo => ReadOnlyReason::ReadOnlyMode,
            Some(_) => ReadOnlyReason::Ok,
        };
        let object = o.object.to_value();
        let (status, rollout) = super::status::rollout(o.id.kind(), &object);
        let labels = object["metadata"]["labels"]
            .as_object()
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                    .collect()
            })
            .unwrap_or_default();
        let flag = |name: &str| policies.get(name).is_some_and(|v| v == "true");
        out.push(ControllerStatus {
            id: o.id.to_string(),
            containers: containers_of(&object)
                .into_iter()
                .map(|c| Container {
                    name: c.name,
                    current: ImageInfo::from_ref(c.image),
                    ..Container::default()
                })
                .collect(),
            read_only,
            status,
            rollout,
            sync_error: errors.get(&o.id).cloned().unwrap_or_default(),
            antecedent: object["metadata"]["annotations"]["helm.fluxcd.io/antecedent"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            labels,
            automated: flag("automated"),
            locked: flag("locked"),
            ignore: policies.get("ignore").is_some_and(|v| v == "true"),
            policies,
        });
    }
    Ok(out)
}

/// Which [`Container`] fields to fill (all when empty); an unknown name is
/// an error, as in Flux v1.
fn check_fields(fields: &[String]) -> Result<BTreeSet<&str>, ApiError> {
    if fields.is_empty() {
        return Ok(CONTAINER_FIELDS.into_iter().collect());
    }
    fields
        .iter()
        .map(|f| {
            CONTAINER_FIELDS
                .iter()
                .find(|k| **k == f.as_str())
                .copied()
                .ok_or_else(|| ApiError::user(format!("{f} is an invalid field")))
        })
        .collect()
}

/// `ListImages`: `workload` is `None` for all workloads (in `source`'s
/// namespaces).
pub async fn list_images(
    shared: &Shared,
    source: Option<&Arc<Source>>,
    workload: Option<ResourceId>,
    namespace: Option<&str>,
    fields: &[String],
) -> Result<Vec<ImageStatus>, ApiError> {
    if namespace.is_some() && workload.is_some() {
        return Err(ApiError::user(
            "cannot filter by 'namespace' and 'workload' at the same time",
        ));
    }
    let fields = check_fields(fields)?;
    let only: Vec<ResourceId> = workload.into_iter().collect();
    let live = cluster_workloads(shared, source, namespace, &only).await?;
    let (loaded, _) = head_manifests(source).await?;
    let cache: &dyn RegistryView = &*shared.registry.cache;
    let mut out = Vec::with_capacity(live.len());
    for o in &live {
        let policies = loaded
            .as_ref()
            .and_then(|l| l.manifests.resources.get(&o.id))
            .and_then(|r| flux_core::policy::Policies::of(r).ok())
            .unwrap_or_default();
        let containers = containers_of(&o.object.to_value())
            .into_iter()
            .map(|c| {
                container_images(
                    &c.name,
                    &c.image,
                    &policies.tag_pattern(&c.name),
                    cache,
                    &fields,
                )
            })
            .collect();
        out.push(ImageStatus {
            id: o.id.to_string(),
            containers,
        });
    }
    Ok(out)
}

/// One container's images, as Flux v1's `v6.NewContainer` fills them.
pub fn container_images(
    name: &str,
    image: &str,
    pattern: &TagPattern,
    cache: &dyn RegistryView,
    fields: &BTreeSet<&str>,
) -> Container {
    let mut c = Container::default();
    let current_ref = ImageRef::parse(image).ok();
    let tags = current_ref.as_ref().and_then(|r| cache.tags(r.name()));
    let info = |tag: &str| -> (ImageInfo, Option<chrono::DateTime<chrono::Utc>>) {
        let id = current_ref
            .as_ref()
            .and_then(|r| r.with_tag(tag).ok())
            .map(|r| r.to_string())
            .unwrap_or_else(|| tag.to_owned());
        let known = current_ref
            .as_ref()
            .and_then(|r| cache.image_info(r.name(), tag));
        let created = known.as_ref().and_then(|k| k.created);
        let mut out = ImageInfo::from_ref(id);
        if let Some(k) = known {
            out.digest = k.digest.unwrap_or_default();
            out.created_at = k.created;
            out.labels = Labels {
                build_date: label_time(&k.labels, "org.label-schema.build-date"),
                created: label_time(&k.labels, "org.opencontainers.image.created"),
            };
        }
        (out, created)
    };
    let current_tag = current_ref
        .as_ref()
        .and_then(|r| r.tag())
        .map(str::to_owned);
    let current = match &current_tag {
        Some(t) if tags.as_ref().is_some_and(|ts| ts.contains(t)) => info(t),
        _ => (ImageInfo::from_ref(image), None),
    };
    if fields.contains("Name") {
        c.name = name.to_owned();
    }
    if fields.contains("Current") {
        c.current = current.0.clone();
    }
    let Some(tags) = tags else {
        if fields.contains("AvailableError") {
            c.available_error = NO_IMAGE_DATA.to_owned();
        }
        return c;
    };
    // Newest first, by the container's pattern (semver order or time).
    let mut all: Vec<(ImageInfo, Option<chrono::DateTime<chrono::Utc>>, String)> = tags
        .iter()
        .map(|t| {
            let (i, created) = info(t);
            (i, created, t.clone())
        })
        .collect();
    all.sort_by(|a, b| pattern.compare((&b.2, b.1), (&a.2, a.1)));
    let newer = |list: &[&(ImageInfo, Option<chrono::DateTime<chrono::Utc>>, String)]| {
        let Some(cur) = &current_tag else { return 0 };
        list.iter()
            .take_while(|x| {
                pattern.compare((&x.2, x.1), (cur, current.1)) == std::cmp::Ordering::Greater
            })
            .count()
    };
    let all_refs: Vec<_> = all.iter().collect();
    let filtered: Vec<_> = all.iter().filter(|x| pattern.allows(&x.2)).collect();
    if fields.contains("AvailableImagesCount") {
        c.available_images_count = all.len();
    }
    if fields.contains("NewAvailableImagesCount") {
        c.new_available_images_count = newer(&all_refs);
    }
    if fields.contains("LatestFiltered") {
        c.latest_filtered = filtered.first().map(|x| x.0.clone()).unwrap_or_default();
    }
    if fields.contains("FilteredImagesCount") {
        c.filtered_images_count = filtered.len();
    }
    if fields.contains("NewFilteredImagesCount") {
        c.new_filtered_images_count = newer(&filtered);
    }
    if fields.contains("Available") {
        c.available = all.into_iter().map(|x| x.0).collect();
    }
    c
}

fn label_time(
    labels: &BTreeMap<String, String>,
    key: &str,
) -> Option<chrono::DateTime<chrono::Utc>> {
    labels
        .get(key)
        .and_then(|v| chrono::DateTime::parse_from_rfc3339(v).ok())
        .map(|t| t.with_timezone(&chrono::Utc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use flux_core::image::ImageName;
    use flux_core::registry::MemoryRegistry;

    fn day(d: u32) -> Option<chrono::DateTime<chrono::Utc>> {
        chrono::Utc.with_ymd_and_hms(2024, 1, d, 0, 0, 0).single()
    }

    #[test]
    fn images_are_listed_newest_first_with_counts() {
        let mut reg = MemoryRegistry::new();
        let name = ImageName::parse("example.com/app").unwrap();
        reg.add(&name, "1.0", day(1));
        reg.add(&name, "1.1", day(2));
        reg.add(&name, "2.0", day(3));
        reg.add(&name, "1.2", day(4));
        let all: BTreeSet<&str> = CONTAINER_FIELDS.into_iter().collect();
        let pattern = TagPattern::parse("glob:1.*").unwrap();
        let c = container_images("app", "example.com/app:1.1", &pattern, &reg, &all);
        let ids: Vec<&str> = c.available.iter().map(|i| i.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "example.com/app:1.2",
                "example.com/app:2.0",
                "example.com/app:1.1",
                "example.com/app:1.0"
            ]
        );
        assert_eq!(c.current.id, "example.com/app:1.1");
        assert_eq!(c.current.created_at, day(2));
        assert_eq!(c.latest_filtered.id, "example.com/app:1.2");
        assert_eq!(c.available_images_count, 4);
        assert_eq!(c.new_available_images_count, 2);
        assert_eq!(c.filtered_images_count, 3);
        assert_eq!(c.new_filtered_images_count, 1);

        let semver = TagPattern::parse("semver:~1").unwrap();
        let c = container_images("app", "example.com/app:1.1", &semver, &reg, &all);
        assert_eq!(c.latest_filtered.id, "example.com/app:1.2");
        assert_eq!(
            c.available[0].id, "example.com/app:2.0",
            "semver order, not time"
        );

        let only: BTreeSet<&str> = ["Name", "LatestFiltered"].into_iter().collect();
        let c = container_images("app", "example.com/app:1.1", &pattern, &reg, &only);
        assert!(c.available.is_empty() && c.current.is_empty());
        assert_eq!(c.latest_filtered.id, "example.com/app:1.2");
    }

    #[test]
    fn unknown_images_say_so() {
        let reg = MemoryRegistry::new();
        let all: BTreeSet<&str> = CONTAINER_FIELDS.into_iter().collect();
        let c = container_images("app", "nginx:1.25", &TagPattern::all(), &reg, &all);
        assert_eq!(c.available_error, NO_IMAGE_DATA);
        assert_eq!(c.current.id, "nginx:1.25");
        assert!(check_fields(&["Bogus".into()]).is_err());
    }
}
