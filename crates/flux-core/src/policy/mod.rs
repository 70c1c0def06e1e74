//! Policies: what a workload's annotations allow Flux to do with it.
//!
//! Users steer Flux with annotations, and every part of Flux reads them: the
//! sync skips ignored resources, automation looks for automated workloads and
//! their tag filters, releases skip locked ones. This module is the one place
//! that reads those annotations ([`Policies::from_annotations`],
//! [`Ignore::from_annotations`]) and the one that turns a policy change
//! ([`PolicyUpdate`], as `fluxctl policy`, `automate` and `lock` send it)
//! into annotation edits ([`PolicyUpdate::annotation_changes`]).
//!
//! Keys are read under `fluxcd.io/`, the legacy `flux.weave.works/`, and for
//! tag filters also `filter.fluxcd.io/<container>`. Where Flux v1 picked one
//! of two disagreeing keys at random (Go map order), here that is an error
//! naming both keys, and so is a boolean policy with a value other than
//! `"true"` or `"false"`: a user who wrote `automated: "yes"` gets told,
//! rather than silently not automated. As in Flux v1, a changed key keeps
//! its prefix (legacy included) and new keys are written under
//! `fluxcd.io/` (see [`PolicyUpdate::annotation_changes`]).

mod pattern;
pub mod semver;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

pub use pattern::{PatternError, TagPattern};

use crate::manifest::Resource;

/// The annotation prefix Flux writes.
pub const PREFIX: &str = "fluxcd.io/";
/// The pre-1.14 prefix, still read.
pub const LEGACY_PREFIX: &str = "flux.weave.works/";
/// The alternative prefix for tag filters: `filter.fluxcd.io/<container>`.
pub const FILTER_PREFIX: &str = "filter.fluxcd.io/";
/// The `ignore` value meaning "apply, but never garbage-collect".
pub const IGNORE_SYNC_ONLY: &str = "sync_only";

/// One policy, named as Flux v1 names it (`automated`, `tag.app`, …).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Policy {
    /// `automated`: release new images automatically.
    Automated,
    /// `locked`: never release.
    Locked,
    /// `locked_msg`: why it is locked.
    LockedMsg,
    /// `locked_user`: who locked it.
    LockedUser,
    /// `ignore`: `true` (not applied, not collected) or `sync_only`.
    Ignore,
    /// `tag.<container>`: the container's tag filter.
    Tag(String),
    /// `tag_all`: a tag filter for every container (only in updates).
    TagAll,
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Policy::Automated => f.write_str("automated"),
            Policy::Locked => f.write_str("locked"),
            Policy::LockedMsg => f.write_str("locked_msg"),
            Policy::LockedUser => f.write_str("locked_user"),
            Policy::Ignore => f.write_str("ignore"),
            Policy::Tag(c) => write!(f, "tag.{c}"),
            Policy::TagAll => f.write_str("tag_all"),
        }
    }
}

impl FromStr for Policy {
    type Err = PolicyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "automated" => Policy::Automated,
            "locked" => Policy::Locked,
            "locked_msg" => Policy::LockedMsg,
            "locked_user" => Policy::LockedUser,
            "ignore" => Policy::Ignore,
            "tag_all" => Policy::TagAll,
            _ => match s.strip_prefix("tag.") {
                Some(c) if !c.is_empty() => Policy::Tag(c.to_owned()),
                _ => return Err(PolicyError::UnknownPolicy { name: s.to_owned() }),
            },
        })
    }
}

impl serde::Serialize for Policy {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Policy {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl Policy {
    /// The policy an annotation key names, if any.
    pub fn from_annotation_key(key: &str) -> Option<Policy> {
        if let Some(c) = key.strip_prefix(FILTER_PREFIX) {
            return (!c.is_empty()).then(|| Policy::Tag(c.to_owned()));
        }
        let name = key
            .strip_prefix(PREFIX)
            .or_else(|| key.strip_prefix(LEGACY_PREFIX))?;
        match name.parse() {
            Ok(Policy::TagAll) | Err(_) => None,
            Ok(p) => Some(p),
        }
    }

    /// The key Flux writes for this policy: `fluxcd.io/<policy>`.
    pub fn annotation_key(&self) -> String {
        format!("{PREFIX}{self}")
    }

