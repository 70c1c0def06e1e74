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
