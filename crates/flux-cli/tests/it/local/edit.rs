//! Write commands with `--local` on copies of the examples, with the exact
//! resulting files asserted.
