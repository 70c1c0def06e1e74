//! Integration tests of fluxctl. Modules mirror `src/`; `util` holds the
//! helpers (running fluxctl in-process or as a binary, copies of the
//! example repository) that other crates' tests can copy.

mod args;
mod completion;
mod fake_fluxd;
mod forward;
mod local;
mod remote;
mod util;
