use std::time::Duration;

use super::*;

fn parse(args: &[&str]) -> Result<Config, ConfigError> {
    let mut all = vec!["fluxd"];
    all.extend_from_slice(args);
    Config::from_args(all)
}

fn invalid_flag(args: &[&str]) -> String {
    match parse(args) {
        Err(ConfigError::Invalid { flag, .. }) => flag,
        other => panic!("{args:?}: expected an invalid flag, got {other:?}"),
    }
}

#[test]
fn flux_v1_defaults() {
    let c = parse(&[]).unwrap();
    assert_eq!(c.listen.port(), 3030);
    assert!(c.listen.ip().is_unspecified());
    assert_eq!(c.sync.interval, Duration::from_secs(300));
    assert_eq!(c.sync.timeout, Duration::from_secs(60));
    assert_eq!(c.sync.gc, GcMode::Off);
    assert_eq!(c.sync.state, SyncStateMode::GitTag);
    assert!(c.sync.drift_correction);
    assert_eq!(c.registry.automation_interval, Duration::from_secs(300));
    assert_eq!(c.registry.rps, 50.0);
    assert_eq!(c.registry.burst, 10);
    assert_eq!(c.registry.exclude_images, ["k8s.gcr.io/*"]);
    assert_eq!(
        c.registry.use_labels,
        ["index.docker.io/weaveworks/*", "index.docker.io/fluxcd/*"]
    );
    assert_eq!(c.k8s.secret_name, "flux-git-deploy");
    assert_eq!(c.k8s.secret_data_key, "identity");
    assert_eq!(
        c.k8s.secret_mount_path,
        std::path::Path::new("/etc/fluxd/ssh")
    );
    assert_eq!(
        c.k8s.exclude_resources,
        [
            "*metrics.k8s.io/*",
            "webhook.certmanager.k8s.io/*",
            "v1/Event"
        ]
    );
    assert!(c.sources.is_empty(), "no --git-url: no repository");
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
}

#[test]
fn keygen_flags_reach_the_key_spec() {
    use flux_git::{KeyFormat, KeyType};
    assert_eq!(parse(&[]).unwrap().ssh.keygen, flux_git::KeySpec::default());
    let c = parse(&[
        "--ssh-keygen-type=ecdsa",
        "--ssh-keygen-bits=521",
        "--ssh-keygen-format=PEM",
    ])
    .unwrap();
    assert_eq!(
        (c.ssh.keygen.kind, c.ssh.keygen.bits, c.ssh.keygen.format),
        (KeyType::Ecdsa, Some(521), KeyFormat::Pem)
    );
}

#[test]
fn git_flags_reach_the_git_config() {
    let c = parse(&[
        "--git-url=git@github.com:org/config",
        "--git-branch",
        "main",
        "--git-path=clusters/prod,common",
        "--git-path",
        "extra",
        "--git-label=prod",
        "--git-ci-skip",
        "--git-poll-interval=1m30s",
    ])
    .unwrap();
    assert_eq!(c.sources.len(), 1);
    assert_eq!(c.sources[0].name, "default");
    let git = c.sources[0].git.clone();
    assert_eq!(git.config.branch, "main");
    assert_eq!(git.raw_paths, ["clusters/prod", "common", "extra"]);
    assert_eq!(git.config.sync_tag, "prod");
    assert_eq!(git.config.notes_ref, "prod");
    assert_eq!(git.config.skip_message, "\n\n[ci skip]");
    assert_eq!(git.config.poll_interval, Duration::from_secs(90));
}

