//! How many customers a segment holds, against the entity table, and whether that is worth a
//! warning (empty, or under a small share of the base).

use serde::Serialize;

use crate::engine::{Compiled, Engine, Result, SqlBuilder};

/// A segment's size against the entity table.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Size {
    pub size: u64,
    pub base: u64,
    pub share: f64,
}

impl Size {
    pub fn new(size: u64, base: u64) -> Size {
        Size { size, base, share: if base == 0 { 0.0 } else { size as f64 / base as f64 } }
    }
}

/// Below this share of the base a segment is marked small, unless `--small-share` says otherwise.
pub const DEFAULT_SMALL_SHARE: f64 = 0.05;

/// A size worth a word: an empty segment is a warning everywhere; one under a small share of the
/// base is marked (the sources' rule of thumb: below about 5%, a custom workflow rarely pays).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SizeMark {
    Empty,
    Small,
}

impl SizeMark {
    /// The mark of `size` in `base` with `small_share` (0..1) as the small threshold; an empty
    /// base marks nothing.
    pub fn of(size: u64, base: u64, small_share: f64) -> Option<SizeMark> {
        if base == 0 {
            None
        } else if size == 0 {
            Some(SizeMark::Empty)
        } else if (size as f64) < small_share * base as f64 {
            Some(SizeMark::Small)
        } else {
            None
        }
    }
}

impl Engine {
    /// The exact number of entity rows matching `f` (the base count is known from opening).
    pub fn size(&self, f: &Compiled) -> Result<Size> {
        let mut q = SqlBuilder::new();
        q.push(&format!("SELECT count(*) FROM {} WHERE ", self.table_sql()));
        q.filter_cached(self, f)?;
        let n: i64 = q.run(self, |s| s.query_row([], |r| r.get(0)))?;
        Ok(Size::new(n as u64, self.base_size()))
    }

    /// The SQL `size` runs for `f` without the clause cache: what the benchmarks hand to DuckDB.
    pub fn size_sql(&self, f: &Compiled) -> String {
        format!("SELECT count(*) FROM {} WHERE (\n{}\n)", self.table_sql(), f.sql)
    }
}
