//! The deploy key: fluxd's ssh identity for the git remote.
//!
//! As in Flux v1, the key comes from the `flux-git-deploy` Secret mounted at
//! `--k8s-secret-volume-mount-path`; when the Secret holds no key, fluxd
//! generates one and stores it in the Secret (so it survives restarts and
//! the operator can read it with `fluxctl identity`). fluxd always works
//! from its own copy of the key (mode 0600, under `--ssh-keygen-dir` or the
//! state directory), so a read-only mount or a group-readable file is fine,
//! and `fluxctl identity --regenerate` can replace it while ssh reads it on
//! every connection.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use flux_git::{DeployKey, KeySpec};

use crate::secret::{SecretStore, is_blank};

/// The deploy key could not be set up or regenerated.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// ssh-keygen or a file failed.
    #[error(transparent)]
    Git(#[from] flux_git::Error),
    /// The Secret could not be read or written.
    #[error(transparent)]
    Secret(#[from] crate::secret::SecretError),
    /// A file could not be copied.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

impl KeyError {
    fn file(path: &Path, e: impl std::fmt::Display) -> Self {
        KeyError::File {
            path: path.to_owned(),
            message: e.to_string(),
        }
    }
}

/// Where the key came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyOrigin {
    /// The mounted Secret.
    Mounted,
    /// The Secret, read through the API (not mounted).
    Secret,
    /// Generated at start-up (and stored in the Secret if there is one).
    Generated,
}

/// The deploy key in use.
pub struct Identity {
    path: PathBuf,
    key: Mutex<DeployKey>,
    /// Held while the key is being replaced (regenerate, reload).
    changing: tokio::sync::Mutex<()>,
    secret: Option<Arc<dyn SecretStore>>,
    data_key: String,
    origin: KeyOrigin,
    spec: KeySpec,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("path", &self.path)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

impl Identity {
    /// Finds or makes the key: the mounted `mount_path/data_key`, else the
    /// Secret's `data_key`, else a new key made as `spec` says (stored in
    /// the Secret). The key fluxd uses is `work_dir/identity`.
    pub async fn setup(
        mount_path: &Path,
        data_key: &str,
        secret: Option<Arc<dyn SecretStore>>,
        work_dir: &Path,
        spec: KeySpec,
    ) -> Result<Self, KeyError> {
        std::fs::create_dir_all(work_dir).map_err(|e| KeyError::file(work_dir, e))?;
        let path = work_dir.join("identity");
        let mounted = mount_path.join(data_key);
        let mounted_bytes = std::fs::read(&mounted).ok().filter(|b| !is_blank(b));
        let (bytes, origin) = match mounted_bytes {
            Some(b) => (Some(b), KeyOrigin::Mounted),
            None => {
                let from_secret = match &secret {
                    Some(s) => s.get().await?.and_then(|c| c.value(data_key)),
                    None => None,
                };
                (from_secret, KeyOrigin::Secret)
            }
        };
        let _ = std::fs::remove_file(&path);
        let (key, origin) = match bytes {
            Some(b) => {
                write_private(&path, &b)?;
                (DeployKey::load(&path)?, origin)
            }
            None => {
                let key = DeployKey::generate_with(&path, &spec)?;
                match &secret {
                    Some(s) => {
                        let private = read_private(&path)?;
                        match s.set_data_unless_present(data_key, &private).await? {
                            None => {
                                tracing::info!(secret = %s.describe(), "generated a deploy key and stored it in the secret");
                                (key, KeyOrigin::Generated)
                            }
                            Some(theirs) => {
                                // Another replica stored one first: use it.
                                let _ = std::fs::remove_file(&path);
                                write_private(&path, &theirs)?;
                                tracing::info!(secret = %s.describe(), "another fluxd stored a deploy key first; using it");
                                (DeployKey::load(&path)?, KeyOrigin::Secret)
                            }
                        }
                    }
                    None => {
                        tracing::info!(
                            "generated a deploy key (no secret to store it in: it lasts until fluxd stops)"
                        );
                        (key, KeyOrigin::Generated)
                    }
                }
            }
        };
        Ok(Identity {
            path,
            key: Mutex::new(key),
            changing: tokio::sync::Mutex::new(()),
            secret,
            data_key: data_key.to_owned(),
            origin,
            spec,
        })
    }

    /// The private key file ssh uses.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where the key came from.
    pub fn origin(&self) -> KeyOrigin {
        self.origin
    }

    /// The public key (`ssh-ed25519 AAAA… flux`).
    pub fn public_key(&self) -> String {
        self.lock().public_key().to_owned()
    }

    /// The public key's fingerprint in the given hash.
    pub fn fingerprint(
        &self,
        hash: flux_git::FingerprintHash,
    ) -> Result<flux_git::Fingerprint, KeyError> {
        Ok(self.lock().fingerprint(hash)?)
    }

    /// Replaces the key with a new one (and the Secret's copy): the remote
    /// must then be given the new public key.
    pub async fn regenerate(&self) -> Result<String, KeyError> {
        let _changing = self.changing.lock().await;
        let path = self.path.clone();
        let spec = self.spec;
        let key = tokio::task::spawn_blocking(move || DeployKey::regenerate_with(&path, &spec))
            .await
            .map_err(|e| KeyError::file(&self.path, e))??;
        if let Some(s) = &self.secret {
            let private = read_private(&self.path)?;
            s.set_data(&self.data_key, &private).await?;
        }
        let public = key.public_key().to_owned();
        *self.lock() = key;
        tracing::info!("regenerated the deploy key");
        Ok(public)
    }

    /// Reads the key the Secret holds now and switches to it if another
    /// writer replaced it (another `--ha` replica's `fluxctl identity
    /// --regenerate`, or an edit by hand); whether it switched. Without a
    /// Secret, or with nothing in it, the key in use stays.
    pub async fn reload(&self) -> Result<bool, KeyError> {
        let Some(secret) = &self.secret else {
            return Ok(false);
        };
        let _changing = self.changing.lock().await;
        let Some(stored) = secret.get().await?.and_then(|c| c.value(&self.data_key)) else {
            return Ok(false);
        };
        let current = read_private(&self.path)?;
        if stored.trim_ascii_end() == current.trim_ascii_end() {
            return Ok(false);
        }
        // Written beside it, then renamed over it: ssh never reads half a key.
        let fresh = self.path.with_extension("reloaded");
        let _ = std::fs::remove_file(&fresh);
        write_private(&fresh, &stored)?;
        if let Err(e) = DeployKey::load(&fresh) {
            // Not a key ssh could use: keep the one in use.
            let _ = std::fs::remove_file(&fresh);
            return Err(e.into());
        }
        std::fs::rename(&fresh, &self.path).map_err(|e| KeyError::file(&self.path, e))?;
        let key = DeployKey::load(&self.path)?;
        let public = key.public_key().to_owned();
        *self.lock() = key;
        tracing::info!(secret = %secret.describe(), public_key = %public, "the deploy key in the secret changed; using it");
        Ok(true)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, DeployKey> {
        self.key
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The private key file's bytes.
fn read_private(path: &Path) -> Result<Vec<u8>, KeyError> {
    std::fs::read(path).map_err(|e| KeyError::file(path, e))
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), KeyError> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let fail = |e| KeyError::file(path, e);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(fail)?;
    f.write_all(bytes).map_err(fail)?;
    if !bytes.ends_with(b"\n") {
        f.write_all(b"\n").map_err(fail)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::MemorySecret;

    #[tokio::test]
    async fn reload_switches_to_a_key_another_writer_stored() {
        let dir = tempfile::tempdir().unwrap();
        let mount = dir.path().join("mount");
        let secret = Arc::new(MemorySecret::new());
        // Two replicas sharing the Secret, each with its own work directory.
        let setup = |work: &str| {
            let work = dir.path().join(work);
            let secret: Arc<dyn SecretStore> = secret.clone();
            let mount = mount.clone();
            async move {
                Identity::setup(&mount, "identity", Some(secret), &work, KeySpec::default())
                    .await
                    .unwrap()
            }
        };
        let (a, b) = (setup("a").await, setup("b").await);
        assert_eq!(a.public_key(), b.public_key());
        assert!(!b.reload().await.unwrap(), "nothing changed");

        // a regenerates (as `fluxctl identity --regenerate` asks it to).
        let new = a.regenerate().await.unwrap();
        assert_ne!(b.public_key(), new);
        assert!(b.reload().await.unwrap());
        assert_eq!(b.public_key(), new);
        let on_disk = std::fs::read(b.path()).unwrap();
        let stored = secret.get().await.unwrap().unwrap().data["identity"].clone();
        assert_eq!(on_disk.trim_ascii_end(), stored.trim_ascii_end());
        assert!(!a.reload().await.unwrap(), "a already uses it");

        // Something that is not a key leaves the one in use.
        secret.set_data("identity", b"not a key").await.unwrap();
        assert!(b.reload().await.is_err());
        assert_eq!(b.public_key(), new);
        assert_eq!(std::fs::read(b.path()).unwrap(), on_disk);
    }

    #[tokio::test]
    async fn generates_stores_and_reuses_a_key() {
        let dir = tempfile::tempdir().unwrap();
        let mount = dir.path().join("mount");
        let secret = Arc::new(MemorySecret::new());
        let first = Identity::setup(
            &mount,
            "identity",
            Some(secret.clone()),
            &dir.path().join("a"),
            KeySpec::default(),
        )
        .await
        .unwrap();
        assert_eq!(first.origin(), KeyOrigin::Generated);
        assert!(first.public_key().starts_with("ssh-ed25519 "));
        let stored = secret.get().await.unwrap().unwrap().data["identity"].clone();
        assert!(String::from_utf8_lossy(&stored).contains("PRIVATE KEY"));

        // A restart finds it in the secret (not mounted yet) and keeps it.
        let second = Identity::setup(
            &mount,
            "identity",
            Some(secret.clone()),
            &dir.path().join("b"),
            KeySpec::default(),
        )
        .await
        .unwrap();
        assert_eq!(second.origin(), KeyOrigin::Secret);
        assert_eq!(second.public_key(), first.public_key());

        // Mounted, it is read from the mount.
        std::fs::create_dir_all(&mount).unwrap();
        std::fs::write(mount.join("identity"), &stored).unwrap();
        let third = Identity::setup(
            &mount,
            "identity",
            None,
            &dir.path().join("c"),
            KeySpec::default(),
        )
        .await
        .unwrap();
        assert_eq!(third.origin(), KeyOrigin::Mounted);
        assert_eq!(third.public_key(), first.public_key());

        // Regenerating changes the key and the secret's copy.
        let new = second.regenerate().await.unwrap();
        assert_ne!(new, first.public_key());
        assert_eq!(second.public_key(), new);
        let restored = secret.get().await.unwrap().unwrap().data["identity"].clone();
        assert_ne!(restored, stored);
    }

    #[tokio::test]
    async fn generates_and_regenerates_the_key_type_the_flags_ask_for() {
        let dir = tempfile::tempdir().unwrap();
        let secret = Arc::new(MemorySecret::new());
        // --ssh-keygen-bits=2048 alone: RSA, as ssh-keygen made for Flux v1.
        let spec = KeySpec::from_flags(None, Some(2048), "RFC4716").unwrap();
        let id = Identity::setup(
            &dir.path().join("mount"),
            "identity",
            Some(secret.clone()),
            &dir.path().join("work"),
            spec,
        )
        .await
        .unwrap();
        let old = id.public_key();
        assert!(old.starts_with("ssh-rsa "), "{old}");
        let new = id.regenerate().await.unwrap();
        assert!(new.starts_with("ssh-rsa "), "{new}");
        assert_ne!(new, old);
        let stored = secret.get().await.unwrap().unwrap().data["identity"].clone();
        assert!(String::from_utf8_lossy(&stored).contains("PRIVATE KEY"));
    }
}
