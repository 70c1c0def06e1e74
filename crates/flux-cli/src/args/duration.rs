//! Durations written as Go writes them (`--timeout 90s`, `1m30s`,
//! `FLUX_TIMEOUT=2m`), since Flux v1 users' scripts already say so.

use std::time::Duration;

/// Parses a Go-style duration: one or more number-unit pairs (`ns`, `us`,
/// `µs`, `ms`, `s`, `m`, `h`), numbers possibly with a fraction; `0` alone
/// is zero. Negative durations are refused.
///
/// ```
/// use std::time::Duration;
/// use flux_cli::args::duration::parse;
/// assert_eq!(parse("1m30s"), Ok(Duration::from_secs(90)));
/// assert_eq!(parse("1.5s"), Ok(Duration::from_millis(1500)));
/// assert!(parse("60").is_err());
/// ```
pub fn parse(text: &str) -> Result<Duration, String> {
    let fail =
        |why: &str| format!("{text:?} is not a duration ({why}); write e.g. 60s, 2m or 1m30s");
    let s = text.trim();
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() {
        return Err(fail("it is empty"));
    }
    if s.starts_with('-') {
        return Err(fail("it is negative"));
    }
    let s = s.strip_prefix('+').unwrap_or(s);
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return Err(fail("a unit must follow a number"));
        }
        let number: f64 = rest[..num_len].parse().map_err(|_| fail("bad number"))?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "" => return Err(fail("a number needs a unit: ms, s, m or h")),
            _ => return Err(fail("unknown unit; use ms, s, m or h")),
        };
        rest = &rest[unit_len..];
        total += number * seconds;
    }
    if !total.is_finite() || total > 1e12 {
        return Err(fail("it is too long"));
    }
    Ok(Duration::from_secs_f64(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        let ok: &[(&str, Duration)] = &[
            ("60s", Duration::from_secs(60)),
            ("2m", Duration::from_secs(120)),
            ("1h2m3s", Duration::from_secs(3723)),
            ("500ms", Duration::from_millis(500)),
            ("0", Duration::ZERO),
            ("0s", Duration::ZERO),
            ("+5s", Duration::from_secs(5)),
        ];
        for (text, want) in ok {
            assert_eq!(parse(text).as_ref(), Ok(want), "{text}");
        }
        for bad in ["", "60", "s", "-5s", "5x", "1.2.3s", "5 s"] {
            let e = parse(bad).expect_err(bad);
            assert!(e.contains("is not a duration"), "{bad}: {e}");
        }
    }
}
