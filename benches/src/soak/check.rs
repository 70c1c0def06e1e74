//! The soak's verdicts: the cluster against git, the commits against what
//! was pushed, fluxd's DELETEs against what left git, and RSS between the
//! baseline and the end.

use std::collections::{BTreeMap, BTreeSet};

use flux_core::sync::GC_MARK_LABEL;
use serde_json::Value;

use super::model::{Expect, Model, ObjectKey};
use super::monitor::{Delete, object_of_path};
use super::tags::App;

/// One check and how it came out.
#[derive(Debug, Clone)]
pub struct Verdict {
    /// What was checked.
    pub name: &'static str,
    /// Problems found (empty: it held).
    pub problems: Vec<String>,
}

impl Verdict {
    /// A verdict on `name` with `problems`.
    pub fn new(name: &'static str, problems: Vec<String>) -> Self {
        Verdict { name, problems }
    }

    /// Whether it held.
    pub fn held(&self) -> bool {
        self.problems.is_empty()
    }
}

fn group_of(plural: &str) -> &'static str {
    match plural {
        "deployments" => "apps",
        _ => "",
    }
}

fn get(emulator: &kube_emulator::Server, (ns, plural, name): &ObjectKey) -> Option<Value> {
    emulator.object(group_of(plural), plural, ns, name)
}

fn first_image(obj: &Value) -> Option<&str> {
    obj.pointer("/spec/template/spec/containers/0/image")?
        .as_str()
}

fn describe((ns, plural, name): &ObjectKey) -> String {
    format!("{ns}/{plural}/{name}")
}

/// Where the cluster differs from git (and from what was made by hand):
/// every object in git present with git's values, the automated workloads
/// at their newest tags, objects whose files were deleted gone, and every
/// object made by hand present and unmarked.
pub fn cluster_vs_git(
    emulator: &kube_emulator::Server,
    model: &Model,
    apps: &[App],
    proxy: &str,
    made: &[ObjectKey],
) -> Vec<String> {
    let mut problems = Vec::new();
    let expected = model.expected();
    for (key, expect) in &expected {
        let Some(obj) = get(emulator, key) else {
            problems.push(format!(
                "{} is in git but not in the cluster",
                describe(key)
            ));
            continue;
        };
        let (got, want) = match expect {
            Expect::Data(v) => (
                obj.pointer("/data/value")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                v.clone(),
            ),
            Expect::Image(v) => (first_image(&obj).map(str::to_owned), v.clone()),
            Expect::Port(p) => (
                obj.pointer("/spec/ports/0/port")
                    .and_then(Value::as_u64)
                    .map(|p| p.to_string()),
                p.to_string(),
            ),
        };
        if got.as_deref() != Some(want.as_str()) {
            problems.push(format!(
                "{}: the cluster has {got:?}, git says {want:?}",
                describe(key)
            ));
        }
    }
    for app in apps {
        let key = (
            super::model::NAMESPACE.to_owned(),
            "deployments".to_owned(),
            app.name.clone(),
        );
        let want = app.image(proxy, app.last());
        let got = get(emulator, &key);
        let got = got.as_ref().and_then(first_image);
        if got != Some(want.as_str()) {
            problems.push(format!(
                "{}: the cluster runs {got:?}, the newest tag is {want}",
                describe(&key)
            ));
        }
    }
    let live: BTreeSet<&ObjectKey> = expected.iter().map(|(k, _)| k).collect();
    for key in model.removed.iter().filter(|k| !live.contains(k)) {
        if get(emulator, key).is_some() {
            problems.push(format!(
                "{} was deleted from git but is still in the cluster",
                describe(key)
            ));
        }
    }
    problems.extend(hand_made(emulator, made));
    problems
}

/// Objects made by hand that are gone or carry Flux's mark.
pub fn hand_made(emulator: &kube_emulator::Server, made: &[ObjectKey]) -> Vec<String> {
    let mut problems = Vec::new();
    for key in made {
        match get(emulator, key) {
            None => problems.push(format!("{} was made by hand and is gone", describe(key))),
            Some(obj) => {
                if obj
                    .pointer("/metadata/labels")
                    .and_then(|l| l.get(GC_MARK_LABEL))
                    .is_some()
                {
                    problems.push(format!(
                        "{} was made by hand but carries {GC_MARK_LABEL}",
                        describe(key)
                    ));
                }
            }
        }
    }
    problems
}

/// fluxd's DELETEs that were not of an object whose file left git (an
/// unmarked object, or one git still holds), and DELETEs of collections.
pub fn deletes(deletes: &[Delete], model: &Model) -> Vec<String> {
    let mut problems = Vec::new();
    for d in deletes {
        let ok = d.verb == "delete"
            && object_of_path(&d.path).is_some_and(|key| model.was_removed(&key));
        if !ok {
            problems.push(format!(
                "fluxd sent {} {} at {} (answered {}): not an object deleted from git",
                d.verb, d.path, d.time, d.status
            ));
        }
    }
    problems
}

