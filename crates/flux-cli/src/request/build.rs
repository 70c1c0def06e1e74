//! From parsed flags to an [`Invocation`].

use std::path::PathBuf;

use flux_core::ResourceId;
use flux_core::policy::{Policy, PolicyUpdate, TagPattern};
use flux_core::release::{ImageSpec, ReleaseKind};

use super::env::{Env, context_namespace};
use super::{
    Cause, Connection, DEFAULT_TIMEOUT, DEFAULT_URL_GIVEN_TOKEN, Install, Invocation, Local, Mode,
    PolicyChange, RegistryAccess, Release, Request, Results, Sync, Table,
};
use crate::args::{
    CauseFlags, Cli, Command, GlobalFlags, OutputFlags, RegistryFlags, ResultFlags, WorkloadArgs,
    duration,
};
use crate::error::usage;

/// Checks the flags of `cli` together with `env` and builds the
/// invocation; every problem is a usage error.
pub fn build(cli: &Cli, env: &Env) -> anyhow::Result<Invocation> {
    let mut notes = Vec::new();
    let g = &cli.global;
    let timeout = match (g.timeout, env.var("FLUX_TIMEOUT")) {
        (Some(t), _) => t,
        (None, Some(text)) => {
            duration::parse(text).map_err(|e| usage(format!("FLUX_TIMEOUT: {e}")))?
        }
        (None, None) => DEFAULT_TIMEOUT,
    };
    let offline = matches!(
        cli.command,
        Command::Version | Command::Completion(_) | Command::Install(_)
    );
    let mode = if offline {
        Mode::None
    } else {
        match &g.local {
            Some(dir) => Mode::Local(local(g, dir)?),
            None => Mode::Remote(connection(g, env)?),
        }
    };
    if !matches!(mode, Mode::Local(_)) {
        // install has a --git-path of its own, which clap gives the global flag.
        if !g.git_path.is_empty() && !matches!(cli.command, Command::Install(_)) {
            return Err(usage("--git-path is only for --local"));
        }
        if g.allow_dirty {
            return Err(usage("--allow-dirty is only for --local"));
        }
        // install has a flag of the same name, which clap also reports here.
        if g.manifest_generation && !matches!(cli.command, Command::Install(_)) {
            return Err(usage(
                "--manifest-generation is only for --local (fluxd has its own flag)",
            ));
        }
    }
    let ns = Namespaces {
        mode: &mode,
        env,
        context: g.context.as_deref(),
    };
    let request = match &cli.command {
        Command::ListWorkloads(a) => Request::ListWorkloads {
            namespace: if a.all_namespaces {
                None
            } else {
                Some(ns.or_default(a.namespace.as_deref()))
            },
            container: a.container.clone(),
            table: table(&a.output),
        },
        Command::ListManifests(a) => {
            if !matches!(mode, Mode::Local(_)) {
                return Err(usage(
                    "list-manifests reads a checkout: give --local DIR (fluxd has no such query)",
                ));
            }
            Request::ListManifests {
                namespace: if a.all_namespaces {
                    None
                } else {
                    Some(ns.or_default(a.namespace.as_deref()))
                },
                table: table(&a.output),
            }
        }
        Command::ListImages(a) => {
            if a.limit < 0 {
                return Err(usage(format!(
                    "--limit {}: the number of images cannot be negative (0 shows all)",
                    a.limit
                )));
            }
            let workload = deprecated_alias(&a.workload, &a.controller, &mut notes);
            let namespace = ns.or_default(a.namespace.as_deref());
            Request::ListImages {
                workload: workload
                    .map(|w| workload_id(&w, &namespace, "--workload"))
                    .transpose()?,
                namespace,
                limit: usize::try_from(a.limit).unwrap_or(usize::MAX),
                table: table(&a.output),
                registry: registry(&a.registry, &mode)?,
            }
        }
        Command::Release(a) => Request::Release(release(a, &ns, &mode, env, &mut notes)?),
        Command::Automate(a) => {
            Request::Policy(policy(a, PolicyUpdate::automate(), &ns, env, &mut notes)?)
        }
        Command::Deautomate(a) => {
            Request::Policy(policy(a, PolicyUpdate::deautomate(), &ns, env, &mut notes)?)
        }
        Command::Lock(a) => {
            let cause = cause(&a.cause, env);
            let update = PolicyUpdate::lock(cause.user.as_deref(), cause.message.as_deref());
            Request::Policy(policy(a, update, &ns, env, &mut notes)?)
        }
        Command::Unlock(a) => {
            Request::Policy(policy(a, PolicyUpdate::unlock(), &ns, env, &mut notes)?)
        }
        Command::Policy(a) => {
            let cause = cause(&a.workload.cause, env);
            let mut update = PolicyUpdate::default();
            if a.automate {
                update.add.insert(Policy::Automated, "true".into());
            }
            if a.deautomate {
                update.remove.insert(Policy::Automated);
            }
            if a.lock {
                let lock = PolicyUpdate::lock(cause.user.as_deref(), cause.message.as_deref());
                update.add.extend(lock.add);
            }
            if a.unlock {
                update.remove.extend(PolicyUpdate::unlock().remove);
            }
            if let Some(pattern) = &a.tag_all {
                update
                    .add
                    .insert(Policy::TagAll, pattern_flag("--tag-all", pattern)?);
            }
            for pair in &a.tag {
                let Some((container, pattern)) = pair.split_once('=') else {
                    return Err(usage(format!(
                        "--tag {pair:?}: expected CONTAINER=PATTERN, e.g. app=1.*"
                    )));
                };
                if container.is_empty() {
                    return Err(usage(format!(
                        "--tag {pair:?}: the container name is empty"
                    )));
                }
                let policy = Policy::Tag(container.to_owned());
                if pattern == "*" {
                    update.remove.insert(policy);
                } else {
                    update.add.insert(policy, pattern_flag("--tag", pattern)?);
                }
            }
            if update.is_empty() {
                return Err(usage(
                    "nothing to change: give --automate, --deautomate, --lock, --unlock, --tag-all or --tag",
                ));
            }
            Request::Policy(policy(&a.workload, update, &ns, env, &mut notes)?)
        }
        Command::Sync(a) => {
            if let Mode::Local(_) = mode {
                if !a.dry_run {
                    return Err(usage(
                        "with --local, sync only previews (--dry-run): fluxctl never writes to a cluster itself",
                    ));
                }
            } else if a.dry_run {
                return Err(usage(
                    "sync --dry-run works on a checkout: give --local DIR (fluxd has no dry-run sync)",
                ));
            }
            Request::Sync(Sync {
                dry_run: a.dry_run,
                kubeconfig: a.kubeconfig.clone(),
                context: g.context.clone(),
                git_url: a.git_url.clone(),
                git_branch: a.git_branch.clone().unwrap_or_else(|| "master".into()),
                allow_namespaces: a.k8s_allow_namespace.clone(),
                format: a.output_format,
            })
        }
        Command::ListSources(a) => {
            remote_only(
                &mode,
                "list-sources",
                "it lists the repositories fluxd syncs",
            )?;
            Request::ListSources {
                table: table(&a.output),
            }
        }
        Command::Identity(a) => {
            remote_only(&mode, "identity", "it shows the key fluxd holds")?;
            Request::Identity {
                regenerate: a.regenerate,
                fingerprint: a.fingerprint || a.visual,
                visual: a.visual,
            }
        }
        Command::Save(a) => {
            remote_only(&mode, "save", "it exports what runs in the cluster")?;
            Request::Save {
                dir: (a.out != "-").then(|| PathBuf::from(&a.out)),
            }
        }
        Command::Install(a) => {
            let mut git_paths = g.git_path.clone();
            for p in &a.git_path {
                if !git_paths.contains(p) {
                    git_paths.push(p.clone());
                }
            }
            if !a.git_paths.is_empty() {
                notes.push("--git-paths is deprecated: use --git-path".into());
                git_paths.extend(a.git_paths.iter().cloned());
            }
            let git_url = a
                .git_url
                .clone()
                .filter(|u| !u.is_empty())
                .ok_or_else(|| usage("install needs --git-url, the repository fluxd syncs"))?;
            let git_email = a
                .git_email
                .clone()
                .filter(|u| !u.is_empty())
                .ok_or_else(|| usage("install needs --git-email, the email of fluxd's commits"))?;
            let namespace = match &a.namespace {
                Some(n) => n.clone(),
                None => context_namespace(&env.kubeconfig_paths(), g.context.as_deref())
                    .unwrap_or_else(|| "default".into()),
            };
            Request::Install(Install {
                git_url,
                git_branch: a.git_branch.clone(),
                git_paths,
                git_label: a.git_label.clone(),
                git_user: a.git_user.clone(),
                git_email,
                git_readonly: a.git_readonly,
                manifest_generation: a.manifest_generation,
                namespace,
                registry_disable_scanning: a.registry_disable_scanning,
                output_dir: a.output_dir.clone(),
                add_security_context: a.add_security_context,
            })
        }
        Command::Version => Request::Version,
        Command::Completion(a) => Request::Completion(a.shell),
    };
    Ok(Invocation {
        mode,
        timeout,
        request,
        notes,
    })
}

