//! Serde helpers that reproduce how Go's `encoding/json` writes and reads
//! Flux v1's structs.
//!
//! Go has no "absent" for slices and maps: a nil slice is written as `null`
//! (unless the field says `omitempty`), an empty one as `[]`, and both read
//! back as zero length. Our types use plain `Vec`s and maps; the helpers here
//! read `null` as empty, and for the fields where Flux v1 leaves the slice nil
//! when it is empty, write an empty one as `null`, so what we send is what
//! Flux v1 sends. Times are written the way Flux v1's `image` package writes
//! them (RFC 3339 in UTC with trailing zeros of the fraction dropped, as Go's
//! `time.RFC3339Nano` does), with the empty string for "no time".

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Reads `null` as the type's default (Go reads `null` into a zero value).
pub(crate) fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Collections that Go writes as `null` when nil.
pub(crate) trait GoNil {
    /// Whether Go would hold this as a nil slice or map.
    fn is_nil(&self) -> bool;
}

impl<T> GoNil for Vec<T> {
    fn is_nil(&self) -> bool {
        self.is_empty()
    }
}

impl<K, V> GoNil for BTreeMap<K, V> {
    fn is_nil(&self) -> bool {
        self.is_empty()
    }
}

/// Writes an empty collection as `null`, as Go writes a nil slice or map.
pub(crate) fn null_if_empty<S, T>(value: &T, s: S) -> Result<S::Ok, S::Error>
where
    S: Serializer,
    T: GoNil + Serialize,
{
    if value.is_nil() {
        s.serialize_none()
    } else {
        value.serialize(s)
    }
}

/// Whether a count is zero (for `omitempty` integers).
pub(crate) fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// Formats a time as Go's `time.RFC3339Nano` does for a UTC time:
/// `2019-04-01T10:00:00Z`, `2019-04-01T10:00:00.5Z`.
pub fn format_time(t: &DateTime<Utc>) -> String {
    // Nine digits, then drop trailing zeros (chrono's AutoSi would keep
    // groups of three).
    let text = t.to_rfc3339_opts(SecondsFormat::Nanos, true);
    match text.split_once('.') {
        Some((whole, fraction)) => {
            let digits = fraction.trim_end_matches('Z').trim_end_matches('0');
            if digits.is_empty() {
                format!("{whole}Z")
            } else {
                format!("{whole}.{digits}Z")
            }
        }
        None => text,
    }
}

/// Parses an RFC 3339 time (any offset; kept in UTC), as Go's
/// `time.Parse(time.RFC3339, …)` accepts it.
pub fn parse_time(s: &str) -> Result<DateTime<Utc>, chrono::ParseError> {
    Ok(DateTime::parse_from_rfc3339(s)?.with_timezone(&Utc))
}

/// An optional time written as a string; `None` is written as nothing (the
/// field is skipped) and read from `""`, `null` or absence.
pub(crate) mod opt_time {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(
        t: &Option<DateTime<Utc>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_str(&format_time(t)),
            None => s.serialize_str(""),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<DateTime<Utc>>, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(None),
            Some(s) if s.is_empty() => Ok(None),
            Some(s) => parse_time(&s)
                .map(Some)
                .map_err(|e| serde::de::Error::custom(format!("invalid time {s:?}: {e}"))),
        }
    }
}

/// Defines a string enum Flux v1 sends from server to client, where a value
/// this crate does not know (a newer or older daemon) is kept in `Other`
/// rather than failing the whole reply.
macro_rules! open_string_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
            /// A value this crate does not know, kept as sent.
            Other(String),
        }

        impl $name {
            /// The text Flux v1 sends for this value.
            pub fn as_str(&self) -> &str {
                match self {
                    $( $name::$variant => $text, )+
                    $name::Other(s) => s,
                }
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                match s {
                    $( $text => $name::$variant, )+
                    other => $name::Other(other.to_owned()),
                }
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                match $name::from(s.as_str()) {
                    $name::Other(_) => $name::Other(s),
                    known => known,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                // Go reads `null` into a string as "".
                let s = Option::<String>::deserialize(d)?.unwrap_or_default();
                Ok($name::from(s))
            }
        }
    };
}

pub(crate) use open_string_enum;

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn times_are_written_like_go_rfc3339nano() {
        let cases = [
            (0, "2019-04-01T10:00:00Z"),
            (500_000_000, "2019-04-01T10:00:00.5Z"),
            (123_000, "2019-04-01T10:00:00.000123Z"),
            (1, "2019-04-01T10:00:00.000000001Z"),
        ];
        for (nanos, want) in cases {
            let t = Utc
                .with_ymd_and_hms(2019, 4, 1, 10, 0, 0)
                .single()
                .expect("a valid date")
                + chrono::Duration::nanoseconds(nanos);
            assert_eq!(format_time(&t), want);
            assert_eq!(parse_time(want).expect("parses"), t);
        }
    }

    #[test]
    fn times_with_offsets_are_read_in_utc() {
        let t = parse_time("2019-04-01T12:00:00+02:00").expect("parses");
        assert_eq!(format_time(&t), "2019-04-01T10:00:00Z");
        assert!(parse_time("yesterday").is_err());
    }
}
