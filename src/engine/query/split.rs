//! A segment split by one or more dimensions (region × language): every combination's size, share
//! of the segment and profile metrics, from one GROUP BY scan. NULL is a value of its own (a
//! cell); cells under a share of the segment are flagged small.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::engine::{Compiled, Engine, EngineError, Result, SqlBuilder, ident, literal};

/// The most cells `seglens split` lists unless told otherwise (`--max-cells`).
pub const MAX_CELLS: usize = 10_000;

/// One group of a split's query: values, count, metrics.
type Grouped = (Vec<Option<String>>, u64, Vec<Option<f64>>);

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SplitCell {
    /// Each dimension's value as text (None: NULL).
    pub values: BTreeMap<String, Option<String>>,
    pub size: u64,
    pub share_of_segment: f64,
    /// Under the small share of the segment.
    pub small: bool,
    /// Profile metrics by name (None: NULL, e.g. no rows to average).
    pub metrics: BTreeMap<String, Option<f64>>,
}

impl SplitCell {
    /// The cell as a filter to AND with its parent's (for a child template or an export of cells).
    pub fn filter(&self, by: &[String]) -> String {
        cell_filter(by, &self.values_in(by))
    }

    /// The cell's values in the order of `by`.
    pub fn values_in(&self, by: &[String]) -> Vec<Option<String>> {
        by.iter().map(|d| self.values.get(d).cloned().flatten()).collect()
    }

    /// How the cell reads on screen and in a `cell` column: `North × hi`.
    pub fn label(&self, by: &[String]) -> String {
        cell_label(&self.values_in(by))
    }
}

