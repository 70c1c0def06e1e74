//! The deploy key Secret (`--k8s-secret-name` in fluxd's namespace): where a
//! generated deploy key is stored, as Flux v1 did, and where the synced
//! revision is kept with `--sync-state=secret` (the annotation
//! `flux.weave.works/sync-hwm`, Flux v1's name, so a switching user's
//! high-water mark carries over).
//!
//! The daemon reaches it through [`SecretStore`], so tests and embedders can
//! give it another home; [`KubeSecret`] keeps it in the cluster.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams, PostParams};

/// The annotation holding the synced revision (Flux v1's name).
pub const SYNC_HWM_ANNOTATION: &str = "flux.weave.works/sync-hwm";

/// A Secret could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("secret {namespace}/{name}: {message}")]
pub struct SecretError {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// What went wrong.
    pub message: String,
}

/// What is in the Secret.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecretContent {
    /// Its data (decoded).
    pub data: BTreeMap<String, Vec<u8>>,
    /// Its annotations.
    pub annotations: BTreeMap<String, String>,
}

impl SecretContent {
    /// The data under `key`, unless absent or blank.
    pub fn value(&self, key: &str) -> Option<Vec<u8>> {
        self.data.get(key).filter(|b| !is_blank(b)).cloned()
    }
}

/// Somewhere to keep the deploy key and the sync high-water mark.
#[async_trait::async_trait]
pub trait SecretStore: Send + Sync {
    /// Where it is, for messages (`namespace/name`).
    fn describe(&self) -> String;
    /// Its content; `None` if it does not exist.
    async fn get(&self) -> Result<Option<SecretContent>, SecretError>;
    /// Sets (or, with `None`, removes) one annotation; the Secret must exist.
    async fn set_annotation(&self, key: &str, value: Option<&str>) -> Result<(), SecretError>;
    /// Sets one data key, creating the Secret if it does not exist.
    async fn set_data(&self, key: &str, value: &[u8]) -> Result<(), SecretError>;
    /// Stores `value` under `key` unless the Secret already holds a value
    /// there that is not blank; then nothing is written and that value is
    /// returned. Several fluxd replicas starting on an empty Secret each
    /// generate a deploy key: the first stored is the one they all use.
    /// The default reads, then writes (not atomic); [`KubeSecret`] writes
    /// with the resourceVersion it read and reads again on a conflict.
    async fn set_data_unless_present(
        &self,
        key: &str,
        value: &[u8],
    ) -> Result<Option<Vec<u8>>, SecretError> {
        if let Some(existing) = self.get().await?.and_then(|c| c.value(key)) {
            return Ok(Some(existing));
        }
        self.set_data(key, value).await?;
        Ok(None)
    }
}

/// Whether a stored value is empty or only whitespace (no key in it).
pub(crate) fn is_blank(bytes: &[u8]) -> bool {
    bytes.iter().all(u8::is_ascii_whitespace)
}

/// How many times a conditional write is tried against concurrent writers.
const CONFLICT_TRIES: usize = 5;

/// The Secret in the cluster.
#[derive(Clone)]
pub struct KubeSecret {
    api: Api<Secret>,
    namespace: String,
    name: String,
}

impl KubeSecret {
    /// The Secret `name` in `namespace`.
    pub fn new(client: kube::Client, namespace: &str, name: &str) -> Self {
        KubeSecret {
            api: Api::namespaced(client, namespace),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        }
    }

    fn error(&self, what: &str, e: impl std::fmt::Display) -> SecretError {
        SecretError {
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            message: format!("{what}: {e}"),
        }
    }
}

/// The field manager of fluxd's own writes to its Secret.
const MANAGER: &str = "fluxd";

