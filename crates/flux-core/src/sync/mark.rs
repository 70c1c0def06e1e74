//! The GC mark and the checksum Flux writes on every object it applies.
//!
//! Both are Flux v1's, bit for bit where it matters: the mark is
//! `sha256.` + unpadded base64url of SHA-256(sync-set name ‖ resource ID), so
//! objects applied by Flux v1 keep their marks under this implementation and
//! are still recognised (and, when gone from git, collected).

use std::fmt;
use std::sync::LazyLock;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::frozen::Frozen;
use crate::resource::ResourceId;

/// The label marking objects applied by a sync set (Flux v1's name).
pub const GC_MARK_LABEL: &str = "fluxcd.io/sync-gc-mark";

/// The annotation holding the checksum of the git manifest an object was
/// last applied from (Flux v1's name).
pub const CHECKSUM_ANNOTATION: &str = "fluxcd.io/sync-checksum";

const MARK_PREFIX: &str = "sha256.";
/// Unpadded base64 of a 32-byte digest.
const MARK_DIGEST_LEN: usize = 43;

/// The name of a sync set: what a GC mark is made from.
///
/// Two Flux daemons syncing different repositories, branches or paths into
/// one cluster have different names, so neither collects the other's
/// objects.
///
/// ```
/// use flux_core::sync::SyncSetName;
/// let set = SyncSetName::from_git("git@github.com:org/repo", "master", &["deploy"]);
/// // Flux v1 normalised the scp-like URL before hashing:
/// let same = SyncSetName::from_git("ssh://git@github.com/org/repo", "master", &["deploy"]);
/// assert_eq!(set, same);
/// let id = "demo:deployment/podinfo".parse().unwrap();
/// assert!(set.gc_mark(&id).starts_with("sha256."));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SyncSetName(String);

impl SyncSetName {
    /// A sync set with exactly this name.
    pub fn new(name: impl Into<String>) -> Self {
        SyncSetName(name.into())
    }

