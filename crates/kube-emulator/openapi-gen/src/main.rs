//! Writes the OpenAPI definitions of the built-in kinds the emulator serves
//! (`../src/openapi/definitions.json`), for its `/openapi/v2` and
//! `/openapi/v3` documents.
//!
//! The schemas (types, descriptions, required fields) come from
//! k8s-openapi's `schemars` implementations, generated from Kubernetes'
//! own OpenAPI. Those leave out the extensions that describe how lists and
//! maps merge, which kubectl needs to compute strategic merge patches
//! (`kubectl apply` without `--server-side`), so this program reads them
//! back from k8s-openapi's generated `DeepMerge` implementations (one
//! `merge_strategies::…` call per list or map field) and writes them as
//! `x-kubernetes-list-type`, `x-kubernetes-list-map-keys`,
//! `x-kubernetes-map-type`, `x-kubernetes-patch-strategy` and
//! `x-kubernetes-patch-merge-key`. Each top-level kind also gets its
//! `x-kubernetes-group-version-kind`.
//!
//! Run it from this directory when the emulator's kinds or the
//! k8s-openapi version change:
//!
//! ```text
//! cargo run --release -- ../src/openapi/definitions.json
//! ```
//!
//! It lives outside the workspace so that the workspace never compiles
//! k8s-openapi with `schemars`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use k8s_openapi::Resource;
use schemars::JsonSchema;
use schemars::generate::{SchemaGenerator, SchemaSettings};
use serde_json::{Map, Value, json};

use k8s_openapi::api::{
    admissionregistration::v1 as admission, apps::v1 as apps, autoscaling::v2 as autoscaling,
    batch::v1 as batch, coordination::v1 as coordination, core::v1 as core,
    networking::v1 as networking, policy::v1 as policy, rbac::v1 as rbac,
    scheduling::v1 as scheduling, storage::v1 as storage,
};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiextensions;

/// Fields that k8s-openapi makes required (non-optional in Rust) but
/// Kubernetes' OpenAPI does not list as required, by definition.
const NOT_REQUIRED: &[(&str, &str)] = &[("*", "metadata"), ("*", "spec")];

/// Definitions whose `metadata` or `spec` Kubernetes does require.
const REQUIRED_KEPT: &[(&str, &str)] = &[
    ("io.k8s.api.core.v1.Event", "metadata"),
    (
        "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition",
        "spec",
    ),
];

struct Kinds {
    generator: SchemaGenerator,
    gvks: Vec<(String, Value)>,
}

impl Kinds {
    fn add<T: JsonSchema + Resource>(&mut self) {
        self.generator.subschema_for::<T>();
        self.gvks.push((
            T::schema_name().into_owned(),
            json!([{"group": T::GROUP, "kind": T::KIND, "version": T::VERSION}]),
        ));
    }
}

