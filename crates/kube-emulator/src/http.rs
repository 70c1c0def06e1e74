//! Request and response plumbing shared by the handlers: query parameters,
//! content negotiation, body decoding, and parsing resource paths.

use std::convert::Infallible;

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use serde_json::Value;

use crate::error::ApiError;

/// The response body type.
pub type Body = BoxBody<Bytes, Infallible>;

/// A request with its body read.
pub struct Request {
    /// Method.
    pub method: Method,
    /// Path, without the query.
    pub path: String,
    /// Query parameters, decoded.
    pub query: Vec<(String, String)>,
    /// Headers.
    pub headers: HeaderMap,
    /// Body.
    pub body: Bytes,
}

impl Request {
    /// A query parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A boolean query parameter (`true`/`1`).
    pub fn flag(&self, name: &str) -> bool {
        matches!(self.param(name), Some("true" | "1"))
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The body as JSON (or YAML for apply patches, or the protobuf
    /// kubectl's typed clients send for a few kinds).
    pub fn json_body(&self) -> Result<Value, ApiError> {
        if self.body.is_empty() {
            return Ok(Value::Null);
        }
        if self
            .header("content-type")
            .starts_with("application/vnd.kubernetes.protobuf")
        {
            return crate::proto::decode(&self.body).map_err(|message| ApiError {
                code: 415,
                reason: "UnsupportedMediaType",
                message,
                details: None,
            });
        }
        match serde_json::from_slice(&self.body) {
            Ok(v) => Ok(v),
            Err(json_err) => {
                let text = std::str::from_utf8(&self.body)
                    .map_err(|_| ApiError::bad_request("the request body is not UTF-8"))?;
                if self.header("content-type").contains("yaml") {
                    serde_saphyr::from_str::<Value>(text)
                        .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))
                } else {
                    Err(ApiError::bad_request(format!(
                        "error decoding JSON: {json_err}"
                    )))
                }
            }
        }
    }

    /// The field manager: `fieldManager`, or the User-Agent up to its
    /// first `/` (what the API server does).
    pub fn field_manager(&self) -> Option<String> {
        if let Some(m) = self.param("fieldManager")
            && !m.is_empty()
        {
            return Some(m.to_owned());
        }
        let ua = self.header("user-agent");
        let prefix = ua.split('/').next().unwrap_or("").trim();
        (!prefix.is_empty()).then(|| prefix.to_owned())
    }
}

/// A full JSON response.
pub fn json(status: u16, v: &Value, warnings: &[String]) -> http::Response<Body> {
    let bytes = serde_json::to_vec(v).unwrap_or_default();
    json_bytes(status, bytes, "application/json", warnings)
}

/// A JSON response from already-encoded bytes.
pub fn raw(status: u16, bytes: Bytes, warnings: &[String]) -> http::Response<Body> {
    let mut b = http::Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("content-type", "application/json")
        .header("cache-control", "no-cache, private");
    for w in warnings {
        b = b.header(
            "warning",
            format!("299 - {}", serde_json::Value::String(w.clone())),
        );
    }
    b.body(Full::new(bytes).boxed())
        .unwrap_or_else(|_| http::Response::new(Full::new(Bytes::new()).boxed()))
}

/// A full response from bytes.
pub fn json_bytes(
    status: u16,
    bytes: Vec<u8>,
    content_type: &str,
    warnings: &[String],
) -> http::Response<Body> {
    let mut b = http::Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("content-type", content_type)
        .header("cache-control", "no-cache, private");
    for w in warnings {
        b = b.header(
            "warning",
            format!("299 - {}", serde_json::Value::String(w.clone())),
        );
    }
    b.body(Full::new(Bytes::from(bytes)).boxed())
        .unwrap_or_else(|_| http::Response::new(Full::new(Bytes::new()).boxed()))
}

/// A Status error response.
pub fn error(e: &ApiError) -> http::Response<Body> {
    let mut r = json(e.code, &e.to_status(), &[]);
    if let Some(secs) = e
        .details
        .as_ref()
        .and_then(|d| d.get("retryAfterSeconds"))
        .and_then(Value::as_u64)
        && let Ok(v) = http::HeaderValue::from_str(&secs.to_string())
    {
        r.headers_mut().insert("retry-after", v);
    }
    r
}

/// A plain-text response.
pub fn text(status: u16, s: &str) -> http::Response<Body> {
    json_bytes(
        status,
        s.as_bytes().to_vec(),
        "text/plain; charset=utf-8",
        &[],
    )
}

/// What a resource path addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourcePath {
    /// API group.
    pub group: String,
    /// Version.
    pub version: String,
    /// Plural resource name.
    pub plural: String,
    /// Namespace, for namespaced requests.
    pub namespace: Option<String>,
    /// Object name.
    pub name: Option<String>,
    /// Subresource.
    pub sub: Option<String>,
}

