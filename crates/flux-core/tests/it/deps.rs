//! `scripts/check-core-deps`, the purity check CI runs: flux-core's whole
//! dependency closure must be in the allow-list kept in the repository.

use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs the check against `allow` (the allow-list's text); its exit
/// status and everything it printed.
fn check(allow: &str) -> (bool, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("core-deps.allow");
    std::fs::write(&file, allow).expect("write");
    let out = Command::new(workspace().join("scripts/check-core-deps"))
        .env("CORE_DEPS_ALLOW", &file)
        .output()
        .expect("runs");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), said)
}

fn kept() -> String {
    std::fs::read_to_string(workspace().join("scripts/core-deps.allow")).expect("read")
}

/// The kept list without the line allowing `name`.
fn without(name: &str) -> String {
    let list = kept();
    let lines: Vec<&str> = list
        .lines()
        .filter(|l| l.split_whitespace().next() != Some(name))
        .collect();
    assert_ne!(lines.len(), list.lines().count(), "{name} is in the list");
    lines.join("\n")
}

#[test]
fn the_kept_allow_list_passes() {
    let (ok, said) = check(&kept());
    assert!(ok, "{said}");
}

#[test]
fn a_crate_missing_from_the_allow_list_is_named_with_how_to_allow_it() {
    // `regex` stands for any crate the deny-list does not know by name.
    for name in ["regex", "regex-syntax", "proptest", "rusty-fork"] {
        let (ok, said) = check(&without(name));
        assert!(!ok, "{name}: {said}");
        assert!(
            said.contains(&format!("not allowed: {name} ")),
            "{name}: {said}"
        );
        assert!(said.contains("scripts/core-deps.allow"), "{name}: {said}");
    }
}

#[test]
fn a_testing_only_crate_in_the_normal_closure_is_refused() {
    let list = without("regex") + "\nregex testing\n";
    let (ok, said) = check(&list);
    assert!(!ok, "{said}");
    assert!(
        said.contains("regex") && said.contains("only with the testing feature"),
        "{said}"
    );
}
