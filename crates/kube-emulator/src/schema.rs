//! Just enough of each kind's schema to merge objects the way server-side
//! apply does.
//!
//! Server-side apply needs to know, for every list, whether it is atomic,
//! a set, or a map keyed by some fields (containers by `name`, ports by
//! `containerPort` and `protocol`), and, for every map, whether it is a
//! struct, a granular map or atomic. A real API server reads this from its
//! OpenAPI models; the emulator keeps a hand-written table for the built-in
//! kinds (the lists Flux users' manifests actually contain) and reads the
//! structural schema of each CustomResourceDefinition.
//!
//! Anything the table does not describe is "loose": maps behave as structs
//! and lists are atomic, which is also what a real server does for fields it
//! models as plain structs and unannotated lists.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;

/// How a list is merged and tracked.
#[derive(Debug, Clone, PartialEq)]
pub enum ListKind {
    /// Replaced as a whole; owned as one field.
    Atomic,
    /// A set of scalars; each value owned separately.
    Set,
    /// A map keyed by the named fields of its elements.
    Map {
        /// Key field names.
        keys: Vec<String>,
        /// Values used for key fields an element leaves out.
        defaults: Vec<(String, Value)>,
    },
}

/// The schema of one value.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// An object with named fields.
    Struct(StructNode),
    /// A map whose keys are data (labels, annotations, ConfigMap data).
    Map {
        /// The schema of every value.
        elem: Arc<Node>,
        /// Replaced as a whole.
        atomic: bool,
    },
    /// A list.
    List {
        /// The schema of every element.
        elem: Arc<Node>,
        /// How the list merges.
        kind: ListKind,
    },
    /// A scalar.
    Scalar,
    /// Unknown shape in a built-in kind: objects are structs, lists atomic.
    Loose,
    /// Unknown shape in a schemaless custom resource: objects are granular
    /// maps, lists atomic (what a real server does for
    /// `x-kubernetes-preserve-unknown-fields`).
    Deduced,
}

/// An object with named fields.
#[derive(Debug, Clone, PartialEq)]
pub struct StructNode {
    /// Known fields.
    pub fields: HashMap<String, Arc<Node>>,
    /// The schema of fields not listed.
    pub other: Arc<Node>,
    /// Replaced as a whole (`x-kubernetes-map-type: atomic`, LabelSelector).
    pub atomic: bool,
    /// Fields not listed are unknown and pruned (custom resources without
    /// `x-kubernetes-preserve-unknown-fields`).
    pub closed: bool,
}

static LOOSE: Node = Node::Loose;
static DEDUCED: Node = Node::Deduced;

impl Node {
    /// The schema of field `name` of an object with this schema.
    pub fn field(&self, name: &str) -> &Node {
        match self {
            Node::Struct(s) => s.fields.get(name).map_or(&*s.other, |n| n),
            Node::Map { elem, .. } => elem,
            Node::Deduced => &DEDUCED,
            _ => &LOOSE,
        }
    }

    /// Whether `name` is a declared field of this struct (membership rules
    /// of field sets differ for declared fields and map keys).
    pub fn declares(&self, name: &str) -> bool {
        match self {
            Node::Struct(s) => s.fields.contains_key(name) || matches!(*s.other, Node::Loose),
            Node::Loose => true,
            _ => false,
        }
    }

    /// The schema of the elements of a list with this schema.
    pub fn item(&self) -> &Node {
        match self {
            Node::List { elem, .. } => elem,
            Node::Deduced => &DEDUCED,
            _ => &LOOSE,
        }
    }

    /// How a list with this schema merges.
    pub fn list_kind(&self) -> &ListKind {
        static ATOMIC: ListKind = ListKind::Atomic;
        match self {
            Node::List { kind, .. } => kind,
            _ => &ATOMIC,
        }
    }

    /// Whether an object value with this schema is replaced as a whole.
    pub fn atomic_object(&self) -> bool {
        match self {
            Node::Struct(s) => s.atomic,
            Node::Map { atomic, .. } => *atomic,
            Node::Scalar => true,
            Node::List { .. } => true,
            Node::Loose | Node::Deduced => false,
        }
    }
}

// ---- builders for the built-in table ----

fn arc(n: Node) -> Arc<Node> {
    Arc::new(n)
}

