//! Movement to now by bitmaps: the segments' member bitmaps (those the overlap uses, cached) and
//! one scan of (rowid, key), each key looked up among the stored ones; inside DuckDB's parallel
//! scan for integer keys (engine/cache/udf.rs's per-chunk function), streamed to Rust for text.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use duckdb::arrow::array::{Array, AsArray};
use duckdb::arrow::datatypes::Int64Type;

use super::Flows;
use crate::engine::keys::{Keys, exclusive, find};
use crate::engine::query::members::TextColumn;
use crate::engine::{Compiled, Engine, EngineError, Result, cache, plain_error};

impl Engine {
    /// Movement to now from the segments' member bitmaps (those the overlap uses, cached) and one
    /// scan of (rowid, key): each row's place now is the first bitmap holding its row id, its
    /// place then the first stored list holding its key (`Stored`: by index for dense integer
    /// keys, else in the exclusive union of the lists). No temporary table, no join. With integer
    /// keys the lookups run inside DuckDB's parallel scan (a scalar function handed each chunk),
    /// else the pairs stream to Rust. None when the entity has no row ids (a view): the SQL way
    /// then.
    pub(super) fn movement_by_bits(
        &self,
        from: &[(String, &Keys)],
        filters: &[(String, &Compiled)],
        text: bool,
    ) -> Result<Option<Flows>> {
        let mut bits = Vec::with_capacity(filters.len());
        for (_, f) in filters {
            match self.member_bits(f)? {
                Some(b) => bits.push(b),
                None => return Ok(None),
            }
        }
        // Text keys compare as text on both sides (integer lists sorted again as text).
        let texts: Vec<Keys> =
            if text { from.iter().map(|(_, k)| Keys::Text(k.to_text())).collect() } else { Vec::new() };
        let lists: Vec<&Keys> = if text { texts.iter().collect() } else { from.iter().map(|(_, k)| *k).collect() };
        let stored = Stored::dense(&lists).unwrap_or_else(|| {
            let (keys, segs) = exclusive(&lists);
            Stored::Sorted { keys, segs }
        });
        let places = Places::new(stored, bits, from.len());
        let scanned = if text { false } else { self.places_in_scan(&places)? };
        if !scanned {
            let sql = format!("SELECT rowid, {} FROM {}", self.key_select(text), self.table_sql());
            self.run(&sql, plain_error, |stmt| {
                for batch in stmt.stream_arrow([])? {
                    let batch = batch?;
                    let rowids = batch.column(0).as_primitive::<Int64Type>();
                    let key_col = batch.column(1);
                    let key_text = TextColumn::of(key_col.as_ref());
                    let mut chunk = places.chunk();
                    for i in 0..batch.num_rows() {
                        let at = match (&places.stored, key_col.is_null(i)) {
                            (_, true) => None,
                            (Stored::Sorted { keys: Keys::Text(k), .. }, false) => {
                                let text = key_text.as_ref().and_then(|t| t.get(i)).unwrap_or_default();
                                find(k, text, &mut chunk.hint).and_then(|j| places.stored.held(j))
                            }
                            (_, false) => places.locate(key_col.as_primitive::<Int64Type>().value(i), &mut chunk.hint),
                        };
                        chunk.add(&places, rowids.value(i) as usize, at);
                    }
                    chunk.flush(&places);
                }
                Ok(())
            })?;
        }
        Ok(Some(places.flows()))
    }

    /// Counts `places` inside DuckDB's scan of (rowid, key); false when the scan function is not
    /// available.
    fn places_in_scan(&self, places: &Arc<Places>) -> Result<bool> {
        let Some(eacher) = self.member_cache.borrow_mut().eacher(self.conn()) else { return Ok(false) };
        let p = places.clone();
        let work: cache::EachChunk = Arc::new(move |rows, keys, valid| {
            let mut chunk = p.chunk();
            for ((&r, &k), &ok) in rows.iter().zip(keys).zip(valid) {
                let at = if ok { p.locate(k, &mut chunk.hint) } else { None };
                chunk.add(&p, r as usize, at);
            }
            chunk.flush(&p);
        });
        let sql = eacher.select(&self.key_select(false), &self.table_sql());
        let agrees =
            eacher.run(work, || self.run(&sql, plain_error, |s| s.query_row([], |r| Ok((r.get(0)?, r.get(1)?)))))?;
        if !agrees {
            return Err(EngineError::Config("the movement's scan did not see every row; run it again".into()));
        }
        Ok(true)
    }
}

