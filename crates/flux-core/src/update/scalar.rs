//! Writing a scalar so that it reads back as the same string, in the style
//! the file already uses where that is possible.

use saphyr_parser::ScalarStyle;

use crate::yaml::resolve_plain;

/// Whether `value` can be written as a plain scalar and read back as the
/// same string (under the YAML 1.1 rules Kubernetes uses).
pub(crate) fn plain_safe(value: &str, in_flow: bool) -> bool {
    let Some(first) = value.chars().next() else {
        return false;
    };
    if "-?:,[]{}#&*!|>'\"%@`".contains(first)
        || value.starts_with(char::is_whitespace)
        || value.ends_with(char::is_whitespace)
        || value.ends_with(':')
        || value.contains(": ")
        || value.contains(" #")
        || value.chars().any(|c| c.is_control())
        || (in_flow && value.contains([',', '[', ']', '{', '}']))
    {
        return false;
    }
    if looks_like_timestamp(value) {
        return false;
    }
    matches!(resolve_plain(value), Ok(None))
}

/// `YYYY-M-D…`: a YAML 1.1 timestamp to some readers.
fn looks_like_timestamp(value: &str) -> bool {
    let b = value.as_bytes();
    b.len() >= 8 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-'
}

/// A double-quoted scalar (JSON's escapes are YAML's).
pub(crate) fn double_quoted(value: &str) -> String {
    serde_json::Value::String(value.to_owned()).to_string()
}

/// The text for `value` replacing a scalar written in `style`: the same
/// style when it can hold the value, double quotes otherwise. `None` for
/// block scalars, which are not rewritten.
pub(crate) fn render(value: &str, style: ScalarStyle, in_flow: bool) -> Option<String> {
    match style {
        ScalarStyle::Plain if plain_safe(value, in_flow) => Some(value.to_owned()),
        ScalarStyle::SingleQuoted if !value.chars().any(|c| c.is_control()) => {
            Some(format!("'{}'", value.replace('\'', "''")))
        }
        ScalarStyle::Plain | ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted => {
            Some(double_quoted(value))
        }
        ScalarStyle::Literal | ScalarStyle::Folded => None,
    }
}

/// The text for a new scalar (a new key or value): plain when safe.
pub(crate) fn render_new(value: &str, in_flow: bool) -> String {
    if plain_safe(value, in_flow) {
        value.to_owned()
    } else {
        double_quoted(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_when_safe() {
        let cases = [
            ("nginx:1.25", true),
            ("registry.io:5000/a/b:c", true),
            ("glob:*", true),
            ("semver:~1.2", true),
            ("regexp:^v[0-9]+$", true),
            ("true", false),
            ("yes", false),
            ("1.10", false),
            ("1.2.3", true),
            ("0755", false),
            ("~", false),
            ("", false),
            ("*", false),
            ("a: b", false),
            ("a #b", false),
            ("- a", false),
            ("2024-01-02", false),
            ("a\nb", false),
            (" a", false),
        ];
        for (value, want) in cases {
            assert_eq!(plain_safe(value, false), want, "{value:?}");
        }
        assert!(!plain_safe("a,b", true));
        assert!(plain_safe("a,b", false));
    }

    #[test]
    fn keeps_style() {
        assert_eq!(render("x:2", ScalarStyle::Plain, false).unwrap(), "x:2");
        assert_eq!(
            render("1.10", ScalarStyle::Plain, false).unwrap(),
            "\"1.10\""
        );
        assert_eq!(
            render("it's", ScalarStyle::SingleQuoted, false).unwrap(),
            "'it''s'"
        );
        assert_eq!(
            render("a\"b", ScalarStyle::DoubleQuoted, false).unwrap(),
            r#""a\"b""#
        );
        assert_eq!(
            render("a\nb", ScalarStyle::SingleQuoted, false).unwrap(),
            r#""a\nb""#
        );
        assert!(render("x", ScalarStyle::Literal, false).is_none());
    }
}
