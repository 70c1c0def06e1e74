//! Types of Flux API version 10: `list-images` with options
//! (`GET /v10/images?service=&containerFields=&namespace=`).

use flux_core::resource::ResourceId;

use crate::routes::{QueryError, query};
use crate::update::ResourceSpec;
use crate::v6::CONTAINER_FIELDS;

/// Flux v1's `v10.ListImagesOptions`. It travels as a query, never as JSON:
/// `service` (a workload ID or `<all>`; empty or absent means `<all>`),
/// `containerFields` (comma-separated [`CONTAINER_FIELDS`]; empty means all)
/// and `namespace` (empty means all). Flux v1's client sends all three
/// keys, empty ones included.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListImagesOptions {
    /// Which workloads.
    pub spec: ResourceSpec,
    /// Which container fields to fill (empty: all).
    pub override_container_fields: Vec<String>,
    /// Only workloads in this namespace (empty: all). Flux v1 refuses a
    /// namespace together with one workload.
    pub namespace: String,
}

impl Default for ListImagesOptions {
    fn default() -> Self {
        ListImagesOptions {
            spec: ResourceSpec::All,
            override_container_fields: Vec::new(),
            namespace: String::new(),
        }
    }
}

impl ListImagesOptions {
    /// Options for one workload.
    pub fn workload(id: ResourceId) -> Self {
        ListImagesOptions {
            spec: ResourceSpec::Id(id),
            ..ListImagesOptions::default()
        }
    }

    /// The query string (without `?`), every key present, in Go's order.
    pub fn to_query(&self) -> String {
        form_urlencoded::Serializer::new(String::new())
            .append_pair(
                query::CONTAINER_FIELDS,
                &self.override_container_fields.join(","),
            )
            .append_pair(query::NAMESPACE, &self.namespace)
            .append_pair(query::SERVICE, &self.spec.to_string())
            .finish()
    }

    /// Reads the query string (without `?`) as fluxd does: a bad workload
    /// ID or an unknown container field is an error naming it.
    pub fn from_query(q: &str) -> Result<Self, QueryError> {
        let mut opts = ListImagesOptions::default();
        for (k, v) in form_urlencoded::parse(q.as_bytes()) {
            match k.as_ref() {
                query::SERVICE if !v.is_empty() => {
                    opts.spec = v.parse().map_err(|e: flux_core::resource::ParseIdError| {
                        QueryError::Invalid {
                            param: query::SERVICE,
                            value: v.to_string(),
                            reason: e.reason.to_owned(),
                        }
                    })?;
                }
                query::CONTAINER_FIELDS if !v.is_empty() => {
                    opts.override_container_fields = Vec::new();
                    for field in v.split(',') {
                        if !CONTAINER_FIELDS.contains(&field) {
                            return Err(QueryError::Invalid {
                                param: query::CONTAINER_FIELDS,
                                value: field.to_owned(),
                                reason: format!(
                                    "not a container field (known: {})",
                                    CONTAINER_FIELDS.join(", ")
                                ),
                            });
                        }
                        opts.override_container_fields.push(field.to_owned());
                    }
                }
                query::NAMESPACE => opts.namespace = v.into_owned(),
                _ => {}
            }
        }
        Ok(opts)
    }
}
