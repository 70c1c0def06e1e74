//! Flux v1's validation cases (configfile_test.go), and the stricter ones.

use super::*;

fn err(text: &str) -> String {
    parse_config("envs/.flux.yaml", text.as_bytes())
        .expect_err("should be refused")
        .to_string()
}

fn ok(text: &str) -> ConfigFile {
    parse_config("envs/.flux.yaml", text.as_bytes()).expect("valid")
}

#[test]
fn flux_v1_refuses_these_and_so_do_we() {
    let cases: &[(&str, &str, &str)] = &[
        ("empty", "", "envs/.flux.yaml: the file is empty"),
        (
            "only a comment",
            "# nothing\n",
            "envs/.flux.yaml: the file is empty",
        ),
        (
            "wrong version",
            "version: 2",
            "envs/.flux.yaml:1: version: must be 1 (the only version of .flux.yaml), not 2",
        ),
        (
            "no command/patch/whatever",
            "version: 1",
            "envs/.flux.yaml: needs one of commandUpdated, patchUpdated or scanForFiles",
        ),
        (
            "no generators",
            "version: 1\ncommandUpdated: {}\n",
            "envs/.flux.yaml:2: commandUpdated: generators is missing",
        ),
        (
            "no patchFile",
            "version: 1\npatchUpdated:\n  generators: []\n",
            "envs/.flux.yaml:2: patchUpdated: patchFile is missing",
        ),
        (
            "more than one",
            "version: 1\npatchUpdated:\n  generators: []\n  patchFile: patch.yaml\ncommandUpdated:\n  generators: []\n",
            "envs/.flux.yaml:2: patchUpdated: commandUpdated and patchUpdated are given; give exactly one",
        ),
        (
            "duff generator",
            "version: 1\npatchUpdated:\n  generators:\n  - not an object\n",
            "envs/.flux.yaml:4: patchUpdated.generators[0]: must be a mapping, not the string \"not an object\"",
        ),
        (
            "patchFile with commandUpdated",
            "version: 1\ncommandUpdated:\n  generators: []\n  patchFile: \"foo.yaml\"\n",
            "envs/.flux.yaml:4: commandUpdated.patchFile: unknown key; commandUpdated takes generators and updaters",
        ),
        (
            "generator timeout is a number",
            "version: 1\npatchUpdated:\n  generators:\n  - command: some command\n    timeout: 5\n  patchFile: \"foo.yaml\"\n",
            "envs/.flux.yaml:5: patchUpdated.generators[0].timeout: must be a duration string such as \"30s\" or \"2m\", not the number 5",
        ),
    ];
    for (name, text, want) in cases {
        let e = err(text);
        assert!(e.starts_with(want), "{name}: {e}");
    }
}

#[test]
fn stricter_than_flux_v1() {
    let cases: &[(&str, &str)] = &[
        (
            "version: 1\ncommandUpdated:\n  generators: []\nextra: 1\n",
            "envs/.flux.yaml:4: extra: unknown key; a .flux.yaml takes version, commandUpdated, patchUpdated and scanForFiles",
        ),
        ("version: \"1\"\nscanForFiles: {}\n", "version: must be 1"),
        (
            "commandUpdated:\n  generators: []\n",
            "version: is missing; write version: 1",
        ),
        (
            "version: 1\nscanForFiles: {paths: [a]}\n",
            "envs/.flux.yaml:2: scanForFiles.paths: unknown key; scanForFiles takes no keys",
        ),
        (
            "version: 1\ncommandUpdated:\n  generators: []\n  updaters:\n  - containerImage: {command: x}\n    extra: y\n",
            "envs/.flux.yaml:6: commandUpdated.updaters[0].extra: unknown key; an updater takes containerImage and policy",
        ),
        (
            "version: 1\ncommandUpdated:\n  generators: []\n  updaters:\n  - {}\n",
            "envs/.flux.yaml:5: commandUpdated.updaters[0]: an updater needs a containerImage or a policy command",
        ),
        (
            "version: 1\ncommandUpdated:\n  generators:\n  - command: ''\n",
            "envs/.flux.yaml:4: commandUpdated.generators[0].command: is empty",
        ),
        (
            "version: 1\ncommandUpdated:\n  generators:\n  - {command: x, timout: 5s}\n",
            "commandUpdated.generators[0].timout: unknown key; a command takes command and timeout",
        ),
        (
            "version: 1\ncommandUpdated:\n  generators:\n  - {command: x, timeout: 5}\n",
            "commandUpdated.generators[0].timeout: must be a duration string",
        ),
        (
            "version: 1\ncommandUpdated:\n  generators:\n  - {command: x, timeout: 5 minutes}\n",
            "\"5 minutes\" is not a duration",
        ),
        (
            "version: 1\ncommandUpdated:\n  generators:\n  - {timeout: 5s}\n",
            "commandUpdated.generators[0]: command is missing",
        ),
        (
            "version: 1\ncommandUpdated:\n  generators: kustomize build .\n",
            "commandUpdated.generators: must be a sequence of commands, not the string",
        ),
        (
            "version: 1\ncommandUpdated:\n  generators:\n",
            "commandUpdated.generators: must be a sequence of commands, not nothing (null)",
        ),
        (
            "version: 1\npatchUpdated:\n  generators: []\n  patchFile: /etc/passwd\n",
            "patchUpdated.patchFile: must be relative",
        ),
        (
            "version: 1\npatchUpdated:\n  generators: []\n  patchFile: ''\n",
            "patchUpdated.patchFile: must be a file path, not the string \"\"",
        ),
        (
            "version: 1\nscanForFiles: {}\n---\nversion: 1\n",
            "envs/.flux.yaml:4: a second YAML document",
        ),
        (
            "version: 1\nversion: 1\n",
            "envs/.flux.yaml:2:1: not valid YAML: duplicate key",
        ),
        ("- version: 1\n", "must be a mapping, not a sequence"),
    ];
    for (text, want) in cases {
        let e = err(text);
        assert!(e.contains(want), "{text:?}: {e}");
    }
}

