//! Overlap figures from the cache's member bitmaps: every row's membership mask, counted
//! by mask. For each 64-row word, eight segments' words form an 8x64 bit matrix, transposed by
//! block swaps (bytes, then bits within 8x8 blocks) into one mask byte per row: a few operations
//! a row, with no table and no per-bit loop.

use std::collections::HashMap;

/// Counts of the rows in at least one bitmap, by membership mask (bit i = bitmap i).
enum Counts {
    /// Up to 16 bitmaps: one counter per possible mask.
    Dense(Vec<u64>),
    Sparse(HashMap<u64, u64>),
}

impl Counts {
    fn new(n: usize) -> Counts {
        if n <= 16 { Counts::Dense(vec![0; 1 << n]) } else { Counts::Sparse(HashMap::new()) }
    }

    fn add(&mut self, mask: u64) {
        match self {
            Counts::Dense(v) => v[mask as usize] += 1,
            Counts::Sparse(m) => *m.entry(mask).or_default() += 1,
        }
    }

    fn merge(&mut self, other: Counts) {
        for (mask, c) in other.into_groups() {
            match self {
                Counts::Dense(v) => v[mask as usize] += c,
                Counts::Sparse(m) => *m.entry(mask).or_default() += c,
            }
        }
    }

    fn into_groups(self) -> Vec<(u64, u64)> {
        match self {
            Counts::Dense(v) => v.into_iter().enumerate().filter(|&(_, c)| c > 0).map(|(m, c)| (m as u64, c)).collect(),
            Counts::Sparse(m) => m.into_iter().collect(),
        }
    }
}

/// (mask, rows) for every non-empty membership combination of `bits` (all of one length, at
/// most 64), including mask 0: the `base` rows of the table that are in none. Splits the words
/// between the machine's cores.
pub fn groups(bits: &[&[u64]], base: u64) -> Vec<(u64, u64)> {
    assert!(bits.len() <= 64, "at most 64 bitmaps");
    let words = bits.first().map_or(0, |b| b.len());
    let parts = std::thread::available_parallelism().map_or(1, |n| n.get()).min(words / 4096 + 1);
    let step = words.div_ceil(parts.max(1)).max(1);
    let counts = std::thread::scope(|s| {
        let handles: Vec<_> =
            (0..words).step_by(step).map(|from| s.spawn(move || count(bits, from..(from + step).min(words)))).collect();
        let mut total = Counts::new(bits.len());
        for h in handles {
            total.merge(h.join().expect("counting thread panicked"));
        }
        total
    });
    let mut groups = counts.into_groups();
    let in_some: u64 = groups.iter().map(|g| g.1).sum();
    if base > in_some {
        groups.push((0, base - in_some));
    }
    groups
}

/// Counts the masks of the rows in `words` that are in at least one bitmap.
fn count(bits: &[&[u64]], words: std::ops::Range<usize>) -> Counts {
    let mut counts = Counts::new(bits.len());
    // blocks[g][k]: byte r = the mask bits of bitmaps 8g..8g+7 for row 8k + r of the word.
    let mut blocks = vec![[0u64; 8]; bits.len().div_ceil(8)];
    for w in words {
        let any = bits.iter().fold(0, |a, b| a | b[w]);
        if any == 0 {
            continue;
        }
        for (g, block) in blocks.iter_mut().enumerate() {
            *block = std::array::from_fn(|j| bits.get(8 * g + j).map_or(0, |b| b[w]));
            transpose_bytes(block);
            for x in block.iter_mut() {
                *x = transpose_bits(*x);
            }
        }
        for k in (0..8).filter(|k| any >> (8 * k) & 0xff != 0) {
            for r in 0..8 {
                let mask = blocks.iter().enumerate().fold(0, |m, (g, b)| m | (b[k] >> (8 * r) & 0xff) << (8 * g));
                if mask != 0 {
                    counts.add(mask);
                }
            }
        }
    }
    counts
}

/// Transposes the 8x8 byte matrix whose row j is `m[j]` (column k = byte k): swaps the off-diagonal
/// 4x4, then 2x2, then 1x1 blocks.
fn transpose_bytes(m: &mut [u64; 8]) {
    for (s, lo) in [(4, 0x0000_0000_FFFF_FFFFu64), (2, 0x0000_FFFF_0000_FFFF), (1, 0x00FF_00FF_00FF_00FF)] {
        for i in (0..8).filter(|i| i & s == 0) {
            let (a, b) = (m[i], m[i + s]);
            m[i] = (a & lo) | (b & lo) << (8 * s);
            m[i + s] = (a >> (8 * s) & lo) | (b & !lo);
        }
    }
}

/// Transposes the 8x8 bit matrix whose row j is byte j of `x` (Hacker's Delight, transpose8).
fn transpose_bits(mut x: u64) -> u64 {
    let t = (x ^ (x >> 7)) & 0x00AA_00AA_00AA_00AA;
    x ^= t ^ (t << 7);
    let t = (x ^ (x >> 14)) & 0x0000_CCCC_0000_CCCC;
    x ^= t ^ (t << 14);
    let t = (x ^ (x >> 28)) & 0x0000_0000_F0F0_F0F0;
    x ^ t ^ (t << 28)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The obvious way: each row's mask, one bit at a time.
    fn naive(bits: &[Vec<u64>], base: u64) -> Vec<(u64, u64)> {
        let mut m: HashMap<u64, u64> = HashMap::new();
        let words = bits.first().map_or(0, |b| b.len());
        let mut in_some = 0;
        for r in 0..words * 64 {
            let mask = bits.iter().enumerate().fold(0u64, |m, (i, b)| m | (b[r / 64] >> (r % 64) & 1) << i);
            if mask != 0 {
                *m.entry(mask).or_default() += 1;
                in_some += 1;
            }
        }
        if base > in_some {
            m.insert(0, base - in_some);
        }
        let mut v: Vec<_> = m.into_iter().collect();
        v.sort();
        v
    }

    fn sorted(mut v: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
        v.sort();
        v
    }

    proptest! {
        #[test]
        fn groups_match_the_row_by_row_count(
            (n, words) in (0usize..=64, 1usize..40),
            seed in any::<u64>(),
            density in 0u32..4,
        ) {
            // Random bitmaps of varied density (sparse ones leave whole bytes and words empty).
            let mut x = seed | 1;
            let mut next = || { x ^= x << 13; x ^= x >> 7; x ^= x << 17; x };
            let bits: Vec<Vec<u64>> = (0..n)
                .map(|_| (0..words).map(|_| (0..density).fold(next(), |w, _| w & next())).collect())
                .collect();
            let base = (words * 64) as u64 - seed % 7;
            let refs: Vec<&[u64]> = bits.iter().map(|b| b.as_slice()).collect();
            prop_assert_eq!(sorted(groups(&refs, base)), naive(&bits, base));
        }
    }

    #[test]
    fn large_bitmaps_split_between_threads_count_every_row() {
        let words = 20_000;
        for n in [3u64, 40] {
            let bits: Vec<Vec<u64>> = (0..n)
                .map(|i| (0..words as u64).map(|w| (w ^ i).wrapping_mul(0x9E37_79B9_7F4A_7C15 + 2 * i)).collect())
                .collect();
            let refs: Vec<&[u64]> = bits.iter().map(|b| b.as_slice()).collect();
            let g = groups(&refs, (words * 64) as u64);
            assert_eq!(g.iter().map(|g| g.1).sum::<u64>(), (words * 64) as u64);
            assert_eq!(sorted(g), naive(&bits, (words * 64) as u64), "{n} bitmaps");
        }
    }
}
