//! Label selectors (`app=web,tier!=db,env in (a,b),!legacy`) and field
//! selectors (`metadata.name=x`), as list, watch and delete-collection
//! requests use them.

use serde_json::Value;

/// One requirement of a label selector.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Req {
    Eq(String, String),
    NotEq(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

/// A parsed label selector; empty matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector(Vec<Req>);

/// A parsed field selector; empty matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSelector(Vec<(String, bool, String)>);

fn valid_key(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= 317
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
}

/// Splits on commas that are not inside parentheses.
fn split_top(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

impl LabelSelector {
    /// Parses the `labelSelector` query parameter.
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut reqs = Vec::new();
        if s.trim().is_empty() {
            return Ok(Self(reqs));
        }
        for part in split_top(s) {
            let p = part.trim();
            let bad = || format!("unable to parse requirement: {p:?}");
            let key_ok = |k: &str| {
                if valid_key(k) {
                    Ok(k.to_owned())
                } else {
                    Err(format!(
                        "unable to parse requirement: invalid label key {k:?}"
                    ))
                }
            };
            let set = |rest: &str| -> Result<Vec<String>, String> {
                let inner = rest
                    .trim()
                    .strip_prefix('(')
                    .and_then(|r| r.strip_suffix(')'))
                    .ok_or_else(bad)?;
                Ok(inner
                    .split(',')
                    .map(|v| v.trim().to_owned())
                    .filter(|v| !v.is_empty())
                    .collect())
            };
            if let Some(k) = p.strip_prefix('!') {
                reqs.push(Req::NotExists(key_ok(k.trim())?));
            } else if let Some((k, v)) = p.split_once("!=") {
                reqs.push(Req::NotEq(key_ok(k.trim())?, v.trim().to_owned()));
            } else if let Some((k, v)) = p.split_once("==") {
                reqs.push(Req::Eq(key_ok(k.trim())?, v.trim().to_owned()));
            } else if let Some((k, v)) = p.split_once('=') {
                reqs.push(Req::Eq(key_ok(k.trim())?, v.trim().to_owned()));
            } else if let Some((k, rest)) = p.split_once(" notin ") {
                reqs.push(Req::NotIn(key_ok(k.trim())?, set(rest)?));
            } else if let Some((k, rest)) = p.split_once(" in ") {
                reqs.push(Req::In(key_ok(k.trim())?, set(rest)?));
            } else if p.contains(['(', ')', ' ']) {
                return Err(bad());
            } else {
                reqs.push(Req::Exists(key_ok(p)?));
            }
        }
        Ok(Self(reqs))
    }

    /// Whether an object's labels match.
    pub fn matches(&self, obj: &Value) -> bool {
        let labels = obj.pointer("/metadata/labels").and_then(Value::as_object);
        let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
        self.0.iter().all(|r| match r {
            Req::Eq(k, v) => get(k) == Some(v.as_str()),
            Req::NotEq(k, v) => get(k) != Some(v.as_str()),
            Req::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            Req::NotIn(k, vs) => get(k).is_none_or(|x| !vs.iter().any(|v| v == x)),
            Req::Exists(k) => get(k).is_some(),
            Req::NotExists(k) => get(k).is_none(),
        })
    }
}

impl FieldSelector {
    /// Parses the `fieldSelector` query parameter.
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut reqs = Vec::new();
        if s.trim().is_empty() {
            return Ok(Self(reqs));
        }
        for part in s.split(',') {
            let p = part.trim();
            let (k, eq, v) = if let Some((k, v)) = p.split_once("!=") {
                (k, false, v)
            } else if let Some((k, v)) = p.split_once("==") {
                (k, true, v)
            } else if let Some((k, v)) = p.split_once('=') {
                (k, true, v)
            } else {
                return Err(format!("invalid selector: {p:?}; can't understand {p:?}"));
            };
            reqs.push((k.trim().to_owned(), eq, v.trim().to_owned()));
        }
        Ok(Self(reqs))
    }

    /// Whether an object's fields match.
    pub fn matches(&self, obj: &Value) -> bool {
        self.0.iter().all(|(path, eq, want)| {
            let pointer: String = path.split('.').fold(String::new(), |mut acc, s| {
                acc.push('/');
                acc.push_str(s);
                acc
            });
            let got = match obj.pointer(&pointer) {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Null) | None => String::new(),
                Some(other) => other.to_string(),
            };
            (got == *want) == *eq
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Selector-like text: keys, operators, sets and anything.
    fn selectorish() -> impl Strategy<Value = String> {
        let part = prop_oneof![
            Just("app".to_owned()),
            Just("example.com/tier".to_owned()),
            Just("metadata.name".to_owned()),
            Just("=".to_owned()),
            Just("==".to_owned()),
            Just("!=".to_owned()),
            Just("!".to_owned()),
            Just(",".to_owned()),
            Just(" in ".to_owned()),
            Just(" notin ".to_owned()),
            Just("(".to_owned()),
            Just(")".to_owned()),
            Just(" ".to_owned()),
            Just(".".to_owned()),
            "[a-z0-9]{0,5}",
            any::<String>(),
        ];
        proptest::collection::vec(part, 0..16).prop_map(|parts| parts.concat())
    }

    proptest! {
        #[test]
        fn selectors_never_panic_and_stay_proportionate(s in selectorish()) {
            let obj = serde_json::json!({
                "metadata": {"name": "web", "namespace": "demo",
                             "labels": {"app": "web", "example.com/tier": "db"}},
                "status": {"phase": "Running"}
            });
            let parts = s.split(',').count();
            if let Ok(sel) = LabelSelector::parse(&s) {
                prop_assert!(sel.0.len() <= parts);
                let _ = sel.matches(&obj);
            }
            if let Ok(sel) = FieldSelector::parse(&s) {
                prop_assert!(sel.0.len() <= parts);
                let _ = sel.matches(&obj);
            }
        }
    }

    use serde_json::json;

    #[test]
    fn label_selectors() {
        let obj = json!({"metadata": {"labels": {"app": "web", "tier": "front", "fluxcd.io/sync-gc-mark": "sha256.x"}}});
        let cases = [
            ("", true),
            ("app=web", true),
            ("app==web", true),
            ("app=db", false),
            ("app!=db", true),
            ("app!=web", false),
            ("fluxcd.io/sync-gc-mark", true),
            ("!fluxcd.io/sync-gc-mark", false),
            ("missing", false),
            ("!missing", true),
            ("tier in (front, back)", true),
            ("tier in (back)", false),
            ("tier notin (back)", true),
            ("missing notin (x)", true),
            ("app=web,tier in (front),!missing", true),
            ("app=web,tier=back", false),
        ];
        for (sel, want) in cases {
            assert_eq!(
                LabelSelector::parse(sel).unwrap().matches(&obj),
                want,
                "{sel}"
            );
        }
        for bad in ["app in x", "a b", "in (x)"] {
            assert!(LabelSelector::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn field_selectors() {
        let obj = json!({"metadata": {"name": "a", "namespace": "n"}, "type": "Opaque", "spec": {"replicas": 2}});
        let cases = [
            ("metadata.name=a", true),
            ("metadata.name==a", true),
            ("metadata.name!=a", false),
            ("metadata.namespace=n,metadata.name=a", true),
            ("metadata.namespace=m", false),
            ("type=Opaque", true),
            ("spec.replicas=2", true),
        ];
        for (sel, want) in cases {
            assert_eq!(
                FieldSelector::parse(sel).unwrap().matches(&obj),
                want,
                "{sel}"
            );
        }
        assert!(FieldSelector::parse("nonsense").is_err());
    }
}
