//! kube-runtime watchers against the emulator (what a controller loop in
//! fluxd would use): the initial list, then changes as they happen, with
//! both initial-list strategies.

use std::time::Duration;

use futures::StreamExt as _;
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::core::DynamicObject;
use kube::discovery::ApiResource;
use kube::runtime::watcher::{self, Event};
use serde_json::json;

use crate::Bed;

async fn client(bed: &Bed) -> kube::Client {
    let config = kube::Config::new(bed.server.url().parse().expect("URL"));
    kube::Client::try_from(config).expect("client")
}

fn cm(name: &str) -> serde_json::Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default"}, "data": {"k": name}})
}

async fn sees_changes(config: watcher::Config) {
    let bed = Bed::new().await;
    let client = client(&bed).await;
    let ar = ApiResource::erase::<k8s_openapi::api::core::v1::ConfigMap>(&());
    let api: Api<DynamicObject> = Api::namespaced_with(client, "default", &ar);
    let pp = PatchParams::apply("test");
    api.patch("before", &pp, &Patch::Apply(cm("before")))
        .await
        .expect("create before");
    let mut stream = watcher::watcher(api.clone(), config).boxed();
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut changed = false;
    while let Ok(Some(ev)) = tokio::time::timeout_at(deadline, stream.next()).await {
        match ev.expect("watch event") {
            Event::InitApply(o) => {
                seen.push(format!("init {}", o.metadata.name.unwrap_or_default()))
            }
            Event::InitDone => {
                seen.push("done".into());
                if !changed {
                    changed = true;
                    api.patch("during", &pp, &Patch::Apply(cm("during")))
                        .await
                        .expect("create during");
                    api.delete("before", &DeleteParams::default())
                        .await
                        .expect("delete before");
                }
            }
            Event::Apply(o) => seen.push(format!("apply {}", o.metadata.name.unwrap_or_default())),
            Event::Delete(o) => {
                seen.push(format!("delete {}", o.metadata.name.unwrap_or_default()));
                break;
            }
            Event::Init => {}
        }
    }
    assert_eq!(
        seen,
        ["init before", "done", "apply during", "delete before"]
    );
}

#[tokio::test]
async fn list_then_watch() {
    sees_changes(watcher::Config::default()).await;
}

#[tokio::test]
async fn streaming_list() {
    sees_changes(watcher::Config::default().streaming_lists()).await;
}

/// A watcher driven by its own task (a watcher only acts when polled),
/// its events as short strings.
fn driven(api: Api<DynamicObject>) -> tokio::sync::mpsc::UnboundedReceiver<String> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut stream = watcher::watcher(api, watcher::Config::default()).boxed();
        while let Some(ev) = stream.next().await {
            let name = |o: &DynamicObject| o.metadata.name.clone().unwrap_or_default();
            let s = match ev {
                Ok(Event::Init) => "init".to_owned(),
                Ok(Event::InitApply(o)) => format!("init {}", name(&o)),
                Ok(Event::InitDone) => "done".to_owned(),
                Ok(Event::Apply(o)) => format!("apply {}", name(&o)),
                Ok(Event::Delete(o)) => format!("delete {}", name(&o)),
                Err(e) => format!("error {e}"),
            };
            if tx.send(s).is_err() {
                break;
            }
        }
    });
    rx
}

/// Events until one equal to `stop`, failing after 20 seconds.
async fn events_until(
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<String>,
    stop: &str,
) -> Vec<String> {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let s = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .unwrap_or_else(|_| panic!("no {stop:?} within 20 s; saw {seen:?}"))
            .expect("the watcher does not end");
        let last = s == stop;
        seen.push(s);
        if last {
            return seen;
        }
    }
}

/// Waits until the server has seen one more watch request than `before`.
async fn watch_opened(bed: &Bed, before: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while bed.server.stats().watches == before {
        assert!(tokio::time::Instant::now() < deadline, "no watch opened");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A watch the server ends is resumed from the last resourceVersion (no new
/// list, nothing missed); once the history it would resume from is gone,
/// the server says 410 in the stream and the watcher lists again.
#[tokio::test]
async fn closed_watches_resume_and_expired_ones_list_again() {
    let bed = Bed::new().await;
    let client = client(&bed).await;
    let ar = ApiResource::erase::<k8s_openapi::api::core::v1::ConfigMap>(&());
    let api: Api<DynamicObject> = Api::namespaced_with(client, "default", &ar);
    let pp = PatchParams::apply("test");
    api.patch("a", &pp, &Patch::Apply(cm("a")))
        .await
        .expect("create a");
    let watches = bed.server.stats().watches;
    let mut rx = driven(api.clone());
    assert_eq!(
        events_until(&mut rx, "done").await,
        ["init", "init a", "done"]
    );
    let lists = bed.server.stats().lists;
    // End the open watch; a change made meanwhile is delivered when the
    // watcher resumes.
    watch_opened(&bed, watches).await;
    let watches = bed.server.stats().watches;
    bed.server.close_watches();
    api.patch("b", &pp, &Patch::Apply(cm("b")))
        .await
        .expect("create b");
    assert_eq!(events_until(&mut rx, "apply b").await, ["apply b"]);
    assert_eq!(bed.server.stats().lists, lists, "resumed without a list");

    // Expired history (a change of another kind moved the server past the
    // watcher's last resourceVersion, then history was compacted): a 410
    // ERROR event, then a fresh list.
    watch_opened(&bed, watches).await;
    let secrets: Api<DynamicObject> = Api::namespaced_with(
        api.clone().into_client(),
        "default",
        &ApiResource::erase::<k8s_openapi::api::core::v1::Secret>(&()),
    );
    secrets
        .patch(
            "s",
            &pp,
            &Patch::Apply(json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}})),
        )
        .await
        .expect("create a secret");
    bed.server.forget_history();
    bed.server.close_watches();
    let seen = events_until(&mut rx, "done").await;
    assert!(
        seen[0].starts_with("error ") && seen[0].contains("too old resource version"),
        "{seen:?}"
    );
    assert_eq!(seen[1..], ["init", "init a", "init b", "done"], "{seen:?}");
    assert_eq!(bed.server.stats().lists, lists + 1);
}
