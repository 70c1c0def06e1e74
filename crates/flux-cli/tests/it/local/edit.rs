//! Write commands with `--local` on copies of the examples, with the exact
//! resulting files asserted.

use std::path::Path;

use flux_cli::error::Exit;

use crate::util::{example, examples, examples_copy, local, snapshot};

/// Asserts that `dir` holds the examples with exactly `changed` files
/// replaced by the given texts.
#[track_caller]
fn assert_files(dir: &Path, changed: &[(&str, String)]) {
    let mut want = snapshot(&examples());
    for (file, text) in changed {
        let entry = want
            .iter_mut()
            .find(|(f, _)| f == file)
            .unwrap_or_else(|| panic!("{file} is not in the examples"));
        entry.1 = text.clone().into_bytes();
    }
    let got = snapshot(dir);
    for ((wf, wt), (gf, gt)) in want.iter().zip(&got) {
        assert_eq!(wf, gf, "file lists differ");
        assert_eq!(
            String::from_utf8_lossy(gt),
            String::from_utf8_lossy(wt),
            "content of {gf}"
        );
    }
    assert_eq!(want.len(), got.len(), "file count");
}

fn replaced(file: &str, from: &str, to: &str) -> (&'static str, String) {
    let text = example(file);
    assert!(text.contains(from), "{file} lacks {from:?}");
    (
        Box::leak(file.to_owned().into_boxed_str()),
        text.replacen(from, to, 1),
    )
}

#[test]
fn release_an_image_edits_only_the_tag() {
    let dir = examples_copy();
    let run = local(
        dir.path(),
        &[
            "release",
            "--workload=demo:deployment/podinfo",
            "-i",
            "stefanprodan/podinfo:3.1.5",
        ],
    );
    assert_eq!(
        run.ok(),
        "WORKLOAD                 STATUS   UPDATES\ndemo:deployment/podinfo  success  podinfod: stefanprodan/podinfo:3.1.0 -> 3.1.5\n"
    );
    assert_eq!(run.err, "Changed workloads/podinfo-dep.yaml\n");
    assert_files(
        dir.path(),
        &[replaced(
            "workloads/podinfo-dep.yaml",
            "image: \"stefanprodan/podinfo:3.1.0\"",
            "image: \"stefanprodan/podinfo:3.1.5\"",
        )],
    );
}

#[test]
fn release_to_a_helm_release_and_all_workloads_using_an_image() {
    let dir = examples_copy();
    let image = "docker.io/bitnami/mariadb:10.6.1";
    let quiet = local(
        dir.path(),
        &["release", "--all", "-i", image, "--dry-run", "-v"],
    );
    assert!(
        !quiet.ok().contains("ignored"),
        "ignored ones need -vv: {}",
        quiet.out
    );
    let run = local(dir.path(), &["release", "--all", "-i", image, "-vv"]);
    let out: String = run
        .ok()
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ") + "\n")
        .collect();
    assert!(
        out.contains(
            "demo:helmrelease/ghost success mariadb: docker.io/bitnami/mariadb:10.5.9 -> 10.6.1"
        ),
        "{out}"
    );
    assert!(
        out.contains("demo:deployment/podinfo ignored a different image"),
        "-vv shows ignored ones: {out}"
    );
    assert_files(
        dir.path(),
        &[replaced(
            "releases/ghost.yaml",
            "tag: 10.5.9",
            "tag: 10.6.1",
        )],
    );
}

