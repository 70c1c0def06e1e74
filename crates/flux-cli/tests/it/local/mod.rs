//! `--local` commands on the bundled example repository and copies of it.

mod edit;
mod list;
