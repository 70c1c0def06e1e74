//! Fault injection: latency, throttling (429 with Retry-After), server
//! errors and dropped connections, for reliability tests of clients.
//!
//! Rules match requests by method, path substring, bearer token and
//! User-Agent, and fire a given number of times (or forever, until
//! removed). A rule on a token or User-Agent cuts one client off (drops,
//! 5xx or latency for it alone) while others keep working; a `Drop` rule
//! also ends that client's open watches. Tests add them in-process; the
//! binary also accepts them at `POST /emulator/faults`.

use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

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
    /// Only requests carrying this bearer token, if set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Only requests whose User-Agent contains this, if set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent_contains: Option<String>,
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
            token: None,
            user_agent_contains: None,
            action,
            times: None,
        }
    }

    /// Only for requests with this bearer token.
    pub fn token(mut self, token: &str) -> Self {
        self.token = Some(token.to_owned());
        self
    }

    /// Only for requests whose User-Agent contains `s`.
    pub fn user_agent(mut self, s: &str) -> Self {
        self.user_agent_contains = Some(s.to_owned());
        self
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

    fn matches(&self, call: &Call<'_>) -> bool {
        self.method
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case(call.method))
            && self
                .path_contains
                .as_deref()
                .is_none_or(|p| call.path.contains(p))
            && self.token.as_deref().is_none_or(|t| call.token == Some(t))
            && self
                .user_agent_contains
                .as_deref()
                .is_none_or(|u| call.user_agent.contains(u))
    }
}

/// What fault rules look at in a request.
#[derive(Debug, Clone, Copy, Default)]
pub struct Call<'a> {
    /// HTTP method.
    pub method: &'a str,
    /// Path.
    pub path: &'a str,
    /// Bearer token, if any.
    pub token: Option<&'a str>,
    /// User-Agent.
    pub user_agent: &'a str,
}

/// Names one added rule, to remove it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FaultId(pub u64);

/// What to do to one request.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Verdict {
    /// Total added latency.
    pub delay: Duration,
    /// A status to answer with, or a drop.
    pub action: Option<FaultAction>,
}

/// The active fault rules.
#[derive(Debug)]
pub struct Faults {
    rules: Mutex<(u64, Vec<(FaultId, FaultRule)>)>,
    changed: watch::Sender<u64>,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            rules: Mutex::new((0, Vec::new())),
            changed: watch::channel(0).0,
        }
    }
}

impl Faults {
    /// Adds a rule; the id removes it again.
    pub fn add(&self, rule: FaultRule) -> FaultId {
        let id = {
            let mut g = self.lock();
            g.0 += 1;
            let id = FaultId(g.0);
            g.1.push((id, rule));
            id
        };
        self.changed.send_modify(|n| *n += 1);
        id
    }

    /// Removes one rule (nothing if it expired or was removed).
    pub fn remove(&self, id: FaultId) {
        self.lock().1.retain(|(i, _)| *i != id);
    }

    /// Removes every rule.
    pub fn clear(&self) {
        self.lock().1.clear();
    }

    /// The rules still active.
    pub fn rules(&self) -> Vec<FaultRule> {
        self.lock().1.iter().map(|(_, r)| r.clone()).collect()
    }

    /// Changes whenever a rule is added (open watches re-check whether
    /// their client was cut off).
    pub fn changed(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Whether a `Drop` rule matches `call` now (without using it up).
    pub fn drops(&self, call: &Call<'_>) -> bool {
        self.lock()
            .1
            .iter()
            .any(|(_, r)| r.action == FaultAction::Drop && r.times != Some(0) && r.matches(call))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (u64, Vec<(FaultId, FaultRule)>)> {
        self.rules
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Decides the fate of a request, using up counted rules.
    pub fn verdict(&self, call: &Call<'_>) -> Verdict {
        let mut g = self.lock();
        let rules = &mut g.1;
        let mut v = Verdict::default();
        for (_, r) in rules.iter_mut() {
            if !r.matches(call) || r.times == Some(0) {
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
        rules.retain(|(_, r)| r.times != Some(0));
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
        let call = |method, path| Call {
            method,
            path,
            ..Call::default()
        };
        let v = f.verdict(&call("PATCH", "/api/v1/namespaces/a/configmaps/x"));
        assert_eq!(v.delay, Duration::from_millis(5));
        assert_eq!(
            v.action,
            Some(FaultAction::Status {
                code: 429,
                retry_after: Some(1)
            })
        );
        assert!(f.verdict(&call("GET", "/api/v1/pods")).action.is_none());
        assert!(f.verdict(&call("PATCH", "/x")).action.is_some());
        assert!(f.verdict(&call("PATCH", "/x")).action.is_none(), "used up");
        assert_eq!(f.rules().len(), 1);
        let json: FaultRule =
            serde_json::from_str(r#"{"action": {"type": "drop"}, "method": "PATCH"}"#).unwrap();
        assert_eq!(json.action, FaultAction::Drop);
    }

    #[test]
    fn rules_for_one_client() {
        let f = Faults::default();
        let id = f.add(FaultRule::always(FaultAction::Drop).token("replica-1"));
        f.add(
            FaultRule::always(FaultAction::Status {
                code: 503,
                retry_after: None,
            })
            .user_agent("fluxd-2"),
        );
        let who = |token, user_agent| Call {
            method: "GET",
            path: "/api/v1/pods",
            token,
            user_agent,
        };
        assert_eq!(
            f.verdict(&who(Some("replica-1"), "x")).action,
            Some(FaultAction::Drop)
        );
        assert!(f.drops(&who(Some("replica-1"), "x")));
        assert!(!f.drops(&who(Some("replica-2"), "fluxd-2/v1")));
        assert!(matches!(
            f.verdict(&who(Some("replica-2"), "fluxd-2/v1")).action,
            Some(FaultAction::Status { code: 503, .. })
        ));
        assert!(f.verdict(&who(None, "kubectl/v1.32")).action.is_none());
        f.remove(id);
        assert!(f.verdict(&who(Some("replica-1"), "x")).action.is_none());
        let json: FaultRule = serde_json::from_str(
            r#"{"action": {"type": "drop"}, "userAgentContains": "fluxd", "token": "t"}"#,
        )
        .unwrap();
        assert_eq!(
            json,
            FaultRule::always(FaultAction::Drop)
                .user_agent("fluxd")
                .token("t")
        );
    }
}
