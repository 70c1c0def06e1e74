//! Leases (`coordination.k8s.io/v1`) through kube-rs, as leader election
//! uses them: optimistic concurrency with 409s on stale updates, patches,
//! deletes and watches.

use futures::{StreamExt as _, TryStreamExt as _};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube_emulator::Emulator;

async fn client(server: &kube_emulator::Server) -> kube::Client {
    let mut cfg = kube::Config::new(server.url().parse().expect("the emulator's URL"));
    cfg.default_namespace = "default".into();
    kube::Client::try_from(cfg).expect("client")
}

fn lease(name: &str, holder: &str) -> Lease {
    Lease {
        metadata: kube::api::ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some(holder.into()),
            lease_duration_seconds: Some(15),
            renew_time: Some(MicroTime(k8s_openapi::jiff::Timestamp::now())),
            ..Default::default()
        }),
    }
}

fn holder(l: &Lease) -> Option<&str> {
    l.spec.as_ref()?.holder_identity.as_deref()
}

fn code(e: &kube::Error) -> u16 {
    match e {
        kube::Error::Api(s) => s.code,
        _ => 0,
    }
}

#[tokio::test]
async fn stale_updates_conflict_and_one_of_two_racers_wins() {
    let server = Emulator::new().start().await.unwrap();
    let api: Api<Lease> = Api::namespaced(client(&server).await, "kube-system");
    let created = api
        .create(&PostParams::default(), &lease("fluxd", "a"))
        .await
        .unwrap();
    let rv0 = created.metadata.resource_version.clone().unwrap();
    let got = api.get("fluxd").await.unwrap();
    assert_eq!(holder(&got), Some("a"));

    // A renewal with the current resourceVersion succeeds and moves it.
    let mut renew = got.clone();
    renew.spec.as_mut().unwrap().lease_duration_seconds = Some(20);
    let renewed = api
        .replace("fluxd", &PostParams::default(), &renew)
        .await
        .unwrap();
    assert_ne!(
        renewed.metadata.resource_version.as_deref(),
        Some(rv0.as_str())
    );
    // One based on the old version is refused with 409 Conflict.
    let mut stale = got.clone();
    stale.spec.as_mut().unwrap().holder_identity = Some("b".into());
    let e = api
        .replace("fluxd", &PostParams::default(), &stale)
        .await
        .unwrap_err();
    assert_eq!(code(&e), 409, "{e}");
    let kube::Error::Api(status) = &e else {
        unreachable!()
    };
    assert_eq!(status.reason, "Conflict");
    assert!(
        status.message.starts_with(
            "Operation cannot be fulfilled on leases.coordination.k8s.io \"fluxd\": the object has been modified"
        ),
        "{}",
        status.message
    );
    assert_eq!(holder(&api.get("fluxd").await.unwrap()), Some("a"));

    // Two replicas read the same version and race to take the lease:
    // exactly one wins, the other gets a 409, and the winner holds it.
    for round in 0..10 {
        let c1: Api<Lease> = Api::namespaced(client(&server).await, "kube-system");
        let c2: Api<Lease> = Api::namespaced(client(&server).await, "kube-system");
        let base = c1.get("fluxd").await.unwrap();
        let take = |who: &str| {
            let mut l = base.clone();
            l.spec.as_mut().unwrap().holder_identity = Some(format!("{who}-{round}"));
            l
        };
        let (l1, l2) = (take("one"), take("two"));
        let pp = PostParams::default();
        let (r1, r2) = tokio::join!(c1.replace("fluxd", &pp, &l1), c2.replace("fluxd", &pp, &l2));
        let winner = match (&r1, &r2) {
            (Ok(w), Err(e)) | (Err(e), Ok(w)) => {
                assert_eq!(code(e), 409, "{e}");
                holder(w).unwrap().to_owned()
            }
            other => panic!("round {round}: expected one winner, got {other:?}"),
        };
        assert_eq!(
            holder(&api.get("fluxd").await.unwrap()),
            Some(winner.as_str())
        );
    }
}

#[tokio::test]
async fn patch_apply_delete_and_watch() {
    let server = Emulator::new().start().await.unwrap();
    let api: Api<Lease> = Api::namespaced(client(&server).await, "default");
    let mut events = api
        .watch(&WatchParams::default().fields("metadata.name=lock"), "0")
        .await
        .unwrap()
        .boxed();
    api.create(&PostParams::default(), &lease("lock", "a"))
        .await
        .unwrap();
    let merged = api
        .patch(
            "lock",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"holderIdentity": "b"}})),
        )
        .await
        .unwrap();
    assert_eq!(holder(&merged), Some("b"));
    // A merge patch carrying a stale resourceVersion conflicts too.
    let e = api
        .patch(
            "lock",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"metadata": {"resourceVersion": "1"}, "spec": {"holderIdentity": "c"}})),
        )
        .await
        .unwrap_err();
    assert_eq!(code(&e), 409, "{e}");
    let applied = api
        .patch(
            "lock",
            &PatchParams::apply("fluxd").force(),
            &Patch::Apply(serde_json::json!({
                "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "spec": {"holderIdentity": "fluxd-0", "leaseTransitions": 1}})),
        )
        .await
        .unwrap();
    assert_eq!(holder(&applied), Some("fluxd-0"));
    assert_eq!(applied.spec.unwrap().lease_transitions, Some(1));
    api.delete("lock", &DeleteParams::default()).await.unwrap();
    assert_eq!(code(&api.get("lock").await.unwrap_err()), 404);

    let mut seen = Vec::new();
    let collect = async {
        while seen.len() < 4 {
            match events.try_next().await.unwrap() {
                Some(WatchEvent::Added(l)) => seen.push(format!("ADDED {}", holder(&l).unwrap())),
                Some(WatchEvent::Modified(l)) => {
                    seen.push(format!("MODIFIED {}", holder(&l).unwrap()));
                }
                Some(WatchEvent::Deleted(l)) => {
                    seen.push(format!("DELETED {}", holder(&l).unwrap()));
                }
                Some(_) => {}
                None => break,
            }
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(10), collect)
        .await
        .expect("four watch events");
    assert_eq!(
        seen,
        [
            "ADDED a",
            "MODIFIED b",
            "MODIFIED fluxd-0",
            "DELETED fluxd-0"
        ]
    );
}
