//! Automation under the soak: a few automated workloads, each with its own
//! image repository in the real registry. The tagger pushes a new tag of a
//! workload whose previous tag fluxd already committed (so every tag must
//! give exactly one automation change) and tells fluxd as a registry
//! webhook would (some of the time; the rest is found by scans). At the end
//! the automation commits in git are counted against the tags pushed.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use flux_api::client::Client;
use flux_api::image::ImageName;
use flux_api::v9::{Change, ImageUpdate};
use flux_testbed::git::BareRepo;
use flux_testbed::registry::{Format, Pusher, TestImage};

use super::model::NAMESPACE;
use super::rng::Rng;

/// One automated workload.
#[derive(Debug, Clone)]
pub struct App {
    /// Its name (`app-K`).
    pub name: String,
    /// Its image repository in the registry (`soak/app-K`).
    pub repository: String,
    /// Tags pushed, oldest first (the first is in the initial commit).
    pub pushed: Vec<String>,
}

impl App {
    /// Workload `k`, starting at tag `1.0.0`.
    pub fn new(k: usize) -> Self {
        App {
            name: format!("app-{k}"),
            repository: format!("soak/app-{k}"),
            pushed: vec!["1.0.0".to_owned()],
        }
    }

    /// Its file in git.
    pub fn path(&self) -> String {
        format!("auto/{}.yaml", self.name)
    }

    /// The image as the manifests name it (through the proxy).
    pub fn image(&self, proxy: &str, tag: &str) -> String {
        format!("{proxy}/{}:{tag}", self.repository)
    }

    /// The initial file: automated, `semver:~1.0`, at the first tag.
    pub fn render(&self, proxy: &str) -> String {
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n  namespace: {NAMESPACE}\n  annotations:\n    fluxcd.io/automated: \"true\"\n    fluxcd.io/tag.app: semver:~1.0\nspec:\n  selector:\n    matchLabels: {{app: {name}}}\n  template:\n    metadata:\n      labels: {{app: {name}}}\n    spec:\n      containers:\n      - name: app\n        image: {image} # automated\n",
            name = self.name,
            image = self.image(proxy, &self.pushed[0]),
        )
    }

    /// The newest tag pushed.
    pub fn last(&self) -> &str {
        self.pushed.last().map_or("1.0.0", String::as_str)
    }
}

/// The tag pushed `n`-th (1.0.n), created `n` minutes after the first.
fn tag_and_time(n: usize) -> (String, String) {
    let created = chrono::DateTime::parse_from_rfc3339("2024-01-01T00:00:00Z")
        .expect("a valid time")
        + chrono::Duration::minutes(n as i64);
    (format!("1.0.{n}"), created.to_rfc3339())
}

/// Pushes each app's first tag.
pub async fn push_initial(pusher: &Pusher, apps: &[App]) -> anyhow::Result<()> {
    for app in apps {
        let (tag, created) = tag_and_time(0);
        pusher
            .push_image(
                &app.repository,
                &tag,
                &TestImage::created(&created),
                Format::Oci,
            )
            .await
            .with_context(|| format!("pushing {}:{tag}", app.repository))?;
    }
    Ok(())
}

/// Pushes new tags until `stop`.
pub struct Tagger {
    /// Pushes straight to the registry (not through the faulty proxy).
    pub pusher: Pusher,
    /// The proxy's `host:port`, as the manifests name images.
    pub proxy: String,
    /// fluxd's API, for the webhook-like notification.
    pub api: Client,
    /// The git repository (to see what automation committed).
    pub repo: BareRepo,
    /// The workloads.
    pub apps: Vec<App>,
    /// Random choices.
    pub rng: Rng,
    /// Milliseconds between tags.
    pub pause: (u64, u64),
}

/// What the tagger did.
#[derive(Debug, Clone, Default)]
pub struct TagCounts {
    /// The workloads and their tags.
    pub apps: Vec<App>,
    /// Tags announced to fluxd's API (the rest were left to its scans).
    pub notified: u64,
    /// Announcements that fluxd's API refused.
    pub notify_failed: u64,
}

impl Tagger {
    /// Pushes tags until `stop`; what it pushed.
    pub async fn run(mut self, stop: Arc<AtomicBool>) -> anyhow::Result<TagCounts> {
        let mut counts = TagCounts::default();
        let mut total = 0;
        while !stop.load(Ordering::Relaxed) {
            let pause = self.rng.range(self.pause.0, self.pause.1);
            tokio::time::sleep(Duration::from_millis(pause)).await;
            if stop.load(Ordering::Relaxed) {
                break;
            }
            // Apps whose last tag is committed already.
            let mut ready = Vec::new();
            for (i, app) in self.apps.iter().enumerate() {
                let want = app.image(&self.proxy, app.last());
                if committed(&self.repo, &app.path())?.as_deref() == Some(want.as_str()) {
                    ready.push(i);
                }
            }
            let Some(&i) = self.rng.pick(&ready) else {
                continue;
            };
            total += 1;
            let (tag, created) = tag_and_time(total);
            let app = &mut self.apps[i];
            self.pusher
                .push_image(
                    &app.repository,
                    &tag,
                    &TestImage::created(&created),
                    Format::Oci,
                )
                .await
                .with_context(|| format!("pushing {}:{tag}", app.repository))?;
            app.pushed.push(tag);
            if self.rng.chance(70) {
                counts.notified += 1;
                let change = Change::Image(ImageUpdate {
                    name: ImageName::from_repository(&format!("{}/{}", self.proxy, app.repository)),
                });
                if self.api.notify(&change).await.is_err() {
                    counts.notify_failed += 1;
                }
            }
        }
        counts.apps = self.apps;
        Ok(counts)
    }
}

