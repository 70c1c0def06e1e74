//! GCR and Artifact Registry: an access token from the GCE metadata server,
//! presented as user `oauth2accesstoken` (as Flux v1 and kubelet do).

use std::time::Duration;

use flux_core::registry::RegistryAuth;

use super::{CredentialProvider, Memo, bare_host};

/// The metadata server's token endpoint on GCE and GKE.
pub const GCE_TOKEN_URL: &str =
    "http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/token";

/// Largest token answer accepted (they are about 2 KiB).
const MAX_ANSWER: usize = 64 << 10;

/// Credentials for `gcr.io`, `*.gcr.io` and `*-docker.pkg.dev`.
#[derive(Debug)]
pub struct Gcp {
    http: Result<reqwest::Client, String>,
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
        Self {
            http: super::endpoint_client(Duration::from_secs(3)),
            token_url: token_url.to_owned(),
            memo: Memo::default(),
        }
    }

    pub(super) async fn fetch(&self) -> Result<(String, Duration), String> {
        let http = self.http.as_ref().map_err(Clone::clone)?;
        let resp = http
            .get(&self.token_url)
            .header("Metadata-Flavor", "Google")
            .send()
            .await
            .map_err(|e| format!("metadata server unreachable (not on GCP?): {e}"))?;
        let body = super::read_answer(resp, MAX_ANSWER, "metadata server").await?;
        parse_token(&body)
    }
}

/// Decodes the metadata server's token answer: the token and how long to
/// keep it.
pub(crate) fn parse_token(body: &[u8]) -> Result<(String, Duration), String> {
    #[derive(serde::Deserialize)]
    struct Token {
        access_token: String,
        #[serde(default)]
        expires_in: Option<u64>,
    }
    let token: Token = serde_json::from_slice(body)
        .map_err(|e| format!("metadata server token: {}", crate::client::json_error(&e)))?;
    let life = Duration::from_secs(token.expires_in.unwrap_or(300).saturating_sub(60).max(30))
        .min(super::MAX_LIFE);
    Ok((token.access_token, life))
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
