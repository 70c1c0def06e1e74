//! fluxctl without `--url`: it finds the fluxd pod by Flux v1's labels and
//! port-forwards to its port 3030 through the emulator's
//! pods/portforward, which reaches the real fluxd's API.

use flux_cli::error::Exit;

use super::*;

const POD: &str = "apiVersion: v1
kind: Pod
metadata:
  name: flux-7d9c
  namespace: flux
  labels:
    app: flux
spec:
  containers:
  - name: flux
    image: fluxd:test
    ports:
    - containerPort: 3030
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_reach_fluxd_through_a_port_forward() {
    let s = setup(Needs::default()).await;
    let kubeconfig = s.bed.kubeconfig.display().to_string();
    let env = s.env(&[
        ("KUBECONFIG", kubeconfig.as_str()),
        ("FLUX_FORWARD_NAMESPACE", "flux"),
    ]);

    // No fluxd pod yet: exit 3, naming where fluxctl looked.
    let run = fluxctl_bin(&["list-workloads"], &env).await;
    let err = run.fails(Exit::Unreachable);
    assert!(
        err.contains("no running fluxd pod in namespace \"flux\""),
        "{err}"
    );

    s.kubectl(&["create", "namespace", "flux"]);
    s.bed
        .kubectl
        .run_stdin(&["apply", "-f", "-"], POD)
        .expect_ok("apply the pod");
    s.bed
        .emulator
        .forward_pod_port("flux", "flux-7d9c", 3030, s.fluxd.addr());

    // Reads, and a write (one job, then its sync status, each on a new
    // connection through the forward).
    let run = fluxctl_bin(&["list-workloads", "-n", "demo"], &env).await;
    let listed = rows(run.ok());
    assert_eq!(listed.len(), 4, "{}", run.out);
    assert!(
        listed[1].starts_with("demo:deployment/web web registry.example.com/team/web:1.0"),
        "{listed:?}"
    );
    let run = fluxctl_bin(&["automate", "-w", "demo:deployment/web"], &env).await;
    run.ok();
    let short = s.head()[..7].to_owned();
    assert!(
        run.err.ends_with(&format!("Commit applied:\t{short}\n")),
        "{}",
        run.err
    );
    assert_eq!(s.subjects()[0], "Automated: demo:deployment/web");
    let run = fluxctl_bin(&["identity", "-l"], &env).await;
    assert_eq!(
        run.ok().split(':').count(),
        16,
        "an MD5 fingerprint: {}",
        run.out
    );
    // The forwards went through the emulator.
    let forwards = s
        .bed
        .emulator
        .requests()
        .iter()
        .filter(|r| r.contains("/namespaces/flux/pods/flux-7d9c/portforward"))
        .count();
    assert!(forwards >= 3, "{forwards} port-forward requests");

    // The wrong namespace: exit 3 again.
    let run = fluxctl_bin(&["--k8s-fwd-ns", "elsewhere", "list-workloads"], &env).await;
    run.fails(Exit::Unreachable);

    // fluxd gone behind a running pod: the forward cannot connect, exit 3.
    s.fluxd.stop().await;
    let run = fluxctl_bin(&["list-workloads"], &env).await;
    let err = run.fails(Exit::Unreachable);
    assert!(err.contains("cannot reach the Flux daemon"), "{err}");
}