#[test]
fn release_dry_run_prints_the_diff_and_writes_nothing() {
    let dir = examples_copy();
    let run = local(
        dir.path(),
        &[
            "release",
            "--workload",
            "demo:statefulset/memcached",
            "-i",
            "memcached:1.6.21-alpine",
            "--dry-run",
        ],
    );
    let want = [
        "WORKLOAD                    STATUS   UPDATES",
        "demo:statefulset/memcached  success  memcached: memcached:1.6.12-alpine -> 1.6.21-alpine",
        "",
        "--- a/workloads/memcached-sts.yaml",
        "+++ b/workloads/memcached-sts.yaml",
        "@@ -16,7 +16,7 @@",
        "     spec:",
        "       containers:",
        "       - name: memcached",
        "-        image: memcached:1.6.12-alpine",
        "+        image: memcached:1.6.21-alpine",
        "         args: [\"-m\", \"64\", \"-p\", \"11211\"]",
        "         ports:",
        "         - name: clients",
        "",
    ];
    assert_eq!(run.ok(), want.join("\n"));
    assert_eq!(run.err, "Dry run: nothing was written\n");
    assert_files(dir.path(), &[]);
}

#[test]
fn locked_workloads_need_force() {
    let dir = examples_copy();
    let run = local(
        dir.path(),
        &[
            "release",
            "--workload",
            "demo:deployment/redis",
            "-i",
            "redis:7.2-alpine",
            "-v",
        ],
    );
    assert_eq!(
        run.ok(),
        "WORKLOAD               STATUS   UPDATES\ndemo:deployment/redis  skipped  locked\n"
    );
    assert_eq!(run.err, "Nothing to do\n");
    assert_files(dir.path(), &[]);
    let forced = local(
        dir.path(),
        &[
            "release",
            "--workload",
            "demo:deployment/redis",
            "-i",
            "redis:7.2-alpine",
            "--force",
        ],
    );
    assert!(forced.ok().contains("success"));
    assert_files(
        dir.path(),
        &[replaced(
            "workloads/redis.yaml",
            "image: redis:6.2.6-alpine",
            "image: redis:7.2-alpine",
        )],
    );
}

#[test]
fn a_tag_filter_refuses_an_image_unless_forced() {
    let dir = examples_copy();
    // podinfod follows semver:~3.1; 4.0.0 is outside it.
    let run = local(
        dir.path(),
        &[
            "release",
            "--workload",
            "demo:deployment/podinfo",
            "-i",
            "stefanprodan/podinfo:4.0.0",
            "-v",
        ],
    );
    assert!(run.ok().contains("skipped"), "{}", run.out);
    assert_files(dir.path(), &[]);
    local(
        dir.path(),
        &[
            "release",
            "--workload",
            "demo:deployment/podinfo",
            "-i",
            "stefanprodan/podinfo:4.0.0",
            "-f",
        ],
    )
    .ok();
    assert_files(
        dir.path(),
        &[replaced(
            "workloads/podinfo-dep.yaml",
            "podinfo:3.1.0\"",
            "podinfo:4.0.0\"",
        )],
    );
}

#[test]
fn unknown_workloads_are_named_and_nothing_is_written() {
    let dir = examples_copy();
    let run = local(
        dir.path(),
        &[
            "release",
            "--workload",
            "demo:deployment/podinfo,demo:deployment/nope",
            "-i",
            "alpine:3.19",
        ],
    );
    let err = run.fails(Exit::Failed);
    assert!(
        err.contains("workload demo:deployment/nope is not defined in"),
        "{err}"
    );
    let run = local(
        dir.path(),
        &["automate", "-w", "deployment/nope", "-n", "demo"],
    );
    assert!(
        run.fails(Exit::Failed).contains("demo:deployment/nope"),
        "{}",
        run.err
    );
    assert_files(dir.path(), &[]);
}

#[test]
fn a_failing_workload_stops_the_whole_release() {
    let dir = examples_copy();
    // A second workload using alpine whose image field cannot take it.
    std::fs::write(
        dir.path().join("workloads/broken.yaml"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: broken, namespace: demo}\nspec:\n  template:\n    spec:\n      containers:\n      - name: a\n        image: !!str alpine:3.10\n",
    )
    .expect("write");
    let before = snapshot(dir.path());
    let run = local(dir.path(), &["release", "--all", "-i", "alpine:3.19"]);
    let err = run.fails(Exit::Failed);
    assert!(err.contains("demo:deployment/broken failed"), "{err}");
    assert!(err.contains("nothing was written"), "{err}");
    assert!(
        run.out.contains("demo:deployment/podinfo  success"),
        "results still shown: {}",
        run.out
    );
    assert_eq!(snapshot(dir.path()), before, "no file changed");
}

