//! One document of a YAML stream as a tree of nodes with byte spans.
//!
//! Only the document being edited is built; the documents before it are read
//! as events and dropped, and reading stops at its end.

use std::ops::Range;

use saphyr_parser::{Event, ScalarStyle};

use crate::workload::{FieldPath, PathSegment};
use crate::yaml::{ByteSpan, SpannedEvent, SpannedEvents, YamlError};

/// A node of the document.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub kind: NodeKind,
    /// For scalars, the scalar with its properties (`!tag &anchor`); for
    /// collections, the start event (`{`, `[` or empty for block ones).
    pub span: ByteSpan,
    /// 0-based column of the start.
    pub col: usize,
}

#[derive(Debug, Clone)]
pub(crate) enum NodeKind {
    Scalar {
        style: ScalarStyle,
        /// Has an anchor or a tag.
        properties: bool,
    },
    Mapping {
        flow: bool,
        entries: Vec<(Node, Node)>,
        /// The end event (`}` for flow mappings).
        end: ByteSpan,
    },
    Sequence {
        flow: bool,
        items: Vec<Node>,
        end: ByteSpan,
    },
    Alias,
}

impl Node {
    pub fn is_flow(&self) -> bool {
        match &self.kind {
            NodeKind::Mapping { flow, .. } | NodeKind::Sequence { flow, .. } => *flow,
            _ => false,
        }
    }

    /// The last byte of the node's content: the closing bracket of a flow
    /// collection, the end of the last child of a block one.
    pub fn content_end(&self) -> usize {
        match &self.kind {
            NodeKind::Mapping {
                flow: false,
                entries,
                end,
            } => entries
                .last()
                .map_or(end.start.max(self.span.end), |(_, v)| v.content_end()),
            NodeKind::Sequence {
                flow: false,
                items,
                end,
            } => items
                .last()
                .map_or(end.start.max(self.span.end), Node::content_end),
            NodeKind::Mapping { end, .. } | NodeKind::Sequence { end, .. } => end.end,
            NodeKind::Scalar { .. } | NodeKind::Alias => self.span.end,
        }
    }
}

/// The node a key names in a mapping, with its key node.
pub(crate) struct Entry<'n> {
    pub key: &'n Node,
    pub value: &'n Node,
    pub index: usize,
}

/// A parsed document: its tree, the keys' texts, and where it lies.
#[derive(Debug)]
pub(crate) struct Doc {
    pub root: Node,
    /// The document's part of the stream, as a stream of its own (comments
    /// and directives before it included).
    pub region: Range<usize>,
    /// Resolved scalar values by span start (keys and values).
    values: std::collections::HashMap<usize, String>,
}

/// Why a node could not be found or used.
#[derive(Debug)]
pub(crate) enum FindError {
    Yaml(YamlError),
    NoDocument(usize),
}

impl Doc {
    /// The resolved text of a scalar node.
    pub fn text(&self, node: &Node) -> Option<&str> {
        match node.kind {
            NodeKind::Scalar { .. } => self.values.get(&node.span.start).map(String::as_str),
            _ => None,
        }
    }

    /// The entry of `key` in a mapping node.
    pub fn entry<'n>(&self, map: &'n Node, key: &str) -> Option<Entry<'n>> {
        let NodeKind::Mapping { entries, .. } = &map.kind else {
            return None;
        };
        entries
            .iter()
            .enumerate()
            .find(|(_, (k, _))| self.text(k) == Some(key))
            .map(|(index, (key, value))| Entry { key, value, index })
    }

    /// Whether a mapping has a merge key (`<<`).
    pub fn has_merge(&self, map: &Node) -> bool {
        self.entry(map, "<<").is_some_and(|e| {
            matches!(
                e.key.kind,
                NodeKind::Scalar {
                    style: ScalarStyle::Plain,
                    ..
                }
            )
        })
    }

    /// The node at `path` below `from`; `Err` names the first segment that
    /// is missing, and whether a merge key might supply it.
    pub fn at<'n>(&self, from: &'n Node, path: &[PathSegment]) -> Result<&'n Node, (usize, bool)> {
        let mut cur = from;
        for (i, seg) in path.iter().enumerate() {
            let next = match (seg, &cur.kind) {
                (PathSegment::Key(k), NodeKind::Mapping { .. }) => {
                    self.entry(cur, k).map(|e| e.value)
                }
                (PathSegment::Index(n), NodeKind::Sequence { items, .. }) => items.get(*n),
                _ => None,
            };
            cur = match next {
                Some(n) => n,
                None => return Err((i, self.has_merge(cur))),
            };
        }
        Ok(cur)
    }
}

