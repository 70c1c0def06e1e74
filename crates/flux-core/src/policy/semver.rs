//! `semver:` tag patterns: versions and ranges as Flux v1 users write them.
//!
//! Flux v1 used Masterminds/semver, which is looser than Cargo's rules, and
//! users' filters depend on that looseness. So tags and ranges are read here
//! the Masterminds way and then evaluated with the `semver` crate:
//!
//! - a tag is a version if it is `[v]MAJOR[.MINOR[.PATCH]][-PRE][+BUILD]`:
//!   `v1.2.3`, `1.2` (= 1.2.0) and `1` (= 1.0.0) are versions; `latest`,
//!   `1.2.3.4`, `1.2.3-` and `release-1.2` are not, and never match a
//!   `semver:` pattern (as in Flux v1);
//! - a range is alternatives separated by `||`, each a list of comparators
//!   separated by commas or spaces; operators `=`, `!=`, `>`, `>=`, `<`, `<=`,
//!   `~` (also `~>`), `^`, none (`1.2` means `1.2.x`, `1.2.3` means exactly
//!   1.2.3), wildcards `x`/`X`/`*`, and hyphen ranges `1.2 - 1.4.5`;
//! - a prerelease version (`1.3.0-rc.1`) matches a comparator only if the
//!   comparator names a prerelease of the same `MAJOR.MINOR.PATCH` (Cargo's
//!   rule; Masterminds accepted a prerelease of any version there).
//!
//! Ordering ("latest") is by semver precedence; equal versions written
//! differently (`1.10` and `1.10.0`, `v1.2.3` and `1.2.3`, or different build
//! metadata) are ordered by tag text, the greater text being newer, as in
//! Flux v1.

use std::cmp::Ordering;
use std::fmt;

use semver::{BuildMetadata, Comparator, Op, Prerelease, Version};

/// Reads a tag as a version, the loose way Flux v1 did; `None` if it is not one.
pub fn parse_version(tag: &str) -> Option<Version> {
    let s = tag.strip_prefix('v').unwrap_or(tag);
    let (s, build) = match s.split_once('+') {
        Some((s, b)) => (s, BuildMetadata::new(b).ok()?),
        None => (s, BuildMetadata::EMPTY),
    };
    let (core, pre) = match s.split_once('-') {
        Some((c, p)) => (c, Prerelease::new(p).ok()?),
        None => (s, Prerelease::EMPTY),
    };
    if pre.is_empty() && s.contains('-') {
        return None;
    }
    let mut parts = core.split('.');
    let mut number = |required: bool| -> Option<Option<u64>> {
        match parts.next() {
            None if !required => Some(None),
            None => None,
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                p.parse().ok().map(Some)
            }
            Some(_) => None,
        }
    };
    let major = number(true)??;
    let minor = number(false)?;
    let patch = if minor.is_some() {
        number(false)?
    } else {
        None
    };
    if parts.next().is_some() {
        return None;
    }
    Some(Version {
        major,
        minor: minor.unwrap_or(0),
        patch: patch.unwrap_or(0),
        pre,
        build,
    })
}

/// Compares two tags that are versions: by precedence, then by text.
pub fn compare_tags(a: (&Version, &str), b: (&Version, &str)) -> Ordering {
    a.0.cmp_precedence(b.0).then_with(|| a.1.cmp(b.1))
}

/// One comparator of a range.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Check {
    Is(Comparator),
    Not(Comparator),
}

impl Check {
    fn matches(&self, v: &Version) -> bool {
        match self {
            Check::Is(c) => c.matches(v),
            Check::Not(c) => {
                if !v.pre.is_empty() && c.pre.is_empty() {
                    return false;
                }
                !c.matches(v)
            }
        }
    }
}

/// A parsed `semver:` range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Range {
    text: String,
    /// Alternatives (`||`); each must match in full. An empty alternative
    /// (`*`) matches every release version.
    alternatives: Vec<Vec<Check>>,
}

/// Why a `semver:` range does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("semver range {range:?}: {reason}")]
pub struct RangeError {
    /// The range as given.
    pub range: String,
    /// What is wrong.
    pub reason: String,
}