fn st(fields: Vec<(&str, Node)>) -> Node {
    Node::Struct(StructNode {
        fields: fields
            .into_iter()
            .map(|(k, v)| (k.to_owned(), arc(v)))
            .collect(),
        other: arc(Node::Loose),
        atomic: false,
        closed: false,
    })
}

fn atomic_struct() -> Node {
    Node::Struct(StructNode {
        fields: HashMap::new(),
        other: arc(Node::Loose),
        atomic: true,
        closed: false,
    })
}

fn gmap() -> Node {
    Node::Map {
        elem: arc(Node::Scalar),
        atomic: false,
    }
}

fn amap() -> Node {
    Node::Map {
        elem: arc(Node::Scalar),
        atomic: true,
    }
}

fn set() -> Node {
    Node::List {
        elem: arc(Node::Scalar),
        kind: ListKind::Set,
    }
}

fn lmap(keys: &[&str], elem: Node) -> Node {
    Node::List {
        elem: arc(elem),
        kind: ListKind::Map {
            keys: keys.iter().map(|k| (*k).to_owned()).collect(),
            defaults: Vec::new(),
        },
    }
}

fn lmap_tcp(keys: &[&str], elem: Node) -> Node {
    Node::List {
        elem: arc(elem),
        kind: ListKind::Map {
            keys: keys.iter().map(|k| (*k).to_owned()).collect(),
            defaults: vec![("protocol".to_owned(), Value::from("TCP"))],
        },
    }
}

/// ObjectMeta: labels and annotations are granular maps, owner references
/// keyed by uid, finalizers a set.
pub fn object_meta() -> Node {
    st(vec![
        ("labels", gmap()),
        ("annotations", gmap()),
        ("ownerReferences", lmap(&["uid"], Node::Loose)),
        ("finalizers", set()),
    ])
}

fn container() -> Node {
    st(vec![
        (
            "ports",
            lmap_tcp(&["containerPort", "protocol"], Node::Loose),
        ),
        ("env", lmap(&["name"], Node::Loose)),
        ("volumeMounts", lmap(&["mountPath"], Node::Loose)),
        ("volumeDevices", lmap(&["devicePath"], Node::Loose)),
        (
            "resources",
            st(vec![
                ("limits", gmap()),
                ("requests", gmap()),
                ("claims", lmap(&["name"], Node::Loose)),
            ]),
        ),
    ])
}

fn pod_spec() -> Node {
    st(vec![
        ("containers", lmap(&["name"], container())),
        ("initContainers", lmap(&["name"], container())),
        ("ephemeralContainers", lmap(&["name"], container())),
        ("volumes", lmap(&["name"], Node::Loose)),
        ("imagePullSecrets", lmap(&["name"], Node::Loose)),
        ("hostAliases", lmap(&["ip"], Node::Loose)),
        (
            "topologySpreadConstraints",
            lmap(&["topologyKey", "whenUnsatisfiable"], Node::Loose),
        ),
        ("resourceClaims", lmap(&["name"], Node::Loose)),
        ("schedulingGates", lmap(&["name"], Node::Loose)),
        ("nodeSelector", amap()),
        ("overhead", gmap()),
    ])
}

fn pod_template() -> Node {
    st(vec![("metadata", object_meta()), ("spec", pod_spec())])
}

fn conditions_status() -> Node {
    st(vec![("conditions", lmap(&["type"], Node::Loose))])
}

fn workload_spec() -> Node {
    st(vec![
        ("selector", atomic_struct()),
        ("template", pod_template()),
    ])
}

fn root(fields: Vec<(&str, Node)>) -> Node {
    let mut all = vec![("metadata", object_meta())];
    all.extend(fields);
    st(all)
}

