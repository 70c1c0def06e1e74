//! Automation: for every automated workload, the newest image its tag
//! filter allows, committed to git in one commit per run (Flux v1's
//! `Auto-release …` message and a note holding an `auto` update spec), then
//! synced. With `--manifest-generation` the images are read from the
//! generated view and the commit is flux-generate's edit (the patch file of
//! a `patchUpdated` repository, what the updaters of a `commandUpdated` one
//! change). The choice of images is flux-core's
//! [`flux_core::automation::calculate_automation`];
//! here it is only run against the branch head and committed.

use std::collections::BTreeSet;

use flux_api::update::{
    Automated, AutomatedChange, Cause, Spec, Update, UpdateResult, WorkloadContainer,
};
use flux_core::automation::{calculate_automation, commit_message};
use flux_core::cluster::Cluster;
use flux_core::manifest::{FileSet, Manifests};
use flux_core::release::{ReleaseContext, ReleaseResult, Status};
use flux_core::source::Snapshot;
use flux_generate::Calculated;
use flux_git::{BoxError, CommitOutcome, CommitRequest, FileChanges};

use crate::job::JobId;
use crate::job::run::SharedRegistry;
use crate::metrics::{Metrics, SourceLabel};
use crate::source::{ManifestReader, Source};

/// What an automation run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AutomationOutcome {
    /// Nothing to update.
    UpToDate,
    /// The repository is read-only; nothing was tried.
    ReadOnly,
    /// A commit was pushed.
    Committed {
        /// The commit.
        revision: String,
        /// The images it released.
        images: Vec<String>,
    },
}

/// An automation run failed; nothing was pushed.
#[derive(Debug, thiserror::Error)]
#[error("automation: {0}")]
pub struct AutomationError(pub String);

/// One automation run of `source`.
pub async fn automate(
    source: &Source,
    cluster: &dyn Cluster,
    registry: SharedRegistry,
    metrics: &Metrics,
) -> Result<AutomationOutcome, AutomationError> {
    if source.repo.config().readonly {
        return Ok(AutomationOutcome::ReadOnly);
    }
    let in_cluster: BTreeSet<_> = cluster
        .export_workloads(&source.sync.namespaces)
        .await
        .map_err(|e| AutomationError(format!("reading workloads from the cluster: {e}")))?
        .into_iter()
        .map(|o| o.id)
        .collect();
    let revision = crate::sync::target_revision(source)
        .await
        .map_err(|e| AutomationError(e.to_string()))?;
    let calc = Calc {
        reader: source.manifest_reader(),
        in_cluster,
        registry,
    };
    let calc = std::sync::Arc::new(calc);
    let first = match &source.generator {
        Some(generator) => {
            let (snapshot, manifests) = crate::generation::view(
                source,
                generator,
                &revision,
                &calc.reader.scopes,
                &calc.reader.load,
            )
            .await
            .map_err(|e| AutomationError(e.to_string()))?;
            calc.on(&manifests, &snapshot.files)
        }
        None => {
            let snapshot = source
                .repo
                .snapshot_at(&revision, &source.paths)
                .await
                .map_err(|e| AutomationError(e.to_string()))?;
            let calc = calc.clone();
            tokio::task::spawn_blocking(move || calc.at(&snapshot))
                .await
                .map_err(|e| AutomationError(format!("the calculation panicked: {e}")))?
                .map_err(|e| AutomationError(e.to_string()))?
        }
    };
    if first.edits.is_empty() {
        return Ok(AutomationOutcome::UpToDate);
    }
    let id = JobId::random();
    let note = serde_json::json!({
        "jobID": id,
        "spec": auto_spec(&first),
        "result": UpdateResult::from(&first),
    });
    let request = CommitRequest::new(commit_message(&first)).note(note.to_string().into_bytes());
    let pushed = match &source.generator {
        // The patch file, or what the updaters change.
        Some(generator) => {
            let edit_calc = calc.clone();
            let (edit, _) = generator.commit_edit(
                source.repo.clone(),
                calc.reader.paths.clone(),
                calc.reader.scopes.clone(),
                calc.reader.load.clone(),
                move |view| {
                    Ok(Calculated::Release(
                        edit_calc.on(&view.manifests, &view.files),
                    ))
                },
            );
            source
                .repo
                .commit_and_push_gated(edit, request, source.gate())
                .await
        }
        None => {
            let edit_calc = calc.clone();
            let edit = move |snapshot: &Snapshot| -> Result<FileChanges, BoxError> {
                let result = edit_calc.at(snapshot)?;
                let mut changes = FileChanges::new();
                for e in result.edits {
                    changes.write(e.file, e.text.into_bytes());
                }
                Ok(changes)
            };
            source
                .repo
                .commit_and_push_gated(edit, request, source.gate())
                .await
        }
    };
    match pushed {
        Ok(CommitOutcome::Pushed(p)) => {
            metrics
                .automation_commits
                .get_or_create(&SourceLabel {
                    source: source.name.clone(),
                })
                .inc();
            let images = first.changed_images();
            tracing::info!(source = %source.name, revision = %p.revision, images = ?images, "automation committed");
            source.ask_sync();
            Ok(AutomationOutcome::Committed {
                revision: p.revision,
                images,
            })
        }
        Ok(CommitOutcome::NoChanges { .. }) => Ok(AutomationOutcome::UpToDate),
        Err(e) => {
            source.repo.notify();
            Err(AutomationError(e.to_string()))
        }
    }
}

struct Calc {
    reader: ManifestReader,
    in_cluster: BTreeSet<flux_core::ResourceId>,
    registry: SharedRegistry,
}

impl Calc {
    fn at(&self, snapshot: &Snapshot) -> Result<ReleaseResult, BoxError> {
        let manifests = self.reader.parse(&snapshot.files)?;
        Ok(self.on(&manifests, &snapshot.files))
    }

    fn on(&self, manifests: &Manifests, files: &FileSet) -> ReleaseResult {
        let cx = ReleaseContext {
            manifests,
            files,
            in_cluster: Some(&self.in_cluster),
            registry: &*self.registry,
        };
        calculate_automation(&cx)
    }
}

/// Flux v1's `auto` update spec for the changes of `result`.
pub fn auto_spec(result: &ReleaseResult) -> Spec {
    let changes = result
        .workloads
        .iter()
        .filter(|(_, w)| w.status == Status::Success)
        .flat_map(|(id, w)| {
            w.per_container.iter().map(move |c| AutomatedChange {
                workload_id: id.to_string(),
                container: WorkloadContainer {
                    name: c.container.clone(),
                    image: c.current.to_string(),
                },
                image_id: c.target.to_string(),
            })
        })
        .collect();
    Spec::new(Cause::default(), Update::Auto(Automated { changes }))
}
