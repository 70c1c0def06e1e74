//! What reading a large tag list page costs: decoding 100,000 tags the way
//! the client did before tag lists were capped (into a `Vec<String>`, then
//! checking each tag) against [`parse_page`], which checks tags as it reads
//! them and copies only valid ones up to the cap.
//!
//! Run with `cargo bench -p flux-registry --bench tag_list`. Medians on the
//! shared 2-core machine (load average 14), two runs: before 23.2 / 30.5 ms,
//! after (cap 100k) 32.0 / 28.8 ms, cap 10k 14.3 / 12.8 ms for a 2.2 MB page:
//! the same within the noise. The gain is memory, not time: see the probe in
//! `client/proptests.rs` (a hostile 32 MiB page: 641 MiB before, 6 MiB after).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use flux_registry::client::reference::check_tag;
use flux_registry::client::tags::parse_page;

/// A page of `n` tags shaped like CI build tags (`1.2.3-build.00042`).
fn page(n: usize) -> Vec<u8> {
    let tags: Vec<String> = (0..n)
        .map(|i| format!("{}.{}.{}-build.{i:05}", i % 7, i % 13, i % 31))
        .collect();
    serde_json::json!({"name": "team/app", "tags": tags})
        .to_string()
        .into_bytes()
}

fn before(body: &[u8]) -> (Vec<String>, Vec<String>) {
    #[derive(serde::Deserialize)]
    struct Raw {
        #[serde(default)]
        tags: Option<Vec<String>>,
    }
    let raw: Raw = serde_json::from_slice(body).expect("a page");
    raw.tags
        .unwrap_or_default()
        .into_iter()
        .partition(|t| check_tag(t).is_ok())
}

fn bench(c: &mut Criterion) {
    let body = page(100_000);
    let mut g = c.benchmark_group("tag_list_100k");
    g.throughput(criterion::Throughput::Bytes(body.len() as u64));
    g.bench_function("decode_then_check (before)", |b| {
        b.iter(|| before(black_box(&body)))
    });
    g.bench_function("parse_page, cap 100k (after)", |b| {
        b.iter(|| parse_page(black_box(&body), 100_000).expect("a page"))
    });
    g.bench_function("parse_page, cap 10k", |b| {
        b.iter(|| parse_page(black_box(&body), 10_000).expect("a page"))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
