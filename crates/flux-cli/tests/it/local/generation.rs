//! `--local --manifest-generation` on copies of `examples/kustomize-repo`,
//! with the real kustomize (flux-testbed's shim over `kubectl kustomize`)
//! on the `PATH` of the real `fluxctl` binary.

use std::path::{Path, PathBuf};
use std::process::Command;

use flux_testbed::kustomize::Kustomize;

use crate::util::{copy_dir, read};

/// A copy of the kustomize example.
fn example_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let from = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/kustomize-repo");
    copy_dir(&from, dir.path());
    dir
}

struct Out {
    ok: bool,
    out: String,
    err: String,
}

/// Runs the fluxctl binary with the shim first on its `PATH`.
fn fluxctl(kustomize: &Kustomize, dir: &Path, args: &[&str]) -> Out {
    let out = Command::new(env!("CARGO_BIN_EXE_fluxctl"))
        .arg("--local")
        .arg(dir)
        .args(args)
        .env_clear()
        .env("PATH", kustomize.path_var())
        .output()
        .expect("fluxctl runs");
    Out {
        ok: out.status.success(),
        out: String::from_utf8_lossy(&out.stdout).into_owned(),
        err: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn lists_what_each_overlay_would_sync() {
    let k = Kustomize::install().expect("kubectl kustomize");
    let dir = example_copy();
    let run = fluxctl(
        &k,
        dir.path(),
        &[
            "--git-path",
            "staging,production",
            "--manifest-generation",
            "list-manifests",
            "-a",
        ],
    );
    assert!(run.ok, "{}", run.err);
    assert_eq!(
        run.out,
        "RESOURCE                        SOURCE\n<cluster>:namespace/production  production/../.flux.yaml:1\n<cluster>:namespace/staging     staging/../.flux.yaml:1\nproduction:deployment/podinfo   production/../.flux.yaml:24\nproduction:service/podinfo      production/../.flux.yaml:8\nstaging:deployment/podinfo      staging/../.flux.yaml:24\nstaging:service/podinfo         staging/../.flux.yaml:8\n"
    );
    let run = fluxctl(
        &k,
        dir.path(),
        &[
            "--git-path",
            "production",
            "--manifest-generation",
            "list-workloads",
            "-a",
        ],
    );
    assert!(run.ok, "{}", run.err);
    assert!(
        run.out.contains(
            "production:deployment/podinfo  podinfod   stefanprodan/podinfo:3.1.0  locked"
        ),
        "{}",
        run.out
    );
}

#[test]
fn without_the_flag_flux_yaml_is_ignored_and_no_command_runs() {
    let k = Kustomize::install().expect("kubectl kustomize");
    let dir = tempfile::tempdir().expect("tempdir");
    let marker = dir.path().join("ran");
    std::fs::write(
        dir.path().join(".flux.yaml"),
        format!(
            "version: 1\ncommandUpdated:\n  generators:\n  - command: touch {} && cat cm.yaml\n",
            marker.display()
        ),
    )
    .expect("write");
    std::fs::write(
        dir.path().join("cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: plain}\n",
    )
    .expect("write");
    let run = fluxctl(&k, dir.path(), &["list-manifests", "-a"]);
    assert!(run.ok, "{}", run.err);
    assert!(
        run.out.contains("default:configmap/plain  cm.yaml:1"),
        "{}",
        run.out
    );
    assert!(!marker.exists(), "no command ran");
    let run = fluxctl(
        &k,
        dir.path(),
        &["--manifest-generation", "list-manifests", "-a"],
    );
    assert!(run.ok, "{}", run.err);
    assert!(
        run.out.contains("default:configmap/plain  .flux.yaml:1"),
        "{}",
        run.out
    );
    assert!(marker.exists());
}

#[test]
fn release_writes_the_overlays_patch_file() {
    let k = Kustomize::install().expect("kubectl kustomize");
    let dir = example_copy();
    let before = crate::util::snapshot(dir.path());
    let args = [
        "--git-path",
        "staging",
        "--manifest-generation",
        "release",
        "--workload",
        "staging:deployment/podinfo",
        "--update-image",
        "stefanprodan/podinfo:3.1.5",
    ];
    let mut dry = args.to_vec();
    dry.push("--dry-run");
    let run = fluxctl(&k, dir.path(), &dry);
    assert!(run.ok, "{}", run.err);
    assert!(
        run.out
            .contains("+++ b/staging/flux-patch.yaml\n@@ -0,0 +1,14 @@\n+---\n"),
        "{}",
        run.out
    );
    assert_eq!(
        crate::util::snapshot(dir.path()),
        before,
        "a dry run writes nothing"
    );

    let run = fluxctl(&k, dir.path(), &args);
    assert!(run.ok, "{}", run.err);
    assert!(
        run.err.contains("Changed staging/flux-patch.yaml"),
        "{}",
        run.err
    );
    assert_eq!(
        read(dir.path(), "staging/flux-patch.yaml"),
        "---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: podinfo\n  namespace: staging\nspec:\n  template:\n    spec:\n      $setElementOrder/containers:\n      - name: podinfod\n      containers:\n      - image: stefanprodan/podinfo:3.1.5\n        name: podinfod\n"
    );
    let mut after = crate::util::snapshot(dir.path());
    after.retain(|(p, _)| p != "staging/flux-patch.yaml");
    assert_eq!(after, before, "only the patch file is new");

    let run = fluxctl(&k, dir.path(), &args);
    assert!(run.ok, "{}", run.err);
    assert!(run.err.contains("Nothing to do"), "{}", run.err);
}

#[test]
fn updaters_edit_a_command_updated_checkout() {
    let k = Kustomize::install().expect("kubectl kustomize");
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join(".flux.yaml"),
        "version: 1\ncommandUpdated:\n  generators:\n  - command: cat deploy.yaml\n  updaters:\n  - containerImage:\n      command: >-\n        sed -i \"s|image: $FLUX_IMG:.*|image: $FLUX_IMG:$FLUX_TAG|\" deploy.yaml\n",
    )
    .expect("write");
    let deploy = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  template:\n    spec:\n      containers:\n      - name: app\n        image: nginx:1.25\n";
    std::fs::write(dir.path().join("deploy.yaml"), deploy).expect("write");
    let run = fluxctl(
        &k,
        dir.path(),
        &[
            "--manifest-generation",
            "release",
            "--workload",
            "default:deployment/web",
            "--update-image",
            "nginx:1.26",
        ],
    );
    assert!(run.ok, "{}", run.err);
    assert_eq!(
        read(dir.path(), "deploy.yaml"),
        deploy.replace("nginx:1.25", "nginx:1.26")
    );
}
