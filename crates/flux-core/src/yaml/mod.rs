//! YAML streams read the way Kubernetes reads them, with positions, under budgets.
//!
//! Flux compares what is in git with what is in the cluster, and the cluster
//! sees JSON: so every manifest is turned into a [`serde_json::Value`] with the
//! scalar rules `kubectl` applies (YAML 1.1 booleans such as `yes`/`on`,
//! octal `0755`, merge keys `<<`). Positions are kept so that errors can name
//! a line, and byte spans are available to editors through [`SpannedEvents`].
//!
//! Hostile input is bounded: alias expansion has a node budget (no "billion
//! laughs"), nesting has a depth limit, and duplicate keys are an error rather
//! than a silent last-one-wins.

mod scalar;

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Span};
use serde_json::{Map, Value};

pub(crate) use scalar::resolve_plain;
use scalar::resolve_scalar;

/// Bounds on the work one YAML stream may cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Deepest nesting of mappings and sequences allowed.
    pub max_depth: usize,
    /// Most nodes that aliases may copy in, per stream.
    pub max_alias_nodes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 256,
            max_alias_nodes: 100_000,
        }
    }
}

/// One document of a stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// The document's content as JSON (`Null` for an empty document).
    pub value: Value,
    /// Index of the document in the stream, from 0.
    pub index: usize,
    /// 1-based line where the document's content starts.
    pub line: usize,
    /// For a top-level mapping with an `items` sequence (a `List`), the 1-based
    /// line of each item.
    pub item_lines: Vec<usize>,
}

/// Why a YAML stream could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line} column {column}: {message}")]
pub struct YamlError {
    /// 1-based line of the problem.
    pub line: usize,
    /// 1-based column of the problem.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

/// A byte range in the source text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ByteSpan {
    /// First byte (inclusive).
    pub start: usize,
    /// Last byte (exclusive).
    pub end: usize,
}

/// A parser event with its byte span and start position.
#[derive(Debug, Clone, PartialEq)]
pub struct SpannedEvent<'a> {
    /// The event, as saphyr-parser reports it.
    pub event: Event<'a>,
    /// Where in the source it is, in bytes.
    pub span: ByteSpan,
    /// 1-based line of the start.
    pub line: usize,
    /// 0-based column (in characters) of the start.
    pub col: usize,
}

/// The YAML event stream of a text, with spans in bytes rather than characters.
///
/// saphyr-parser counts positions in characters; editors that splice new
/// values into the text need byte offsets, which this iterator supplies.
pub struct SpannedEvents<'a> {
    text: &'a str,
    parser: Parser<'a, saphyr_parser::StrInput<'a>>,
    ascii: bool,
    cursor: (usize, usize),
}

impl<'a> SpannedEvents<'a> {
    /// Starts reading `text`.
    pub fn new(text: &'a str) -> Self {
        SpannedEvents {
            text,
            parser: Parser::new_from_str(text),
            ascii: text.is_ascii(),
            cursor: (0, 0),
        }
    }

    /// Converts a character index into a byte index. Positions mostly arrive
    /// in increasing order, so a cursor makes this linear overall.
    fn byte_index(&mut self, char_index: usize) -> usize {
        if self.ascii {
            return char_index.min(self.text.len());
        }
        let (mut chars, mut bytes) = self.cursor;
        if char_index < chars {
            (chars, bytes) = (0, 0);
        }
        let rest = &self.text[bytes..];
        let mut it = rest.char_indices();
        while chars < char_index {
            match it.next() {
                Some(_) => chars += 1,
                None => break,
            }
        }
        let offset = it.next().map_or(rest.len(), |(i, _)| i);
        bytes += offset;
        self.cursor = (chars, bytes);
        bytes
    }

    fn convert(&mut self, span: Span) -> (ByteSpan, usize, usize) {
        let start = self.byte_index(span.start.index());
        let end = self.byte_index(span.end.index()).max(start);
        (ByteSpan { start, end }, span.start.line(), span.start.col())
    }
}