fn main() {
    let out = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .expect("usage: kube-emulator-openapi-gen OUTPUT.json");
    let mut settings = SchemaSettings::draft2020_12();
    settings.definitions_path = "/definitions".into();
    settings.meta_schema = None;
    let mut k = Kinds {
        generator: settings.into_generator(),
        gvks: Vec::new(),
    };
    // The kinds of crates/kube-emulator/src/resources.rs, in its order.
    k.add::<core::Namespace>();
    k.add::<core::ConfigMap>();
    k.add::<core::Secret>();
    k.add::<core::Service>();
    k.add::<core::ServiceAccount>();
    k.add::<core::Pod>();
    k.add::<core::PodTemplate>();
    k.add::<core::ReplicationController>();
    k.add::<core::Endpoints>();
    k.add::<core::Event>();
    k.add::<core::LimitRange>();
    k.add::<core::ResourceQuota>();
    k.add::<core::PersistentVolumeClaim>();
    k.add::<core::PersistentVolume>();
    k.add::<core::Node>();
    k.add::<apps::Deployment>();
    k.add::<apps::DaemonSet>();
    k.add::<apps::StatefulSet>();
    k.add::<apps::ReplicaSet>();
    k.add::<apps::ControllerRevision>();
    k.add::<batch::Job>();
    k.add::<batch::CronJob>();
    k.add::<autoscaling::HorizontalPodAutoscaler>();
    k.add::<networking::Ingress>();
    k.add::<networking::IngressClass>();
    k.add::<networking::NetworkPolicy>();
    k.add::<policy::PodDisruptionBudget>();
    k.add::<rbac::Role>();
    k.add::<rbac::RoleBinding>();
    k.add::<rbac::ClusterRole>();
    k.add::<rbac::ClusterRoleBinding>();
    k.add::<apiextensions::CustomResourceDefinition>();
    k.add::<storage::StorageClass>();
    k.add::<scheduling::PriorityClass>();
    k.add::<coordination::Lease>();
    k.add::<admission::MutatingWebhookConfiguration>();
    k.add::<admission::ValidatingWebhookConfiguration>();

    let mut defs: BTreeMap<String, Value> =
        k.generator.take_definitions(false).into_iter().collect();
    for (name, gvk) in &k.gvks {
        if let Some(Value::Object(d)) = defs.get_mut(name) {
            d.insert("x-kubernetes-group-version-kind".into(), gvk.clone());
        }
    }
    for (name, def) in defs.iter_mut() {
        fix_required(name, def);
    }
    let strategies = read_strategies(&k8s_openapi_src());
    let mut annotated = 0;
    for s in &strategies {
        annotated += usize::from(annotate(&mut defs, s));
    }
    eprintln!(
        "{} definitions, {} kinds, {annotated} of {} merge strategies applied",
        defs.len(),
        k.gvks.len(),
        strategies.len()
    );
    // One definition per line: small diffs when regenerated.
    let mut text = String::from("{\n");
    let n = defs.len();
    for (i, (name, def)) in defs.iter().enumerate() {
        text.push_str(&format!(
            "{}: {}{}\n",
            Value::String(name.clone()),
            serde_json::to_string(def).expect("JSON values serialize"),
            if i + 1 < n { "," } else { "" }
        ));
    }
    text.push_str("}\n");
    std::fs::write(&out, text).unwrap_or_else(|e| panic!("writing {}: {e}", out.display()));
}

fn fix_required(name: &str, def: &mut Value) {
    let Some(req) = def.get_mut("required").and_then(Value::as_array_mut) else {
        return;
    };
    req.retain(|f| {
        let f = f.as_str().unwrap_or("");
        let dropped = NOT_REQUIRED
            .iter()
            .any(|(d, field)| (*d == "*" || *d == name) && *field == f);
        let kept = REQUIRED_KEPT
            .iter()
            .any(|(d, field)| *d == name && *field == f);
        !dropped || kept
    });
    if req.is_empty()
        && let Some(o) = def.as_object_mut()
    {
        o.remove("required");
    }
}

/// k8s-openapi's generated sources for the Kubernetes version used.
fn k8s_openapi_src() -> PathBuf {
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["metadata", "--format-version", "1"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo metadata");
    let meta: Value = serde_json::from_slice(&out.stdout).expect("cargo metadata prints JSON");
    let manifest = meta["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["name"] == "k8s-openapi")
        .and_then(|p| p["manifest_path"].as_str())
        .expect("k8s-openapi among the packages");
    Path::new(manifest)
        .parent()
        .expect("a manifest has a directory")
        .join("src/v1_37")
}

/// How one field of one definition merges.
#[derive(Debug)]
struct Strategy {
    definition: String,
    field: String,
    kind: StrategyKind,
}

#[derive(Debug)]
enum StrategyKind {
    ListMap(Vec<String>),
    ListSet,
    ListAtomic,
    MapAtomic,
}

fn read_strategies(dir: &Path) -> Vec<Strategy> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read k8s-openapi sources") {
            let p = e.expect("directory entry").path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let text = std::fs::read_to_string(&p).expect("read a source file");
                parse_file(&text, &mut out);
            }
        }
    }
    out
}

