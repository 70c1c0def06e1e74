//! AWS instance-role credentials from the EC2 instance metadata service
//! (IMDSv2: a session token first, then the role's credentials), for ECR on
//! EKS nodes and EC2 hosts without credentials in the environment.

use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;

use super::aws::AwsKeys;

/// The metadata service on EC2.
pub const IMDS: &str = "http://169.254.169.254";

/// Largest answer accepted from the metadata service (its answers are a
/// token, a role name, or about 1.5 KiB of credentials).
const MAX_ANSWER: usize = 64 << 10;

/// Reads and caches the instance role's credentials.
#[derive(Debug)]
pub(crate) struct Imds {
    http: Result<reqwest::Client, String>,
    base: String,
    cached: Mutex<Option<(AwsKeys, Instant)>>,
}

impl Imds {
    pub(crate) fn new(base: &str) -> Self {
        Self {
            http: super::endpoint_client(Duration::from_secs(2)),
            base: base.trim_end_matches('/').to_owned(),
            cached: Mutex::new(None),
        }
    }

    pub(crate) async fn keys(&self) -> Result<AwsKeys, String> {
        if let Some((keys, until)) = &*self.cached.lock().unwrap_or_else(|p| p.into_inner())
            && *until > Instant::now()
        {
            return Ok(keys.clone());
        }
        let (keys, life) = self.fetch().await?;
        *self.cached.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((keys.clone(), Instant::now() + life));
        Ok(keys)
    }

    fn http(&self) -> Result<&reqwest::Client, String> {
        self.http.as_ref().map_err(Clone::clone)
    }

    async fn text(&self, req: reqwest::RequestBuilder, what: &str) -> Result<String, String> {
        let resp = req
            .send()
            .await
            .map_err(|e| format!("instance metadata unreachable (not on EC2?): {what}: {e}"))?;
        let body =
            super::read_answer(resp, MAX_ANSWER, &format!("instance metadata {what}")).await?;
        String::from_utf8(body).map_err(|_| format!("instance metadata {what}: not UTF-8"))
    }

    pub(super) async fn fetch(&self) -> Result<(AwsKeys, Duration), String> {
        let token = self
            .text(
                self.http()?
                    .put(format!("{}/latest/api/token", self.base))
                    .header("x-aws-ec2-metadata-token-ttl-seconds", "21600"),
                "session token",
            )
            .await?;
        let creds_url = format!("{}/latest/meta-data/iam/security-credentials/", self.base);
        let roles = self
            .text(
                self.http()?
                    .get(&creds_url)
                    .header("x-aws-ec2-metadata-token", &token),
                "role",
            )
            .await?;
        let role = roles
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .ok_or("instance metadata: the instance has no IAM role")?;
        let body = self
            .text(
                self.http()?
                    .get(format!("{creds_url}{role}"))
                    .header("x-aws-ec2-metadata-token", &token),
                "role credentials",
            )
            .await?;
        parse_credentials(&body, Utc::now())
    }
}

/// Decodes the role credentials the metadata service gives, and how long to
/// keep them, `now` being when they were asked for.
pub(crate) fn parse_credentials(
    body: &str,
    now: DateTime<Utc>,
) -> Result<(AwsKeys, Duration), String> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Creds {
        access_key_id: String,
        secret_access_key: String,
        #[serde(default)]
        token: Option<String>,
        #[serde(default)]
        expiration: Option<DateTime<Utc>>,
    }
    let c: Creds = serde_json::from_str(body).map_err(|e| {
        format!(
            "instance metadata credentials: {}",
            crate::client::json_error(&e)
        )
    })?;
    let life = c
        .expiration
        .and_then(|t| (t - now - chrono::Duration::minutes(5)).to_std().ok())
        .unwrap_or(Duration::from_secs(300))
        .min(super::MAX_LIFE);
    Ok((
        AwsKeys {
            access_key: c.access_key_id,
            secret_key: c.secret_access_key,
            session_token: c.token,
        },
        life,
    ))
}
