//! The deploy key: the private key fluxd uses for ssh remotes.
//!
//! Flux v1 reads it from the `flux-git-deploy` secret mounted at
//! `/etc/fluxd/ssh/identity`, generates one when none is mounted, and shows
//! its public half (and fingerprints) through `fluxctl identity`. This does
//! the same with `ssh-keygen` (from openssh-client, which the `ssh` transport
//! needs anyway): new keys are ed25519 unless a [`KeySpec`] (fluxd's
//! `--ssh-keygen-type`, `--ssh-keygen-bits`, `--ssh-keygen-format`) asks for
//! RSA or ECDSA, written with mode 0600 and without ever replacing an
//! existing file. The private key is never read into
//! memory, logged or shown; `Debug` prints the path and public key only.

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::error::Error;

/// Hash used for a fingerprint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FingerprintHash {
    /// `SHA256:…` (OpenSSH's default).
    Sha256,
    /// `aa:bb:…` (what `fluxctl identity -l` shows).
    Md5,
}

impl FingerprintHash {
    fn arg(self) -> &'static str {
        match self {
            FingerprintHash::Sha256 => "sha256",
            FingerprintHash::Md5 => "md5",
        }
    }
}

/// The algorithm of a generated key (`ssh-keygen -t`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyType {
    /// `ed25519` (the default: small, fast, and what OpenSSH 9.5+ makes).
    #[default]
    Ed25519,
    /// `rsa`, for hosts that take nothing else.
    Rsa,
    /// `ecdsa` (NIST curves).
    Ecdsa,
}

impl KeyType {
    fn arg(self) -> &'static str {
        match self {
            KeyType::Ed25519 => "ed25519",
            KeyType::Rsa => "rsa",
            KeyType::Ecdsa => "ecdsa",
        }
    }
}

/// The private key file format of a generated key (`ssh-keygen -m`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyFormat {
    /// `RFC4716`: OpenSSH's own format (Flux v1's default).
    #[default]
    Rfc4716,
    /// `PKCS8`.
    Pkcs8,
    /// `PEM` (PKCS#1 for RSA); ed25519 keys are written in OpenSSH's
    /// format whatever is asked, as ssh-keygen does.
    Pem,
}

impl KeyFormat {
    fn arg(self) -> &'static str {
        match self {
            KeyFormat::Rfc4716 => "RFC4716",
            KeyFormat::Pkcs8 => "PKCS8",
            KeyFormat::Pem => "PEM",
        }
    }
}

/// How a new deploy key is made: fluxd's `--ssh-keygen-*` flags, checked
/// before any key is generated so a bad value stops start-up, not the
/// first `fluxctl identity --regenerate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KeySpec {
    /// The algorithm.
    pub kind: KeyType,
    /// The size in bits (RSA: 2048 to 16384; ECDSA: 256, 384 or 521;
    /// ed25519 has a fixed size).
    pub bits: Option<u32>,
    /// The private key file format.
    pub format: KeyFormat,
}

impl KeySpec {
    /// Reads the flags' values. Flux v1 left the type to ssh-keygen, whose
    /// default was RSA when Flux v1 was current: bits without a type
    /// therefore mean RSA, no flags at all mean ed25519.
    pub fn from_flags(kind: Option<&str>, bits: Option<u32>, format: &str) -> Result<Self, Error> {
        let invalid = |flag: &'static str, value: String, reason: &str| Error::InvalidConfig {
            flag,
            value,
            reason: reason.to_owned(),
        };
        let kind = match kind.map(str::trim).filter(|k| !k.is_empty()) {
            None if bits.is_some() => KeyType::Rsa,
            None => KeyType::Ed25519,
            Some("ed25519") => KeyType::Ed25519,
            Some("rsa") => KeyType::Rsa,
            Some("ecdsa") => KeyType::Ecdsa,
            Some(other) => {
                return Err(invalid(
                    "ssh-keygen-type",
                    other.to_owned(),
                    "use ed25519, rsa or ecdsa (dsa keys are refused by current ssh \
                     servers; -sk keys need a hardware token)",
                ));
            }
        };
        if let Some(b) = bits {
            let ok = match kind {
                KeyType::Rsa => (2048..=16384).contains(&b),
                KeyType::Ecdsa => matches!(b, 256 | 384 | 521),
                KeyType::Ed25519 => false,
            };
            if !ok {
                let reason = match kind {
                    KeyType::Rsa => "RSA keys must have 2048 to 16384 bits",
                    KeyType::Ecdsa => "ECDSA keys have 256, 384 or 521 bits",
                    KeyType::Ed25519 => "ed25519 keys have a fixed size: leave the flag out",
                };
                return Err(invalid("ssh-keygen-bits", b.to_string(), reason));
            }
        }
        let format = match format.trim() {
            "" | "RFC4716" => KeyFormat::Rfc4716,
            "PKCS8" => KeyFormat::Pkcs8,
            "PEM" => KeyFormat::Pem,
            other => {
                return Err(invalid(
                    "ssh-keygen-format",
                    other.to_owned(),
                    "use RFC4716, PKCS8 or PEM",
                ));
            }
        };
        Ok(KeySpec { kind, bits, format })
    }

    fn args(&self) -> Vec<String> {
        let mut args = vec!["-t".to_owned(), self.kind.arg().to_owned()];
        if let Some(b) = self.bits {
            args.extend(["-b".to_owned(), b.to_string()]);
        }
        args.extend(["-m".to_owned(), self.format.arg().to_owned()]);
        args
    }
}

