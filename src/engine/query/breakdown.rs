//! A segment broken down by one column: its top values (or round-number bins for a numeric
//! column with many values) with counts, shares and lift against the base.

use std::collections::BTreeMap;

use serde::Serialize;

use super::schema::is_numeric;
use crate::engine::{Compiled, Engine, EngineError, Result, SqlBuilder, ident, plain_error};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BreakdownRow {
    /// The value as text; None for NULL.
    pub value: Option<String>,
    pub count: u64,
    /// Of the segment.
    pub share: f64,
    /// The value's share of the base, for lift; None when the base has too many values to keep.
    pub base_share: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Breakdown {
    pub column: String,
    /// For a numeric column with many values: the width of its round-number bins (rows are bins
    /// `lo–hi`, lowest first, each holding lo <= value < hi). None when rows are single values.
    pub bin_width: Option<f64>,
    pub size: u64,
    pub rows: Vec<BreakdownRow>,
    /// Values beyond the top ones: how many distinct values and how many rows they hold.
    pub other_values: u64,
    pub other_count: u64,
}

/// Base counts are kept for up to this many distinct values per column.
const BASE_VALUES: usize = 1000;

/// A numeric column spanning more than this many whole values is broken down into bins.
const MAX_VALUES_UNBINNED: f64 = 12.0;

/// The round-number width (1, 2, 2.5 or 5 times a power of ten) that cuts `lo..=hi` into at most
/// about ten bins; whole numbers for integer columns.
pub fn bin_width(lo: f64, hi: f64, integer: bool) -> f64 {
    // Each bound divided first: hi - lo of two large finite bounds can overflow to infinity.
    let raw = (hi / 10.0 - lo / 10.0).max(f64::MIN_POSITIVE);
    let magnitude = 10f64.powf(raw.log10().floor());
    let w = [1.0, 2.0, 2.5, 5.0, 10.0].iter().map(|m| m * magnitude).find(|w| *w >= raw).unwrap_or(10.0 * magnitude);
    if integer { w.ceil().max(1.0) } else { w }
}

fn bin_label(lo: f64, width: f64, integer: bool) -> String {
    // Infinities and NaN are bins of their own (`grouping`): `inf`, `-inf`, `NaN`.
    if !lo.is_finite() {
        return lo.to_string();
    }
    // As many decimals as the width needs: floor(x / 0.1) * 0.1 is 0.30000000000000004.
    let dp = if width >= 1.0 { 0 } else { (-width.log10().floor()) as usize + 1 };
    let n = |x: f64| {
        let s = format!("{x:.dp$}");
        if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s }
    };
    if integer && width == 1.0 {
        n(lo)
    } else if integer {
        format!("{}–{}", n(lo), n(lo + width - 1.0))
    } else {
        format!("{}–{}", n(lo), n(lo + width))
    }
}