fn local(g: &GlobalFlags, dir: &std::path::Path) -> anyhow::Result<Local> {
    for (given, flag) in [
        (g.url.is_some(), "--url"),
        (g.token.is_some(), "--token"),
        (g.k8s_fwd_ns.is_some(), "--k8s-fwd-ns"),
        (g.k8s_fwd_labels.is_some(), "--k8s-fwd-labels"),
        (g.source.is_some(), "--source"),
    ] {
        if given {
            return Err(usage(format!(
                "--local and {flag} cannot be used together: --local works on a checkout without fluxd"
            )));
        }
    }
    Ok(Local {
        dir: dir.to_owned(),
        git_paths: g.git_path.clone(),
        default_namespace: g.k8s_default_namespace.clone(),
        allow_dirty: g.allow_dirty,
        manifest_generation: g.manifest_generation,
    })
}

fn connection(g: &GlobalFlags, env: &Env) -> anyhow::Result<Connection> {
    let token = g.token.clone().or_else(|| {
        // As Flux v1: each variable that is set overrides the one before.
        env.var("WEAVE_CLOUD_TOKEN")
            .or_else(|| env.var("FLUX_SERVICE_TOKEN"))
            .map(str::to_owned)
    });
    let mut url = g
        .url
        .clone()
        .or_else(|| env.var("FLUX_URL").map(str::to_owned));
    if url.is_none() && token.is_some() {
        url = Some(DEFAULT_URL_GIVEN_TOKEN.to_owned());
    }
    if let Some(u) = &url {
        let parsed = reqwest_free_url_check(u);
        if let Err(why) = parsed {
            return Err(usage(format!("--url {u:?}: {why}")));
        }
    }
    let labels_text = g
        .k8s_fwd_labels
        .clone()
        .or_else(|| env.var("FLUX_FORWARD_LABELS").map(str::to_owned))
        .unwrap_or_else(|| "app=flux".into());
    let mut forward_labels = Vec::new();
    for pair in labels_text.split(',').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some((k, v)) if !k.is_empty() => forward_labels.push((k.to_owned(), v.to_owned())),
            _ => {
                return Err(usage(format!(
                    "--k8s-fwd-labels {labels_text:?}: expected key=value pairs separated by commas"
                )));
            }
        }
    }
    Ok(Connection {
        url,
        token,
        context: g.context.clone(),
        forward_namespace: g
            .k8s_fwd_ns
            .clone()
            .or_else(|| env.var("FLUX_FORWARD_NAMESPACE").map(str::to_owned))
            .unwrap_or_else(|| "default".into()),
        forward_labels,
        kubeconfig: env.kubeconfig_paths(),
        source: g
            .source
            .clone()
            .or_else(|| env.var("FLUX_SOURCE").map(str::to_owned))
            .filter(|s| !s.is_empty()),
    })
}