impl<'a> Iterator for SpannedEvents<'a> {
    type Item = Result<SpannedEvent<'a>, YamlError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.parser.next_event()? {
            Ok((event, span)) => {
                let (span, line, col) = self.convert(span);
                Some(Ok(SpannedEvent {
                    event,
                    span,
                    line,
                    col,
                }))
            }
            Err(e) => {
                let m = e.marker();
                Some(Err(YamlError {
                    line: m.line(),
                    column: m.col() + 1,
                    message: e.info().to_owned(),
                }))
            }
        }
    }
}

/// Reads every document of a YAML stream as JSON.
///
/// ```
/// use flux_core::yaml::{parse_documents, Limits};
/// let docs = parse_documents("a: yes\nb: 0755\n---\n# empty\n", Limits::default()).unwrap();
/// assert_eq!(docs.len(), 2);
/// assert_eq!(docs[0].value["a"], true);
/// assert_eq!(docs[0].value["b"], 493);
/// assert!(docs[1].value.is_null());
/// ```
pub fn parse_documents(text: &str, limits: Limits) -> Result<Vec<Document>, YamlError> {
    let mut builder = Builder {
        events: SpannedEvents::new(text),
        anchors: HashMap::new(),
        alias_nodes: 0,
        limits,
    };
    builder.stream()
}

struct Builder<'a> {
    events: SpannedEvents<'a>,
    anchors: HashMap<usize, (Value, usize)>,
    alias_nodes: usize,
    limits: Limits,
}

fn at(line: usize, col: usize, message: impl Into<String>) -> YamlError {
    YamlError {
        line,
        column: col + 1,
        message: message.into(),
    }
}

