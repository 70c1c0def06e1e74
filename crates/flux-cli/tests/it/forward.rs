//! Reaching fluxd without `--url`: the port-forward to the fluxd pod,
//! through the emulator's pods/portforward to a scripted fluxd.

use std::net::SocketAddr;

use flux_cli::error::Exit;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, PostParams};
use kube_emulator::Emulator;

use crate::fake_fluxd::{FakeFluxd, Script};
use crate::util::fluxctl_env;

fn pod(name: &str, labels: &[(&str, &str)]) -> Pod {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "flux", "labels": labels.iter().cloned().collect::<std::collections::BTreeMap<_, _>>()},
        "spec": {"containers": [{"name": "flux", "image": "fluxd:test"}]}
    }))
    .expect("pod")
}

#[test]
fn without_a_url_fluxctl_port_forwards_to_the_fluxd_pod() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let server = runtime.block_on(Emulator::new().start()).expect("emulator");
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = dir.path().join("kubeconfig");
    server
        .write_kubeconfig(&kubeconfig, None)
        .expect("kubeconfig");
    let kc = kubeconfig.to_str().expect("utf-8");
    let fluxd = FakeFluxd::start(Script {
        services: serde_json::from_value(serde_json::json!([
            {"ID": "demo:deployment/web", "Containers": [{"Name": "web", "Current": {"ID": "nginx:1.27"}}], "Status": "ready"}
        ]))
        .expect("services"),
        ..Script::default()
    });
    let addr: SocketAddr = fluxd
        .url
        .trim_start_matches("http://")
        .trim_end_matches("/api/flux")
        .parse()
        .expect("addr");

    // No pod yet: exit 3, naming both selectors tried.
    let run = fluxctl_env(
        &["--k8s-fwd-ns", "flux", "list-workloads", "-a"],
        &[("KUBECONFIG", kc)],
    );
    let err = run.fails(Exit::Unreachable);
    assert!(err.contains("no running fluxd pod in namespace \"flux\" with labels app=flux or name in (flux,fluxd,weave-flux-agent)"), "{err}");

    // A pod found by Flux v1's fallback label name=fluxd.
    runtime.block_on(async {
        let client = kube::Client::try_from(
            kube::Config::from_custom_kubeconfig(
                kube::config::Kubeconfig::read_from(&kubeconfig).expect("read"),
                &Default::default(),
            )
            .await
            .expect("config"),
        )
        .expect("client");
        let ns: k8s_openapi::api::core::v1::Namespace =
            serde_json::from_value(serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "flux"}})).expect("ns");
        let _ = Api::<k8s_openapi::api::core::v1::Namespace>::all(client.clone()).create(&PostParams::default(), &ns).await;
        Api::<Pod>::namespaced(client, "flux")
            .create(&PostParams::default(), &pod("fluxd-0", &[("name", "fluxd")]))
            .await
            .expect("create pod");
    });
    server.forward_pod_port("flux", "fluxd-0", 3030, addr);
    let run = fluxctl_env(
        &["list-workloads", "-a", "--no-headers"],
        &[("KUBECONFIG", kc), ("FLUX_FORWARD_NAMESPACE", "flux")],
    );
    let words: Vec<Vec<&str>> = run
        .ok()
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        words,
        vec![vec!["demo:deployment/web", "web", "nginx:1.27", "ready"]]
    );
    let queries = fluxd.script.lock().expect("lock").queries.clone();
    assert_eq!(
        queries,
        [("services".to_owned(), "namespace=".to_owned())],
        "the request went through the forward"
    );
    drop(server);
    runtime.shutdown_background();
}
