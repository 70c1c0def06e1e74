//! Edits to manifest files that keep every other byte.
//!
//! Releases and policy changes end as commits to the user's repository, and
//! users read those diffs: an edit here changes the one value (or the one
//! annotation line) it must and nothing else, in any layout the manifest
//! model reads: multi-document files, `kind: List` items, plain, quoted and
//! flow-style scalars, CRLF line ends, comments and odd indentation, and
//! HelmRelease values split into registry, repository and tag.
//!
//! # How
//!
//! The edit is a splice into the original text at byte spans reported by
//! the YAML parser ([`crate::yaml::SpannedEvents`]). Only the target document
//! is built as a tree; the ones before it are read as events and dropped,
//! and those after it are not read. A replaced scalar keeps its quoting
//! style, falling back to double quotes when the new value would otherwise
//! read as something else (`"1.10"`, `"true"`). Every edit is then checked:
//! the edited document is parsed again and must equal the original with
//! exactly the intended change, or the edit is refused and nothing changes.
//!
//! # Why not a comment-preserving YAML library
//!
//! Decided by measurement (`benches/compare/README.md`): yaml-edit, the
//! maintained lossless YAML editor for Rust, was exact on 7 of this module's
//! 10 layouts (it drops the quotes of quoted values and moves a comment that
//! sits between key and value) and 9x slower on a 1,000-document file;
//! `nondestructive` handles one document per file and no aliases. Splicing
//! at parser spans was exact on all of them and reuses the parser the
//! manifest model already trusts.

mod annotations;
mod image;
pub(crate) mod scalar;
mod tree;

use std::ops::Range;

use serde_json::Value;

use crate::manifest::SourceRef;
use crate::workload::{FieldPath, PathSegment, WorkloadError};
use crate::yaml::{self, YamlError};

pub use annotations::set_annotations;
pub use image::set_container_image;

use tree::{Doc, FindError, Node, NodeKind};

/// Why an edit was not made. The text is never changed when one is returned.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    /// The file is not valid YAML.
    #[error("{file}: {source}")]
    Yaml {
        /// The file.
        file: String,
        /// What the parser said (with the line).
        #[source]
        source: YamlError,
    },
    /// The document is not in the file (it changed since it was read).
    #[error("{file}: has no document {document}; the file changed since it was read")]
    NoDocument {
        /// The file.
        file: String,
        /// The document index.
        document: usize,
    },
    /// The resource is not at the expected place in its document.
    #[error("{at}: {message}")]
    NoResource {
        /// Where the resource was read.
        at: Box<SourceRef>,
        /// What was found instead.
        message: String,
    },
    /// The workload's containers could not be read.
    #[error("{at}: {source}")]
    Workload {
        /// The resource.
        at: Box<SourceRef>,
        /// Why.
        #[source]
        source: WorkloadError,
    },
    /// The workload has no container of that name.
    #[error("{at}: no container {container:?} (it has: {known})")]
    UnknownContainer {
        /// The resource.
        at: Box<SourceRef>,
        /// The name asked for.
        container: String,
        /// The names it has, comma-separated.
        known: String,
    },
    /// The field exists but cannot be edited in place.
    #[error("{at}: {field}: {reason}; not editing it")]
    NotEditable {
        /// The resource.
        at: Box<SourceRef>,
        /// The field, from the object root.
        field: String,
        /// Why not.
        reason: String,
    },
    /// The new image does not fit the fields that hold it.
    #[error("{at}: cannot write {image} into {field}: {reason}")]
    ImageDoesNotFit {
        /// The resource.
        at: Box<SourceRef>,
        /// The image.
        image: String,
        /// The field(s).
        field: String,
        /// Why not.
        reason: String,
    },
    /// The edited document did not read back as intended.
    #[error("{at}: the edit did not read back as intended ({message}); the file is left unchanged")]
    Verification {
        /// The resource.
        at: Box<SourceRef>,
        /// What differed.
        message: String,
    },
}

/// One replacement of a byte range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Splice {
    pub range: Range<usize>,
    pub text: String,
}

/// Applies non-overlapping splices to `text`.
pub(crate) fn apply(text: &str, mut splices: Vec<Splice>) -> String {
    splices.sort_by_key(|s| s.range.start);
    let mut out = String::with_capacity(text.len() + 64);
    let mut pos = 0;
    for s in splices {
        out.push_str(&text[pos..s.range.start]);
        out.push_str(&s.text);
        pos = s.range.end;
    }
    out.push_str(&text[pos..]);
    out
}

/// The target document, its JSON, and the resource's node and path in it.
pub(crate) struct Located {
    pub doc: Doc,
    /// The whole document as JSON.
    pub json: Value,
    /// Path of the resource in the document (`items[i]` or empty).
    pub object_path: Vec<PathSegment>,
}

impl Located {
    pub fn object_json(&self) -> Option<&Value> {
        FieldPath(self.object_path.clone()).get(&self.json)
    }

    pub fn object_node(&self) -> Option<&Node> {
        self.doc.at(&self.doc.root, &self.object_path).ok()
    }
}

