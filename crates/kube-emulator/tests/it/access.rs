//! Namespace-limited identities.
//!
//! kubectl sends no credentials to a plain-HTTP server (clientcmd loads
//! the user's auth info only for TLS servers), so bearer tokens are sent
//! here by hand; the flux-kube tests cover the same rules through kube-rs.

use crate::Emu;

#[test]
fn a_limited_token_gets_403_outside_its_namespaces() {
    let emu = Emu::start_with(&["--token", "root", "--limited", "team=a,b"]);
    let req = |method: &str, path: &str, token: &str, body: &str| {
        emu.http_auth(method, path, token, body)
    };
    for ns in ["a", "b", "c"] {
        let (code, body) = req(
            "POST",
            "/api/v1/namespaces",
            "root",
            &format!(r#"{{"apiVersion":"v1","kind":"Namespace","metadata":{{"name":"{ns}"}}}}"#),
        );
        assert_eq!(code, 201, "{body}");
    }
    let cm = r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"}}"#;
    assert_eq!(
        req("POST", "/api/v1/namespaces/a/configmaps", "team", cm).0,
        201
    );
    assert_eq!(
        req("GET", "/api/v1/namespaces/b/configmaps", "team", "").0,
        200
    );
    let (code, body) = req("GET", "/api/v1/namespaces/c/configmaps", "team", "");
    assert_eq!(code, 403);
    let status: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status["reason"], "Forbidden");
    assert_eq!(
        status["message"],
        "configmaps is forbidden: User \"limited:team\" cannot list resource \"configmaps\" in API group \"\" in the namespace \"c\""
    );
    let (code, body) = req("GET", "/api/v1/configmaps", "team", "");
    assert_eq!(code, 403);
    assert!(body.contains("at the cluster scope"), "{body}");
    assert_eq!(
        req("GET", "/api/v1/namespaces/a", "team", "").0,
        200,
        "it may read its own namespaces"
    );
    assert_eq!(req("DELETE", "/api/v1/namespaces/a", "team", "").0, 403);
    assert_eq!(req("GET", "/api/v1/namespaces", "wrong", "").0, 401);
    // Without a token kubectl is unauthorized when a token is required.
    let r = emu.kubectl.run(&["get", "configmaps"]);
    assert!(
        r.stderr.contains("provide credentials") || r.stderr.contains("Unauthorized"),
        "{}",
        r.stderr
    );
}
