//! GCR and Artifact Registry: an access token from the GCE metadata server,
//! presented as user `oauth2accesstoken` (as Flux v1 and kubelet do).

use std::time::Duration;

use flux_core::registry::RegistryAuth;

use super::{CredentialProvider, Memo, bare_host};

/// The metadata server's token endpoint on GCE and GKE.
pub const GCE_TOKEN_URL: &str =
    "http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/token";

/// Credentials for `gcr.io`, `*.gcr.io` and `*-docker.pkg.dev`.
#[derive(Debug)]
pub struct Gcp {
    http: reqwest::Client,
    token_url: String,
    memo: Memo,
}

impl Default for Gcp {
    fn default() -> Self {
        Self::with_token_url(GCE_TOKEN_URL)
    }
}

impl Gcp {
    /// A provider asking `token_url` (tests point it at a local server).
    pub fn with_token_url(token_url: &str) -> Self {
        crate::install_crypto_provider();
        Self {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(3))
                .build()
                .unwrap_or_default(),
            token_url: token_url.to_owned(),
            memo: Memo::default(),
        }
    }

    async fn fetch(&self) -> Result<(String, Duration), String> {
        #[derive(serde::Deserialize)]
        struct Token {
            access_token: String,
            #[serde(default)]
            expires_in: Option<u64>,
        }
        let resp = self
            .http
            .get(&self.token_url)
            .header("Metadata-Flavor", "Google")
            .send()
            .await
            .map_err(|e| format!("metadata server unreachable (not on GCP?): {e}"))?;
        if !resp.status().is_success() {
            return Err(format!("metadata server answered {}", resp.status()));
        }
        let body = resp
            .bytes()
            .await
            .map_err(|e| format!("metadata server token: {e}"))?;
        let token: Token =
            serde_json::from_slice(&body).map_err(|e| format!("metadata server token: {e}"))?;
        let life = Duration::from_secs(token.expires_in.unwrap_or(300).saturating_sub(60).max(30));
        Ok((token.access_token, life))
    }
}

#[async_trait::async_trait]
impl CredentialProvider for Gcp {
    fn name(&self) -> &str {
        "gcp"
    }

    fn handles(&self, host: &str) -> bool {
        let h = bare_host(host);
        h == "gcr.io" || h.ends_with(".gcr.io") || h.ends_with("-docker.pkg.dev")
    }

    async fn credentials(&self, host: &str) -> Option<RegistryAuth> {
        if let Some(known) = self.memo.get("token") {
            return known;
        }
        match self.fetch().await {
            Ok((token, life)) => {
                let auth = RegistryAuth {
                    username: "oauth2accesstoken".into(),
                    password: token,
                };
                self.memo.put("token", auth.clone(), life);
                Some(auth)
            }
            Err(why) => {
                self.memo.fail("gcp", host, &why);
                None
            }
        }
    }
}
