//! `sync --local DIR --dry-run`: what a sync of the checkout would do.
//!
//! Without a kubeconfig: what would be applied, in fluxd's order, and what
//! would be skipped and why. With `--kubeconfig`: the plan against that
//! cluster (flux-core's `plan_sync` on the live objects flux-kube reads, as
//! fluxd plans), each object to change shown as a diff of the live object
//! and the object after a server-side dry-run apply (like `kubectl diff`),
//! objects to create as their whole new text, and garbage collection's
//! decisions: what it would delete and why the rest is kept. Nothing is
//! written to the cluster: reads and `dryRun=All` applies only.
//!
//! Garbage collection needs the sync set name fluxd uses, made of the git
//! URL, branch and paths: `--git-url` (else the checkout's `origin`
//! remote), `--git-branch` (`master`) and `--git-path`.

use std::io::Write;

use anyhow::Context as _;
use flux_core::cluster::{ApplyObject, Namespaces};
use flux_core::sync::{GcMode, SkipReason, SyncOptions, SyncSetName, plan_sync, read_live};
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::GroupVersionKind;
use serde::Serialize;
use serde_json::Value;

use super::Checkout;
use crate::args::OutputFormat;
use crate::request::{Local, Sync};

/// One thing the sync would do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Step {
    /// `namespace:kind/name`.
    #[serde(rename = "ID")]
    pub id: String,
    /// `apply`, `create`, `configure`, `skip`, `delete` or `keep`.
    pub action: String,
    /// Where git defines it, if it does.
    pub source: String,
    /// Why (for skip, delete and keep).
    pub reason: String,
    /// The change, as a unified diff (with a cluster only).
    pub diff: String,
}

/// Runs the dry run.
pub fn dry_run(
    local: &Local,
    checkout: &Checkout,
    s: &Sync,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<()> {
    let paths: Vec<String> = local.git_paths.clone();
    let url = s.git_url.clone().or_else(|| origin_url(&checkout.dir));
    let sync_set = match &url {
        Some(u) => SyncSetName::from_git(u, &s.git_branch, &paths),
        None => {
            writeln!(
                err,
                "Note: no --git-url and no origin remote: garbage collection marks cannot be matched"
            )?;
            SyncSetName::new("")
        }
    };
    let mut options = SyncOptions::new(sync_set);
    options.namespaces = Namespaces::from_list(&s.allow_namespaces);
    options.gc = GcMode::DryRun;
    let steps = match &s.kubeconfig {
        None => {
            let plan = plan_sync(&checkout.manifests, &[], &options);
            let mut steps: Vec<Step> = plan
                .applies()
                .map(|a| step(checkout, a, "apply", String::new()))
                .collect();
            steps.extend(skips(checkout, &plan.skipped));
            steps
        }
        Some(path) => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?;
            runtime.block_on(against_cluster(
                checkout,
                path,
                s.context.as_deref(),
                &options,
            ))?
        }
    };
    print(&steps, s.format, out, err)
}

