//! Unique ids (uids) and cluster IPs, as the API server allocates them.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// Unique ids and cluster IPs.
#[derive(Debug, Default)]
pub struct Allocator {
    uids: AtomicU64,
    ips: AtomicU32,
    seed: u64,
}

impl Allocator {
    /// An allocator whose uids differ from other instances'.
    pub fn new() -> Self {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(std::process::id().into());
        Allocator {
            uids: AtomicU64::new(0),
            ips: AtomicU32::new(0),
            seed: h.finish(),
        }
    }

    /// A fresh uid, formatted like a UUID.
    pub fn uid(&self) -> String {
        let n = self.uids.fetch_add(1, Ordering::Relaxed);
        let a = self.seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let b = self.seed.rotate_left(17) ^ n;
        format!(
            "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            (b >> 48) & 0xfff,
            b & 0xffff_ffff_ffff
        )
    }

    /// A fresh cluster IP from 10.96.0.0/12.
    pub fn cluster_ip(&self) -> String {
        let n = self.ips.fetch_add(1, Ordering::Relaxed) + 10;
        format!("10.96.{}.{}", (n >> 8) & 0xff, n & 0xff)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uids_and_ips_are_unique() {
        let a = Allocator::new();
        let (u1, u2) = (a.uid(), a.uid());
        assert_ne!(u1, u2);
        assert_eq!(u1.len(), 36);
        assert_eq!(u1.as_bytes()[14], b'4', "a version-4 shape: {u1}");
        assert_ne!(a.cluster_ip(), a.cluster_ip());
        assert_ne!(Allocator::new().uid(), u1, "instances differ");
    }
}