impl Range {
    /// Parses a range.
    pub fn parse(text: &str) -> Result<Range, RangeError> {
        let fail = |reason: String| RangeError {
            range: text.to_owned(),
            reason,
        };
        if text.trim().is_empty() {
            return Err(fail("it is empty".into()));
        }
        let mut alternatives = Vec::new();
        for alt in text.split("||") {
            let tokens = tokenize(alt);
            if tokens.is_empty() {
                return Err(fail("an alternative between '||' is empty".into()));
            }
            let mut checks = Vec::new();
            let mut i = 0;
            while i < tokens.len() {
                if tokens.get(i + 1).map(String::as_str) == Some("-") {
                    let Some(upper) = tokens.get(i + 2) else {
                        return Err(fail("a hyphen range needs an upper bound".into()));
                    };
                    checks.push(Check::Is(
                        comparator(Op::GreaterEq, &tokens[i]).map_err(fail)?,
                    ));
                    checks.push(Check::Is(comparator(Op::LessEq, upper).map_err(fail)?));
                    i += 3;
                    continue;
                }
                if let Some(check) = check(&tokens[i]).map_err(fail)? {
                    checks.push(check);
                }
                i += 1;
            }
            alternatives.push(checks);
        }
        Ok(Range {
            text: text.to_owned(),
            alternatives,
        })
    }

    /// Whether a version is in the range.
    pub fn matches(&self, v: &Version) -> bool {
        self.alternatives.iter().any(|alt| {
            if alt.is_empty() {
                v.pre.is_empty()
            } else {
                alt.iter().all(|c| c.matches(v))
            }
        })
    }
}

impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Splits an alternative into comparators, joining an operator written
/// apart from its version (`>= 1.2`).
fn tokenize(alt: &str) -> Vec<String> {
    let mut tokens: Vec<String> = Vec::new();
    let mut pending_op: Option<String> = None;
    for raw in alt.split([',', ' ', '\t']).filter(|t| !t.is_empty()) {
        let is_op_only = !raw.is_empty() && raw.chars().all(|c| "=!<>~^".contains(c));
        if is_op_only {
            pending_op = Some(pending_op.unwrap_or_default() + raw);
            continue;
        }
        match pending_op.take() {
            Some(op) => tokens.push(op + raw),
            None => tokens.push(raw.to_owned()),
        }
    }
    if let Some(op) = pending_op {
        tokens.push(op);
    }
    tokens
}

/// One comparator; `None` for a wildcard that allows everything.
fn check(token: &str) -> Result<Option<Check>, String> {
    let ops: &[(&str, Option<Op>)] = &[
        ("!=", None),
        (">=", Some(Op::GreaterEq)),
        ("=>", Some(Op::GreaterEq)),
        ("<=", Some(Op::LessEq)),
        ("=<", Some(Op::LessEq)),
        ("~>", Some(Op::Tilde)),
        (">", Some(Op::Greater)),
        ("<", Some(Op::Less)),
        ("~", Some(Op::Tilde)),
        ("^", Some(Op::Caret)),
        ("=", Some(Op::Exact)),
    ];
    for (text, op) in ops {
        if let Some(version) = token.strip_prefix(text) {
            return match op {
                Some(op) => {
                    if is_star(version) && *op == Op::Exact {
                        return Ok(None);
                    }
                    comparator(*op, version).map(|c| Some(Check::Is(c)))
                }
                None => comparator(Op::Exact, version).map(|c| Some(Check::Not(c))),
            };
        }
    }
    if is_star(token) {
        return Ok(None);
    }
    comparator(Op::Exact, token).map(|c| Some(Check::Is(c)))
}

fn is_star(s: &str) -> bool {
    matches!(s, "*" | "x" | "X")
}