/// The stored side of a movement as the scan looks keys up in it.
enum Stored {
    /// Integer keys spanning a range at most a few times their number (ids from a sequence, as
    /// CRM keys mostly are): each key's segment by its offset from `min`, found without a search
    /// and built without a merge. `NO_SEGMENT` where no list holds the key.
    Dense { min: i64, seg: Vec<u16> },
    /// Otherwise the exclusive union of the lists, sorted, with each key's segment.
    Sorted { keys: Keys, segs: Vec<i32> },
}

const NO_SEGMENT: u16 = u16::MAX;

impl Stored {
    /// The dense form of integer `lists` (priority order), when their keys are dense enough.
    fn dense(lists: &[&Keys]) -> Option<Stored> {
        let ints: Vec<&[i64]> = lists
            .iter()
            .map(|k| if let Keys::Int(v) = k { Some(v.as_slice()) } else { None })
            .collect::<Option<_>>()?;
        let total: usize = ints.iter().map(|l| l.len()).sum();
        let min = *ints.iter().filter_map(|l| l.first()).min()?;
        let max = *ints.iter().filter_map(|l| l.last()).max()?;
        let range = usize::try_from(max.checked_sub(min)?.checked_add(1)?).ok()?;
        if range > total.saturating_mul(4).max(1 << 16) || range > 1 << 28 || lists.len() >= usize::from(NO_SEGMENT) {
            return None;
        }
        let mut seg = vec![NO_SEGMENT; range];
        // The last list first, so that the first list holding a key has the last word.
        for (s, list) in ints.iter().enumerate().rev() {
            for &k in *list {
                seg[(k - min) as usize] = s as u16;
            }
        }
        Some(Stored::Dense { min, seg })
    }

    /// Positions a seen-bit can take.
    fn len(&self) -> usize {
        match self {
            Stored::Dense { seg, .. } => seg.len(),
            Stored::Sorted { keys, .. } => keys.len(),
        }
    }

    /// Position `i` and its segment, if a list holds the key there.
    fn held(&self, i: usize) -> Option<(usize, usize)> {
        let seg = match self {
            Stored::Dense { seg, .. } => seg.get(i).filter(|&&s| s != NO_SEGMENT).map(|&s| usize::from(s)),
            Stored::Sorted { segs, .. } => segs.get(i).map(|&s| s as usize),
        };
        seg.map(|s| (i, s))
    }
}

/// A movement to now being counted: the stored keys, the member bitmaps now, and the counts and
/// seen keys, filled from several of DuckDB's threads at once.
struct Places {
    stored: Stored,
    bits: Vec<cache::Bits>,
    /// `counts[from * (nt + 1) + to]`; index nf / nt is "in none".
    counts: Vec<AtomicU64>,
    /// Which stored keys a row still has, by position.
    seen: Vec<AtomicU64>,
    nf: usize,
}

/// One chunk's counts, added to the shared ones once (threads meet once per chunk, not per row).
struct Chunk {
    counts: Vec<u64>,
    seen: Vec<(usize, u64)>,
    /// Where the last key was found: keys mostly ascend within a chunk.
    hint: usize,
}

impl Places {
    fn new(stored: Stored, bits: Vec<cache::Bits>, nf: usize) -> Arc<Places> {
        let cells = (nf + 1) * (bits.len() + 1);
        let words = stored.len().div_ceil(64);
        Arc::new(Places {
            stored,
            bits,
            counts: (0..cells).map(|_| AtomicU64::new(0)).collect(),
            seen: (0..words).map(|_| AtomicU64::new(0)).collect(),
            nf,
        })
    }

