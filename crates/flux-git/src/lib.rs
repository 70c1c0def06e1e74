//! Git for fluxd: the only connection to the source of truth.
//!
//! This crate will mirror a remote (ssh, https, git, file), read the manifest
//! files at a revision as a [`flux_core::ManifestSource`], commit edits made
//! by flux-core, push them (with the `git` program, which gix cannot replace
//! yet), and move the `flux-sync` tag.
//!
//! It is not a general git library, and it never decides *what* to change:
//! edits come from flux-core as data.
//!
//! Status: scaffolding only; the implementation is tracked by its own issue.
