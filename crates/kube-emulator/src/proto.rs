//! Decoding the few protobuf request bodies kubectl sends.
//!
//! kubectl's typed clients (`kubectl create namespace`, `create configmap`,
//! `create secret`, `create serviceaccount`) send
//! `application/vnd.kubernetes.protobuf` bodies: the `k8s\0` magic, a
//! `runtime.Unknown` envelope, and the object in Kubernetes' generated
//! protobuf encoding. The emulator speaks JSON everywhere else, so it
//! decodes just these kinds here (field numbers from Kubernetes'
//! `generated.proto`) and refuses the others with 415.

use base64::Engine as _;
use serde_json::{Map, Value, json};

/// A protobuf decoding failure.
pub type ProtoError = String;

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

enum Field<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    fn varint(&mut self) -> Result<u64, ProtoError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self.buf.get(self.pos).ok_or("truncated varint")?;
            self.pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("varint too long".into())
    }

    fn next(&mut self) -> Result<Option<(u64, Field<'a>)>, ProtoError> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let key = self.varint()?;
        let (num, wire) = (key >> 3, key & 7);
        let f = match wire {
            0 => Field::Varint(self.varint()?),
            1 | 5 => {
                let n = if wire == 1 { 8 } else { 4 };
                if self.pos + n > self.buf.len() {
                    return Err("truncated fixed field".into());
                }
                self.pos += n;
                Field::Fixed
            }
            2 => {
                let len = usize::try_from(self.varint()?).map_err(|_| "length overflow")?;
                let end = self
                    .pos
                    .checked_add(len)
                    .filter(|e| *e <= self.buf.len())
                    .ok_or("truncated bytes")?;
                let b = &self.buf[self.pos..end];
                self.pos = end;
                Field::Bytes(b)
            }
            other => return Err(format!("unsupported wire type {other}")),
        };
        Ok(Some((num, f)))
    }
}

fn text(b: &[u8]) -> Result<String, ProtoError> {
    String::from_utf8(b.to_vec()).map_err(|_| "invalid UTF-8 in string".into())
}

/// Inserts a string field unless it is empty (Go's protobuf encoding
/// writes empty strings that JSON would omit).
fn put(m: &mut Map<String, Value>, k: &str, b: &[u8]) -> Result<(), ProtoError> {
    let t = text(b)?;
    if !t.is_empty() {
        m.insert(k.into(), t.into());
    }
    Ok(())
}

/// A map entry: (key, value bytes).
fn entry(b: &[u8]) -> Result<(String, Vec<u8>), ProtoError> {
    let mut r = Reader::new(b);
    let (mut k, mut v) = (String::new(), Vec::new());
    while let Some((n, f)) = r.next()? {
        match (n, f) {
            (1, Field::Bytes(x)) => k = text(x)?,
            (2, Field::Bytes(x)) => v = x.to_vec(),
            _ => {}
        }
    }
    Ok((k, v))
}

fn object_meta(b: &[u8]) -> Result<Value, ProtoError> {
    let mut r = Reader::new(b);
    let mut m = Map::new();
    let mut labels = Map::new();
    let mut annotations = Map::new();
    let mut finalizers = Vec::new();
    while let Some((n, f)) = r.next()? {
        match (n, f) {
            (1, Field::Bytes(x)) => put(&mut m, "name", x)?,
            (2, Field::Bytes(x)) => put(&mut m, "generateName", x)?,
            (3, Field::Bytes(x)) => put(&mut m, "namespace", x)?,
            (6, Field::Bytes(x)) => put(&mut m, "resourceVersion", x)?,
            (11, Field::Bytes(x)) => {
                let (k, v) = entry(x)?;
                labels.insert(k, text(&v)?.into());
            }
            (12, Field::Bytes(x)) => {
                let (k, v) = entry(x)?;
                annotations.insert(k, text(&v)?.into());
            }
            (14, Field::Bytes(x)) => finalizers.push(Value::from(text(x)?)),
            _ => {}
        }
    }
    if !labels.is_empty() {
        m.insert("labels".into(), Value::Object(labels));
    }
    if !annotations.is_empty() {
        m.insert("annotations".into(), Value::Object(annotations));
    }
    if !finalizers.is_empty() {
        m.insert("finalizers".into(), Value::Array(finalizers));
    }
    Ok(Value::Object(m))
}

fn string_map(
    into: &mut Map<String, Value>,
    key: &str,
    b: &[u8],
    base64: bool,
) -> Result<(), ProtoError> {
    let (k, v) = entry(b)?;
    let value = if base64 {
        base64::engine::general_purpose::STANDARD.encode(v)
    } else {
        text(&v)?
    };
    into.entry(key.to_owned())
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .ok_or("not an object")?
        .insert(k, value.into());
    Ok(())
}

fn names(b: &[u8]) -> Result<Value, ProtoError> {
    let mut r = Reader::new(b);
    let mut m = Map::new();
    while let Some((n, f)) = r.next()? {
        if let (1, Field::Bytes(x)) = (n, f) {
            m.insert("name".into(), text(x)?.into());
        }
    }
    Ok(Value::Object(m))
}

