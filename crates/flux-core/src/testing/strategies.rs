//! proptest strategies for resources, repositories, live clusters and whole
//! sync scenarios.
//!
//! The generated world is deliberately small (four namespaces, three names,
//! nine kinds) so that git and the cluster keep colliding: the same ID in
//! both, objects marked by this sync set or by another, broken marks,
//! ignore annotations in git and on the cluster, owners, drift, stale
//! checksums, a custom kind whose CRD may be missing (unknown scope),
//! allowed-namespace lists naming namespaces that do not exist.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

use proptest::collection::vec;
use proptest::prelude::*;
use serde_json::{Value, json};

use super::MemoryCluster;
use crate::cluster::{LiveObject, Namespaces};
use crate::manifest::{FileSet, LoadErrors, LoadOptions, Manifests, parse_files};
use crate::resource::{ResourceId, Scope, ScopeTable};
use crate::sync::{
    CHECKSUM_ANNOTATION, GC_MARK_LABEL, GcMode, SyncOptions, SyncSetName, as_stored, checksum,
};

/// The namespaces of the generated world (`default` included, which is
/// where resources without a namespace land).
pub const NAMESPACES: &[&str] = &["default", "team-a", "team-b", "kube-system"];

/// The sync set of generated scenarios; another set's marks also appear.
pub const SYNC_SET: &str = "test-sync-set";

const OTHER_SYNC_SET: &str = "another-sync-set";
const NAMES: &[&str] = &["a", "b", "c"];

/// (apiVersion, kind) of the generated kinds.
const KINDS: &[(&str, &str)] = &[
    ("v1", "Namespace"),
    ("v1", "ConfigMap"),
    ("v1", "Secret"),
    ("v1", "Service"),
    ("v1", "ServiceAccount"),
    ("apps/v1", "Deployment"),
    ("rbac.authorization.k8s.io/v1", "ClusterRole"),
    ("apiextensions.k8s.io/v1", "CustomResourceDefinition"),
    ("example.com/v1", "Widget"),
];

const WIDGET_CRD: &str = "widgets.example.com";

static BUILTIN: LazyLock<ScopeTable> = LazyLock::new(ScopeTable::builtin);
static SCOPES: LazyLock<ScopeTable> = LazyLock::new(|| {
    let mut scopes = ScopeTable::builtin();
    scopes.insert("example.com", "Widget", Scope::Namespaced);
    scopes
});

/// The scopes of the generated kinds, the custom `Widget` included.
pub fn scopes() -> &'static ScopeTable {
    &SCOPES
}

/// The ID an object of the generated world has (namespace defaulted).
pub fn id_of(object: &Value) -> Option<ResourceId> {
    let kind = object["kind"].as_str()?;
    let scope = scopes().lookup(object["apiVersion"].as_str()?, kind)?;
    let namespace = match scope {
        Scope::Cluster => None,
        Scope::Namespaced => Some(
            object["metadata"]["namespace"]
                .as_str()
                .unwrap_or("default"),
        ),
    };
    ResourceId::try_new(namespace, kind, object["metadata"]["name"].as_str()?).ok()
}

fn ignore_annotation() -> impl Strategy<Value = Option<(&'static str, &'static str)>> {
    prop_oneof![
        12 => Just(None),
        2 => Just(Some(("fluxcd.io/ignore", "true"))),
        1 => Just(Some(("flux.weave.works/ignore", "true"))),
        2 => Just(Some(("fluxcd.io/ignore", "sync_only"))),
        1 => Just(Some(("flux.weave.works/ignore", "sync_only"))),
        1 => Just(Some(("fluxcd.io/ignore", "false"))),
    ]
}

/// One Kubernetes object as it could be written in git: any of the world's
/// kinds, sometimes without a namespace, sometimes with an ignore
/// annotation, labels, or (for Deployments) no `spec.replicas`.
pub fn resource_object() -> impl Strategy<Value = Value> {
    (
        0..KINDS.len(),
        0..=NAMESPACES.len(),
        0..NAMES.len(),
        ignore_annotation(),
        0u8..3,
        any::<bool>(),
    )
        .prop_map(|(kind, ns, name, ignore, payload, labelled)| {
            build_object(kind, ns, name, ignore, payload, labelled)
        })
}

