//! Plain files and generated output seen as one repository of manifests,
//! for syncs and for releases.
//!
//! Each generator's output becomes a file of its own in the view's
//! [`FileSet`], named after its `.flux.yaml` as Flux v1 named it
//! (`envs/staging/../.flux.yaml`; with several generators, `#1`, `#2`… is
//! added). Those names cannot be real paths (they hold `..` or are hidden),
//! so nothing is ever written to them: the release and policy calculations
//! of [`crate::release`] edit the view's files, and [`View::file_edits`]
//! turns their edits back into changes of real files, a new patch file for
//! `patchUpdated` output. Loading follows the rules and errors of plain
//! files, and a resource both in a file and generated (or generated twice)
//! is a duplicate.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde_json::Value;

use super::Mode;
use super::emit_document;
use super::lookup::Generation;
use super::patch::{PatchError, apply_patches, create_patch_file, parse_patch_file};
use crate::manifest::{FileSet, LoadErrors, LoadOptions, Manifests, parse_streams, select};
use crate::release::FileEdit;
use crate::resource::{ResourceId, Scope, ScopeTable};
use crate::yaml::{self, SpannedEvents};

/// What the commands of one generation printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedOutput {
    /// The git path and its `.flux.yaml` (from [`super::lookup::plan`]).
    pub generation: Generation,
    /// The standard output of each generator, in order.
    pub outputs: Vec<Vec<u8>>,
    /// For `patchUpdated`: the patch file's bytes, `None` when it does not
    /// exist yet.
    pub patch: Option<Vec<u8>>,
}

/// Reading generated output (or applying its patch file) failed.
#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    /// Files or generated output could not be read as manifests.
    #[error(transparent)]
    Load(#[from] LoadErrors),
    /// A patch file could not be read or applied.
    #[error("{config}: cannot apply patchFile {patch_file} to the generated resources: {source}")]
    Patch {
        /// The `.flux.yaml`, as named in messages.
        config: String,
        /// The patch file, repo-relative.
        patch_file: String,
        /// What went wrong.
        #[source]
        source: Box<PatchError>,
    },
}

/// One generation in the view.
#[derive(Debug, Clone)]
struct Part {
    generation: Generation,
    /// The names of its outputs in the view's files.
    streams: Vec<String>,
    /// Its resources as generated, before the patch.
    generated: BTreeMap<ResourceId, Value>,
    /// The patch file's bytes.
    patch: Option<Vec<u8>>,
}

/// Plain files and generated output as one set of manifests.
#[derive(Debug, Clone)]
pub struct View {
    /// Every resource: from plain files, and generated (patched).
    pub manifests: Manifests,
    /// The plain files read, and each generator's (patched) output under
    /// its name; what [`crate::release`] calculations take as `files`.
    pub files: FileSet,
    parts: Vec<Part>,
    scopes: ScopeTable,
    options: LoadOptions,
}

/// The name of generator `index` (0-based) of `count` in messages and in
/// the view's files.
pub fn stream_name(generation: &Generation, index: usize, count: usize) -> String {
    if count == 1 {
        generation.name.clone()
    } else {
        format!("{}#{}", generation.name, index + 1)
    }
}

