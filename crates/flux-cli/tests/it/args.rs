//! Flags and their checks: every refusal is a usage error (exit code 2)
//! with a message naming the flag, before anything is read or sent.

use std::time::Duration;

use clap::Parser as _;
use flux_cli::args::Cli;
use flux_cli::error::Exit;
use flux_cli::request::{self, Env, Mode, Request};

use crate::util::{examples, fluxctl, fluxctl_env, local};

fn build(args: &[&str], vars: &[(&str, &str)]) -> anyhow::Result<request::Invocation> {
    let mut argv = vec!["fluxctl"];
    argv.extend_from_slice(args);
    let cli = Cli::try_parse_from(argv)?;
    request::build(&cli, &Env::with_vars(vars.iter().copied()))
}

fn connection(args: &[&str], vars: &[(&str, &str)]) -> request::Connection {
    match build(args, vars).expect("builds").mode {
        Mode::Remote(c) => c,
        other => panic!("not remote: {other:?}"),
    }
}

#[track_caller]
fn usage(args: &[&str], want: &str) {
    let run = fluxctl(args);
    let err = run.fails(Exit::Usage);
    assert!(err.contains(want), "{args:?}: wanted {want:?} in:\n{err}");
    assert_eq!(run.out, "", "{args:?} printed to stdout");
}

#[test]
fn release_needs_exactly_one_image_choice_and_one_workload_choice() {
    usage(
        &["release", "--all"],
        "give one of --update-image=IMAGE:TAG or --update-all-images",
    );
    usage(
        &["release", "--all", "-i", "nginx:1", "--update-all-images"],
        "not both",
    );
    usage(
        &["release", "-i", "nginx:1"],
        "give --all, or the workloads",
    );
    usage(
        &[
            "release",
            "--all",
            "--workload",
            "a:deployment/b",
            "-i",
            "nginx:1",
        ],
        "either --all or --workload",
    );
    usage(
        &["release", "--all", "-i", "nginx:1", "--watch", "--dry-run"],
        "--watch and --dry-run",
    );
    usage(
        &["release", "--all", "--update-all-images", "--force"],
        "--force has no effect",
    );
}

#[test]
fn images_must_carry_a_tag_and_be_valid() {
    usage(
        &["release", "--all", "--update-image=alpine"],
        "image \"alpine\" has no tag",
    );
    usage(
        &["release", "--all", "-i", "nginx:1.0:2.0"],
        "--update-image: invalid image reference \"nginx:1.0:2.0\"",
    );
    usage(
        &["release", "--all", "-i", "Nginx:1"],
        "invalid image reference",
    );
}

#[test]
fn positional_arguments_are_refused() {
    for args in [
        &["list-workloads", "extra"][..],
        &["release", "--all", "-i", "nginx:1", "extra"],
        &["sync", "now"],
        &["identity", "x"],
        &["version", "1"],
    ] {
        usage(args, "unexpected argument");
    }
}

#[test]
fn limits_workload_ids_and_patterns_are_checked() {
    usage(
        &["list-images", "--limit", "-3"],
        "--limit -3: the number of images cannot be negative",
    );
    usage(
        &["list-images", "-w", "a:b:c"],
        "--workload: invalid resource ID \"a:b:c\"",
    );
    usage(
        &["policy", "-w", "a:deployment/b", "--tag-all", "semver:nope"],
        "--tag-all: invalid tag pattern",
    );
    usage(
        &["policy", "-w", "a:deployment/b", "--tag", "app"],
        "expected CONTAINER=PATTERN",
    );
    usage(
        &["policy", "-w", "a:deployment/b", "--tag", "=1.*"],
        "the container name is empty",
    );
    usage(&["policy", "-w", "a:deployment/b"], "nothing to change");
    usage(
        &["policy", "--automate"],
        "give the workload with --workload",
    );
    usage(
        &[
            "policy",
            "-w",
            "a:deployment/b",
            "--automate",
            "--deautomate",
        ],
        "cannot be used with",
    );
    usage(
        &["policy", "-w", "a:deployment/b", "--lock", "--unlock"],
        "cannot be used with",
    );
    usage(&["automate"], "give the workload with --workload");
    usage(
        &["lock", "-w", "a:deployment/b", "-c", "a:deployment/c"],
        "cannot be used with",
    );
}