#[async_trait::async_trait]
impl SecretStore for KubeSecret {
    fn describe(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    async fn get(&self) -> Result<Option<SecretContent>, SecretError> {
        let secret = self
            .api
            .get_opt(&self.name)
            .await
            .map_err(|e| self.error("reading", e))?;
        Ok(secret.map(|s| SecretContent {
            data: s
                .data
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, v.0))
                .collect(),
            annotations: s.metadata.annotations.unwrap_or_default(),
        }))
    }

    async fn set_annotation(&self, key: &str, value: Option<&str>) -> Result<(), SecretError> {
        let patch = serde_json::json!({"metadata": {"annotations": {key: value}}});
        self.api
            .patch(&self.name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(|e| self.error(&format!("setting annotation {key}"), e))?;
        Ok(())
    }

    async fn set_data(&self, key: &str, value: &[u8]) -> Result<(), SecretError> {
        let exists = self
            .api
            .get_opt(&self.name)
            .await
            .map_err(|e| self.error("reading", e))?
            .is_some();
        if exists {
            let encoded = ByteString(value.to_vec());
            let patch = serde_json::json!({"data": {key: encoded}});
            self.api
                .patch(&self.name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .map_err(|e| self.error(&format!("writing {key}"), e))?;
        } else {
            self.api
                .create(&post_params(), &self.new_secret(key, value))
                .await
                .map_err(|e| self.error("creating", e))?;
        }
        Ok(())
    }

    async fn set_data_unless_present(
        &self,
        key: &str,
        value: &[u8],
    ) -> Result<Option<Vec<u8>>, SecretError> {
        for _ in 0..CONFLICT_TRIES {
            if let Ok(outcome) = self.try_store_unless_present(key, value).await? {
                return Ok(outcome);
            }
        }
        Err(self.error(
            &format!("writing {key}"),
            format!("changed by another writer at each of {CONFLICT_TRIES} tries"),
        ))
    }
}

/// Creates and replaces by fluxd's field manager.
fn post_params() -> PostParams {
    PostParams {
        field_manager: Some(MANAGER.into()),
        ..PostParams::default()
    }
}

impl KubeSecret {
    /// The Secret holding only `value` under `key`, to create.
    fn new_secret(&self, key: &str, value: &[u8]) -> Secret {
        Secret {
            metadata: kube::api::ObjectMeta {
                name: Some(self.name.clone()),
                namespace: Some(self.namespace.clone()),
                ..Default::default()
            },
            type_: Some("Opaque".into()),
            data: Some(BTreeMap::from([(
                key.to_owned(),
                ByteString(value.to_vec()),
            )])),
            ..Default::default()
        }
    }

    /// One try of [`SecretStore::set_data_unless_present`]; `Err(())` when
    /// another writer changed the Secret in between.
    async fn try_store_unless_present(
        &self,
        key: &str,
        value: &[u8],
    ) -> Result<Result<Option<Vec<u8>>, ()>, SecretError> {
        let params = post_params();
        let found = self
            .api
            .get_opt(&self.name)
            .await
            .map_err(|e| self.error("reading", e))?;
        let written = match found {
            None => self.api.create(&params, &self.new_secret(key, value)).await,
            Some(mut secret) => {
                let data = secret.data.get_or_insert_with(BTreeMap::new);
                if let Some(existing) = data.get(key).filter(|b| !is_blank(&b.0)) {
                    return Ok(Ok(Some(existing.0.clone())));
                }
                data.insert(key.to_owned(), ByteString(value.to_vec()));
                // Sent with the resourceVersion read: a write in between
                // makes it fail with 409.
                self.api.replace(&self.name, &params, &secret).await
            }
        };
        match written {
            Ok(_) => Ok(Ok(None)),
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(Err(())),
            Err(e) => Err(self.error(&format!("writing {key}"), e)),
        }
    }
}

/// A Secret kept in memory, for tests and for running without a cluster.
#[derive(Debug, Default)]
pub struct MemorySecret {
    content: std::sync::Mutex<Option<SecretContent>>,
}

impl MemorySecret {
    /// An absent Secret.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<SecretContent>> {
        self.content
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait::async_trait]
impl SecretStore for MemorySecret {
    fn describe(&self) -> String {
        "in-memory secret".into()
    }

    async fn get(&self) -> Result<Option<SecretContent>, SecretError> {
        Ok(self.lock().clone())
    }

    async fn set_annotation(&self, key: &str, value: Option<&str>) -> Result<(), SecretError> {
        let mut guard = self.lock();
        let Some(content) = guard.as_mut() else {
            return Err(SecretError {
                namespace: String::new(),
                name: "in-memory".into(),
                message: "does not exist".into(),
            });
        };
        match value {
            Some(v) => content.annotations.insert(key.to_owned(), v.to_owned()),
            None => content.annotations.remove(key),
        };
        Ok(())
    }

    async fn set_data(&self, key: &str, value: &[u8]) -> Result<(), SecretError> {
        self.lock()
            .get_or_insert_with(SecretContent::default)
            .data
            .insert(key.to_owned(), value.to_vec());
        Ok(())
    }

    /// Under one lock: atomic.
    async fn set_data_unless_present(
        &self,
        key: &str,
        value: &[u8],
    ) -> Result<Option<Vec<u8>>, SecretError> {
        let mut guard = self.lock();
        let content = guard.get_or_insert_with(SecretContent::default);
        if let Some(existing) = content.value(key) {
            return Ok(Some(existing));
        }
        content.data.insert(key.to_owned(), value.to_vec());
        Ok(None)
    }
}
