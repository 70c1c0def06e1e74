//! Integration tests of flux-core: loading real directories, including the
//! bundled example repository. Modules mirror `src/`.

mod examples;
mod manifest_load;
mod update;
