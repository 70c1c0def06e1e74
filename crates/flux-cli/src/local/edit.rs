//! `release` and the policy commands on a checkout: plan with flux-core,
//! print the results, then write the files, or nothing.
//!
//! Nothing is written when any named workload is missing, when any
//! workload's edit fails, or when a file to write is read-only or has
//! uncommitted changes ([`super::write`]); the results are printed either
//! way, so the user sees why.

use std::collections::BTreeMap;
use std::io::Write;

use flux_core::ResourceId;
use flux_core::registry::MemoryRegistry;
use flux_core::release::{
    ImageSpec, ReleaseContext, ReleaseKind, ReleaseResult, ReleaseSpec, calculate_policy_updates,
    calculate_release,
};

use flux_generate::Calculated;

use super::Checkout;
use crate::format;
use crate::request::{PolicyChange, Release};
use crate::view::Outcome;

/// Fails unless every ID in `ids` is a resource of the checkout, naming the
/// missing ones and the workloads of their namespaces.
pub fn require_workloads(checkout: &Checkout, ids: &[ResourceId]) -> anyhow::Result<()> {
    let missing: Vec<&ResourceId> = ids
        .iter()
        .filter(|id| !checkout.manifests.resources.contains_key(id))
        .collect();
    let Some(first) = missing.first() else {
        return Ok(());
    };
    let ns = first.namespace();
    let known: Vec<String> = checkout
        .manifests
        .workloads()
        .filter(|w| w.id().namespace() == ns)
        .map(|w| w.id().to_string())
        .collect();
    let names: Vec<String> = missing.iter().map(ToString::to_string).collect();
    let hint = if known.is_empty() {
        format!("no workloads in namespace {}", first.namespace_or_cluster())
    } else {
        format!(
            "workloads in {}: {}",
            first.namespace_or_cluster(),
            known.join(", ")
        )
    };
    anyhow::bail!(
        "{} not defined in {} ({hint})",
        match names.as_slice() {
            [one] => format!("workload {one} is"),
            many => format!("workloads {} are", many.join(", ")),
        },
        checkout.dir.display()
    )
}

/// `release --local`.
pub fn release(
    checkout: &Checkout,
    r: &Release,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<()> {
    if let Some(ids) = &r.workloads {
        require_workloads(checkout, ids)?;
    }
    let spec = ReleaseSpec {
        workloads: r.workloads.clone(),
        image: r.image.clone(),
        kind: r.kind,
        excludes: r.excludes.clone(),
        force: r.force,
    };
    let mut notes = Vec::new();
    let scanned;
    let given;
    let registry: &dyn flux_core::RegistryView = if r.registry.enabled {
        scanned = super::registry::scan_for_release(checkout, &spec, &r.registry, &mut notes)?;
        scanned.as_ref()
    } else {
        // Offline, the image asked for is taken to exist.
        let mut m = MemoryRegistry::new();
        if let ImageSpec::Image(image) = &r.image {
            m.add_tag_only(image.name(), image.tag().unwrap_or_default());
        }
        given = m;
        &given
    };
    for n in notes {
        writeln!(err, "Note: {n}")?;
    }
    let cx = ReleaseContext {
        manifests: &checkout.manifests,
        files: &checkout.files,
        in_cluster: None,
        registry,
    };
    let result = calculate_release(&spec, &cx)?;
    finish(
        checkout,
        Calculated::Release(result),
        r.kind,
        r.results,
        out,
        err,
    )
}

/// `automate`, `deautomate`, `lock`, `unlock` and `policy --local`.
pub fn policy(
    checkout: &Checkout,
    p: &PolicyChange,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<()> {
    require_workloads(checkout, std::slice::from_ref(&p.workload))?;
    let updates = BTreeMap::from([(p.workload.clone(), p.update.clone())]);
    let result = calculate_policy_updates(&checkout.manifests, &checkout.files, &updates);
    let calculated = Calculated::Policies { result, updates };
    finish(
        checkout,
        calculated,
        ReleaseKind::Execute,
        p.results,
        out,
        err,
    )
}

/// Prints the results, then (unless planning, or a workload failed)
/// writes the edits.
fn finish(
    checkout: &Checkout,
    calculated: Calculated,
    kind: ReleaseKind,
    results: crate::request::Results,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<()> {
    let result: &ReleaseResult = calculated.result();
    let outcomes: Vec<Outcome> = crate::view::outcomes(result);
    format::outcomes(out, &outcomes, results)?;
    if let Some(e) = result.error() {
        anyhow::bail!("{e}; nothing was written");
    }
    let (edits, files) = if result.edits.is_empty() {
        (Vec::new(), checkout.files.clone())
    } else {
        checkout.edits_for(calculated.clone())?
    };
    if edits.is_empty() {
        writeln!(err, "Nothing to do")?;
        return Ok(());
    }
    if kind == ReleaseKind::Plan {
        if results.format == crate::args::OutputFormat::Tab {
            writeln!(out)?;
            for edit in &edits {
                let old = files
                    .get(&edit.file)
                    .map(String::from_utf8_lossy)
                    .unwrap_or_default();
                write!(
                    out,
                    "{}",
                    crate::diff::unified(&edit.file, &old, &edit.text)
                )?;
            }
        }
        writeln!(err, "Dry run: nothing was written")?;
        return Ok(());
    }
    super::write::write_edits(&checkout.dir, &files, &edits, checkout.allow_dirty)?;
    for edit in &edits {
        writeln!(err, "Changed {}", edit.file)?;
    }
    Ok(())
}
