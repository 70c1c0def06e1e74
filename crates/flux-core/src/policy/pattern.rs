//! Tag patterns (`fluxcd.io/tag.<container>` values) and "latest" selection.
//!
//! A pattern decides which tags a container may move to and which of them is
//! the newest:
//!
//! | written | matches | newest |
//! |---|---|---|
//! | `glob:1.*`, `1.*`, `*` | glob over the whole tag | latest image creation time |
//! | `semver:~1.2` | semver range (see [`super::semver`]) | highest version |
//! | `regex:^v1\.`, `regexp:…` | regular expression, unanchored | latest image creation time |
//!
//! As in Flux v1, the tag `latest` (any case) is never chosen unless the
//! pattern is exactly `glob:latest`. Globs use `globset`, so `?`, `[…]` and
//! `{a,b}` work too (Flux v1 treated them as literal characters, which no tag
//! can contain). Creation-time ties go to the smaller tag text, and images
//! with no known creation time are older than any with one, so the choice is
//! always deterministic. Invalid patterns are rejected when parsed, which is
//! when a policy is set or read, never at scan time.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};

use super::semver::{Range, compare_tags, parse_version};

/// The most memory one `regex:` tag filter may compile to (the program,
/// and again its lazy DFA's cache); the `regex` crate allows 10 MiB.
const REGEX_SIZE_LIMIT: usize = 4 << 20;

const GLOB: &str = "glob:";
const SEMVER: &str = "semver:";
const REGEXP: &str = "regexp:";
const REGEX: &str = "regex:";

/// A parsed tag pattern.
#[derive(Debug, Clone)]
pub enum TagPattern {
    /// `glob:…` or a plain value.
    Glob {
        /// The glob, without prefix.
        glob: String,
        /// Compiled matcher.
        matcher: globset::GlobMatcher,
    },
    /// `semver:…`.
    Semver(Range),
    /// `regexp:…` or `regex:…`.
    Regex(regex::Regex),
}

/// Why a tag pattern is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid tag pattern {pattern:?}: {reason}")]
pub struct PatternError {
    /// The pattern as given.
    pub pattern: String,
    /// What is wrong.
    pub reason: String,
}

impl TagPattern {
    /// The pattern that allows every tag (`glob:*`).
    pub fn all() -> TagPattern {
        Self::glob("*").unwrap_or_else(|_| unreachable!("'*' is a valid glob"))
    }

    fn glob(glob: &str) -> Result<TagPattern, String> {
        let matcher = globset::GlobBuilder::new(glob)
            .literal_separator(false)
            .backslash_escape(true)
            .build()
            .map_err(|e| e.kind().to_string())?
            .compile_matcher();
        Ok(TagPattern::Glob {
            glob: glob.to_owned(),
            matcher,
        })
    }

    /// Parses `glob:…`, `semver:…`, `regex:…`/`regexp:…` or a plain glob.
    ///
    /// ```
    /// use flux_core::policy::TagPattern;
    /// let p: TagPattern = "1.*".parse().unwrap();
    /// assert_eq!(p.to_string(), "glob:1.*");
    /// assert!(p.allows("1.4") && !p.allows("2.0"));
    /// assert!("semver:not a range".parse::<TagPattern>().is_err());
    /// ```
    pub fn parse(text: &str) -> Result<TagPattern, PatternError> {
        let fail = |reason: String| PatternError {
            pattern: text.to_owned(),
            reason,
        };
        if let Some(range) = text.strip_prefix(SEMVER) {
            return Range::parse(range)
                .map(TagPattern::Semver)
                .map_err(|e| fail(e.reason));
        }
        if let Some(re) = text
            .strip_prefix(REGEXP)
            .or_else(|| text.strip_prefix(REGEX))
        {
            if re.is_empty() {
                return Err(fail("the regular expression is empty".into()));
            }
            // A tag filter is short; one compiling to megabytes (from a
            // hostile annotation, once per workload) is refused, not paid.
            return regex::RegexBuilder::new(re)
                .size_limit(REGEX_SIZE_LIMIT)
                .dfa_size_limit(REGEX_SIZE_LIMIT)
                .build()
                .map(TagPattern::Regex)
                .map_err(|e| match e {
                    regex::Error::CompiledTooBig(limit) => fail(format!(
                        "the regular expression is too big (it compiles to over {limit} bytes)"
                    )),
                    e => fail(e.to_string()),
                });
        }
        let glob = text.strip_prefix(GLOB).unwrap_or(text);
        if glob.is_empty() {
            return Err(fail("the pattern is empty".into()));
        }
        Self::glob(glob).map_err(fail)
    }

    /// Whether this is `glob:*`, the pattern that allows everything (setting
    /// it removes a tag policy).
    pub fn is_all(&self) -> bool {
        matches!(self, TagPattern::Glob { glob, .. } if glob == "*")
    }

    /// Whether choosing the newest tag needs image creation times.
    pub fn requires_timestamp(&self) -> bool {
        !matches!(self, TagPattern::Semver(_))
    }

    /// Whether the pattern matches `tag`, not considering the `latest` rule.
    pub fn matches(&self, tag: &str) -> bool {
        match self {
            TagPattern::Glob { matcher, .. } => matcher.is_match(tag),
            TagPattern::Semver(range) => parse_version(tag).is_some_and(|v| range.matches(&v)),
            TagPattern::Regex(re) => re.is_match(tag),
        }
    }

    /// Whether a container may move to `tag`: it matches, and it is not
    /// `latest` unless the pattern is exactly `glob:latest`.
    pub fn allows(&self, tag: &str) -> bool {
        let is_latest_glob = matches!(self, TagPattern::Glob { glob, .. } if glob == "latest");
        if tag.eq_ignore_ascii_case("latest") && !is_latest_glob {
            return false;
        }
        self.matches(tag)
    }

