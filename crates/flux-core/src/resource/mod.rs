//! Resource identity: IDs and the namespaced/cluster scope of kinds.

mod id;
mod scope;

pub use id::{CLUSTER_SCOPE, ParseIdError, ResourceId};
pub use scope::{Scope, ScopeTable, split_api_version};
