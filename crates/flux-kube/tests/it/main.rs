//! flux-kube against the in-process API emulator, with the real kubectl
//! as the referee where the two must agree.
#![allow(missing_docs)]

mod access;
mod apply;
mod delete;
mod differential;
mod export;
mod faults;
mod secrets;
mod watch;
mod watched;

use std::time::Duration;

use flux_core::ResourceId;
use flux_core::cluster::ApplyObject;
use flux_kube::{KubeCluster, Options, RetryPolicy};
use kube_emulator::kubectl::Kubectl;
use kube_emulator::{Access, Emulator, Server};
use serde_json::{Value, json};

/// The GC mark label, as the sync planner adds it.
pub const MARK: &str = "fluxcd.io/sync-gc-mark";

/// An emulator, the adapter and kubectl, all pointed at it.
pub struct Bed {
    pub server: Server,
    pub cluster: KubeCluster,
    pub kubectl: Kubectl,
    /// The kubeconfig `cluster` was made from.
    pub kubeconfig: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

pub fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 4,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(50),
    }
}

impl Bed {
    pub async fn new() -> Self {
        Self::with(
            Emulator::new(),
            None,
            Options {
                retry: fast_retry(),
                ..Options::default()
            },
        )
        .await
    }

    pub async fn with(emulator: Emulator, token: Option<&str>, options: Options) -> Self {
        let server = emulator.start().await.expect("start the emulator");
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("kubeconfig");
        server
            .write_kubeconfig(&path, token)
            .expect("write kubeconfig");
        let cluster = KubeCluster::from_kubeconfig(&path, options)
            .await
            .expect("adapter");
        let kubectl = server.kubectl(None).expect("kubectl");
        Bed {
            server,
            cluster,
            kubectl,
            kubeconfig: path,
            _dir: dir,
        }
    }

    /// kubectl, run off the async runtime, failing the test if it fails.
    pub async fn kubectl_ok(&self, args: &[&str]) -> String {
        let out = self.kubectl_run(args, None).await;
        out.expect_ok(&args.join(" ")).to_owned()
    }

    pub async fn kubectl_run(
        &self,
        args: &[&str],
        stdin: Option<&str>,
    ) -> kube_emulator::kubectl::Output {
        let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
        let stdin = stdin.map(str::to_owned);
        let k = self.server.kubectl(None).expect("kubectl");
        tokio::task::spawn_blocking(move || {
            let a: Vec<&str> = args.iter().map(String::as_str).collect();
            match stdin {
                Some(s) => k.run_stdin(&a, &s),
                None => k.run(&a),
            }
        })
        .await
        .expect("kubectl task")
    }

    /// Another adapter on the same kubeconfig.
    pub async fn adapter(&self, options: Options) -> KubeCluster {
        KubeCluster::from_kubeconfig(&self.kubeconfig, options)
            .await
            .expect("adapter")
    }

    pub fn object(&self, group: &str, plural: &str, ns: &str, name: &str) -> Option<Value> {
        self.server.object(group, plural, ns, name)
    }
}

pub fn limited(token: &str, namespaces: &[&str]) -> Access {
    Access {
        admin_tokens: vec!["root".into()],
        rules: vec![kube_emulator::AccessRule::namespaces(
            token,
            &format!("system:serviceaccount:flux:{token}"),
            namespaces,
        )],
        anonymous_admin: false,
    }
}

/// Apply objects as the sync planner makes them: namespace filled in, GC
/// mark and checksum added.
pub fn objects(yaml: &str) -> Vec<ApplyObject> {
    serde_saphyr::from_multiple::<Value>(yaml)
        .expect("test YAML parses")
        .into_iter()
        .filter(|v| !v.is_null())
        .map(|mut v| {
            let kind = v["kind"].as_str().expect("kind").to_owned();
            let name = v["metadata"]["name"].as_str().expect("name").to_owned();
            let id = match v["metadata"]["namespace"].as_str() {
                Some(ns) => ResourceId::new(ns, &kind, name),
                None => ResourceId::cluster(&kind, name),
            };
            let meta = v["metadata"].as_object_mut().expect("metadata");
            meta.entry("labels").or_insert_with(|| json!({}))[MARK] =
                json!(format!("sha256.{}", id.name()));
            meta.entry("annotations").or_insert_with(|| json!({}))["fluxcd.io/sync-checksum"] =
                json!("c0ffee");
            ApplyObject::new(id, &v).expect("small")
        })
        .collect()
}

/// Changes an object to apply with `change` (thawed, changed, frozen).
pub fn edit(o: &mut ApplyObject, change: impl FnOnce(&mut Value)) {
    let mut v = o.object.to_value();
    change(&mut v);
    *o = ApplyObject::new(o.id.clone(), &v).expect("small");
}

pub const APP: &str = r#"
apiVersion: v1
kind: Namespace
metadata:
  name: demo
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: demo
  labels: {app: web}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: app
        image: nginx:1.25
        ports:
        - containerPort: 80
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: cfg
  namespace: demo
data:
  a: "1"
---
apiVersion: v1
kind: Secret
metadata:
  name: creds
  namespace: demo
stringData:
  password: hunter2
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: demo
spec:
  selector: {app: web}
  ports:
  - port: 80
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: reader
rules:
- apiGroups: [""]
  resources: [configmaps]
  verbs: [get]
"#;

pub const CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: helmreleases.helm.fluxcd.io
spec:
  group: helm.fluxcd.io
  names: {kind: HelmRelease, listKind: HelmReleaseList, plural: helmreleases, shortNames: [hr]}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
---
apiVersion: helm.fluxcd.io/v1
kind: HelmRelease
metadata:
  name: podinfo
  namespace: demo
spec:
  releaseName: podinfo
  values:
    image: {repository: stefanprodan/podinfo, tag: 3.2.0}
"#;
