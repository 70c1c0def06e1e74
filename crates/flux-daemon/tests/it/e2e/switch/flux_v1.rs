//! What Flux v1 did to a cluster, redone with the tools it used: its GC
//! mark, its checksum and its metadata on every object, applied with
//! client-side `kubectl apply`, and its sync tag moved with `git tag`.
//!
//! Facts from Flux v1 (pkg/cluster/kubernetes/sync.go, resource/load.go,
//! pkg/daemon/sync.go, pkg/git/operations.go):
//! - the sync-set name is unpadded base64url of SHA-256(safe git URL ‖
//!   branch ‖ each `--git-path`), and an object's mark in label
//!   `fluxcd.io/sync-gc-mark` is `sha256.` + unpadded base64url of
//!   SHA-256(sync-set name ‖ resource ID);
//! - the checksum in annotation `fluxcd.io/sync-checksum` is the SHA-1, in
//!   hex, of the document as `yaml.v2` (v2.4.0) `Marshal` prints what it
//!   decoded from the file (each item of a `kind: List` on its own);
//! - what is applied is the document with the mark, the namespace (unless
//!   cluster-scoped) and the checksum merged into its metadata, piped to
//!   `kubectl apply -f -`;
//! - the tag is moved with `git tag --force -a -m "Sync pointer" flux-sync
//!   <revision>` and pushed.
//!
//! [`go_yaml`] prints values the way `yaml.v2` does for what the example
//! repository holds (mappings, sequences, strings, integers, booleans) and
//! panics on anything else, so the checksums are Flux v1's or the test
//! says it cannot tell.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};
use sha1::Sha1;
use sha2::{Digest, Sha256};

/// Flux v1's sync-set name for a repository.
pub fn sync_set_name(safe_url: &str, branch: &str, paths: &[&str]) -> String {
    let mut h = Sha256::new();
    h.update(safe_url.as_bytes());
    h.update(branch.as_bytes());
    for p in paths {
        h.update(p.as_bytes());
    }
    URL_SAFE_NO_PAD.encode(h.finalize())
}

/// Flux v1's GC mark of resource `id` (`namespace:kind/name`).
pub fn gc_mark(sync_set: &str, id: &str) -> String {
    let mut h = Sha256::new();
    h.update(sync_set.as_bytes());
    h.update(id.as_bytes());
    format!("sha256.{}", URL_SAFE_NO_PAD.encode(h.finalize()))
}

