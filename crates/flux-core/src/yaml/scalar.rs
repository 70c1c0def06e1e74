//! Scalar resolution: what a plain YAML scalar means in JSON.
//!
//! Kubernetes reads YAML with YAML 1.1 rules (`yes`/`on` are booleans, `0755`
//! is octal), and so must Flux, or it would apply something other than what
//! `kubectl` applies from the same file.

use std::borrow::Cow;

use saphyr_parser::{ScalarStyle, Tag};
use serde_json::{Number, Value};

/// Whether a tag is the core-schema tag `!!name`.
fn is_core_tag(tag: &Tag, name: &str) -> bool {
    match tag.handle.as_str() {
        "!!" | "tag:yaml.org,2002:" => tag.suffix == name,
        "" => tag.suffix.strip_prefix("tag:yaml.org,2002:") == Some(name),
        _ => false,
    }
}

/// Resolves a scalar the way Kubernetes' YAML decoder (YAML 1.1 rules) does.
pub(super) fn resolve_scalar(
    text: &str,
    style: ScalarStyle,
    tag: Option<&Tag>,
) -> Result<Value, String> {
    if let Some(tag) = tag {
        for name in ["str", "binary", "timestamp"] {
            if is_core_tag(tag, name) {
                return Ok(Value::String(text.to_owned()));
            }
        }
        if is_core_tag(tag, "null") {
            return Ok(Value::Null);
        }
        if is_core_tag(tag, "bool") {
            return resolve_bool(text)
                .map(Value::Bool)
                .ok_or_else(|| format!("{text:?} is not a !!bool"));
        }
        if is_core_tag(tag, "int") {
            return resolve_int(text).ok_or_else(|| format!("{text:?} is not an !!int"));
        }
        if is_core_tag(tag, "float") {
            return resolve_number(text).ok_or_else(|| format!("{text:?} is not a !!float"));
        }
    }
    if style != ScalarStyle::Plain {
        return Ok(Value::String(text.to_owned()));
    }
    Ok(resolve_plain(text)?.unwrap_or_else(|| Value::String(text.to_owned())))
}

fn resolve_bool(text: &str) -> Option<bool> {
    match text {
        "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
            Some(true)
        }
        "n" | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            Some(false)
        }
        _ => None,
    }
}

/// Resolves an untagged plain scalar; `Ok(None)` means it is a string.
pub(crate) fn resolve_plain(text: &str) -> Result<Option<Value>, String> {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Ok(Some(Value::Null)),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" | "-.inf" | "-.Inf" | "-.INF"
        | ".nan" | ".NaN" | ".NAN" => {
            return Err(format!("{text} cannot be represented in JSON"));
        }
        _ => {}
    }
    if let Some(b) = resolve_bool(text) {
        return Ok(Some(Value::Bool(b)));
    }
    let first = text.as_bytes()[0];
    if first.is_ascii_digit() || matches!(first, b'+' | b'-' | b'.') {
        return Ok(resolve_number(text));
    }
    Ok(None)
}

fn resolve_number(text: &str) -> Option<Value> {
    resolve_int(text).or_else(|| resolve_float(text))
}

/// Integers as Go's `strconv.ParseInt(s, 0, 64)` reads them after removing
/// underscores: sign, then `0x`, `0o`, `0b` or a leading `0` for octal.
fn resolve_int(text: &str) -> Option<Value> {
    let cleaned: Cow<'_, str> = if text.contains('_') {
        Cow::Owned(text.replace('_', ""))
    } else {
        Cow::Borrowed(text)
    };
    let (negative, digits) = match cleaned.as_bytes().first()? {
        b'-' => (true, &cleaned[1..]),
        b'+' => (false, &cleaned[1..]),
        _ => (false, &cleaned[..]),
    };
    if digits.is_empty() {
        return None;
    }
    let (radix, body) = if let Some(rest) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        (16, rest)
    } else if let Some(rest) = digits
        .strip_prefix("0o")
        .or_else(|| digits.strip_prefix("0O"))
    {
        (8, rest)
    } else if let Some(rest) = digits
        .strip_prefix("0b")
        .or_else(|| digits.strip_prefix("0B"))
    {
        (2, rest)
    } else if digits.len() > 1 && digits.starts_with('0') {
        (8, &digits[1..])
    } else {
        (10, digits)
    };
    if body.is_empty() || !body.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = u64::from_str_radix(body, radix).ok()?;
    if negative {
        if magnitude <= i64::MAX as u64 + 1 {
            let v = (magnitude as i128).checked_neg()?;
            return i64::try_from(v).ok().map(|v| Value::Number(v.into()));
        }
        None
    } else {
        Some(Value::Number(magnitude.into()))
    }
}

/// Floats in YAML 1.1 style: `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`.
fn resolve_float(text: &str) -> Option<Value> {
    let b = text.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'+' | b'-')) {
        i += 1;
    }
    let int_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let int_digits = i - int_start;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let frac_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if int_digits == 0 && i == frac_start {
            return None;
        }
    } else if int_digits == 0 {
        return None;
    }
    if i < b.len() && matches!(b[i], b'e' | b'E') {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let exp_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == exp_start {
            return None;
        }
    }
    if i != b.len() {
        return None;
    }
    let f: f64 = text.parse().ok()?;
    Number::from_f64(f).map(Value::Number)
}