fn build_object(
    kind: usize,
    ns: usize,
    name: usize,
    ignore: Option<(&str, &str)>,
    payload: u8,
    labelled: bool,
) -> Value {
    let (api_version, kind) = KINDS[kind];
    let name = match kind {
        "Namespace" => NAMESPACES[name % NAMESPACES.len()],
        "CustomResourceDefinition" => WIDGET_CRD,
        _ => NAMES[name],
    };
    let mut metadata = json!({ "name": name });
    let namespaced = !matches!(
        kind,
        "Namespace" | "ClusterRole" | "CustomResourceDefinition"
    );
    if namespaced && let Some(ns) = NAMESPACES.get(ns) {
        metadata["namespace"] = json!(ns);
    }
    if let Some((key, value)) = ignore {
        metadata["annotations"] = json!({ key: value });
    }
    if labelled {
        metadata["labels"] = json!({ "app": name });
    }
    let mut object = json!({"apiVersion": api_version, "kind": kind, "metadata": metadata});
    match kind {
        "ConfigMap" => object["data"] = json!({ "value": payload.to_string() }),
        "Secret" => {
            // Stored by the server base64-encoded in `data`, over a key
            // `data` also has.
            object["stringData"] = json!({ "value": payload.to_string() });
            if payload == 2 {
                object["data"] = json!({"value": "b3Zlcg==", "other": "eA=="});
            }
        }
        "Service" => object["spec"] = json!({"ports": [{"port": 80 + u16::from(payload)}]}),
        "Deployment" => {
            // A selector matching the template's labels, or a server
            // refuses it.
            object["spec"] = json!({
                "selector": {"matchLabels": {"workload": name}},
                "template": {
                    "metadata": {"labels": {"workload": name}},
                    "spec": {"containers": [
                        {"name": "app", "image": format!("example/app:{payload}")}
                    ]}
                }
            });
            if payload == 2 {
                // Replicas left to an HPA when 0 or 1.
                object["spec"]["replicas"] = json!(3);
            }
        }
        "ClusterRole" => {
            object["rules"] = json!([{"verbs": ["get"], "resources": [format!("r{payload}")]}])
        }
        "CustomResourceDefinition" => {
            object["spec"] = json!({"group": "example.com", "scope": "Namespaced",
                "names": {"kind": "Widget", "plural": "widgets"},
                "versions": [{"name": "v1", "served": true, "storage": true}]});
        }
        "Widget" => object["spec"] = json!({ "size": payload }),
        _ => {}
    }
    object
}

/// The objects of a repository: distinct IDs, in no particular order.
pub fn repository_objects() -> impl Strategy<Value = Vec<Value>> {
    vec(resource_object(), 0..14).prop_map(|objects| {
        let mut seen = BTreeSet::new();
        objects
            .into_iter()
            .filter(|o| id_of(o).is_some_and(|id| seen.insert(id)))
            .collect()
    })
}

/// Writes objects into manifest files, several documents to a file.
pub fn render(objects: &[Value], files: usize) -> FileSet {
    let files = files.max(1);
    let mut texts = vec![String::new(); files];
    for (i, object) in objects.iter().enumerate() {
        let text = &mut texts[i % files];
        text.push_str("---\n# generated\n");
        text.push_str(&object.to_string());
        text.push('\n');
    }
    texts
        .into_iter()
        .enumerate()
        .filter(|(_, t)| !t.is_empty())
        .map(|(i, t)| (format!("dir{}/m{i}.yaml", i % 2), t.into_bytes()))
        .collect()
}

/// A repository that loads without error.
pub fn repository() -> impl Strategy<Value = FileSet> {
    (repository_objects(), 1usize..4).prop_map(|(objects, files)| render(&objects, files))
}

/// A repository with one defect that makes loading fail: a duplicate
/// resource, a YAML syntax error, a missing name, or a non-string annotation.
pub fn broken_repository() -> impl Strategy<Value = FileSet> {
    (repository(), 0u8..4).prop_map(|(mut files, defect)| {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "dup", "namespace": "default"}});
        let text = match defect {
            0 => format!("{cm}\n---\n{cm}\n"),
            1 => "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: [unclosed\n".to_owned(),
            2 => "apiVersion: v1\nkind: ConfigMap\nmetadata: {namespace: default}\n".to_owned(),
            _ => "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: n\n  annotations: {fluxcd.io/ignore: true}\n".to_owned(),
        };
        files.insert("zz-broken.yaml", text);
        files
    })
}

/// Options for a sync of [`SYNC_SET`]: any namespace restriction (possibly
/// naming namespaces that do not exist), any GC mode, cascading GC and
/// apply-everything sometimes.
pub fn sync_options() -> impl Strategy<Value = SyncOptions> {
    let namespaces = prop_oneof![
        Just(Namespaces::All),
        proptest::sample::subsequence(
            vec!["default", "team-a", "team-b", "kube-system", "absent"],
            0..=3
        )
        .prop_map(|list| Namespaces::Only(list.into_iter().map(str::to_owned).collect())),
    ];
    let gc = prop_oneof![1 => Just(GcMode::Off), 1 => Just(GcMode::DryRun), 3 => Just(GcMode::On)];
    (
        namespaces,
        gc,
        prop::bool::weighted(0.25),
        prop::bool::weighted(0.15),
    )
        .prop_map(
            |(namespaces, gc, gc_cascading, apply_unchanged)| SyncOptions {
                sync_set: SyncSetName::new(SYNC_SET),
                namespaces,
                gc,
                gc_cascading,
                apply_unchanged,
                overlaps: Default::default(),
            },
        )
}