#[test]
fn patterns_are_normalised_with_their_prefix() {
    let inv = build(
        &[
            "policy",
            "-w",
            "a:deployment/b",
            "--tag",
            "app=1.*",
            "--tag-all",
            "v*",
            "--tag",
            "db=*",
        ],
        &[],
    )
    .expect("builds");
    let Request::Policy(p) = inv.request else {
        panic!("policy")
    };
    use flux_core::policy::Policy;
    assert_eq!(p.update.add[&Policy::Tag("app".into())], "glob:1.*");
    assert_eq!(p.update.add[&Policy::TagAll], "glob:v*");
    assert!(p.update.remove.contains(&Policy::Tag("db".into())));
}

#[test]
fn deprecated_controller_flag_still_works_with_a_note() {
    let run = local(
        &examples(),
        &["list-images", "-c", "demo:deployment/podinfo"],
    );
    assert!(run.ok().contains("podinfod"));
    assert!(
        run.err
            .contains("--controller is deprecated: use --workload"),
        "{}",
        run.err
    );
    let inv = build(&["release", "-c", "a:deployment/x", "-i", "nginx:1"], &[]).expect("builds");
    let Request::Release(r) = inv.request else {
        panic!("release")
    };
    assert_eq!(r.workloads.expect("named")[0].to_string(), "a:deployment/x");
    assert_eq!(inv.notes, ["--controller is deprecated: use --workload"]);
}

#[test]
fn environment_applies_only_when_the_flag_is_not_given() {
    let vars = [
        ("FLUX_URL", "http://env:3030/api/flux"),
        ("FLUX_FORWARD_NAMESPACE", "flux"),
        ("FLUX_FORWARD_LABELS", "app=fluxd,tier=ops"),
        ("FLUX_SERVICE_TOKEN", "svc"),
        ("FLUX_TIMEOUT", "2m"),
    ];
    let c = connection(&["list-workloads"], &vars);
    assert_eq!(c.url.as_deref(), Some("http://env:3030/api/flux"));
    assert_eq!(c.forward_namespace, "flux");
    assert_eq!(
        c.forward_labels,
        [
            ("app".into(), "fluxd".into()),
            ("tier".into(), "ops".into())
        ]
    );
    assert_eq!(c.token.as_deref(), Some("svc"));
    assert_eq!(
        build(&["list-workloads"], &vars).expect("builds").timeout,
        Duration::from_secs(120)
    );
    let c = connection(
        &[
            "list-workloads",
            "-u",
            "http://flag/api/flux",
            "--k8s-fwd-ns",
            "x",
            "--k8s-fwd-labels",
            "a=b",
            "-t",
            "tok",
        ],
        &vars,
    );
    assert_eq!(c.url.as_deref(), Some("http://flag/api/flux"));
    assert_eq!(
        (c.forward_namespace.as_str(), c.token.as_deref()),
        ("x", Some("tok"))
    );
    assert_eq!(c.forward_labels, [("a".into(), "b".into())]);
    let inv = build(&["list-workloads", "--timeout", "5s"], &vars).expect("builds");
    assert_eq!(inv.timeout, Duration::from_secs(5));
}

#[test]
fn source_comes_from_the_flag_else_flux_source() {
    assert_eq!(connection(&["list-workloads"], &[]).source, None);
    let env = [("FLUX_SOURCE", "infra")];
    assert_eq!(connection(&["sync"], &env).source.as_deref(), Some("infra"));
    // Before or after the command, as every global flag.
    for args in [
        &["--source", "apps", "sync"][..],
        &["sync", "--source=apps"][..],
    ] {
        assert_eq!(
            connection(args, &env).source.as_deref(),
            Some("apps"),
            "{args:?}"
        );
    }
    assert_eq!(
        connection(&["list-workloads"], &[("FLUX_SOURCE", "")]).source,
        None,
        "empty is unset"
    );
    let Request::ListSources { table } = build(&["list-sources", "-o", "json"], &[])
        .expect("builds")
        .request
    else {
        panic!("list-sources")
    };
    assert_eq!(table.format, flux_cli::args::OutputFormat::Json);
    // --local reads a checkout: no fluxd, no sources (FLUX_SOURCE is ignored there).
    let dir = examples();
    let d = dir.to_str().expect("utf-8");
    usage(
        &["--local", d, "--source", "apps", "list-workloads"],
        "--local and --source cannot be used together",
    );
    usage(
        &["--local", d, "list-sources"],
        "list-sources has no --local mode",
    );
    assert!(matches!(
        build(&["--local", d, "list-workloads"], &env)
            .expect("builds")
            .mode,
        Mode::Local(_)
    ));
}

