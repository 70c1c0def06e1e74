//! Integration tests of fluxctl. Modules mirror `src/`.

mod local;
