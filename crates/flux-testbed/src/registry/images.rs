//! Small test images built in Rust (a config blob with a creation time and
//! labels, one layer, a manifest; or a manifest list / OCI index over
//! several platforms) and pushed with the registry HTTP API.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::json;

use super::{TestbedError, tb_err};

/// Which manifest media types to push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Docker schema 2 manifest and manifest list.
    Docker,
    /// OCI image manifest and image index.
    Oci,
}

/// One image to build.
#[derive(Debug, Clone)]
pub struct TestImage {
    /// The config's `created`.
    pub created: DateTime<Utc>,
    /// The config's labels.
    pub labels: BTreeMap<String, String>,
    /// `os`.
    pub os: String,
    /// `architecture`.
    pub architecture: String,
}

impl TestImage {
    /// A linux/amd64 image created at `created` (RFC 3339).
    pub fn created(created: &str) -> Self {
        Self {
            created: DateTime::parse_from_rfc3339(created)
                .map(|t| t.with_timezone(&Utc))
                .unwrap_or_default(),
            labels: BTreeMap::new(),
            os: "linux".into(),
            architecture: "amd64".into(),
        }
    }

    /// With one more label.
    pub fn label(mut self, key: &str, value: &str) -> Self {
        self.labels.insert(key.into(), value.into());
        self
    }

    /// For another architecture.
    pub fn arch(mut self, architecture: &str) -> Self {
        self.architecture = architecture.into();
        self
    }
}

/// How the pusher authenticates.
#[derive(Debug, Clone, Default)]
pub enum PushAuth {
    /// Open registry.
    #[default]
    None,
    /// htpasswd user and password.
    Basic(String, String),
    /// A bearer token with push rights.
    Bearer(String),
}

/// Pushes blobs and manifests to one registry.
#[derive(Debug, Clone)]
pub struct Pusher {
    http: reqwest::Client,
    base: String,
    auth: PushAuth,
}

fn sha256(bytes: &[u8]) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, bytes);
    let hex: String = d.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

impl Pusher {
    /// A pusher for the registry at `addr` (`127.0.0.1:PORT`, plain HTTP).
    pub fn new(addr: &str) -> Self {
        Self::with_auth(addr, PushAuth::None)
    }

    /// A pusher that authenticates.
    pub fn with_auth(addr: &str, auth: PushAuth) -> Self {
        super::install_crypto_provider();
        Self {
            http: reqwest::Client::new(),
            base: format!("http://{addr}"),
            auth,
        }
    }

    /// A pusher for a registry served over HTTPS at `addr`, trusting only
    /// the CA certificate (PEM) in `ca_file`.
    pub fn with_tls(
        addr: &str,
        ca_file: &std::path::Path,
        auth: PushAuth,
    ) -> Result<Self, TestbedError> {
        super::install_crypto_provider();
        let pem = std::fs::read(ca_file).map_err(|e| tb_err("reading the CA", e))?;
        let ca = reqwest::Certificate::from_pem(&pem).map_err(|e| tb_err("the CA", e))?;
        let http = reqwest::Client::builder()
            .tls_certs_only([ca])
            .build()
            .map_err(|e| tb_err("pusher client", e))?;
        Ok(Self {
            http,
            base: format!("https://{addr}"),
            auth,
        })
    }

    fn authed(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.auth {
            PushAuth::None => req,
            PushAuth::Basic(u, p) => req.basic_auth(u, Some(p)),
            PushAuth::Bearer(t) => req.bearer_auth(t),
        }
    }

