//! Images in HelmRelease values, found the way Flux v1 found them.
//!
//! A HelmRelease has no containers of its own; Flux v1 treated image-looking
//! entries of `spec.values` as containers:
//!
//! - `values.image` (a string, or a map with `repository`) is the container
//!   `chart-image`;
//! - `values.<name>.image` (same two shapes) is the container `<name>`;
//! - next to a string `image`, string `registry` and `tag` keys complete it;
//!   inside an `image` map, `registry`, `repository` and `tag` do;
//! - annotations `repository.fluxcd.io/<name>`, `registry.fluxcd.io/<name>`
//!   and `tag.fluxcd.io/<name>` map a container to dotted paths under
//!   `spec.values`, and win over what was found automatically.
//!
//! One deliberate difference: when a `registry` or `tag` key is present but
//! is not a string (say `tag: 1.10`, which YAML reads as the number 1.1),
//! Flux v1 silently built an image without that part, and automation could
//! then write a broken value. Here such an entry is not treated as an image.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{Container, ContainerKind, FieldPath, ImageFields};
use crate::manifest::annotations;

/// The container name of an image given at the top of `spec.values`.
pub const HELM_CHART_CONTAINER: &str = "chart-image";

const REGISTRY_PREFIX: &str = "registry.fluxcd.io/";
const REPOSITORY_PREFIX: &str = "repository.fluxcd.io/";
const TAG_PREFIX: &str = "tag.fluxcd.io/";

/// The value paths named by the image-mapping annotations of one container.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HelmImageMap {
    /// `registry.fluxcd.io/<c>`: dotted path under `spec.values`.
    pub registry: Option<String>,
    /// `repository.fluxcd.io/<c>`.
    pub repository: Option<String>,
    /// `tag.fluxcd.io/<c>`.
    pub tag: Option<String>,
}

impl HelmImageMap {
    /// The image-mapping annotations of an object, by container name.
    pub fn from_annotations(object: &Value) -> BTreeMap<String, HelmImageMap> {
        let mut maps: BTreeMap<String, HelmImageMap> = BTreeMap::new();
        for (key, value) in annotations(object) {
            let (container, slot): (&str, fn(&mut HelmImageMap) -> &mut Option<String>) =
                if let Some(c) = key.strip_prefix(REGISTRY_PREFIX) {
                    (c, |m| &mut m.registry)
                } else if let Some(c) = key.strip_prefix(REPOSITORY_PREFIX) {
                    (c, |m| &mut m.repository)
                } else if let Some(c) = key.strip_prefix(TAG_PREFIX) {
                    (c, |m| &mut m.tag)
                } else {
                    continue;
                };
            *slot(maps.entry(container.to_owned()).or_default()) = Some(value.to_owned());
        }
        maps
    }

    /// Resolves the mapping against the object's values: the image and its
    /// fields, if the mapped fields exist and are strings. As in Flux v1 a
    /// mapping needs a repository; a registry without a repository, or a tag
    /// alone, maps nothing.
    fn resolve(&self, object: &Value) -> Option<(String, ImageFields)> {
        let base = FieldPath::keys(&["spec", "values"]);
        let path = |dotted: &str| {
            let mut p = base.clone();
            for k in dotted.split('.') {
                p = p.key(k);
            }
            p
        };
        let repository = path(self.repository.as_deref()?);
        let registry = self.registry.as_deref().map(path);
        let tag = self.tag.as_deref().map(path);
        let get = |p: &FieldPath| {
            p.get(object)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        };
        let image = join(
            registry
                .as_ref()
                .map(get)
                .map_or(Some(None), |v| v.map(Some))?,
            get(&repository)?,
            tag.as_ref().map(get).map_or(Some(None), |v| v.map(Some))?,
        )?;
        let fields = if registry.is_none() && tag.is_none() {
            ImageFields::Whole(repository)
        } else {
            ImageFields::Parts {
                registry,
                repository,
                tag,
            }
        };
        Some((image, fields))
    }
}

/// Joins registry, repository and tag into one reference, if it looks like one.
fn join(registry: Option<&str>, repository: &str, tag: Option<&str>) -> Option<String> {
    let mut image = String::new();
    if let Some(r) = registry {
        image.push_str(r.trim_end_matches('/'));
        image.push('/');
    }
    image.push_str(repository);
    if let Some(t) = tag {
        image.push(':');
        image.push_str(t);
    }
    let plausible =
        !image.is_empty() && !image.chars().any(|c| c.is_whitespace() || c.is_control());
    plausible.then_some(image)
}

/// A string-or-absent sibling key; `Err` when present but not a string.
fn optional_string<'v>(
    map: &'v serde_json::Map<String, Value>,
    key: &str,
) -> Result<Option<&'v str>, ()> {
    match map.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(()),
    }
}

/// Interprets a map that may hold an `image` (as `values` or `values.<c>`).
fn as_container(
    map: &serde_json::Map<String, Value>,
    at: &FieldPath,
) -> Option<(String, ImageFields)> {
    match map.get("image")? {
        Value::String(repository) => {
            let registry = optional_string(map, "registry").ok()?;
            let tag = optional_string(map, "tag").ok()?;
            let image = join(registry, repository, tag)?;
            Some((
                image,
                fields(at, registry.is_some(), "image", tag.is_some()),
            ))
        }
        Value::Object(inner) => {
            let at = at.key("image");
            let Value::String(repository) = inner.get("repository")? else {
                return None;
            };
            let registry = optional_string(inner, "registry").ok()?;
            let tag = optional_string(inner, "tag").ok()?;
            let image = join(registry, repository, tag)?;
            Some((
                image,
                fields(&at, registry.is_some(), "repository", tag.is_some()),
            ))
        }
        _ => None,
    }
}

