//! The workload controller as kubectl sees it: `rollout status` finishes,
//! and `get -o wide` shows the priority-1 columns.

use std::io::Read as _;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::{APP, Emu};

const WORKLOADS: &str = "apiVersion: apps/v1
kind: StatefulSet
metadata: {name: cache, namespace: demo}
spec:
  replicas: 2
  serviceName: cache
  selector: {matchLabels: {app: cache}}
  template:
    metadata: {labels: {app: cache}}
    spec: {containers: [{name: memcached, image: memcached:1.6}]}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: demo}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      nodeSelector: {kubernetes.io/os: linux}
      containers: [{name: agent, image: agent:2}]
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly, namespace: demo}
spec:
  schedule: '0 3 * * *'
  timeZone: Etc/UTC
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers: [{name: job, image: busybox:1.36}]
";

#[test]
fn rollout_status_finishes_for_each_workload_kind() {
    let emu = Emu::start();
    emu.apply(APP, &[]).expect_ok("apply app");
    emu.apply(WORKLOADS, &[]).expect_ok("apply workloads");
    let out = emu.ok(&[
        "rollout",
        "status",
        "deployment/web",
        "-n",
        "demo",
        "--timeout=30s",
    ]);
    assert!(
        out.contains("deployment \"web\" successfully rolled out"),
        "{out}"
    );
    let out = emu.ok(&[
        "rollout",
        "status",
        "statefulset/cache",
        "-n",
        "demo",
        "--timeout=30s",
    ]);
    assert!(
        out.contains("partitioned roll out complete: 2 new pods have been updated"),
        "{out}"
    );
    let out = emu.ok(&[
        "rollout",
        "status",
        "daemonset/agent",
        "-n",
        "demo",
        "--timeout=30s",
    ]);
    assert!(
        out.contains("daemon set \"agent\" successfully rolled out"),
        "{out}"
    );

    let d = emu.get_json(&["deployment", "web", "-n", "demo"]);
    let s = &d["status"];
    assert_eq!(s["observedGeneration"], d["metadata"]["generation"]);
    assert_eq!(
        (s["replicas"].as_i64(), s["availableReplicas"].as_i64()),
        (Some(2), Some(2))
    );
    let reasons: Vec<&str> = s["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["reason"].as_str().unwrap())
        .collect();
    assert_eq!(
        reasons,
        ["MinimumReplicasAvailable", "NewReplicaSetAvailable"]
    );
    let mf = d["metadata"]["managedFields"].as_array().unwrap();
    assert!(
        mf.iter()
            .any(|m| m["manager"] == "kube-controller-manager" && m["subresource"] == "status"),
        "{mf:?}"
    );
}

#[test]
fn a_watcher_sees_a_rollout_progress_then_finish() {
    let emu = Emu::start_with(&["--rollout-ms", "3000"]);
    emu.apply(APP, &[]).expect_ok("apply");
    emu.ok(&[
        "rollout",
        "status",
        "deployment/web",
        "-n",
        "demo",
        "--timeout=30s",
    ]);
    emu.ok(&[
        "set",
        "image",
        "deployment/web",
        "-n",
        "demo",
        "app=nginx:1.27",
    ]);
    let mut child = emu
        .kubectl
        .command()
        .args([
            "rollout",
            "status",
            "deployment/web",
            "-n",
            "demo",
            "--timeout=30s",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start rollout status");
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert!(child.wait().unwrap().success(), "{out}");
    assert!(
        out.contains("Waiting for deployment \"web\" rollout to finish: 0 of 2 updated replicas are available..."),
        "{out}"
    );
    assert!(
        out.ends_with("deployment \"web\" successfully rolled out\n"),
        "{out}"
    );
    let d = emu.get_json(&["deployment", "web", "-n", "demo"]);
    assert_eq!(d["metadata"]["generation"], 2);
    assert_eq!(d["status"]["observedGeneration"], 2);
}

#[test]
fn without_the_controller_rollouts_never_finish() {
    let emu = Emu::start_with(&["--no-rollouts"]);
    emu.apply(APP, &[]).expect_ok("apply");
    let start = Instant::now();
    let out = emu.kubectl.run(&[
        "rollout",
        "status",
        "deployment/web",
        "-n",
        "demo",
        "--timeout=2s",
    ]);
    assert!(!out.ok);
    assert!(start.elapsed() >= Duration::from_secs(2));
    assert!(!emu.ok(&["get", "nodes", "-o", "name"]).contains("node/"));
}

fn table(out: &str) -> Vec<Vec<String>> {
    out.lines()
        .map(|l| {
            l.split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .collect()
}

#[test]
fn wide_output_has_the_priority_columns() {
    let emu = Emu::start();
    emu.apply(APP, &[]).expect_ok("apply app");
    emu.apply(WORKLOADS, &[]).expect_ok("apply workloads");
    emu.apply(
        "apiVersion: batch/v1\nkind: Job\nmetadata: {name: once, namespace: demo}\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers: [{name: once, image: busybox:1.36}]\n",
        &[],
    )
    .expect_ok("apply job");
    emu.ok(&[
        "rollout",
        "status",
        "deployment/web",
        "-n",
        "demo",
        "--timeout=30s",
    ]);
    emu.ok(&[
        "rollout",
        "status",
        "daemonset/agent",
        "-n",
        "demo",
        "--timeout=30s",
    ]);
    let cases: [(&[&str], &[&str], &[&str]); 7] = [
        (
            &["deployment", "web"],
            &[
                "NAME",
                "READY",
                "UP-TO-DATE",
                "AVAILABLE",
                "AGE",
                "CONTAINERS",
                "IMAGES",
                "SELECTOR",
            ],
            &["web", "2/2", "2", "2", "", "app", "nginx:1.25", "app=web"],
        ),
        (
            &["statefulset", "cache"],
            &["NAME", "READY", "AGE", "CONTAINERS", "IMAGES"],
            &["cache", "", "", "memcached", "memcached:1.6"],
        ),
        (
            &["daemonset", "agent"],
            &[
                "NAME",
                "DESIRED",
                "CURRENT",
                "READY",
                "UP-TO-DATE",
                "AVAILABLE",
                "NODE SELECTOR",
                "AGE",
                "CONTAINERS",
                "IMAGES",
                "SELECTOR",
            ],
            &[
                "agent",
                "1",
                "1",
                "1",
                "1",
                "1",
                "kubernetes.io/os=linux",
                "",
                "agent",
                "agent:2",
                "app=agent",
            ],
        ),
        (
            &["service", "web"],
            &[
                "NAME",
                "TYPE",
                "CLUSTER-IP",
                "EXTERNAL-IP",
                "PORT(S)",
                "AGE",
                "SELECTOR",
            ],
            &["web", "ClusterIP", "", "<none>", "80/TCP", "", "app=web"],
        ),
        (
            &["cronjob", "nightly"],
            &[
                "NAME",
                "SCHEDULE",
                "TIMEZONE",
                "SUSPEND",
                "ACTIVE",
                "LAST SCHEDULE",
                "AGE",
                "CONTAINERS",
                "IMAGES",
                "SELECTOR",
            ],
            &[
                "nightly",
                "0 3 * * *",
                "Etc/UTC",
                "False",
                "0",
                "<none>",
                "",
                "job",
                "busybox:1.36",
                "<none>",
            ],
        ),
        (
            &["job", "once"],
            &[
                "NAME",
                "STATUS",
                "COMPLETIONS",
                "DURATION",
                "AGE",
                "CONTAINERS",
                "IMAGES",
                "SELECTOR",
            ],
            &["once", "Running", "0/1"],
        ),
        (
            &["node"],
            &[
                "NAME",
                "STATUS",
                "ROLES",
                "AGE",
                "VERSION",
                "INTERNAL-IP",
                "EXTERNAL-IP",
                "OS-IMAGE",
                "KERNEL-VERSION",
                "CONTAINER-RUNTIME",
            ],
            &[
                "kube-emulator",
                "Ready",
                "control-plane",
                "",
                "v1.32.0",
                "127.0.0.1",
                "<none>",
                "kube-emulator",
            ],
        ),
    ];
    for (what, header, row) in cases {
        let mut args = vec!["get"];
        args.extend_from_slice(what);
        args.extend_from_slice(&["-n", "demo", "-o", "wide"]);
        let out = emu.ok(&args);
        let t = table(&out);
        assert_eq!(t[0], header, "{out}");
        for (i, want) in row.iter().enumerate() {
            if !want.is_empty() {
                assert_eq!(t[1][i], *want, "column {} of {what:?}:\n{out}", header[i]);
            }
        }
    }
    // Without -o wide the priority columns stay hidden.
    let out = emu.ok(&["get", "deployment", "web", "-n", "demo"]);
    assert!(!out.contains("IMAGES"), "{out}");
}
