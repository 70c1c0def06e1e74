//! The model checked against the adapter: generated sync scenarios run
//! through flux-core's in-memory cluster and through flux-kube against the
//! API emulator must give the same plan, the same applied, deleted and
//! kept objects with the same reasons, and the same final cluster state.
//! A difference is a bug in one of them.
//!
//! Each case: a fresh emulator and a fresh in-memory cluster holding the
//! same namespaces; a first repository synced into both (what this sync
//! set applied before), objects created by someone else, then a second
//! repository synced with generated options (namespaces, GC mode,
//! cascading, apply-unchanged). 128 cases by default (one emulator per
//! case, started in-process; 64 cases took 25 s and 300 took 155 s on a
//! shared 2-core machine under load); run more with
//! `PROPTEST_CASES=500 cargo nextest run -p flux-kube differential`.

use std::collections::BTreeMap;

use flux_core::cluster::{Applied, ClusterErrorKind, PerObject};
use flux_core::manifest::{FileSet, LoadOptions, Manifests, parse_files};
use flux_core::sync::{GcMode, SyncOptions, SyncReport, SyncSetName, run};
use flux_core::testing::MemoryCluster;
use flux_core::testing::strategies::{self, SYNC_SET};
use flux_core::{Namespaces, ResourceId, ScopeTable};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRunner};
use serde_json::Value;

use crate::Bed;

/// The namespaces a new emulator has.
const INITIAL_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public", "kube-node-lease"];

/// Kinds the strategies generate, as (group, plural), to read the
/// emulator's objects back.
const KINDS: &[(&str, &str)] = &[
    ("", "namespaces"),
    ("", "configmaps"),
    ("", "secrets"),
    ("", "services"),
    ("", "serviceaccounts"),
    ("apps", "deployments"),
    ("rbac.authorization.k8s.io", "clusterroles"),
    ("apiextensions.k8s.io", "customresourcedefinitions"),
    ("example.com", "widgets"),
];

/// Names the strategies give objects; anything else in the emulator is
/// its own (a namespace's default service account, root CA config map).
const GENERATED_NAMES: &[&str] = &[
    "a",
    "b",
    "c",
    "default",
    "team-a",
    "team-b",
    "kube-system",
    "widgets.example.com",
];

#[derive(Debug, Clone)]
struct Case {
    before: FileSet,
    others: Vec<Value>,
    after: FileSet,
    options: SyncOptions,
}

fn case() -> impl Strategy<Value = Case> {
    (
        strategies::repository(),
        proptest::collection::vec(strategies::resource_object(), 0..4),
        strategies::repository(),
        strategies::sync_options(),
    )
        .prop_map(|(before, others, after, options)| Case {
            before,
            others,
            after,
            options,
        })
}

fn load(files: &FileSet) -> Manifests {
    parse_files(
        files,
        &[String::new()],
        &ScopeTable::builtin(),
        &LoadOptions::default(),
    )
    .expect("generated repositories load")
}

fn first_sync_options() -> SyncOptions {
    SyncOptions {
        sync_set: SyncSetName::new(SYNC_SET),
        namespaces: Namespaces::All,
        gc: GcMode::On,
        gc_cascading: false,
        apply_unchanged: false,
        overlaps: Default::default(),
    }
}

/// What a report says, without the error messages (which each side words
/// its own way): the plan, each apply and deletion with its outcome or
/// error kind, the GC plan and what was not updated.
#[derive(Debug, PartialEq)]
struct Outcome {
    plan: String,
    applied: Vec<(ResourceId, Result<Applied, ClusterErrorKind>)>,
    gc_blocked: String,
    gc_plan: String,
    deleted: Vec<(ResourceId, Result<(), ClusterErrorKind>)>,
    not_updated: Vec<ResourceId>,
}

fn kinds<T: Copy>(results: &PerObject<T>) -> Vec<(ResourceId, Result<T, ClusterErrorKind>)> {
    results
        .iter()
        .map(|(id, r)| (id.clone(), r.as_ref().map(|v| *v).map_err(|e| e.kind)))
        .collect()
}

fn outcome(report: &SyncReport) -> Outcome {
    Outcome {
        plan: format!("{:#?}", report.plan),
        applied: kinds(&report.applied),
        gc_blocked: format!("{:?}", report.gc.blocked),
        gc_plan: format!("{:#?}", report.gc.plan),
        deleted: kinds(&report.gc.deleted),
        not_updated: report.gc.not_updated.clone(),
    }
}

/// Objects as compared: generated names only, without what a server adds
/// of its own (ids, versions, timestamps, managed fields, status).
fn comparable(mut object: Value) -> Value {
    if let Some(m) = object["metadata"].as_object_mut() {
        for key in [
            "uid",
            "resourceVersion",
            "creationTimestamp",
            "generation",
            "managedFields",
        ] {
            m.remove(key);
        }
    }
    if let Some(o) = object.as_object_mut() {
        o.remove("status");
    }
    object
}

fn memory_state(cluster: &MemoryCluster) -> BTreeMap<ResourceId, Value> {
    cluster
        .objects()
        .into_iter()
        .filter(|(id, _)| GENERATED_NAMES.contains(&id.name()))
        .map(|(id, o)| (id, comparable(o)))
        .collect()
}

fn emulator_state(bed: &Bed) -> BTreeMap<ResourceId, Value> {
    let mut out = BTreeMap::new();
    for (group, plural) in KINDS {
        for object in bed.server.objects(group, plural) {
            let Some(id) = strategies::id_of(&object) else {
                continue;
            };
            if GENERATED_NAMES.contains(&id.name()) {
                out.insert(id, comparable(object));
            }
        }
    }
    out
}