fn origin_url(dir: &std::path::Path) -> Option<String> {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["remote", "get-url", "origin"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let url = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (out.status.success() && !url.is_empty()).then_some(url)
}

fn source_of(checkout: &Checkout, id: &flux_core::ResourceId) -> String {
    checkout
        .manifests
        .resources
        .get(id)
        .map(|r| r.source().to_string())
        .unwrap_or_default()
}

fn step(checkout: &Checkout, a: &ApplyObject, action: &str, diff: String) -> Step {
    Step {
        id: a.id.to_string(),
        action: action.into(),
        source: source_of(checkout, &a.id),
        reason: String::new(),
        diff,
    }
}

fn skips(checkout: &Checkout, skipped: &[flux_core::sync::Skipped]) -> Vec<Step> {
    skipped
        .iter()
        .map(|sk| Step {
            id: sk.id.to_string(),
            action: if sk.reason == SkipReason::UpToDate {
                "unchanged".into()
            } else {
                "skip".into()
            },
            source: source_of(checkout, &sk.id),
            reason: sk.reason.to_string(),
            diff: String::new(),
        })
        .collect()
}

async fn against_cluster(
    checkout: &Checkout,
    kubeconfig: &std::path::Path,
    context: Option<&str>,
    options: &SyncOptions,
) -> anyhow::Result<Vec<Step>> {
    let kc = kube::config::Kubeconfig::read_from(kubeconfig)
        .with_context(|| format!("reading kubeconfig {}", kubeconfig.display()))?;
    let config = kube::Config::from_custom_kubeconfig(
        kc,
        &kube::config::KubeConfigOptions {
            context: context.map(str::to_owned),
            ..Default::default()
        },
    )
    .await
    .with_context(|| format!("loading kubeconfig {}", kubeconfig.display()))?;
    let client = kube::Client::try_from(config.clone()).context("making a Kubernetes client")?;
    let cluster = flux_kube::KubeCluster::from_config(
        config,
        flux_kube::Options {
            namespaces: options.namespaces.clone(),
            ..flux_kube::Options::default()
        },
    )?;
    let live = read_live(&cluster, options)
        .await
        .context("reading the cluster")?;
    let plan = plan_sync(&checkout.manifests, &live, options);
    let mut steps = Vec::new();
    for a in plan.applies() {
        let (action, diff) = preview(&client, a).await?;
        steps.push(step(checkout, a, action, diff));
    }
    steps.extend(skips(checkout, &plan.skipped));
    for id in &plan.gc.candidates {
        let object = live
            .iter()
            .find(|l| &l.id == id)
            .map(|l| clean(l.object.to_value()))
            .unwrap_or(Value::Null);
        steps.push(Step {
            id: id.to_string(),
            action: "delete".into(),
            source: String::new(),
            reason: "gone from git; carries this sync's garbage collection mark".into(),
            diff: crate::diff::labelled(&format!("a/{id}"), "/dev/null", &yaml(&object), ""),
        });
    }
    for k in &plan.gc.kept {
        steps.push(Step {
            id: k.id.to_string(),
            action: "keep".into(),
            source: String::new(),
            reason: format!("gone from git, but {}", k.reason),
            diff: String::new(),
        });
    }
    for b in &plan.gc.blocked {
        steps.push(Step {
            id: String::new(),
            action: "no-delete".into(),
            source: String::new(),
            reason: format!("garbage collection would delete nothing: {b}"),
            diff: String::new(),
        });
    }
    Ok(steps)
}

/// The live object and what a dry-run server-side apply makes of it.
async fn preview(client: &kube::Client, a: &ApplyObject) -> anyhow::Result<(&'static str, String)> {
    let object = a.object.to_value();
    let api_version = object["apiVersion"].as_str().unwrap_or_default();
    let kind = object["kind"].as_str().unwrap_or_default();
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let gvk = GroupVersionKind::gvk(group, version, kind);
    let new_text = yaml(&clean(object.clone()));
    let Ok((resource, caps)) = kube::discovery::pinned_kind(client, &gvk).await else {
        // A kind the cluster does not serve yet (its CRD comes in this sync).
        return Ok((
            "create",
            crate::diff::labelled("/dev/null", &format!("b/{}", a.id), "", &new_text),
        ));
    };
    let api: Api<DynamicObject> = match (caps.scope, a.id.namespace()) {
        (kube::discovery::Scope::Namespaced, Some(ns)) => {
            Api::namespaced_with(client.clone(), ns, &resource)
        }
        _ => Api::all_with(client.clone(), &resource),
    };
    let name = a.id.name();
    let current = api
        .get_opt(name)
        .await
        .with_context(|| format!("reading {} from the cluster", a.id))?;
    let Some(current) = current else {
        return Ok((
            "create",
            crate::diff::labelled("/dev/null", &format!("b/{}", a.id), "", &new_text),
        ));
    };
    let params = PatchParams::apply("flux").force().dry_run();
    let merged = api
        .patch(name, &params, &Patch::Apply(&a.object))
        .await
        .with_context(|| format!("dry-run apply of {}", a.id))?;
    let before = yaml(&clean(serde_json::to_value(&current)?));
    let after = yaml(&clean(serde_json::to_value(&merged)?));
    Ok((
        "configure",
        crate::diff::labelled(
            &format!("a/{}", a.id),
            &format!("b/{}", a.id),
            &before,
            &after,
        ),
    ))
}

/// Drops what the server sets and nobody writes (managed fields,
/// versions, uid, timestamps, status).
fn clean(mut v: Value) -> Value {
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        for k in [
            "managedFields",
            "resourceVersion",
            "generation",
            "uid",
            "creationTimestamp",
        ] {
            m.remove(k);
        }
    }
    if let Some(m) = v.as_object_mut() {
        m.remove("status");
    }
    v
}

fn yaml(v: &Value) -> String {
    if v.is_null() {
        return String::new();
    }
    serde_saphyr::to_string(v).unwrap_or_else(|e| format!("# cannot show: {e}\n"))
}

fn print(
    steps: &[Step],
    format: OutputFormat,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<()> {
    if format == OutputFormat::Json {
        return crate::format::write_json(out, steps);
    }
    let mut rows = vec![vec![
        "ACTION".to_owned(),
        "RESOURCE".into(),
        "SOURCE".into(),
        "REASON".into(),
    ]];
    for s in steps {
        rows.push(vec![
            s.action.clone(),
            s.id.clone(),
            s.source.clone(),
            s.reason.clone(),
        ]);
    }
    crate::format::write_table(out, &rows)?;
    for s in steps.iter().filter(|s| !s.diff.is_empty()) {
        writeln!(out)?;
        write!(out, "{}", s.diff)?;
    }
    let count = |a: &str| steps.iter().filter(|s| s.action == a).count();
    writeln!(
        err,
        "Dry run: {} to apply, {} to create, {} to configure, {} unchanged, {} skipped, {} to delete, {} kept; nothing was written",
        count("apply"),
        count("create"),
        count("configure"),
        count("unchanged"),
        count("skip"),
        count("delete"),
        count("keep"),
    )?;
    Ok(())
}
