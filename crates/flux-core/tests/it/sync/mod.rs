//! Sync planning and GC: the seven properties over generated scenarios, and
//! the bad-input and behaviour cases users rely on.

mod adapters;
mod cases;
mod properties;
mod stored;
