//! What the soak keeps in git and expects in the cluster, and the committer
//! that keeps changing it: new files, changed files and deleted files
//! (collected by fluxd's garbage collection), pushed to the bare repository
//! the way a person would (a work clone; pull, rebase and push again when
//! fluxd's automation pushed first).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use flux_testbed::git::WorkClone;

use super::rng::Rng;

/// The namespace the soak's objects live in.
pub const NAMESPACE: &str = "soak";

/// Fewest and most files the committer keeps (besides the namespace and
/// the automated workloads), so fluxd's work stays about the same size.
const FILES: (usize, usize) = (15, 35);

/// One object in the cluster: `(namespace, plural, name)`.
pub type ObjectKey = (String, String, String);

/// The kinds of file the committer writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// One ConfigMap `cm-N`.
    ConfigMap,
    /// One Deployment `dep-N` (not automated).
    Deployment,
    /// A Service `svc-N` and a ConfigMap `svc-N-cfg` in one file.
    ServiceAndConfigMap,
}

/// One file the committer owns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// What it holds.
    pub shape: Shape,
    /// The number in its objects' names.
    pub id: u64,
    /// Bumped by each change.
    pub rev: u64,
}

/// A field of a live object that must equal what git says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// `data.value` of a ConfigMap.
    Data(String),
    /// The first container's image of a Deployment.
    Image(String),
    /// The first port of a Service.
    Port(u64),
}

impl Entry {
    /// Its path in the repository.
    pub fn path(&self) -> String {
        match self.shape {
            Shape::ConfigMap => format!("apps/cm-{}.yaml", self.id),
            Shape::Deployment => format!("apps/dep-{}.yaml", self.id),
            Shape::ServiceAndConfigMap => format!("apps/svc-{}.yaml", self.id),
        }
    }

    /// The file's text.
    pub fn render(&self) -> String {
        let (id, rev) = (self.id, self.rev);
        let cm = |name: &str| {
            format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {NAMESPACE}\n  labels:\n    soak: git\ndata:\n  value: \"v{rev}\"\n  id: \"{id}\"\n"
            )
        };
        match self.shape {
            Shape::ConfigMap => cm(&format!("cm-{id}")),
            Shape::Deployment => format!(
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: dep-{id}\n  namespace: {NAMESPACE}\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {{app: dep-{id}}}\n  template:\n    metadata:\n      labels: {{app: dep-{id}}}\n    spec:\n      containers:\n      - name: app\n        image: example.com/soak/dep:r{rev}\n        env:\n        - name: REV\n          value: \"{rev}\"\n"
            ),
            Shape::ServiceAndConfigMap => format!(
                "apiVersion: v1\nkind: Service\nmetadata:\n  name: svc-{id}\n  namespace: {NAMESPACE}\nspec:\n  selector: {{app: svc-{id}}}\n  ports:\n  - name: http\n    port: {port}\n    targetPort: 8080\n---\n{cm}",
                port = self.port(),
                cm = cm(&format!("svc-{id}-cfg"))
            ),
        }
    }

    fn port(&self) -> u64 {
        8000 + self.rev % 1000
    }

    /// The objects it makes and what each must show.
    pub fn objects(&self) -> Vec<(ObjectKey, Expect)> {
        let key = |plural: &str, name: String| (NAMESPACE.to_owned(), plural.to_owned(), name);
        let value = Expect::Data(format!("v{}", self.rev));
        match self.shape {
            Shape::ConfigMap => vec![(key("configmaps", format!("cm-{}", self.id)), value)],
            Shape::Deployment => vec![(
                key("deployments", format!("dep-{}", self.id)),
                Expect::Image(format!("example.com/soak/dep:r{}", self.rev)),
            )],
            Shape::ServiceAndConfigMap => vec![
                (
                    key("services", format!("svc-{}", self.id)),
                    Expect::Port(self.port()),
                ),
                (key("configmaps", format!("svc-{}-cfg", self.id)), value),
            ],
        }
    }
}

