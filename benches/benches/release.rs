//! Release and automation calculation over a 1,000-file repository (250
//! automated Deployments with semver filters, 20 tags per repository), edits
//! included.
//!
//! Run with `cargo bench -p flux-benches --bench release`.

use chrono::{TimeZone, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use flux_core::ScopeTable;
use flux_core::automation::calculate_automation;
use flux_core::manifest::{FileSet, LoadOptions, parse_files};
use flux_core::registry::MemoryRegistry;
use flux_core::release::{ReleaseContext, ReleaseKind, ReleaseSpec, calculate_release};

fn bench(c: &mut Criterion) {
    let n = 1000;
    let files: FileSet = (0..n)
        .map(|i| {
            (
                format!("apps/m-{i:05}.yaml"),
                flux_benches::manifest(i).into_bytes(),
            )
        })
        .collect();
    let manifests = parse_files(
        &files,
        &[String::new()],
        &ScopeTable::builtin(),
        &LoadOptions::default(),
    )
    .expect("valid manifests");
    let mut registry = MemoryRegistry::new();
    for i in (0..n).step_by(4) {
        let repo = format!("registry.example.com/team/app-{i}")
            .parse()
            .expect("name");
        for minor in 0..7 {
            for patch in 0..3 {
                let at = Utc.timestamp_opt(i64::from(minor * 10 + patch), 0).single();
                registry.add(&repo, &format!("1.{minor}.{}", patch + 3), at);
            }
        }
    }
    let cx = ReleaseContext {
        manifests: &manifests,
        files: &files,
        in_cluster: None,
        registry: &registry,
    };
    let mut group = c.benchmark_group("release-1000-files");
    group.sample_size(20);
    group.bench_function("calculate_automation", |b| {
        b.iter(|| {
            let r = calculate_automation(&cx);
            assert_eq!(r.edits.len(), 250);
            r
        })
    });
    let spec = ReleaseSpec {
        workloads: None,
        image: "<all latest>".parse().expect("spec"),
        kind: ReleaseKind::Plan,
        excludes: Vec::new(),
        force: false,
    };
    group.bench_function("calculate_release <all latest>", |b| {
        b.iter(|| calculate_release(&spec, &cx).expect("release"))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