/// `want` (the model's object) is in `got` (the emulator's): every field
/// of `want` with the same value, lists item by item. The emulator adds
/// what a server defaults (a Service's cluster IP, a port's protocol).
fn contains(got: &Value, want: &Value) -> bool {
    match (got, want) {
        (Value::Object(g), Value::Object(w)) => w
            .iter()
            .all(|(k, wv)| g.get(k).is_some_and(|gv| contains(gv, wv))),
        (Value::Array(g), Value::Array(w)) => {
            g.len() == w.len() && g.iter().zip(w).all(|(gv, wv)| contains(gv, wv))
        }
        _ => got == want,
    }
}

/// Labels and annotations, which must be equal, not only contained.
fn marks(object: &Value) -> (Value, Value) {
    (
        object["metadata"]["labels"].clone(),
        object["metadata"]["annotations"].clone(),
    )
}

fn same_state(step: &str, bed: &Bed, memory: &MemoryCluster) -> Result<(), TestCaseError> {
    let (model, adapter) = (memory_state(memory), emulator_state(bed));
    prop_assert_eq!(
        model.keys().collect::<Vec<_>>(),
        adapter.keys().collect::<Vec<_>>(),
        "{}: the same objects exist",
        step
    );
    for (id, want) in &model {
        let got = &adapter[id];
        prop_assert!(
            contains(got, want),
            "{}: {} differs\nmodel:    {}\nemulator: {}",
            step,
            id,
            want,
            got
        );
        prop_assert_eq!(
            marks(got),
            marks(want),
            "{}: {} labels/annotations",
            step,
            id
        );
    }
    Ok(())
}

/// The lines where two outcomes differ, with the files of the case.
fn differ(
    step: &str,
    model: &Outcome,
    adapter: &Outcome,
    case: &Case,
) -> Result<(), TestCaseError> {
    if model == adapter {
        return Ok(());
    }
    let (m, a) = (format!("{model:#?}"), format!("{adapter:#?}"));
    let (ml, al): (Vec<&str>, Vec<&str>) = (m.lines().collect(), a.lines().collect());
    let first = ml
        .iter()
        .zip(&al)
        .position(|(x, y)| x != y)
        .unwrap_or(ml.len().min(al.len()));
    let from = first.saturating_sub(12);
    let show =
        |lines: &[&str]| lines[from.min(lines.len())..(first + 12).min(lines.len())].join("\n");
    let files = |f: &FileSet| {
        f.iter()
            .map(|(p, b)| format!("--- {p}\n{}", String::from_utf8_lossy(b)))
            .collect::<Vec<_>>()
            .join("\n")
    };
    Err(TestCaseError::fail(format!(
        "{step}: the model and the adapter differ at line {first}\nmodel:\n{}\nadapter:\n{}\n\nbefore:\n{}\nafter:\n{}\nothers: {:?}\noptions: {:?}",
        show(&ml),
        show(&al),
        files(&case.before),
        files(&case.after),
        case.others,
        case.options
    )))
}

async fn one_case(case: Case) -> Result<(), TestCaseError> {
    let bed = Bed::new().await;
    let memory = MemoryCluster::with_namespaces(INITIAL_NAMESPACES);
    same_state("start", &bed, &memory)?;

    // What this sync set applied before.
    let before = load(&case.before);
    let first = first_sync_options();
    let model = run(&memory, &before, &first).await.expect("model reads");
    let adapter = run(&bed.cluster, &before, &first)
        .await
        .expect("adapter reads");
    differ("first sync", &outcome(&model), &outcome(&adapter), &case)?;
    same_state("after the first sync", &bed, &memory)?;

    // Someone else creates objects (unmarked, or marked by hand).
    let after = load(&case.after);
    let in_git: Vec<ResourceId> = after.resources.keys().cloned().collect();
    for object in &case.others {
        // `MemoryCluster::create` replaces an existing object where
        // `kubectl create` refuses it: only new ones are created. And not
        // those the second repository applies: taking over another
        // manager's object is where the model is known to differ (it
        // replaces lists whole; a server merges lists with keys, such as
        // a Service's ports, keeping the other manager's items).
        if strategies::id_of(object)
            .is_some_and(|id| memory.get(&id).is_some() || in_git.contains(&id))
        {
            continue;
        }
        let in_model = memory.create(object.clone()).is_ok();
        let yaml = serde_json::to_string(object).expect("JSON");
        let in_emulator = bed
            .kubectl_run(&["create", "-f", "-"], Some(&yaml))
            .await
            .ok;
        prop_assert_eq!(in_model, in_emulator, "creating {}", yaml);
    }
    same_state("after others' objects", &bed, &memory)?;

    // The sync under test.
    let model = run(&memory, &after, &case.options)
        .await
        .expect("model reads");
    let adapter = run(&bed.cluster, &after, &case.options)
        .await
        .expect("adapter reads");
    differ("second sync", &outcome(&model), &outcome(&adapter), &case)?;
    same_state("after the second sync", &bed, &memory)?;
    Ok(())
}

#[test]
fn the_model_and_the_adapter_agree() {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(128);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        rng_algorithm: RngAlgorithm::XorShift,
        ..Config::default()
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    if let Err(e) = runner.run(&case(), |case| rt.block_on(one_case(case))) {
        panic!("{e}");
    }
}