/// The merge schema of a built-in kind (`group`, `kind`).
pub fn builtin(group: &str, kind: &str) -> Node {
    match (group, kind) {
        ("", "Pod") => root(vec![("spec", pod_spec()), ("status", conditions_status())]),
        ("", "PodTemplate") => root(vec![("template", pod_template())]),
        ("", "ReplicationController") => root(vec![(
            "spec",
            st(vec![("selector", amap()), ("template", pod_template())]),
        )]),
        ("apps", "Deployment" | "ReplicaSet" | "DaemonSet") => root(vec![
            ("spec", workload_spec()),
            ("status", conditions_status()),
        ]),
        ("apps", "StatefulSet") => root(vec![
            (
                "spec",
                st(vec![
                    ("selector", atomic_struct()),
                    ("template", pod_template()),
                ]),
            ),
            ("status", conditions_status()),
        ]),
        ("batch", "Job") => root(vec![
            ("spec", workload_spec()),
            ("status", conditions_status()),
        ]),
        ("batch", "CronJob") => root(vec![(
            "spec",
            st(vec![(
                "jobTemplate",
                st(vec![("metadata", object_meta()), ("spec", workload_spec())]),
            )]),
        )]),
        ("", "Service") => root(vec![(
            "spec",
            st(vec![
                ("ports", lmap_tcp(&["port", "protocol"], Node::Loose)),
                ("selector", amap()),
            ]),
        )]),
        ("", "ConfigMap") => root(vec![("data", gmap()), ("binaryData", gmap())]),
        ("", "Secret") => root(vec![("data", gmap()), ("stringData", gmap())]),
        ("", "ServiceAccount") => root(vec![
            ("secrets", lmap(&["name"], Node::Loose)),
            ("imagePullSecrets", Node::Loose),
        ]),
        ("", "Namespace") => root(vec![("spec", st(vec![("finalizers", set())]))]),
        ("policy", "PodDisruptionBudget") => {
            root(vec![("spec", st(vec![("selector", atomic_struct())]))])
        }
        _ => root(vec![]),
    }
}

/// The merge schema of a custom resource, from its CRD version's
/// `schema.openAPIV3Schema` (`None` when the CRD gives none).
pub fn from_crd(schema: Option<&Value>) -> Node {
    let mut node = match schema {
        Some(s) => from_openapi(s),
        None => Node::Deduced,
    };
    // metadata is always ObjectMeta, whatever the CRD says.
    let meta = arc(object_meta());
    match &mut node {
        Node::Struct(s) => {
            s.fields.insert("metadata".into(), meta);
            s.fields.insert("apiVersion".into(), arc(Node::Scalar));
            s.fields.insert("kind".into(), arc(Node::Scalar));
        }
        _ => {
            node = Node::Struct(StructNode {
                fields: [
                    ("metadata".to_owned(), meta),
                    ("apiVersion".to_owned(), arc(Node::Scalar)),
                    ("kind".to_owned(), arc(Node::Scalar)),
                ]
                .into_iter()
                .collect(),
                other: arc(Node::Deduced),
                atomic: false,
                closed: false,
            });
        }
    }
    node
}

fn from_openapi(s: &Value) -> Node {
    let preserve = s
        .get("x-kubernetes-preserve-unknown-fields")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let ty = s.get("type").and_then(Value::as_str).unwrap_or("");
    if s.get("x-kubernetes-int-or-string").and_then(Value::as_bool) == Some(true) {
        return Node::Scalar;
    }
    if s.get("x-kubernetes-embedded-resource")
        .and_then(Value::as_bool)
        == Some(true)
    {
        let mut inner = from_openapi_object(s, preserve);
        if let Node::Struct(st) = &mut inner {
            st.fields.insert("metadata".into(), arc(object_meta()));
        }
        return inner;
    }
    match ty {
        "array" => {
            let elem = s.get("items").map_or(Node::Deduced, from_openapi);
            let kind = match s.get("x-kubernetes-list-type").and_then(Value::as_str) {
                Some("set") => ListKind::Set,
                Some("map") => ListKind::Map {
                    keys: s
                        .get("x-kubernetes-list-map-keys")
                        .and_then(Value::as_array)
                        .map(|a| {
                            a.iter()
                                .filter_map(Value::as_str)
                                .map(str::to_owned)
                                .collect()
                        })
                        .unwrap_or_default(),
                    defaults: Vec::new(),
                },
                _ => ListKind::Atomic,
            };
            Node::List {
                elem: arc(elem),
                kind,
            }
        }
        "object" | "" if s.get("properties").is_some() || ty == "object" => {
            from_openapi_object(s, preserve)
        }
        "" if preserve => Node::Deduced,
        "" => Node::Deduced,
        _ => Node::Scalar,
    }
}