/// Builds the view of `files` under `plain_paths` (plain YAML) and the
/// generated `outputs`, applying each `patchUpdated` patch file.
pub fn build_view(
    files: &FileSet,
    plain_paths: &[String],
    outputs: Vec<GeneratedOutput>,
    scopes: &ScopeTable,
    options: &LoadOptions,
) -> Result<View, ViewError> {
    let plain = if plain_paths.is_empty() {
        Vec::new()
    } else {
        select(files, plain_paths)
    };
    let mut view_files = FileSet::new();
    for (path, _) in &plain {
        if let Some(bytes) = files.get_shared(path) {
            view_files.insert_shared(*path, Arc::clone(bytes));
        }
    }
    let mut parts = Vec::new();
    for out in outputs {
        let count = out.outputs.len();
        let mut streams = Vec::with_capacity(count);
        for (i, bytes) in out.outputs.into_iter().enumerate() {
            let name = stream_name(&out.generation, i, count);
            view_files.insert(name.clone(), bytes);
            streams.push(name);
        }
        parts.push(Part {
            generation: out.generation,
            streams,
            generated: BTreeMap::new(),
            patch: out.patch,
        });
    }
    let first = parse_all(&view_files, scopes, options)?;
    let mut learned = scopes.clone();
    for r in first.resources.values() {
        if r.kind() == "CustomResourceDefinition" {
            learned.learn_crd(&r.object().to_value());
        }
    }
    let mut patched_any = false;
    for part in &mut parts {
        let mine: BTreeSet<&str> = part.streams.iter().map(String::as_str).collect();
        part.generated = first
            .resources
            .iter()
            .filter(|(_, r)| mine.contains(r.source().file.as_str()))
            .map(|(id, r)| (id.clone(), r.object().to_value()))
            .collect();
        let (Mode::PatchUpdated(p), Some(path)) =
            (&part.generation.config.mode, &part.generation.patch_path)
        else {
            continue;
        };
        let Some(patch) = &part.patch else { continue };
        let patch_error = |source| ViewError::Patch {
            config: part.generation.name.clone(),
            patch_file: p.patch_file.clone(),
            source: Box::new(source),
        };
        let patches =
            parse_patch_file(path, patch, |v| id_of(v, &learned, options)).map_err(patch_error)?;
        if patches.is_empty() {
            continue;
        }
        let targets: BTreeMap<ResourceId, &Value> = part
            .generated
            .iter()
            .map(|(id, v)| (id.clone(), v))
            .collect();
        let patched = apply_patches(path, &targets, &patches).map_err(patch_error)?;
        for (stream, text) in rewrite(&first, &view_files, &patched) {
            view_files.insert(stream, text);
        }
        patched_any = true;
    }
    let manifests = if patched_any {
        parse_all(&view_files, scopes, options)?
    } else {
        first
    };
    Ok(View {
        manifests,
        files: view_files,
        parts,
        scopes: learned,
        options: options.clone(),
    })
}

fn parse_all(
    files: &FileSet,
    scopes: &ScopeTable,
    options: &LoadOptions,
) -> Result<Manifests, LoadErrors> {
    let streams: Vec<(&str, &[u8])> = files.iter().collect();
    parse_streams(&streams, scopes, options)
}

/// A resource's ID as loading makes it; a kind of unknown scope counts as
/// namespaced.
fn id_of(object: &Value, scopes: &ScopeTable, options: &LoadOptions) -> Result<ResourceId, String> {
    let kind = object["kind"].as_str().unwrap_or_default();
    let api_version = object["apiVersion"].as_str().unwrap_or_default();
    let name = object["metadata"]["name"].as_str().unwrap_or_default();
    let namespace = object["metadata"]["namespace"]
        .as_str()
        .filter(|s| !s.is_empty())
        .unwrap_or(&options.default_namespace);
    let ns = match scopes.lookup(api_version, kind) {
        Some(Scope::Cluster) => None,
        _ => Some(namespace),
    };
    ResourceId::try_new(ns, kind, name).map_err(|e| e.to_string())
}

/// The new objects of one document: the whole document (`None`) or items
/// of its `items`.
type DocChanges<'a> = Vec<(Option<usize>, &'a Value)>;