    /// Whether this policy's value is `"true"` or `"false"`.
    fn is_boolean(&self) -> bool {
        matches!(self, Policy::Automated | Policy::Locked)
    }
}

/// Whether a resource is left alone by the sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub enum Ignore {
    /// Not ignored: applied and garbage-collected as usual.
    #[default]
    No,
    /// `ignore: "true"`: neither applied nor garbage-collected.
    Yes,
    /// `ignore: sync_only`: applied from git, never garbage-collected.
    SyncOnly,
}

impl Ignore {
    /// Reads the `ignore` policy alone, for the sync planner. An unknown
    /// value or two disagreeing keys are an error naming the keys.
    pub fn from_annotations(annotations: &BTreeMap<&str, &str>) -> Result<Ignore, PolicyError> {
        let found = collect(annotations, |p| *p == Policy::Ignore)?;
        match found.get(&Policy::Ignore) {
            None => Ok(Ignore::No),
            Some((key, value)) => parse_ignore(key, value),
        }
    }

    /// Whether the sync applies the resource.
    pub fn applies(self) -> bool {
        self != Ignore::Yes
    }

    /// Whether garbage collection may delete the resource.
    pub fn collectable(self) -> bool {
        self == Ignore::No
    }
}

fn parse_ignore(key: &str, value: &str) -> Result<Ignore, PolicyError> {
    match value {
        "true" => Ok(Ignore::Yes),
        IGNORE_SYNC_ONLY => Ok(Ignore::SyncOnly),
        "false" => Ok(Ignore::No),
        _ => Err(PolicyError::InvalidValue {
            key: key.to_owned(),
            value: value.to_owned(),
            expected: "\"true\", \"false\" or \"sync_only\"",
        }),
    }
}

/// A resource's policy annotations, read and checked.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Policies {
    /// `automated: "true"`.
    pub automated: bool,
    /// `locked: "true"`.
    pub locked: bool,
    /// `locked_msg`.
    pub locked_msg: Option<String>,
    /// `locked_user`.
    pub locked_user: Option<String>,
    /// `ignore`.
    pub ignore: Ignore,
    /// Tag filters by container name.
    pub tags: BTreeMap<String, TagPattern>,
}

impl Policies {
    /// Reads the policies of a resource.
    pub fn of(resource: &Resource) -> Result<Policies, PolicyError> {
        Self::from_annotations(&resource.annotations())
    }

    /// Reads policies from annotations (string values only).
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use flux_core::policy::Policies;
    /// let a = BTreeMap::from([
    ///     ("fluxcd.io/automated", "true"),
    ///     ("filter.fluxcd.io/app", "semver:~1.2"),
    /// ]);
    /// let p = Policies::from_annotations(&a).unwrap();
    /// assert!(p.automated && !p.locked);
    /// assert_eq!(p.tag_pattern("app").to_string(), "semver:~1.2");
    /// assert!(p.tag_pattern("other").is_all());
    /// ```
    pub fn from_annotations(annotations: &BTreeMap<&str, &str>) -> Result<Policies, PolicyError> {
        let found = collect(annotations, |_| true)?;
        let mut out = Policies::default();
        for (policy, (key, value)) in found {
            let boolean = || match value {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err(PolicyError::InvalidValue {
                    key: key.to_owned(),
                    value: value.to_owned(),
                    expected: "\"true\" or \"false\"",
                }),
            };
            match policy {
                Policy::Automated => out.automated = boolean()?,
                Policy::Locked => out.locked = boolean()?,
                Policy::LockedMsg => out.locked_msg = Some(value.to_owned()),
                Policy::LockedUser => out.locked_user = Some(value.to_owned()),
                Policy::Ignore => out.ignore = parse_ignore(key, value)?,
                Policy::Tag(container) => {
                    let pattern =
                        TagPattern::parse(value).map_err(|source| PolicyError::InvalidPattern {
                            key: key.to_owned(),
                            source,
                        })?;
                    out.tags.insert(container, pattern);
                }
                Policy::TagAll => {}
            }
        }
        Ok(out)
    }

    /// The tag filter of a container (`glob:*` when it has none).
    pub fn tag_pattern(&self, container: &str) -> TagPattern {
        self.tags
            .get(container)
            .cloned()
            .unwrap_or_else(TagPattern::all)
    }

    /// Whether automation may release new images: automated, not locked,
    /// not ignored.
    pub fn automation_allowed(&self) -> bool {
        self.automated && !self.locked && self.ignore != Ignore::Yes
    }
}

/// Every policy annotation, by policy, with the key it came from. Two keys
/// for one policy must agree.
fn collect<'a>(
    annotations: &BTreeMap<&'a str, &'a str>,
    want: impl Fn(&Policy) -> bool,
) -> Result<BTreeMap<Policy, (&'a str, &'a str)>, PolicyError> {
    let mut found: BTreeMap<Policy, (&str, &str)> = BTreeMap::new();
    for (&key, &value) in annotations {
        let Some(policy) = Policy::from_annotation_key(key).filter(|p| want(p)) else {
            continue;
        };
        if let Some(&(first_key, first_value)) = found.get(&policy) {
            if first_value != value {
                return Err(PolicyError::Conflict {
                    policy: policy.to_string(),
                    first: format!("{first_key}: {first_value:?}"),
                    second: format!("{key}: {value:?}"),
                });
            }
            continue;
        }
        found.insert(policy, (key, value));
    }
    Ok(found)
}

