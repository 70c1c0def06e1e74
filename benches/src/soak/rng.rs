//! A small seeded random number generator (SplitMix64), so a soak's choices
//! (what to commit, which fault, how long) follow from the seed it prints.
//! Timing still varies between runs; the sequence of choices does not.

/// SplitMix64: fast, good enough for picking test actions, not for secrets.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator starting at `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// An independent generator for worker `stream` (same seed, same
    /// stream: same sequence).
    pub fn fork(&self, stream: u64) -> Self {
        let mut r = Rng(self.0 ^ stream.wrapping_mul(0xA076_1D64_78BD_642F));
        r.next_u64();
        r
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `lo..=hi` (`lo` if `hi < lo`).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            return lo;
        }
        lo + self.next_u64() % (hi - lo + 1)
    }

    /// True with probability `percent` / 100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }

    /// One element of `items`, or `None` if it is empty.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        if items.is_empty() {
            return None;
        }
        let i = self.range(0, items.len() as u64 - 1) as usize;
        items.get(i)
    }

    /// Shuffles `items` in place (Fisher–Yates).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.range(0, i as u64) as usize;
            items.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_choices_and_ranges_hold() {
        let mut a = Rng::new(42).fork(1);
        let mut b = Rng::new(42).fork(1);
        let mut c = Rng::new(42).fork(2);
        let xs: Vec<u64> = (0..50).map(|_| a.range(3, 9)).collect();
        let ys: Vec<u64> = (0..50).map(|_| b.range(3, 9)).collect();
        let zs: Vec<u64> = (0..50).map(|_| c.range(3, 9)).collect();
        assert_eq!(xs, ys);
        assert_ne!(xs, zs, "another stream differs");
        assert!(xs.iter().all(|x| (3..=9).contains(x)));
        assert!((3..=9).all(|v| xs.contains(&v)), "every value comes up");
        let mut items = [1, 2, 3, 4, 5];
        a.shuffle(&mut items);
        items.sort_unstable();
        assert_eq!(items, [1, 2, 3, 4, 5]);
        assert_eq!(a.pick::<u8>(&[]), None);
    }
}
