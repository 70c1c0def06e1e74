//! Shared helpers: the fixture round trip.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Reads `json` as `T`, checks it equals `want`, writes it back and checks
/// the JSON is the same (as values: key order and spacing aside).
pub fn round_trip<T>(json: &str, want: &T) -> T
where
    T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let got: T = serde_json::from_str(json).unwrap_or_else(|e| panic!("reading {json}: {e}"));
    assert_eq!(&got, want, "reading {json}");
    let written = serde_json::to_value(&got).expect("serialises");
    let original: Value = serde_json::from_str(json).expect("fixture is JSON");
    assert_eq!(written, original, "writing back {json}");
    got
}