/// A policy annotation is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// Two annotations set one policy to different values.
    #[error("conflicting annotations for policy {policy}: {first} and {second}")]
    Conflict {
        /// The policy.
        policy: String,
        /// One annotation, `key: "value"`.
        first: String,
        /// The other.
        second: String,
    },
    /// A policy has a value it cannot have.
    #[error("annotation {key}: {value:?} is not valid; expected {expected}")]
    InvalidValue {
        /// The annotation key.
        key: String,
        /// Its value.
        value: String,
        /// What it may be.
        expected: &'static str,
    },
    /// A tag filter is not a valid pattern.
    #[error("annotation {key}: {source}")]
    InvalidPattern {
        /// The annotation key.
        key: String,
        /// Why the pattern is invalid.
        #[source]
        source: PatternError,
    },
    /// A policy name is unknown.
    #[error(
        "unknown policy {name:?} (known: automated, locked, locked_msg, locked_user, ignore, tag.<container>, tag_all)"
    )]
    UnknownPolicy {
        /// The name given.
        name: String,
    },
}

/// A change of policies, as `fluxctl policy` and friends request it:
/// policies to add (with values) and policies to remove.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PolicyUpdate {
    /// Policies to set, with their values (`"true"` for flags).
    #[serde(default, deserialize_with = "policy_set::nullable_map")]
    pub add: BTreeMap<Policy, String>,
    /// Policies to remove.
    #[serde(default, with = "policy_set")]
    pub remove: BTreeSet<Policy>,
}

/// Flux v1 sends `remove` as a map of policies to (ignored) values.
mod policy_set {
    use std::collections::{BTreeMap, BTreeSet};

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::Policy;

    pub fn serialize<S: Serializer>(set: &BTreeSet<Policy>, s: S) -> Result<S::Ok, S::Error> {
        let map: BTreeMap<&Policy, &str> = set.iter().map(|p| (p, "true")).collect();
        map.serialize(s)
    }

    pub fn nullable_map<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<Policy, String>, D::Error> {
        Ok(Option::<BTreeMap<Policy, String>>::deserialize(d)?.unwrap_or_default())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeSet<Policy>, D::Error> {
        let map = Option::<BTreeMap<Policy, serde_json::Value>>::deserialize(d)?;
        Ok(map.unwrap_or_default().into_keys().collect())
    }
}

/// One annotation edit: set `key` to `value`, or remove it (`None`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct AnnotationChange {
    /// The annotation key.
    pub key: String,
    /// The new value, or `None` to remove the key.
    pub value: Option<String>,
}

impl PolicyUpdate {
    /// `automate`: add `automated`.
    pub fn automate() -> Self {
        Self::adding(Policy::Automated, "true")
    }

    /// `deautomate`: remove `automated`.
    pub fn deautomate() -> Self {
        Self::removing([Policy::Automated])
    }

    /// `lock`, with the user and message recorded when given.
    pub fn lock(user: Option<&str>, message: Option<&str>) -> Self {
        let mut u = Self::adding(Policy::Locked, "true");
        if let Some(user) = user.filter(|s| !s.is_empty()) {
            u.add.insert(Policy::LockedUser, user.to_owned());
        }
        if let Some(msg) = message.filter(|s| !s.is_empty()) {
            u.add.insert(Policy::LockedMsg, msg.to_owned());
        }
        u
    }

    /// `unlock`: remove `locked`, `locked_msg` and `locked_user`.
    pub fn unlock() -> Self {
        Self::removing([Policy::Locked, Policy::LockedMsg, Policy::LockedUser])
    }

    /// Sets one policy.
    pub fn adding(policy: Policy, value: &str) -> Self {
        PolicyUpdate {
            add: BTreeMap::from([(policy, value.to_owned())]),
            remove: BTreeSet::new(),
        }
    }

    /// Removes policies.
    pub fn removing(policies: impl IntoIterator<Item = Policy>) -> Self {
        PolicyUpdate {
            add: BTreeMap::new(),
            remove: policies.into_iter().collect(),
        }
    }

    /// Whether the update changes nothing.
    pub fn is_empty(&self) -> bool {
        self.add.is_empty() && self.remove.is_empty()
    }