fn from_openapi_object(s: &Value, preserve: bool) -> Node {
    let atomic = s.get("x-kubernetes-map-type").and_then(Value::as_str) == Some("atomic");
    if let Some(props) = s.get("properties").and_then(Value::as_object) {
        return Node::Struct(StructNode {
            fields: props
                .iter()
                .map(|(k, v)| (k.clone(), arc(from_openapi(v))))
                .collect(),
            other: arc(if preserve { Node::Deduced } else { Node::Loose }),
            atomic,
            closed: !preserve,
        });
    }
    match s.get("additionalProperties") {
        Some(Value::Object(ap)) => Node::Map {
            elem: arc(from_openapi(&Value::Object(ap.clone()))),
            atomic,
        },
        Some(Value::Bool(true)) => Node::Map {
            elem: arc(Node::Deduced),
            atomic,
        },
        _ if preserve => Node::Deduced,
        // An object with neither properties nor preserve-unknown-fields
        // keeps nothing on a real server; the emulator keeps it as a
        // granular map rather than silently dropping data.
        _ => Node::Deduced,
    }
}

/// Removes fields a closed custom-resource schema does not declare, as a
/// real server prunes them. Returns the dotted paths removed.
pub fn prune_unknown(value: &mut Value, node: &Node) -> Vec<String> {
    let mut removed = Vec::new();
    prune_at(value, node, &mut String::new(), &mut removed);
    removed
}

fn prune_at(value: &mut Value, node: &Node, path: &mut String, removed: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Node::Struct(s) = node
                && s.closed
            {
                let unknown: Vec<String> = map
                    .keys()
                    .filter(|k| !s.fields.contains_key(*k))
                    .cloned()
                    .collect();
                for k in unknown {
                    map.remove(&k);
                    removed.push(format!("{path}.{k}"));
                }
            }
            for (k, v) in map.iter_mut() {
                let len = path.len();
                path.push('.');
                path.push_str(k);
                prune_at(v, node.field(k), path, removed);
                path.truncate(len);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter_mut().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                prune_at(v, node.item(), path, removed);
                path.truncate(len);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn deployment_containers_are_keyed_by_name() {
        let d = builtin("apps", "Deployment");
        let containers = d
            .field("spec")
            .field("template")
            .field("spec")
            .field("containers");
        assert_eq!(
            containers.list_kind(),
            &ListKind::Map {
                keys: vec!["name".into()],
                defaults: vec![]
            }
        );
        let ports = containers.item().field("ports");
        assert!(matches!(ports.list_kind(), ListKind::Map { keys, .. } if keys.len() == 2));
        assert!(d.field("spec").field("selector").atomic_object());
        assert_eq!(
            d.field("spec")
                .field("template")
                .field("spec")
                .field("args"),
            &Node::Loose
        );
    }

    #[test]
    fn crd_schema_list_types_and_pruning() {
        let schema = json!({
            "type": "object",
            "properties": {
                "spec": {
                    "type": "object",
                    "properties": {
                        "items": {"type": "array", "x-kubernetes-list-type": "map",
                                   "x-kubernetes-list-map-keys": ["id"],
                                   "items": {"type": "object", "properties": {"id": {"type": "string"}}}},
                        "values": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                        "tags": {"type": "array", "items": {"type": "string"}}
                    }
                }
            }
        });
        let node = from_crd(Some(&schema));
        let spec = node.field("spec");
        assert!(
            matches!(spec.field("items").list_kind(), ListKind::Map { keys, .. } if keys == &vec!["id".to_string()])
        );
        assert_eq!(spec.field("tags").list_kind(), &ListKind::Atomic);
        assert_eq!(spec.field("values"), &Node::Deduced);
        let mut obj = json!({"metadata": {"name": "x", "labels": {"a": "b"}},
                             "spec": {"typo": 1, "values": {"anything": {"goes": true}}},
                             "extra": true});
        let removed = prune_unknown(&mut obj, &node);
        assert_eq!(
            removed,
            vec![".extra".to_string(), ".spec.typo".to_string()]
        );
        assert_eq!(obj["spec"]["values"]["anything"]["goes"], json!(true));
        assert_eq!(obj["metadata"]["labels"]["a"], json!("b"));
    }

    #[test]
    fn schemaless_crd_is_deduced() {
        let node = from_crd(None);
        assert_eq!(node.field("spec"), &Node::Deduced);
        assert!(!node.declares("spec"));
        assert!(node.declares("metadata"));
    }
}