/// The files the committer owns now, and the objects whose files it
/// deleted (which garbage collection must remove).
#[derive(Debug, Default, Clone)]
pub struct Model {
    /// Path to file.
    pub files: BTreeMap<String, Entry>,
    /// Objects whose files were deleted from git.
    pub removed: Vec<ObjectKey>,
    next_id: u64,
}

impl Model {
    /// A model of `n` files of every shape.
    pub fn initial(n: usize) -> Self {
        let mut m = Model::default();
        for i in 0..n {
            let shape = match i % 5 {
                0 => Shape::Deployment,
                1 => Shape::ServiceAndConfigMap,
                _ => Shape::ConfigMap,
            };
            m.add(shape);
        }
        m
    }

    fn add(&mut self, shape: Shape) -> Entry {
        let e = Entry {
            shape,
            id: self.next_id,
            rev: 0,
        };
        self.next_id += 1;
        self.files.insert(e.path(), e);
        e
    }

    /// Every object git holds now (besides the namespace and the
    /// automated workloads) and what it must show.
    pub fn expected(&self) -> Vec<(ObjectKey, Expect)> {
        self.files.values().flat_map(Entry::objects).collect()
    }

    /// Names of the ConfigMaps and Deployments git holds now (for hand
    /// edits of objects fluxd manages).
    pub fn managed(&self, plural: &str) -> Vec<String> {
        self.expected()
            .into_iter()
            .filter(|((_, p, _), _)| p == plural)
            .map(|((_, _, n), _)| n)
            .collect()
    }

    /// Whether fluxd may have had a reason to delete `key`: its file was
    /// deleted from git.
    pub fn was_removed(&self, key: &ObjectKey) -> bool {
        self.removed.contains(key)
    }
}

/// One commit the soak pushed.
#[derive(Debug, Clone)]
pub struct Pushed {
    /// Its subject (unique: `soak N: …`).
    pub subject: String,
    /// Its hash after the push.
    pub hash: String,
}

/// What the committer did.
#[derive(Debug, Default, Clone)]
pub struct CommitCounts {
    /// Commits pushed.
    pub pushed: Vec<Pushed>,
    /// Files added, changed, deleted.
    pub added: u64,
    /// Files changed.
    pub changed: u64,
    /// Files deleted.
    pub deleted: u64,
    /// Pushes refused because fluxd had pushed first (then rebased).
    pub rebases: u64,
}

/// Commits every `pause` (a random span) until `stop`.
pub struct Committer {
    /// The work clone pushing to the bare repository (`file://`).
    pub work: WorkClone,
    /// The shared model (the hand editor reads it).
    pub model: Arc<Mutex<Model>>,
    /// Random choices.
    pub rng: Rng,
    /// Milliseconds between commits.
    pub pause: (u64, u64),
    /// Called after each push (to notify fluxd as a webhook would), with
    /// whether to notify this time.
    pub notify: Box<dyn Fn(bool) + Send>,
}

impl Committer {
    /// Commits until `stop`; what it did.
    pub fn run(mut self, stop: Arc<AtomicBool>) -> anyhow::Result<CommitCounts> {
        let mut counts = CommitCounts::default();
        let mut n = 0u64;
        while !stop.load(Ordering::Relaxed) {
            n += 1;
            self.commit_once(n, &mut counts)
                .with_context(|| format!("soak commit {n}"))?;
            let pause = self.rng.range(self.pause.0, self.pause.1);
            sleep_unless(&stop, Duration::from_millis(pause));
        }
        Ok(counts)
    }