/// Checks a base URL's shape: an http or https scheme and a host.
fn reqwest_free_url_check(u: &str) -> Result<(), &'static str> {
    let rest = u
        .strip_prefix("http://")
        .or_else(|| u.strip_prefix("https://"))
        .ok_or("the URL must start with http:// or https://")?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if host.is_empty() {
        return Err("the URL has no host");
    }
    Ok(())
}

/// How namespaces default: `-n`, else (remote) the kubeconfig context's or
/// (local) `--k8s-default-namespace`, else `default`.
struct Namespaces<'a> {
    mode: &'a Mode,
    env: &'a Env,
    context: Option<&'a str>,
}

impl Namespaces<'_> {
    fn or_default(&self, given: Option<&str>) -> String {
        if let Some(n) = given {
            return n.to_owned();
        }
        match self.mode {
            Mode::Local(l) => l.default_namespace.clone(),
            Mode::Remote(c) => {
                context_namespace(&c.kubeconfig, self.context).unwrap_or_else(|| "default".into())
            }
            Mode::None => context_namespace(&self.env.kubeconfig_paths(), self.context)
                .unwrap_or_else(|| "default".into()),
        }
    }
}

fn table(o: &OutputFlags) -> Table {
    Table {
        format: o.output_format,
        no_headers: o.no_headers,
    }
}