fn fields(at: &FieldPath, registry: bool, repository_key: &str, tag: bool) -> ImageFields {
    let repository = at.key(repository_key);
    if !registry && !tag {
        return ImageFields::Whole(repository);
    }
    ImageFields::Parts {
        registry: registry.then(|| at.key("registry")),
        repository,
        tag: tag.then(|| at.key("tag")),
    }
}

/// The containers of a HelmRelease: `chart-image` first, then by name.
pub(super) fn containers(object: &Value) -> Vec<Container> {
    let base = FieldPath::keys(&["spec", "values"]);
    let mut found: BTreeMap<String, (String, ImageFields)> = BTreeMap::new();
    if let Some(values) = object["spec"]["values"].as_object() {
        if let Some(c) = as_container(values, &base) {
            found.insert(HELM_CHART_CONTAINER.to_owned(), c);
        }
        for (key, value) in values {
            if let Value::Object(sub) = value
                && let Some(c) = as_container(sub, &base.key(key))
            {
                found.insert(key.clone(), c);
            }
        }
    }
    for (name, map) in HelmImageMap::from_annotations(object) {
        if let Some(c) = map.resolve(object) {
            found.insert(name, c);
        }
    }
    let mut out: Vec<Container> = found
        .into_iter()
        .map(|(name, (image, fields))| Container {
            name,
            image,
            kind: ContainerKind::HelmValues,
            fields,
        })
        .collect();
    out.sort_by_key(|c| (c.name != HELM_CHART_CONTAINER, c.name.clone()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn hr(values: Value, annotations: Value) -> Value {
        json!({
            "apiVersion": "helm.fluxcd.io/v1",
            "kind": "HelmRelease",
            "metadata": {"name": "r", "annotations": annotations},
            "spec": {"values": values},
        })
    }

    fn found(obj: &Value) -> Vec<(String, String)> {
        super::super::containers(obj)
            .unwrap()
            .into_iter()
            .map(|c| (c.name, c.image))
            .collect()
    }

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn layouts() {
        let obj = hr(
            json!({
                "image": "repo/app:1.0",
                "sidecar": {"image": "repo/side", "tag": "2.0"},
                "proxy": {"image": "envoy:1", "registry": "gcr.io"},
                "db": {"image": {"repository": "bitnami/postgresql", "tag": "15", "registry": "docker.io"}},
                "cache": {"image": {"repository": "redis:7"}},
                "notimage": {"replicas": 2},
                "badtag": {"image": "repo/x", "tag": 1.1},
            }),
            json!({}),
        );
        assert_eq!(
            found(&obj),
            pairs(&[
                ("chart-image", "repo/app:1.0"),
                ("cache", "redis:7"),
                ("db", "docker.io/bitnami/postgresql:15"),
                ("proxy", "gcr.io/envoy:1"),
                ("sidecar", "repo/side:2.0"),
            ])
        );
    }

    #[test]
    fn top_level_image_map() {
        let obj = hr(
            json!({"image": {"repository": "repo/app", "tag": "v1"}}),
            json!({}),
        );
        let cs = super::super::containers(&obj).unwrap();
        assert_eq!(cs[0].image, "repo/app:v1");
        assert_eq!(
            cs[0].fields,
            ImageFields::Parts {
                registry: None,
                repository: FieldPath::keys(&["spec", "values", "image", "repository"]),
                tag: Some(FieldPath::keys(&["spec", "values", "image", "tag"])),
            }
        );
    }

    #[test]
    fn annotation_mappings_win_and_need_a_repository() {
        let obj = hr(
            json!({
                "app": {"image": "auto/detected:1"},
                "custom": {"img": {"name": "mapped/app", "version": "3.1", "host": "quay.io"}},
                "onlyrepo": {"ref": "whole/ref:9"},
            }),
            json!({
                "repository.fluxcd.io/app": "custom.img.name",
                "tag.fluxcd.io/app": "custom.img.version",
                "registry.fluxcd.io/app": "custom.img.host",
                "repository.fluxcd.io/solo": "onlyrepo.ref",
                "tag.fluxcd.io/tagonly": "custom.img.version",
                "repository.fluxcd.io/missing": "no.such.path",
            }),
        );
        assert_eq!(
            found(&obj),
            pairs(&[("app", "quay.io/mapped/app:3.1"), ("solo", "whole/ref:9")])
        );
    }

    #[test]
    fn legacy_flux_helm_release() {
        let obj = json!({"apiVersion": "flux.weave.works/v1beta1", "kind": "FluxHelmRelease",
                         "metadata": {"name": "x"}, "spec": {"values": {"image": "a/b:1"}}});
        assert_eq!(found(&obj), pairs(&[("chart-image", "a/b:1")]));
    }

    #[test]
    fn template_like_or_empty_values_are_not_images() {
        let obj = hr(
            json!({"image": "", "x": {"image": "{{ .Values.img }}"}}),
            json!({}),
        );
        assert!(found(&obj).is_empty());
    }
}
