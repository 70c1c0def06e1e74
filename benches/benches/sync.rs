//! Sync planning at scale: 10,000 resources in git against 10,000 marked
//! objects in the cluster (half changed, a tenth new, a tenth gone from git),
//! plus the namespaces and workloads `export_workloads` lists again.
//!
//! Run with `cargo bench -p flux-benches --bench sync`. For where the
//! allocations are, run the same plan once under valgrind's DHAT:
//!
//! ```text
//! cargo build --release -p flux-benches --bin flux-bench
//! valgrind --tool=dhat --dhat-out-file=/tmp/dhat.out target/release/flux-bench plan-sync 8000 1
//! ```
//!
//! and open `/tmp/dhat.out` in DHAT's viewer (`dh_view.html`).

use criterion::{Criterion, criterion_group, criterion_main};
use flux_benches::sync::sync_world;
use flux_core::sync::{checksum, plan_gc, plan_sync};

fn bench(c: &mut Criterion) {
    let world = sync_world(8_000);
    eprintln!(
        "sync world: {} resources in git ({} up to date, {} changed, {} new), {} marked objects ({} gone from git), {} live objects given to the planner",
        world.desired.resources.len(),
        world.up_to_date,
        world.changed,
        world.new,
        world.marked,
        world.gone,
        world.live.len()
    );
    let plan = plan_sync(&world.desired, &world.live, &world.options);
    eprintln!(
        "plan: {} to apply, {} skipped, {} to delete",
        plan.apply_count(),
        plan.skipped.len(),
        plan.gc.to_delete().len()
    );

    let mut group = c.benchmark_group("sync-10k");
    group.sample_size(20);
    group.bench_function("plan_sync (apply + skip + GC)", |b| {
        b.iter(|| plan_sync(&world.desired, &world.live, &world.options))
    });
    group.bench_function("plan_gc alone", |b| {
        b.iter(|| plan_gc(&world.desired, &world.live, &world.options))
    });
    let mut unchanged = world.options.clone();
    unchanged.apply_unchanged = true;
    group.bench_function("plan_sync, apply everything (no up-to-date check)", |b| {
        b.iter(|| plan_sync(&world.desired, &world.live, &unchanged))
    });
    group.bench_function("checksum of every git object", |b| {
        b.iter(|| {
            world
                .desired
                .resources
                .values()
                .map(|r| checksum(&r.object().to_value()))
                .collect::<Vec<_>>()
        })
    });
    group.bench_function("gc_mark of every ID", |b| {
        b.iter(|| {
            world
                .desired
                .resources
                .keys()
                .map(|id| world.options.sync_set.gc_mark(id))
                .collect::<Vec<_>>()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
