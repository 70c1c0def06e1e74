//! The cache file: one snapshot, written whole and atomically, checked on
//! every load.
//!
//! Why a snapshot file and not an embedded database: the whole cache is
//! small (about 200 bytes a tag: 20,000 tags are a few MB), it is written at
//! most once per scan round and only when something changed, and it is only
//! read at start-up. A snapshot written to a temporary file, synced, and
//! renamed over the old one can never be seen half-written, even if fluxd is
//! killed mid-write; a header with the body's length and SHA-256 catches
//! truncation and corruption from anything else (disk, hand edits, a copy
//! cut short). No dependency, nothing to compact, nothing to repair: a file
//! that fails any check is moved aside and the scanner starts afresh.
//!
//! Layout: `flux-registry-cache <version> <body length> <sha256 hex>\n`,
//! then the JSON body.

use std::io::Write as _;
use std::path::{Path, PathBuf};

const MAGIC: &str = "flux-registry-cache";
const VERSION: u32 = 1;

/// The cache file could not be written.
#[derive(Debug, thiserror::Error)]
#[error("writing registry cache {path}: {source}")]
pub struct WriteError {
    /// The cache file.
    pub path: PathBuf,
    /// The underlying error.
    #[source]
    pub source: std::io::Error,
}

/// Why a cache file was not trusted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("registry cache {path} discarded: {reason}")]
pub struct Discarded {
    /// The cache file.
    pub path: PathBuf,
    /// What check it failed.
    pub reason: String,
}

fn sha256_hex(bytes: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Encodes a body with its header.
pub(crate) fn encode(body: &[u8]) -> Vec<u8> {
    let mut out = format!("{MAGIC} {VERSION} {} {}\n", body.len(), sha256_hex(body)).into_bytes();
    out.extend_from_slice(body);
    out
}

/// Checks the header and returns the body, or why it cannot be trusted.
pub(crate) fn decode(bytes: &[u8]) -> Result<&[u8], String> {
    let newline = bytes
        .iter()
        .position(|b| *b == b'\n')
        .ok_or("no header line")?;
    let header = std::str::from_utf8(&bytes[..newline]).map_err(|_| "header is not text")?;
    let body = &bytes[newline + 1..];
    let fields: Vec<&str> = header.split(' ').collect();
    let [magic, version, len, sum] = fields.as_slice() else {
        return Err(format!("bad header {header:?}"));
    };
    if *magic != MAGIC {
        return Err("not a registry cache file".into());
    }
    if version.parse::<u32>() != Ok(VERSION) {
        return Err(format!("format version {version}, expected {VERSION}"));
    }
    let len: usize = len.parse().map_err(|_| format!("bad length {len:?}"))?;
    if body.len() != len {
        return Err(format!(
            "truncated or extended: {} bytes of body, header says {len}",
            body.len()
        ));
    }
    if sha256_hex(body) != *sum {
        return Err("checksum mismatch".into());
    }
    Ok(body)
}

/// Writes `body` to `path` atomically: a temporary file beside it, synced,
/// then renamed over it, then the directory synced.
pub(crate) fn write_atomic(path: &Path, body: &[u8]) -> Result<(), WriteError> {
    let fail = |source| WriteError {
        path: path.to_owned(),
        source,
    };
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(fail)?;
    let tmp = tmp_path(path);
    {
        let mut f = std::fs::File::create(&tmp).map_err(fail)?;
        f.write_all(&encode(body)).map_err(fail)?;
        f.sync_all().map_err(fail)?;
    }
    std::fs::rename(&tmp, path).map_err(fail)?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// The temporary file a write goes through.
pub(crate) fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

/// Where a discarded file is moved.
pub(crate) fn corrupt_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".corrupt");
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_every_kind_of_damage() {
        let good = encode(br#"{"a":1}"#);
        assert_eq!(decode(&good).unwrap(), br#"{"a":1}"#);
        let mut flipped = good.clone();
        let last = flipped.len() - 2;
        flipped[last] ^= 1;
        let mut extended = good.clone();
        extended.push(b' ');
        let wrong_version = String::from_utf8(good.clone())
            .unwrap()
            .replacen(" 1 ", " 2 ", 1)
            .into_bytes();
        for (bytes, want) in [
            (&good[..good.len() - 1], "truncated"),
            (&good[..10], "no header line"),
            (&extended[..], "truncated or extended"),
            (&flipped[..], "checksum mismatch"),
            (&wrong_version[..], "format version 2"),
            (&b"{\"json\":true}\n{}"[..], "bad header"),
            (&b"other-magic 1 2 ab\n{}"[..], "not a registry cache"),
            (&b""[..], "no header line"),
        ] {
            let e = decode(bytes).unwrap_err();
            assert!(e.contains(want), "{e} (wanted {want})");
        }
    }

    #[test]
    fn atomic_write_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/cache");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(decode(&std::fs::read(&path).unwrap()).unwrap(), b"two");
        assert!(!tmp_path(&path).exists());
        assert_eq!(tmp_path(&path).file_name().unwrap(), "cache.tmp");
        assert_eq!(corrupt_path(&path).file_name().unwrap(), "cache.corrupt");
    }
}