fn results(r: &ResultFlags) -> Results {
    Results {
        format: r.output_format,
        verbosity: r.verbose,
    }
}

fn cause(c: &CauseFlags, env: &Env) -> Cause {
    Cause {
        user: c
            .user
            .clone()
            .or_else(|| env.git_user.clone())
            .filter(|u| !u.is_empty()),
        message: c.message.clone().filter(|m| !m.is_empty()),
    }
}

fn registry(r: &RegistryFlags, mode: &Mode) -> anyhow::Result<RegistryAccess> {
    if r.registry && !matches!(mode, Mode::Local(_)) {
        return Err(usage(
            "--registry is for --local: fluxd scans registries itself",
        ));
    }
    Ok(RegistryAccess {
        enabled: r.registry,
        docker_config: r.docker_config.clone(),
        insecure_hosts: r.registry_insecure_host.clone(),
    })
}

fn remote_only(mode: &Mode, command: &str, why: &str) -> anyhow::Result<()> {
    if matches!(mode, Mode::Local(_)) {
        return Err(usage(format!("{command} has no --local mode: {why}")));
    }
    Ok(())
}

/// `--workload` or its deprecated alias `--controller`.
fn deprecated_alias(
    workload: &Option<String>,
    controller: &Option<String>,
    notes: &mut Vec<String>,
) -> Option<String> {
    if controller.is_some() {
        notes.push("--controller is deprecated: use --workload".into());
    }
    workload.clone().or_else(|| controller.clone())
}

fn workload_id(text: &str, namespace: &str, flag: &str) -> anyhow::Result<ResourceId> {
    ResourceId::parse_with_default_namespace(text, Some(namespace))
        .map_err(|e| usage(format!("{flag}: {e}")))
}

fn pattern_flag(flag: &str, pattern: &str) -> anyhow::Result<String> {
    TagPattern::parse(pattern)
        .map(|p| p.to_string())
        .map_err(|e| usage(format!("{flag}: {e}")))
}

