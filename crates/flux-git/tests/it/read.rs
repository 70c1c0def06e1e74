//! Reading manifests from a tree: the same files as reading the checked-out
//! directory with flux-core, symbolic links resolved inside the repository.

use std::os::unix::fs::symlink;

use flux_core::ManifestSource;
use flux_core::manifest::{LoadOptions, read_dir_files};
use flux_git::Error;
use flux_testbed::git::WorkClone;

use crate::{Bed, borrowed, deployment, sample_files};

/// A work clone of the bed's remote, written by `build` and pushed.
fn push_tree(bed: &Bed, build: impl FnOnce(&std::path::Path)) -> WorkClone {
    let work = WorkClone::new(&bed.remote.file_url(), "master", None).unwrap();
    build(work.path());
    work.commit("tree for reading").unwrap();
    work.push().unwrap();
    work
}

fn write(root: &std::path::Path, path: &str, bytes: &[u8]) {
    let full = root.join(path);
    std::fs::create_dir_all(full.parent().unwrap()).unwrap();
    std::fs::write(full, bytes).unwrap();
}

#[tokio::test]
async fn same_files_as_the_checked_out_directory() {
    let bed = Bed::new(&[]);
    let work = push_tree(&bed, |w| {
        write(w, "apps/web.yaml", &deployment("web", "nginx:1"));
        write(w, "apps/sub/deep.yml", &deployment("deep", "deep:1"));
        write(w, "apps/notes.txt", b"not yaml");
        write(w, "apps/.hidden/x.yaml", &deployment("hidden", "h:1"));
        write(w, "apps/.flux.yaml", b"version: 1\n");
        write(w, "charts/podinfo/Chart.yaml", b"name: podinfo\n");
        write(w, "charts/podinfo/templates/d.yaml", b"{{ .Values }}\n");
        write(w, "shared/base.yaml", &deployment("base", "base:1"));
        write(w, "infra/ns.yaml", b"kind: Namespace\n");
        symlink("../shared/base.yaml", w.join("apps/base-link.yaml")).unwrap();
        symlink("../shared", w.join("apps/shared-dir")).unwrap();
        symlink("missing.txt", w.join("apps/dangling-readme")).unwrap();
        symlink("apps", w.join("current")).unwrap();
    });
    let repo = bed.repo();
    let head = repo.refresh().await.unwrap().head;
    for paths in [
        vec![String::new()],
        vec!["apps".to_owned()],
        vec!["apps".to_owned(), "infra/ns.yaml".to_owned()],
        vec!["current".to_owned()],
        vec![".".to_owned()],
    ] {
        let from_git = repo.snapshot_at(&head, &paths).await.unwrap();
        let from_dir = read_dir_files(work.path(), &paths, &LoadOptions::default()).unwrap();
        assert_eq!(from_git.files, from_dir, "{paths:?}");
        assert_eq!(from_git.revision.as_deref(), Some(head.as_str()));
    }
    let all = repo.snapshot_at(&head, &["apps".into()]).await.unwrap();
    let names: Vec<&str> = all.files.iter().map(|(p, _)| p).collect();
    assert_eq!(
        names,
        [
            "apps/base-link.yaml",
            "apps/shared-dir/base.yaml",
            "apps/sub/deep.yml",
            "apps/web.yaml"
        ]
    );
    assert_eq!(
        all.files.get("apps/base-link.yaml"),
        Some(deployment("base", "base:1").as_slice())
    );
}

#[tokio::test]
async fn links_out_of_the_repository_are_refused_by_name() {
    let bed = Bed::new(&[]);
    push_tree(&bed, |w| {
        write(w, "apps/ok.yaml", &deployment("ok", "ok:1"));
        symlink("/etc/passwd", w.join("apps/passwd.yaml")).unwrap();
        symlink("../../outside", w.join("apps/up")).unwrap();
    });
    let repo = bed.repo();
    let head = repo.refresh().await.unwrap().head;
    let err = repo.snapshot_at(&head, &["apps".into()]).await.unwrap_err();
    let Error::Manifests { errors, .. } = &err else {
        panic!("{err}")
    };
    let text = errors.to_string();
    assert_eq!(errors.0.len(), 2, "{text}");
    assert!(
        text.contains(
            "apps/passwd.yaml: symbolic link leads outside the repository (to /etc/passwd)"
        ),
        "{text}"
    );
    assert!(
        text.contains("apps/up: symbolic link leads outside"),
        "{text}"
    );
}

