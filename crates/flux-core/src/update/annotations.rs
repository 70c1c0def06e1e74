//! Adding, changing and removing annotations (how policies are written).

use serde_json::Value;

use super::tree::{Doc, Node, NodeKind};
use super::{
    Splice, UpdateError, apply, boxed, end_of_content_line, line_ending, line_start, locate,
    scalar, verify,
};
use crate::manifest::SourceRef;
use crate::policy::AnnotationChange;

/// Applies annotation changes to the resource at `at` in `text` and returns
/// the new text.
///
/// A changed value keeps its place and quoting; a new key goes after the
/// last annotation, indented like the others; removing the last annotation
/// removes `annotations:` itself, and a missing `annotations:` is created
/// after the last `metadata` entry with the file's own indentation.
///
/// ```
/// use flux_core::manifest::SourceRef;
/// use flux_core::policy::AnnotationChange;
/// use flux_core::update::set_annotations;
/// let text = "kind: Deployment\nmetadata:\n    name: web # the web tier\n";
/// let at = SourceRef { file: "web.yaml".into(), document: 0, item: None, line: 1 };
/// let add = AnnotationChange { key: "fluxcd.io/automated".into(), value: Some("true".into()) };
/// let out = set_annotations(text, &at, &[add]).unwrap();
/// assert_eq!(out, "kind: Deployment\nmetadata:\n    name: web # the web tier\n    annotations:\n        fluxcd.io/automated: \"true\"\n");
/// let remove = AnnotationChange { key: "fluxcd.io/automated".into(), value: None };
/// assert_eq!(set_annotations(&out, &at, &[remove]).unwrap(), text);
/// ```
pub fn set_annotations(
    text: &str,
    at: &SourceRef,
    changes: &[AnnotationChange],
) -> Result<String, UpdateError> {
    let original = locate(text, at)?;
    let region = original.doc.region.clone();
    let mut expected = original.json.clone();
    let mut ordered: Vec<&AnnotationChange> =
        changes.iter().filter(|c| c.value.is_some()).collect();
    ordered.extend(changes.iter().filter(|c| c.value.is_none()));
    // Later changes re-read only this document, as a stream of its own.
    let local = SourceRef {
        document: 0,
        ..at.clone()
    };
    let mut doc_text = text[region.clone()].to_owned();
    for (i, change) in ordered.into_iter().enumerate() {
        let splices = if i == 0 {
            let Some(object) = original.object_node() else {
                continue;
            };
            let mut splices = one_change(text, &original.doc, object, change, at)?;
            for s in &mut splices {
                s.range = s.range.start - region.start..s.range.end - region.start;
            }
            splices
        } else {
            let located = locate(&doc_text, &local)?;
            let Some(object) = located.object_node() else {
                continue;
            };
            one_change(&doc_text, &located.doc, object, change, at)?
        };
        doc_text = apply(&doc_text, splices);
        expect(&mut expected, &original.object_path, change);
    }
    let new = format!("{}{doc_text}{}", &text[..region.start], &text[region.end..]);
    verify(&new, text.len(), &region, &expected, at)?;
    Ok(new)
}

/// Applies a change to the expected JSON.
fn expect(json: &mut Value, object_path: &[super::PathSegment], change: &AnnotationChange) {
    let mut object = json;
    for seg in object_path {
        let next = match seg {
            super::PathSegment::Key(k) => object.get_mut(k),
            super::PathSegment::Index(i) => object.get_mut(*i),
        };
        let Some(next) = next else { return };
        object = next;
    }
    let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    match &change.value {
        Some(v) => {
            let annotations = metadata
                .entry("annotations")
                .or_insert_with(|| Value::Object(serde_json::Map::new()));
            if !annotations.is_object() {
                *annotations = Value::Object(serde_json::Map::new());
            }
            if let Some(m) = annotations.as_object_mut() {
                m.insert(change.key.clone(), Value::String(v.clone()));
            }
        }
        None => {
            let Some(m) = metadata
                .get_mut("annotations")
                .and_then(Value::as_object_mut)
            else {
                return;
            };
            if m.remove(&change.key).is_some() && m.is_empty() {
                metadata.remove("annotations");
            }
        }
    }
}

