//! The walkthrough: four steps on a running [`Playground`], each printed
//! as the commands a user would type with their real output, each checked
//! before the next (an outcome that is not what fluxd should have done
//! stops the demo with an error).
//!
//! 1. The first sync: what fluxd applied, seen with kubectl and fluxctl.
//! 2. A commit pushed, then `notify` (what a push webhook sends): applied
//!    at once; the workload it adds runs the demo image's older tag.
//! 3. `fluxctl automate` on that workload: fluxd's automation commits the
//!    newer tag it found in the registry (a one-line diff), then applies it.
//! 4. A file deleted in git: garbage collection deletes its objects.

use std::future::Future;
use std::time::{Duration, Instant};

use flux_api::client::{Client, ClientOptions};
use flux_api::update::ResourceSpec;
use flux_api::v9::{Change, GitUpdate};
use serde_json::Value;

use crate::DemoError;
use crate::playground::{IMAGE_TAGS, Playground};
use crate::shell::{DEMO_AUTHOR, Shell, Transcript};

/// The manifest the walkthrough commits (`REGISTRY` is replaced with the
/// local registry's address).
pub const HELLO_TEMPLATE: &str = include_str!("../manifests/hello-dep.yaml");

/// Where it goes in the repository.
pub const HELLO_PATH: &str = "workloads/hello-dep.yaml";

/// The workload it defines.
pub const HELLO_ID: &str = "demo:deployment/hello";

/// The file deleted in step 4, and the object it defines.
pub const DELETED_PATH: &str = "workloads/memcached-sts.yaml";

/// The walkthrough's clone of the repository, in the playground's
/// directory (left for the user with `--keep`).
pub const WORK_CLONE: &str = "work";

/// How long anything fluxd does may take before the demo gives up.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// What the walkthrough saw.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// From the notify request to the new workload being in the cluster.
    pub notify_to_applied: Duration,
    /// The commit fluxd's automation made.
    pub automation_commit: String,
    /// Its `git show --numstat` lines.
    pub automation_numstat: String,
    /// The whole walkthrough.
    pub took: Duration,
}

/// Runs the four steps.
pub async fn run(pg: &Playground, out: &Transcript) -> Result<Outcome, DemoError> {
    let started = Instant::now();
    let kubeconfig = pg.path("kubeconfig").display().to_string();
    let mut sh = Shell::new(
        out,
        pg.dir(),
        &[("KUBECONFIG", &kubeconfig), ("FLUX_URL", &pg.api_url)],
    );
    let api = Client::new(&pg.api_url, ClientOptions::default())
        .map_err(|e| DemoError::setup("a client of fluxd's API", e))?;
    out.say("\nThe commands below run in that directory, with:");
    out.command(&format!("export KUBECONFIG={kubeconfig}"));
    out.command(&format!(
        "export FLUX_URL={}   # fluxctl's --url",
        pg.api_url
    ));

    first_sync(&sh).await?;
    let notify_to_applied = commit_and_notify(pg, &mut sh).await?;
    let (automation_commit, automation_numstat) = automation(pg, &sh, &api).await?;
    garbage_collection(pg, &sh).await?;
    Ok(Outcome {
        notify_to_applied,
        automation_commit,
        automation_numstat,
        took: started.elapsed(),
    })
}

async fn first_sync(sh: &Shell<'_>) -> Result<(), DemoError> {
    let out = sh_out(sh);
    out.step("1. The first sync");
    out.say(
        "fluxd cloned the repository with its deploy key and applied every manifest in it\n\
         (namespaces and CRDs first), each marked as its own for garbage collection:",
    );
    sh.run(
        "kubectl",
        &["get", "deployments,statefulsets,daemonsets,cronjobs", "-A"],
    )
    .await?;
    out.say("fluxd's view of the same workloads, with their images and policies:");
    sh.fluxctl(&["list-workloads", "--all-namespaces"]).await?;
    Ok(())
}

