//! Turning container changes into file edits, one workload at a time, so
//! that a workload whose edit fails leaves its file as it was and the others
//! still go ahead.

use std::collections::BTreeMap;

use super::result::{ContainerUpdate, FileEdit, Status, WorkloadResult};
use crate::manifest::{FileSet, Resource};
use crate::resource::ResourceId;
use crate::update::set_container_image;

/// Edits the files of `files` for each workload's container changes. A
/// workload whose edit fails is marked failed in `results` (with the reason)
/// and its file keeps the other workloads' edits only. Returns the changed
/// files in path order.
pub fn write_edits(
    files: &FileSet,
    changes: &[(&Resource, Vec<ContainerUpdate>)],
    results: &mut BTreeMap<ResourceId, WorkloadResult>,
) -> Vec<FileEdit> {
    let mut texts: BTreeMap<&str, String> = BTreeMap::new();
    for (w, updates) in changes {
        let source = w.source();
        let original = match texts.get(source.file.as_str()) {
            Some(t) => t.clone(),
            None => match files.get(&source.file).map(std::str::from_utf8) {
                Some(Ok(t)) => t.to_owned(),
                _ => {
                    fail(
                        results,
                        w.id(),
                        format!("{}: file not found or not UTF-8", source.file),
                    );
                    continue;
                }
            },
        };
        let mut text = original;
        let mut error = None;
        for u in updates {
            match set_container_image(&text, source, &u.container, &u.target) {
                Ok(t) => text = t,
                Err(e) => {
                    error = Some(e.to_string());
                    break;
                }
            }
        }
        match error {
            Some(e) => fail(results, w.id(), e),
            None => {
                texts.insert(source.file.as_str(), text);
            }
        }
    }
    texts
        .into_iter()
        .filter(|(file, text)| files.get(file) != Some(text.as_bytes()))
        .map(|(file, text)| FileEdit {
            file: file.to_owned(),
            text,
        })
        .collect()
}

fn fail(results: &mut BTreeMap<ResourceId, WorkloadResult>, id: &ResourceId, error: String) {
    results.insert(id.clone(), WorkloadResult::new(Status::Failed, error));
}