    /// Checks values (flags `"true"`/`"false"`, valid tag patterns) and
    /// normalises tag patterns (`1.*` becomes `glob:1.*`). Call this when
    /// the change is requested, so a bad pattern is refused then.
    pub fn validated(&self) -> Result<PolicyUpdate, PolicyError> {
        let mut out = PolicyUpdate {
            add: BTreeMap::new(),
            remove: self.remove.clone(),
        };
        for (policy, value) in &self.add {
            let key = policy.annotation_key();
            let value = match policy {
                Policy::Tag(_) | Policy::TagAll => TagPattern::parse(value)
                    .map_err(|source| PolicyError::InvalidPattern { key, source })?
                    .to_string(),
                Policy::Ignore => {
                    parse_ignore(&key, value)?;
                    value.clone()
                }
                p if p.is_boolean() && value != "true" && value != "false" => {
                    return Err(PolicyError::InvalidValue {
                        key,
                        value: value.clone(),
                        expected: "\"true\" or \"false\"",
                    });
                }
                _ => value.clone(),
            };
            out.add.insert(policy.clone(), value);
        }
        Ok(out)
    }

    /// The annotation edits that carry out this update on a resource with
    /// `annotations` and containers named `containers`, by Flux v1's rules:
    ///
    /// - `tag_all` becomes a filter per container; a `glob:*` filter
    ///   removes the container's filter instead (it allows everything);
    /// - a policy both added and removed in one update is removed (so
    ///   `--tag-all=X --tag c=*` sets X on every container but `c`);
    /// - a policy already set to the value asked for changes nothing,
    ///   whatever prefix its key has;
    /// - an existing key keeps its prefix (`fluxcd.io/`,
    ///   `flux.weave.works/` or `filter.fluxcd.io/`) and only its value
    ///   changes; a new key is written under `fluxcd.io/`;
    /// - removing a policy removes every key that sets it.
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use flux_core::policy::{AnnotationChange, Policy, PolicyUpdate};
    /// let existing = BTreeMap::from([("flux.weave.works/locked", "true")]);
    /// let changes = PolicyUpdate::unlock().annotation_changes(&existing, &["app"]).unwrap();
    /// assert_eq!(changes, [AnnotationChange { key: "flux.weave.works/locked".into(), value: None }]);
    /// let tag = PolicyUpdate::adding(Policy::Tag("app".into()), "2.*");
    /// let legacy = BTreeMap::from([("flux.weave.works/tag.app", "glob:1.*")]);
    /// let changes = tag.annotation_changes(&legacy, &["app"]).unwrap();
    /// assert_eq!(changes, [AnnotationChange { key: "flux.weave.works/tag.app".into(), value: Some("glob:2.*".into()) }]);
    /// ```
    pub fn annotation_changes(
        &self,
        annotations: &BTreeMap<&str, &str>,
        containers: &[&str],
    ) -> Result<Vec<AnnotationChange>, PolicyError> {
        let update = self.validated()?;
        let mut set: BTreeMap<Policy, String> = BTreeMap::new();
        let mut remove: BTreeSet<Policy> = update.remove.clone();
        for (policy, value) in update.add {
            let targets = match &policy {
                Policy::TagAll => containers
                    .iter()
                    .map(|c| Policy::Tag((*c).to_owned()))
                    .collect(),
                _ => vec![policy.clone()],
            };
            for target in targets {
                if update.remove.contains(&target) {
                    continue; // removal wins
                }
                let is_all_tags = matches!(target, Policy::Tag(_)) && value == "glob:*";
                if is_all_tags {
                    remove.insert(target);
                } else {
                    set.insert(target, value.clone());
                }
            }
        }
        remove.remove(&Policy::TagAll);
        let mut changes = BTreeMap::new();
        let mut present: BTreeSet<Policy> = BTreeSet::new();
        for &key in annotations.keys() {
            let Some(policy) = Policy::from_annotation_key(key) else {
                continue;
            };
            if remove.contains(&policy) {
                changes.insert(key.to_owned(), None);
            } else if let Some(value) = set.get(&policy) {
                changes.insert(key.to_owned(), Some(value.clone()));
                present.insert(policy);
            }
        }
        for (policy, value) in set {
            if !present.contains(&policy) {
                changes.insert(policy.annotation_key(), Some(value));
            }
        }
        // Drop no-op sets so an unchanged policy edits nothing.
        Ok(changes
            .into_iter()
            .filter(|(k, v)| match v {
                Some(v) => annotations.get(k.as_str()) != Some(&v.as_str()),
                None => true,
            })
            .map(|(key, value)| AnnotationChange { key, value })
            .collect())
    }
}

#[cfg(test)]
mod tests;