impl<'a> Builder<'a> {
    fn next(&mut self) -> Result<SpannedEvent<'a>, YamlError> {
        match self.events.next() {
            Some(r) => r,
            None => Err(YamlError {
                line: 0,
                column: 0,
                message: "unexpected end of input".into(),
            }),
        }
    }

    fn stream(&mut self) -> Result<Vec<Document>, YamlError> {
        let mut docs = Vec::new();
        loop {
            let ev = self.next()?;
            match ev.event {
                Event::StreamStart | Event::DocumentEnd | Event::Nothing => {}
                Event::StreamEnd => return Ok(docs),
                Event::DocumentStart(_) => {
                    let first = self.next()?;
                    let line = first.line;
                    let mut item_lines = Vec::new();
                    let (value, _) = self.node(first, 0, Some(&mut item_lines))?;
                    docs.push(Document {
                        value,
                        index: docs.len(),
                        line,
                        item_lines,
                    });
                    // Anchors do not cross document boundaries.
                    self.anchors.clear();
                }
                other => {
                    return Err(at(ev.line, ev.col, format!("unexpected {other:?}")));
                }
            }
        }
    }

    /// Builds the node that starts with `ev`. Returns the value and its node count.
    /// `items`, when given, receives the lines of the elements of an `items`
    /// sequence found directly under a top-level mapping.
    fn node(
        &mut self,
        ev: SpannedEvent<'a>,
        depth: usize,
        items: Option<&mut Vec<usize>>,
    ) -> Result<(Value, usize), YamlError> {
        if depth > self.limits.max_depth {
            return Err(at(
                ev.line,
                ev.col,
                format!("nesting deeper than {} levels", self.limits.max_depth),
            ));
        }
        let (line, col) = (ev.line, ev.col);
        let (value, count, anchor) = match ev.event {
            Event::Scalar(text, style, anchor, tag) => {
                let v =
                    resolve_scalar(&text, style, tag.as_deref()).map_err(|m| at(line, col, m))?;
                (v, 1, anchor)
            }
            Event::Alias(id) => {
                let Some((value, count)) = self.anchors.get(&id) else {
                    return Err(at(line, col, "alias to an unknown anchor"));
                };
                self.alias_nodes += count;
                if self.alias_nodes > self.limits.max_alias_nodes {
                    return Err(at(
                        line,
                        col,
                        format!(
                            "aliases expand to more than {} nodes (possible alias bomb)",
                            self.limits.max_alias_nodes
                        ),
                    ));
                }
                return Ok((value.clone(), *count));
            }
            Event::SequenceStart(anchor, _) => {
                let mut seq = Vec::new();
                let mut count = 1;
                let mut lines = items;
                loop {
                    let ev = self.next()?;
                    if matches!(ev.event, Event::SequenceEnd) {
                        break;
                    }
                    if let Some(lines) = lines.as_deref_mut() {
                        lines.push(ev.line);
                    }
                    let (v, c) = self.node(ev, depth + 1, None)?;
                    count += c;
                    seq.push(v);
                }
                (Value::Array(seq), count, anchor)
            }
            Event::MappingStart(anchor, _) => {
                let (map, count) = self.mapping(depth, items)?;
                (Value::Object(map), count, anchor)
            }
            other => return Err(at(line, col, format!("unexpected {other:?}"))),
        };
        if anchor != 0 {
            self.anchors.insert(anchor, (value.clone(), count));
        }
        Ok((value, count))
    }

    fn mapping(
        &mut self,
        depth: usize,
        mut items: Option<&mut Vec<usize>>,
    ) -> Result<(Map<String, Value>, usize), YamlError> {
        let mut map = Map::new();
        let mut merges: Vec<Map<String, Value>> = Vec::new();
        let mut count = 1;
        loop {
            let key_ev = self.next()?;
            if matches!(key_ev.event, Event::MappingEnd) {
                break;
            }
            let (kline, kcol) = (key_ev.line, key_ev.col);
            let is_merge = matches!(
                &key_ev.event,
                Event::Scalar(t, ScalarStyle::Plain, _, None) if t == "<<"
            );
            let (key, kc) = self.node(key_ev, depth + 1, None)?;
            let value_ev = self.next()?;
            let (vline, vcol) = (value_ev.line, value_ev.col);
            if is_merge {
                let (v, vc) = self.node(value_ev, depth + 1, None)?;
                count += kc + vc;
                match v {
                    Value::Object(m) => merges.push(m),
                    Value::Array(list) => {
                        for item in list {
                            match item {
                                Value::Object(m) => merges.push(m),
                                _ => {
                                    return Err(at(
                                        vline,
                                        vcol,
                                        "a merge key (<<) must point at mappings",
                                    ));
                                }
                            }
                        }
                    }
                    _ => {
                        return Err(at(vline, vcol, "a merge key (<<) must point at a mapping"));
                    }
                }
                continue;
            }
            let key = key_string(key).map_err(|m| at(kline, kcol, m))?;
            let want_items = depth == 0 && key == "items";
            let (v, vc) = self.node(
                value_ev,
                depth + 1,
                if want_items {
                    items.as_deref_mut()
                } else {
                    None
                },
            )?;
            count += kc + vc;
            match map.entry(key) {
                serde_json::map::Entry::Vacant(slot) => {
                    slot.insert(v);
                }
                serde_json::map::Entry::Occupied(slot) => {
                    let message = format!("duplicate key {:?} in a mapping", slot.key());
                    return Err(at(kline, kcol, message));
                }
            }
        }
        for merged in merges {
            for (k, v) in merged {
                map.entry(k).or_insert(v);
            }
        }
        Ok((map, count))
    }
}

