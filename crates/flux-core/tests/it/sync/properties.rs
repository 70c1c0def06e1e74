//! The seven properties of sync planning and GC, over generated scenarios
//! run against the in-memory cluster. flux-kube's `differential` test runs
//! the same kind of scenarios through the real adapter against the API
//! emulator and checks that the two agree, which is what makes these
//! properties say something about the adapter too.
//!
//! Each property runs [`DEFAULT_CASES`] cases (12,000 in all across the
//! eight runners). Set `PROPTEST_CASES` to run that many per property, e.g.
//! `PROPTEST_CASES=50000 cargo nextest run -p flux-core --release sync::properties`.

use std::collections::{BTreeMap, BTreeSet};

use flux_core::cluster::ClusterErrorKind;
use flux_core::cluster::LiveObject;
use flux_core::manifest::{LoadOptions, Manifests, parse_files};
use flux_core::sync::{
    CHECKSUM_ANNOTATION, GC_MARK_LABEL, GcBlocked, GcMode, PlanWarning, SkipReason, SyncPlan,
    SyncReport, allows, checksum, load_and_run, plan_sync, read_live, run,
};
use flux_core::testing::strategies::{self, Scenario};
use flux_core::testing::{Call, Failure, MemoryCluster, Operation, block_on};
use flux_core::{ResourceId, ScopeTable};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRunner};
use serde_json::Value;

/// Cases per property in a normal test run.
const DEFAULT_CASES: u32 = 1_500;

fn config() -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_CASES);
    Config {
        cases,
        failure_persistence: None,
        // Generation dominates these cases; ChaCha is slow in debug builds.
        rng_algorithm: RngAlgorithm::XorShift,
        ..Config::default()
    }
}

fn check<S: Strategy>(strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>)
where
    S::Value: std::fmt::Debug,
{
    let mut runner = TestRunner::new(config());
    if let Err(e) = runner.run(&strategy, test) {
        panic!("{e}");
    }
}

/// A scenario carried out on a fresh in-memory cluster.
struct Synced {
    desired: Manifests,
    cluster: MemoryCluster,
    before: BTreeMap<ResourceId, Value>,
    report: SyncReport,
    journal: Vec<Call>,
}

fn synced(scenario: &Scenario) -> Synced {
    let desired = scenario.desired().expect("generated repositories load");
    let cluster = scenario.memory_cluster();
    let before = cluster.objects();
    let report = block_on(run(&cluster, &desired, &scenario.options)).expect("cluster reads work");
    let journal = cluster.take_journal();
    Synced {
        desired,
        cluster,
        before,
        report,
        journal,
    }
}

fn deletes(journal: &[Call]) -> impl Iterator<Item = &ResourceId> {
    journal.iter().filter_map(|c| match c {
        Call::Delete { id, .. } => Some(id),
        _ => None,
    })
}

/// The ignore annotation, read independently of the planner.
fn ignore_value(object: &Value) -> Option<&str> {
    let a = &object["metadata"]["annotations"];
    let values = [
        a["fluxcd.io/ignore"].as_str(),
        a["flux.weave.works/ignore"].as_str(),
    ];
    if values.contains(&Some("true")) {
        Some("true")
    } else if values.contains(&Some("sync_only")) {
        Some("sync_only")
    } else {
        None
    }
}

/// Whether the planner can see a live object (the kinds `export_workloads`
/// returns, or a GC mark label).
fn visible(id: &ResourceId, object: &Value) -> bool {
    let exported = [
        "namespace",
        "deployment",
        "daemonset",
        "statefulset",
        "cronjob",
        "job",
        "pod",
        "helmrelease",
        "fluxhelmrelease",
    ]
    .contains(&id.kind());
    exported || object["metadata"]["labels"].get(GC_MARK_LABEL).is_some()
}