/// Builds a comparator from a possibly partial version with wildcards.
fn comparator(op: Op, text: &str) -> Result<Comparator, String> {
    let bad = || format!("{text:?} is not a version (MAJOR[.MINOR[.PATCH]][-PRERELEASE])");
    let s = text.strip_prefix('v').unwrap_or(text);
    if s.is_empty() {
        return Err(format!("an operator has no version after it ({text:?})"));
    }
    let s = s.split_once('+').map_or(s, |(s, _)| s);
    let (core, pre) = match s.split_once('-') {
        Some((c, p)) => (c, Prerelease::new(p).map_err(|_| bad())?),
        None => (s, Prerelease::EMPTY),
    };
    let mut nums: Vec<Option<u64>> = Vec::new();
    for part in core.split('.') {
        if is_star(part) {
            nums.push(None);
        } else if !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()) {
            nums.push(Some(part.parse().map_err(|_| bad())?));
        } else {
            return Err(bad());
        }
    }
    if nums.len() > 3 {
        return Err(bad());
    }
    let Some(Some(major)) = nums.first().copied() else {
        return Err(format!("{text:?} needs a major version"));
    };
    let minor = nums.get(1).copied().flatten();
    let patch = if minor.is_some() {
        nums.get(2).copied().flatten()
    } else {
        None
    };
    if !pre.is_empty() && patch.is_none() {
        return Err(format!("{text:?}: a prerelease needs MAJOR.MINOR.PATCH"));
    }
    Ok(Comparator {
        op,
        major,
        minor,
        patch,
        pre,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        let cases: &[(&str, Option<&str>)] = &[
            ("1.2.3", Some("1.2.3")),
            ("v1.2.3", Some("1.2.3")),
            ("1.2", Some("1.2.0")),
            ("1", Some("1.0.0")),
            ("1.2.3-rc.1", Some("1.2.3-rc.1")),
            ("1.2.3+build.5", Some("1.2.3+build.5")),
            ("v2.0.0-beta.1+exp", Some("2.0.0-beta.1+exp")),
            ("1.02.3", Some("1.2.3")),
            ("latest", None),
            ("1.2.3.4", None),
            ("1.2.3-", None),
            ("release-1.2", None),
            ("1..2", None),
            ("V1.2.3", None),
            ("1.2.3-01", None),
            ("", None),
        ];
        for (tag, want) in cases {
            let got = parse_version(tag).map(|v| v.to_string());
            assert_eq!(got.as_deref(), *want, "{tag}");
        }
    }

    /// (range, tags that match, tags that do not)
    #[test]
    fn ranges() {
        let cases: &[(&str, &[&str], &[&str])] = &[
            (
                "~1.2",
                &["1.2.0", "1.2.9", "v1.2.3"],
                &["1.3.0", "1.1.9", "1.2.4-rc.1"],
            ),
            ("^1.2", &["1.2.0", "1.9.9"], &["2.0.0", "1.1.0"]),
            ("1.2", &["1.2.0", "1.2.7"], &["1.3.0"]),
            ("1.2.3", &["1.2.3", "v1.2.3"], &["1.2.4"]),
            ("=1.2.3", &["1.2.3"], &["1.2.4"]),
            ("1.2.x", &["1.2.5"], &["1.3.0"]),
            ("1.*", &["1.0.0", "1.9.0"], &["2.0.0"]),
            ("*", &["0.0.1", "9.9.9"], &["1.0.0-rc.1"]),
            (">=1.2, <2", &["1.2.0", "1.99.0"], &["2.0.0", "1.1.0"]),
            (">= 1.2 < 2", &["1.5.0"], &["2.1.0"]),
            (">1.2.3", &["1.2.4"], &["1.2.3"]),
            ("<=1.2.3", &["1.2.3", "0.1.0"], &["1.2.4"]),
            ("~>1.2", &["1.2.5"], &["1.3.0"]),
            ("!=1.2.3", &["1.2.4"], &["1.2.3", "1.2.4-rc.1"]),
            ("1.2 - 1.4.5", &["1.2.0", "1.4.5"], &["1.4.6", "1.1.9"]),
            ("~1.2 || ^3", &["1.2.1", "3.5.0"], &["2.0.0"]),
            (
                ">=1.3.0-rc.1",
                &["1.3.0-rc.2", "1.3.0", "1.4.0"],
                &["1.4.0-rc.1", "1.3.0-beta"],
            ),
            ("=v1.2.3", &["1.2.3"], &[]),
        ];
        for (range, yes, no) in cases {
            let r = Range::parse(range).unwrap_or_else(|e| panic!("{e}"));
            for tag in *yes {
                let v = parse_version(tag).unwrap();
                assert!(r.matches(&v), "{range} should match {tag}");
            }
            for tag in *no {
                let v = parse_version(tag).unwrap();
                assert!(!r.matches(&v), "{range} should not match {tag}");
            }
        }
    }

    #[test]
    fn bad_ranges() {
        let cases = [
            ("", "empty"),
            ("~", "no version"),
            ("abc", "not a version"),
            ("1.2.3.4", "not a version"),
            (">=", "no version"),
            ("1 ||", "empty"),
            ("1.2 -", "upper bound"),
            ("1.2-rc", "MAJOR.MINOR.PATCH"),
            (">=x", "major version"),
        ];
        for (range, want) in cases {
            let e = Range::parse(range).expect_err(range).to_string();
            assert!(e.contains(want), "{range:?}: {e}");
        }
    }

    #[test]
    fn ties_break_on_text() {
        let a = parse_version("1.10").unwrap();
        let b = parse_version("1.10.0").unwrap();
        assert_eq!(compare_tags((&a, "1.10"), (&b, "1.10.0")), Ordering::Less);
        let c = parse_version("1.9.9").unwrap();
        assert_eq!(compare_tags((&a, "1.10"), (&c, "1.9.9")), Ordering::Greater);
    }
}