    /// The name Flux v1's daemon gave the sync set of a repository: unpadded
    /// base64url of SHA-256(safe URL ‖ branch ‖ path…).
    ///
    /// Pass `--git-url`, `--git-branch` and the `--git-path` values exactly
    /// as given on the command line (not normalised): Flux v1 hashed them
    /// raw, and any difference changes every mark. The safe URL drops a
    /// password and turns the scp-like form `user@host:path` into
    /// `ssh://user@host/path`, as Flux v1 did; other URLs are hashed as
    /// written (Flux v1 also re-escaped unusual characters through Go's URL
    /// printer, which this does not reproduce).
    pub fn from_git<S: AsRef<str>>(url: &str, branch: &str, paths: &[S]) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(safe_url(url).as_bytes());
        hasher.update(branch.as_bytes());
        for path in paths {
            hasher.update(path.as_ref().as_bytes());
        }
        SyncSetName(URL_SAFE_NO_PAD.encode(hasher.finalize()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The GC mark label value of `id` in this sync set.
    pub fn gc_mark(&self, id: &ResourceId) -> String {
        let digest = self.mark_digest(id);
        let mut mark = String::with_capacity(MARK_PREFIX.len() + MARK_DIGEST_LEN);
        mark.push_str(MARK_PREFIX);
        URL_SAFE_NO_PAD.encode_string(digest, &mut mark);
        mark
    }

    /// Whether a label value is the mark of `id` in this sync set.
    pub fn is_mark_of(&self, id: &ResourceId, value: &str) -> bool {
        let Some(encoded) = value.strip_prefix(MARK_PREFIX) else {
            return false;
        };
        let mut buf = [0u8; MARK_DIGEST_LEN];
        match URL_SAFE_NO_PAD.encode_slice(self.mark_digest(id), &mut buf) {
            Ok(n) => encoded.as_bytes() == &buf[..n],
            Err(_) => false,
        }
    }

    fn mark_digest(&self, id: &ResourceId) -> impl AsRef<[u8]> {
        let mut hasher = Sha256::new();
        hasher.update(self.0.as_bytes());
        // The ID's text form `namespace:kind/name`, fed piecewise so no
        // string is built.
        hasher.update(id.namespace_or_cluster().as_bytes());
        hasher.update(b":");
        hasher.update(id.kind().as_bytes());
        hasher.update(b"/");
        hasher.update(id.name().as_bytes());
        hasher.finalize()
    }
}

impl fmt::Display for SyncSetName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a GC mark label value says about an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MarkState {
    /// The mark of this object in this sync set.
    Ours,
    /// A well-formed mark of another sync set (or of another object).
    Foreign,
    /// Not a mark any Flux writes.
    Malformed,
}

impl SyncSetName {
    pub(crate) fn mark_state(&self, id: &ResourceId, value: &str) -> MarkState {
        if self.is_mark_of(id, value) {
            MarkState::Ours
        } else if is_well_formed_mark(value) {
            MarkState::Foreign
        } else {
            MarkState::Malformed
        }
    }
}

pub(crate) fn is_well_formed_mark(value: &str) -> bool {
    value.strip_prefix(MARK_PREFIX).is_some_and(|d| {
        d.len() == MARK_DIGEST_LEN
            && d.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

/// The checksum Flux writes in [`CHECKSUM_ANNOTATION`]: SHA-1, in hex, of
/// the git object in a canonical JSON form (keys sorted, no spaces).
///
/// Flux v1 hashed the document as Go's YAML library re-printed it, so an
/// object applied by Flux v1 has a different checksum; the planner
/// recognises such objects by kubectl's record of what Flux v1 applied
/// instead (see [`LAST_APPLIED_ANNOTATION`](super::LAST_APPLIED_ANNOTATION)),
/// and its GC mark does not depend on the checksum. Hashing the parsed
/// object means a change to comments or formatting alone does not re-apply
/// anything.
pub fn checksum(object: &Value) -> String {
    checksum_value(&mut Vec::new(), object)
}

/// [`checksum`] of a frozen object, reusing `buffer` for the canonical
/// JSON.
pub(crate) fn checksum_with(buffer: &mut Vec<u8>, object: &Frozen) -> String {
    buffer.clear();
    if *MAPS_SORTED {
        // A frozen object keeps the key order of the tree it was made
        // from, which is sorted: written out, it is the canonical form.
        let _ = serde_json::to_writer(&mut *buffer, object);
    } else {
        write_canonical(buffer, &object.to_value());
    }
    sha1_hex(buffer)
}

/// [`checksum`] into `buffer`.
fn checksum_value(buffer: &mut Vec<u8>, object: &Value) -> String {
    if *MAPS_SORTED {
        // serde_json writes compact JSON with map keys in iteration order,
        // which is sorted: that is the canonical form.
        let _ = serde_json::to_writer(&mut *buffer, object);
    } else {
        write_canonical(buffer, object);
    }
    sha1_hex(buffer)
}

fn sha1_hex(buffer: &[u8]) -> String {
    let digest = Sha1::digest(buffer);
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut hex = String::with_capacity(40);
    for byte in digest.iter() {
        hex.push(char::from(HEX[usize::from(byte >> 4)]));
        hex.push(char::from(HEX[usize::from(byte & 0xf)]));
    }
    hex
}

/// Whether serde_json's maps iterate in key order (they do unless some
/// crate in the build turns on its `preserve_order` feature).
static MAPS_SORTED: LazyLock<bool> = LazyLock::new(|| {
    let mut map = serde_json::Map::new();
    map.insert("b".into(), Value::Null);
    map.insert("a".into(), Value::Null);
    map.keys().next().is_some_and(|k| k == "a")
});

/// Compact JSON with map keys sorted, whatever order maps keep.
fn write_canonical(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(out, item);
            }
            out.push(b']');
        }
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push(b'{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                let _ = serde_json::to_writer(&mut *out, k);
                out.push(b':');
                write_canonical(out, v);
            }
            out.push(b'}');
        }
        scalar => {
            let _ = serde_json::to_writer(&mut *out, scalar);
        }
    }
}

/// The URL Flux v1 hashed into the sync-set name: no password, and the
/// scp-like form rewritten as an `ssh://` URL.
fn safe_url(url: &str) -> String {
    const TRANSPORTS: &[&str] = &[
        "ssh", "git", "git+ssh", "http", "https", "ftp", "ftps", "rsync", "file",
    ];
    if let Some((scheme, rest)) = url.split_once("://") {
        let scheme = scheme.to_ascii_lowercase();
        if TRANSPORTS.contains(&scheme.as_str()) {
            let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            let (authority, tail) = rest.split_at(end);
            let authority = match authority.rsplit_once('@') {
                Some((userinfo, host)) => {
                    let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
                    format!("{user}@{host}")
                }
                None => authority.to_owned(),
            };
            return format!("{scheme}://{authority}{tail}");
        }
    }
    if let Some(scp) = scp_like(url) {
        return scp;
    }
    // Go prints a scheme-only URL with a path as `file://` + path.
    format!("file://{url}")
}

/// `[user@]host:path` (no `//` after the colon), as git and Flux v1 read it.
fn scp_like(url: &str) -> Option<String> {
    let user_char = |c: char| c.is_ascii_alphanumeric() || "-._~".contains(c);
    let host_char = |c: char| c.is_ascii_alphanumeric() || "._-".contains(c);
    let (user, rest) = match url.split_once('@') {
        Some((user, rest)) if !user.is_empty() && user.chars().all(user_char) => (Some(user), rest),
        _ => (None, url),
    };
    let (host, path) = rest.split_once(':')?;
    if host.is_empty() || !host.chars().all(host_char) || path.is_empty() {
        return None;
    }
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    if !path
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "./_-".contains(c))
    {
        return None;
    }
    let user = user.map(|u| format!("{u}@")).unwrap_or_default();
    let slash = if path.starts_with('/') { "" } else { "/" };
    let query = if query.is_empty() {
        String::new()
    } else {
        format!("?{query}")
    };
    Some(format!("ssh://{user}{host}{slash}{path}{query}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn id(s: &str) -> ResourceId {
        s.parse().expect("valid ID")
    }

    /// The expected value, computed independently:
    /// `printf '%s' 'my-set' 'demo:deployment/podinfo' | sha256sum | xxd -r -p | basenc --base64url | tr -d =`
    #[test]
    fn mark_matches_flux_v1_scheme() {
        let set = SyncSetName::new("my-set");
        let mark = set.gc_mark(&id("demo:deployment/podinfo"));
        assert_eq!(mark, "sha256.P37bSvOV1lIXvS_4q_22w647s_ubOUeg1faeybXthho");
        assert!(set.is_mark_of(&id("demo:deployment/podinfo"), &mark));
        assert!(!set.is_mark_of(&id("demo:deployment/other"), &mark));
        assert!(!SyncSetName::new("other").is_mark_of(&id("demo:deployment/podinfo"), &mark));
    }

    #[test]
    fn cluster_scoped_ids_hash_with_cluster_namespace() {
        let set = SyncSetName::new("s");
        let ns = id("<cluster>:namespace/demo");
        let expected = {
            let mut h = Sha256::new();
            h.update(b"s<cluster>:namespace/demo");
            format!("sha256.{}", URL_SAFE_NO_PAD.encode(h.finalize()))
        };
        assert_eq!(set.gc_mark(&ns), expected);
    }

    macro_rules! state {
        ($name:ident, $value:expr, $want:expr) => {
            #[test]
            fn $name() {
                let set = SyncSetName::new("s");
                let x = id("a:configmap/x");
                let value: String = $value(&set, &x);
                assert_eq!(set.mark_state(&x, &value), $want);
            }
        };
    }
    state!(
        state_ours,
        |s: &SyncSetName, x| s.gc_mark(x),
        MarkState::Ours
    );
    state!(
        state_other_set,
        |_: &SyncSetName, x| SyncSetName::new("t").gc_mark(x),
        MarkState::Foreign
    );
    state!(
        state_other_object,
        |s: &SyncSetName, _| s.gc_mark(&id("a:configmap/y")),
        MarkState::Foreign
    );
    state!(
        state_empty,
        |_: &SyncSetName, _| String::new(),
        MarkState::Malformed
    );
    state!(
        state_true,
        |_: &SyncSetName, _| "true".to_owned(),
        MarkState::Malformed
    );
    state!(
        state_truncated,
        |s: &SyncSetName, x| s.gc_mark(x)[..20].to_owned(),
        MarkState::Malformed
    );
    state!(
        state_padded,
        |s: &SyncSetName, x| format!("{}=", s.gc_mark(x)),
        MarkState::Malformed
    );
    state!(
        state_std_alphabet,
        |_: &SyncSetName, _| format!("sha256.{}", "+".repeat(43)),
        MarkState::Malformed
    );

    #[test]
    fn checksum_ignores_key_order_and_formatting() {
        let a = json!({"b": 1, "a": {"y": [1, "two", null], "x": true}});
        let b: Value =
            serde_json::from_str(r#"{ "a": {"x": true, "y": [1,"two",null]}, "b": 1 }"#).unwrap();
        assert_eq!(checksum(&a), checksum(&b));
        assert_ne!(checksum(&a), checksum(&json!({"b": 2, "a": {}})));
        assert_eq!(checksum(&a).len(), 40);
    }

    #[test]
    fn canonical_writer_sorts_keys_itself() {
        let v = json!({"b": [1, 2.5, {"d": null, "c": "x"}], "a": "q\"\n"});
        let mut out = Vec::new();
        write_canonical(&mut out, &v);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"a":"q\"\n","b":[1,2.5,{"c":"x","d":null}]}"#
        );
    }