    fn commit_once(&mut self, n: u64, counts: &mut CommitCounts) -> anyhow::Result<()> {
        let mut next = lock(&self.model).clone();
        let mut did = Vec::new();
        let (mut added, mut changed, mut deleted) = (0, 0, 0);
        for _ in 0..self.rng.range(1, 3) {
            let count = next.files.len();
            let roll = self.rng.range(0, 99);
            let op = if count <= FILES.0 {
                0
            } else if count >= FILES.1 {
                2
            } else if roll < 30 {
                0
            } else if roll < 75 {
                1
            } else {
                2
            };
            let paths: Vec<String> = next.files.keys().cloned().collect();
            match (op, self.rng.pick(&paths).cloned()) {
                (1, Some(path)) => {
                    let e = next.files.get_mut(&path).expect("picked from the keys");
                    e.rev += 1;
                    did.push(format!("change {path}"));
                    changed += 1;
                }
                (2, Some(path)) => {
                    let e = next.files.remove(&path).expect("picked from the keys");
                    for (key, _) in e.objects() {
                        next.removed.push(key);
                    }
                    did.push(format!("delete {path}"));
                    deleted += 1;
                }
                _ => {
                    let shape = match self.rng.range(0, 9) {
                        0..=5 => Shape::ConfigMap,
                        6..=7 => Shape::Deployment,
                        _ => Shape::ServiceAndConfigMap,
                    };
                    let e = next.add(shape);
                    did.push(format!("add {}", e.path()));
                    added += 1;
                }
            }
        }
        let subject = format!("soak {n}: {}", did.join(", "));
        self.work.pull().context("pull before committing")?;
        self.write_tree(&next)?;
        self.work.commit(&subject)?;
        let mut tries = 0;
        loop {
            match self.work.push() {
                Ok(()) => break,
                Err(e) if tries < 10 => {
                    // fluxd pushed an automation commit meanwhile.
                    tries += 1;
                    counts.rebases += 1;
                    self.work
                        .pull()
                        .with_context(|| format!("rebasing after a refused push ({e})"))?;
                }
                Err(e) => bail!("push refused 10 times: {e}"),
            }
        }
        let hash = self.work.head()?;
        // The model moves only once the commit is on the remote.
        *lock(&self.model) = next;
        counts.pushed.push(Pushed { subject, hash });
        counts.added += added;
        counts.changed += changed;
        counts.deleted += deleted;
        let webhook = self.rng.chance(50);
        (self.notify)(webhook);
        Ok(())
    }

    /// Makes the work tree's `apps/` exactly the model's files.
    fn write_tree(&self, model: &Model) -> anyhow::Result<()> {
        let apps = self.work.path().join("apps");
        if apps.exists() {
            for entry in std::fs::read_dir(&apps)? {
                let path = entry?.path();
                let rel = format!(
                    "apps/{}",
                    path.file_name().unwrap_or_default().to_string_lossy()
                );
                if !model.files.contains_key(&rel) {
                    std::fs::remove_file(&path)?;
                }
            }
        }
        for (path, e) in &model.files {
            let text = e.render();
            let full = self.work.path().join(path);
            if std::fs::read_to_string(&full).ok().as_deref() != Some(text.as_str()) {
                self.work.write(path, text.as_bytes())?;
            }
        }
        Ok(())
    }
}

/// Locks the model (a poisoned lock still holds the data).
pub fn lock(model: &Mutex<Model>) -> std::sync::MutexGuard<'_, Model> {
    model
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Sleeps `d`, waking early when `stop` turns true.
pub fn sleep_unless(stop: &AtomicBool, d: Duration) {
    let end = Instant::now() + d;
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        if now >= end {
            return;
        }
        std::thread::sleep((end - now).min(Duration::from_millis(100)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_parse_and_name_their_objects() {
        let m = Model::initial(10);
        assert_eq!(m.files.len(), 10);
        let scopes = flux_core::ScopeTable::builtin();
        let mut tree = flux_core::manifest::FileSet::new();
        for (p, e) in &m.files {
            tree.insert(p.clone(), e.render().into_bytes());
        }
        let manifests = flux_core::manifest::parse_files(
            &tree,
            &[String::new()],
            &scopes,
            &flux_core::manifest::LoadOptions::default(),
        )
        .expect("the generated files parse");
        let mut names: Vec<String> = manifests
            .resources
            .keys()
            .map(ToString::to_string)
            .collect();
        names.sort();
        let mut want: Vec<String> = m
            .expected()
            .iter()
            .map(|((ns, plural, name), _)| {
                let kind = match plural.as_str() {
                    "configmaps" => "configmap",
                    "deployments" => "deployment",
                    _ => "service",
                };
                format!("{ns}:{kind}/{name}")
            })
            .collect();
        want.sort();
        assert_eq!(names, want);
    }
}
