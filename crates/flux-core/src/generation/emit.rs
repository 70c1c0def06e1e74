//! Writing JSON values as YAML, the same bytes every time.
//!
//! Patch files are committed to the user's repository and rewritten on
//! every release, so their text must depend on their content only: keys in
//! byte order (Kubernetes' and Flux v1's order, which puts
//! `$setElementOrder/containers` before `containers`), two-space
//! indentation, sequence items at their key's indentation (as Flux v1's
//! Go YAML wrote them), strings plain when they read back as the same
//! string and double-quoted otherwise.

use serde_json::{Map, Value};

use crate::update::scalar::{double_quoted, plain_safe};

/// One document, as a block mapping (or scalar) ending with a newline, with
/// no `---` before it.
///
/// ```
/// use serde_json::json;
/// use flux_core::generation::emit_document;
/// let v = json!({"kind": "Deployment", "metadata": {"name": "web", "annotations": {"fluxcd.io/automated": "true"}},
///                "spec": {"template": {"spec": {"containers": [{"name": "app", "image": "nginx:1.25"}]}}}});
/// assert_eq!(emit_document(&v), "\
/// kind: Deployment
/// metadata:
///   annotations:
///     fluxcd.io/automated: \"true\"
///   name: web
/// spec:
///   template:
///     spec:
///       containers:
///       - image: nginx:1.25
///         name: app
/// ");
/// ```
pub fn emit_document(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(map) if !map.is_empty() => write_map(&mut out, map, 0),
        Value::Array(items) if !items.is_empty() => write_seq(&mut out, items, 0),
        other => {
            out.push_str(&inline(other));
            out.push('\n');
        }
    }
    out
}

fn indent(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

/// A value that fits on its key's line: a scalar or an empty collection.
fn inline(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => scalar(s),
        Value::Array(_) => "[]".into(),
        Value::Object(_) => "{}".into(),
    }
}

fn scalar(s: &str) -> String {
    if plain_safe(s, false) {
        s.to_owned()
    } else {
        double_quoted(s)
    }
}

fn is_block(value: &Value) -> bool {
    match value {
        Value::Object(m) => !m.is_empty(),
        Value::Array(a) => !a.is_empty(),
        _ => false,
    }
}

fn sorted(map: &Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
    entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    entries
}

/// Writes the entries of a non-empty mapping, the first at the current
/// position (the caller has indented it), the rest at `col`.
fn write_map(out: &mut String, map: &Map<String, Value>, col: usize) {
    for (i, (key, value)) in sorted(map).into_iter().enumerate() {
        if i > 0 {
            indent(out, col);
        }
        out.push_str(&scalar(key));
        out.push(':');
        match value {
            Value::Object(m) if !m.is_empty() => {
                out.push('\n');
                indent(out, col + 2);
                write_map(out, m, col + 2);
            }
            Value::Array(a) if !a.is_empty() => {
                out.push('\n');
                indent(out, col);
                write_seq(out, a, col);
            }
            other => {
                out.push(' ');
                out.push_str(&inline(other));
                out.push('\n');
            }
        }
    }
}

/// Writes the items of a non-empty sequence, the first at the current
/// position, the rest at `col`.
fn write_seq(out: &mut String, items: &[Value], col: usize) {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            indent(out, col);
        }
        out.push_str("- ");
        if is_block(item) {
            match item {
                Value::Object(m) => write_map(out, m, col + 2),
                Value::Array(a) => write_seq(out, a, col + 2),
                _ => {}
            }
        } else {
            out.push_str(&inline(item));
            out.push('\n');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::{Limits, parse_documents};
    use serde_json::json;

    fn round_trip(v: &Value) {
        let text = emit_document(v);
        let docs = parse_documents(&text, Limits::default()).expect("emitted YAML parses");
        assert_eq!(&docs[0].value, v, "{text}");
    }

    #[test]
    fn values_read_back_the_same() {
        let cases = [
            json!({"a": "true", "b": true, "c": "1.10", "d": 1.5, "e": -3, "f": null, "g": "", "h": "yes"}),
            json!({"multi": "line one\nline two\n", "colon": "a: b", "hash": "a #b", "star": "*x", "glob": "glob:1.*"}),
            json!({"nested": [[1, 2], [], {}, [{"a": [3]}]], "empty": {}, "list": []}),
            json!({"quote\"key": {"x y": "tab\there"}, "0755": "0755", "~": "~", "null": "null"}),
            json!({"date": "2024-01-02", "time": "12:30", "unicode": "é ü ✓", "lead space": " x", "trail": "x "}),
            json!({"$setElementOrder/containers": [{"name": "a"}], "containers": [{"name": "a", "image": "x:1"}]}),
            json!([1, "two", {"three": 3}]),
            json!("a scalar document"),
        ];
        for v in &cases {
            round_trip(v);
        }
    }

    #[test]
    fn layout_is_fixed() {
        let v = json!({"spec": {"list": [{"b": 1, "a": [2, 3]}, "x", [4]], "z": {}}, "$k": 1});
        assert_eq!(
            emit_document(&v),
            "$k: 1\nspec:\n  list:\n  - a:\n    - 2\n    - 3\n    b: 1\n  - x\n  - - 4\n  z: {}\n"
        );
    }
}
