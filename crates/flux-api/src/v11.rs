//! Types of Flux API version 11: `list-workloads` with options
//! (`GET /v11/services?namespace=&services=`).

use flux_core::resource::ResourceId;

use crate::routes::{QueryError, query};

/// Flux v1's `v11.ListServicesOptions`. It travels as a query, never as
/// JSON: `namespace` (empty: all) and `services` (comma-separated workload
/// IDs; empty: all). Flux v1's client sends both keys, empty ones included,
/// and fluxd refuses a request giving both.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListServicesOptions {
    /// Only workloads in this namespace (empty: all).
    pub namespace: String,
    /// Only these workloads (empty: all).
    pub services: Vec<ResourceId>,
}

impl ListServicesOptions {
    /// The query string (without `?`), both keys present, in Go's order.
    pub fn to_query(&self) -> String {
        let services = self
            .services
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",");
        form_urlencoded::Serializer::new(String::new())
            .append_pair(query::NAMESPACE, &self.namespace)
            .append_pair(query::SERVICES, &services)
            .finish()
    }

    /// Reads the query string (without `?`); a bad workload ID is an error
    /// naming it.
    pub fn from_query(q: &str) -> Result<Self, QueryError> {
        let mut opts = ListServicesOptions::default();
        for (k, v) in form_urlencoded::parse(q.as_bytes()) {
            match k.as_ref() {
                query::NAMESPACE => opts.namespace = v.into_owned(),
                query::SERVICES if !v.is_empty() => {
                    opts.services = v
                        .split(',')
                        .map(|s| {
                            ResourceId::parse(s).map_err(|e| QueryError::Invalid {
                                param: query::SERVICES,
                                value: s.to_owned(),
                                reason: e.reason.to_owned(),
                            })
                        })
                        .collect::<Result<_, _>>()?;
                }
                _ => {}
            }
        }
        Ok(opts)
    }
}
