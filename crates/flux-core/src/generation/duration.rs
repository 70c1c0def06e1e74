//! Durations written as Flux v1 read them in `.flux.yaml` (Go's
//! `time.ParseDuration` syntax: `90s`, `1m30s`, `1.5h`, `250ms`).

use std::time::Duration;

/// Parses a Go-style duration: a sequence of decimal numbers, each with an
/// optional fraction and a unit (`ns`, `us`, `µs`, `ms`, `s`, `m`, `h`), or
/// a bare `0`. Negative durations are refused (a timeout cannot be one).
///
/// ```
/// use std::time::Duration;
/// use flux_core::generation::parse_duration;
/// assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
/// assert_eq!(parse_duration("1.5h"), Ok(Duration::from_secs(5400)));
/// assert!(parse_duration("5").is_err());
/// ```
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = |why: &str| {
        Err(format!(
            "{text:?} is not a duration ({why}); write e.g. 30s, 2m or 1m30s"
        ))
    };
    let mut rest = text.strip_prefix('+').unwrap_or(text);
    if rest.starts_with('-') {
        return Err(format!("{text:?} is negative; a timeout must be positive"));
    }
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return bad("it is empty");
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let digits_end = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(rest.len());
        let number = &rest[..digits_end];
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return bad("a number is expected before each unit");
        }
        rest = &rest[digits_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let nanos_per_unit: u128 = match &rest[..unit_end] {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "" => return bad("a unit is missing"),
            _ => return bad("unknown unit"),
        };
        rest = &rest[unit_end..];
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        let whole: u128 = if whole.is_empty() {
            0
        } else {
            match whole.parse() {
                Ok(n) => n,
                Err(_) => return bad("a number is too large"),
            }
        };
        let mut nanos = whole.checked_mul(nanos_per_unit);
        let mut scale = nanos_per_unit;
        for digit in fraction.bytes().take(18) {
            scale /= 10;
            nanos = nanos.and_then(|n| n.checked_add(u128::from(digit - b'0') * scale));
        }
        total = match nanos.and_then(|n| total.checked_add(n)) {
            Some(t) if t <= u128::from(u64::MAX) => t,
            _ => return bad("it is too long"),
        };
    }
    let secs = (total / 1_000_000_000) as u64;
    let nanos = (total % 1_000_000_000) as u32;
    Ok(Duration::new(secs, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        let ok = [
            ("0", Duration::ZERO),
            ("0s", Duration::ZERO),
            ("5s", Duration::from_secs(5)),
            ("+5s", Duration::from_secs(5)),
            ("1m30s", Duration::from_secs(90)),
            ("2h45m", Duration::from_secs(2 * 3600 + 45 * 60)),
            ("1.5s", Duration::from_millis(1500)),
            (".5s", Duration::from_millis(500)),
            ("1.s", Duration::from_secs(1)),
            ("300ms", Duration::from_millis(300)),
            ("10us", Duration::from_micros(10)),
            ("10µs", Duration::from_micros(10)),
            ("7ns", Duration::from_nanos(7)),
            ("1h1m1s1ms", Duration::from_millis(3_661_001)),
        ];
        for (text, want) in ok {
            assert_eq!(parse_duration(text), Ok(want), "{text}");
        }
        for text in [
            "",
            "5",
            "s",
            "1x",
            "1.2.3s",
            "-5s",
            "5 s",
            "1h 2m",
            "99999999999999999999h",
        ] {
            assert!(parse_duration(text).is_err(), "{text} should be refused");
        }
        assert!(parse_duration("5").unwrap_err().contains("unit is missing"));
    }
}
