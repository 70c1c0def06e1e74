//! The deploy key as Flux v1's API shows it (`fluxctl identity`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::wire;

/// Flux v1's `ssh.PublicKey`: the public half of the deploy key in
/// authorized_keys form, and its fingerprints keyed by hash algorithm
/// (`"md5"`, `"sha256"`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(default)]
pub struct PublicKey {
    /// `ssh-rsa AAAA… comment` (as `ssh-keygen -y` prints it).
    pub key: String,
    /// Fingerprints by hash algorithm.
    #[serde(deserialize_with = "wire::nullable")]
    pub fingerprints: BTreeMap<String, Fingerprint>,
}

/// One fingerprint of a key, as `ssh-keygen -l -v -E <algo>` prints it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(default)]
pub struct Fingerprint {
    /// The hash without its algorithm prefix, as Flux v1 cut it from
    /// `ssh-keygen -l` (`aa:bb:…` for MD5, unpadded base64 for SHA-256).
    pub hash: String,
    /// The ASCII-art picture of the key.
    pub randomart: String,
}
