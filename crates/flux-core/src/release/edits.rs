//! Turning decisions into file edits, one workload at a time, so that a
//! workload whose edit fails leaves its file as it was and the others still
//! go ahead.

use std::collections::BTreeMap;

use super::result::{ContainerUpdate, FileEdit, Status, WorkloadResult};
use crate::manifest::{FileSet, Resource, SourceRef};
use crate::resource::ResourceId;
use crate::update::{UpdateError, set_container_image};

/// The files being edited: each file's text after the edits so far.
pub(crate) struct Edits<'f> {
    files: &'f FileSet,
    texts: BTreeMap<String, String>,
}

impl<'f> Edits<'f> {
    pub(crate) fn new(files: &'f FileSet) -> Self {
        Edits {
            files,
            texts: BTreeMap::new(),
        }
    }

    /// Runs `edit` on the current text of `source`'s file; keeps the result
    /// only if every step succeeds.
    pub(crate) fn edit(
        &mut self,
        source: &SourceRef,
        edit: impl FnOnce(&str) -> Result<String, UpdateError>,
    ) -> Result<(), String> {
        let text = match self.texts.get(&source.file) {
            Some(t) => t.as_str(),
            None => match self.files.get(&source.file).map(std::str::from_utf8) {
                Some(Ok(t)) => t,
                _ => return Err(format!("{}: file not found or not UTF-8", source.file)),
            },
        };
        let new = edit(text).map_err(|e| e.to_string())?;
        self.texts.insert(source.file.clone(), new);
        Ok(())
    }

    /// The files whose text changed, in path order.
    pub(crate) fn finish(self) -> Vec<FileEdit> {
        let files = self.files;
        self.texts
            .into_iter()
            .filter(|(file, text)| files.get(file) != Some(text.as_bytes()))
            .map(|(file, text)| FileEdit { file, text })
            .collect()
    }
}

/// Edits the files of `files` for each workload's container changes. A
/// workload whose edit fails is marked failed in `results` (with the reason)
/// and its file keeps the other workloads' edits only. Returns the changed
/// files in path order.
pub fn write_edits(
    files: &FileSet,
    changes: &[(&Resource, Vec<ContainerUpdate>)],
    results: &mut BTreeMap<ResourceId, WorkloadResult>,
) -> Vec<FileEdit> {
    let mut edits = Edits::new(files);
    for (w, updates) in changes {
        let source = w.source();
        let outcome = edits.edit(source, |text| {
            let mut text = text.to_owned();
            for u in updates {
                text = set_container_image(&text, source, &u.container, &u.target)?;
            }
            Ok(text)
        });
        if let Err(e) = outcome {
            results.insert(w.id().clone(), WorkloadResult::new(Status::Failed, e));
        }
    }
    edits.finish()
}
