//! Carrying a job out: a release, containers change or policy change is a
//! pure calculation by flux-core over the files at the branch head (with
//! `--manifest-generation`, over the generated view, carried out by
//! flux-generate as patch-file edits or updater runs), whose edits flux-git
//! commits and pushes (re-calculating on a newer head if
//! someone else pushed first), with Flux v1's commit message and the job's
//! note; a sync job fetches and reports the head to wait for.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use flux_core::ResourceId;
use flux_core::cluster::Cluster;
use flux_core::policy::{Policy, PolicyUpdate};
use flux_core::registry::RegistryView;
use flux_core::release::{
    ReleaseContext, ReleaseKind, ReleaseResult, calculate_containers_release,
    calculate_policy_updates, calculate_release,
};
use flux_core::source::Snapshot;
use flux_generate::Calculated;
use flux_git::{BoxError, CommitOutcome, CommitRequest, FileChanges};

use super::{Cause, JobId, JobOutcome, JobSpec};
use crate::source::{ManifestReader, Source};

/// A registry view shared with the edit functions jobs hand to flux-git.
pub type SharedRegistry = Arc<dyn RegistryView + Send + Sync>;

/// A job that failed, with what it had worked out.
#[derive(Debug)]
pub struct JobFailure {
    /// Why.
    pub error: String,
    /// What was worked out before the failure.
    pub outcome: JobOutcome,
}

impl JobFailure {
    fn new(error: impl Into<String>) -> Self {
        JobFailure {
            error: error.into(),
            outcome: JobOutcome::default(),
        }
    }
}

/// What a job may use.
pub struct JobContext<'a> {
    /// The repository.
    pub source: &'a Source,
    /// The cluster (which workloads run there).
    pub cluster: &'a dyn Cluster,
    /// The registry cache.
    pub registry: SharedRegistry,
}

/// Runs one job.
pub async fn execute(
    cx: &JobContext<'_>,
    id: &JobId,
    spec: &JobSpec,
) -> Result<JobOutcome, JobFailure> {
    match spec {
        JobSpec::Sync { .. } => sync_job(cx).await,
        JobSpec::Release {
            spec: release,
            cause,
            raw,
        } => {
            let in_cluster = workloads_in_cluster(cx).await?;
            let release = release.clone();
            let calc = Calc::new(cx, Some(in_cluster), None, move |cx| {
                calculate_release(&release, cx).map_err(|e| e.to_string())
            });
            let message = if cause.message.is_empty() {
                spec_message(spec)
            } else {
                cause.message.clone()
            };
            let kind = if let JobSpec::Release { spec, .. } = spec {
                spec.kind
            } else {
                ReleaseKind::Execute
            };
            calc.run(cx, id, kind, raw, cause, message).await
        }
        JobSpec::Containers {
            spec: containers,
            cause,
            raw,
        } => {
            let in_cluster = workloads_in_cluster(cx).await?;
            let containers = containers.clone();
            let kind = containers.kind;
            let calc = Calc::new(cx, Some(in_cluster), None, move |cx| {
                Ok(calculate_containers_release(&containers, cx))
            });
            let message = if cause.message.is_empty() {
                "Update image refs".to_owned()
            } else {
                cause.message.clone()
            };
            calc.run(cx, id, kind, raw, cause, message).await
        }
        JobSpec::Policy {
            updates,
            cause,
            raw,
        } => {
            let for_calc = updates.clone();
            let calc = Calc::new(cx, None, Some(updates.clone()), move |cx| {
                Ok(calculate_policy_updates(cx.manifests, cx.files, &for_calc))
            });
            let message = policy_commit_message(updates, cause);
            let outcome = calc
                .run(cx, id, ReleaseKind::Execute, raw, cause, message)
                .await?;
            if outcome.revision.is_some()
                && updates
                    .values()
                    .any(|u| u.add.contains_key(&Policy::Automated))
            {
                cx.source.ask_automation();
            }
            Ok(outcome)
        }
    }
}

/// The message of a release commit (`Release <image> to <workloads>`).
fn spec_message(spec: &JobSpec) -> String {
    match spec {
        JobSpec::Release { spec, .. } => spec.commit_message(),
        _ => String::new(),
    }
}

async fn sync_job(cx: &JobContext<'_>) -> Result<JobOutcome, JobFailure> {
    let refreshed = cx
        .source
        .repo
        .refresh()
        .await
        .map_err(|e| JobFailure::new(e.to_string()))?;
    let mut outcome = JobOutcome {
        revision: Some(refreshed.head.clone()),
        ..JobOutcome::default()
    };
    if cx.source.repo.config().verify != flux_git::VerifyMode::None {
        let valid = crate::sync::target_revision(cx.source)
            .await
            .map_err(|e| JobFailure::new(e.to_string()))?;
        if valid != refreshed.head {
            outcome.revision = Some(valid.clone());
            return Err(JobFailure {
                error: format!(
                    "The branch HEAD in the git repo is not verified, and fluxd is unable to sync to it. The last verified commit was {}. HEAD is {}.",
                    crate::sync::short(&valid),
                    crate::sync::short(&refreshed.head)
                ),
                outcome,
            });
        }
    }
    cx.source.ask_sync();
    Ok(outcome)
}