    /// Orders two allowed tags: `Greater` when `a` is newer than `b`.
    /// `created` is each tag's image creation time, where known.
    pub fn compare(
        &self,
        a: (&str, Option<DateTime<Utc>>),
        b: (&str, Option<DateTime<Utc>>),
    ) -> Ordering {
        match self {
            TagPattern::Semver(_) => match (parse_version(a.0), parse_version(b.0)) {
                (Some(va), Some(vb)) => compare_tags((&va, a.0), (&vb, b.0)),
                (Some(_), None) => Ordering::Greater,
                (None, Some(_)) => Ordering::Less,
                (None, None) => b.0.cmp(a.0),
            },
            // Newer creation time first; on a tie the smaller text wins.
            _ => a.1.cmp(&b.1).then_with(|| b.0.cmp(a.0)),
        }
    }

    /// The newest allowed tag among `candidates` (tag, creation time).
    pub fn newest<'t>(
        &self,
        candidates: impl IntoIterator<Item = (&'t str, Option<DateTime<Utc>>)>,
    ) -> Option<(&'t str, Option<DateTime<Utc>>)> {
        candidates
            .into_iter()
            .filter(|(tag, _)| self.allows(tag))
            .max_by(|a, b| self.compare(*a, *b))
    }
}

impl fmt::Display for TagPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TagPattern::Glob { glob, .. } => write!(f, "{GLOB}{glob}"),
            TagPattern::Semver(range) => write!(f, "{SEMVER}{range}"),
            TagPattern::Regex(re) => write!(f, "{REGEXP}{}", re.as_str()),
        }
    }
}

impl PartialEq for TagPattern {
    fn eq(&self, other: &Self) -> bool {
        self.to_string() == other.to_string()
    }
}

impl FromStr for TagPattern {
    type Err = PatternError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(secs: i64) -> Option<DateTime<Utc>> {
        Some(Utc.timestamp_opt(secs, 0).unwrap())
    }

    #[test]
    fn parse_and_normalise() {
        let cases = [
            ("*", "glob:*"),
            ("1.*", "glob:1.*"),
            ("glob:v1.*-prod", "glob:v1.*-prod"),
            ("semver:~1.2", "semver:~1.2"),
            ("regex:^v[0-9]+$", "regexp:^v[0-9]+$"),
            ("regexp:^v[0-9]+$", "regexp:^v[0-9]+$"),
        ];
        for (input, want) in cases {
            assert_eq!(TagPattern::parse(input).unwrap().to_string(), want);
        }
        assert!(TagPattern::parse("glob:*").unwrap().is_all());
        assert!(!TagPattern::parse("glob:1*").unwrap().is_all());
    }

    #[test]
    fn invalid_patterns() {
        let cases = [
            ("", "empty"),
            ("glob:", "empty"),
            ("glob:[a", "unclosed"),
            ("semver:", "empty"),
            ("semver:>=banana", "not a version"),
            ("regex:", "empty"),
            ("regexp:(unclosed", "unclosed"),
        ];
        for (input, want) in cases {
            let e = TagPattern::parse(input).expect_err(input).to_string();
            assert!(e.to_lowercase().contains(want), "{input:?}: {e}");
        }
    }

    /// (pattern, allowed tags, refused tags)
    #[test]
    fn allows() {
        let cases: &[(&str, &[&str], &[&str])] = &[
            ("*", &["1.0", "master-abc"], &["latest", "LATEST"]),
            ("glob:latest", &["latest"], &["1.0"]),
            ("glob:master-*", &["master-abc", "master-"], &["main-abc"]),
            ("glob:1.?", &["1.2"], &["1.10"]),
            (
                "semver:~1.2",
                &["1.2.9", "v1.2.0"],
                &["1.3.0", "latest", "master"],
            ),
            ("semver:*", &["0.1.0"], &["latest", "1.0.0-rc.1"]),
            ("regex:^prod-", &["prod-1"], &["preprod-1", "latest"]),
            ("regexp:prod", &["preprod-1"], &["dev"]),
            ("regex:.*", &["x"], &["latest"]),
        ];
        for (pattern, yes, no) in cases {
            let p = TagPattern::parse(pattern).unwrap();
            for t in *yes {
                assert!(p.allows(t), "{pattern} should allow {t}");
            }
            for t in *no {
                assert!(!p.allows(t), "{pattern} should refuse {t}");
            }
        }
    }

    #[test]
    fn newest_by_time_with_deterministic_ties() {
        let p = TagPattern::all();
        let tags = [
            ("a", at(100)),
            ("c", at(300)),
            ("b", at(300)),
            ("none", None),
            ("latest", at(999)),
        ];
        assert_eq!(p.newest(tags).map(|t| t.0), Some("b"));
        let untimed = [("z", None), ("y", None)];
        assert_eq!(p.newest(untimed).map(|t| t.0), Some("y"));
        assert_eq!(p.newest([("latest", at(1))]), None);
    }

    #[test]
    fn newest_by_semver() {
        let p = TagPattern::parse("semver:>=1.0").unwrap();
        let tags = [
            ("1.9.0", at(500)),
            ("1.10.0", at(1)),
            ("1.10", at(2)),
            ("2.0.0-rc.1", at(900)),
            ("not-a-version", at(999)),
        ];
        assert_eq!(p.newest(tags).map(|t| t.0), Some("1.10.0"));
        assert!(!p.requires_timestamp());
        assert!(TagPattern::all().requires_timestamp());
    }
}