    /// `printf '%s' '{"a":"q\"\n","b":[1,2.5]}' | sha1sum`
    #[test]
    fn checksum_is_sha1_of_canonical_json() {
        let v = json!({"b": [1, 2.5], "a": "q\"\n"});
        assert_eq!(checksum(&v), "9fe448cb3e7c4cc82db708b34e1760e99de8838e");
    }

    macro_rules! url {
        ($name:ident, $input:expr, $safe:expr) => {
            #[test]
            fn $name() {
                assert_eq!(safe_url($input), $safe);
            }
        };
    }
    url!(
        scp_form,
        "git@github.com:fluxcd/flux-get-started",
        "ssh://git@github.com/fluxcd/flux-get-started"
    );
    url!(
        scp_form_absolute,
        "git@host:/srv/repo.git",
        "ssh://git@host/srv/repo.git"
    );
    url!(
        ssh_url_kept,
        "ssh://git@github.com/org/repo.git",
        "ssh://git@github.com/org/repo.git"
    );
    url!(
        password_dropped,
        "https://user:s3cret@example.com/org/repo.git",
        "https://user@example.com/org/repo.git"
    );
    url!(
        scheme_lowered,
        "HTTPS://example.com/r",
        "https://example.com/r"
    );
    url!(local_path, "/srv/git/repo", "file:///srv/git/repo");

    #[test]
    fn set_name_hashes_url_branch_and_paths() {
        let a = SyncSetName::from_git("git@h:o/r", "master", &["a", "b"]);
        let expected = {
            let mut h = Sha256::new();
            h.update(b"ssh://git@h/o/rmasterab");
            URL_SAFE_NO_PAD.encode(h.finalize())
        };
        assert_eq!(a.as_str(), expected);
        let no_paths: &[&str] = &[];
        assert_ne!(a, SyncSetName::from_git("git@h:o/r", "master", no_paths));
        assert_eq!(
            SyncSetName::from_git("https://u:one@h/r", "main", no_paths),
            SyncSetName::from_git("https://u:two@h/r", "main", no_paths),
        );
    }
}
