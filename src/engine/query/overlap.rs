//! Overlap of up to 64 segments: each row gets a membership mask, rows are counted by mask, and
//! every figure (pairwise intersections, exclusive counts, none, the largest combinations) is
//! derived from the few resulting groups.
//!
//! The masks come from each segment's member bitmap (engine/cache/mod.rs, engine/cache/bitmap.rs): one
//! pushed-down scan per segment, the first time, and none for a segment already seen, so editing
//! one segment of a working set costs about one size query. An entity without row ids (a view)
//! gets the masks from one SQL scan instead (`CASE WHEN f THEN bit` per segment, GROUP BY mask).

use serde::Serialize;

use crate::engine::cache::bitmap;
use crate::engine::{Compiled, Engine, EngineError, Result, SqlBuilder};

pub const MAX_SEGMENTS: usize = 64;

/// One segment of an overlap, in priority order (first = highest priority).
pub struct OverlapInput<'a> {
    pub name: String,
    pub filter: &'a Compiled,
    /// A suppression removes its members from every segment instead of being a segment itself.
    pub suppression: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OverlapSegment {
    pub name: String,
    pub suppression: bool,
    pub size: u64,
    /// Customers assigned to this segment when each goes to their highest-priority segment and
    /// suppressed customers go nowhere (0 for suppressions).
    pub exclusive: u64,
    /// Members that some suppression removes (for suppressions: members in any segment).
    pub suppressed: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OverlapPair {
    pub a: String,
    pub b: String,
    pub intersection: u64,
    pub jaccard: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Combination {
    /// Names of the segments (and suppressions) this group of customers is in, and only those.
    pub members: Vec<String>,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Overlap {
    pub base: u64,
    pub segments: Vec<OverlapSegment>,
    pub pairs: Vec<OverlapPair>,
    /// Customers in none of the (non-suppression) segments.
    pub none: u64,
    /// The largest exact membership combinations, largest first (UpSet-style).
    pub combinations: Vec<Combination>,
}

impl Overlap {
    pub fn pair(&self, a: usize, b: usize) -> Option<&OverlapPair> {
        let (na, nb) = (&self.segments.get(a)?.name, &self.segments.get(b)?.name);
        self.pairs.iter().find(|p| (&p.a == na && &p.b == nb) || (&p.a == nb && &p.b == na))
    }
}

impl Engine {
    pub fn overlap(&self, inputs: &[OverlapInput<'_>]) -> Result<Overlap> {
        if inputs.len() > MAX_SEGMENTS {
            return Err(EngineError::Param(format!(
                "overlap takes at most {MAX_SEGMENTS} segments, got {}",
                inputs.len()
            )));
        }
        self.member_cache.borrow_mut().begin_overlap();
        let overlap = self.overlap_bits(inputs);
        // On every path, errors and cancels included: what is cached later counts against the budget.
        self.member_cache.borrow_mut().end_overlap();
        overlap
    }

    fn overlap_bits(&self, inputs: &[OverlapInput<'_>]) -> Result<Overlap> {
        let mut bits = Vec::with_capacity(inputs.len());
        for input in inputs {
            match self.member_bits(input.filter)? {
                Some(b) => bits.push(b),
                None => return Ok(summarize(inputs, self.overlap_groups_sql(inputs)?, self.base_size())),
            }
        }
        let bits: Vec<&[u64]> = bits.iter().map(|b| b.as_slice()).collect();
        Ok(summarize(inputs, bitmap::groups(&bits, self.base_size()), self.base_size()))
    }

    /// The (mask, count) groups by one SQL scan.
    fn overlap_groups_sql(&self, inputs: &[OverlapInput<'_>]) -> Result<Vec<(u64, u64)>> {
        let mut q = SqlBuilder::new();
        q.push("SELECT m, count(*) FROM (SELECT ");
        if inputs.is_empty() {
            q.push("0::UBIGINT");
        }
        for (i, input) in inputs.iter().enumerate() {
            if i > 0 {
                q.push(" | ");
            }
            q.push("(CASE WHEN coalesce(");
            q.filter_cached(self, input.filter)?;
            q.push(&format!(", false) THEN {}::UBIGINT ELSE 0::UBIGINT END)", 1u64 << i));
        }
        q.push(&format!(" AS m FROM {}) GROUP BY m", self.table_sql()));
        q.run(self, |s| s.query_map([], |r| Ok((r.get::<_, u64>(0)?, r.get::<_, i64>(1)? as u64)))?.collect())
    }

    /// The SQL of the one-scan overlap (for benchmarks against DuckDB).
    pub fn overlap_sql(&self, filters: &[&Compiled]) -> String {
        let masks: Vec<String> = filters
            .iter()
            .enumerate()
            .map(|(i, f)| {
                format!("(CASE WHEN coalesce((\n{}\n), false) THEN {}::UBIGINT ELSE 0::UBIGINT END)", f.sql, 1u64 << i)
            })
            .collect();
        format!("SELECT m, count(*) FROM (SELECT {} AS m FROM {}) GROUP BY m", masks.join(" | "), self.table_sql())
    }
}

/// Derives every overlap figure from the (mask, count) groups.
pub fn summarize(inputs: &[OverlapInput<'_>], mut groups: Vec<(u64, u64)>, base: u64) -> Overlap {
    groups.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let n = inputs.len();
    let supp_mask: u64 = inputs.iter().enumerate().filter(|(_, s)| s.suppression).fold(0, |m, (i, _)| m | (1 << i));
    let seg_mask: u64 = if n == 64 { !supp_mask } else { ((1u64 << n) - 1) & !supp_mask };
    let mut size = vec![0u64; n];
    let mut exclusive = vec![0u64; n];
    let mut suppressed = vec![0u64; n];
    let mut inter = vec![vec![0u64; n]; n];
    let mut none = 0;
    for &(m, c) in &groups {
        if m & seg_mask == 0 {
            none += c;
        }
        let segs = m & seg_mask;
        if segs != 0 && m & supp_mask == 0 {
            exclusive[segs.trailing_zeros() as usize] += c;
        }
        for i in 0..n {
            if m >> i & 1 == 0 {
                continue;
            }
            size[i] += c;
            let other = if supp_mask >> i & 1 == 1 { seg_mask } else { supp_mask };
            if m & other != 0 {
                suppressed[i] += c;
            }
            for (j, cell) in inter[i].iter_mut().enumerate().skip(i + 1) {
                if m >> j & 1 == 1 {
                    *cell += c;
                }
            }
        }
    }
    let segments = inputs
        .iter()
        .enumerate()
        .map(|(i, s)| OverlapSegment {
            name: s.name.clone(),
            suppression: s.suppression,
            size: size[i],
            exclusive: exclusive[i],
            suppressed: suppressed[i],
        })
        .collect();
    let mut pairs = Vec::new();
    for i in 0..n {
        for j in i + 1..n {
            let union = size[i] + size[j] - inter[i][j];
            pairs.push(OverlapPair {
                a: inputs[i].name.clone(),
                b: inputs[j].name.clone(),
                intersection: inter[i][j],
                jaccard: if union == 0 { 0.0 } else { inter[i][j] as f64 / union as f64 },
            });
        }
    }
    let combinations = groups
        .iter()
        .filter(|(m, _)| *m != 0)
        .take(20)
        .map(|&(m, c)| Combination {
            members: (0..n).filter(|i| m >> i & 1 == 1).map(|i| inputs[i].name.clone()).collect(),
            count: c,
        })
        .collect();
    Overlap { base, segments, pairs, none, combinations }
}
