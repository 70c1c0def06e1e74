//! An identity limited to two namespaces: the adapter stays inside them
//! and reports the 403s it is given.

use std::collections::BTreeSet;

use flux_core::Cluster;
use flux_core::cluster::{ClusterErrorKind, Namespaces};
use flux_kube::Options;
use kube_emulator::Emulator;

use crate::{Bed, MARK, fast_retry, limited, objects};

fn yaml() -> String {
    ["a", "b", "c"]
        .iter()
        .map(|ns| format!("---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: cfg, namespace: {ns}}}\ndata: {{k: v}}\n"))
        .collect()
}

async fn bed(namespaces: Namespaces) -> Bed {
    let bed = Bed::with(
        Emulator::new().access(limited("flux", &["a", "b"])),
        Some("flux"),
        Options {
            namespaces,
            retry: fast_retry(),
            ..Options::default()
        },
    )
    .await;
    for ns in ["a", "b", "c"] {
        create_namespace(&bed, ns).await;
    }
    bed
}

/// Creates a namespace with the admin token (kubectl sends no token to a
/// plain-HTTP server, so this speaks HTTP itself).
async fn create_namespace(bed: &Bed, ns: &str) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let body = format!(r#"{{"apiVersion":"v1","kind":"Namespace","metadata":{{"name":"{ns}"}}}}"#);
    let req = format!(
        "POST /api/v1/namespaces HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer root\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut s = tokio::net::TcpStream::connect(bed.server.addr())
        .await
        .expect("connect");
    s.write_all(req.as_bytes()).await.expect("send");
    let mut resp = String::new();
    s.read_to_string(&mut resp).await.expect("read");
    assert!(resp.starts_with("HTTP/1.1 201"), "{resp}");
}

#[tokio::test]
async fn limited_adapter_never_touches_other_namespaces() {
    let only = Namespaces::Only(BTreeSet::from(["a".to_owned(), "b".to_owned()]));
    let bed = bed(only.clone()).await;
    bed.server.clear_requests();
    let r = bed.cluster.apply(&objects(&yaml())).await;
    let c = r
        .iter()
        .find(|(id, _)| id.namespace() == Some("c"))
        .unwrap();
    let e = c.1.as_ref().unwrap_err();
    assert_eq!(e.kind, ClusterErrorKind::Forbidden);
    assert!(
        e.to_string()
            .contains("c:configmap/cfg: outside the allowed namespaces"),
        "{e}"
    );
    assert_eq!(r.iter().filter(|(_, r)| r.is_ok()).count(), 2);
    let managed = bed.cluster.list_managed(MARK, &only).await.unwrap();
    assert_eq!(managed.len(), 2);
    let exported = bed.cluster.export_workloads(&only).await.unwrap();
    assert_eq!(exported.len(), 2, "namespaces a and b");
    let del = bed
        .cluster
        .delete(&["c:configmap/cfg".parse().unwrap()])
        .await;
    assert_eq!(
        del[0].1.as_ref().unwrap_err().kind,
        ClusterErrorKind::Forbidden
    );
    let requests = bed.server.requests();
    assert!(!requests.is_empty());
    for r in &requests {
        assert!(
            !r.contains("/namespaces/c/") && !r.ends_with("/namespaces/c?"),
            "touched namespace c: {r}"
        );
        assert!(
            !r.starts_with("GET /api/v1/configmaps"),
            "listed all namespaces: {r}"
        );
    }
}

#[tokio::test]
async fn server_403s_are_reported_clearly() {
    // Misconfigured: told it may use every namespace, but the token may not.
    let bed = bed(Namespaces::All).await;
    let r = bed.cluster.apply(&objects(&yaml())).await;
    let c = r
        .iter()
        .find(|(id, _)| id.namespace() == Some("c"))
        .unwrap();
    let e = c.1.as_ref().unwrap_err();
    assert_eq!(e.kind, ClusterErrorKind::Forbidden);
    assert!(
        e.message.contains("configmaps is forbidden: User \"system:serviceaccount:flux:flux\" cannot patch resource \"configmaps\" in API group \"\" in the namespace \"c\" (HTTP 403 Forbidden)"),
        "{e}"
    );
    assert_eq!(r.iter().filter(|(_, r)| r.is_ok()).count(), 2);
    // Listing everything skips what it may not list, as Flux v1 did.
    let managed = bed
        .cluster
        .list_managed(MARK, &Namespaces::All)
        .await
        .unwrap();
    assert!(
        managed.is_empty(),
        "cluster-wide lists are forbidden: {managed:?}"
    );
}

/// The same identity over TLS, where kubectl sends tokens too: kubectl
/// (as the admin) creates the namespaces and referees what the adapter
/// wrote; the adapter's token is refused outside its namespaces.
#[tokio::test]
async fn limited_token_over_tls() {
    let bed = Bed::with(
        Emulator::new().tls().access(limited("flux", &["a", "b"])),
        Some("flux"),
        Options {
            namespaces: Namespaces::All,
            retry: fast_retry(),
            ..Options::default()
        },
    )
    .await;
    assert!(bed.server.url().starts_with("https://"));
    let root = bed.server.kubectl(Some("root")).expect("kubectl");
    let root = tokio::task::spawn_blocking(move || {
        for ns in ["a", "b", "c"] {
            root.run(&["create", "namespace", ns])
                .expect_ok("create namespace");
        }
        root
    })
    .await
    .expect("kubectl task");

    let r = bed.cluster.apply(&objects(&yaml())).await;
    for (id, res) in &r {
        match id.namespace() {
            Some("c") => {
                let e = res.as_ref().unwrap_err();
                assert_eq!(e.kind, ClusterErrorKind::Forbidden, "{e}");
                assert!(
                    e.message.contains("User \"system:serviceaccount:flux:flux\" cannot patch resource \"configmaps\" in API group \"\" in the namespace \"c\""),
                    "{e}"
                );
            }
            _ => assert!(res.is_ok(), "{id}: {res:?}"),
        }
    }
    let only = Namespaces::Only(BTreeSet::from(["a".to_owned(), "b".to_owned()]));
    let managed = bed.cluster.list_managed(MARK, &only).await.unwrap();
    assert_eq!(managed.len(), 2, "{managed:?}");

    let listed = tokio::task::spawn_blocking(move || {
        root.run(&[
            "get",
            "configmaps",
            "--all-namespaces",
            "-o",
            "jsonpath={range .items[*]}{.metadata.namespace}/{.metadata.name}={.metadata.managedFields[0].manager} {end}",
        ])
    })
    .await
    .expect("kubectl task");
    assert_eq!(
        listed.expect_ok("get configmaps").trim(),
        "a/cfg=flux b/cfg=flux"
    );
}