/// Decodes a `application/vnd.kubernetes.protobuf` body into JSON.
pub fn decode(body: &[u8]) -> Result<Value, ProtoError> {
    let raw = body
        .strip_prefix(b"k8s\0")
        .ok_or("missing the k8s protobuf magic")?;
    let mut r = Reader::new(raw);
    let (mut api_version, mut kind, mut inner) = (String::new(), String::new(), &[][..]);
    while let Some((n, f)) = r.next()? {
        match (n, f) {
            (1, Field::Bytes(tm)) => {
                let mut t = Reader::new(tm);
                while let Some((n, f)) = t.next()? {
                    match (n, f) {
                        (1, Field::Bytes(x)) => api_version = text(x)?,
                        (2, Field::Bytes(x)) => kind = text(x)?,
                        _ => {}
                    }
                }
            }
            (2, Field::Bytes(x)) => inner = x,
            _ => {}
        }
    }
    if !matches!(
        kind.as_str(),
        "Namespace" | "ConfigMap" | "Secret" | "ServiceAccount"
    ) {
        return Err(format!(
            "the emulator decodes protobuf bodies only for Namespace, ConfigMap, Secret and ServiceAccount, not {api_version} {kind}; send JSON"
        ));
    }
    let mut obj = Map::new();
    obj.insert("apiVersion".into(), api_version.into());
    obj.insert("kind".into(), kind.clone().into());
    let mut r = Reader::new(inner);
    while let Some((n, f)) = r.next()? {
        let x = match f {
            Field::Bytes(x) => x,
            Field::Varint(v) => {
                let field = match (kind.as_str(), n) {
                    ("ConfigMap", 4) | ("Secret", 5) => "immutable",
                    ("ServiceAccount", 4) => "automountServiceAccountToken",
                    _ => continue,
                };
                obj.insert(field.into(), Value::Bool(v != 0));
                continue;
            }
            Field::Fixed => continue,
        };
        match (kind.as_str(), n) {
            (_, 1) => {
                obj.insert("metadata".into(), object_meta(x)?);
            }
            ("Namespace", 2) => {
                let mut s = Reader::new(x);
                let mut fin = Vec::new();
                while let Some((n, f)) = s.next()? {
                    if let (1, Field::Bytes(v)) = (n, f) {
                        fin.push(Value::from(text(v)?));
                    }
                }
                obj.insert("spec".into(), json!({"finalizers": fin}));
            }
            ("ConfigMap", 2) => string_map(&mut obj, "data", x, false)?,
            ("ConfigMap", 3) => string_map(&mut obj, "binaryData", x, true)?,
            ("Secret", 2) => string_map(&mut obj, "data", x, true)?,
            ("Secret", 3) => put(&mut obj, "type", x)?,
            ("Secret", 4) => string_map(&mut obj, "stringData", x, false)?,
            ("ServiceAccount", 2 | 3) => {
                let field = if n == 2 {
                    "secrets"
                } else {
                    "imagePullSecrets"
                };
                let item = names(x)?;
                obj.entry(field.to_owned())
                    .or_insert_with(|| json!([]))
                    .as_array_mut()
                    .ok_or("not a list")?
                    .push(item);
            }
            _ => {}
        }
    }
    Ok(Value::Object(obj))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn varint(mut v: u64, out: &mut Vec<u8>) {
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(b);
                return;
            }
            out.push(b | 0x80);
        }
    }

    fn bytes(num: u64, data: &[u8], out: &mut Vec<u8>) {
        varint(num << 3 | 2, out);
        varint(data.len() as u64, out);
        out.extend_from_slice(data);
    }

    fn entry(k: &str, v: &[u8]) -> Vec<u8> {
        let mut e = Vec::new();
        bytes(1, k.as_bytes(), &mut e);
        bytes(2, v, &mut e);
        e
    }

    #[test]
    fn decodes_a_secret() {
        let mut meta = Vec::new();
        bytes(1, b"creds", &mut meta);
        bytes(3, b"demo", &mut meta);
        bytes(11, &entry("app", b"web"), &mut meta);
        let mut secret = Vec::new();
        bytes(1, &meta, &mut secret);
        bytes(2, &entry("password", b"hunter2"), &mut secret);
        bytes(3, b"Opaque", &mut secret);
        let mut tm = Vec::new();
        bytes(1, b"v1", &mut tm);
        bytes(2, b"Secret", &mut tm);
        let mut unknown = b"k8s\0".to_vec();
        bytes(1, &tm, &mut unknown);
        bytes(2, &secret, &mut unknown);
        let v = decode(&unknown).unwrap();
        assert_eq!(
            v,
            json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                   "metadata": {"name": "creds", "namespace": "demo", "labels": {"app": "web"}},
                   "data": {"password": "aHVudGVyMg=="}})
        );
        assert!(decode(b"nope").is_err());
        assert!(decode(&unknown[..unknown.len() - 3]).is_err());
    }
}
