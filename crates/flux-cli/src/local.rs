//! `--local DIR`: answer read-only commands from a config repository checkout.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use anyhow::Context as _;
use flux_core::manifest::{LoadOptions, Manifests, load_dir};
use flux_core::{Ignore, Policies, Resource, ScopeTable};
use serde_json::json;

use crate::args::{Cli, Command, OutputFormat};
use crate::format::write_table;

/// Runs `cli.command` against the manifests in `dir`.
pub fn run(dir: &Path, cli: &Cli, out: &mut dyn Write) -> anyhow::Result<()> {
    let options = LoadOptions {
        default_namespace: cli.k8s_default_namespace.clone(),
        ..LoadOptions::default()
    };
    let manifests = load_dir(dir, &cli.git_path, &ScopeTable::builtin(), &options)
        .with_context(|| format!("reading manifests in {}", dir.display()))?;
    match &cli.command {
        Command::ListWorkloads { list, container } => {
            let ns = list.namespace_filter(&cli.k8s_default_namespace);
            list_workloads(
                &manifests,
                ns,
                container.as_deref(),
                list.no_headers,
                list.output_format,
                out,
            )
        }
        Command::ListManifests { list } => {
            let ns = if list.namespace.is_none() && !list.all_namespaces {
                None // every resource a sync would apply, unless narrowed
            } else {
                list.namespace_filter(&cli.k8s_default_namespace)
            };
            list_manifests(&manifests, ns, list.no_headers, list.output_format, out)
        }
    }
}

fn in_namespace(r: &Resource, ns: Option<&str>) -> bool {
    ns.is_none_or(|ns| r.id().namespace() == Some(ns))
}

/// Policy flags shown by `list-workloads`, in name order.
fn policy_flags(policies: &Policies) -> BTreeMap<&'static str, bool> {
    BTreeMap::from([
        ("automated", policies.automated),
        ("locked", policies.locked),
        ("ignore", policies.ignore != Ignore::No),
    ])
}

fn list_workloads(
    manifests: &Manifests,
    ns: Option<&str>,
    container: Option<&str>,
    no_headers: bool,
    format: OutputFormat,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let mut rows = Vec::new();
    let mut json_rows = Vec::new();
    if !no_headers {
        rows.push(
            ["WORKLOAD", "CONTAINER", "IMAGE", "RELEASE", "POLICY"]
                .map(String::from)
                .to_vec(),
        );
    }
    for w in manifests.workloads().filter(|w| in_namespace(w, ns)) {
        let containers = w
            .containers()
            .with_context(|| format!("{} ({})", w.id(), w.source()))?;
        if container.is_some_and(|c| !containers.iter().any(|x| x.name == c)) {
            continue;
        }
        let policies = Policies::of(w).with_context(|| format!("{} ({})", w.id(), w.source()))?;
        let flags = policy_flags(&policies);
        let policy: Vec<&str> = flags
            .iter()
            .filter(|(_, on)| **on)
            .map(|(k, _)| *k)
            .collect();
        let policy = policy.join(",");
        match containers.split_first() {
            Some((first, rest)) => {
                rows.push(vec![
                    w.id().to_string(),
                    first.name.clone(),
                    first.image.clone(),
                    String::new(),
                    policy,
                ]);
                for c in rest {
                    rows.push(vec![
                        String::new(),
                        c.name.clone(),
                        c.image.clone(),
                        String::new(),
                        String::new(),
                    ]);
                }
            }
            None => rows.push(vec![
                w.id().to_string(),
                String::new(),
                String::new(),
                String::new(),
                policy,
            ]),
        }
        json_rows.push(json!({
            "ID": w.id(),
            "Containers": containers.iter().map(|c| json!({"Name": c.name, "Current": {"ID": c.image}})).collect::<Vec<_>>(),
            "Automated": flags["automated"],
            "Locked": flags["locked"],
            "Ignore": flags["ignore"],
            "Source": w.source(),
        }));
    }
    match format {
        OutputFormat::Tab => write_table(out, &rows)?,
        OutputFormat::Json => writeln!(out, "{}", serde_json::to_string_pretty(&json_rows)?)?,
    }
    Ok(())
}

fn list_manifests(
    manifests: &Manifests,
    ns: Option<&str>,
    no_headers: bool,
    format: OutputFormat,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let chosen: Vec<&Resource> = manifests
        .resources
        .values()
        .filter(|r| in_namespace(r, ns))
        .collect();
    match format {
        OutputFormat::Tab => {
            let mut rows = Vec::new();
            if !no_headers {
                rows.push(vec!["RESOURCE".to_string(), "SOURCE".to_string()]);
            }
            for r in &chosen {
                rows.push(vec![r.id().to_string(), r.source().to_string()]);
            }
            write_table(out, &rows)?;
            for u in &manifests.unscoped {
                writeln!(out, "skipped: {u}")?;
            }
        }
        OutputFormat::Json => {
            let value = json!({
                "resources": chosen.iter().map(|r| json!({"ID": r.id(), "Source": r.source()})).collect::<Vec<_>>(),
                "skipped": manifests.unscoped.iter().map(ToString::to_string).collect::<Vec<_>>(),
            });
            writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
        }
    }
    Ok(())
}
