//! The body of `GET /v6/export`.
//!
//! Flux v1's daemon returns the cluster's objects as a YAML byte stream, and
//! its HTTP layer writes a Go `[]byte` as JSON: a string holding the bytes in
//! standard base64 with padding. So the body is `"YXBpVmVyc2lvbjog..."`, not
//! YAML; fluxctl decodes it back to bytes.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The export body: the bytes, written as a base64 JSON string (`null`
/// reads as no bytes, as Go reads it).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Export(pub Vec<u8>);

impl Serialize for Export {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for Export {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = Option::<String>::deserialize(d)?.unwrap_or_default();
        STANDARD
            .decode(text.as_bytes())
            .map(Export)
            .map_err(|e| serde::de::Error::custom(format!("export body is not base64: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_travel_as_a_base64_string() {
        let body = Export(b"kind: Namespace\n".to_vec());
        let json = serde_json::to_string(&body).expect("serialises");
        assert_eq!(json, "\"a2luZDogTmFtZXNwYWNlCg==\"");
        assert_eq!(serde_json::from_str::<Export>(&json).expect("reads"), body);
        assert_eq!(
            serde_json::from_str::<Export>("null").expect("reads"),
            Export::default()
        );
        assert!(serde_json::from_str::<Export>("\"not base64!\"").is_err());
    }
}