/// Commits the soak pushed that are missing from master or appear more
/// than once.
pub fn soak_commits(pushed: &[super::model::Pushed], log: &str) -> Vec<String> {
    let mut by_subject: BTreeMap<&str, usize> = BTreeMap::new();
    let mut hashes = BTreeSet::new();
    for line in log.lines() {
        if let Some((hash, subject)) = line.split_once(' ') {
            *by_subject.entry(subject).or_default() += 1;
            hashes.insert(hash);
        }
    }
    let mut problems = Vec::new();
    for p in pushed {
        if !hashes.contains(p.hash.as_str()) {
            problems.push(format!(
                "commit {} ({}) is not on master",
                p.hash, p.subject
            ));
        }
        match by_subject.get(p.subject.as_str()) {
            Some(1) => {}
            n => problems.push(format!(
                "'{}' appears {} times on master",
                p.subject,
                n.copied().unwrap_or(0)
            )),
        }
    }
    problems
}

/// RSS at the baseline and at the end (medians of samples around each),
/// and the problem if it grew more than `limit` (0.10 for 10 %).
pub fn rss_growth(
    samples: &[(f64, u64)],
    baseline_at: f64,
    limit: f64,
) -> (Option<u64>, Option<u64>, Vec<String>) {
    let median = |mut v: Vec<u64>| -> Option<u64> {
        v.sort_unstable();
        v.get(v.len() / 2).copied()
    };
    let base = median(
        samples
            .iter()
            .filter(|(t, _)| (*t - baseline_at).abs() <= 5.0)
            .map(|(_, k)| *k)
            .collect(),
    );
    let end = median(samples.iter().rev().take(5).map(|(_, k)| *k).collect());
    let problems = match (base, end) {
        (Some(b), Some(e)) if (e as f64) > (b as f64) * (1.0 + limit) => vec![format!(
            "RSS grew from {} KiB at {baseline_at:.0} s to {} KiB at the end ({:+.1} %, more than {:.0} %)",
            b,
            e,
            (e as f64 / b as f64 - 1.0) * 100.0,
            limit * 100.0
        )],
        (Some(_), Some(_)) => Vec::new(),
        _ => vec![format!(
            "not enough RSS samples (none within 5 s of {baseline_at:.0} s, or none at the end)"
        )],
    };
    (base, end, problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rss_growth_is_measured_from_the_baseline() {
        let flat: Vec<(f64, u64)> = (0..100).map(|t| (t as f64, 1000 + (t % 3))).collect();
        let (b, e, p) = rss_growth(&flat, 20.0, 0.10);
        assert_eq!((b.is_some(), e.is_some(), p.len()), (true, true, 0));
        let growing: Vec<(f64, u64)> = (0..100).map(|t| (t as f64, 1000 + 5 * t)).collect();
        let (b, e, p) = rss_growth(&growing, 20.0, 0.10);
        assert_eq!(b, Some(1100));
        assert_eq!(e, Some(1485));
        assert_eq!(p.len(), 1, "{p:?}");
        let (_, _, p) = rss_growth(&flat[..10], 20.0, 0.10);
        assert_eq!(p.len(), 1, "no sample near the baseline");
    }

    #[test]
    fn deletes_only_of_what_left_git() {
        let mut model = Model::default();
        model
            .removed
            .push(("soak".into(), "configmaps".into(), "cm-1".into()));
        let d = |verb: &str, path: &str| Delete {
            time: chrono::Utc::now(),
            verb: verb.into(),
            path: path.into(),
            status: 200,
        };
        let ok = [d("delete", "/api/v1/namespaces/soak/configmaps/cm-1")];
        assert!(deletes(&ok, &model).is_empty());
        let bad = [
            d("delete", "/api/v1/namespaces/soak/configmaps/hand-cm-3"),
            d("deletecollection", "/api/v1/namespaces/soak/configmaps"),
        ];
        assert_eq!(deletes(&bad, &model).len(), 2);
    }

    #[test]
    fn soak_commits_once_each() {
        let pushed = [
            super::super::model::Pushed {
                subject: "soak 1: add a".into(),
                hash: "h1".into(),
            },
            super::super::model::Pushed {
                subject: "soak 2: add b".into(),
                hash: "h2".into(),
            },
        ];
        assert!(soak_commits(&pushed, "h2 soak 2: add b\nh1 soak 1: add a\n").is_empty());
        let p = soak_commits(&pushed, "h3 soak 2: add b\nh2 soak 2: add b\n");
        assert_eq!(p.len(), 3, "{p:?}");
    }
}
