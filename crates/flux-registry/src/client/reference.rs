//! Tags and digests as the OCI distribution spec writes them, checked before
//! either goes into a URL path.
//!
//! A registry's tag list and manifests are untrusted text: a "tag" such as
//! `../../other/manifests/x` or `a?b` would otherwise become a request for
//! something else (`/v2/repo/manifests/../../…`). The grammars:
//! - tag: `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`;
//! - digest: `algorithm ":" encoded`, with
//!   `algorithm = component (separator component)*`, `component = [a-z0-9]+`,
//!   `separator = [+._-]`, `encoded = [A-Za-z0-9=_-]+`; and for the
//!   registered algorithms, `sha256` is 64 and `sha512` 128 lower-case hex
//!   digits.

/// The longest tag the spec allows.
pub const MAX_TAG_LEN: usize = 128;

/// Why `tag` is not a tag, if it is not one.
pub fn check_tag(tag: &str) -> Result<(), &'static str> {
    let b = tag.as_bytes();
    let Some(first) = b.first() else {
        return Err("a tag cannot be empty");
    };
    if b.len() > MAX_TAG_LEN {
        return Err("a tag is at most 128 characters");
    }
    if !(first.is_ascii_alphanumeric() || *first == b'_') {
        return Err("a tag starts with a letter, digit or '_'");
    }
    if !b
        .iter()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
    {
        return Err("a tag holds only letters, digits, '_', '.' and '-'");
    }
    Ok(())
}

/// Why `digest` is not a digest, if it is not one.
pub fn check_digest(digest: &str) -> Result<(), &'static str> {
    let Some((algorithm, encoded)) = digest.split_once(':') else {
        return Err("a digest is algorithm:encoded");
    };
    let components_ok = !algorithm.is_empty()
        && algorithm.split(['+', '.', '_', '-']).all(|c| {
            !c.is_empty()
                && c.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        });
    if !components_ok {
        return Err(
            "a digest algorithm is lower-case letters and digits, in parts joined by + . _ -",
        );
    }
    if encoded.is_empty()
        || !encoded
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'=' | b'_' | b'-'))
    {
        return Err("a digest's encoded part is letters, digits, '=', '_' and '-'");
    }
    let hex_of = |len: usize| {
        encoded.len() == len
            && encoded
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    match algorithm {
        "sha256" if !hex_of(64) => Err("a sha256 digest is 64 lower-case hex digits"),
        "sha512" if !hex_of(128) => Err("a sha512 digest is 128 lower-case hex digits"),
        _ => Ok(()),
    }
}

/// Why `reference` (a tag, or a digest) cannot name a manifest.
pub fn check_reference(reference: &str) -> Result<(), &'static str> {
    if reference.contains(':') {
        check_digest(reference)
    } else {
        check_tag(reference)
    }
}

/// Untrusted text for a message: quoted and escaped, and cut short.
pub(crate) fn shown(text: &str) -> String {
    const MAX: usize = 80;
    match text.char_indices().nth(MAX) {
        Some((i, _)) => format!("{:?}…", &text[..i]),
        None => format!("{text:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags() {
        let longest = format!("_{}", "x".repeat(127));
        for ok in ["1.0", "latest", "_x", "A-b_c.d", "0", longest.as_str()] {
            assert_eq!(check_tag(ok), Ok(()), "{ok}");
        }
        let too_long = "x".repeat(129);
        for bad in [
            "",
            ".x",
            "-x",
            "a/b",
            "..",
            "../x",
            "a:b",
            "a@b",
            "a?b",
            "a#b",
            "a%2F",
            "a b",
            "ü",
            too_long.as_str(),
        ] {
            assert!(check_tag(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn digests() {
        let h64 = "0123456789abcdef".repeat(4);
        let h128 = h64.repeat(2);
        for ok in [
            format!("sha256:{h64}"),
            format!("sha512:{h128}"),
            "multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8".into(),
            "sha256+b64u:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564".into(),
            "a.b-c_d:x=".into(),
        ] {
            assert_eq!(check_digest(&ok), Ok(()), "{ok}");
            assert_eq!(check_reference(&ok), Ok(()), "{ok}");
        }
        for bad in [
            String::new(),
            "sha256".into(),
            ":abc".into(),
            "sha256:".into(),
            format!("sha256:{}", &h64[..63]),
            format!("sha256:{h64}0"),
            format!("sha256:{}", h64.to_uppercase()),
            format!("sha512:{h64}"),
            format!("SHA256:{h64}"),
            format!("sha256:{h64}/x"),
            "sha256:../../x".into(),
            "a..b:x".into(),
            "+a:x".into(),
            "a:b:c".into(),
            "a:b?c".into(),
        ] {
            assert!(check_digest(&bad).is_err(), "{bad:?}");
            // Without a ':' it is read as a tag ("sha256" is a fine tag).
            assert_eq!(
                check_reference(&bad).is_err(),
                bad.contains(':') || bad.is_empty(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn untrusted_text_is_quoted_and_cut() {
        assert_eq!(shown("a\nb"), r#""a\nb""#);
        let long = "é".repeat(500);
        let s = shown(&long);
        assert!(s.chars().count() <= 83 && s.ends_with('…'), "{s}");
    }
}
