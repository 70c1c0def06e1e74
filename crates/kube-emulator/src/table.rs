//! Server-side printing: the `meta.k8s.io/v1` Table that `kubectl get`
//! asks for (`Accept: application/json;as=Table;…`), and the
//! PartialObjectMetadata views.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::printers;
use crate::resources::{Printer, ResourceType};

/// The Table columns of a kind: (name, type, format, description).
fn columns(rt: &ResourceType) -> Vec<(String, &'static str, &'static str, i64)> {
    let name = ("Name".to_owned(), "string", "name", 0);
    let age = ("Age".to_owned(), "string", "", 0);
    match &rt.printer {
        Printer::Default => vec![name, age],
        Printer::Builtin(kind) => printers::columns(kind),
        Printer::Columns(cols) => {
            let mut out = vec![name];
            let mut has_age = false;
            for (n, ty, _, prio) in cols {
                if n.eq_ignore_ascii_case("age") {
                    has_age = true;
                }
                out.push((n.clone(), leak_type(ty), "", *prio));
            }
            if !has_age {
                out.push(age);
            }
            out
        }
    }
}

fn leak_type(ty: &str) -> &'static str {
    match ty {
        "integer" => "integer",
        "number" => "number",
        "boolean" => "boolean",
        "date" => "date",
        _ => "string",
    }
}

/// Kubernetes' short human durations (`5s`, `3m12s`, `4h`, `12d`).
pub fn human_duration(secs: i64) -> String {
    if secs < -1 {
        return "<invalid>".into();
    }
    if secs < 0 {
        return "0s".into();
    }
    if secs < 120 {
        return format!("{secs}s");
    }
    let minutes = secs / 60;
    if minutes < 10 {
        let s = secs % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 180 {
        return format!("{minutes}m");
    }
    let hours = secs / 3600;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        return if dy == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{dy}d", hours / 24 / 365)
        };
    }
    format!("{}y", hours / 24 / 365)
}

fn age(obj: &Value, now: DateTime<Utc>) -> String {
    obj.pointer("/metadata/creationTimestamp")
        .and_then(Value::as_str)
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map_or_else(
            || "<unknown>".into(),
            |t| human_duration((now - t.with_timezone(&Utc)).num_seconds()),
        )
}

/// Evaluates a simple CRD printer-column JSON path (`.spec.x.y`).
fn json_path(obj: &Value, path: &str) -> Value {
    let pointer =
        crate::resources::json_path_to_pointer(path.trim_start_matches('{').trim_end_matches('}'));
    obj.pointer(&pointer).cloned().unwrap_or(Value::Null)
}

fn cells(rt: &ResourceType, obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let name = json!(
        obj.pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
    );
    let a = json!(age(obj, now));
    match &rt.printer {
        Printer::Default => vec![name, a],
        Printer::Builtin(kind) => printers::cells(kind, obj, now),
        Printer::Columns(cols) => {
            let mut out = vec![name];
            let mut has_age = false;
            for (n, ty, path, _) in cols {
                if n.eq_ignore_ascii_case("age") {
                    has_age = true;
                }
                let v = json_path(obj, path);
                out.push(if ty == "date" {
                    v.as_str()
                        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                        .map_or(Value::Null, |t| {
                            json!(human_duration((now - t.with_timezone(&Utc)).num_seconds()))
                        })
                } else {
                    v
                });
            }
            if !has_age {
                out.push(a);
            }
            out
        }
    }
}

/// `PartialObjectMetadata` of an object.
pub fn partial_metadata(obj: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata").cloned().unwrap_or(json!({})),
    })
}

/// What each row carries (`includeObject`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Include {
    /// Nothing.
    None,
    /// PartialObjectMetadata (the default).
    Metadata,
    /// The whole object.
    Object,
}

/// A Table of objects; `with_columns` false leaves out the column
/// definitions (watch events after the first).
pub fn table(
    rt: &ResourceType,
    objs: &[&Value],
    rv: &str,
    include: Include,
    with_columns: bool,
) -> Value {
    let now = Utc::now();
    let defs: Vec<Value> = columns(rt)
        .into_iter()
        .map(|(n, ty, fmt, prio)| json!({"name": n, "type": ty, "format": fmt, "description": "", "priority": prio}))
        .collect();
    let rows: Vec<Value> = objs
        .iter()
        .map(|o| {
            let mut row = json!({"cells": cells(rt, o, now)});
            match include {
                Include::None => {}
                Include::Metadata => row["object"] = partial_metadata(o),
                Include::Object => row["object"] = (*o).clone(),
            }
            row
        })
        .collect();
    let mut t = json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": rv},
        "rows": rows,
    });
    if with_columns {
        t["columnDefinitions"] = Value::Array(defs);
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::builtins;

    #[test]
    fn durations() {
        let cases = [
            (-5, "<invalid>"),
            (0, "0s"),
            (59, "59s"),
            (119, "119s"),
            (130, "2m10s"),
            (600, "10m"),
            (3 * 3600 + 60, "3h1m"),
            (20 * 3600, "20h"),
            (3 * 86400 + 3600, "3d1h"),
            (30 * 86400, "30d"),
            (3 * 365 * 86400, "3y"),
        ];
        for (s, want) in cases {
            assert_eq!(human_duration(s), want, "{s}");
        }
    }

    #[test]
    fn tables() {
        let types = builtins();
        let cm = types.iter().find(|t| t.kind == "ConfigMap").unwrap();
        let obj = json!({"metadata": {"name": "c", "creationTimestamp": "2020-01-01T00:00:00Z"}, "data": {"a": "1", "b": "2"}});
        let t = table(cm, &[&obj], "7", Include::Metadata, true);
        assert_eq!(t["columnDefinitions"][1]["name"], "Data");
        assert_eq!(t["rows"][0]["cells"][0], "c");
        assert_eq!(t["rows"][0]["cells"][1], 2);
        assert_eq!(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
        let t = table(cm, &[&obj], "7", Include::None, false);
        assert!(t.get("columnDefinitions").is_none());
        assert!(t["rows"][0].get("object").is_none());
    }
}