/// How a generated live object came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// Applied by this sync set from the repository, maybe since changed.
    Applied,
    /// Applied by this sync set, since removed from git.
    Orphan,
    /// Applied by another sync set.
    Foreign,
    /// Carries a mark label no Flux writes.
    Malformed,
    /// Created by someone else.
    Unmarked,
}

fn origin() -> impl Strategy<Value = Origin> {
    prop_oneof![
        5 => Just(Origin::Applied),
        3 => Just(Origin::Orphan),
        1 => Just(Origin::Foreign),
        1 => Just(Origin::Malformed),
        2 => Just(Origin::Unmarked),
    ]
}

#[derive(Debug, Clone)]
struct LiveSeed {
    origin: Origin,
    pick: usize,
    object: Value,
    drift: bool,
    older_version: bool,
    ignore: Option<(&'static str, &'static str)>,
    owned: bool,
}

fn live_seed() -> impl Strategy<Value = LiveSeed> {
    (
        origin(),
        any::<usize>(),
        resource_object(),
        prop::bool::weighted(0.2),
        prop::bool::weighted(0.2),
        ignore_annotation(),
        prop::bool::weighted(0.1),
    )
        .prop_map(
            |(origin, pick, object, drift, older_version, ignore, owned)| LiveSeed {
                origin,
                pick,
                object,
                drift,
                older_version,
                ignore,
                owned,
            },
        )
}

/// Makes `object` look as it would after Flux applied it.
fn as_applied(set: &str, id: &ResourceId, object: &mut Value, sum: String) {
    let mark = SyncSetName::new(set).gc_mark(id);
    let meta = &mut object["metadata"];
    if let Some(ns) = id.namespace() {
        meta["namespace"] = json!(ns);
    }
    if !meta["labels"].is_object() {
        meta["labels"] = json!({});
    }
    meta["labels"][GC_MARK_LABEL] = json!(mark);
    if !meta["annotations"].is_object() {
        meta["annotations"] = json!({});
    }
    meta["annotations"][CHECKSUM_ANNOTATION] = json!(sum);
}

/// The live objects, and for those this sync set applied, what it applied
/// (the fields its field manager owns).
type Live = (Vec<LiveObject>, BTreeMap<ResourceId, Value>);

fn build_live(desired: &[Value], namespaces: &[Option<bool>], seeds: Vec<LiveSeed>) -> Live {
    let mut live: Vec<LiveObject> = Vec::new();
    let mut owned = BTreeMap::new();
    let mut seen = BTreeSet::new();
    // Namespaces first: absent, present, or present with this set's mark.
    for (name, state) in NAMESPACES.iter().zip(namespaces) {
        let Some(marked) = state else { continue };
        let id = ResourceId::cluster("namespace", *name);
        let mut object =
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
        if *marked {
            let sum = checksum(&object);
            as_applied(SYNC_SET, &id, &mut object, sum);
            owned.insert(id.clone(), object.clone());
        }
        seen.insert(id.clone());
        live.push(frozen(id, &object));
    }
    for seed in seeds {
        let mut object = match seed.origin {
            Origin::Applied if !desired.is_empty() => desired[seed.pick % desired.len()].clone(),
            _ => seed.object.clone(),
        };
        let Some(id) = id_of(&object) else { continue };
        if let Some(ns) = id.namespace()
            && !seen.contains(&ResourceId::cluster("namespace", ns))
        {
            continue;
        }
        if !seen.insert(id.clone()) {
            continue;
        }
        if seed.older_version && matches!(seed.origin, Origin::Applied | Origin::Orphan) {
            // An older version, applied before git changed: it had a label
            // git has since removed, and other data.
            object["metadata"]["labels"]["previous"] = json!("yes");
            if object["data"].is_object() {
                object["data"]["value"] = json!("old");
            }
        }
        let sum = checksum(&object);
        // Live objects are as the server stores them.
        let mut object = as_stored(&object).into_owned();
        match seed.origin {
            Origin::Applied | Origin::Orphan => {
                as_applied(SYNC_SET, &id, &mut object, sum);
                owned.insert(id.clone(), object.clone());
            }
            Origin::Foreign => as_applied(OTHER_SYNC_SET, &id, &mut object, sum),
            Origin::Malformed => {
                as_applied(SYNC_SET, &id, &mut object, sum);
                object["metadata"]["labels"][GC_MARK_LABEL] = json!(match seed.pick % 3 {
                    0 => "true".to_owned(),
                    1 => format!("sha256.{}", "x".repeat(10)),
                    _ => String::new(),
                });
            }
            Origin::Unmarked => {
                if let Some(ns) = id.namespace() {
                    object["metadata"]["namespace"] = json!(ns);
                }
            }
        }
        // Changes by others since: hand edits, annotations, owners.
        if seed.drift {
            object["metadata"]["labels"]["drifted"] = json!("yes");
            if object["data"].is_object() {
                object["data"]["value"] = json!("edited by hand");
            }
        }
        if let Some((key, value)) = seed.ignore {
            if !object["metadata"]["annotations"].is_object() {
                object["metadata"]["annotations"] = json!({});
            }
            object["metadata"]["annotations"][key] = json!(value);
        }
        if seed.owned {
            object["metadata"]["ownerReferences"] =
                json!([{"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": "u"}]);
        }
        object["metadata"]["uid"] = json!(format!("uid-{}", live.len()));
        live.push(frozen(id, &object));
    }
    (live, owned)
}

