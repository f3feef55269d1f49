//! What is in the database: tables, columns, types, null shares, distinct estimates, top values;
//! and which table holds one row per customer.

use crate::engine::conn::sandbox::ReadOnly as Connection;
use serde::Serialize;

use crate::engine::{Column, Engine, EngineError, Result, guarded, ident, plain_error};

/// Whether every value of DuckDB type `ty` (any case) fits an i64: the integer types read as
/// integers (keys stored as BIGINT, JSON numbers); wider ones (HUGEINT, UBIGINT) do not.
pub(crate) fn fits_i64(ty: &str) -> bool {
    const TYPES: [&str; 7] = ["TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER"];
    TYPES.iter().any(|t| t.eq_ignore_ascii_case(ty))
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ColumnStats {
    pub name: String,
    pub ty: String,
    pub null_share: f64,
    pub distinct: u64,
    /// Most common values with counts, for columns with few distinct values.
    pub top: Vec<(String, u64)>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TableInfo {
    pub name: String,
    pub rows: u64,
    pub is_entity: bool,
    /// Columns with type; stats (null share, distinct, top) only for the entity table.
    pub columns: Vec<ColumnStats>,
    /// Why the table could not be read (a view over a file that is gone or out of reach); its
    /// rows are then 0 and the other tables are still listed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unreadable: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Schema {
    pub tables: Vec<TableInfo>,
}

impl Schema {
    pub fn entity(&self) -> Option<&TableInfo> {
        self.tables.iter().find(|t| t.is_entity)
    }
}

/// Columns with at most this many distinct values get their top values listed.
const TOP_DISTINCT: u64 = 60;
const TOP_N: usize = 8;

pub(crate) fn tables(conn: &Connection) -> duckdb::Result<Vec<String>> {
    let mut s = conn.prepare(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() AND schema_name = 'main' AND NOT temporary
         UNION SELECT view_name FROM duckdb_views() WHERE database_name = current_database() AND schema_name = 'main' AND NOT internal AND NOT temporary
         ORDER BY 1",
    )?;
    s.query_map([], |r| r.get(0))?.collect()
}

pub(crate) fn columns(conn: &Connection, table: &str) -> Result<Vec<Column>> {
    // DESCRIBE binds this one table. information_schema.columns lists every column of every
    // catalog, binding DuckDB's built-in views on its first use: ~50 ms of every headless command.
    let mut s = conn.prepare(&format!("SELECT column_name, column_type FROM (DESCRIBE {})", ident(table)))?;
    let cols =
        s.query_map([], |r| Ok(Column { name: r.get(0)?, ty: r.get(1)? }))?.collect::<duckdb::Result<Vec<_>>>()?;
    Ok(cols)
}

impl Engine {
    /// Tables and columns; the entity table with null shares, distinct estimates and top values.
    /// Computed once per engine.
    pub fn schema(&self) -> Result<Schema> {
        if let Some(s) = &self.memo.borrow().schema {
            return Ok(s.clone());
        }
        let conn = self.conn();
        let mut out = Vec::new();
        for t in guarded(&self.cancel, Some(&self.began), || tables(conn).map_err(plain_error))? {
            let is_entity = t == self.table();
            // A view over an external file that is gone (or that DuckDB may not read) fails when
            // counted: list it with the reason and go on, rather than fail the whole schema.
            let counted = if is_entity {
                Ok(self.base_size())
            } else {
                let sql = format!("SELECT count(*) FROM {}", ident(&t));
                self.run(&sql, plain_error, |s| s.query_row([], |r| r.get::<_, i64>(0))).map(|n| n as u64)
            };
            let (rows, unreadable) = match counted {
                Ok(n) => (n, None),
                Err(EngineError::Cancelled) => return Err(EngineError::Cancelled),
                Err(e) => (0, Some(e.to_string())),
            };
            let mut cols: Vec<ColumnStats> = match guarded(&self.cancel, Some(&self.began), || columns(conn, &t)) {
                Ok(cols) => cols,
                Err(EngineError::Cancelled) => return Err(EngineError::Cancelled),
                Err(_) if unreadable.is_some() => Vec::new(),
                Err(e) => return Err(e),
            }
            .into_iter()
            .map(|c| ColumnStats { name: c.name, ty: c.ty, null_share: 0.0, distinct: 0, top: Vec::new() })
            .collect();
            if is_entity && !cols.is_empty() {
                self.column_stats(&t, rows, &mut cols)?;
            }
            out.push(TableInfo { name: t, rows, is_entity, columns: cols, unreadable });
        }
        let schema = Schema { tables: out };
        self.memo.borrow_mut().schema = Some(schema.clone());
        Ok(schema)
    }

    fn column_stats(&self, table: &str, rows: u64, cols: &mut [ColumnStats]) -> Result<()> {
        // One scan for every column's null count and distinct estimate.
        let exprs: Vec<String> =
            cols.iter().map(|c| format!("count({0}), approx_count_distinct({0})", ident(&c.name))).collect();
        let sql = format!("SELECT {} FROM {}", exprs.join(", "), ident(table));
        let n = cols.len();
        let stats: Vec<(i64, i64)> = self.run(&sql, plain_error, |s| {
            s.query_row([], |r| (0..n).map(|i| Ok((r.get(2 * i)?, r.get(2 * i + 1)?))).collect())
        })?;
        for (c, (non_null, distinct)) in cols.iter_mut().zip(stats) {
            c.null_share = if rows == 0 { 0.0 } else { (rows as i64 - non_null) as f64 / rows as f64 };
            c.distinct = distinct as u64;
        }
        // Top values for the low-cardinality columns, all in one statement.
        let small: Vec<usize> = (0..n).filter(|&i| cols[i].distinct <= TOP_DISTINCT).collect();
        if small.is_empty() {
            return Ok(());
        }
        let parts: Vec<String> = small
            .iter()
            .map(|&i| {
                format!(
                    "(SELECT {i} AS col, CAST({c} AS VARCHAR) AS v, count(*) AS n FROM {t} WHERE {c} IS NOT NULL GROUP BY 2 ORDER BY n DESC, v LIMIT {TOP_N})",
                    c = ident(&cols[i].name),
                    t = ident(table)
                )
            })
            .collect();
        let sql = format!("SELECT col, v, n FROM ({}) ORDER BY col, n DESC, v", parts.join(" UNION ALL "));
        let rows: Vec<(i64, String, i64)> =
            self.run(&sql, plain_error, |s| s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?.collect())?;
        for (i, v, n) in rows {
            cols[i as usize].top.push((v, n as u64));
        }
        Ok(())
    }

    /// Columns worth a breakdown, best first: categorical columns (text, boolean, enum) with 2 to
    /// 50 values and under half NULL, then the other low-cardinality non-numeric columns, then
    /// numeric columns (broken down into round-number bins). Never the key. Uses the schema stats.
    pub fn dimensions(&self) -> Result<Vec<String>> {
        let schema = self.schema()?;
        let Some(t) = schema.entity() else { return Ok(Vec::new()) };
        let temporal = |ty: &str| {
            let t = ty.to_ascii_uppercase();
            t.contains("DATE") || t.contains("TIME")
        };
        let cols = t.columns.iter().filter(|c| c.name != self.key() && c.distinct >= 2);
        let mut categorical: Vec<&ColumnStats> = Vec::new();
        let mut other: Vec<&ColumnStats> = Vec::new();
        let mut numbers: Vec<&ColumnStats> = Vec::new();
        for c in cols {
            if is_numeric(&c.ty) {
                numbers.push(c);
            } else if temporal(&c.ty) {
                continue;
            } else if c.distinct <= CATEGORICAL_MAX && c.null_share < 0.5 {
                categorical.push(c);
            } else if c.distinct <= TOP_DISTINCT {
                other.push(c);
            }
        }
        Ok(categorical.into_iter().chain(other).chain(numbers).map(|c| c.name.clone()).collect())
    }
}

/// Whether a DuckDB type name is a number (an INTERVAL is not, though it contains "INT").
pub(crate) fn is_numeric(ty: &str) -> bool {
    let t = ty.to_ascii_uppercase();
    ["INT", "DECIMAL", "DOUBLE", "FLOAT", "REAL", "NUMERIC"].iter().any(|n| t.contains(n)) && !t.contains("INTERVAL")
}

/// A categorical column has at most this many values (the 2-50).
const CATEGORICAL_MAX: u64 = 50;