/// A key fingerprint, as Flux v1's API returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    /// The hash, without its `SHA256:`/`MD5:` prefix.
    pub hash: String,
    /// ssh-keygen's "visual host key" picture.
    pub randomart: String,
}

/// A deploy key on disk.
#[derive(Clone, PartialEq, Eq)]
pub struct DeployKey {
    path: PathBuf,
    public_key: String,
}

impl std::fmt::Debug for DeployKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeployKey")
            .field("path", &self.path)
            .field("public_key", &self.public_key)
            .finish()
    }
}

impl DeployKey {
    /// Uses the key at `path`. A key readable by group or others is made
    /// 0600 (ssh refuses such keys); if that is not possible (a read-only
    /// mount) it is an error saying so.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let fail = |message: String| Error::Identity {
            path: path.to_owned(),
            message,
        };
        let meta = fs::metadata(path).map_err(|e| fail(format!("cannot read it: {e}")))?;
        if !meta.is_file() {
            return Err(fail("it is not a file".into()));
        }
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            fs::set_permissions(path, fs::Permissions::from_mode(0o600)).map_err(|e| {
                fail(format!(
                    "its mode {mode:04o} lets others read it, so ssh would refuse it, and it cannot be changed to 0600: {e}"
                ))
            })?;
        }
        let out = ssh_keygen(&["-y", "-f"], path)?;
        let public_key = out.trim().to_owned();
        if public_key.is_empty() {
            return Err(fail("ssh-keygen printed no public key".into()));
        }
        Ok(DeployKey {
            path: path.to_owned(),
            public_key,
        })
    }

    /// Generates a new ed25519 key at `path`, which must not exist yet.
    pub fn generate(path: &Path) -> Result<Self, Error> {
        DeployKey::generate_with(path, &KeySpec::default())
    }

    /// Generates a new key as `spec` says at `path`, which must not exist
    /// yet.
    pub fn generate_with(path: &Path, spec: &KeySpec) -> Result<Self, Error> {
        let parent = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        let tmp = tempfile::Builder::new()
            .prefix(".flux-keygen")
            .tempdir_in(parent)
            .map_err(|e| Error::io(parent, e))?;
        let fresh = tmp.path().join("identity");
        let mut cmd = Command::new("ssh-keygen");
        cmd.args(["-q", "-N", "", "-C", "flux"])
            .args(spec.args())
            .arg("-f")
            .arg(&fresh);
        run(cmd, "ssh-keygen", path)?;
        fs::set_permissions(&fresh, fs::Permissions::from_mode(0o600))
            .map_err(|e| Error::io(&fresh, e))?;
        // A hard link never replaces an existing file, unlike rename.
        fs::hard_link(&fresh, path).map_err(|e| Error::Identity {
            path: path.to_owned(),
            message: format!("cannot write the new key: {e}"),
        })?;
        DeployKey::load(path)
    }

    /// Replaces the key at `path` with a new ed25519 key, atomically (a
    /// rename): `fluxctl identity --regenerate`. ssh reads the key file on
    /// every connection, so the next fetch uses the new key.
    pub fn regenerate(path: &Path) -> Result<Self, Error> {
        DeployKey::regenerate_with(path, &KeySpec::default())
    }

    /// Replaces the key at `path` with a new key made as `spec` says,
    /// atomically.
    pub fn regenerate_with(path: &Path, spec: &KeySpec) -> Result<Self, Error> {
        let parent = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let tmp = tempfile::Builder::new()
            .prefix(".flux-keygen")
            .tempdir_in(parent)
            .map_err(|e| Error::io(parent, e))?;
        let fresh = tmp.path().join("identity");
        DeployKey::generate_with(&fresh, spec)?;
        fs::rename(&fresh, path).map_err(|e| Error::Identity {
            path: path.to_owned(),
            message: format!("cannot replace the key: {e}"),
        })?;
        DeployKey::load(path)
    }

    /// Loads the key at `path`, generating it first if there is none; the
    /// flag says whether it was generated.
    pub fn load_or_generate(path: &Path) -> Result<(Self, bool), Error> {
        match fs::symlink_metadata(path) {
            Ok(_) => Ok((DeployKey::load(path)?, false)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Ok((DeployKey::generate(path)?, true))
            }
            Err(e) => Err(Error::Identity {
                path: path.to_owned(),
                message: format!("cannot read it: {e}"),
            }),
        }
    }

    /// Where the private key is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The public key, one `authorized_keys` line (what `fluxctl identity`
    /// prints and users add as a deploy key).
    pub fn public_key(&self) -> &str {
        &self.public_key
    }

    /// The fingerprint and randomart of the key.
    pub fn fingerprint(&self, hash: FingerprintHash) -> Result<Fingerprint, Error> {
        let mut cmd = Command::new("ssh-keygen");
        cmd.args(["-l", "-v", "-E", hash.arg(), "-f"])
            .arg(&self.path);
        let out = run(cmd, "ssh-keygen -l", &self.path)?;
        let (first, art) = out.split_once('\n').unwrap_or((&out, ""));
        // "256 SHA256:abc… comment (ED25519)"
        let hash = first
            .split_whitespace()
            .nth(1)
            .and_then(|f| f.split_once(':'))
            .map(|(_, h)| h.to_owned())
            .ok_or_else(|| Error::Identity {
                path: self.path.clone(),
                message: format!("unexpected ssh-keygen output {first:?}"),
            })?;
        Ok(Fingerprint {
            hash,
            randomart: art.to_owned(),
        })
    }
}