/// 1. Never delete an object without this sync set's mark (unmarked, or
///    marked by another set, or with a broken mark).
#[test]
fn never_deletes_what_this_sync_set_did_not_mark() {
    check(strategies::scenario(), |s| {
        let out = synced(&s);
        for id in deletes(&out.journal) {
            prop_assert!(s.is_ours(id), "deleted {id} without our mark");
        }
        for id in out
            .report
            .plan
            .gc
            .candidates
            .iter()
            .chain(out.report.gc.plan.iter().flat_map(|p| &p.candidates))
        {
            prop_assert!(s.is_ours(id), "GC candidate {id} without our mark");
        }
        if !s.options.gc_cascading {
            // Nothing vanished that was not ours, cascades included.
            let after = out.cluster.objects();
            for id in out.before.keys().filter(|id| !after.contains_key(*id)) {
                prop_assert!(s.is_ours(id), "{id} vanished without our mark");
            }
        }
        Ok(())
    });
}

/// 2. Never delete or apply outside the allowed namespaces.
#[test]
fn never_writes_outside_the_allowed_namespaces() {
    check(strategies::scenario(), |s| {
        let out = synced(&s);
        for call in &out.journal {
            if let Some(id) = call.written() {
                prop_assert!(allows(&s.options.namespaces, id), "{call:?} not allowed");
            }
        }
        Ok(())
    });
}

/// 3. Never touch an ignored resource (in git, or on the cluster among the
///    objects the planner sees), and never delete a `sync_only` one.
#[test]
fn never_touches_ignored_resources() {
    check(strategies::scenario(), |s| {
        let out = synced(&s);
        let written: BTreeSet<&ResourceId> = out.journal.iter().filter_map(Call::written).collect();
        let deleted: BTreeSet<&ResourceId> = deletes(&out.journal).collect();
        for (id, resource) in &out.desired.resources {
            if ignore_value(&resource.object().to_value()) == Some("true") {
                prop_assert!(!written.contains(id), "{id} is ignored in git");
                prop_assert!(
                    out.report.plan.skip_reason(id).is_some(),
                    "{id} not skipped"
                );
            }
        }
        for (id, object) in &out.before {
            match ignore_value(object) {
                Some("true") if visible(id, object) => {
                    prop_assert!(!written.contains(id), "{id} is ignored on the cluster");
                }
                Some(_) => prop_assert!(!deleted.contains(id), "{id} is ignored on the cluster"),
                None => {}
            }
            if ignore_value(object).is_some() && !s.options.gc_cascading {
                prop_assert!(out.cluster.get(id).is_some(), "{id} vanished");
            }
        }
        Ok(())
    });
}

/// 4a. A repository that fails to load changes nothing (not even a read).
#[test]
fn load_errors_change_nothing() {
    check(strategies::broken_scenario(), |s| {
        let cluster = s.memory_cluster();
        let before = cluster.objects();
        let result = block_on(load_and_run(
            &cluster,
            &s.files,
            &[String::new()],
            &ScopeTable::builtin(),
            &LoadOptions::default(),
            &s.options,
        ));
        prop_assert!(result.is_err());
        prop_assert!(result.unwrap_err().to_string().contains("nothing deleted"));
        prop_assert_eq!(cluster.journal(), vec![]);
        prop_assert_eq!(cluster.objects(), before);
        Ok(())
    });
}

