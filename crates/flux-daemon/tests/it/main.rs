//! Integration tests of fluxd's pieces.

mod pipeline;