fn ssh_keygen(args: &[&str], key: &Path) -> Result<String, Error> {
    let mut cmd = Command::new("ssh-keygen");
    cmd.args(args).arg(key);
    run(cmd, "ssh-keygen", key)
}

fn run(mut cmd: Command, what: &'static str, key: &Path) -> Result<String, Error> {
    cmd.stdin(Stdio::null()).env("LC_ALL", "C");
    let out = cmd.output().map_err(|source| Error::Spawn {
        program: "ssh-keygen",
        source,
    })?;
    if !out.status.success() {
        return Err(Error::Identity {
            path: key.to_owned(),
            message: format!(
                "{what} failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_spec_reads_flux_v1_flags_and_refuses_bad_ones() {
        let spec = |t: Option<&str>, b: Option<u32>, f: &str| KeySpec::from_flags(t, b, f);
        assert_eq!(spec(None, None, "RFC4716").unwrap(), KeySpec::default());
        // Bits alone meant RSA to Flux v1 (ssh-keygen's default type then).
        let rsa = spec(None, Some(4096), "PEM").unwrap();
        assert_eq!(
            (rsa.kind, rsa.bits, rsa.format),
            (KeyType::Rsa, Some(4096), KeyFormat::Pem)
        );
        assert_eq!(
            spec(Some("ecdsa"), Some(384), "").unwrap().kind,
            KeyType::Ecdsa
        );
        for (t, b, f, flag) in [
            (Some("dsa"), None, "RFC4716", "ssh-keygen-type"),
            (Some("RSA"), None, "RFC4716", "ssh-keygen-type"),
            (Some("rsa"), Some(1024), "RFC4716", "ssh-keygen-bits"),
            (Some("ecdsa"), Some(300), "RFC4716", "ssh-keygen-bits"),
            (Some("ed25519"), Some(256), "RFC4716", "ssh-keygen-bits"),
            (None, None, "openssh", "ssh-keygen-format"),
        ] {
            match spec(t, b, f) {
                Err(Error::InvalidConfig {
                    flag: got, reason, ..
                }) => {
                    assert_eq!(got, flag, "{t:?} {b:?} {f:?}");
                    assert!(!reason.is_empty());
                }
                other => panic!("{t:?} {b:?} {f:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn generates_the_key_type_and_size_asked_for() {
        let dir = tempfile::tempdir().unwrap();
        for (spec, prefix, bits) in [
            (
                KeySpec::from_flags(Some("rsa"), Some(2048), "PEM").unwrap(),
                "ssh-rsa ",
                "2048",
            ),
            (
                KeySpec::from_flags(Some("ecdsa"), Some(384), "RFC4716").unwrap(),
                "ecdsa-sha2-nistp384 ",
                "384",
            ),
            (
                KeySpec::from_flags(Some("ed25519"), None, "PKCS8").unwrap(),
                "ssh-ed25519 ",
                "256",
            ),
        ] {
            let path = dir.path().join(prefix.trim());
            let key = DeployKey::generate_with(&path, &spec).unwrap();
            assert!(key.public_key().starts_with(prefix), "{}", key.public_key());
            let listed = ssh_keygen(&["-l", "-f"], &path).unwrap();
            assert!(listed.starts_with(&format!("{bits} ")), "{listed}");
            let first_line = fs::read_to_string(&path).unwrap();
            if spec.format == KeyFormat::Pem && spec.kind == KeyType::Rsa {
                assert!(first_line.starts_with("-----BEGIN RSA PRIVATE KEY-----"));
            }
            // Regenerating keeps the spec.
            let again = DeployKey::regenerate_with(&path, &spec).unwrap();
            assert!(again.public_key().starts_with(prefix));
            assert_ne!(again.public_key(), key.public_key());
        }
    }

    #[test]
    fn generates_ed25519_with_mode_0600_and_reloads_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ssh/identity");
        let (key, generated) = DeployKey::load_or_generate(&path).unwrap();
        assert!(generated);
        assert!(
            key.public_key().starts_with("ssh-ed25519 "),
            "{}",
            key.public_key()
        );
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // The second time the same key is used, not a new one.
        let (again, generated) = DeployKey::load_or_generate(&path).unwrap();
        assert!(!generated);
        assert_eq!(again.public_key(), key.public_key());
        // No temporary directory is left behind.
        let left: Vec<_> = fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(left.len(), 1);
    }

    #[test]
    fn regenerate_replaces_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("identity");
        let old = DeployKey::generate(&path).unwrap();
        let new = DeployKey::regenerate(&path).unwrap();
        assert_ne!(old.public_key(), new.public_key());
        assert_eq!(
            DeployKey::load(&path).unwrap().public_key(),
            new.public_key()
        );
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn never_overwrites_an_existing_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("identity");
        fs::write(&path, "keep me").unwrap();
        let err = DeployKey::generate(&path).unwrap_err().to_string();
        assert!(err.contains("cannot write the new key"), "{err}");
        assert_eq!(fs::read_to_string(&path).unwrap(), "keep me");
    }

    #[test]
    fn loose_permissions_are_tightened() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("identity");
        DeployKey::generate(&path).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        DeployKey::load(&path).unwrap();
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    #[test]
    fn fingerprints_and_randomart() {
        let dir = tempfile::tempdir().unwrap();
        let key = DeployKey::generate(&dir.path().join("identity")).unwrap();
        let sha = key.fingerprint(FingerprintHash::Sha256).unwrap();
        assert_eq!(sha.hash.len(), 43, "{sha:?}");
        assert!(sha.randomart.contains("[SHA256]"), "{}", sha.randomart);
        let md5 = key.fingerprint(FingerprintHash::Md5).unwrap();
        assert_eq!(md5.hash.split(':').count(), 16, "{md5:?}");
        assert!(md5.randomart.contains("[MD5]"));
    }

    #[test]
    fn garbage_and_missing_keys_are_clear_errors_that_do_not_echo_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("identity");
        fs::write(&path, "SECRET-NOT-A-KEY").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        let err = DeployKey::load(&path).unwrap_err().to_string();
        assert!(
            err.contains("deploy key") && !err.contains("SECRET"),
            "{err}"
        );
        let err = DeployKey::load(&dir.path().join("none"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("cannot read it"), "{err}");
    }

    #[test]
    fn debug_shows_no_private_material() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("identity");
        let key = DeployKey::generate(&path).unwrap();
        let private = fs::read_to_string(&path).unwrap();
        let body: String = private.lines().nth(1).unwrap().to_owned();
        assert!(!format!("{key:?}").contains(&body));
    }
}
