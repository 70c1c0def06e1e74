//! What an operator runs, checked with the real tools: `deploy/` with
//! kustomize, kubectl, the emulator, `fluxctl install` and fluxd itself.
//! `util` holds the shared helpers.

mod deploy;
mod dockerfile;
mod docs;
mod metrics;
mod util;
