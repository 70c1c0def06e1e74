//! Namespace-limited identities.
//!
//! kubectl sends no credentials to a plain-HTTP server (clientcmd loads
//! the user's auth info only for TLS servers): over plain HTTP the bearer
//! tokens are sent by hand; over TLS the real kubectl sends them.

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

/// Over TLS kubectl sends the kubeconfig's token, so the real kubectl can
/// be the referee of a limited identity.
#[test]
fn kubectl_with_a_limited_token_over_tls() {
    let emu = Emu::start_tls(&["--token", "root", "--limited", "team=a,b"]);
    assert!(emu.url.starts_with("https://127.0.0.1:"), "{}", emu.url);
    let root = emu.kubectl_as("root");
    let team = emu.kubectl_as("team");
    for ns in ["a", "b", "c"] {
        root.run(&["create", "namespace", ns])
            .expect_ok("create namespace");
    }

    // Allowed: imperative create in a, server-side apply in b, reads.
    team.run(&["-n", "a", "create", "configmap", "x", "--from-literal=k=v"])
        .expect_ok("create configmap in a");
    let cm = |ns: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: cfg, namespace: {ns}}}\ndata: {{k: v}}\n"
        )
    };
    team.run_stdin(&["apply", "--server-side", "-f", "-"], &cm("b"))
        .expect_ok("apply in b");
    let got = team.run(&[
        "-n",
        "b",
        "get",
        "configmap",
        "cfg",
        "-o",
        "jsonpath={.data.k}",
    ]);
    assert_eq!(got.expect_ok("get in b"), "v");
    team.run(&["get", "namespace", "a"])
        .expect_ok("it may read its own namespace");

    // Forbidden: another namespace, all namespaces, cluster-scoped writes.
    let r = team.run(&["-n", "c", "get", "configmaps"]);
    assert!(!r.ok);
    assert!(
        r.stderr.contains("Error from server (Forbidden): configmaps is forbidden: User \"limited:team\" cannot list resource \"configmaps\" in API group \"\" in the namespace \"c\""),
        "{}",
        r.stderr
    );
    let r = team.run_stdin(&["apply", "--server-side", "-f", "-"], &cm("c"));
    assert!(!r.ok);
    assert!(
        r.stderr.contains(
            "cannot patch resource \"configmaps\" in API group \"\" in the namespace \"c\""
        ),
        "{}",
        r.stderr
    );
    let r = team.run(&["get", "configmaps", "--all-namespaces"]);
    assert!(!r.ok);
    assert!(r.stderr.contains("at the cluster scope"), "{}", r.stderr);
    let r = team.run(&["delete", "namespace", "a"]);
    assert!(!r.ok);
    assert!(r.stderr.contains("(Forbidden)"), "{}", r.stderr);

    // What was written, as the admin sees it: nothing in c, a still there.
    let all = root.run(&[
        "get",
        "configmaps",
        "--all-namespaces",
        "-o",
        "jsonpath={range .items[*]}{.metadata.namespace}/{.metadata.name} {end}",
    ]);
    assert_eq!(all.expect_ok("list as root").trim(), "a/x b/cfg");
    root.run(&["get", "namespace", "a"]).expect_ok("a survives");

    // An unknown token: unauthorized; a client that does not trust the CA
    // refuses the server.
    let r = emu.kubectl_as("wrong").run(&["get", "configmaps"]);
    assert!(!r.ok);
    assert!(
        r.stderr.contains("provide credentials") || r.stderr.contains("Unauthorized"),
        "{}",
        r.stderr
    );
    let untrusting = kube_emulator::kubectl::Kubectl::new(&emu.url, Some("root")).unwrap();
    let r = untrusting.run(&["get", "namespaces"]);
    assert!(!r.ok);
    assert!(
        r.stderr.contains("certificate signed by unknown authority"),
        "{}",
        r.stderr
    );
}
