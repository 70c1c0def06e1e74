//! `list-workloads`, `list-manifests` and `list-images` on a checkout.
//!
//! A workload whose containers, images or policies cannot be read is still
//! listed, with the problem on it (JSON `Error`, `(invalid)` in the table)
//! and a note naming the file and line on stderr, so one bad manifest does
//! not hide the others.

use std::collections::BTreeMap;
use std::io::Write;

use flux_core::image::ImageRef;
use flux_core::policy::{Ignore, Policies, Policy};
use flux_core::{Resource, ResourceId};

use super::Checkout;
use crate::format;
use crate::request::{RegistryAccess, Table};
use crate::view::{self, Workload, WorkloadImages};

fn in_namespace(id: &ResourceId, ns: Option<&str>) -> bool {
    ns.is_none_or(|ns| id.namespace() == Some(ns))
}

/// The annotation marking a workload made by a HelmRelease.
const ANTECEDENT: &str = "helm.fluxcd.io/antecedent";

/// A workload as listed, with notes for what could not be read.
pub(crate) fn workload_view(w: &Resource, notes: &mut Vec<String>) -> Workload {
    let at = format!("{} ({})", w.id(), w.source());
    let mut view = Workload {
        id: w.id().to_string(),
        source: Some(w.source().to_string()),
        labels: w
            .labels()
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
        antecedent: w
            .annotations()
            .get(ANTECEDENT)
            .map(|s| (*s).to_owned())
            .unwrap_or_default(),
        ..Workload::default()
    };
    match w.containers() {
        Ok(containers) => {
            for c in containers {
                let error = ImageRef::parse(&c.image).err().map(|e| e.to_string());
                if let Some(e) = &error {
                    notes.push(format!("{at}: container {}: {e}", c.name));
                }
                view.containers.push(view::Container {
                    name: c.name,
                    current: view::Image {
                        id: c.image,
                        error,
                        ..view::Image::default()
                    },
                    ..view::Container::default()
                });
            }
        }
        Err(e) => {
            notes.push(format!("{at}: {e}"));
            view.error = Some(e.to_string());
        }
    }
    match Policies::of(w) {
        Ok(p) => {
            view.automated = p.automated;
            view.locked = p.locked;
            view.ignore = p.ignore != Ignore::No;
        }
        Err(e) => {
            notes.push(format!("{at}: {e}"));
            view.error.get_or_insert_with(|| e.to_string());
        }
    }
    view.policies = policy_values(w);
    view
}

/// Every policy annotation by policy name (`automated`, `tag.app`, …).
fn policy_values(w: &Resource) -> BTreeMap<String, String> {
    w.annotations()
        .into_iter()
        .filter_map(|(k, v)| Policy::from_annotation_key(k).map(|p| (p.to_string(), v.to_owned())))
        .collect()
}

/// `list-workloads`.
pub fn workloads(
    checkout: &Checkout,
    namespace: Option<&str>,
    container: Option<&str>,
    table: Table,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<()> {
    let mut notes = Vec::new();
    let list: Vec<Workload> = checkout
        .manifests
        .workloads()
        .filter(|w| in_namespace(w.id(), namespace))
        .map(|w| workload_view(w, &mut notes))
        .filter(|w| container.is_none_or(|c| w.containers.iter().any(|x| x.name == c)))
        .collect();
    format::workloads(out, &list, table, false)?;
    for n in notes {
        writeln!(err, "Note: {n}")?;
    }
    Ok(())
}

/// `list-manifests`.
pub fn manifests(
    checkout: &Checkout,
    namespace: Option<&str>,
    table: Table,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let list: Vec<view::Manifest> = checkout
        .manifests
        .resources
        .values()
        .filter(|r| in_namespace(r.id(), namespace))
        .map(|r| view::Manifest {
            id: r.id().to_string(),
            source: r.source().to_string(),
        })
        .collect();
    format::manifests(out, &list, table)
}

/// `list-images`: the images in use, and with `--registry` the tags the
/// registries have.
#[allow(clippy::too_many_arguments)]
pub fn images(
    checkout: &Checkout,
    namespace: &str,
    workload: Option<&ResourceId>,
    limit: usize,
    table: Table,
    registry: &RegistryAccess,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<()> {
    if let Some(id) = workload {
        super::edit::require_workloads(checkout, std::slice::from_ref(id))?;
    }
    let mut notes = Vec::new();
    let chosen: Vec<&Resource> = checkout
        .manifests
        .workloads()
        .filter(|w| match workload {
            Some(id) => w.id() == id,
            None => w.id().namespace() == Some(namespace),
        })
        .collect();
    let mut list: Vec<WorkloadImages> = chosen
        .iter()
        .map(|w| {
            let v = workload_view(w, &mut notes);
            WorkloadImages {
                id: v.id,
                containers: v.containers,
                error: v.error,
            }
        })
        .collect();
    if registry.enabled {
        super::registry::fill_available(&chosen, &mut list, registry, &mut notes)?;
    } else {
        for c in list.iter_mut().flat_map(|w| w.containers.iter_mut()) {
            c.available_error = "tags not looked up (add --registry)".into();
        }
    }
    format::images(out, &list, table, limit)?;
    for n in notes {
        writeln!(err, "Note: {n}")?;
    }
    Ok(())
}