fn one_change(
    text: &str,
    doc: &Doc,
    object: &Node,
    change: &AnnotationChange,
    at: &SourceRef,
) -> Result<Vec<Splice>, UpdateError> {
    let not_editable = |field: &str, reason: &str| UpdateError::NotEditable {
        at: boxed(at),
        field: field.to_owned(),
        reason: reason.to_owned(),
    };
    let Some(meta) = doc.entry(object, "metadata") else {
        return Err(not_editable("metadata", "there is no metadata mapping"));
    };
    let metadata = meta.value;
    if !matches!(metadata.kind, NodeKind::Mapping { .. }) {
        return Err(not_editable("metadata", "it is not a mapping"));
    }
    let eol = line_ending(text);
    let annotations = doc.entry(metadata, "annotations");
    let key_text = scalar::render_new(&change.key, true);
    match (&change.value, annotations) {
        // Removing from nothing changes nothing.
        (None, None) => Ok(Vec::new()),
        (None, Some(ann)) => {
            let Some(entry) = doc.entry(ann.value, &change.key) else {
                return Ok(Vec::new());
            };
            let count = match &ann.value.kind {
                NodeKind::Mapping { entries, .. } => entries.len(),
                _ => 0,
            };
            if count == 1 {
                remove_entry(text, metadata, ann.index).ok_or_else(|| {
                    not_editable(
                        "metadata.annotations",
                        "it shares a line with another entry",
                    )
                })
            } else {
                remove_entry(text, ann.value, entry.index).ok_or_else(|| {
                    not_editable(
                        &format!("metadata.annotations.{}", change.key),
                        "it shares a line with another entry",
                    )
                })
            }
        }
        (Some(value), Some(ann)) => match &ann.value.kind {
            NodeKind::Mapping { flow, entries, end } => {
                if let Some(entry) = doc.entry(ann.value, &change.key) {
                    let field = format!("metadata.annotations.{}", change.key);
                    let style = match &entry.value.kind {
                        NodeKind::Scalar {
                            style,
                            properties: false,
                        } => *style,
                        _ => return Err(not_editable(&field, "the value is not a plain string")),
                    };
                    if doc.text(entry.value) == Some(value.as_str()) {
                        return Ok(Vec::new());
                    }
                    let in_flow = *flow || metadata.is_flow() || object.is_flow();
                    let rendered = scalar::render(value, style, in_flow).ok_or_else(|| {
                        not_editable(&field, "the value is a block scalar (| or >)")
                    })?;
                    return Ok(vec![Splice {
                        range: entry.value.span.start..entry.value.span.end,
                        text: rendered,
                    }]);
                }
                let entry_text = format!("{key_text}: {}", scalar::render_new(value, true));
                if *flow {
                    return Ok(vec![flow_insert(entries, end, &entry_text)]);
                }
                let (first_key, _) = &entries[0];
                let pos = end_of_content_line(text, ann.value.content_end());
                Ok(vec![Splice {
                    range: pos..pos,
                    text: format!("{eol}{}{entry_text}", " ".repeat(first_key.col)),
                }])
            }
            NodeKind::Scalar { .. } if doc.text(ann.value).is_some_and(is_null) => {
                let entry_text = format!("{key_text}: {}", scalar::render_new(value, true));
                if metadata.is_flow() {
                    return Ok(vec![Splice {
                        range: ann.value.span.start..ann.value.span.end,
                        text: format!("{{{entry_text}}}"),
                    }]);
                }
                let colon = text[ann.key.span.end..]
                    .find(':')
                    .map_or(ann.key.span.end, |i| ann.key.span.end + i + 1);
                let step = indent_step(doc, object, metadata);
                Ok(vec![Splice {
                    range: colon..ann.value.span.end.max(colon),
                    text: format!("{eol}{}{entry_text}", " ".repeat(ann.key.col + step)),
                }])
            }
            _ => Err(not_editable(
                "metadata.annotations",
                "it is not a mapping of strings",
            )),
        },
        (Some(value), None) => {
            let NodeKind::Mapping { flow, entries, end } = &metadata.kind else {
                return Err(not_editable("metadata", "it is not a mapping"));
            };
            let entry_text = format!("{key_text}: {}", scalar::render_new(value, true));
            if *flow {
                let text = format!("annotations: {{{entry_text}}}");
                return Ok(vec![flow_insert(entries, end, &text)]);
            }
            let Some((first_key, _)) = entries.first() else {
                return Err(not_editable("metadata", "it is empty"));
            };
            let step = indent_step(doc, object, metadata);
            let col = first_key.col;
            let pos = end_of_content_line(text, metadata.content_end());
            Ok(vec![Splice {
                range: pos..pos,
                text: format!(
                    "{eol}{}annotations:{eol}{}{entry_text}",
                    " ".repeat(col),
                    " ".repeat(col + step)
                ),
            }])
        }
    }
}