/// 4b. No deletion at all after any apply error (or with unknown scopes).
#[test]
fn apply_errors_stop_all_deletion() {
    let kinds = prop_oneof![
        Just(ClusterErrorKind::Invalid),
        Just(ClusterErrorKind::Forbidden),
        Just(ClusterErrorKind::Conflict),
        Just(ClusterErrorKind::Unavailable),
    ];
    check(
        (strategies::scenario(), any::<usize>(), kinds),
        |(s, pick, kind)| {
            let desired = s.desired().expect("loads");
            let cluster = s.memory_cluster();
            let live = block_on(read_live(&cluster, &s.options)).expect("reads");
            let plan = plan_sync(&desired, &live, &s.options);
            let target = plan
                .applies()
                .nth(pick % plan.apply_count().max(1))
                .map(|o| o.id.clone());
            if let Some(target) = &target {
                cluster.fail(Failure::new(Operation::Apply, kind).on(target.clone()));
            }
            let report = block_on(run(&cluster, &desired, &s.options)).expect("reads");
            let journal = cluster.journal();
            if target.is_some() || !desired.unscoped.is_empty() {
                prop_assert_eq!(deletes(&journal).count(), 0);
                if s.options.gc != GcMode::Off {
                    prop_assert!(!report.gc.blocked.is_empty());
                }
            }
            if target.is_some() && s.options.gc != GcMode::Off {
                let failed =
                    |b: &GcBlocked| matches!(b, GcBlocked::ApplyFailed { count } if *count >= 1);
                prop_assert!(
                    report.gc.blocked.iter().any(failed),
                    "{:?}",
                    report.gc.blocked
                );
            }
            Ok(())
        },
    );
}

/// 5. Applying a plan to the in-memory cluster and planning again gives a
///    plan with nothing to do.
#[test]
fn a_synced_cluster_is_a_fixpoint() {
    check(strategies::scenario(), |s| {
        let out = synced(&s);
        if out.report.apply_errors().next().is_some() {
            // Only when an allowed namespace is missing from git and
            // cluster, or a custom resource's CRD is not served (not in
            // git, or ignored there).
            let expected = out.report.apply_errors().all(|(id, e)| {
                e.kind == ClusterErrorKind::NotFound
                    || (e.kind == ClusterErrorKind::Invalid && id.kind() == "widget")
            });
            prop_assert!(expected, "unexpected apply errors");
            return Ok(());
        }
        let live = block_on(read_live(&out.cluster, &s.options)).expect("reads");
        let again = plan_sync(&out.desired, &live, &s.options);
        if s.options.apply_unchanged {
            prop_assert!(again.gc.to_delete().is_empty());
            let before = out.cluster.objects();
            let report = block_on(run(&out.cluster, &out.desired, &s.options)).expect("reads");
            prop_assert!(
                report
                    .applied
                    .iter()
                    .all(|(_, r)| matches!(r, Ok(flux_core::cluster::Applied::Unchanged)))
            );
            prop_assert_eq!(out.cluster.objects(), before);
        } else {
            prop_assert!(again.is_noop(), "not a fixpoint: {again:#?}");
        }
        // What git says is what the cluster has: fields Flux applied before
        // and git has since dropped are gone.
        for id in out.desired.resources.keys() {
            if matches!(
                out.report.plan.skip_reason(id),
                None | Some(SkipReason::UpToDate)
            ) {
                let live = out.cluster.get(id).expect("synced objects exist");
                prop_assert!(
                    live["metadata"]["labels"].get("previous").is_none(),
                    "{id}: {live}"
                );
                prop_assert_ne!(&live["data"]["value"], "old", "{}", id);
            }
        }
        Ok(())
    });
}

/// The live objects, some listed twice (export and list_managed overlap,
/// read at different moments, so a second copy may differ: an ignore
/// annotation added, the mark gone, data edited), in an order decided by
/// the seed.
fn relisted(live: &[LiveObject], seed: u64) -> Vec<LiveObject> {
    let mut state = seed | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut out: Vec<LiveObject> = live.to_vec();
    for object in live {
        let mut copy = object.object.to_value();
        match next() % 5 {
            0 => continue,
            1 => {}
            2 => copy["metadata"]["annotations"] = serde_json::json!({"fluxcd.io/ignore": "true"}),
            3 => copy["metadata"]["labels"] = serde_json::json!({}),
            _ => copy["data"] = serde_json::json!({"value": "changed meanwhile"}),
        }
        out.push(LiveObject::new(object.id.clone(), &copy).expect("small"));
    }
    shuffle(out, next())
}