#[test]
fn defaults_and_token_rules() {
    let c = connection(&["list-workloads"], &[]);
    assert_eq!(c.url, None, "no URL: port-forward");
    assert_eq!(c.forward_namespace, "default");
    assert_eq!(c.forward_labels, [("app".into(), "flux".into())]);
    assert_eq!(
        build(&["list-workloads"], &[]).expect("builds").timeout,
        Duration::from_secs(60)
    );
    // A token without a URL means Weave Cloud, as in Flux v1.
    let c = connection(&["list-workloads"], &[("WEAVE_CLOUD_TOKEN", "cloud")]);
    assert_eq!(c.url.as_deref(), Some(request::DEFAULT_URL_GIVEN_TOKEN));
    assert_eq!(c.token.as_deref(), Some("cloud"));
    let both = connection(
        &["list-workloads"],
        &[
            ("WEAVE_CLOUD_TOKEN", "cloud"),
            ("FLUX_SERVICE_TOKEN", "svc"),
        ],
    );
    assert_eq!(
        both.token.as_deref(),
        Some("cloud"),
        "the later variable wins, as in Flux v1"
    );
    // Empty variables are unset.
    assert_eq!(
        connection(&["list-workloads"], &[("FLUX_URL", "")]).url,
        None
    );
}

#[test]
fn bad_environment_values_are_usage_errors() {
    let run = fluxctl_env(&["list-workloads"], &[("FLUX_TIMEOUT", "soon")]);
    assert!(
        run.fails(Exit::Usage)
            .contains("FLUX_TIMEOUT: \"soon\" is not a duration"),
        "{}",
        run.err
    );
    let run = fluxctl_env(&["list-workloads"], &[("FLUX_FORWARD_LABELS", "novalue")]);
    assert!(run.fails(Exit::Usage).contains("key=value"), "{}", run.err);
    usage(
        &["list-workloads", "--url", "ftp://x"],
        "must start with http:// or https://",
    );
    usage(
        &["list-workloads", "--timeout", "10"],
        "a number needs a unit",
    );
}

#[test]
fn namespace_defaults_to_the_kubeconfig_context() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("config");
    std::fs::write(
        &path,
        "apiVersion: v1\nkind: Config\ncurrent-context: a\ncontexts:\n- name: a\n  context: {cluster: c, namespace: team-a}\n- name: b\n  context: {cluster: c, namespace: team-b}\nclusters: []\nusers: []\n",
    )
    .expect("write");
    let kc = path.to_str().expect("utf-8");
    let ns = |args: &[&str]| match build(args, &[("KUBECONFIG", kc)]).expect("builds").request {
        Request::ListWorkloads { namespace, .. } => namespace,
        other => panic!("{other:?}"),
    };
    assert_eq!(ns(&["list-workloads"]).as_deref(), Some("team-a"));
    assert_eq!(
        ns(&["list-workloads", "--context", "b"]).as_deref(),
        Some("team-b")
    );
    assert_eq!(ns(&["list-workloads", "-n", "x"]).as_deref(), Some("x"));
    assert_eq!(ns(&["list-workloads", "-a"]), None);
    let Request::Policy(p) = build(&["lock", "-w", "deployment/web"], &[("KUBECONFIG", kc)])
        .expect("builds")
        .request
    else {
        panic!("policy")
    };
    assert_eq!(p.workload.to_string(), "team-a:deployment/web");
}