fn parse_file(text: &str, out: &mut Vec<Strategy>) {
    let Some(definition) = text
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("// Generated from definition "))
    else {
        return;
    };
    const MARK: &str = "crate::merge_strategies::";
    let mut rest = text;
    while let Some(i) = rest.find(MARK) {
        rest = &rest[i + MARK.len()..];
        let Some(open) = rest.find('(') else { break };
        let which = &rest[..open];
        let args = &rest[open + 1..];
        let Some(field) = args
            .trim_start()
            .strip_prefix("&mut self.")
            .and_then(|a| a.split(|c: char| c == ',' || c == ')').next())
        else {
            continue;
        };
        let kind = match which {
            "list::map" => {
                let end = args.find("],").unwrap_or(args.len());
                let keys = args[..end]
                    .split("lhs.")
                    .skip(1)
                    .filter_map(|s| s.split_whitespace().next())
                    .map(str::to_owned)
                    .collect();
                StrategyKind::ListMap(keys)
            }
            "list::set" => StrategyKind::ListSet,
            "list::atomic" => StrategyKind::ListAtomic,
            "map::atomic" => StrategyKind::MapAtomic,
            _ => continue,
        };
        out.push(Strategy {
            definition: definition.trim().to_owned(),
            field: field.trim().to_owned(),
            kind,
        });
    }
}

/// The JSON name among `names` of a Rust field name (`container_port` is
/// `containerPort`, `type_` is `type`, `host_ip` is `hostIP`).
fn json_name<'a>(rust: &str, names: impl Iterator<Item = &'a String>) -> Option<String> {
    let want: String = rust.chars().filter(|c| *c != '_').collect::<String>();
    names
        .map(String::as_str)
        .find(|n| n.trim_start_matches('$').eq_ignore_ascii_case(&want))
        .map(str::to_owned)
}

fn ref_name(schema: &Value) -> Option<&str> {
    schema
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix("#/definitions/"))
}

fn annotate(defs: &mut BTreeMap<String, Value>, s: &Strategy) -> bool {
    let Some(props) = defs
        .get(&s.definition)
        .and_then(|d| d.get("properties"))
        .and_then(Value::as_object)
    else {
        return false;
    };
    let Some(field) = json_name(&s.field, props.keys()) else {
        return false;
    };
    let mut ext = Map::new();
    match &s.kind {
        StrategyKind::ListMap(keys) => {
            let item_props = props[&field]
                .get("items")
                .and_then(ref_name)
                .and_then(|n| defs.get(n))
                .and_then(|d| d.get("properties"))
                .and_then(Value::as_object);
            let Some(item_props) = item_props else {
                return false;
            };
            let keys: Option<Vec<String>> = keys
                .iter()
                .map(|k| json_name(k, item_props.keys()))
                .collect();
            let Some(keys) = keys.filter(|k| !k.is_empty()) else {
                return false;
            };
            ext.insert("x-kubernetes-list-type".into(), "map".into());
            ext.insert("x-kubernetes-list-map-keys".into(), json!(keys));
            ext.insert(
                "x-kubernetes-patch-merge-key".into(),
                keys[0].clone().into(),
            );
            ext.insert("x-kubernetes-patch-strategy".into(), "merge".into());
        }
        StrategyKind::ListSet => {
            ext.insert("x-kubernetes-list-type".into(), "set".into());
            ext.insert("x-kubernetes-patch-strategy".into(), "merge".into());
        }
        StrategyKind::ListAtomic => {
            ext.insert("x-kubernetes-list-type".into(), "atomic".into());
        }
        StrategyKind::MapAtomic => {
            ext.insert("x-kubernetes-map-type".into(), "atomic".into());
        }
    }
    let Some(target) = defs
        .get_mut(&s.definition)
        .and_then(|d| d.get_mut("properties"))
        .and_then(|p| p.get_mut(&field))
        .and_then(Value::as_object_mut)
    else {
        return false;
    };
    target.extend(ext);
    true
}
