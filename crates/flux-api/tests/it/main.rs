//! flux-api's integration tests: Flux v1's JSON, as its fluxctl and fluxd
//! send it, read into our types and written back unchanged; and the client
//! against a real HTTP server on a loopback port.

mod server;
mod support;

mod client;
mod client_wait;

mod error;
mod job;
mod update;
mod v6;
mod v9;