fn release(
    a: &crate::args::ReleaseArgs,
    ns: &Namespaces<'_>,
    mode: &Mode,
    env: &Env,
    notes: &mut Vec<String>,
) -> anyhow::Result<Release> {
    let image = match (&a.update_image, a.update_all_images) {
        (Some(_), true) => {
            return Err(usage(
                "give either --update-image=IMAGE:TAG or --update-all-images, not both",
            ));
        }
        (None, false) => {
            return Err(usage(
                "give one of --update-image=IMAGE:TAG or --update-all-images",
            ));
        }
        (Some(text), false) => text
            .parse::<ImageSpec>()
            .map_err(|e| usage(format!("--update-image: {e}")))?,
        (None, true) => ImageSpec::Latest,
    };
    let mut named = a.workload.clone();
    if !a.controller.is_empty() {
        notes.push("--controller is deprecated: use --workload".into());
        named.extend(a.controller.iter().cloned());
    }
    named.retain(|w| !w.is_empty());
    match (named.is_empty(), a.all) {
        (true, false) => {
            return Err(usage(
                "give --all, or the workloads to release with --workload=NAMESPACE:KIND/NAME",
            ));
        }
        (false, true) => return Err(usage("give either --all or --workload, not both")),
        _ => {}
    }
    if a.watch && a.dry_run {
        return Err(usage(
            "--watch and --dry-run cannot be used together: a dry run has no rollout",
        ));
    }
    if a.force && a.all && a.update_all_images {
        return Err(usage(
            "--force has no effect with both --all and --update-all-images",
        ));
    }
    if a.force && a.all {
        notes.push("--force does not release locked workloads when used with --all".into());
    } else if a.force && a.update_all_images {
        notes.push(
            "--force does not override tag filters when used with --update-all-images".into(),
        );
    }
    let namespace = ns.or_default(a.namespace.as_deref());
    let workloads = if a.all {
        None
    } else {
        Some(
            named
                .iter()
                .map(|w| workload_id(w, &namespace, "--workload"))
                .collect::<anyhow::Result<Vec<_>>>()?,
        )
    };
    let excludes = a
        .exclude
        .iter()
        .filter(|w| !w.is_empty())
        .map(|w| workload_id(w, &namespace, "--exclude"))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let registry = registry(&a.registry, mode)?;
    if let (Mode::Local(_), ImageSpec::Latest, false) = (mode, &image, registry.enabled) {
        return Err(usage(
            "--update-all-images with --local needs --registry: the newest tags come from the image registries",
        ));
    }
    if a.interactive && matches!(mode, Mode::Local(_)) {
        return Err(usage("--interactive is not available with --local"));
    }
    if a.watch && matches!(mode, Mode::Local(_)) {
        return Err(usage(
            "--watch is not available with --local: there is no rollout without fluxd",
        ));
    }
    Ok(Release {
        workloads,
        image,
        excludes,
        kind: if a.dry_run || a.interactive {
            ReleaseKind::Plan
        } else {
            ReleaseKind::Execute
        },
        force: a.force,
        interactive: a.interactive,
        watch: a.watch,
        cause: cause(&a.cause, env),
        results: results(&a.result),
        registry,
    })
}

fn policy(
    a: &WorkloadArgs,
    update: PolicyUpdate,
    ns: &Namespaces<'_>,
    env: &Env,
    notes: &mut Vec<String>,
) -> anyhow::Result<PolicyChange> {
    let workload = deprecated_alias(&a.workload, &a.controller, notes)
        .filter(|w| !w.is_empty())
        .ok_or_else(|| usage("give the workload with --workload=NAMESPACE:KIND/NAME (-w)"))?;
    let namespace = ns.or_default(a.namespace.as_deref());
    let workload = workload_id(&workload, &namespace, "--workload")?;
    let update = update.validated().map_err(|e| usage(e.to_string()))?;
    Ok(PolicyChange {
        workload,
        update,
        cause: cause(&a.cause, env),
        results: results(&a.result),
    })
}