/// Flux v1's checksum of a document.
pub fn checksum(doc: &Value) -> String {
    Sha1::digest(go_yaml(doc).as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `doc` with Flux v1's metadata merged in.
pub fn with_metadata(doc: &Value, namespace: Option<&str>, mark: &str, sum: &str) -> Value {
    let mut out = doc.clone();
    let meta = out["metadata"].as_object_mut().expect("metadata");
    if let Some(ns) = namespace {
        meta.insert("namespace".into(), ns.into());
    }
    for (map, key, value) in [
        ("labels", "fluxcd.io/sync-gc-mark", mark),
        ("annotations", "fluxcd.io/sync-checksum", sum),
    ] {
        meta.entry(map)
            .or_insert_with(|| Value::Object(Map::new()))
            .as_object_mut()
            .expect("a mapping")
            .insert(key.into(), value.into());
    }
    out
}

/// `yaml.v2` `Marshal` of a decoded document.
pub fn go_yaml(v: &Value) -> String {
    let mut out = String::new();
    match v {
        Value::Object(m) if !m.is_empty() => mapping(&mut out, m, 0),
        other => {
            out.push_str(&inline(other).expect("a top-level scalar or empty collection"));
            out.push('\n');
        }
    }
    out
}

fn pad(out: &mut String, indent: usize) {
    out.extend(std::iter::repeat_n(' ', indent));
}

/// An empty collection or a scalar, on one line.
fn inline(v: &Value) -> Option<String> {
    Some(match v {
        Value::Object(m) if m.is_empty() => "{}".into(),
        Value::Array(a) if a.is_empty() => "[]".into(),
        Value::Object(_) | Value::Array(_) => return None,
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => {
            assert!(n.is_i64() || n.is_u64(), "floats are not printed here: {n}");
            n.to_string()
        }
        Value::String(s) => string(s),
    })
}

fn mapping(out: &mut String, m: &Map<String, Value>, indent: usize) {
    let mut keys: Vec<&String> = m.keys().collect();
    keys.sort_by(|a, b| key_order(a, b));
    for k in keys {
        pad(out, indent);
        out.push_str(&string(k));
        out.push(':');
        value_after_key(out, &m[k.as_str()], indent);
    }
}

fn value_after_key(out: &mut String, v: &Value, indent: usize) {
    match (v, inline(v)) {
        (_, Some(s)) => {
            out.push(' ');
            out.push_str(&s);
            out.push('\n');
        }
        (Value::Object(m), None) => {
            out.push('\n');
            mapping(out, m, indent + 2);
        }
        // Sequences in a mapping are not indented.
        (Value::Array(a), None) => {
            out.push('\n');
            sequence(out, a, indent);
        }
        _ => unreachable!("inline covers scalars"),
    }
}

fn sequence(out: &mut String, a: &[Value], indent: usize) {
    for item in a {
        pad(out, indent);
        out.push('-');
        match (item, inline(item)) {
            (_, Some(s)) => {
                out.push(' ');
                out.push_str(&s);
                out.push('\n');
            }
            (Value::Object(m), None) => {
                // The first key on the dash's line, the rest below it.
                let mut first = String::new();
                mapping(&mut first, m, indent + 2);
                out.push(' ');
                out.push_str(&first[indent + 2..]);
            }
            (Value::Array(inner), None) => {
                let mut first = String::new();
                sequence(&mut first, inner, indent + 2);
                out.push(' ');
                out.push_str(&first[indent + 2..]);
            }
            _ => unreachable!("inline covers scalars"),
        }
    }
}

/// A string as `yaml.v2` prints it: plain when it reads back as the same
/// string and libyaml allows it plain, double-quoted when plain it would
/// read as another type, single-quoted when libyaml refuses it plain.
fn string(s: &str) -> String {
    assert!(
        !s.contains('\n') && s.len() < 60 && s.chars().all(|c| (' '..='~').contains(&c)),
        "not printed here (literal blocks, folding, escapes): {s:?}"
    );
    if !resolves_to_string(s) {
        return format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
    }
    if plain_allowed(s) {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', "''"))
    }
}

/// Whether `yaml.v2` reads `s`, unquoted, as a string (its resolve table:
/// YAML 1.1 booleans and nulls, integers in any base, floats, base-60
/// floats, timestamps).
fn resolves_to_string(s: &str) -> bool {
    const SPECIAL: &[&str] = &[
        "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true", "True", "TRUE", "false",
        "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF", "null", "Null", "NULL", "~",
        ".nan", ".NaN", ".NAN", ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf",
        "-.Inf", "-.INF", "<<", "",
    ];
    if SPECIAL.contains(&s) {
        return false;
    }
    let Some(first) = s.chars().next() else {
        return false;
    };
    if !(first.is_ascii_digit() || matches!(first, '+' | '-' | '.')) {
        return true;
    }
    let plain = s.replace('_', "");
    let digits = plain.trim_start_matches(['+', '-']);
    let int = !digits.is_empty()
        && (digits.chars().all(|c| c.is_ascii_digit())
            || [("0x", 16), ("0o", 8), ("0b", 2)].iter().any(|(p, radix)| {
                digits
                    .strip_prefix(p)
                    .is_some_and(|d| !d.is_empty() && d.chars().all(|c| c.is_digit(*radix)))
            }));
    let float = {
        // ^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$
        let (mantissa, exponent) = match digits.find(['e', 'E']) {
            Some(i) => (&digits[..i], Some(&digits[i + 1..])),
            None => (digits, None),
        };
        let m_ok = match mantissa.split_once('.') {
            Some((a, b)) => {
                a.chars().all(|c| c.is_ascii_digit())
                    && b.chars().all(|c| c.is_ascii_digit())
                    && (!a.is_empty() || !b.is_empty())
            }
            None => !mantissa.is_empty() && mantissa.chars().all(|c| c.is_ascii_digit()),
        };
        let e_ok = exponent.is_none_or(|e| {
            let e = e.trim_start_matches(['+', '-']);
            !e.is_empty() && e.chars().all(|c| c.is_ascii_digit())
        });
        m_ok && e_ok
    };
    let base60 = digits.contains(':')
        && digits
            .split(':')
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit() || c == '.'));
    let timestamp =
        s.len() >= 8 && s.as_bytes()[4] == b'-' && s[..4].chars().all(|c| c.is_ascii_digit());
    !(int || float || base60 || timestamp)
}

