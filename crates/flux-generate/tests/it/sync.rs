//! What fluxd will do with generation, wired by hand (fluxd's loops are
//! not built yet): two daemons with different `--git-path`s syncing the
//! example's overlays into two emulated clusters, automation committing
//! only the overlay's patch file, and broken generation failing the sync
//! with nothing deleted. kubectl is the referee of what each cluster holds.

use std::time::Duration;

use flux_core::ScopeTable;
use flux_core::manifest::LoadOptions;
use flux_core::sync::{GcMode, SyncOptions, SyncSetName, run};
use flux_generate::{GenerateError, Generator, Options, Source};
use flux_git::{CommitOutcome, CommitRequest, GitConfig, GitFlags, Repo, SshOptions};
use flux_kube::KubeCluster;
use flux_testbed::git::BareRepo;
use flux_testbed::kustomize::Kustomize;
use kube_emulator::kubectl::Kubectl;

use crate::edit::automation;
use crate::example;

/// One fluxd: its own mirror, generator and cluster, one git path.
struct Daemon {
    _state: tempfile::TempDir,
    repo: Repo,
    generator: Generator,
    paths: Vec<String>,
    cluster: KubeCluster,
    kubectl: Kubectl,
    emulator: kube_emulator::Server,
    options: SyncOptions,
}

impl Daemon {
    async fn start(url: &str, path: &str, kustomize: &Kustomize) -> Daemon {
        let state = tempfile::tempdir().unwrap();
        let config = GitConfig::from_flags(&GitFlags {
            url: url.to_owned(),
            paths: vec![path.to_owned()],
            timeout: Duration::from_secs(20),
            ..GitFlags::default()
        })
        .unwrap();
        let repo = Repo::new(config, &SshOptions::default(), &state.path().join("git")).unwrap();
        let mut options = Options::new(state.path().join("generate"));
        options.path = Some(kustomize.path_var());
        options.default_timeout = Duration::from_secs(30);
        let generator = Generator::new(options).unwrap();
        let emulator = kube_emulator::Emulator::new().start().await.unwrap();
        let kubeconfig = state.path().join("kubeconfig");
        emulator.write_kubeconfig(&kubeconfig, None).unwrap();
        let cluster = KubeCluster::from_kubeconfig(&kubeconfig, flux_kube::Options::default())
            .await
            .unwrap();
        let kubectl = Kubectl::new(&emulator.url(), None).unwrap();
        let mut sync = SyncOptions::new(SyncSetName::from_git(url, "master", &[path]));
        sync.gc = GcMode::On;
        Daemon {
            _state: state,
            repo,
            generator,
            paths: vec![path.to_owned()],
            cluster,
            kubectl,
            emulator,
            options: sync,
        }
    }

    /// A sync as fluxd runs it with `--manifest-generation`: fetch,
    /// generate, and only if that worked, apply and collect garbage.
    async fn sync(&self) -> Result<flux_core::sync::SyncReport, GenerateError> {
        let head = self.repo.refresh().await.unwrap().head;
        let generated = self
            .generator
            .view(
                Source::Git {
                    repo: &self.repo,
                    revision: &head,
                },
                &self.paths,
                &ScopeTable::builtin(),
                &LoadOptions::default(),
            )
            .await?;
        let report = run(&self.cluster, &generated.view.manifests, &self.options)
            .await
            .unwrap();
        assert!(report.is_clean(), "{:?}", report.gc.blocked);
        Ok(report)
    }

    fn get(&self, args: &[&str]) -> String {
        let out = self.kubectl.run(args);
        assert!(out.ok, "kubectl {args:?}: {}", out.stderr);
        out.stdout.trim().to_owned()
    }