#[test]
fn booleans_take_pflag_forms() {
    let on = parse(&["--sync-garbage-collection"]).unwrap();
    assert_eq!(on.sync.gc, GcMode::On);
    let explicit = parse(&[
        "--sync-garbage-collection=true",
        "--sync-garbage-collection-dry=true",
    ])
    .unwrap();
    assert_eq!(explicit.sync.gc, GcMode::DryRun);
    let off = parse(&["--sync-garbage-collection=false"]).unwrap();
    assert_eq!(off.sync.gc, GcMode::Off);
    let no_drift = parse(&["--sync-drift-correction=false"]).unwrap();
    assert!(!no_drift.sync.drift_correction);
    assert!(matches!(
        parse(&["--git-readonly=maybe"]),
        Err(ConfigError::Usage(_))
    ));
}

#[test]
fn readonly_forces_secret_state_and_warns_about_ignored_flags() {
    let c = parse(&["--git-url=ssh://git@h/r", "--git-readonly", "--git-user=me"]).unwrap();
    assert_eq!(c.sync.state, SyncStateMode::Secret);
    assert!(
        c.warnings
            .iter()
            .any(|w| w.contains("--git-user has no effect")),
        "{:?}",
        c.warnings
    );
}

#[test]
fn deprecated_and_ignored_flags_warn() {
    let c = parse(&[
        "--registry-poll-interval=2m",
        "--k8s-namespace-whitelist=a,b",
        "--memcached-hostname=mc",
        "--registry-cache-expiry=1h",
        "--k8s-in-cluster",
        "--git-verify-signatures",
        "--git-url=ssh://git@h/r",
    ])
    .unwrap();
    assert_eq!(c.registry.automation_interval, Duration::from_secs(120));
    assert_eq!(
        c.k8s.namespaces,
        flux_core::Namespaces::from_list(&["a", "b"])
    );
    assert_eq!(
        c.sources[0].git.config.verify,
        flux_git::VerifyMode::All,
        "the deprecated flag still turns verification on"
    );
    for word in [
        "registry-poll-interval",
        "namespace-whitelist",
        "memcached-hostname",
        "registry-cache-expiry",
        "k8s-in-cluster",
        "git-verify-signatures",
    ] {
        assert!(
            c.warnings.iter().any(|w| w.contains(word)),
            "{word}: {:?}",
            c.warnings
        );
    }
    let both = parse(&["--registry-poll-interval=2m", "--automation-interval=3m"]).unwrap();
    assert_eq!(both.registry.automation_interval, Duration::from_secs(180));
}

#[test]
fn bad_values_name_their_flag() {
    assert_eq!(
        invalid_flag(&["--connect=wss://cloud.weave.works"]),
        "connect"
    );
    assert_eq!(invalid_flag(&["--log-format=xml"]), "log-format");
    assert_eq!(invalid_flag(&["--sync-state=etcd"]), "sync-state");
    assert_eq!(invalid_flag(&["--sync-interval=0s"]), "sync-interval");
    assert_eq!(invalid_flag(&["--registry-rps=0"]), "registry-rps");
    assert_eq!(invalid_flag(&["--registry-burst=0"]), "registry-burst");
    assert_eq!(
        invalid_flag(&["--registry-require=gcr"]),
        "registry-require"
    );
    assert_eq!(invalid_flag(&["--listen=nowhere"]), "listen");
    assert_eq!(
        invalid_flag(&["--k8s-allow-namespace=Bad_NS"]),
        "k8s-allow-namespace"
    );
    assert_eq!(
        invalid_flag(&["--git-url=ssh://git@h/r", "--git-path=/abs"]),
        "git-path"
    );
    assert_eq!(
        invalid_flag(&["--git-url=ssh://git@h/r", "--git-branch=a..b"]),
        "git-branch"
    );
    assert_eq!(invalid_flag(&["--git-url=ext::sh -c evil"]), "git-url");
    assert_eq!(
        invalid_flag(&[
            "--git-url=ssh://git@h/r",
            "--git-verify-signatures-mode=some"
        ]),
        "git-verify-signatures-mode"
    );
    assert_eq!(
        invalid_flag(&["--docker-config=/does/not/exist"]),
        "docker-config"
    );
    assert_eq!(invalid_flag(&["--sops"]), "sops");
    assert_eq!(invalid_flag(&["--ssh-keygen-type=dsa"]), "ssh-keygen-type");
    assert_eq!(invalid_flag(&["--ssh-keygen-bits=512"]), "ssh-keygen-bits");
    assert_eq!(
        invalid_flag(&["--ssh-keygen-type=ed25519", "--ssh-keygen-bits=4096"]),
        "ssh-keygen-bits"
    );
    assert_eq!(
        invalid_flag(&["--ssh-keygen-format=DER"]),
        "ssh-keygen-format"
    );
    assert_eq!(
        invalid_flag(&["--api-token-file=/does/not/exist"]),
        "api-token-file"
    );
    let e = parse(&["--sync-interval=5"]).unwrap_err();
    assert!(matches!(e, ConfigError::Usage(_)));
    assert!(e.to_string().contains("sync-interval"), "{e}");
    assert_eq!(e.exit_code(), 2);
    assert!(matches!(
        parse(&["--no-such-flag"]),
        Err(ConfigError::Usage(_))
    ));
}