pub(crate) fn boxed(at: &SourceRef) -> Box<SourceRef> {
    Box::new(at.clone())
}

/// Finds the resource `at` names in `text`.
pub(crate) fn locate(text: &str, at: &SourceRef) -> Result<Located, UpdateError> {
    let doc = tree::document(text, at.document).map_err(|e| match e {
        FindError::Yaml(source) => UpdateError::Yaml {
            file: at.file.clone(),
            source,
        },
        FindError::NoDocument(document) => UpdateError::NoDocument {
            file: at.file.clone(),
            document,
        },
    })?;
    let json =
        region_json(&text[doc.region.clone()]).map_err(|message| UpdateError::Verification {
            at: boxed(at),
            message: format!("the document cannot be read on its own: {message}"),
        })?;
    let object_path = match at.item {
        Some(i) => vec![PathSegment::Key("items".into()), PathSegment::Index(i)],
        None => Vec::new(),
    };
    let located = Located {
        doc,
        json,
        object_path,
    };
    let ok = located.object_json().is_some_and(Value::is_object)
        && located
            .object_node()
            .is_some_and(|n| matches!(n.kind, NodeKind::Mapping { .. }));
    if !ok {
        return Err(UpdateError::NoResource {
            at: boxed(at),
            message: match at.item {
                Some(i) => format!("document {} has no object at items[{i}]", at.document),
                None => format!("document {} is not a mapping", at.document),
            },
        });
    }
    Ok(located)
}

/// The JSON of the single document in `region`.
fn region_json(region: &str) -> Result<Value, String> {
    let docs = yaml::parse_documents(region, yaml::Limits::default()).map_err(|e| e.to_string())?;
    match <[_; 1]>::try_from(docs) {
        Ok([doc]) => Ok(doc.value),
        Err(docs) => Err(format!("found {} documents instead of one", docs.len())),
    }
}

/// Checks that the edited document reads back as `expected`.
pub(crate) fn verify(
    new_text: &str,
    old_len: usize,
    region: &Range<usize>,
    expected: &Value,
    at: &SourceRef,
) -> Result<(), UpdateError> {
    let end = (region.end + new_text.len()).saturating_sub(old_len);
    let fail = |message: String| UpdateError::Verification {
        at: boxed(at),
        message,
    };
    let region_text = new_text
        .get(region.start..end)
        .ok_or_else(|| fail("the document's extent was lost".into()))?;
    let got = region_json(region_text).map_err(fail)?;
    if &got != expected {
        return Err(fail(first_difference(expected, &got, &mut Vec::new())));
    }
    Ok(())
}

fn first_difference(want: &Value, got: &Value, path: &mut Vec<PathSegment>) -> String {
    match (want, got) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a {
                path.push(PathSegment::Key(k.clone()));
                match b.get(k) {
                    Some(w) if w != v => return first_difference(v, w, path),
                    None => return format!("{} went missing", tree::describe(path)),
                    _ => {}
                }
                path.pop();
            }
            match b.keys().find(|k| !a.contains_key(*k)) {
                Some(k) => format!("{} appeared", tree::describe(path).to_owned() + "." + k),
                None => "a difference".into(),
            }
        }
        _ => format!("{} is {got} instead of {want}", tree::describe(path)),
    }
}

/// Sets `path` (from the object root) in `json` to `value`.
pub(crate) fn set_json(json: &mut Value, path: &[PathSegment], value: Value) {
    let mut cur = json;
    for seg in path {
        cur = match seg {
            PathSegment::Key(k) => {
                if !cur.is_object() {
                    *cur = Value::Object(serde_json::Map::new());
                }
                match cur {
                    Value::Object(m) => m.entry(k.clone()).or_insert(Value::Null),
                    _ => return,
                }
            }
            PathSegment::Index(i) => match cur.get_mut(*i) {
                Some(v) => v,
                None => return,
            },
        };
    }
    *cur = value;
}

/// The line ending the file uses (`\r\n` if its first line ends so).
pub(crate) fn line_ending(text: &str) -> &'static str {
    match text.find('\n') {
        Some(i) if i > 0 && text.as_bytes()[i - 1] == b'\r' => "\r\n",
        _ => "\n",
    }
}

/// Where the line holding the last content before `pos` ends: the index of
/// its `\r\n` or `\n`, or the end of `text`.
pub(crate) fn end_of_content_line(text: &str, pos: usize) -> usize {
    let content = text[..pos].trim_end_matches([' ', '\t', '\r', '\n']).len();
    match text[content..].find('\n') {
        Some(i) => {
            let nl = content + i;
            if nl > 0 && text.as_bytes()[nl - 1] == b'\r' {
                nl - 1
            } else {
                nl
            }
        }
        None => text.len(),
    }
}

/// The start of the line holding `pos`.
pub(crate) fn line_start(text: &str, pos: usize) -> usize {
    text[..pos].rfind('\n').map_or(0, |i| i + 1)
}

#[cfg(test)]
mod tests;
