//! A segment split by one or more dimensions (region × language): every combination's size, share
//! of the segment and profile metrics, from one GROUP BY scan. NULL is a value of its own (a
//! cell); cells under a share of the segment are flagged small.

use std::collections::BTreeMap;

use serde::Serialize;

use super::params::ParamValue;
use super::{Compiled, Engine, EngineError, Result, SqlBuilder, ident};

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
            Some(v) => format!("CAST({} AS VARCHAR) = {}", ident(d), ParamValue::String(v.clone()).to_sql()),
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
    pub size: u64,
    pub by: Vec<String>,
    pub min_share: f64,
    /// Largest first (ties by values).
    pub cells: Vec<SplitCell>,
}

impl Engine {
    /// `f` split by the columns `by` (at most 8): one GROUP BY over the segment's rows.
    pub fn split(&self, f: &Compiled, by: &[String], min_share: f64) -> Result<Split> {
        if by.is_empty() || by.len() > 8 {
            return Err(EngineError::Param(format!("split takes 1 to 8 columns, got {}", by.len())));
        }
        let cols: Vec<String> = by.iter().map(|c| self.column_named(c)).collect::<Result<_>>()?;
        let metrics = self.metrics().to_vec();
        let q = self.split_query(f, &cols, true)?;
        let (nd, nm) = (cols.len(), metrics.len());
        let rows: Vec<Grouped> = q.prepare(self, |s| {
            s.query_map([], |r| {
                let values = (0..nd).map(|i| r.get::<_, Option<String>>(i)).collect::<duckdb::Result<Vec<_>>>()?;
                let n: i64 = r.get(nd)?;
                let m = (0..nm).map(|i| r.get::<_, Option<f64>>(nd + 1 + i)).collect::<duckdb::Result<Vec<_>>>()?;
                Ok((values, n as u64, m))
            })?
            .collect()
        })?;
        let size: u64 = rows.iter().map(|r| r.1).sum();
        let mut cells: Vec<SplitCell> = rows
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
        cells.sort_by(|a, b| b.size.cmp(&a.size).then_with(|| a.values.cmp(&b.values)));
        Ok(Split { size, by: cols, min_share, cells })
    }

    /// One GROUP BY over the segment's rows (kept rollups joined): per cell of `cols`, its values,
    /// count and profile metrics.
    fn split_query<'a>(&self, f: &'a Compiled, cols: &[String], cached: bool) -> Result<SqlBuilder<'a>> {
        let t = self.table_sql();
        let mut select: Vec<String> = cols.iter().map(|c| format!("CAST({t}.{} AS VARCHAR)", ident(c))).collect();
        select.push("count(*)".into());
        select.extend(self.metrics().iter().map(|m| format!("CAST(({}) AS DOUBLE)", m.sql)));
        let (before, after) = self.profile_from()?;
        let mut q = SqlBuilder::new(self);
        q.push(&format!("SELECT {} FROM {before}", select.join(", ")));
        q.filter_as(self, f, cached)?;
        q.push(&format!("{after} GROUP BY {}", (1..=cols.len()).map(|i| i.to_string()).collect::<Vec<_>>().join(", ")));
        Ok(q)
    }

    /// The SQL `split` runs (values, count and profile metrics per cell), without the clause
    /// cache: for benchmarks against DuckDB, which need the kept rollups (`rollup_statements`).
    pub fn split_metrics_sql(&self, f: &Compiled, by: &[String]) -> Result<String> {
        let cols: Vec<String> = by.iter().map(|c| self.column_named(c)).collect::<Result<_>>()?;
        Ok(self.split_query(f, &cols, false)?.sql)
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