    /// Uploads a blob (monolithic upload) and returns its digest.
    pub async fn push_blob(&self, repo: &str, bytes: &[u8]) -> Result<String, TestbedError> {
        let digest = sha256(bytes);
        let what = format!("pushing blob {digest} to {repo}");
        let resp = self
            .authed(
                self.http
                    .post(format!("{}/v2/{repo}/blobs/uploads/", self.base)),
            )
            .send()
            .await
            .map_err(|e| tb_err(&what, e))?;
        if resp.status().as_u16() != 202 {
            return Err(tb_err(&what, format!("upload start: {}", resp.status())));
        }
        let location = resp
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| tb_err(&what, "no Location"))?
            .to_owned();
        let location = if location.starts_with("http") {
            location
        } else {
            format!("{}{location}", self.base)
        };
        let sep = if location.contains('?') { '&' } else { '?' };
        let resp = self
            .authed(self.http.put(format!("{location}{sep}digest={digest}")))
            .header("content-type", "application/octet-stream")
            .body(bytes.to_vec())
            .send()
            .await
            .map_err(|e| tb_err(&what, e))?;
        if resp.status().as_u16() != 201 {
            return Err(tb_err(&what, format!("upload: {}", resp.status())));
        }
        Ok(digest)
    }

    /// Puts a manifest under `reference` (a tag or digest); returns its digest.
    pub async fn push_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<String, TestbedError> {
        let what = format!("pushing manifest {repo}:{reference}");
        let resp = self
            .authed(
                self.http
                    .put(format!("{}/v2/{repo}/manifests/{reference}", self.base)),
            )
            .header("content-type", media_type)
            .body(bytes.to_vec())
            .send()
            .await
            .map_err(|e| tb_err(&what, e))?;
        let status = resp.status();
        if status.as_u16() != 201 {
            let body = resp.text().await.unwrap_or_default();
            return Err(tb_err(&what, format!("{status}: {body}")));
        }
        Ok(sha256(bytes))
    }

    /// Builds and pushes one image as `repo:tag`; returns the manifest digest.
    pub async fn push_image(
        &self,
        repo: &str,
        tag: &str,
        image: &TestImage,
        format: Format,
    ) -> Result<String, TestbedError> {
        let (media_type, bytes) = self.build_image(repo, image, format).await?;
        self.push_manifest(repo, tag, media_type, &bytes).await
    }

    async fn build_image(
        &self,
        repo: &str,
        image: &TestImage,
        format: Format,
    ) -> Result<(&'static str, Vec<u8>), TestbedError> {
        let layer = format!("layer of {repo} for {}", image.architecture).into_bytes();
        let layer_digest = self.push_blob(repo, &layer).await?;
        let config = serde_json::to_vec(&json!({
            "created": image.created.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
            "architecture": image.architecture,
            "os": image.os,
            "config": { "Labels": image.labels },
            "rootfs": { "type": "layers", "diff_ids": [layer_digest] },
            "history": [{ "created": image.created.to_rfc3339(), "created_by": "flux-registry testbed" }],
        }))
        .map_err(|e| tb_err("config", e))?;
        let config_digest = self.push_blob(repo, &config).await?;
        let (media_type, config_type, layer_type) = match format {
            Format::Docker => (
                "application/vnd.docker.distribution.manifest.v2+json",
                "application/vnd.docker.container.image.v1+json",
                "application/vnd.docker.image.rootfs.diff.tar.gzip",
            ),
            Format::Oci => (
                "application/vnd.oci.image.manifest.v1+json",
                "application/vnd.oci.image.config.v1+json",
                "application/vnd.oci.image.layer.v1.tar+gzip",
            ),
        };
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": media_type,
            "config": { "mediaType": config_type, "size": config.len(), "digest": config_digest },
            "layers": [{ "mediaType": layer_type, "size": layer.len(), "digest": layer_digest }],
        }))
        .map_err(|e| tb_err("manifest", e))?;
        Ok((media_type, manifest))
    }

    /// Pushes one image per entry (by digest) and a manifest list or OCI
    /// index over them as `repo:tag`. Returns the list's digest and the
    /// images' digests, in order.
    pub async fn push_index(
        &self,
        repo: &str,
        tag: &str,
        images: &[TestImage],
        format: Format,
    ) -> Result<(String, Vec<String>), TestbedError> {
        let mut entries = Vec::new();
        let mut digests = Vec::new();
        for image in images {
            let (media_type, bytes) = self.build_image(repo, image, format).await?;
            let digest = sha256(&bytes);
            self.push_manifest(repo, &digest, media_type, &bytes)
                .await?;
            entries.push(json!({
                "mediaType": media_type,
                "size": bytes.len(),
                "digest": digest,
                "platform": { "architecture": image.architecture, "os": image.os },
            }));
            digests.push(digest);
        }
        let media_type = match format {
            Format::Docker => "application/vnd.docker.distribution.manifest.list.v2+json",
            Format::Oci => "application/vnd.oci.image.index.v1+json",
        };
        let index = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": media_type,
            "manifests": entries,
        }))
        .map_err(|e| tb_err("index", e))?;
        let digest = self.push_manifest(repo, tag, media_type, &index).await?;
        Ok((digest, digests))
    }
}