fn is_null(s: &str) -> bool {
    matches!(s, "" | "~" | "null" | "Null" | "NULL")
}

/// The file's indentation step, taken from `metadata`: how far its entries
/// sit right of the `metadata` key (2 if that cannot be told).
fn indent_step(doc: &Doc, object: &Node, metadata: &Node) -> usize {
    let key_col = doc.entry(object, "metadata").map(|e| e.key.col);
    let entry_col = match &metadata.kind {
        NodeKind::Mapping {
            flow: false,
            entries,
            ..
        } => entries.first().map(|(k, _)| k.col),
        _ => None,
    };
    match (key_col, entry_col) {
        (Some(k), Some(e)) if e > k => e - k,
        _ => 2,
    }
}

/// Inserts an entry into a flow mapping, after its last entry.
fn flow_insert(entries: &[(Node, Node)], end: &crate::yaml::ByteSpan, entry: &str) -> Splice {
    match entries.last() {
        Some((_, v)) => {
            let pos = v.content_end();
            Splice {
                range: pos..pos,
                text: format!(", {entry}"),
            }
        }
        None => Splice {
            range: end.start..end.start,
            text: entry.to_owned(),
        },
    }
}

/// Removes entry `index` of a mapping; `None` if a block entry does not
/// have its lines to itself.
fn remove_entry(text: &str, map: &Node, index: usize) -> Option<Vec<Splice>> {
    let NodeKind::Mapping { flow, entries, .. } = &map.kind else {
        return None;
    };
    let (key, value) = entries.get(index)?;
    if *flow {
        let range = if let Some((next_key, _)) = entries.get(index + 1) {
            key.span.start..next_key.span.start
        } else if index > 0 {
            entries[index - 1].1.content_end()..value.content_end()
        } else {
            key.span.start..value.content_end()
        };
        return Some(vec![Splice {
            range,
            text: String::new(),
        }]);
    }
    let start = line_start(text, key.span.start);
    if !text[start..key.span.start].chars().all(|c| c == ' ') {
        return None;
    }
    let end = end_of_content_line(text, value.content_end());
    // Take the line's end too, or, on the last line, the one before it.
    let rest = &text[end..];
    let end = if rest.starts_with("\r\n") {
        end + 2
    } else if rest.starts_with('\n') {
        end + 1
    } else {
        end
    };
    let start = if end == text.len() && !text[..end].ends_with('\n') && start > 0 {
        text[..start - 1]
            .strip_suffix('\r')
            .map_or(start - 1, str::len)
    } else {
        start
    };
    Some(vec![Splice {
        range: start..end,
        text: String::new(),
    }])
}
