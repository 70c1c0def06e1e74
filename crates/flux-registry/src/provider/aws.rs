//! ECR: `GetAuthorizationToken` signed with AWS Signature Version 4, using
//! the credentials in the environment (`AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`) or else the instance role's
//! (EC2 instance metadata, IMDSv2). The token is `AWS:<password>` in base64,
//! valid 12 hours.
//!
//! Not done yet: IRSA web-identity tokens (`AWS_WEB_IDENTITY_TOKEN_FILE`);
//! without credentials the provider says so once and gives none.

use std::time::{Duration, SystemTime};

use base64::Engine as _;
use chrono::{DateTime, Utc};
use flux_core::registry::RegistryAuth;
use ring::hmac;

use super::imds::{IMDS, Imds};
use super::{CredentialProvider, Memo, bare_host};

/// AWS credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct AwsKeys {
    /// Access key ID.
    pub access_key: String,
    /// Secret access key.
    pub secret_key: String,
    /// Session token, for temporary credentials.
    pub session_token: Option<String>,
}

impl std::fmt::Debug for AwsKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AwsKeys({})", self.access_key)
    }
}

impl AwsKeys {
    /// From `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`.
    pub fn from_env() -> Option<Self> {
        let get = |k| std::env::var(k).ok().filter(|v: &String| !v.is_empty());
        Some(Self {
            access_key: get("AWS_ACCESS_KEY_ID")?,
            secret_key: get("AWS_SECRET_ACCESS_KEY")?,
            session_token: get("AWS_SESSION_TOKEN"),
        })
    }
}

/// Largest GetAuthorizationToken answer accepted (one token is about 3 KiB).
const MAX_ANSWER: usize = 256 << 10;

/// Credentials for `<account>.dkr.ecr.<region>.amazonaws.com[.cn]`.
#[derive(Debug)]
pub struct Ecr {
    http: Result<reqwest::Client, String>,
    keys: Option<AwsKeys>,
    imds: Option<Imds>,
    /// `None`: `https://api.ecr.<region>.amazonaws.com`; tests point it elsewhere.
    endpoint: Option<String>,
    memo: Memo,
}

impl Default for Ecr {
    /// Environment credentials, else the instance role.
    fn default() -> Self {
        Self::new(AwsKeys::from_env(), None).with_instance_metadata(IMDS)
    }
}

/// Account and region of an ECR host (`<account>.dkr.ecr.<region>.amazonaws.com`).
pub fn parse_ecr_host(host: &str) -> Option<(&str, &str)> {
    let h = bare_host(host);
    let rest = h
        .strip_suffix(".amazonaws.com")
        .or_else(|| h.strip_suffix(".amazonaws.com.cn"))?;
    let (account, rest) = rest.split_once(".dkr.ecr.")?;
    let region = rest.strip_suffix("-fips").unwrap_or(rest);
    let valid = !account.is_empty()
        && account.chars().all(|c| c.is_ascii_digit())
        && !region.is_empty()
        && !region.contains('.');
    valid.then_some((account, region))
}

impl Ecr {
    /// A provider with these keys, asking `endpoint` if given.
    pub fn new(keys: Option<AwsKeys>, endpoint: Option<String>) -> Self {
        Self {
            http: super::endpoint_client(Duration::from_secs(10)),
            keys,
            imds: None,
            endpoint,
            memo: Memo::default(),
        }
    }

    /// Whether AWS credentials can be had at all (keys given, or the
    /// instance metadata service answers with a role's): fluxd's
    /// `--registry-require=ecr` checks this at start-up.
    pub async fn check(&self) -> Result<(), String> {
        match (&self.keys, &self.imds) {
            (Some(_), _) => Ok(()),
            (None, Some(imds)) => imds.keys().await.map(drop),
            (None, None) => {
                Err("no AWS credentials in the environment and no instance metadata service".into())
            }
        }
    }

