//! Writing a commit's tree out and reading exact paths, with `git clone`
//! as the referee of what a checkout holds.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use flux_git::EntryKind;
use flux_testbed::git::{WorkClone, git};

use crate::Bed;

/// Every file, link and directory under `root` (not `.git`), with what it
/// holds: contents, link target, or nothing; and whether it is executable.
fn listing(root: &Path) -> BTreeMap<String, (String, bool)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_str()
                .unwrap()
                .to_owned();
            if rel == ".git" {
                continue;
            }
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let what = if meta.file_type().is_symlink() {
                (
                    format!("-> {}", std::fs::read_link(&path).unwrap().display()),
                    false,
                )
            } else if meta.is_dir() {
                stack.push(path);
                ("dir".to_owned(), false)
            } else {
                (
                    String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned(),
                    meta.permissions().mode() & 0o111 != 0,
                )
            };
            out.insert(rel, what);
        }
    }
    out
}

/// A remote whose head has nested directories, an executable script, links
/// to a file and to a directory, and a hidden `.flux.yaml`.
fn bed() -> Bed {
    let bed = Bed::new(&[]);
    let work = WorkClone::new(&bed.remote.file_url(), "master", None).unwrap();
    work.write("base/deploy.yaml", b"kind: Deployment\n")
        .unwrap();
    work.write("envs/.flux.yaml", b"version: 1\nscanForFiles: {}\n")
        .unwrap();
    work.write(
        "envs/staging/kustomization.yaml",
        b"resources: [../../base]\n",
    )
    .unwrap();
    work.write("scripts/update.sh", b"#!/bin/sh\necho hi\n")
        .unwrap();
    let dir = work.path();
    std::fs::set_permissions(
        dir.join("scripts/update.sh"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    std::os::unix::fs::symlink("../base/deploy.yaml", dir.join("envs/linked.yaml")).unwrap();
    std::os::unix::fs::symlink("base", dir.join("base-link")).unwrap();
    git(dir, &["add", "-A"]).unwrap();
    work.commit("tree with modes and links").unwrap();
    work.push().unwrap();
    bed
}

#[tokio::test]
async fn a_written_tree_is_what_git_checks_out() {
    let bed = bed();
    let repo = bed.repo();
    let head = repo.refresh().await.unwrap().head;
    let out = tempfile::tempdir().unwrap();
    let dest = out.path().join("tree");
    let written = repo.materialize(&head, &dest).await.unwrap();
    assert_eq!(written.id.commit, head);
    assert_eq!(
        written.id.tree,
        bed.remote.git(&["rev-parse", "master^{tree}"]).unwrap()
    );

    let checkout = tempfile::tempdir().unwrap();
    git(
        checkout.path(),
        &["clone", "--quiet", &bed.remote.file_url(), "c"],
    )
    .unwrap();
    let ours = listing(&dest);
    assert_eq!(ours, listing(&checkout.path().join("c")));
    assert_eq!(
        ours["scripts/update.sh"],
        ("#!/bin/sh\necho hi\n".to_owned(), true)
    );
    assert_eq!(ours["envs/linked.yaml"].0, "-> ../base/deploy.yaml");

    let kinds: Vec<(&str, EntryKind)> = written
        .entries
        .iter()
        .map(|e| (e.path.as_str(), e.kind))
        .collect();
    assert_eq!(
        kinds,
        [
            ("base-link", EntryKind::Link),
            ("base/deploy.yaml", EntryKind::File),
            ("envs/.flux.yaml", EntryKind::File),
            ("envs/linked.yaml", EntryKind::Link),
            ("envs/staging/kustomization.yaml", EntryKind::File),
            ("scripts/update.sh", EntryKind::Executable),
        ]
    );
    let blob = bed
        .remote
        .git(&["rev-parse", "master:base/deploy.yaml"])
        .unwrap();
    assert_eq!(written.entries[1].blob, blob);

    // The same files in a later commit: the same tree id.
    let again = bed
        .remote
        .commit_files(&[("base/deploy.yaml", b"kind: Deployment\n")], "no change")
        .unwrap();
    repo.refresh().await.unwrap();
    let id = repo.tree_of(&again).await.unwrap();
    assert_eq!(
        (id.commit.as_str(), id.tree.as_str()),
        (again.as_str(), written.id.tree.as_str())
    );
}

#[tokio::test]
async fn exact_paths_are_read_through_links_and_hidden_names() {
    let bed = bed();
    let repo = bed.repo();
    let head = repo.refresh().await.unwrap().head;
    let asked: Vec<String> = [
        "envs/staging/.flux.yaml",
        "envs/.flux.yaml",
        ".flux.yaml",
        "envs/linked.yaml",
        "base-link/deploy.yaml",
        "envs",
    ]
    .map(String::from)
    .to_vec();
    let read = repo.read_paths(&head, &asked).await.unwrap();
    let keys: Vec<&str> = read.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "base-link/deploy.yaml",
            "envs/.flux.yaml",
            "envs/linked.yaml"
        ]
    );
    assert_eq!(read["envs/linked.yaml"], b"kind: Deployment\n");

    let bad = bed.remote.clone();
    let work = WorkClone::new(&bad.file_url(), "master", None).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", work.path().join(".flux.yaml")).unwrap();
    git(work.path(), &["add", "-A"]).unwrap();
    work.commit("a link out").unwrap();
    work.push().unwrap();
    let head = repo.refresh().await.unwrap().head;
    let e = repo
        .read_paths(&head, &[".flux.yaml".to_owned()])
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains(".flux.yaml: symbolic link leads outside the repository"),
        "{e}"
    );
    let e = repo.tree_of("no-such-revision").await.unwrap_err();
    assert!(e.to_string().contains("not found"), "{e}");
}

#[tokio::test]
async fn a_tree_git_would_not_check_out_is_refused() {
    let bed = Bed::new(&[("ok.yaml", b"a: 1\n")]);
    // A tree with an entry named ".git", made with plumbing.
    let remote = &bed.remote;
    let blob = run_with_input(
        remote.path(),
        &["hash-object", "-w", "--stdin"],
        b"[core]\n",
    );
    let inner = run_with_input(
        remote.path(),
        &["mktree"],
        format!("100644 blob {blob}\tconfig\n").as_bytes(),
    );
    let root = run_with_input(
        remote.path(),
        &["mktree"],
        format!("040000 tree {inner}\t.git\n").as_bytes(),
    );
    let parent = remote.head("master").unwrap().unwrap();
    let commit = remote
        .git(&["commit-tree", &root, "-p", &parent, "-m", "evil"])
        .unwrap();
    remote
        .git(&["update-ref", "refs/heads/master", &commit])
        .unwrap();
    let repo = bed.repo();
    let head = repo.refresh().await.unwrap().head;
    let dest = tempfile::tempdir().unwrap();
    let e = repo
        .materialize(&head, &dest.path().join("t"))
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "the tree of {head} has an entry \".git\" that is a .git directory; refusing to write it out"
        )
    );
    assert!(!dest.path().join("t/.git/config").exists());
}

fn run_with_input(dir: &Path, args: &[&str], input: &[u8]) -> String {
    use std::io::Write as _;
    let mut cmd = flux_testbed::git::git_command(Some(dir));
    cmd.args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "git {args:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}