/// The image committed in `path` on master (the `image:` line), if any.
pub fn committed(repo: &BareRepo, path: &str) -> anyhow::Result<Option<String>> {
    let bytes = repo
        .show("master", path)
        .with_context(|| format!("reading {path} on master"))?;
    let text = String::from_utf8_lossy(&bytes);
    Ok(text.lines().find_map(image_of_line))
}

/// The image of a manifest line `image: X` (comment dropped).
fn image_of_line(line: &str) -> Option<String> {
    let rest = line.trim_start().strip_prefix("image:")?;
    let value = rest.split('#').next()?.trim().trim_matches('"');
    Some(value.to_owned())
}

/// The automation commits on master: hash and the images each released
/// (the `+ image:` lines of its diff).
pub fn automation_commits(repo: &BareRepo) -> anyhow::Result<Vec<(String, Vec<String>)>> {
    let log = repo.git(&["log", "--format=%H %s", "master"])?;
    let mut out = Vec::new();
    for line in log.lines() {
        let Some((hash, subject)) = line.split_once(' ') else {
            continue;
        };
        if !subject.starts_with("Auto-release") {
            continue;
        }
        let diff = repo.git(&["show", "--format=", "--unified=0", hash])?;
        let images = diff
            .lines()
            .filter(|l| !l.starts_with("+++"))
            .filter_map(|l| l.strip_prefix('+'))
            .filter_map(image_of_line)
            .collect();
        out.push((hash.to_owned(), images));
    }
    out.reverse();
    Ok(out)
}

/// Compares the images released by automation commits with the tags
/// pushed: every pushed tag (but the first of each app) exactly once.
/// Returns the problems found (empty: none lost, none duplicated).
pub fn compare(released: &[(String, Vec<String>)], apps: &[App], proxy: &str) -> Vec<String> {
    let mut seen: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for (hash, images) in released {
        for image in images {
            seen.entry(image.clone()).or_default().push(hash);
        }
    }
    let mut problems = Vec::new();
    for app in apps {
        for tag in app.pushed.iter().skip(1) {
            let image = app.image(proxy, tag);
            match seen.remove(&image).as_deref() {
                None => problems.push(format!("{image} was pushed but never released")),
                Some([_]) => {}
                Some(more) => problems.push(format!(
                    "{image} released {} times (commits {})",
                    more.len(),
                    more.join(", ")
                )),
            }
        }
    }
    for (image, hashes) in seen {
        problems.push(format!(
            "{image} released (commits {}) but never pushed",
            hashes.join(", ")
        ));
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_are_read_from_lines_and_compared_with_tags() {
        assert_eq!(
            image_of_line("        image: r:5/soak/app-0:1.0.3 # automated"),
            Some("r:5/soak/app-0:1.0.3".to_owned())
        );
        assert_eq!(image_of_line("  name: app"), None);
        let mut a = App::new(0);
        a.pushed.extend(["1.0.1".to_owned(), "1.0.3".to_owned()]);
        let mut b = App::new(1);
        b.pushed.push("1.0.2".to_owned());
        let apps = [a, b];
        let img = |s: &str| s.to_owned();
        let good = vec![
            ("c1".to_owned(), vec![img("p/soak/app-0:1.0.1")]),
            (
                "c2".to_owned(),
                vec![img("p/soak/app-1:1.0.2"), img("p/soak/app-0:1.0.3")],
            ),
        ];
        assert!(compare(&good, &apps, "p").is_empty());
        let bad = vec![
            ("c1".to_owned(), vec![img("p/soak/app-0:1.0.1")]),
            ("c2".to_owned(), vec![img("p/soak/app-0:1.0.1")]),
            ("c3".to_owned(), vec![img("p/soak/app-1:1.0.9")]),
        ];
        let problems = compare(&bad, &apps, "p");
        assert_eq!(
            problems,
            [
                "p/soak/app-0:1.0.1 released 2 times (commits c1, c2)",
                "p/soak/app-0:1.0.3 was pushed but never released",
                "p/soak/app-1:1.0.2 was pushed but never released",
                "p/soak/app-1:1.0.9 released (commits c3) but never pushed",
            ]
        );
    }
}