#[test]
fn flux_v1_accepts_these_and_so_do_we() {
    let c = ok("version: 1\ncommandUpdated:\n  generators: []\n");
    assert_eq!(
        c.mode,
        Mode::CommandUpdated(CommandUpdated {
            generators: vec![],
            updaters: vec![]
        })
    );
    let c = ok("version: 1\npatchUpdated:\n  generators: []\n  patchFile: foo.yaml\n");
    assert!(matches!(c.mode, Mode::PatchUpdated(ref p) if p.patch_file == "foo.yaml"));
    assert_eq!(
        ok("version: 1\nscanForFiles: {}\n").mode,
        Mode::ScanForFiles
    );
    assert_eq!(ok("version: 1\nscanForFiles:\n").mode, Mode::ScanForFiles);
}

#[test]
fn patch_updated_with_timeouts() {
    // Flux v1's patchUpdatedConfigFile.
    let c = ok(
        "---\nversion: 1\npatchUpdated:\n  generators:\n    - command: sleep 1 \n    - command: sleep 1\n      timeout: 2s\n    - command: sleep 2\n      timeout: 1s\n  patchFile: baz.yaml\n",
    );
    let Mode::PatchUpdated(p) = &c.mode else {
        panic!("{c:?}")
    };
    assert_eq!(p.generators.len(), 3);
    assert_eq!(p.generators[1].timeout, Some(Duration::from_secs(2)));
    assert_eq!(p.generators[2].command, "sleep 2");
    assert_eq!(p.patch_file, "baz.yaml");
    let default = Duration::from_secs(60);
    assert_eq!(p.generators[0].timeout_or(default), default);
    assert_eq!(p.generators[1].timeout_or(default), Duration::from_secs(2));
    // Under a second means the default, as in Flux v1.
    let short = Command {
        command: "x".into(),
        timeout: Some(Duration::from_millis(500)),
    };
    assert_eq!(short.timeout_or(default), default);
}

#[test]
fn command_updated_with_updaters() {
    // Flux v1's echoCmdUpdatedConfigFile.
    let c = ok(
        "---\nversion: 1\ncommandUpdated:\n  generators: \n    - command: echo g1\n    - command: echo g2\n  updaters:\n    - containerImage:\n        command: echo uci1 $FLUX_WORKLOAD\n      policy:\n        command: echo ua1 $FLUX_WORKLOAD ${FLUX_POLICY_VALUE:-delete}\n    - containerImage:\n        command: echo uci2\n",
    );
    let Mode::CommandUpdated(cu) = &c.mode else {
        panic!("{c:?}")
    };
    assert_eq!(cu.generators.len(), 2);
    assert_eq!(cu.updaters.len(), 2);
    assert_eq!(
        cu.updaters[0]
            .container_image
            .as_ref()
            .map(|c| c.command.as_str()),
        Some("echo uci1 $FLUX_WORKLOAD")
    );
    assert!(cu.updaters[1].policy.is_none());
    assert_eq!(c.mode.generators().len(), 2);
    assert_eq!(c.mode.to_string(), "commandUpdated");
}