/// The texts of the streams holding `patched` resources, with those
/// documents written anew and every other byte kept.
fn rewrite(
    first: &Manifests,
    files: &FileSet,
    patched: &BTreeMap<ResourceId, Value>,
) -> Vec<(String, String)> {
    // stream -> document -> (item -> object)
    let mut by_stream: BTreeMap<&str, BTreeMap<usize, DocChanges<'_>>> = BTreeMap::new();
    for (id, object) in patched {
        if let Some(r) = first.resources.get(id) {
            let s = r.source();
            by_stream
                .entry(s.file.as_str())
                .or_default()
                .entry(s.document)
                .or_default()
                .push((s.item, object));
        }
    }
    let mut out = Vec::new();
    for (stream, docs) in by_stream {
        let Some(text) = files.get(stream).and_then(|b| std::str::from_utf8(b).ok()) else {
            continue;
        };
        let starts = document_starts(text);
        let mut new = String::with_capacity(text.len() + 256);
        new.push_str(&text[..starts.first().copied().unwrap_or(text.len())]);
        for (i, start) in starts.iter().enumerate() {
            let end = starts.get(i + 1).copied().unwrap_or(text.len());
            let region = &text[*start..end];
            let Some(changes) = docs.get(&i) else {
                new.push_str(region);
                continue;
            };
            let value = match changes.as_slice() {
                [(None, object)] => (*object).clone(),
                _ => {
                    let Ok(parsed) = yaml::parse_documents(region, yaml::Limits::default()) else {
                        new.push_str(region);
                        continue;
                    };
                    let mut doc = parsed
                        .into_iter()
                        .next()
                        .map(|d| d.value)
                        .unwrap_or_default();
                    for (item, object) in changes {
                        match item {
                            Some(n) => {
                                if let Some(slot) =
                                    doc.get_mut("items").and_then(|items| items.get_mut(*n))
                                {
                                    *slot = (*object).clone();
                                }
                            }
                            None => doc = (*object).clone(),
                        }
                    }
                    doc
                }
            };
            if region.starts_with("---") {
                new.push_str("---\n");
            }
            new.push_str(&emit_document(&value));
        }
        out.push((stream.to_owned(), new));
    }
    out
}

/// Where each document of a stream starts (its `---`, or its first token).
fn document_starts(text: &str) -> Vec<usize> {
    let mut starts = Vec::new();
    for ev in SpannedEvents::new(text) {
        match ev {
            Ok(ev) => {
                if let saphyr_parser::Event::DocumentStart(_) = ev.event {
                    starts.push(ev.span.start);
                }
            }
            Err(_) => break,
        }
    }
    starts
}

impl View {
    /// The generation whose output a file of the view is, if it is one.
    pub fn generation_of(&self, file: &str) -> Option<&Generation> {
        self.parts
            .iter()
            .find(|p| p.streams.iter().any(|s| s == file))
            .map(|p| &p.generation)
    }

    /// The generations in the view.
    pub fn generations(&self) -> impl Iterator<Item = &Generation> {
        self.parts.iter().map(|p| &p.generation)
    }

    /// The changes to real files that carry out `edits` (made on
    /// [`View::files`] by a release or policy calculation): edits of plain
    /// files as they are; edits of `patchUpdated` output as the new patch
    /// file, made from the generated resources and every edited one (the
    /// earlier patches included), written only if its bytes change. Edits
    /// of `commandUpdated` output are left out: its updater commands make
    /// those changes (see [`super::updaters`]).
    pub fn file_edits(&self, edits: &[FileEdit]) -> Result<Vec<FileEdit>, ViewError> {
        let mut out = Vec::new();
        let mut touched: BTreeMap<usize, BTreeMap<&str, &str>> = BTreeMap::new();
        for edit in edits {
            match self
                .parts
                .iter()
                .position(|p| p.streams.contains(&edit.file))
            {
                None => out.push(edit.clone()),
                Some(i) => {
                    touched.entry(i).or_default().insert(&edit.file, &edit.text);
                }
            }
        }
        for (i, edited) in touched {
            let part = &self.parts[i];
            let (Mode::PatchUpdated(_), Some(path)) =
                (&part.generation.config.mode, &part.generation.patch_path)
            else {
                continue;
            };
            let texts: Vec<(&str, &[u8])> = part
                .streams
                .iter()
                .map(|s| {
                    let text = edited
                        .get(s.as_str())
                        .map(|t| t.as_bytes())
                        .or_else(|| self.files.get(s))
                        .unwrap_or_default();
                    (s.as_str(), text)
                })
                .collect();
            let modified = parse_streams(&texts, &self.scopes, &self.options)?;
            let modified: BTreeMap<&ResourceId, Value> = modified
                .resources
                .iter()
                .map(|(id, r)| (id, r.object().to_value()))
                .collect();
            let modified: BTreeMap<&ResourceId, &Value> =
                modified.iter().map(|(k, v)| (*k, v)).collect();
            let generated: BTreeMap<&ResourceId, &Value> = part.generated.iter().collect();
            let text = create_patch_file(&generated, &modified);
            let unchanged = match &part.patch {
                Some(old) => old == text.as_bytes(),
                None => text.is_empty(),
            };
            if !unchanged {
                out.push(FileEdit {
                    file: path.clone(),
                    text,
                });
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