    fn image(&self, ns: &str) -> String {
        self.get(&[
            "get",
            "deployment",
            "podinfo",
            "-n",
            ns,
            "-o",
            "jsonpath={.spec.template.spec.containers[0].image}",
        ])
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_daemons_sync_their_overlays_and_automation_writes_only_the_patch() {
    let root = tempfile::tempdir().unwrap();
    let remote = BareRepo::create(root.path(), "config.git").unwrap();
    let files = example();
    let borrowed: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(p, b)| (p.as_str(), b.as_slice()))
        .collect();
    remote.commit_files(&borrowed, "overlays").unwrap();
    let url = remote.file_url();
    let kustomize = Kustomize::install().unwrap();
    let staging = Daemon::start(&url, "staging", &kustomize).await;
    let production = Daemon::start(&url, "production", &kustomize).await;

    staging.sync().await.unwrap();
    production.sync().await.unwrap();
    assert_eq!(
        staging
            .get(&["get", "namespaces", "-o", "name"])
            .lines()
            .filter(|l| l.contains("staging") || l.contains("production"))
            .collect::<Vec<_>>(),
        ["namespace/staging"]
    );
    assert_eq!(
        production.get(&[
            "get",
            "deployment",
            "podinfo",
            "-n",
            "production",
            "-o",
            "jsonpath={.spec.replicas}"
        ]),
        "3"
    );
    assert_eq!(
        production.get(&[
            "get",
            "deployment",
            "podinfo",
            "-n",
            "production",
            "-o",
            "jsonpath={.metadata.annotations.fluxcd\\.io/locked}"
        ]),
        "true"
    );
    assert!(
        !production
            .kubectl
            .run(&["get", "deployment", "podinfo", "-n", "staging"])
            .ok
    );
    assert_eq!(staging.image("staging"), "stefanprodan/podinfo:3.1.0");

    // Automation in the staging daemon: only staging/flux-patch.yaml.
    let (edit, _) = staging.generator.commit_edit(
        staging.repo.clone(),
        staging.paths.clone(),
        ScopeTable::builtin(),
        LoadOptions::default(),
        automation,
    );
    let outcome = staging
        .repo
        .commit_and_push(
            edit,
            CommitRequest::new("Auto-release stefanprodan/podinfo:3.1.5"),
        )
        .await
        .unwrap();
    let CommitOutcome::Pushed(pushed) = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(pushed.files, ["staging/flux-patch.yaml"]);
    let changed = remote
        .git(&["diff", "--name-only", "HEAD~1", "HEAD"])
        .unwrap();
    assert_eq!(changed, "staging/flux-patch.yaml");

    staging.sync().await.unwrap();
    production.sync().await.unwrap();
    assert_eq!(staging.image("staging"), "stefanprodan/podinfo:3.1.5");
    assert_eq!(
        production.image("production"),
        "stefanprodan/podinfo:3.1.0",
        "production is locked"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_generation_fails_the_sync_and_deletes_nothing() {
    let root = tempfile::tempdir().unwrap();
    let remote = BareRepo::create(root.path(), "config.git").unwrap();
    let files = example();
    let borrowed: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(p, b)| (p.as_str(), b.as_slice()))
        .collect();
    remote.commit_files(&borrowed, "overlays").unwrap();
    let kustomize = Kustomize::install().unwrap();
    let daemon = Daemon::start(&remote.file_url(), "staging", &kustomize).await;
    daemon.sync().await.unwrap();
    let listed = || daemon.get(&["get", "deployments,services", "-n", "staging", "-o", "name"]);
    let before = listed();
    assert_eq!(before, "deployment.apps/podinfo\nservice/podinfo");

    // Only the hanging generator gets a short timeout: kustomize itself can
    // take seconds on a loaded machine.
    let with_timeout = |command: &str, timeout: &str| {
        format!(
            "version: 1\npatchUpdated:\n  generators:\n  - command: {command:?}\n    timeout: {timeout}\n  patchFile: flux-patch.yaml\n"
        )
    };
    let generator = |command: &str| with_timeout(command, "120s");
    let cases = [
        (
            with_timeout("sleep 600", "1s"),
            "did not finish within 1s and was killed",
        ),
        (
            generator("echo 'kind: [oops'"),
            "staging/../.flux.yaml:2:1: while parsing a flow sequence",
        ),
        (
            generator("kustomize build . && exit 1"),
            "failed (exit status: 1)",
        ),
        (
            "version: 1
patchUpdated:
  generators:
  - command: kustomize build .
  - command: kustomize build .
  patchFile: flux-patch.yaml
"
            .to_owned(),
            "duplicate definition of <cluster>:namespace/staging (in staging/../.flux.yaml#1:1 and staging/../.flux.yaml#2:1)",
        ),
        (
            generator("kustomize build ./nowhere"),
            "failed (exit status: 1)",
        ),
    ];
    for (config, want) in cases {
        remote
            .commit_files(&[(".flux.yaml", config.as_bytes())], "break generation")
            .unwrap();
        let writes = daemon.emulator.stats();
        let e = daemon.sync().await.unwrap_err().to_string();
        assert!(e.contains(want), "{config}: {e}");
        assert_eq!(listed(), before, "{config}: nothing deleted");
        let after = daemon.emulator.stats();
        assert_eq!(
            (after.creates, after.patches, after.deletes),
            (writes.creates, writes.patches, writes.deletes),
            "{config}: nothing written"
        );
    }
    // Fixed again: the sync goes through.
    let fixed = files.iter().find(|(p, _)| p == ".flux.yaml").unwrap();
    remote
        .commit_files(&[(".flux.yaml", fixed.1.as_slice())], "fix")
        .unwrap();
    daemon.sync().await.unwrap();
    assert_eq!(listed(), before);
}