/// A generated live object (small: it always freezes).
fn frozen(id: ResourceId, object: &Value) -> LiveObject {
    LiveObject::new(id, object).expect("a generated object is small")
}

/// A repository, a cluster and options to sync one onto the other.
#[derive(Clone)]
pub struct Scenario {
    /// The repository's files.
    pub files: FileSet,
    /// The cluster's objects before the sync.
    pub live: Vec<LiveObject>,
    /// For the live objects this sync set applied earlier, what it applied
    /// (the in-memory cluster's record of the fields Flux owns).
    pub owned: BTreeMap<ResourceId, Value>,
    /// The sync's options (sync set [`SYNC_SET`]).
    pub options: SyncOptions,
}

impl std::fmt::Debug for Scenario {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Files as text and objects as JSON, so a failing case reads well.
        let files: BTreeMap<&str, std::borrow::Cow<'_, str>> = self
            .files
            .iter()
            .map(|(path, bytes)| (path, String::from_utf8_lossy(bytes)))
            .collect();
        let live: Vec<String> = self
            .live
            .iter()
            .map(|o| format!("{} {:?}", o.id, o.object))
            .collect();
        f.debug_struct("Scenario")
            .field("files", &files)
            .field("live", &live)
            .field("owned", &self.owned.keys().collect::<Vec<_>>())
            .field("options", &self.options)
            .finish()
    }
}

impl Scenario {
    /// The repository, loaded with the built-in scopes (so a `Widget`
    /// without its CRD in the repository has an unknown scope).
    pub fn desired(&self) -> Result<Manifests, LoadErrors> {
        parse_files(
            &self.files,
            &[String::new()],
            &BUILTIN,
            &LoadOptions::default(),
        )
    }

    /// An in-memory cluster holding the scenario's live objects.
    pub fn memory_cluster(&self) -> MemoryCluster {
        let cluster = MemoryCluster::new();
        for object in &self.live {
            match self.owned.get(&object.id) {
                Some(applied) => cluster.put_applied(
                    object.id.clone(),
                    object.object.to_value(),
                    applied.clone(),
                ),
                None => cluster.put(object.id.clone(), object.object.to_value()),
            }
        }
        cluster
    }

    /// Whether the live object `id` carried this sync set's mark before the
    /// sync.
    pub fn is_ours(&self, id: &ResourceId) -> bool {
        let set = &self.options.sync_set;
        let copies: Vec<&LiveObject> = self.live.iter().filter(|o| &o.id == id).collect();
        !copies.is_empty()
            && copies.iter().all(|o| {
                o.object
                    .pointer(&["metadata", "labels", GC_MARK_LABEL])
                    .and_then(crate::frozen::Node::as_str)
                    .is_some_and(|v| set.is_mark_of(id, v))
            })
    }
}

fn scenario_from(
    files: impl Strategy<Value = (Vec<Value>, FileSet)>,
) -> impl Strategy<Value = Scenario> {
    (
        files,
        vec(
            prop_oneof![1 => Just(None), 6 => Just(Some(false)), 2 => Just(Some(true))],
            NAMESPACES.len(),
        ),
        vec(live_seed(), 0..14),
        sync_options(),
    )
        .prop_map(|((objects, files), namespaces, seeds, options)| {
            let (live, owned) = build_live(&objects, &namespaces, seeds);
            Scenario {
                files,
                live,
                owned,
                options,
            }
        })
}

/// A scenario whose repository loads.
pub fn scenario() -> impl Strategy<Value = Scenario> {
    scenario_from((repository_objects(), 1usize..4).prop_map(|(objects, n)| {
        let files = render(&objects, n);
        (objects, files)
    }))
}

/// A scenario whose repository fails to load.
pub fn broken_scenario() -> impl Strategy<Value = Scenario> {
    scenario_from(broken_repository().prop_map(|files| (Vec::new(), files)))
}
