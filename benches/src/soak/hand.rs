//! Hand edits with the real `kubectl`, as people make them beside fluxd:
//! objects made by hand (which fluxd must never delete: they carry no
//! mark), and changes to and deletions of objects fluxd manages (which it
//! must put back from git).

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube_emulator::kubectl::Kubectl;

use super::model::{Model, NAMESPACE, ObjectKey, lock, sleep_unless};
use super::rng::Rng;

/// What the hand editor did.
#[derive(Debug, Default, Clone)]
pub struct HandCounts {
    /// Objects made by hand (all must survive).
    pub made: Vec<ObjectKey>,
    /// Edits of objects fluxd manages (drift it must undo).
    pub drift_edits: u64,
    /// Deletions by hand of objects fluxd manages (it must recreate them).
    pub deletions: u64,
    /// Edits of objects made by hand.
    pub own_edits: u64,
    /// kubectl runs that failed (a managed object deleted from git
    /// meanwhile, say); `(args, stderr)` of the last few.
    pub failed: Vec<(String, String)>,
    /// kubectl runs in all.
    pub runs: u64,
}

/// Edits by hand every `pause` (milliseconds, a random span) until `stop`.
pub struct HandEditor {
    /// kubectl against the emulator (faults are for fluxd alone).
    pub kubectl: Kubectl,
    /// What git holds now (read only).
    pub model: Arc<Mutex<Model>>,
    /// Random choices.
    pub rng: Rng,
    /// Milliseconds between edits.
    pub pause: (u64, u64),
    /// The automated workloads' names (drift on them too).
    pub automated: Vec<String>,
}

impl HandEditor {
    /// Edits until `stop`; what it did.
    pub fn run(mut self, stop: &AtomicBool) -> HandCounts {
        let mut counts = HandCounts::default();
        let mut n = 0u64;
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            n += 1;
            self.edit_once(n, &mut counts);
            let pause = self.rng.range(self.pause.0, self.pause.1);
            sleep_unless(stop, Duration::from_millis(pause));
        }
        counts
    }

    fn run_kubectl(&self, counts: &mut HandCounts, args: &[&str], stdin: Option<&str>) -> bool {
        counts.runs += 1;
        let out = match stdin {
            Some(text) => self.kubectl.run_stdin(args, text),
            None => self.kubectl.run(args),
        };
        if !out.ok {
            if counts.failed.len() >= 20 {
                counts.failed.remove(0);
            }
            counts
                .failed
                .push((args.join(" "), out.stderr.trim().to_owned()));
        }
        out.ok
    }

    fn edit_once(&mut self, n: u64, counts: &mut HandCounts) {
        let (configmaps, deployments) = {
            let m = lock(&self.model);
            (m.managed("configmaps"), m.managed("deployments"))
        };
        let roll = self.rng.range(0, 99);
        match roll {
            // A ConfigMap made by hand, in the soak's namespace (where
            // garbage collection works) or in `default`.
            0..=29 => {
                let ns = if self.rng.chance(70) {
                    NAMESPACE
                } else {
                    "default"
                };
                let name = format!("hand-cm-{n}");
                let literal = format!("--from-literal=made=by-hand-{n}");
                if self.run_kubectl(
                    counts,
                    &["create", "configmap", &name, "-n", ns, &literal],
                    None,
                ) {
                    counts
                        .made
                        .push((ns.to_owned(), "configmaps".to_owned(), name));
                }
            }
            // A Deployment made by hand with `kubectl apply` (client-side:
            // it carries kubectl's last-applied annotation, not Flux's mark).
            30..=37 => {
                let name = format!("hand-dep-{n}");
                let yaml = format!(
                    "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n  namespace: {NAMESPACE}\nspec:\n  selector:\n    matchLabels: {{app: {name}}}\n  template:\n    metadata:\n      labels: {{app: {name}}}\n    spec:\n      containers:\n      - name: app\n        image: example.com/hand:1\n"
                );
                if self.run_kubectl(counts, &["apply", "-f", "-"], Some(&yaml)) {
                    counts
                        .made
                        .push((NAMESPACE.to_owned(), "deployments".to_owned(), name));
                }
            }
            // Drift: a managed ConfigMap's value changed by hand.
            38..=59 => {
                if let Some(name) = self.rng.pick(&configmaps).cloned() {
                    let patch = format!("{{\"data\":{{\"value\":\"by-hand-{n}\"}}}}");
                    self.run_kubectl(
                        counts,
                        &[
                            "patch",
                            "configmap",
                            &name,
                            "-n",
                            NAMESPACE,
                            "--type=merge",
                            "-p",
                            &patch,
                        ],
                        None,
                    );
                    counts.drift_edits += 1;
                }
            }
            // Drift: a managed Deployment's image set by hand (automated
            // ones included: git, not the cluster, says what runs).
            60..=74 => {
                let mut names = deployments.clone();
                names.extend(self.automated.iter().cloned());
                if let Some(name) = self.rng.pick(&names).cloned() {
                    let target = format!("deployment/{name}");
                    let image = format!("app=example.com/by-hand:{n}");
                    self.run_kubectl(
                        counts,
                        &["set", "image", &target, &image, "-n", NAMESPACE],
                        None,
                    );
                    counts.drift_edits += 1;
                }
            }
            // A managed ConfigMap deleted by hand.
            75..=84 => {
                if let Some(name) = self.rng.pick(&configmaps).cloned() {
                    self.run_kubectl(
                        counts,
                        &[
                            "delete",
                            "configmap",
                            &name,
                            "-n",
                            NAMESPACE,
                            "--wait=false",
                        ],
                        None,
                    );
                    counts.deletions += 1;
                }
            }
            // An object made by hand is edited (still unmarked).
            _ => {
                let mine: Vec<ObjectKey> = counts
                    .made
                    .iter()
                    .filter(|(_, p, _)| p == "configmaps")
                    .cloned()
                    .collect();
                if let Some((ns, _, name)) = self.rng.pick(&mine).cloned() {
                    let label = format!("edited={n}");
                    if self.run_kubectl(
                        counts,
                        &[
                            "label",
                            "configmap",
                            &name,
                            "-n",
                            &ns,
                            &label,
                            "--overwrite",
                        ],
                        None,
                    ) {
                        counts.own_edits += 1;
                    }
                }
            }
        }
    }
}
