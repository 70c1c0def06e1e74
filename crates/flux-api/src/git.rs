//! The git side of `GitRepoConfig`: the repository status values.

use crate::wire::open_string_enum;

open_string_enum! {
    /// Flux v1's `git.GitRepoStatus`: how far the daemon got with its
    /// repository. Listed in the order a healthy daemon moves through them;
    /// the status can go back (say, when the deploy key is removed).
    pub enum GitRepoStatus {
        /// No git URL is configured.
        Unconfigured = "unconfigured",
        /// Not cloned yet.
        New = "new",
        /// Cloned, write access not yet checked.
        Cloned = "cloned",
        /// Cloned and written to: ready to sync.
        Ready = "ready",
        /// The remote cannot be reached (bad URL, DNS).
        Unreachable = "unreachable",
    }
}

/// Go's zero value: the empty string.
impl Default for GitRepoStatus {
    fn default() -> Self {
        GitRepoStatus::Other(String::new())
    }
}
