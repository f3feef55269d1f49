use std::collections::BTreeMap;

use serde::Serialize;

use super::{Compiled, Engine, EngineError, Result, SqlBuilder, ident};

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
    pub size: u64,
    pub rows: Vec<BreakdownRow>,
    /// Values beyond the top ones: how many distinct values and how many rows they hold.
    pub other_values: u64,
    pub other_count: u64,
}

/// Base counts are kept for up to this many distinct values per column.
const BASE_VALUES: usize = 1000;

impl Engine {
    /// Count and share of the segment per value of `column`, the `top` largest first.
    pub fn breakdown(&self, f: &Compiled, column: &str, top: usize) -> Result<Breakdown> {
        let col = self.column_named(column)?;
        let mut q = SqlBuilder::new(self);
        q.push(&format!(
            "SELECT v, c, sum(c) OVER () AS total, count(*) OVER () AS groups FROM (SELECT CAST({} AS VARCHAR) AS v, count(*) AS c FROM {} WHERE ",
            ident(&col),
            self.table_sql()
        ));
        q.filter_cached(self, f)?;
        q.push(&format!(" GROUP BY 1) ORDER BY c DESC, v NULLS LAST LIMIT {top}"));
        let rows: Vec<(Option<String>, i64, f64, i64)> = q.prepare(self, |s| {
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
            size,
            other_values: groups - out.len() as u64,
            other_count: size - shown,
            rows: out,
        })
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
            .conn()
            .prepare(&sql)
            .and_then(|mut s| s.query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))?.collect())
            .map_err(|e| SqlBuilder::new(self).map_error(e))?;
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