    /// When no keys were given, take the instance role's from the metadata
    /// service at `base` (`http://169.254.169.254` on EC2).
    pub fn with_instance_metadata(mut self, base: &str) -> Self {
        self.imds = Some(Imds::new(base));
        self
    }

    pub(super) async fn fetch(
        &self,
        account: &str,
        region: &str,
    ) -> Result<(RegistryAuth, Duration), String> {
        let keys = match (&self.keys, &self.imds) {
            (Some(k), _) => k.clone(),
            (None, Some(imds)) => imds.keys().await?,
            (None, None) => {
                return Err("no AWS credentials in the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)".into());
            }
        };
        let keys = &keys;
        let url = self
            .endpoint
            .clone()
            .unwrap_or_else(|| format!("https://api.ecr.{region}.amazonaws.com/"));
        let parsed = reqwest::Url::parse(&url).map_err(|e| format!("ECR endpoint {url}: {e}"))?;
        let host = match (parsed.host_str(), parsed.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_owned(),
            (None, _) => return Err(format!("ECR endpoint {url} has no host")),
        };
        let body = format!(r#"{{"registryIds":["{account}"]}}"#);
        let target = "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken";
        let now: DateTime<Utc> = SystemTime::now().into();
        let mut headers = vec![
            (
                "content-type".to_owned(),
                "application/x-amz-json-1.1".to_owned(),
            ),
            ("host".to_owned(), host),
            (
                "x-amz-date".to_owned(),
                now.format("%Y%m%dT%H%M%SZ").to_string(),
            ),
            ("x-amz-target".to_owned(), target.to_owned()),
        ];
        if let Some(t) = &keys.session_token {
            headers.push(("x-amz-security-token".to_owned(), t.clone()));
        }
        let authorization = sign_v4(
            keys,
            region,
            "ecr",
            "POST",
            "/",
            "",
            &headers,
            body.as_bytes(),
            now,
        );
        let http = self.http.as_ref().map_err(Clone::clone)?;
        let mut req = http.post(&url).body(body);
        for (k, v) in headers.iter().filter(|(k, _)| k != "host") {
            req = req.header(k, v);
        }
        let resp = req
            .header("authorization", authorization)
            .send()
            .await
            .map_err(|e| format!("ECR GetAuthorizationToken: {e}"))?;
        let text = super::read_answer(resp, MAX_ANSWER, "ECR GetAuthorizationToken").await?;
        parse_answer(&text, now)
    }
}

/// Decodes a GetAuthorizationToken answer into the credentials and how long
/// to keep them, `now` being when it was asked for.
pub(crate) fn parse_answer(
    text: &[u8],
    now: DateTime<Utc>,
) -> Result<(RegistryAuth, Duration), String> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Data {
        authorization_token: String,
        #[serde(default)]
        expires_at: Option<f64>,
    }
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Answer {
        authorization_data: Vec<Data>,
    }
    let answer: Answer = serde_json::from_slice(text)
        .map_err(|e| format!("ECR answer: {}", crate::client::json_error(&e)))?;
    let data = answer
        .authorization_data
        .into_iter()
        .next()
        .ok_or("ECR answer has no authorizationData")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(data.authorization_token.trim())
        .map_err(|_| "ECR token is not base64")?;
    let decoded = String::from_utf8(decoded).map_err(|_| "ECR token is not text")?;
    let (user, password) = decoded
        .split_once(':')
        .ok_or("ECR token is not user:password")?;
    // Five minutes before it expires, at least a minute and at most
    // MAX_LIFE; an hour when the answer does not say (or says nonsense).
    let life = data
        .expires_at
        .map(|at| at - now.timestamp() as f64 - 300.0)
        .filter(|s| *s > 60.0)
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .unwrap_or(Duration::from_secs(3600))
        .min(super::MAX_LIFE);
    Ok((
        RegistryAuth {
            username: user.to_owned(),
            password: password.to_owned(),
        },
        life,
    ))
}

#[async_trait::async_trait]
impl CredentialProvider for Ecr {
    fn name(&self) -> &str {
        "ecr"
    }