#[test]
fn help_and_version_exit_zero() {
    let help = parse(&["--help"]).unwrap_err();
    assert_eq!(help.exit_code(), 0);
    assert!(help.to_string().contains("--git-url"));
    let version = parse(&["--version"]).unwrap_err();
    assert_eq!(version.exit_code(), 0);
    assert_eq!(version.to_string().trim(), env!("CARGO_PKG_VERSION"));
}

#[test]
fn tokens_are_read_from_files() {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "s3cret\n").unwrap();
    let c = parse(&[&format!("--api-token-file={}", token.display())]).unwrap();
    assert_eq!(c.api_token.as_deref(), Some("s3cret"));
    std::fs::write(&token, "\n").unwrap();
    assert_eq!(
        invalid_flag(&[&format!("--api-token-file={}", token.display())]),
        "api-token-file"
    );
}

#[test]
fn a_repeated_flag_takes_the_last_value_as_pflag_did() {
    let c = parse(&[
        "--listen=127.0.0.1:1",
        "--listen=127.0.0.1:2",
        "--git-url=ssh://git@h/r",
        "--git-path=a",
        "--git-path=b",
    ])
    .unwrap();
    assert_eq!(c.listen.port(), 2);
    assert_eq!(c.sources[0].git.raw_paths, ["a", "b"], "list flags add up");
}

fn sources_file(text: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fluxd.yaml");
    std::fs::write(&path, text).unwrap();
    let arg = format!("--config={}", path.display());
    (dir, arg)
}

const THREE: &str = "\
sources:
- name: apps
  url: ssh://git@example.com/team/apps
  branch: main
  paths: [deploy, base]
  label: flux-apps
  secretName: flux-git-deploy-apps
  allowNamespaces: [apps, shared]
  syncInterval: 2m
  garbageCollection: true
- name: infra
  url: https://example.com/team/infra.git
  readonly: true
  gitPollInterval: 30s
  automationInterval: 10m
- name: more-apps
  url: ssh://git@example.com/team/apps
  paths: [more]
  syncTag: flux-more
  garbageCollectionDryRun: true
";

