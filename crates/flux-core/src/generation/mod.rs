//! Manifest generation: `.flux.yaml` files (fluxd's `--manifest-generation`).
//!
//! A repository can have its manifests printed by commands (kustomize,
//! helm template, scripts) instead of kept as YAML files. A `.flux.yaml`
//! found from a `--git-path` upward says which commands, and how Flux's own
//! changes (releases, automation, policies) are made: by updater commands,
//! or by a patch file Flux keeps and applies to the commands' output.
//!
//! This module is the pure part: reading `.flux.yaml` files ([`config`]),
//! deciding which one governs each git path ([`lookup`]), patch files
//! ([`patch`]), plain files and generated output as one set of manifests
//! whose release and policy edits turn into real file changes ([`view`]),
//! and the updater commands and their environment ([`updaters`]). Running
//! commands is the `flux-generate` crate's job.

pub mod config;
mod duration;
mod emit;
mod keys;
pub mod lookup;
pub mod patch;
pub mod updaters;
pub mod view;

pub use config::{
    Command, CommandUpdated, ConfigError, ConfigFile, Mode, PatchUpdated, Updater, parse_config,
};
pub use duration::parse_duration;
pub use emit::emit_document;
pub use lookup::{Generation, Plan, plan};
pub use updaters::{Change, UpdaterError, UpdaterRun};
pub use view::{GeneratedOutput, View, ViewError, build_view};
