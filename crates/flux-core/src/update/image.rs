//! Setting a container's image.

use serde_json::Value;

use super::tree::NodeKind;
use super::{Located, Splice, UpdateError, apply, boxed, locate, scalar, set_json, verify};
use crate::image::ImageRef;
use crate::manifest::SourceRef;
use crate::workload::{self, FieldPath, ImageFields};

/// Sets the image of `container` in the resource at `at` (its document, and
/// `List` item if any) in `text`, and returns the new text.
///
/// Only the scalar(s) holding the image change. For a HelmRelease whose
/// image is split into registry, repository and tag values, only the parts
/// that differ are rewritten (a release changes just the tag).
///
/// ```
/// use flux_core::manifest::SourceRef;
/// use flux_core::update::set_container_image;
/// let text = "kind: Deployment\nmetadata: {name: web}\nspec:\n  template:\n    spec:\n      containers:\n      - name: app\n        image: 'nginx:1.25'   # pinned\n";
/// let at = SourceRef { file: "web.yaml".into(), document: 0, item: None, line: 1 };
/// let out = set_container_image(text, &at, "app", &"nginx:1.26".parse().unwrap()).unwrap();
/// assert_eq!(out, text.replace("'nginx:1.25'", "'nginx:1.26'"));
/// ```
pub fn set_container_image(
    text: &str,
    at: &SourceRef,
    container: &str,
    image: &ImageRef,
) -> Result<String, UpdateError> {
    let located = locate(text, at)?;
    let object = located.object_json().cloned().unwrap_or(Value::Null);
    let containers = workload::containers(&object).map_err(|source| UpdateError::Workload {
        at: boxed(at),
        source,
    })?;
    let Some(c) = containers.iter().find(|c| c.name == container) else {
        let known: Vec<&str> = containers.iter().map(|c| c.name.as_str()).collect();
        return Err(UpdateError::UnknownContainer {
            at: boxed(at),
            container: container.to_owned(),
            known: if known.is_empty() {
                "no containers".into()
            } else {
                known.join(", ")
            },
        });
    };
    let values = field_values(&c.fields, &object, image).map_err(|(field, reason)| {
        UpdateError::ImageDoesNotFit {
            at: boxed(at),
            image: image.to_string(),
            field,
            reason,
        }
    })?;
    set_fields(text, at, &located, &values)
}

/// The new value of each image field, for the fields that change.
fn field_values(
    fields: &ImageFields,
    object: &Value,
    image: &ImageRef,
) -> Result<Vec<(FieldPath, String)>, (String, String)> {
    let current = |p: &FieldPath| p.get(object).and_then(Value::as_str).map(str::to_owned);
    let mut out = Vec::new();
    match fields {
        ImageFields::Whole(path) => {
            if current(path).as_deref() != Some(&image.to_string()) {
                out.push((path.clone(), image.to_string()));
            }
        }
        ImageFields::Parts {
            registry,
            repository,
            tag,
        } => {
            let describe = || {
                [registry.as_ref(), Some(repository), tag.as_ref()]
                    .into_iter()
                    .flatten()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(" + ")
            };
            let mut name = image.written_name().to_owned();
            if let Some(reg_path) = registry {
                let reg = current(reg_path).unwrap_or_default();
                let reg = reg.trim_end_matches('/');
                match name.strip_prefix(&format!("{reg}/")) {
                    Some(rest) => name = rest.to_owned(),
                    None => {
                        let domain = image.name().domain().to_owned();
                        let path = match name.split_once('/') {
                            Some((first, rest))
                                if first == domain || first.contains(['.', ':']) =>
                            {
                                rest.to_owned()
                            }
                            _ => name.clone(),
                        };
                        out.push((reg_path.clone(), domain));
                        name = path;
                    }
                }
            }
            match tag {
                Some(tag_path) => {
                    let Some(t) = image.tag() else {
                        return Err((describe(), "the image has no tag for the tag field".into()));
                    };
                    if image.digest().is_some() {
                        return Err((
                            describe(),
                            "a digest cannot be written into a tag field".into(),
                        ));
                    }
                    out.push((tag_path.clone(), t.to_owned()));
                }
                None => {
                    if let Some(t) = image.tag() {
                        name = format!("{name}:{t}");
                    }
                    if let Some(d) = image.digest() {
                        name = format!("{name}@{d}");
                    }
                }
            }
            out.push((repository.clone(), name));
            out.retain(|(p, v)| current(p).as_deref() != Some(v.as_str()));
        }
    }
    Ok(out)
}

/// Rewrites string scalars at `values` (paths from the object root).
pub(crate) fn set_fields(
    text: &str,
    at: &SourceRef,
    located: &Located,
    values: &[(FieldPath, String)],
) -> Result<String, UpdateError> {
    if values.is_empty() {
        return Ok(text.to_owned());
    }
    let doc = &located.doc;
    let Some(object) = located.object_node() else {
        return Err(UpdateError::NoResource {
            at: boxed(at),
            message: "the resource went missing".into(),
        });
    };
    let mut splices = Vec::new();
    let mut expected = located.json.clone();
    for (path, value) in values {
        let not_editable = |reason: &str| UpdateError::NotEditable {
            at: boxed(at),
            field: path.to_string(),
            reason: reason.to_owned(),
        };
        let node = doc.at(object, &path.0).map_err(|(_, merge)| {
            not_editable(if merge {
                "the value comes from a YAML merge key (<<)"
            } else {
                "the field is not in the file"
            })
        })?;
        let in_flow = (0..path.0.len())
            .any(|i| doc.at(object, &path.0[..i]).is_ok_and(|n| n.is_flow()))
            || located.object_path.is_empty() && object.is_flow();
        let style = match &node.kind {
            NodeKind::Scalar {
                properties: true, ..
            } => {
                return Err(not_editable("the value has a YAML anchor or tag"));
            }
            NodeKind::Scalar { style, .. } => *style,
            NodeKind::Alias => return Err(not_editable("the value is a YAML alias (*name)")),
            _ => return Err(not_editable("the value is not a string")),
        };
        let rendered = scalar::render(value, style, in_flow)
            .ok_or_else(|| not_editable("the value is a block scalar (| or >)"))?;
        splices.push(Splice {
            range: node.span.start..node.span.end,
            text: rendered,
        });
        let mut full = located.object_path.clone();
        full.extend(path.0.iter().cloned());
        set_json(&mut expected, &full, Value::String(value.clone()));
    }
    let new = apply(text, splices);
    verify(&new, text.len(), &doc.region, &expected, at)?;
    Ok(new)
}