#[test]
fn automate_adds_an_annotations_block_and_is_idempotent() {
    let dir = examples_copy();
    local(
        dir.path(),
        &["automate", "-w", "demo:statefulset/memcached"],
    )
    .ok();
    let automated = replaced(
        "workloads/memcached-sts.yaml",
        "  namespace: demo\n",
        "  namespace: demo\n  annotations:\n    fluxcd.io/automated: \"true\"\n",
    );
    assert_files(dir.path(), std::slice::from_ref(&automated));
    let again = local(
        dir.path(),
        &["automate", "-w", "demo:statefulset/memcached"],
    );
    again.ok();
    assert_eq!(again.err, "Nothing to do\n");
    assert_files(dir.path(), &[automated]);
    local(
        dir.path(),
        &["deautomate", "-w", "demo:statefulset/memcached"],
    )
    .ok();
    assert_files(dir.path(), &[]);
}

#[test]
fn deautomate_removes_the_line_and_its_comment() {
    let dir = examples_copy();
    local(dir.path(), &["deautomate", "-w", "demo:deployment/podinfo"]).ok();
    assert_files(
        dir.path(),
        &[replaced(
            "workloads/podinfo-dep.yaml",
            "    fluxcd.io/automated: \"true\"      # follow new images automatically\n",
            "",
        )],
    );
}

#[test]
fn lock_records_user_and_message_and_unlock_removes_all_three() {
    let dir = examples_copy();
    local(
        dir.path(),
        &[
            "lock",
            "-w",
            "demo:statefulset/memcached",
            "--user",
            "Jane <jane@example.com>",
            "-m",
            "hold: upgrade",
        ],
    )
    .ok();
    assert_files(
        dir.path(),
        &[replaced(
            "workloads/memcached-sts.yaml",
            "  namespace: demo\n",
            "  namespace: demo\n  annotations:\n    fluxcd.io/locked: \"true\"\n    fluxcd.io/locked_msg: \"hold: upgrade\"\n    fluxcd.io/locked_user: Jane <jane@example.com>\n",
        )],
    );
    local(dir.path(), &["unlock", "-w", "demo:statefulset/memcached"]).ok();
    local(dir.path(), &["unlock", "-w", "demo:deployment/redis"]).ok();
    assert_files(
        dir.path(),
        &[replaced(
            "workloads/redis.yaml",
            "  annotations:\n    fluxcd.io/locked: 'true'\n    fluxcd.io/locked_msg: \"pinned until the 7.x upgrade is tested\"\n    fluxcd.io/locked_user: \"Ops <ops@example.com>\"\n",
            "",
        )],
    );
}

#[test]
fn policy_removal_wins_over_tag_all() {
    let dir = examples_copy();
    local(
        dir.path(),
        &[
            "policy",
            "-w",
            "demo:deployment/podinfo",
            "--tag-all",
            "3.*",
            "--tag",
            "init=*",
        ],
    )
    .ok();
    assert_files(
        dir.path(),
        &[replaced(
            "workloads/podinfo-dep.yaml",
            "    fluxcd.io/tag.init: regexp:^3.*\n    fluxcd.io/tag.podinfod: semver:~3.1\n",
            "    fluxcd.io/tag.podinfod: glob:3.*\n",
        )],
    );
}

