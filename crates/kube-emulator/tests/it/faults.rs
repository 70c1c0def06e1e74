//! Injected faults, as kubectl sees them.

use crate::Emu;

#[test]
fn throttling_is_retried_and_drops_fail() {
    let emu = Emu::start();
    emu.ok(&["get", "namespaces"]);
    let (code, _) = emu.http(
        "POST",
        "/emulator/faults",
        r#"{"method": "GET", "pathContains": "/namespaces", "action": {"type": "status", "code": 429, "retryAfter": 0}, "times": 2}"#,
    );
    assert_eq!(code, 200);
    // client-go retries 429s that carry Retry-After.
    let out = emu.ok(&["get", "namespaces", "default", "-o", "name"]);
    assert_eq!(out.trim(), "namespace/default");
    let (_, rules) = emu.http("GET", "/emulator/faults", "");
    assert_eq!(rules.trim(), "[]", "both 429s were used up");
    emu.http(
        "POST",
        "/emulator/faults",
        r#"{"method": "POST", "pathContains": "/configmaps", "action": {"type": "drop"}}"#,
    );
    let dropped = emu.kubectl.run(&["create", "configmap", "c"]);
    assert!(!dropped.ok);
    assert!(
        dropped.stderr.to_lowercase().contains("eof") || dropped.stderr.contains("connection"),
        "{}",
        dropped.stderr
    );
    let (_, stats) = emu.http("GET", "/emulator/stats", "");
    let stats: serde_json::Value = serde_json::from_str(&stats).unwrap();
    assert!(stats["requests"].as_u64().unwrap() > 0);
}
