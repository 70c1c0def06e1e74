//! Integration tests of fluxd: the pieces wired by hand (`pipeline`), and
//! fluxd itself running against real servers (`e2e`).

mod deploykey;
mod e2e;
mod ha;
mod pipeline;