async fn commit_and_notify(pg: &Playground, sh: &mut Shell<'_>) -> Result<Duration, DemoError> {
    let out = sh_out(sh);
    out.step("2. A commit, applied after notify");
    out.say("Add an app to the repository, as anyone with push access would:");
    sh.run("git", &["clone", "config.git", WORK_CLONE]).await?;
    sh.cd(WORK_CLONE);
    // The clone is the user's to keep committing in with `--keep`: its own
    // identity, so that works without a global git configuration.
    for (key, value) in [("user.name", DEMO_AUTHOR.0), ("user.email", DEMO_AUTHOR.1)] {
        sh.quiet("git", &["config", key, value]).await?;
    }
    let manifest = HELLO_TEMPLATE.replace("REGISTRY", &pg.registry_addr);
    std::fs::write(sh.cwd().join(HELLO_PATH), manifest)
        .map_err(|e| DemoError::setup(format!("writing {HELLO_PATH}"), e))?;
    sh.run("cat", &[HELLO_PATH]).await?;
    sh.run("git", &["add", HELLO_PATH]).await?;
    sh.run("git", &["commit", "-m", "Add hello, the demo's app"])
        .await?;
    sh.run("git", &["push"]).await?;
    out.say(
        "fluxd polls git (every 30s here); a push webhook, or `fluxctl sync`, tells it at once.\n\
         This is the request a webhook sends:",
    );
    let body = serde_json::to_string(&Change::Git(GitUpdate {
        url: pg.git_url.clone(),
        branch: "master".into(),
    }))
    .map_err(|e| DemoError::Unexpected(format!("encoding the notify request: {e}")))?;
    let url = format!("{}/v11/notify", pg.api_url);
    let notified = Instant::now();
    sh.run(
        "curl",
        &[
            "-sS",
            "--fail-with-body",
            "-w",
            "HTTP %{http_code}\\n",
            "-H",
            "Content-Type: application/json",
            "-d",
            &body,
            &url,
        ],
    )
    .await?;
    let want = format!("{}:{}", pg.image, IMAGE_TAGS[0].0);
    eventually("fluxd to apply demo:deployment/hello", || async {
        (hello_image(pg).as_deref() == Some(want.as_str())).then_some(())
    })
    .await?;
    let took = notified.elapsed();
    out.say(&format!(
        "Applied {} ms after the notify:",
        took.as_millis()
    ));
    sh.run(
        "kubectl",
        &["get", "deployment", "hello", "-n", "demo", "-o", "wide"],
    )
    .await?;
    sh.run(
        "kubectl",
        &[
            "rollout",
            "status",
            "deployment/hello",
            "-n",
            "demo",
            "--timeout=60s",
        ],
    )
    .await?;
    // The sync tag follows once the sync is clean.
    let head = pg.head().await?;
    eventually("fluxd to record the sync of the new commit", || async {
        (pg.synced().as_deref() == Some(head.as_str())).then_some(())
    })
    .await?;
    Ok(took)
}

