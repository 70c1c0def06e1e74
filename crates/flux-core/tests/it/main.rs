//! Integration tests of flux-core: loading real directories, including the
//! bundled example repository, and property tests of sync planning. Modules mirror `src/`.

mod deps;
mod examples;
mod image;
mod manifest_load;
mod sync;
mod untrusted;
mod update;