#[test]
fn a_sources_file_makes_one_source_each_with_flags_as_defaults() {
    let (_dir, arg) = sources_file(THREE);
    let c = parse(&[
        &arg,
        "--sync-interval=7m",
        "--git-user=Flux Bot",
        "--k8s-allow-namespace=default",
    ])
    .unwrap();
    let names: Vec<&str> = c.sources.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["apps", "infra", "more-apps"]);
    let apps = &c.sources[0];
    assert_eq!(apps.git.config.branch, "main");
    assert_eq!(apps.git.raw_paths, ["deploy", "base"]);
    assert_eq!(apps.git.config.sync_tag, "flux-apps");
    assert_eq!(
        apps.git.config.committer.name, "Flux Bot",
        "inherited from the flag"
    );
    assert_eq!(apps.sync_interval, Duration::from_secs(120));
    assert_eq!(apps.gc, GcMode::On);
    assert_eq!(apps.key.secret_name, "flux-git-deploy-apps");
    assert_eq!(
        apps.key.mount_path, None,
        "a named Secret is read through the API"
    );
    assert_eq!(
        apps.namespaces,
        flux_core::Namespaces::from_list(&["apps", "shared"])
    );
    let infra = &c.sources[1];
    assert_eq!(infra.git.config.branch, "master");
    assert!(infra.git.config.readonly);
    assert_eq!(
        infra.sync_interval,
        Duration::from_secs(420),
        "--sync-interval"
    );
    assert_eq!(infra.automation_interval, Duration::from_secs(600));
    assert_eq!(infra.git.config.poll_interval, Duration::from_secs(30));
    assert_eq!(infra.gc, GcMode::Off);
    assert_eq!(infra.key.secret_name, "flux-git-deploy");
    assert_eq!(
        infra.namespaces,
        flux_core::Namespaces::from_list(&["default"])
    );
    assert_eq!(c.sources[2].gc, GcMode::DryRun);
    assert_eq!(c.sources[2].git.config.sync_tag, "flux-more");
    // The cluster side sees every source's namespaces.
    assert_eq!(
        c.k8s.namespaces,
        flux_core::Namespaces::from_list(&["apps", "default", "shared"])
    );
}

/// The message of a refused file, which must name the file, line and key.
fn file_error(text: &str, extra: &[&str]) -> (u64, String, String) {
    let (_dir, arg) = sources_file(text);
    let mut args = vec![arg.as_str()];
    args.extend_from_slice(extra);
    match parse(&args) {
        Err(e @ ConfigError::File { .. }) => {
            let shown = e.to_string();
            assert!(shown.contains("fluxd.yaml"), "{shown}");
            let ConfigError::File { line, key, .. } = e else {
                unreachable!()
            };
            (line, key, shown)
        }
        other => panic!("expected a file error, got {other:?}"),
    }
}

#[test]
fn a_bad_sources_file_is_refused_naming_file_line_and_key() {
    let cases: &[(&str, u64, &str, &str)] = &[
        (
            "sources:\n- name: a\n  url: ssh://h/r\n  colour: blue\n",
            4,
            "",
            "colour",
        ),
        (
            "sources:\n- name: a\n  url: ssh://h/r\n  syncInterval: soon\n",
            4,
            "syncInterval",
            "soon",
        ),
        (
            "sources:\n- name: a\n  url: ssh://h/r\n  syncInterval: 0s\n",
            4,
            "syncInterval",
            "more than zero",
        ),
        (
            "sources:\n- name: A_b\n  url: ssh://h/r\n",
            2,
            "name",
            "DNS label",
        ),
        (
            "sources:\n- name: a\n  url: ssh://h/r\n- name: a\n  url: ssh://h/s\n",
            4,
            "name",
            "line 2",
        ),
        (
            "sources:\n- name: a\n  url: ssh://h/r\n- name: b\n  url: ssh://h/r\n  syncTag: other\n",
            5,
            "url",
            "one sync set",
        ),
        (
            "sources:\n- name: a\n  url: ssh://h/r\n- name: b\n  url: ssh://h/r\n  paths: [x]\n",
            4,
            "syncTag",
            "same repository and sync tag",
        ),
        (
            "sources:\n- name: a\n  url: ssh://h/r\n  paths: [/abs]\n",
            4,
            "paths",
            "must not start",
        ),
        (
            "sources:\n- name: a\n  url: ssh://h/r\n  allowNamespaces: [Bad]\n",
            4,
            "allowNamespaces",
            "Bad",
        ),
        (
            "sources:\n- name: a\n  url: ssh://h/r\n  secretName: Bad_Name\n",
            4,
            "secretName",
            "Secret name",
        ),
        ("sources:\n- name: a\n  url: \"\"\n", 3, "url", "empty"),
        (
            "sources:\n- name: a\n  url: ssh://h/r\n  garbageCollection: maybe\n",
            4,
            "",
            "",
        ),
        ("sources: []\n", 1, "sources", "no source"),
        ("sources:\n- name: a\n", 2, "", "url"),
    ];
    for (text, line, key, says) in cases {
        let (got_line, got_key, shown) = file_error(text, &[]);
        assert_eq!(
            (got_line, got_key.as_str()),
            (*line, *key),
            "{text:?}: {shown}"
        );
        assert!(shown.contains(says), "{text:?}: {shown}");
    }
}