/// Parses document `index` (from 0) of `text`.
pub(crate) fn document(text: &str, index: usize) -> Result<Doc, FindError> {
    let mut events = SpannedEvents::new(text);
    let mut seen = 0;
    let mut region_start = 0;
    let mut values = std::collections::HashMap::new();
    loop {
        let ev = next(&mut events)?;
        match ev.event {
            Event::StreamEnd => return Err(FindError::NoDocument(index)),
            Event::DocumentStart(_) if seen == index => {
                let first = next(&mut events)?;
                let root = build(text, &mut events, first, &mut values, 0)?;
                let end_ev = next(&mut events)?;
                let region_end = if text[end_ev.span.start..end_ev.span.end].starts_with("...") {
                    end_ev.span.end
                } else {
                    end_ev.span.start
                };
                return Ok(Doc {
                    root,
                    region: region_start..region_end.max(region_start),
                    values,
                });
            }
            Event::DocumentStart(_) => {
                seen += 1;
                skip_document(&mut events)?;
                let end_ev = next(&mut events)?;
                region_start = if text[end_ev.span.start..end_ev.span.end].starts_with("...") {
                    end_ev.span.end
                } else {
                    end_ev.span.start
                };
            }
            _ => {}
        }
    }
}

fn next<'a>(events: &mut SpannedEvents<'a>) -> Result<SpannedEvent<'a>, FindError> {
    match events.next() {
        Some(Ok(ev)) => Ok(ev),
        Some(Err(e)) => Err(FindError::Yaml(e)),
        None => Err(FindError::Yaml(YamlError {
            line: 0,
            column: 0,
            message: "unexpected end of input".into(),
        })),
    }
}

/// Skips one node of the document (its content up to, not including, the
/// document end).
fn skip_document(events: &mut SpannedEvents<'_>) -> Result<(), FindError> {
    let mut depth = 0usize;
    loop {
        let ev = next(events)?;
        match ev.event {
            Event::MappingStart(..) | Event::SequenceStart(..) => depth += 1,
            Event::MappingEnd | Event::SequenceEnd => depth = depth.saturating_sub(1),
            _ => {}
        }
        if depth == 0 {
            return Ok(());
        }
    }
}

const MAX_DEPTH: usize = 256;

fn build<'a>(
    text: &str,
    events: &mut SpannedEvents<'a>,
    ev: SpannedEvent<'a>,
    values: &mut std::collections::HashMap<usize, String>,
    depth: usize,
) -> Result<Node, FindError> {
    if depth > MAX_DEPTH {
        return Err(FindError::Yaml(YamlError {
            line: ev.line,
            column: ev.col + 1,
            message: format!("nesting deeper than {MAX_DEPTH} levels"),
        }));
    }
    let (mut span, line, col) = (ev.span, ev.line, ev.col);
    let kind = match ev.event {
        Event::Scalar(value, style, anchor, tag) => {
            // The parser's end of a quoted scalar can run past the closing
            // quote (over blanks and a comment): find the quote itself.
            match style {
                ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted => {
                    if let Some(end) = quoted_end(text, span.start, style) {
                        span.end = end;
                    }
                }
                ScalarStyle::Plain => {
                    let trimmed =
                        text[span.start..span.end].trim_end_matches([' ', '\t', '\r', '\n']);
                    span.end = span.start + trimmed.len();
                }
                _ => {}
            }
            values.insert(span.start, value.into_owned());
            NodeKind::Scalar {
                style,
                properties: anchor != 0 || tag.is_some(),
            }
        }
        Event::Alias(_) => NodeKind::Alias,
        Event::MappingStart(..) => {
            let mut entries = Vec::new();
            loop {
                let k = next(events)?;
                if matches!(k.event, Event::MappingEnd) {
                    break NodeKind::Mapping {
                        flow: false,
                        entries,
                        end: k.span,
                    };
                }
                let key = build(text, events, k, values, depth + 1)?;
                let v = next(events)?;
                let value = build(text, events, v, values, depth + 1)?;
                entries.push((key, value));
            }
        }
        Event::SequenceStart(..) => {
            let mut items = Vec::new();
            loop {
                let item = next(events)?;
                if matches!(item.event, Event::SequenceEnd) {
                    break NodeKind::Sequence {
                        flow: false,
                        items,
                        end: item.span,
                    };
                }
                items.push(build(text, events, item, values, depth + 1)?);
            }
        }
        other => {
            return Err(FindError::Yaml(YamlError {
                line,
                column: col + 1,
                message: format!("unexpected {other:?}"),
            }));
        }
    };
    let mut node = Node { kind, span, col };
    // A flow collection's start span is its opening bracket.
    let flow = span.end > span.start;
    match &mut node.kind {
        NodeKind::Mapping { flow: f, .. } | NodeKind::Sequence { flow: f, .. } => *f = flow,
        _ => {}
    }
    Ok(node)
}

/// The end (after the closing quote) of the quoted scalar at or after
/// `start` (properties such as `&anchor` may come first).
fn quoted_end(text: &str, start: usize, style: ScalarStyle) -> Option<usize> {
    let quote = if style == ScalarStyle::SingleQuoted {
        b'\''
    } else {
        b'"'
    };
    let bytes = text.as_bytes();
    let open = start + bytes.get(start..)?.iter().position(|&b| b == quote)?;
    let mut i = open + 1;
    while i < bytes.len() {
        let b = bytes[i];
        if quote == b'"' && b == b'\\' {
            i += 2;
            continue;
        }
        if b == quote {
            if quote == b'\'' && bytes.get(i + 1) == Some(&b'\'') {
                i += 2;
                continue;
            }
            return Some(i + 1);
        }
        i += 1;
    }
    None
}

/// Describes a path for messages.
pub(crate) fn describe(path: &[PathSegment]) -> String {
    FieldPath(path.to_vec()).to_string()
}