    fn chunk(&self) -> Chunk {
        Chunk { counts: vec![0; self.counts.len()], seen: Vec::new(), hint: 0 }
    }

    /// The position of integer key `k` among the stored keys and its segment, if a list holds it.
    fn locate(&self, k: i64, hint: &mut usize) -> Option<(usize, usize)> {
        match &self.stored {
            Stored::Dense { min, .. } => self.stored.held(usize::try_from(k.checked_sub(*min)?).ok()?),
            Stored::Sorted { keys: Keys::Int(keys), .. } => find(keys, &k, hint).and_then(|j| self.stored.held(j)),
            Stored::Sorted { .. } => None,
        }
    }

    /// The flows: every row counted, then each stored key no row has any more (a deleted
    /// customer) moved from its segment to none.
    fn flows(&self) -> Flows {
        let nt = self.bits.len();
        let mut counts: Vec<i64> = self.counts.iter().map(|c| c.load(Ordering::Relaxed) as i64).collect();
        for i in 0..self.stored.len() {
            if self.seen[i / 64].load(Ordering::Relaxed) >> (i % 64) & 1 == 0
                && let Some((_, seg)) = self.stored.held(i)
            {
                counts[seg * (nt + 1) + nt] += 1;
            }
        }
        let index = |i: usize, n: usize| (i < n).then_some(i as i32);
        (0..=self.nf)
            .flat_map(|f| (0..=nt).map(move |t| (f, t)))
            .map(|(f, t)| (index(f, self.nf), index(t, nt), counts[f * (nt + 1) + t]))
            .collect()
    }
}

impl Chunk {
    /// Row `r`, whose key is at stored position `at` with its segment (None: not stored, or NULL).
    fn add(&mut self, p: &Places, r: usize, at: Option<(usize, usize)>) {
        let nt = p.bits.len();
        let (w, b) = (r / 64, r % 64);
        let to = p.bits.iter().position(|x| x.get(w).is_some_and(|v| v >> b & 1 == 1)).unwrap_or(nt);
        let from = match at {
            Some((j, seg)) => {
                match self.seen.last_mut() {
                    Some((word, bits)) if *word == j / 64 => *bits |= 1 << (j % 64),
                    _ => self.seen.push((j / 64, 1 << (j % 64))),
                }
                seg
            }
            None => p.nf,
        };
        self.counts[from * (nt + 1) + to] += 1;
    }

    fn flush(self, p: &Places) {
        for (c, n) in p.counts.iter().zip(self.counts) {
            if n > 0 {
                c.fetch_add(n, Ordering::Relaxed);
            }
        }
        for (word, bits) in self.seen {
            if let Some(w) = p.seen.get(word) {
                w.fetch_or(bits, Ordering::Relaxed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dense_stored_keys_agree_with_the_exclusive_union_and_sparse_ones_stay_sorted() {
        let a = Keys::from_ints(vec![3, 5, 9, 10]);
        let b = Keys::from_ints(vec![1, 5, 10, 12]);
        let c = Keys::from_ints(vec![2, 12]);
        let Some(Stored::Dense { min, seg }) = Stored::dense(&[&a, &b, &c]) else { panic!("dense keys") };
        let (keys, segs) = exclusive(&[&a, &b, &c]);
        let Keys::Int(keys) = keys else { panic!("integer keys") };
        for (k, s) in keys.iter().zip(&segs) {
            assert_eq!(seg[(k - min) as usize], *s as u16, "key {k}");
        }
        let held = seg.iter().filter(|&&s| s != NO_SEGMENT).count();
        assert_eq!(held, keys.len(), "no other key has a segment");
        let sparse = Keys::from_ints(vec![1, 1 << 40]);
        assert!(Stored::dense(&[&sparse]).is_none(), "a range far wider than the keys stays sorted");
        assert!(Stored::dense(&[&Keys::from_texts(vec!["a".into()])]).is_none());
    }
}