#[test]
fn config_and_git_url_together_are_refused() {
    let (_dir, arg) = sources_file(THREE);
    assert_eq!(invalid_flag(&[&arg, "--git-url=ssh://h/r"]), "config");
    assert_eq!(invalid_flag(&[&arg, "--git-branch=main"]), "git-branch");
    assert_eq!(invalid_flag(&[&arg, "--git-path=x"]), "git-path");
    let missing = parse(&["--config=/nonexistent/fluxd.yaml"]).unwrap_err();
    assert!(
        missing.to_string().starts_with("/nonexistent/fluxd.yaml: "),
        "{missing}"
    );
}

#[test]
fn single_repository_flags_are_a_sources_file_of_one_source() {
    let from_flags = parse(&[
        "--git-url=ssh://git@example.com/team/apps",
        "--git-branch=main",
        "--git-path=deploy",
        "--git-label=flux-apps",
        "--k8s-allow-namespace=apps",
        "--sync-interval=2m",
        "--sync-garbage-collection",
    ])
    .unwrap();
    let (_dir, arg) = sources_file(
        "sources:\n- name: default\n  url: ssh://git@example.com/team/apps\n  branch: main\n  paths: [deploy]\n  label: flux-apps\n",
    );
    let from_file = parse(&[
        &arg,
        "--k8s-allow-namespace=apps",
        "--sync-interval=2m",
        "--sync-garbage-collection",
    ])
    .unwrap();
    assert_eq!(from_flags.sources.len(), 1);
    assert_eq!(
        format!("{:?}", from_flags.sources),
        format!("{:?}", from_file.sources),
        "the same source either way"
    );
    assert_eq!(from_flags.k8s.namespaces, from_file.k8s.namespaces);
}

#[test]
fn ha_is_off_by_default_and_checks_its_timings() {
    assert!(parse(&[]).expect("defaults").ha.is_none());
    let ha = parse(&["--ha", "--ha-replica-id", "fluxd-0"])
        .expect("--ha")
        .ha
        .expect("settings");
    assert_eq!(ha.replica_id, "fluxd-0");
    assert_eq!(ha.lease_duration, Duration::from_secs(15));
    assert_eq!(ha.renew_interval, Duration::from_secs(2));
    assert_eq!(ha.renew_deadline, Duration::from_secs(10));
    let bad = |args: &[&str]| invalid_flag(&[&["--ha", "--ha-replica-id", "r1"], args].concat());
    assert_eq!(bad(&["--ha-renew-deadline", "15s"]), "ha-renew-deadline");
    assert_eq!(bad(&["--ha-renew-interval", "10s"]), "ha-renew-interval");
    assert_eq!(bad(&["--ha-lease-duration", "1500ms"]), "ha-lease-duration");
    for id in ["Not_A_Name", "a..b", "a.-b"] {
        assert_eq!(
            invalid_flag(&["--ha", "--ha-replica-id", id]),
            "ha-replica-id",
            "{id}"
        );
    }
    assert!(parse(&["--ha", "--ha-replica-id", "fluxd-0.east"]).is_ok());
}