/// `"region" = 'North' AND "language" IS NULL`: values as escaped literals compared as text, as
/// the split grouped them.
pub fn cell_filter(by: &[String], values: &[Option<String>]) -> String {
    by.iter()
        .zip(values)
        .map(|(d, v)| match v {
            Some(v) => format!("CAST({} AS VARCHAR) = {}", ident(d), literal(v)),
            None => format!("{} IS NULL", ident(d)),
        })
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// `North × hi` (NULL as `(null)`).
pub fn cell_label(values: &[Option<String>]) -> String {
    values.iter().map(|v| v.as_deref().unwrap_or("(null)")).collect::<Vec<_>>().join(" × ")
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Split {
    /// The segment's size (every cell's, listed or not).
    pub size: u64,
    pub by: Vec<String>,
    pub min_share: f64,
    /// Largest first (ties by values in the order of `by`, NULL first); at most the number
    /// asked for (`split_top`).
    pub cells: Vec<SplitCell>,
    /// Cells beyond those listed (smaller, or as large and later by values), and their customers.
    pub more_cells: u64,
    pub more_size: u64,
}

impl Engine {
    /// `f` split by the columns `by` (at most 8): one GROUP BY over the segment's rows, every cell.
    pub fn split(&self, f: &Compiled, by: &[String], min_share: f64) -> Result<Split> {
        self.split_top(f, by, min_share, None)
    }

    /// Like `split`, listing only the `max` largest cells (None: all): DuckDB counts every cell
    /// and hands over the largest, so a split by a near-unique column holds `max` cells here,
    /// not one a customer.
    pub fn split_top(&self, f: &Compiled, by: &[String], min_share: f64, max: Option<usize>) -> Result<Split> {
        if by.is_empty() || by.len() > 8 {
            return Err(EngineError::Param(format!("split takes 1 to 8 columns, got {}", by.len())));
        }
        let cols: Vec<String> = by.iter().map(|c| self.column_named(c)).collect::<Result<_>>()?;
        let metrics = self.metrics().to_vec();
        let (nd, nm) = (cols.len(), metrics.len());
        let mut q = SqlBuilder::new();
        q.push("WITH g AS (");
        self.split_query(&mut q, f, &cols, true)?;
        q.push(")");
        // Every cell's count and customers ride along on each row listed (window totals).
        let order: Vec<String> = (0..nd).map(|i| format!("d{i} NULLS FIRST")).collect();
        q.push(&format!(
            " SELECT *, count(*) OVER (), CAST(sum(n) OVER () AS BIGINT) FROM g ORDER BY n DESC, {}{}",
            order.join(", "),
            max.map_or(String::new(), |m| format!(" LIMIT {m}"))
        ));
        let mut totals = (0u64, 0u64);
        let rows: Vec<Grouped> = q.run(self, |s| {
            s.query_map([], |r| {
                let values = (0..nd).map(|i| r.get::<_, Option<String>>(i)).collect::<duckdb::Result<Vec<_>>>()?;
                let n: i64 = r.get(nd)?;
                let m = (0..nm).map(|i| r.get::<_, Option<f64>>(nd + 1 + i)).collect::<duckdb::Result<Vec<_>>>()?;
                let (cells, size): (i64, i64) = (r.get(nd + 1 + nm)?, r.get(nd + 2 + nm)?);
                Ok(((values, n as u64, m), (cells as u64, size as u64)))
            })?
            .map(|row| {
                row.map(|(g, t)| {
                    totals = t;
                    g
                })
            })
            .collect()
        })?;
        let (all_cells, size) = totals;
        let listed: u64 = rows.iter().map(|r| r.1).sum();
        // In DuckDB's order: largest first, ties by values in the order of `by`, NULL first.
        let cells: Vec<SplitCell> = rows
            .into_iter()
            .map(|(values, n, m)| {
                let share = if size == 0 { 0.0 } else { n as f64 / size as f64 };
                SplitCell {
                    values: cols.iter().cloned().zip(values).collect(),
                    size: n,
                    share_of_segment: share,
                    small: share < min_share,
                    metrics: metrics.iter().map(|d| d.name.clone()).zip(m).collect(),
                }
            })
            .collect();
        let more_cells = all_cells.saturating_sub(cells.len() as u64);
        Ok(Split { size, by: cols, min_share, cells, more_cells, more_size: size.saturating_sub(listed) })
    }

    /// One GROUP BY over the segment's rows (kept rollups joined): per cell of `cols`, its values,
    /// count and profile metrics.
    fn split_query<'a>(&self, q: &mut SqlBuilder<'a>, f: &'a Compiled, cols: &[String], cached: bool) -> Result<()> {
        let t = self.table_sql();
        let mut select: Vec<String> =
            cols.iter().enumerate().map(|(i, c)| format!("CAST({t}.{} AS VARCHAR) AS d{i}", ident(c))).collect();
        select.push("count(*) AS n".into());
        select.extend(self.metrics().iter().enumerate().map(|(i, m)| format!("CAST(({}) AS DOUBLE) AS m{i}", m.sql)));
        let (before, after) = self.profile_from()?;
        q.push(&format!("SELECT {} FROM {before}", select.join(", ")));
        q.filter_as(self, f, cached)?;
        q.push(&format!("{after} GROUP BY {}", (1..=cols.len()).map(|i| i.to_string()).collect::<Vec<_>>().join(", ")));
        Ok(())
    }

    /// The SQL `split` runs (values, count and profile metrics per cell), without the clause
    /// cache: for benchmarks against DuckDB, which need the kept rollups (`rollup_statements`).
    pub fn split_metrics_sql(&self, f: &Compiled, by: &[String]) -> Result<String> {
        let cols: Vec<String> = by.iter().map(|c| self.column_named(c)).collect::<Result<_>>()?;
        let mut q = SqlBuilder::new();
        self.split_query(&mut q, f, &cols, false)?;
        Ok(q.sql)
    }

    /// The plain SQL of a split's counts, for tests and benchmarks against DuckDB.
    pub fn split_sql(&self, f: &Compiled, by: &[String]) -> String {
        let dims: Vec<String> = by.iter().map(|c| format!("CAST({} AS VARCHAR)", ident(c))).collect();
        format!(
            "SELECT {d}, count(*) FROM {} WHERE (\n{}\n) GROUP BY {d}",
            self.table_sql(),
            f.sql,
            d = dims.join(", ")
        )
    }
}