/// Parses `/api/v1/...` and `/apis/<group>/<version>/...` below the
/// version; `None` for discovery paths.
pub fn parse_resource_path(path: &str) -> Option<ResourcePath> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match segs.as_slice() {
        ["api", v, rest @ ..] if !rest.is_empty() => ("", *v, rest),
        ["apis", g, v, rest @ ..] if !rest.is_empty() => (*g, *v, rest),
        _ => return None,
    };
    let s = |x: &str| x.to_owned();
    let mut out = ResourcePath {
        group: s(group),
        version: s(version),
        plural: String::new(),
        namespace: None,
        name: None,
        sub: None,
    };
    match rest {
        [plural] => out.plural = s(plural),
        ["namespaces", name] => {
            out.plural = s("namespaces");
            out.name = Some(s(name));
        }
        ["namespaces", name, sub] if group.is_empty() && matches!(*sub, "status" | "finalize") => {
            out.plural = s("namespaces");
            out.name = Some(s(name));
            out.sub = Some(s(sub));
        }
        ["namespaces", ns, plural] => {
            out.namespace = Some(s(ns));
            out.plural = s(plural);
        }
        ["namespaces", ns, plural, name] => {
            out.namespace = Some(s(ns));
            out.plural = s(plural);
            out.name = Some(s(name));
        }
        ["namespaces", ns, plural, name, sub] => {
            out.namespace = Some(s(ns));
            out.plural = s(plural);
            out.name = Some(s(name));
            out.sub = Some(s(sub));
        }
        [plural, name] => {
            out.plural = s(plural);
            out.name = Some(s(name));
        }
        [plural, name, sub] => {
            out.plural = s(plural);
            out.name = Some(s(name));
            out.sub = Some(s(sub));
        }
        _ => return None,
    }
    Some(out)
}

/// Decodes percent-encoding in a path segment.
pub fn decode_path(p: &str) -> String {
    let mut out = Vec::with_capacity(p.len());
    let b = p.as_bytes();
    let mut i = 0;
    let hex = |c: u8| char::from(c).to_digit(16);
    while i < b.len() {
        // Bytes, not a `&str` slice: the two after `%` may split a
        // character (`%aé`), which a slice would panic on.
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(hi), Some(lo)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            out.push(u8::try_from(hi * 16 + lo).expect("two hex digits make a byte"));
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Path-like text: segments of the API's words, percent escapes
    /// (whole, cut short, or before multi-byte characters) and anything.
    fn pathish() -> impl Strategy<Value = String> {
        let part = prop_oneof![
            Just("/".to_owned()),
            Just("api".to_owned()),
            Just("apis".to_owned()),
            Just("v1".to_owned()),
            Just("namespaces".to_owned()),
            Just("status".to_owned()),
            "%[0-9a-fA-F]{0,2}",
            "%[0-9a-f]é",
            any::<String>(),
        ];
        proptest::collection::vec(part, 0..12).prop_map(|parts| parts.concat())
    }

    proptest! {
        #[test]
        fn path_decoding_never_panics_nor_grows(p in pathish()) {
            let decoded = decode_path(&p);
            // Each escape shrinks 3 bytes to 1, or to the 3 of U+FFFD.
            prop_assert!(decoded.len() <= p.len(), "{:?} -> {:?}", p, decoded);
            if let Some(r) = parse_resource_path(&p) {
                let parts = [Some(&r.group), Some(&r.version), Some(&r.plural),
                             r.namespace.as_ref(), r.name.as_ref(), r.sub.as_ref()];
                let total: usize = parts.iter().flatten().map(|s| s.len()).sum();
                prop_assert!(total <= p.len());
            }
        }
    }

    #[test]
    fn a_cut_escape_before_a_multibyte_character_is_kept_as_text() {
        // Regression: slicing two bytes after `%` panicked when they split
        // a character.
        assert_eq!(decode_path("%aé"), "%aé");
        assert_eq!(decode_path("x%2"), "x%2");
        assert_eq!(decode_path("%41%é"), "A%é");
    }

    #[test]
    #[allow(clippy::type_complexity)]
    fn resource_paths() {
        let p = |s: &str| parse_resource_path(s);
        let cases: Vec<(
            &str,
            Option<(&str, &str, &str, Option<&str>, Option<&str>, Option<&str>)>,
        )> = vec![
            (
                "/api/v1/namespaces",
                Some(("", "v1", "namespaces", None, None, None)),
            ),
            (
                "/api/v1/namespaces/demo",
                Some(("", "v1", "namespaces", None, Some("demo"), None)),
            ),
            (
                "/api/v1/namespaces/demo/status",
                Some(("", "v1", "namespaces", None, Some("demo"), Some("status"))),
            ),
            (
                "/api/v1/namespaces/demo/configmaps",
                Some(("", "v1", "configmaps", Some("demo"), None, None)),
            ),
            (
                "/api/v1/namespaces/demo/configmaps/c",
                Some(("", "v1", "configmaps", Some("demo"), Some("c"), None)),
            ),
            (
                "/apis/apps/v1/namespaces/d/deployments/w/scale",
                Some((
                    "apps",
                    "v1",
                    "deployments",
                    Some("d"),
                    Some("w"),
                    Some("scale"),
                )),
            ),
            (
                "/apis/apps/v1/deployments",
                Some(("apps", "v1", "deployments", None, None, None)),
            ),
            (
                "/apis/rbac.authorization.k8s.io/v1/clusterroles/admin",
                Some((
                    "rbac.authorization.k8s.io",
                    "v1",
                    "clusterroles",
                    None,
                    Some("admin"),
                    None,
                )),
            ),
            ("/api/v1", None),
            ("/apis/apps/v1", None),
            ("/apis/apps", None),
        ];
        for (path, want) in cases {
            let got = p(path).map(|r| (r.group, r.version, r.plural, r.namespace, r.name, r.sub));
            let want = want.map(|(g, v, pl, ns, n, s)| {
                (
                    g.to_owned(),
                    v.to_owned(),
                    pl.to_owned(),
                    ns.map(str::to_owned),
                    n.map(str::to_owned),
                    s.map(str::to_owned),
                )
            });
            assert_eq!(got, want, "{path}");
        }
        assert_eq!(decode_path("a%3Ab"), "a:b");
        assert_eq!(decode_path("plain%"), "plain%");
    }
}
