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
    assert!(c.git.is_none(), "no --git-url: no repository");
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
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
    let git = c.git.unwrap();
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
        c.git.unwrap().config.verify,
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
    assert_eq!(c.git.unwrap().raw_paths, ["a", "b"], "list flags add up");
}