async fn automation(
    pg: &Playground,
    sh: &Shell<'_>,
    api: &Client,
) -> Result<(String, String), DemoError> {
    let out = sh_out(sh);
    out.step("3. Automation: fluxd commits a newer image");
    let spec: ResourceSpec = HELLO_ID
        .parse()
        .map_err(|e| DemoError::Unexpected(format!("{HELLO_ID}: {e}")))?;
    eventually("fluxd to scan the registry for hello's image", || async {
        let images = api.list_images(&spec).await.ok()?;
        let available = images.first()?.containers.first()?.available.len();
        (available >= IMAGE_TAGS.len()).then_some(())
    })
    .await?;
    out.say("fluxd scanned the local registry as soon as hello appeared in git; it has two tags:");
    sh.fluxctl(&["list-images", "--workload", HELLO_ID]).await?;
    out.say(
        "Automate hello: fluxd commits the policy, then its automation commits the newest\n\
         tag the policy allows (any tag here, newest first) and applies it:",
    );
    sh.fluxctl(&["automate", "--workload", HELLO_ID]).await?;
    let newer = format!("{}:{}", pg.image, IMAGE_TAGS[1].0);
    // The commit whose diff adds or removes the newer tag.
    let pattern = format!("hello:{}", IMAGE_TAGS[1].0.replace('.', "\\."));
    let commit = eventually("fluxd's automation commit", || async {
        let found = sh
            .quiet(
                "git",
                &[
                    "--git-dir",
                    "../config.git",
                    "log",
                    "-1",
                    "--format=%H",
                    "-G",
                    &pattern,
                    "master",
                ],
            )
            .await
            .ok()?;
        let id = found.stdout.trim().to_owned();
        (found.ok && !id.is_empty()).then_some(id)
    })
    .await?;
    sh.run("git", &["pull"]).await?;
    sh.run("git", &["log", "--oneline", "-3"]).await?;
    let short = &commit[..commit.len().min(7)];
    sh.run("git", &["show", short]).await?;
    let numstat = sh
        .quiet("git", &["show", "--numstat", "--format=", &commit])
        .await?
        .stdout
        .trim()
        .to_owned();
    let subject = sh
        .quiet("git", &["show", "-s", "--format=%an: %s", &commit])
        .await?
        .stdout
        .trim()
        .to_owned();
    if numstat != format!("1\t1\t{HELLO_PATH}") || !subject.contains("Auto-release") {
        return Err(DemoError::Unexpected(format!(
            "fluxd's automation commit {commit} ({subject}) should change one line of {HELLO_PATH}; it changed:\n{numstat}"
        )));
    }
    eventually("fluxd to apply the newer image", || async {
        (hello_image(pg).as_deref() == Some(newer.as_str())).then_some(())
    })
    .await?;
    out.say("One line changed, comments and layout kept; fluxd applied it:");
    sh.run(
        "kubectl",
        &["get", "deployment", "hello", "-n", "demo", "-o", "wide"],
    )
    .await?;
    Ok((commit, numstat))
}

async fn garbage_collection(pg: &Playground, sh: &Shell<'_>) -> Result<(), DemoError> {
    let out = sh_out(sh);
    out.step("4. Garbage collection of a deleted file");
    out.say(&format!(
        "Delete {DELETED_PATH} (the memcached StatefulSet) from git, then ask fluxd to sync now:"
    ));
    sh.run("git", &["rm", DELETED_PATH]).await?;
    sh.run("git", &["commit", "-m", "Remove memcached"]).await?;
    sh.run("git", &["push"]).await?;
    sh.fluxctl(&["sync"]).await?;
    eventually(
        "garbage collection of demo:statefulset/memcached",
        || async {
            pg.emulator()
                .object("apps", "statefulsets", "demo", "memcached")
                .is_none()
                .then_some(())
        },
    )
    .await?;
    out.say(
        "fluxd deleted the StatefulSet (--sync-garbage-collection): it carried this repository's\n\
         mark and left git. Objects fluxd did not apply are never deleted.",
    );
    sh.run("kubectl", &["get", "statefulsets", "-n", "demo"])
        .await?;
    Ok(())
}

/// The image of hello's container in the cluster.
fn hello_image(pg: &Playground) -> Option<String> {
    let hello = pg
        .emulator()
        .object("apps", "deployments", "demo", "hello")?;
    container_image(&hello)
}

/// The first container's image of a workload object.
pub fn container_image(object: &Value) -> Option<String> {
    object
        .pointer("/spec/template/spec/containers/0/image")?
        .as_str()
        .map(str::to_owned)
}

fn sh_out<'a>(sh: &Shell<'a>) -> &'a Transcript {
    sh.transcript()
}

/// Polls `check` until it gives a value, for up to [`PATIENCE`].
async fn eventually<T, F, Fut>(what: &str, mut check: F) -> Result<T, DemoError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(v) = check().await {
            return Ok(v);
        }
        if Instant::now() > deadline {
            return Err(DemoError::Timeout {
                what: what.to_owned(),
                after: PATIENCE,
            });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
