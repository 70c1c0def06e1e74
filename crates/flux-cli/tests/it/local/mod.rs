//! `--local` commands on the bundled example repository and copies of it.

mod edit;
mod generation;
mod list;
mod registry;
mod sync;

/// A checkout whose `linked` is a symbolic link to a copy of the examples
/// outside it; what fluxctl may neither read nor edit.
#[cfg(unix)]
fn checkout_linking_outside() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let top = tempfile::tempdir().expect("tempdir");
    let outside = top.path().join("outside");
    let checkout = top.path().join("checkout");
    crate::util::copy_dir(&crate::util::examples(), &outside);
    crate::util::copy_dir(&crate::util::examples(), &checkout);
    std::os::unix::fs::symlink(&outside, checkout.join("linked")).expect("symlink");
    (top, checkout, outside)
}

#[cfg(unix)]
#[test]
fn git_paths_through_a_linked_parent_never_read_or_edit_outside() {
    let (_top, checkout, outside) = checkout_linking_outside();
    let before = crate::util::snapshot(&outside);
    for git_path in ["linked/workloads", "linked/workloads/podinfo-dep.yaml"] {
        let list = crate::util::local(&checkout, &["list-workloads", "-a", "--git-path", git_path]);
        let err = list.fails(flux_cli::error::Exit::Failed);
        assert!(
            err.contains("linked: symbolic link leads outside the repository"),
            "--git-path {git_path}: {err}"
        );
        assert_eq!(list.out, "", "--git-path {git_path}");
        let release = crate::util::local(
            &checkout,
            &[
                "release",
                "--workload=demo:deployment/podinfo",
                "-i",
                "stefanprodan/podinfo:3.1.5",
                "--allow-dirty",
                "--git-path",
                git_path,
            ],
        );
        let err = release.fails(flux_cli::error::Exit::Failed);
        assert!(
            err.contains("linked: symbolic link leads outside the repository"),
            "--git-path {git_path}: {err}"
        );
    }
    assert_eq!(
        crate::util::snapshot(&outside),
        before,
        "nothing outside changed"
    );
}
