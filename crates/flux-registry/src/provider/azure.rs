//! ACR: the service principal in the AKS cloud config
//! (`/etc/kubernetes/azure.json`, `aadClientId` and `aadClientSecret`),
//! presented as basic credentials, as Flux v1 did.

use std::path::PathBuf;
use std::time::Duration;

use flux_core::registry::RegistryAuth;

use super::{CredentialProvider, Memo, bare_host};

/// Where AKS puts the cloud config on its nodes.
pub const AZURE_JSON: &str = "/etc/kubernetes/azure.json";

/// Largest cloud config read (they are a few KiB).
const MAX_CONFIG: u64 = 1 << 20;

/// Credentials for `*.azurecr.io` (and the `.cn`, `.de`, `.us` clouds).
#[derive(Debug)]
pub struct Acr {
    path: PathBuf,
    memo: Memo,
}

impl Default for Acr {
    fn default() -> Self {
        Self::with_config(AZURE_JSON)
    }
}

impl Acr {
    /// A provider reading the cloud config at `path`.
    pub fn with_config(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            memo: Memo::default(),
        }
    }

    fn read(&self) -> Result<RegistryAuth, String> {
        #[derive(serde::Deserialize)]
        struct Config {
            #[serde(rename = "aadClientId")]
            client_id: String,
            #[serde(rename = "aadClientSecret")]
            client_secret: String,
        }
        let bytes = crate::credentials::read_small(&self.path, MAX_CONFIG)
            .map_err(|e| format!("{} (not on AKS?): {e}", self.path.display()))?;
        let c: Config = serde_json::from_slice(&bytes)
            .map_err(|e| format!("{}: {}", self.path.display(), crate::client::json_error(&e)))?;
        if c.client_id.is_empty() {
            return Err(format!("{}: aadClientId is empty", self.path.display()));
        }
        Ok(RegistryAuth {
            username: c.client_id,
            password: c.client_secret,
        })
    }
}

#[async_trait::async_trait]
impl CredentialProvider for Acr {
    fn name(&self) -> &str {
        "acr"
    }

    fn handles(&self, host: &str) -> bool {
        let h = bare_host(host);
        [".azurecr.io", ".azurecr.cn", ".azurecr.de", ".azurecr.us"]
            .iter()
            .any(|s| h.ends_with(s))
    }

    async fn credentials(&self, host: &str) -> Option<RegistryAuth> {
        if let Some(known) = self.memo.get("config") {
            return known;
        }
        match self.read() {
            Ok(auth) => {
                // Re-read now and then: the file may be rotated.
                self.memo
                    .put("config", auth.clone(), Duration::from_secs(300));
                Some(auth)
            }
            Err(why) => {
                self.memo.fail("acr", host, &why);
                None
            }
        }
    }
}