#[test]
fn local_mode_refuses_what_it_cannot_do() {
    let dir = examples();
    let d = dir.to_str().expect("utf-8");
    usage(
        &["--local", d, "--url", "http://x", "list-workloads"],
        "--local and --url cannot be used together",
    );
    usage(&["--local", d, "identity"], "identity has no --local mode");
    usage(&["--local", d, "save"], "save has no --local mode");
    usage(
        &["--local", d, "sync"],
        "with --local, sync only previews (--dry-run)",
    );
    usage(&["sync", "--dry-run"], "give --local DIR");
    usage(
        &["--local", d, "release", "--all", "--update-all-images"],
        "needs --registry",
    );
    usage(
        &["--local", d, "release", "--all", "-i", "nginx:1", "--watch"],
        "--watch is not available with --local",
    );
    usage(&["list-images", "--registry"], "--registry is for --local");
    usage(
        &["list-workloads", "--git-path", "x"],
        "--git-path is only for --local",
    );
}

#[test]
fn help_lists_the_exit_codes_and_version_prints() {
    let help = fluxctl(&["--help"]);
    assert!(help.ok().contains("Exit codes:"), "{}", help.out);
    assert!(help.out.contains("2  usage error"));
    assert_eq!(fluxctl(&["version"]).ok().trim(), env!("CARGO_PKG_VERSION"));
    assert!(
        fluxctl(&["list-controllers", "--help"])
            .ok()
            .contains("--all-namespaces"),
        "the alias works"
    );
}

#[test]
fn the_binary_exits_with_the_documented_codes() {
    let bin = env!("CARGO_BIN_EXE_fluxctl");
    let code = |args: &[&str]| {
        std::process::Command::new(bin)
            .args(args)
            .env_remove("FLUX_URL")
            .output()
            .expect("runs")
            .status
            .code()
    };
    let d = examples();
    let d = d.to_str().expect("utf-8");
    assert_eq!(code(&["--local", d, "list-workloads"]), Some(0));
    assert_eq!(code(&["release"]), Some(2));
    assert_eq!(
        code(&[
            "--local",
            d,
            "release",
            "--workload",
            "demo:deployment/nope",
            "-i",
            "nginx:1"
        ]),
        Some(1)
    );
}

#[test]
fn install_checks_its_flags_and_prints_the_manifests() {
    usage(
        &["install", "--git-email", "a@b"],
        "install needs --git-url",
    );
    usage(
        &["install", "--git-url", "git@x:y/z"],
        "install needs --git-email",
    );
    let inv = build(
        &[
            "install",
            "--git-url",
            "git@x:y/z",
            "--git-email",
            "a@b",
            "--git-paths",
            "a",
            "--git-path",
            "b",
            "--add-security-context=false",
        ],
        &[],
    )
    .expect("builds");
    let Request::Install(i) = inv.request else {
        panic!("install")
    };
    assert_eq!(i.git_paths, ["b", "a"]);
    assert_eq!(
        (
            i.git_branch.as_str(),
            i.git_label.as_str(),
            i.git_user.as_str()
        ),
        ("master", "flux", "Flux")
    );
    assert!(!i.add_security_context);
    assert_eq!(i.namespace, "default");
    assert_eq!(inv.notes, ["--git-paths is deprecated: use --git-path"]);
    let run = fluxctl(&[
        "install",
        "--git-url",
        "git@x:y/z",
        "--git-email",
        "a@b",
        "--git-path",
        "b",
    ]);
    let out = run.ok();
    assert!(out.contains("--git-url=git@x:y/z"), "{out}");
    assert!(out.contains("--git-path=b"), "{out}");
}

#[test]
fn manifest_generation_is_installs_own_flag_and_otherwise_for_local_only() {
    let install = [
        "install",
        "--git-url",
        "git@example.com:o/r",
        "--git-email",
        "a@example.com",
        "--namespace",
        "flux",
        "--manifest-generation",
    ];
    let cli = Cli::try_parse_from(std::iter::once("fluxctl").chain(install)).expect("parses");
    let flux_cli::args::Command::Install(a) = &cli.command else {
        panic!("{cli:?}")
    };
    assert!(a.manifest_generation, "install's own flag");
    build(&install, &[]).expect("install takes --manifest-generation");
    usage(
        &["list-workloads", "--manifest-generation"],
        "--manifest-generation is only for --local",
    );
    let dir = examples();
    let invocation = build(
        &[
            "--local",
            dir.to_str().expect("utf-8"),
            "--manifest-generation",
            "list-workloads",
        ],
        &[],
    )
    .expect("builds");
    let Mode::Local(l) = invocation.mode else {
        panic!("not local")
    };
    assert!(l.manifest_generation);
}