    fn handles(&self, host: &str) -> bool {
        parse_ecr_host(host).is_some()
    }

    async fn credentials(&self, host: &str) -> Option<RegistryAuth> {
        let (account, region) = parse_ecr_host(host)?;
        let key = format!("{account}/{region}");
        if let Some(known) = self.memo.get(&key) {
            return known;
        }
        match self.fetch(account, region).await {
            Ok((auth, life)) => {
                self.memo.put(&key, auth.clone(), life);
                Some(auth)
            }
            Err(why) => {
                self.memo.fail("ecr", host, &why);
                None
            }
        }
    }
}

fn sha256_hex(data: &[u8]) -> String {
    hex(ring::digest::digest(&ring::digest::SHA256, data).as_ref())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hmac_sha256(key: &[u8], data: &str) -> Vec<u8> {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data.as_bytes())
        .as_ref()
        .to_vec()
}

/// The `Authorization` header of AWS Signature Version 4. `headers` are
/// lower-case names with their values, `host` and `x-amz-date` included.
#[allow(clippy::too_many_arguments)]
pub(crate) fn sign_v4(
    keys: &AwsKeys,
    region: &str,
    service: &str,
    method: &str,
    path: &str,
    query: &str,
    headers: &[(String, String)],
    body: &[u8],
    now: DateTime<Utc>,
) -> String {
    let date = now.format("%Y%m%d").to_string();
    let stamp = now.format("%Y%m%dT%H%M%SZ").to_string();
    let mut sorted: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    sorted.sort();
    let canonical_headers: String = sorted.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    let signed_headers = sorted
        .iter()
        .map(|(k, _)| k.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let canonical_request = format!(
        "{method}\n{path}\n{query}\n{canonical_headers}\n{signed_headers}\n{}",
        sha256_hex(body)
    );
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{stamp}\n{scope}\n{}",
        sha256_hex(canonical_request.as_bytes())
    );
    let k_date = hmac_sha256(format!("AWS4{}", keys.secret_key).as_bytes(), &date);
    let k_region = hmac_sha256(&k_date, region);
    let k_service = hmac_sha256(&k_region, service);
    let k_signing = hmac_sha256(&k_service, "aws4_request");
    let signature = hex(&hmac_sha256(&k_signing, &to_sign));
    format!(
        "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
        keys.access_key
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_v4_matches_the_aws_test_suite() {
        // "get-vanilla" from AWS's Signature Version 4 test suite.
        let keys = AwsKeys {
            access_key: "AKIDEXAMPLE".into(),
            secret_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
            session_token: None,
        };
        let now = "2015-08-30T12:36:00Z".parse().unwrap();
        let headers = vec![
            ("host".to_owned(), "example.amazonaws.com".to_owned()),
            ("x-amz-date".to_owned(), "20150830T123600Z".to_owned()),
        ];
        let auth = sign_v4(
            &keys,
            "us-east-1",
            "service",
            "GET",
            "/",
            "",
            &headers,
            b"",
            now,
        );
        assert_eq!(
            auth,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
             SignedHeaders=host;x-amz-date, \
             Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        );
    }

    #[test]
    fn ecr_hosts() {
        for (host, want) in [
            (
                "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
                Some(("123456789012", "eu-west-1")),
            ),
            (
                "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn",
                Some(("123456789012", "cn-north-1")),
            ),
            (
                "123456789012.dkr.ecr.us-east-1-fips.amazonaws.com",
                Some(("123456789012", "us-east-1")),
            ),
            ("abc.dkr.ecr.eu-west-1.amazonaws.com", None),
            ("quay.io", None),
            ("123.dkr.ecr..amazonaws.com", None),
        ] {
            assert_eq!(parse_ecr_host(host), want, "{host}");
        }
        assert!(
            !format!(
                "{:?}",
                AwsKeys {
                    access_key: "A".into(),
                    secret_key: "S3CR".into(),
                    session_token: None
                }
            )
            .contains("S3CR")
        );
    }
}
