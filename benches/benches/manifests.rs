//! Parsing and indexing a generated 10,000-manifest repository.
//!
//! Run with `cargo bench -p flux-benches --bench manifests`. The comparison
//! against ruamel.yaml is `benches/compare/manifests.sh`. The result is dropped
//! outside the timing (`iter_with_large_drop`): fluxd keeps what it loads.

use criterion::{Criterion, criterion_group, criterion_main};
use flux_core::ScopeTable;
use flux_core::manifest::{FileSet, LoadOptions, load_dir, parse_files};

fn bench(c: &mut Criterion) {
    let dir = tempfile_dir();
    flux_benches::generate_repo(&dir, 10_000).expect("generate repository");
    let scopes = ScopeTable::builtin();
    let options = LoadOptions::default();
    let files: FileSet = (0..10_000)
        .map(|i| {
            (
                format!("apps/m-{i:05}.yaml"),
                flux_benches::manifest(i).into_bytes(),
            )
        })
        .collect();
    let mut group = c.benchmark_group("manifests-10k");
    group.sample_size(20);
    group.bench_function("parse_files (in memory)", |b| {
        b.iter_with_large_drop(|| {
            parse_files(&files, &[String::new()], &scopes, &options).expect("valid")
        })
    });
    group.bench_function("load_dir (read + parse)", |b| {
        b.iter_with_large_drop(|| load_dir(&dir, &["."], &scopes, &options).expect("valid"))
    });
    group.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("flux-bench-manifests-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

criterion_group!(benches, bench);
criterion_main!(benches);
