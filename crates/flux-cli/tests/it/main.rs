//! Integration tests of fluxctl. Modules mirror `src/`; `util` holds the
//! helpers (running fluxctl in-process or as a binary, copies of the
//! example repository) that other crates' tests can copy. `fake_fluxd` is a
//! scripted stand-in for exact wire checks; `fluxd` runs the real binary
//! against a real fluxd on flux-daemon's test bed.

mod args;
mod completion;
mod fake_fluxd;
mod fluxd;
mod forward;
mod local;
mod remote;
mod util;
