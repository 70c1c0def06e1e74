//! Fault injection: latency, throttling (429 with Retry-After), server
//! errors and dropped connections, for reliability tests of clients.
//!
//! Rules match requests by method and path substring and fire a given
//! number of times (or forever). Tests add them in-process; the binary
//! also accepts them at `POST /emulator/faults`.

use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What a fault does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "type")]
pub enum FaultAction {
    /// Wait before handling the request.
    Latency {
        /// How long, in milliseconds.
        millis: u64,
    },
    /// Answer with this status instead of handling the request.
    Status {
        /// HTTP status code (429, 500, 503…).
        code: u16,
        /// `Retry-After` seconds, for 429 and 503.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after: Option<u64>,
    },
    /// Close the connection without answering.
    Drop,
}

/// When a fault fires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FaultRule {
    /// Only requests with this method (`GET`, `PATCH`…), if set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Only requests whose path contains this, if set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_contains: Option<String>,
    /// What happens.
    pub action: FaultAction,
    /// How many times it fires (forever if unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<u32>,
}

impl FaultRule {
    /// A rule firing `action` on every request.
    pub fn always(action: FaultAction) -> Self {
        FaultRule {
            method: None,
            path_contains: None,
            action,
            times: None,
        }
    }

    /// Only for requests with `method`.
    pub fn method(mut self, method: &str) -> Self {
        self.method = Some(method.to_ascii_uppercase());
        self
    }

    /// Only for paths containing `s`.
    pub fn path(mut self, s: &str) -> Self {
        self.path_contains = Some(s.to_owned());
        self
    }

    /// Only `n` times.
    pub fn times(mut self, n: u32) -> Self {
        self.times = Some(n);
        self
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        self.method
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case(method))
            && self
                .path_contains
                .as_deref()
                .is_none_or(|p| path.contains(p))
    }
}

/// What to do to one request.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Verdict {
    /// Total added latency.
    pub delay: Duration,
    /// A status to answer with, or a drop.
    pub action: Option<FaultAction>,
}

/// The active fault rules.
#[derive(Debug, Default)]
pub struct Faults {
    rules: Mutex<Vec<FaultRule>>,
}

impl Faults {
    /// Adds a rule.
    pub fn add(&self, rule: FaultRule) {
        self.lock().push(rule);
    }

    /// Removes every rule.
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// The rules still active.
    pub fn rules(&self) -> Vec<FaultRule> {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<FaultRule>> {
        self.rules
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Decides the fate of a request, using up counted rules.
    pub fn verdict(&self, method: &str, path: &str) -> Verdict {
        let mut rules = self.lock();
        let mut v = Verdict::default();
        for r in rules.iter_mut() {
            if !r.matches(method, path) || r.times == Some(0) {
                continue;
            }
            match &r.action {
                FaultAction::Latency { millis } => v.delay += Duration::from_millis(*millis),
                other => {
                    if v.action.is_some() {
                        continue;
                    }
                    v.action = Some(other.clone());
                }
            }
            if let Some(n) = r.times.as_mut() {
                *n -= 1;
            }
        }
        rules.retain(|r| r.times != Some(0));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counted_rules_fire_then_expire() {
        let f = Faults::default();
        f.add(
            FaultRule::always(FaultAction::Status {
                code: 429,
                retry_after: Some(1),
            })
            .method("patch")
            .times(2),
        );
        f.add(FaultRule::always(FaultAction::Latency { millis: 5 }).path("/configmaps"));
        let v = f.verdict("PATCH", "/api/v1/namespaces/a/configmaps/x");
        assert_eq!(v.delay, Duration::from_millis(5));
        assert_eq!(
            v.action,
            Some(FaultAction::Status {
                code: 429,
                retry_after: Some(1)
            })
        );
        assert!(f.verdict("GET", "/api/v1/pods").action.is_none());
        assert!(f.verdict("PATCH", "/x").action.is_some());
        assert!(f.verdict("PATCH", "/x").action.is_none(), "used up");
        assert_eq!(f.rules().len(), 1);
        let json: FaultRule =
            serde_json::from_str(r#"{"action": {"type": "drop"}, "method": "PATCH"}"#).unwrap();
        assert_eq!(json.action, FaultAction::Drop);
    }
}
