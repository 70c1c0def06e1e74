//! Shared pieces of the benchmarks: generators of synthetic config
//! repositories, used by the criterion benches and by the comparison scripts
//! that run outside tools (ruamel.yaml, kubectl, git, skopeo) on the same work;
//! and the soak of fluxd under faults ([`soak`], run by `benches/soak.sh`).
//!
//! Not a test fixture library: tests build their own small inputs.

pub mod fluxd;
pub mod kube;
pub mod registry;
pub mod soak;
pub mod sources;
pub mod sync;
pub mod watch;

use std::fmt::Write as _;
use std::io;
use std::path::Path;

/// How many namespaces (`team-0` …) the generated manifests spread over.
pub const NAMESPACES: usize = 20;

/// What a cluster needs before the generated manifests apply: the
/// [`NAMESPACES`] namespaces and the HelmRelease CRD, as one multi-document
/// YAML (applied with kubectl by the comparison scripts, through
/// `flux-bench setup-yaml`, and by `fluxd-bench`).
pub fn cluster_setup_yaml() -> String {
    let mut s = String::new();
    for i in 0..NAMESPACES {
        let _ = write!(
            s,
            "---\napiVersion: v1\nkind: Namespace\nmetadata: {{name: team-{i}}}\n"
        );
    }
    s.push_str(
        "---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: helmreleases.helm.fluxcd.io}
spec:
  group: helm.fluxcd.io
  names: {kind: HelmRelease, listKind: HelmReleaseList, plural: helmreleases}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
",
    );
    s
}

/// The text of one generated manifest file (one of a few shapes, chosen by `i`).
pub fn manifest(i: usize) -> String {
    let mut s = String::new();
    let ns = format!("team-{}", i % NAMESPACES);
    match i % 4 {
        0 => {
            let _ = write!(
                s,
                "# Deployment {i}\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app-{i}\n  namespace: {ns}\n  annotations:\n    fluxcd.io/automated: \"true\"\n    fluxcd.io/tag.app: semver:~1.{m}\n  labels:\n    app: app-{i}\nspec:\n  replicas: 2\n  selector:\n    matchLabels:\n      app: app-{i}\n  template:\n    metadata:\n      labels:\n        app: app-{i}\n    spec:\n      initContainers:\n      - name: init\n        image: busybox:1.36\n      containers:\n      - name: app\n        image: registry.example.com/team/app-{i}:1.{m}.3 # {{\"$imagepolicy\": \"x\"}}\n        ports:\n        - containerPort: 8080\n          name: http\n        resources:\n          requests: {{cpu: 100m, memory: 64Mi}}\n        env:\n        - name: MODE\n          value: \"production\"\n",
                m = i % 7
            );
        }
        1 => {
            let _ = write!(
                s,
                "apiVersion: v1\nkind: Service\nmetadata:\n  name: svc-{i}\n  namespace: {ns}\nspec:\n  type: ClusterIP\n  ports:\n  - port: 80\n    targetPort: http\n    protocol: TCP\n  selector:\n    app: app-{i}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg-{i}\n  namespace: {ns}\ndata:\n  key: 'value {i}'\n  other: |\n    multi\n    line\n"
            );
        }
        2 => {
            let _ = write!(
                s,
                "apiVersion: helm.fluxcd.io/v1\nkind: HelmRelease\nmetadata:\n  name: rel-{i}\n  namespace: {ns}\n  annotations:\n    fluxcd.io/automated: \"false\"\nspec:\n  releaseName: rel-{i}\n  chart:\n    repository: https://charts.example.com/\n    name: podinfo\n    version: 3.2.0\n  values:\n    image:\n      repository: stefanprodan/podinfo\n      tag: 3.2.{i}\n    replicaCount: 1\n"
            );
        }
        _ => {
            let _ = write!(
                s,
                "apiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: job-{i}\nspec:\n  schedule: \"*/5 * * * *\"\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          restartPolicy: OnFailure\n          containers:\n          - name: job\n            image: \"alpine:3.{m}\"\n            args: [\"sh\", \"-c\", \"date; echo {i}\"]\n",
                m = i % 20
            );
        }
    }
    s
}

/// Writes `n` manifest files under `dir`, 100 to a sub-directory.
pub fn generate_repo(dir: &Path, n: usize) -> io::Result<()> {
    for i in 0..n {
        let sub = dir.join(format!("apps-{:03}", i / 100));
        if i % 100 == 0 {
            std::fs::create_dir_all(&sub)?;
        }
        std::fs::write(sub.join(format!("m-{i:05}.yaml")), manifest(i))?;
    }
    Ok(())
}

/// One file holding `n` documents (for edit benchmarks).
pub fn multi_document_file(n: usize) -> String {
    (0..n)
        .map(|i| format!("---\n{}", manifest(i * 4)))
        .collect()
}