impl Engine {
    /// How `column` is grouped: its values, or round-number bins for a numeric column with many
    /// values (width from its range over the base, computed once).
    fn grouping(&self, col: &str) -> Result<(String, Option<(f64, bool)>)> {
        let ty = self.columns().iter().find(|c| c.name == col).map(|c| c.ty.clone()).unwrap_or_default();
        let c = ident(col);
        if !is_numeric(&ty) {
            return Ok((format!("CAST({c} AS VARCHAR)"), None));
        }
        let integer = ty.to_ascii_uppercase().contains("INT");
        // A DOUBLE column may hold ±inf and NaN: each stays a group of its own, as its value
        // (no bin holds it, and `floor(inf / w)` is no bound).
        let floor = |w: f64| {
            let x = format!("CAST({c} AS DOUBLE)");
            let bin = format!("floor({x} / {w:?}) * {w:?}");
            if integer { bin } else { format!("CASE WHEN isfinite({x}) THEN {bin} ELSE {x} END") }
        };
        if let Some(bins) = self.memo.borrow().bins.get(col) {
            return Ok(match bins {
                Some((w, i)) => (floor(*w), Some((*w, *i))),
                None => (format!("CAST({c} AS VARCHAR)"), None),
            });
        }
        // The bins span the finite values: a width from an infinite bound would be infinite,
        // and `inf` written into SQL reads as a column name.
        let finite = format!("FILTER (WHERE isfinite(CAST({c} AS DOUBLE)))");
        let (lo, hi): (Option<f64>, Option<f64>) = self.run(
            &format!(
                "SELECT CAST(min({c}) {finite} AS DOUBLE), CAST(max({c}) {finite} AS DOUBLE) FROM {}",
                self.table_sql()
            ),
            plain_error,
            |s| s.query_row([], |r| Ok((r.get(0)?, r.get(1)?))),
        )?;
        let bins = match (lo, hi) {
            (Some(lo), Some(hi)) if hi - lo > MAX_VALUES_UNBINNED || (!integer && hi > lo) => {
                Some((bin_width(lo, hi, integer), integer)).filter(|(w, _)| w.is_finite() && *w > 0.0)
            }
            _ => None,
        };
        self.memo.borrow_mut().bins.insert(col.to_string(), bins);
        Ok(match bins {
            Some((w, _)) => (floor(w), bins),
            None => (format!("CAST({c} AS VARCHAR)"), None),
        })
    }

