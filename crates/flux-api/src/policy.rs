//! Policy changes as Flux v1's API carries them: the `policy` kind of
//! [`crate::update::Spec`], and the body of the legacy `PATCH /v6/policies`.
//!
//! A policy set is a JSON object from policy name to value (`"true"` for the
//! flags): `{"automated":"true","tag.app":"semver:~1"}`. Very old clients
//! sent a list of names (`["automated"]`), which reads as each name set to
//! `"true"`, as Flux v1 reads it. Names stay strings here;
//! [`PolicyUpdate::to_core`] checks them with flux-core.

use std::collections::BTreeMap;

use flux_core::policy::{Policy, PolicyError};
use serde::{Deserialize, Deserializer, Serialize};

/// `automated`: release new images automatically.
pub const AUTOMATED: &str = "automated";
/// `locked`: never release.
pub const LOCKED: &str = "locked";
/// `locked_user`: who locked the workload.
pub const LOCKED_USER: &str = "locked_user";
/// `locked_msg`: why the workload is locked.
pub const LOCKED_MSG: &str = "locked_msg";
/// `ignore`: leave the workload alone.
pub const IGNORE: &str = "ignore";
/// `tag_all`: a tag filter for every container (in updates only).
pub const TAG_ALL: &str = "tag_all";
/// The prefix of a container's tag filter: `tag.<container>`.
pub const TAG_PREFIX: &str = "tag.";

/// Flux v1's `policy.Set`: policy name → value.
#[derive(Serialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(transparent)]
pub struct PolicySet(pub BTreeMap<String, String>);

impl PolicySet {
    /// An empty set.
    pub fn new() -> Self {
        PolicySet::default()
    }

    /// The set with `name` set to `value`.
    pub fn with(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.0.insert(name.into(), value.into());
        self
    }

    /// The set with the flag `name` set to `"true"`.
    pub fn with_flag(self, name: impl Into<String>) -> Self {
        self.with(name, "true")
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'de> Deserialize<'de> for PolicySet {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            Map(BTreeMap<String, String>),
            List(Vec<String>),
        }
        match Option::<Form>::deserialize(d)? {
            None => Ok(PolicySet::default()),
            Some(Form::Map(map)) => Ok(PolicySet(map)),
            Some(Form::List(names)) => Ok(PolicySet(
                names.into_iter().map(|n| (n, "true".to_owned())).collect(),
            )),
        }
    }
}

/// Flux v1's `resource.PolicyUpdate`: policies to add (with values) and to
/// remove (the values of `remove` are not used; fluxctl sends `"true"`).
/// Both are always written, as `{}` when empty.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(default)]
pub struct PolicyUpdate {
    /// Policies to set.
    pub add: PolicySet,
    /// Policies to remove.
    pub remove: PolicySet,
}

/// Flux v1's `resource.PolicyUpdates`: workload ID → its policy change.
pub type PolicyUpdates = BTreeMap<String, PolicyUpdate>;

impl PolicyUpdate {
    /// Checks the policy names and converts to flux-core's form.
    pub fn to_core(&self) -> Result<flux_core::policy::PolicyUpdate, PolicyError> {
        let mut update = flux_core::policy::PolicyUpdate::default();
        for (name, value) in &self.add.0 {
            update.add.insert(name.parse::<Policy>()?, value.clone());
        }
        for name in self.remove.0.keys() {
            update.remove.insert(name.parse::<Policy>()?);
        }
        Ok(update)
    }
}

impl From<&flux_core::policy::PolicyUpdate> for PolicyUpdate {
    fn from(update: &flux_core::policy::PolicyUpdate) -> Self {
        PolicyUpdate {
            add: PolicySet(
                update
                    .add
                    .iter()
                    .map(|(p, v)| (p.to_string(), v.clone()))
                    .collect(),
            ),
            remove: PolicySet(
                update
                    .remove
                    .iter()
                    .map(|p| (p.to_string(), "true".to_owned()))
                    .collect(),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_legacy_list_reads_as_flags() {
        let set: PolicySet = serde_json::from_str(r#"["automated","locked"]"#).expect("reads");
        assert_eq!(set, PolicySet::new().with_flag(AUTOMATED).with_flag(LOCKED));
        let set: PolicySet = serde_json::from_str("null").expect("reads");
        assert!(set.is_empty());
        assert!(serde_json::from_str::<PolicySet>("3").is_err());
    }

    #[test]
    fn updates_convert_to_core_and_back() {
        let update = PolicyUpdate {
            add: PolicySet::new()
                .with("tag.app", "semver:~1")
                .with_flag(LOCKED),
            remove: PolicySet::new().with_flag(AUTOMATED),
        };
        let core = update.to_core().expect("valid names");
        assert_eq!(PolicyUpdate::from(&core), update);
        let bad = PolicyUpdate {
            add: PolicySet::new().with_flag("frozen"),
            remove: PolicySet::new(),
        };
        assert!(bad.to_core().is_err());
    }
}