/// libyaml's test for a plain scalar in block context.
fn plain_allowed(s: &str) -> bool {
    let b = s.as_bytes();
    let blank_after = |i: usize| b.get(i + 1).is_none_or(|c| *c == b' ');
    if s.starts_with("---") || s.starts_with("...") || b[0] == b' ' || b[b.len() - 1] == b' ' {
        return false;
    }
    if b"#,[]{}&*!|>'\"%@`".contains(&b[0]) {
        return false;
    }
    if matches!(b[0], b'-' | b'?' | b':') && blank_after(0) {
        return false;
    }
    for i in 1..b.len() {
        if b[i] == b':' && blank_after(i) {
            return false;
        }
        if b[i] == b'#' && b[i - 1] == b' ' {
            return false;
        }
    }
    true
}

/// `yaml.v2`'s order of mapping keys: digits by value, non-letters before
/// letters, otherwise by character.
fn key_order(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let (ar, br): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut i = 0;
    while i < ar.len() && i < br.len() {
        if ar[i] == br[i] {
            i += 1;
            continue;
        }
        let (al, bl) = (ar[i].is_alphabetic(), br[i].is_alphabetic());
        if al && bl {
            return ar[i].cmp(&br[i]);
        }
        if al || bl {
            return if bl {
                Ordering::Less
            } else {
                Ordering::Greater
            };
        }
        let number = |r: &[char], mut j: usize| {
            let mut n: u64 = 0;
            while j < r.len() && r[j].is_ascii_digit() {
                n = n * 10 + u64::from(r[j] as u8 - b'0');
                j += 1;
            }
            (n, j)
        };
        // Leading zeros: yaml.v2 compares the digits as they are.
        let (an, ai) = number(&ar, i);
        let (bn, bi) = number(&br, i);
        if an != bn {
            return an.cmp(&bn);
        }
        if ai != bi {
            return ai.cmp(&bi);
        }
        return ar[i].cmp(&br[i]);
    }
    ar.len().cmp(&br.len())
}

#[test]
fn go_yaml_prints_as_yaml_v2_does() {
    let doc = serde_json::json!({
        "kind": "Deployment", "apiVersion": "apps/v1",
        "metadata": {"name": "x", "annotations": {"fluxcd.io/automated": "true", "b": "Ops <o@e.com>"}},
        "spec": {"replicas": 1, "empty": {}, "list": [],
                 "containers": [{"name": "a", "args": ["-m", "64", "--port=1", ""], "image": "r/a:1.0"}],
                 "schedule": "0 3 * * *", "star": "*/5 * * * *", "colon": "a: b", "hostNetwork": true}
    });
    let want = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  annotations:
    b: Ops <o@e.com>
    fluxcd.io/automated: \"true\"
  name: x
spec:
  colon: 'a: b'
  containers:
  - args:
    - -m
    - \"64\"
    - --port=1
    - \"\"
    image: r/a:1.0
    name: a
  empty: {}
  hostNetwork: true
  list: []
  replicas: 1
  schedule: 0 3 * * *
  star: '*/5 * * * *'
";
    assert_eq!(go_yaml(&doc), want);
    assert_eq!(key_order("a2", "a10"), std::cmp::Ordering::Less);
    assert_eq!(key_order("a.b", "ab"), std::cmp::Ordering::Less);
    assert_eq!(
        key_order("app", "app.kubernetes.io/name"),
        std::cmp::Ordering::Less
    );
}