    /// Count and share of the segment per value of `column`, the `top` largest first; for a
    /// numeric column with many values, per round-number bin, lowest first.
    pub fn breakdown(&self, f: &Compiled, column: &str, top: usize) -> Result<Breakdown> {
        let col = self.column_named(column)?;
        let (expr, bins) = self.grouping(&col)?;
        if let Some((width, integer)) = bins {
            return self.binned_breakdown(f, &col, &expr, width, integer);
        }
        let q = self.breakdown_query(f, &expr, bins, top, true)?;
        let rows: Vec<(Option<String>, i64, f64, i64)> = q.run(self, |s| {
            s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get::<_, f64>(2)?, r.get(3)?)))?.collect()
        })?;
        let size = rows.first().map_or(0, |r| r.2 as u64);
        let groups = rows.first().map_or(0, |r| r.3 as u64);
        let base = self.base_counts(&col)?;
        let base_n = self.base_size() as f64;
        let out: Vec<BreakdownRow> = rows
            .iter()
            .map(|(v, c, _, _)| BreakdownRow {
                value: v.clone(),
                count: *c as u64,
                share: if size == 0 { 0.0 } else { *c as f64 / size as f64 },
                base_share: base.get(v).map(|b| *b as f64 / base_n),
            })
            .collect();
        let shown: u64 = out.iter().map(|r| r.count).sum();
        Ok(Breakdown {
            column: col,
            bin_width: None,
            size,
            other_values: groups - out.len() as u64,
            other_count: size - shown,
            rows: out,
        })
    }

    /// The statement of a breakdown by `expr` (`grouping`): the `top` values with the segment's
    /// size and number of values, or every bin lowest first when `bins`.
    fn breakdown_query<'a>(
        &self,
        f: &'a Compiled,
        expr: &str,
        bins: Option<(f64, bool)>,
        top: usize,
        cached: bool,
    ) -> Result<SqlBuilder<'a>> {
        let mut q = SqlBuilder::new();
        let t = self.table_sql();
        if bins.is_some() {
            q.push(&format!("SELECT {expr} AS b, count(*) AS c FROM {t} WHERE "));
            q.filter_as(self, f, cached)?;
            q.push(" GROUP BY 1 ORDER BY 1 NULLS LAST");
        } else {
            q.push(&format!(
                "SELECT v, c, sum(c) OVER () AS total, count(*) OVER () AS groups FROM (SELECT {expr} AS v, count(*) AS c FROM {t} WHERE "
            ));
            q.filter_as(self, f, cached)?;
            q.push(&format!(" GROUP BY 1) ORDER BY c DESC, v NULLS LAST LIMIT {top}"));
        }
        Ok(q)
    }

    /// The SQL `breakdown` runs for `f` without the clause cache: what the benchmarks hand to DuckDB.
    pub fn breakdown_sql(&self, f: &Compiled, column: &str, top: usize) -> Result<String> {
        let col = self.column_named(column)?;
        let (expr, bins) = self.grouping(&col)?;
        Ok(self.breakdown_query(f, &expr, bins, top, false)?.sql)
    }

    /// Every bin of the segment, lowest first (at most about ten, and NULL).
    fn binned_breakdown(&self, f: &Compiled, col: &str, expr: &str, width: f64, integer: bool) -> Result<Breakdown> {
        let q = self.breakdown_query(f, expr, Some((width, integer)), 0, true)?;
        let rows: Vec<(Option<f64>, i64)> =
            q.run(self, |s| s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect())?;
        let base = self.base_bins(col, expr)?;
        let size: u64 = rows.iter().map(|r| r.1 as u64).sum();
        let base_n = self.base_size() as f64;
        let label = |b: Option<f64>| b.map(|lo| bin_label(lo, width, integer));
        let out = rows
            .iter()
            .map(|(b, c)| BreakdownRow {
                value: label(*b),
                count: *c as u64,
                share: if size == 0 { 0.0 } else { *c as f64 / size as f64 },
                base_share: base.get(&label(*b)).map(|n| *n as f64 / base_n),
            })
            .collect();
        Ok(Breakdown {
            column: col.to_string(),
            bin_width: Some(width),
            size,
            rows: out,
            other_values: 0,
            other_count: 0,
        })
    }

    fn base_bins(&self, col: &str, expr: &str) -> Result<BTreeMap<Option<String>, u64>> {
        let memo_key = format!("{col}\u{0}bins");
        if let Some(m) = self.memo.borrow().base_breakdown.get(&memo_key) {
            return Ok(m.clone());
        }
        let sql = format!("SELECT CAST({expr} AS VARCHAR), count(*) FROM {} GROUP BY 1", self.table_sql());
        let raw: Vec<(Option<String>, i64)> =
            self.run(&sql, plain_error, |s| s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect())?;
        let (_, bins) = self.grouping(col)?;
        let (width, integer) = bins.unwrap_or((1.0, true));
        let map: BTreeMap<Option<String>, u64> = raw
            .into_iter()
            .map(|(v, n)| (v.and_then(|v| v.parse::<f64>().ok()).map(|lo| bin_label(lo, width, integer)), n as u64))
            .collect();
        self.memo.borrow_mut().base_breakdown.insert(memo_key, map.clone());
        Ok(map)
    }

    fn base_counts(&self, col: &str) -> Result<BTreeMap<Option<String>, u64>> {
        if let Some(m) = self.memo.borrow().base_breakdown.get(col) {
            return Ok(m.clone());
        }
        let sql = format!(
            "SELECT CAST({c} AS VARCHAR) AS v, count(*) AS n FROM {t} GROUP BY 1 ORDER BY n DESC LIMIT {BASE_VALUES}",
            c = ident(col),
            t = self.table_sql()
        );
        let map: BTreeMap<Option<String>, u64> = self
            .run(&sql, plain_error, |s| s.query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))?.collect())?;
        self.memo.borrow_mut().base_breakdown.insert(col.to_string(), map.clone());
        Ok(map)
    }

    /// The entity column called `name` (case-insensitively), or an error listing the columns.
    pub fn column_named(&self, name: &str) -> Result<String> {
        self.columns().iter().find(|c| c.name.eq_ignore_ascii_case(name)).map(|c| c.name.clone()).ok_or_else(|| {
            EngineError::Param(format!(
                "no column {name:?} in {}; columns: {}",
                self.table(),
                self.columns().iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ")
            ))
        })
    }
}
