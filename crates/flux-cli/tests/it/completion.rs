//! `fluxctl completion`: scripts generated for each shell.

use flux_cli::error::Exit;

use crate::util::fluxctl;

#[test]
fn completions_name_every_command_and_flag() {
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef fluxctl"),
        ("fish", "complete -c fluxctl"),
    ] {
        let run = fluxctl(&["completion", shell]);
        let script = run.ok();
        assert!(
            script.contains(marker),
            "{shell}: {}",
            &script[..script.len().min(300)]
        );
        for word in [
            "list-workloads",
            "list-images",
            "release",
            "automate",
            "deautomate",
            "lock",
            "unlock",
            "policy",
            "sync",
            "identity",
            "save",
            "install",
            "update-all-images",
            "k8s-fwd-ns",
        ] {
            assert!(script.contains(word), "{shell} completion lacks {word}");
        }
    }
}

#[test]
fn completion_needs_a_known_shell() {
    let err = fluxctl(&["completion", "tcsh"])
        .fails(Exit::Usage)
        .to_owned();
    assert!(err.contains("tcsh"), "{err}");
    assert!(err.contains("bash"), "lists the shells: {err}");
    assert!(
        fluxctl(&["completion"])
            .fails(Exit::Usage)
            .contains("<SHELL>")
    );
}

#[test]
fn bash_accepts_the_script() {
    let script = fluxctl(&["completion", "bash"]).ok().to_owned();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("fluxctl.bash");
    std::fs::write(&path, script).expect("write");
    let status = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!("source {} && complete -p fluxctl", path.display()))
        .output()
        .expect("bash runs");
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    assert!(String::from_utf8_lossy(&status.stdout).contains("fluxctl"));
}