fn key_string(key: Value) -> Result<String, String> {
    match key {
        Value::String(s) => Ok(s),
        Value::Null => Ok("null".into()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Array(_) | Value::Object(_) => {
            Err("a mapping key must be a scalar to be valid JSON".into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn one(text: &str) -> Value {
        let docs = parse_documents(text, Limits::default()).expect("valid YAML");
        assert_eq!(docs.len(), 1, "{docs:?}");
        docs.into_iter().next().map(|d| d.value).unwrap_or_default()
    }

    fn scalar(text: &str) -> Value {
        one(&format!("v: {text}\n"))["v"].clone()
    }

    macro_rules! scalars {
        ($($name:ident: $text:expr => $want:expr;)*) => {
            $(#[test] fn $name() { assert_eq!(scalar($text), $want, "{}", $text); })*
        };
    }

    scalars! {
        yes_is_true: "yes" => json!(true);
        on_is_true: "On" => json!(true);
        n_is_false: "n" => json!(false);
        quoted_yes_is_string: "'yes'" => json!("yes");
        tilde_is_null: "~" => json!(null);
        empty_is_null: "" => json!(null);
        decimal: "42" => json!(42);
        negative: "-42" => json!(-42);
        octal: "0755" => json!(493);
        hex: "0x1F" => json!(31);
        binary: "0b101" => json!(5);
        underscores: "1_000" => json!(1000);
        float: "1.5" => json!(1.5);
        float_exp: "1e3" => json!(1000.0);
        leading_dot: ".5" => json!(0.5);
        bad_octal_is_float: "08" => json!(8.0);
        version_is_string: "1.2.3" => json!("1.2.3");
        image_is_string: "nginx:1.25" => json!("nginx:1.25");
        tagged_str: "!!str 123" => json!("123");
        tagged_int: "!!int '7'" => json!(7);
        big_int_is_float: "123456789012345678901234" => json!(1.2345678901234568e23);
        min_i64: "-9223372036854775808" => json!(i64::MIN);
        block_literal: "|\n  a\n  b" => json!("a\nb\n");
        dash_word: "-foo" => json!("-foo");
    }

    #[test]
    fn infinity_is_an_error() {
        let e = parse_documents("v: .inf\n", Limits::default()).unwrap_err();
        assert!(e.message.contains("JSON"), "{e}");
        assert_eq!(e.line, 1);
    }

    #[test]
    fn documents_lines_and_items() {
        let text = "# head\napiVersion: v1\nkind: List\nitems:\n- kind: A\n  x: 1\n-   kind: B\n---\n\n---\nz: 1\n";
        let docs = parse_documents(text, Limits::default()).unwrap();
        assert_eq!(docs.len(), 3);
        assert_eq!(docs[0].line, 2);
        assert_eq!(docs[0].item_lines, vec![5, 7]);
        assert!(docs[1].value.is_null());
        assert_eq!(docs[2].line, 11);
        assert_eq!(docs[2].index, 2);
    }

    #[test]
    fn merge_keys_and_aliases() {
        let v = one("base: &b {a: 1, b: 2}\nderived:\n  <<: *b\n  b: 3\nlist: [*b, *b]\n");
        assert_eq!(v["derived"], json!({"a": 1, "b": 3}));
        assert_eq!(v["list"][1], json!({"a": 1, "b": 2}));
    }

    #[test]
    fn duplicate_key_is_an_error() {
        let e = parse_documents("a: 1\nb: 2\na: 3\n", Limits::default()).unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.message.contains("duplicate key \"a\""), "{e}");
    }

    #[test]
    fn syntax_error_has_position() {
        let e = parse_documents("a: [1, 2\nb: 3\n", Limits::default()).unwrap_err();
        assert!(e.line >= 1, "{e}");
    }

    #[test]
    fn alias_bomb_is_bounded() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let prev = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"
            ));
        }
        let e = parse_documents(&text, Limits::default()).unwrap_err();
        assert!(e.message.contains("alias bomb"), "{e}");
    }

    #[test]
    fn deep_nesting_is_bounded() {
        // saphyr-parser stops at its own recursion limit first for very deep
        // input; a lower configured limit is ours to enforce.
        let text = format!("{}{}", "[".repeat(300), "]".repeat(300));
        let e = parse_documents(&text, Limits::default()).unwrap_err();
        assert!(
            e.message.contains("recursion limit") || e.message.contains("nesting"),
            "{e}"
        );
        let limits = Limits {
            max_depth: 10,
            ..Limits::default()
        };
        let text = format!("{}{}", "[".repeat(20), "]".repeat(20));
        let e = parse_documents(&text, limits).unwrap_err();
        assert!(e.message.contains("nesting deeper than 10 levels"), "{e}");
    }

    #[test]
    fn complex_key_is_an_error() {
        let e = parse_documents("? [a, b]\n: 1\n", Limits::default()).unwrap_err();
        assert!(e.message.contains("scalar"), "{e}");
    }

    #[test]
    fn byte_spans_with_multibyte_text() {
        let text = "é: ü\nkey: \"value\"\n";
        let spans: Vec<_> = SpannedEvents::new(text)
            .filter_map(Result::ok)
            .filter(|e| matches!(e.event, Event::Scalar(..)))
            .map(|e| &text[e.span.start..e.span.end])
            .collect();
        assert_eq!(spans, ["é", "ü", "key", "\"value\""]);
    }
}
