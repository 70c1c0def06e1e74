//! Byte-preserving edits in a 1,000-document file: one image update and one
//! annotation added, in the middle of the file and at its end.
//!
//! Run with `cargo bench -p flux-benches --bench update`. The comparison
//! against a ruamel.yaml round trip is `benches/compare/update.sh`.

use criterion::{Criterion, criterion_group, criterion_main};
use flux_core::image::ImageRef;
use flux_core::manifest::SourceRef;
use flux_core::policy::AnnotationChange;
use flux_core::update::{set_annotations, set_container_image};

fn at(document: usize) -> SourceRef {
    SourceRef {
        file: "bench.yaml".into(),
        document,
        item: None,
        line: 0,
    }
}

fn bench(c: &mut Criterion) {
    let text = flux_benches::multi_document_file(1000);
    let mut group = c.benchmark_group("update-1000-docs");
    for doc in [500, 999] {
        // Document `doc` is manifest(doc * 4), whose app tag is 1.M.3.
        let k = doc * 4;
        let image: ImageRef = format!("registry.example.com/team/app-{k}:1.{}.4", k % 7)
            .parse()
            .expect("valid image");
        group.bench_function(format!("set_container_image doc {doc}"), |b| {
            b.iter(|| set_container_image(&text, &at(doc), "app", &image).expect("edits"))
        });
        let lock = [AnnotationChange {
            key: "fluxcd.io/locked".into(),
            value: Some("true".into()),
        }];
        group.bench_function(format!("set_annotations doc {doc}"), |b| {
            b.iter(|| set_annotations(&text, &at(doc), &lock).expect("edits"))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
