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

mod clients {
    //! The request log and faults aimed at one client, through kube-rs.

    use std::time::Duration;

    use futures::{StreamExt as _, TryStreamExt as _};
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::api::{Api, Patch, PatchParams, WatchEvent, WatchParams};
    use kube_emulator::{Access, Emulator, FaultAction, FaultRule, Server};

    async fn client(server: &Server, token: &str) -> Api<ConfigMap> {
        let mut cfg = kube::Config::new(server.url().parse().expect("the emulator URL"));
        cfg.auth_info.token = Some(token.to_owned().into());
        cfg.read_timeout = Some(Duration::from_secs(5));
        Api::namespaced(kube::Client::try_from(cfg).expect("client"), "default")
    }

    fn cm(name: &str, v: u32) -> Patch<serde_json::Value> {
        Patch::Apply(serde_json::json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name}, "data": {"v": v.to_string()}}))
    }

    #[tokio::test]
    async fn one_client_is_cut_off_and_the_log_shows_when() {
        let server = Emulator::new()
            .access(Access {
                admin_tokens: vec!["replica-1".into(), "replica-2".into()],
                rules: vec![],
                anonymous_admin: false,
            })
            .start()
            .await
            .unwrap();
        let (one, two) = (
            client(&server, "replica-1").await,
            client(&server, "replica-2").await,
        );
        let pp = PatchParams::apply("fluxd").force();
        for v in 0..3 {
            one.patch("one", &pp, &cm("one", v)).await.unwrap();
            two.patch("two", &pp, &cm("two", v)).await.unwrap();
        }
        let mut watch = one
            .watch(&WatchParams::default(), "0")
            .await
            .unwrap()
            .boxed();
        assert!(matches!(
            watch.try_next().await,
            Ok(Some(WatchEvent::Added(_)))
        ));

        let cut = server
            .faults()
            .add(FaultRule::always(FaultAction::Drop).token("replica-1"));
        let t = chrono::Utc::now();
        // Its open watch ends; its requests fail; the other one's work.
        let rest = tokio::time::timeout(Duration::from_secs(5), async {
            let mut n = 0;
            while let Ok(Some(_)) = watch.try_next().await {
                n += 1;
            }
            n
        })
        .await
        .expect("the cut-off client's watch ends");
        assert!(rest <= 2, "{rest} more events");
        assert!(one.patch("one", &pp, &cm("one", 9)).await.is_err());
        two.patch("two", &pp, &cm("two", 9)).await.unwrap();

        let log = server.request_log();
        let writes = |token: &str| {
            log.iter()
                .filter(|r| r.token.as_deref() == Some(token) && r.is_write())
                .collect::<Vec<_>>()
        };
        let one_writes = writes("replica-1");
        assert!(
            one_writes
                .iter()
                .all(|r| r.user == "admin" && r.verb == "patch")
        );
        let last_ok = one_writes
            .iter()
            .filter(|r| r.status == 200)
            .map(|r| r.time)
            .max()
            .unwrap();
        assert!(last_ok < t, "replica-1 stopped writing at the cut");
        let after: Vec<_> = one_writes.iter().filter(|r| r.time >= t).collect();
        assert!(
            !after.is_empty() && after.iter().all(|r| r.status == 0),
            "{after:?}"
        );
        assert!(
            writes("replica-2")
                .iter()
                .any(|r| r.time >= t && r.status == 200 && r.path.ends_with("/configmaps/two"))
        );
        // Each object was applied once per change: no double apply.
        let applies = writes("replica-2")
            .iter()
            .filter(|r| r.query.contains("fieldManager=fluxd"))
            .count();
        assert_eq!(applies, 4);
        assert!(
            log.iter()
                .any(|r| r.verb == "watch" && r.token.as_deref() == Some("replica-1"))
        );

        // Removing the rule lets it back in.
        server.faults().remove(cut);
        one.patch("one", &pp, &cm("one", 10)).await.unwrap();
        server.clear_requests();
        assert!(server.request_log().is_empty());
    }

    #[tokio::test]
    async fn errors_and_latency_for_one_user_agent() {
        let server = Emulator::new().start().await.unwrap();
        server.faults().add(
            FaultRule::always(FaultAction::Status {
                code: 500,
                retry_after: None,
            })
            .user_agent("flaky-agent"),
        );
        let mut cfg = kube::Config::new(server.url().parse().unwrap());
        cfg.headers
            .push((http::header::USER_AGENT, "flaky-agent/1.0".parse().unwrap()));
        let flaky: Api<ConfigMap> = Api::default_namespaced(kube::Client::try_from(cfg).unwrap());
        let fine: Api<ConfigMap> = Api::default_namespaced(
            kube::Client::try_from(kube::Config::new(server.url().parse().unwrap())).unwrap(),
        );
        let e = flaky.list(&Default::default()).await.unwrap_err();
        assert!(e.to_string().contains("500"), "{e}");
        fine.list(&Default::default()).await.unwrap();
        let log = server.request_log();
        let flaky_log: Vec<_> = log
            .iter()
            .filter(|r| r.user_agent.starts_with("flaky-agent"))
            .collect();
        assert!(!flaky_log.is_empty() && flaky_log.iter().all(|r| r.status == 500));
        assert!(log.iter().any(|r| !r.user_agent.starts_with("flaky-agent")
            && r.verb == "list"
            && r.status == 200));
    }
}