fn shuffle(mut items: Vec<LiveObject>, seed: u64) -> Vec<LiveObject> {
    let mut state = seed | 1;
    for i in (1..items.len()).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        items.swap(i, (state % (i as u64 + 1)) as usize);
    }
    items
}

fn without_sources(mut plan: SyncPlan) -> SyncPlan {
    for s in &mut plan.skipped {
        s.source.file.clear();
        s.source.line = 0;
        s.source.document = 0;
        s.source.item = None;
    }
    plan
}

/// 6. The plan does not depend on the order of its inputs.
#[test]
fn plans_do_not_depend_on_input_order() {
    check((strategies::scenario(), any::<u64>()), |(s, seed)| {
        let desired = s.desired().expect("loads");
        let plan = plan_sync(&desired, &s.live, &s.options);
        prop_assert_eq!(
            &plan,
            &plan_sync(&desired, &shuffle(s.live.clone(), seed), &s.options)
        );
        let relisted = relisted(&s.live, seed);
        prop_assert_eq!(
            plan_sync(&desired, &relisted, &s.options),
            plan_sync(
                &desired,
                &shuffle(relisted, seed.rotate_left(17)),
                &s.options
            )
        );

        if desired.unscoped.is_empty() {
            // The same objects written in another order, across other files.
            let mut objects: Vec<Value> = desired
                .resources
                .values()
                .map(|r| r.object().to_value())
                .collect();
            objects.reverse();
            let files = strategies::render(&objects, 1 + (seed % 4) as usize);
            let reread = parse_files(
                &files,
                &[String::new()],
                &ScopeTable::builtin(),
                &LoadOptions::default(),
            )
            .expect("loads");
            prop_assert_eq!(
                without_sources(plan),
                without_sources(plan_sync(&reread, &s.live, &s.options))
            );
        }
        Ok(())
    });
}

/// 7. Every desired resource is either applied or skipped with a reason,
///    exactly once, and what is applied is the git document plus namespace,
///    mark and checksum, nothing else.
#[test]
fn every_resource_is_applied_or_skipped() {
    check(strategies::scenario(), |s| {
        let desired = s.desired().expect("loads");
        let plan = plan_sync(&desired, &s.live, &s.options);
        let mut seen: BTreeMap<&ResourceId, usize> = BTreeMap::new();
        for id in plan
            .applies()
            .map(|o| &o.id)
            .chain(plan.skipped.iter().map(|s| &s.id))
        {
            *seen.entry(id).or_default() += 1;
        }
        let wanted: BTreeMap<&ResourceId, usize> =
            desired.resources.keys().map(|id| (id, 1)).collect();
        prop_assert_eq!(seen, wanted);

        for object in plan.applies() {
            let resource = &desired.resources[&object.id];
            let mut expected = resource.object().to_value();
            if let Some(ns) = object.id.namespace() {
                expected["metadata"]["namespace"] = ns.into();
            }
            if !expected["metadata"]["labels"].is_object() {
                expected["metadata"]["labels"] = serde_json::json!({});
            }
            expected["metadata"]["labels"][GC_MARK_LABEL] =
                s.options.sync_set.gc_mark(&object.id).into();
            if !expected["metadata"]["annotations"].is_object() {
                expected["metadata"]["annotations"] = serde_json::json!({});
            }
            expected["metadata"]["annotations"][CHECKSUM_ANNOTATION] =
                checksum(&resource.object().to_value()).into();
            prop_assert_eq!(object.object.to_value(), expected);
        }
        for skipped in &plan.skipped {
            if let SkipReason::InvalidMetadata { .. } = skipped.reason {
                prop_assert!(false, "generated resources are valid");
            }
        }
        for w in &plan.warnings {
            if let PlanWarning::UnknownScope(u) = w {
                prop_assert_eq!(&u.kind, "Widget");
            }
        }
        Ok(())
    });
}
