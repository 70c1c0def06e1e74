//! Jobs: what `POST /v9/update-manifests` returns (a job ID, as a JSON
//! string) and what `GET /v6/jobs?id=` reports about it.
//!
//! A job status is written
//! `{"Result":{"revision":…,"spec":…,"result":…},"Err":"…","StatusString":"queued"}`:
//! `Result` and `Err` are always there (`{}` and `""` when empty), the
//! fields inside `Result` only when set. fluxctl polls until the status is
//! `succeeded` (with an empty `Err`) or `failed`.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::update::{Spec, UpdateResult};
use crate::wire::open_string_enum;

/// A job ID. Flux v1 makes them from 16 random bytes, written
/// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` in hex ([`Id::from_bytes`]);
/// clients treat them as opaque strings.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(transparent)]
pub struct Id(pub String);

impl Id {
    /// Writes 16 (random) bytes as Flux v1 writes a job ID.
    pub fn from_bytes(b: [u8; 16]) -> Self {
        let hex = |s: &[u8]| s.iter().map(|b| format!("{b:02x}")).collect::<String>();
        Id(format!(
            "{}-{}-{}-{}-{}",
            hex(&b[0..4]),
            hex(&b[4..6]),
            hex(&b[6..8]),
            hex(&b[8..10]),
            hex(&b[10..16])
        ))
    }

    /// The ID as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for Id {
    fn from(s: &str) -> Self {
        Id(s.to_owned())
    }
}

impl From<String> for Id {
    fn from(s: String) -> Self {
        Id(s)
    }
}

open_string_enum! {
    /// Flux v1's `job.StatusString`.
    pub enum StatusString {
        /// Waiting in the queue.
        Queued = "queued",
        /// Being run.
        Running = "running",
        /// Finished with an error (`Err`).
        Failed = "failed",
        /// Finished; `Result` says what it did.
        Succeeded = "succeeded",
    }
}

/// Go's zero value: the empty string.
impl Default for StatusString {
    fn default() -> Self {
        StatusString::Other(String::new())
    }
}

/// Flux v1's `job.Result`: the commit a job made (if any), the request it
/// ran and its per-workload result. Each field is left out when empty.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(default)]
pub struct JobResult {
    /// The commit the job pushed (or, for a sync, the revision synced).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub revision: String,
    /// The request the job ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spec: Option<Box<Spec>>,
    /// What happened per workload.
    #[serde(skip_serializing_if = "UpdateResult::is_empty")]
    pub result: UpdateResult,
}

/// Flux v1's `job.Status`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(default)]
pub struct Status {
    /// What the job did (empty until it finishes).
    #[serde(rename = "Result", deserialize_with = "crate::wire::nullable")]
    pub result: JobResult,
    /// The error of a failed job.
    #[serde(rename = "Err")]
    pub err: String,
    /// Where the job is.
    #[serde(rename = "StatusString")]
    pub status_string: StatusString,
}

impl Status {
    /// A queued job.
    pub fn queued() -> Self {
        Status {
            status_string: StatusString::Queued,
            ..Status::default()
        }
    }

    /// A running job.
    pub fn running() -> Self {
        Status {
            status_string: StatusString::Running,
            ..Status::default()
        }
    }

    /// A job that finished.
    pub fn succeeded(result: JobResult) -> Self {
        Status {
            result,
            err: String::new(),
            status_string: StatusString::Succeeded,
        }
    }

    /// A job that failed, with what it did before failing.
    pub fn failed(err: impl Into<String>, result: JobResult) -> Self {
        Status {
            result,
            err: err.into(),
            status_string: StatusString::Failed,
        }
    }

    /// Whether the job is over (succeeded or failed).
    pub fn is_finished(&self) -> bool {
        matches!(
            self.status_string,
            StatusString::Succeeded | StatusString::Failed
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_written_like_flux_v1_guids() {
        let id = Id::from_bytes([
            0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55,
            0x66, 0x77,
        ]);
        assert_eq!(id.as_str(), "01234567-89ab-cdef-0011-223344556677");
        assert_eq!(
            serde_json::to_string(&id).expect("serialises"),
            "\"01234567-89ab-cdef-0011-223344556677\""
        );
    }
}
