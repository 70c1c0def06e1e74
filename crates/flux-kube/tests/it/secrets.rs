//! Image pull secrets of workloads and their service accounts.

use base64::Engine as _;
use flux_core::Cluster;
use flux_core::cluster::ClusterErrorKind;

use crate::Bed;

fn dockerconfig(host: &str, user: &str, pass: &str) -> String {
    let b = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let cfg = format!(
        r#"{{"auths":{{"{host}":{{"auth":"{}"}}}}}}"#,
        b(&format!("{user}:{pass}"))
    );
    b(&cfg)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_from_the_pod_and_its_service_account() {
    let bed = Bed::new().await;
    let yaml = format!(
        r#"
apiVersion: v1
kind: Namespace
metadata: {{name: apps}}
---
apiVersion: v1
kind: Secret
metadata: {{name: sa-pull, namespace: apps}}
type: kubernetes.io/dockerconfigjson
data: {{.dockerconfigjson: {sa}}}
---
apiVersion: v1
kind: Secret
metadata: {{name: pod-pull, namespace: apps}}
type: kubernetes.io/dockercfg
data: {{.dockercfg: {legacy}}}
---
apiVersion: v1
kind: Secret
metadata: {{name: opaque, namespace: apps}}
stringData: {{x: y}}
---
apiVersion: v1
kind: ServiceAccount
metadata: {{name: builder, namespace: apps}}
imagePullSecrets: [{{name: sa-pull}}, {{name: missing}}]
---
apiVersion: batch/v1
kind: CronJob
metadata: {{name: job, namespace: apps}}
spec:
  schedule: '@daily'
  jobTemplate:
    spec:
      template:
        spec:
          serviceAccountName: builder
          imagePullSecrets: [{{name: pod-pull}}, {{name: opaque}}]
          restartPolicy: Never
          containers: [{{name: c, image: registry.example.com/job:1}}]
"#,
        sa = dockerconfig("registry.example.com", "alice", "s3cret"),
        legacy = base64::engine::general_purpose::STANDARD
            .encode(r#"{"old.example.com":{"auth":"Ym9iOnB3"}}"#),
    );
    bed.kubectl_run(&["apply", "--server-side", "-f", "-"], Some(&yaml))
        .await
        .expect_ok("apply");
    let creds = bed
        .cluster
        .image_pull_secrets(&"apps:cronjob/job".parse().unwrap())
        .await
        .unwrap();
    let keys: Vec<&String> = creds.entries.keys().collect();
    assert_eq!(keys, ["old.example.com", "registry.example.com"]);
    assert_eq!(creds.entries["registry.example.com"].username, "alice");
    assert_eq!(creds.entries["old.example.com"].password, "pw");
    let missing = bed
        .cluster
        .image_pull_secrets(&"apps:deployment/nope".parse().unwrap())
        .await
        .unwrap_err();
    assert_eq!(missing.kind, ClusterErrorKind::NotFound);
    assert!(
        missing.to_string().starts_with("apps:deployment/nope: "),
        "{missing}"
    );
}