async fn workloads_in_cluster(cx: &JobContext<'_>) -> Result<BTreeSet<ResourceId>, JobFailure> {
    let live = cx
        .cluster
        .export_workloads(&cx.source.sync.namespaces)
        .await
        .map_err(|e| JobFailure::new(format!("reading workloads from the cluster: {e}")))?;
    Ok(live.into_iter().map(|o| o.id).collect())
}

/// The error of a release that changes no file (Flux v1's words).
pub const NO_CHANGES: &str = "no changes made in repo";

type CalcFn = dyn Fn(&ReleaseContext<'_>) -> Result<ReleaseResult, String> + Send + Sync;

/// A calculation over the files of a snapshot, runnable on any head.
struct Calc {
    reader: ManifestReader,
    in_cluster: Option<BTreeSet<ResourceId>>,
    registry: SharedRegistry,
    f: Arc<CalcFn>,
    /// The updates of a policy job (`None` for releases).
    policies: Option<BTreeMap<ResourceId, PolicyUpdate>>,
    /// Present with `--manifest-generation`.
    generator: Option<flux_generate::Generator>,
}

impl Calc {
    fn new(
        cx: &JobContext<'_>,
        in_cluster: Option<BTreeSet<ResourceId>>,
        policies: Option<BTreeMap<ResourceId, PolicyUpdate>>,
        f: impl Fn(&ReleaseContext<'_>) -> Result<ReleaseResult, String> + Send + Sync + 'static,
    ) -> Arc<Self> {
        Arc::new(Calc {
            reader: cx.source.manifest_reader(),
            in_cluster,
            registry: cx.registry.clone(),
            f: Arc::new(f),
            policies,
            generator: cx.source.generator.clone(),
        })
    }

    /// The result and edits at `snapshot`.
    fn at(&self, snapshot: &Snapshot) -> Result<ReleaseResult, BoxError> {
        let manifests = self.reader.parse(&snapshot.files)?;
        let registry: &dyn RegistryView = &*self.registry;
        let cx = ReleaseContext {
            manifests: &manifests,
            files: &snapshot.files,
            in_cluster: self.in_cluster.as_ref(),
            registry,
        };
        (self.f)(&cx).map_err(BoxError::from)
    }

    /// The calculation on a generated view, as flux-generate takes it.
    fn on_view(&self, view: &flux_generate::View) -> Result<Calculated, BoxError> {
        let cx = ReleaseContext {
            manifests: &view.manifests,
            files: &view.files,
            in_cluster: self.in_cluster.as_ref(),
            registry: &*self.registry,
        };
        let result = (self.f)(&cx).map_err(BoxError::from)?;
        Ok(match &self.policies {
            Some(updates) => Calculated::Policies {
                result,
                updates: updates.clone(),
            },
            None => Calculated::Release(result),
        })
    }

    /// The result at `head`: of the plain files, or of the generated view.
    async fn planned(
        self: &Arc<Self>,
        source: &Source,
        head: &str,
    ) -> Result<ReleaseResult, String> {
        if let Some(generator) = &self.generator {
            let (snapshot, manifests) = crate::generation::view(
                source,
                generator,
                head,
                &self.reader.scopes,
                &self.reader.load,
            )
            .await
            .map_err(|e| e.to_string())?;
            let cx = ReleaseContext {
                manifests: &manifests,
                files: &snapshot.files,
                in_cluster: self.in_cluster.as_ref(),
                registry: &*self.registry,
            };
            return (self.f)(&cx);
        }
        let snapshot = source
            .repo
            .snapshot_at(head, &source.paths)
            .await
            .map_err(|e| e.to_string())?;
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.at(&snapshot))
            .await
            .map_err(|e| format!("the calculation panicked: {e}"))?
            .map_err(|e| e.to_string())
    }

    async fn run(
        self: Arc<Self>,
        cx: &JobContext<'_>,
        id: &JobId,
        kind: ReleaseKind,
        raw: &super::UpdateSpec,
        cause: &Cause,
        message: String,
    ) -> Result<JobOutcome, JobFailure> {
        let source = cx.source;
        let head = crate::sync::target_revision(source)
            .await
            .map_err(|e| JobFailure::new(e.to_string()))?;
        let planned = self.planned(source, &head).await.map_err(JobFailure::new)?;
        let mut outcome = JobOutcome {
            revision: None,
            spec: Some(raw.clone()),
            result: Some(without_edits(&planned)),
        };
        if kind == ReleaseKind::Plan {
            return Ok(outcome);
        }
        if let Some(error) = planned.error().filter(|_| planned.edits.is_empty()) {
            return Err(JobFailure { error, outcome });
        }
        if planned.edits.is_empty() {
            // Flux v1: a release that changes nothing fails ("no changes
            // made in repo", with the per-workload reasons); a policy change
            // that changes nothing succeeds without a commit.
            return match kind {
                ReleaseKind::Execute if self.policies.is_none() => Err(JobFailure {
                    error: NO_CHANGES.into(),
                    outcome,
                }),
                _ => Ok(outcome),
            };
        }
        if source.repo.config().readonly {
            return Err(JobFailure {
                error: "the repository is read-only (--git-readonly): fluxd cannot commit".into(),
                outcome,
            });
        }
        let note = serde_json::json!({
            "jobID": id,
            "spec": raw,
            "result": flux_api::update::UpdateResult::from(&planned),
        });
        let mut request = CommitRequest::new(message).note(note.to_string().into_bytes());
        if !cause.user.is_empty() {
            request = request.user(cause.user.clone());
        }
        let (pushed, last) = match &self.generator {
            // The patch file, or what the updaters change, at each head tried.
            Some(generator) => {
                let calc = self.clone();
                let (edit, slot) = generator.commit_edit(
                    source.repo.clone(),
                    self.reader.paths.clone(),
                    self.reader.scopes.clone(),
                    self.reader.load.clone(),
                    move |view| calc.on_view(view),
                );
                let pushed = source
                    .repo
                    .commit_and_push_gated(edit, request, source.gate())
                    .await;
                (pushed, slot.take())
            }
            None => {
                let last: Arc<Mutex<Option<ReleaseResult>>> = Arc::new(Mutex::new(None));
                let (calc, keep) = (self.clone(), last.clone());
                let edit = move |snapshot: &Snapshot| -> Result<FileChanges, BoxError> {
                    let result = calc.at(snapshot)?;
                    let mut changes = FileChanges::new();
                    for e in &result.edits {
                        changes.write(e.file.clone(), e.text.clone().into_bytes());
                    }
                    *keep
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(result);
                    Ok(changes)
                };
                let pushed = source
                    .repo
                    .commit_and_push_gated(edit, request, source.gate())
                    .await;
                let result = last
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .take();
                (pushed, result)
            }
        };
        if let Some(result) = last {
            outcome.result = Some(without_edits(&result));
        }
        match pushed {
            Ok(CommitOutcome::Pushed(p)) => {
                outcome.revision = Some(p.revision);
                source.ask_sync();
                Ok(outcome)
            }
            Ok(CommitOutcome::NoChanges { .. }) => Ok(outcome),
            Err(e) => {
                // The remote may have moved: fetch soon so the next try starts there.
                source.repo.notify();
                Err(JobFailure {
                    error: e.to_string(),
                    outcome,
                })
            }
        }
    }
}

fn without_edits(result: &ReleaseResult) -> ReleaseResult {
    ReleaseResult {
        workloads: result.workloads.clone(),
        edits: Vec::new(),
    }
}

/// Flux v1's policy commit message: the user's message, or a summary of
/// the changes by kind (`Automated: ns:kind/name`, …).
pub fn policy_commit_message(
    updates: &BTreeMap<ResourceId, PolicyUpdate>,
    cause: &Cause,
) -> String {
    let mut by_kind: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
    for (id, u) in updates {
        let mut kinds = BTreeSet::new();
        for p in u.add.keys() {
            kinds.insert(match p {
                Policy::Automated => "automate",
                Policy::Locked => "lock",
                _ => "update_policy",
            });
        }
        for p in &u.remove {
            kinds.insert(match p {
                Policy::Automated => "deautomate",
                Policy::Locked => "unlock",
                _ => "update_policy",
            });
        }
        for k in kinds {
            by_kind.entry(k).or_default().push(id.to_string());
        }
    }
    let line = |kind: &str, ids: &[String]| {
        let label = match kind {
            "automate" => "Automated",
            "deautomate" => "Deautomated",
            "lock" => "Locked",
            "unlock" => "Unlocked",
            _ => "Updated policies",
        };
        format!("{label}: {}", ids.join(", "))
    };
    let mut out = String::new();
    let prefix = if !cause.message.is_empty() {
        out.push_str(&cause.message);
        out.push_str("\n\n");
        "- "
    } else if by_kind.len() > 1 {
        out.push_str("Updated workload policies\n\n");
        "- "
    } else {
        ""
    };
    for (kind, ids) in &by_kind {
        out.push_str(prefix);
        out.push_str(&line(kind, ids));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> ResourceId {
        s.parse().unwrap()
    }

    #[test]
    fn policy_messages_read_as_flux_v1s() {
        let one = BTreeMap::from([(id("demo:deployment/web"), PolicyUpdate::automate())]);
        assert_eq!(
            policy_commit_message(&one, &Cause::default()),
            "Automated: demo:deployment/web\n"
        );
        let two = BTreeMap::from([
            (id("demo:deployment/web"), PolicyUpdate::automate()),
            (id("demo:deployment/api"), PolicyUpdate::lock(None, None)),
        ]);
        assert_eq!(
            policy_commit_message(&two, &Cause::default()),
            "Updated workload policies\n\n- Automated: demo:deployment/web\n- Locked: demo:deployment/api\n"
        );
        let cause = Cause {
            user: String::new(),
            message: "why".into(),
        };
        assert_eq!(
            policy_commit_message(&one, &cause),
            "why\n\n- Automated: demo:deployment/web\n"
        );
    }
}