#[test]
fn legacy_keys_keep_their_prefix_and_set_values_change_nothing() {
    let dir = examples_copy();
    // automated is already "true" under flux.weave.works/: nothing to do.
    let run = local(
        dir.path(),
        &["automate", "-w", "monitoring:daemonset/node-exporter"],
    );
    run.ok();
    assert_eq!(run.err, "Nothing to do\n");
    assert_files(dir.path(), &[]);
    // The filter.fluxcd.io/ key keeps its prefix; only the value changes.
    local(
        dir.path(),
        &[
            "policy",
            "-w",
            "monitoring:daemonset/node-exporter",
            "--tag",
            "node-exporter=v2.*",
        ],
    )
    .ok();
    let retagged = replaced(
        "workloads/node-exporter-ds.yaml",
        "filter.fluxcd.io/node-exporter: glob:v1.*",
        "filter.fluxcd.io/node-exporter: glob:v2.*",
    );
    assert_files(dir.path(), std::slice::from_ref(&retagged));
    // Removing a legacy key removes its line.
    local(
        dir.path(),
        &["deautomate", "-w", "monitoring:daemonset/node-exporter"],
    )
    .ok();
    let text = retagged.1.replace(
        "    flux.weave.works/automated: \"true\"   # the legacy prefix is still read\n",
        "",
    );
    assert_files(dir.path(), &[("workloads/node-exporter-ds.yaml", text)]);
}

#[test]
fn a_read_only_file_is_refused_and_nothing_is_written() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = examples_copy();
    let file = dir.path().join("workloads/podinfo-dep.yaml");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o444)).expect("chmod");
    let run = local(dir.path(), &["release", "--all", "-i", "alpine:3.19"]);
    let err = run.fails(Exit::Failed);
    assert_eq!(
        err,
        "Error: workloads/podinfo-dep.yaml is read-only; nothing was written (make the checkout writable first)\n"
    );
    assert_files(dir.path(), &[]);
}

fn git(dir: &Path, args: &[&str]) {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(args)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn uncommitted_changes_to_a_file_to_edit_are_refused_unless_allowed() {
    let dir = examples_copy();
    git(dir.path(), &["init", "-q"]);
    git(dir.path(), &["add", "-A"]);
    git(dir.path(), &["commit", "-qm", "examples"]);
    // Dirt elsewhere does not matter.
    std::fs::write(dir.path().join("notes.txt"), "scratch\n").expect("write");
    local(
        dir.path(),
        &["automate", "-w", "demo:statefulset/memcached"],
    )
    .ok();
    // Dirt in the file to edit does.
    let redis = dir.path().join("workloads/redis.yaml");
    let edited = example("workloads/redis.yaml").replace("replicas: 1", "replicas: 2");
    std::fs::write(&redis, &edited).expect("write");
    let run = local(dir.path(), &["unlock", "-w", "demo:deployment/redis"]);
    assert_eq!(
        run.fails(Exit::Failed),
        "Error: workloads/redis.yaml has uncommitted changes in git: commit or stash them first so this edit stands alone, or pass --allow-dirty; nothing was written\n"
    );
    assert_eq!(std::fs::read_to_string(&redis).expect("read"), edited);
    local(
        dir.path(),
        &["--allow-dirty", "unlock", "-w", "demo:deployment/redis"],
    )
    .ok();
    assert!(
        !std::fs::read_to_string(&redis)
            .expect("read")
            .contains("locked")
    );
    assert!(
        std::fs::read_to_string(&redis)
            .expect("read")
            .contains("replicas: 2"),
        "the user's change stays"
    );
}

#[test]
fn results_as_json() {
    let dir = examples_copy();
    let run = local(
        dir.path(),
        &[
            "release",
            "--all",
            "-i",
            "alpine:3.19",
            "--dry-run",
            "-o",
            "json",
        ],
    );
    let v: serde_json::Value = serde_json::from_str(run.ok()).expect("json, and no diff mixed in");
    assert_eq!(
        v,
        serde_json::json!([{
            "ID": "demo:deployment/podinfo",
            "Status": "success",
            "Error": "",
            "PerContainer": [{"Container": "init", "Current": "alpine:3.10", "Target": "alpine:3.19"}]
        }])
    );
}