#[tokio::test]
async fn git_paths_through_links_in_any_position_stay_inside() {
    // As reading the checked-out directory: a link anywhere in a git path
    // (not only its last component) must stay inside, and a path that
    // cannot be followed is an error, never an empty read.
    let bed = Bed::new(&[]);
    let work = push_tree(&bed, |w| {
        write(w, "apps/ok.yaml", &deployment("ok", "ok:1"));
        write(w, "real/deep/in.yaml", &deployment("in", "in:1"));
        symlink("../outside", w.join("out")).unwrap();
        symlink("/etc", w.join("abs")).unwrap();
        symlink("../../outside/x.yaml", w.join("apps/file.yaml")).unwrap();
        symlink("self", w.join("self")).unwrap();
        symlink("nowhere", w.join("gone")).unwrap();
        symlink("real", w.join("inside")).unwrap();
    });
    let repo = bed.repo();
    let head = repo.refresh().await.unwrap().head;
    for (git_path, says) in [
        ("out", "symbolic link leads outside"),
        ("out/apps", "symbolic link leads outside"),
        ("out/deep/apps", "symbolic link leads outside"),
        ("abs/ssl", "symbolic link leads outside"),
        ("apps/file.yaml", "symbolic link leads outside"),
        ("self/apps", "not found"),
        ("gone", "not found"),
    ] {
        let err = repo
            .snapshot_at(&head, &[git_path.into()])
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains(says), "--git-path {git_path}: {err}");
        let on_disk = read_dir_files(work.path(), &[git_path], &LoadOptions::default());
        assert!(
            on_disk.is_err(),
            "--git-path {git_path} on disk: {on_disk:?}"
        );
    }
    let from_git = repo
        .snapshot_at(&head, &["inside/deep".into()])
        .await
        .unwrap();
    let from_dir = read_dir_files(work.path(), &["inside/deep"], &LoadOptions::default()).unwrap();
    assert_eq!(from_git.files, from_dir);
    assert_eq!(from_git.files.len(), 1);
}

#[tokio::test]
async fn a_missing_git_path_is_an_error_naming_it() {
    let bed = Bed::new(&borrowed(&sample_files()));
    let repo = bed.repo();
    let head = repo.refresh().await.unwrap().head;
    let err = repo
        .snapshot_at(&head, &["apps".into(), "clusters/prod".into()])
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("\"clusters/prod\" not found"), "{err}");
    assert!(err.contains(&head), "{err}");
}

#[tokio::test]
async fn older_revisions_and_unknown_ones() {
    let bed = Bed::new(&borrowed(&sample_files()));
    let first = bed.head();
    bed.remote
        .commit_files(
            &[("apps/web.yaml", &deployment("web", "nginx:1.26"))],
            "bump",
        )
        .unwrap();
    let repo = bed.repo();
    repo.refresh().await.unwrap();
    let old = repo.snapshot_at(&first, &["apps".into()]).await.unwrap();
    assert_eq!(
        old.files.get("apps/web.yaml"),
        Some(deployment("web", "nginx:1.25").as_slice())
    );
    let err = repo
        .snapshot_at("0123456789abcdef0123456789abcdef01234567", &["apps".into()])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::RevisionNotFound { .. }), "{err}");
}

#[tokio::test]
async fn git_source_is_a_manifest_source() {
    let bed = Bed::new(&borrowed(&sample_files()));
    let repo = bed.repo();
    let source = repo.source(None);
    let err = source.snapshot(&["apps".into()]).await.unwrap_err();
    assert!(err.message.contains("not been fetched"), "{}", err.message);
    repo.refresh().await.unwrap();
    let snap = source.snapshot(&["apps".into()]).await.unwrap();
    assert_eq!(snap.revision, Some(bed.head()));
    assert_eq!(snap.files.len(), 2);
    let manifests = flux_core::manifest::parse_files(
        &snap.files,
        &["apps".into()],
        &flux_core::ScopeTable::builtin(),
        &flux_core::manifest::LoadOptions::default(),
    )
    .unwrap();
    assert_eq!(manifests.resources.len(), 2);
}

#[tokio::test]
async fn an_oversized_file_is_refused_by_name() {
    let bed = Bed::new(&[]);
    push_tree(&bed, |w| {
        write(w, "apps/ok.yaml", &deployment("ok", "ok:1"));
        let big = "k: v\n".repeat((flux_git::read::MAX_FILE_SIZE as usize / 5) + 1);
        write(w, "apps/huge.yaml", big.as_bytes());
    });
    let repo = bed.repo();
    let head = repo.refresh().await.unwrap().head;
    let err = repo
        .snapshot_at(&head, &["apps".into()])
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("apps/huge.yaml: 16777220 bytes is over the limit of 16777216 bytes"),
        "{err}"
    );
}
