//! The rows of a segment: a sample as text or typed for `rows --json`, and every member streamed
//! for an export; plus the one reader of Arrow's string layouts.

use duckdb::arrow::array::{Array, AsArray};
use duckdb::arrow::datatypes::DataType;
use serde::Serialize;

use super::schema::fits_i64;
use crate::engine::{Compiled, Engine, EngineError, Result, SqlBuilder, ident};

/// Some rows of a segment, every value as text (None for NULL).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RowSet {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Option<String>>>,
}

/// One value with its JSON type: numbers as numbers (DECIMAL and HUGEINT as doubles), booleans,
/// NULL, and text (dates and timestamps as ISO 8601 strings).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Cell {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
}

/// Some rows of a segment, typed (`rows --json`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TypedRows {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
}

/// How a column of type `ty` is selected for typed output: kept as it is where the value maps
/// onto a JSON type, a double for wide or exact numbers, ISO 8601 text for times, text otherwise.
fn typed_select(name: &str, ty: &str) -> String {
    let c = ident(name);
    let t = ty.to_ascii_uppercase();
    if t == "BOOLEAN" || fits_i64(&t) || t == "DOUBLE" || t == "FLOAT" {
        c
    } else if t.starts_with("DECIMAL") || t == "HUGEINT" || t == "UBIGINT" || t == "UHUGEINT" {
        format!("CAST({c} AS DOUBLE)")
    } else if t.starts_with("TIMESTAMP") {
        format!("replace(CAST({c} AS VARCHAR), ' ', 'T')")
    } else {
        format!("CAST({c} AS VARCHAR)")
    }
}

fn cell(v: duckdb::types::Value) -> Cell {
    use duckdb::types::Value as V;
    match v {
        V::Null => Cell::Null,
        V::Boolean(b) => Cell::Bool(b),
        V::TinyInt(i) => Cell::Int(i.into()),
        V::SmallInt(i) => Cell::Int(i.into()),
        V::Int(i) => Cell::Int(i.into()),
        V::BigInt(i) => Cell::Int(i),
        V::UTinyInt(i) => Cell::Int(i.into()),
        V::USmallInt(i) => Cell::Int(i.into()),
        V::UInt(i) => Cell::Int(i.into()),
        // JSON has no NaN or infinity: those stay text.
        V::Float(f) if f.is_finite() => Cell::Float(f.into()),
        V::Double(f) if f.is_finite() => Cell::Float(f),
        V::Float(f) => Cell::Text(f.to_string()),
        V::Double(f) => Cell::Text(f.to_string()),
        V::Text(t) => Cell::Text(t),
        other => Cell::Text(format!("{other:?}")),
    }
}

impl Engine {
    /// `rows` with typed values, for JSON: the same members in the same order.
    pub fn typed_rows(&self, f: &Compiled, columns: &[String], limit: usize) -> Result<TypedRows> {
        let (cols, _) = self.select_list(columns)?;
        let list = cols
            .iter()
            .map(|c| {
                let ty = self.columns().iter().find(|x| &x.name == c).map_or("VARCHAR", |x| x.ty.as_str());
                typed_select(c, ty)
            })
            .collect::<Vec<_>>()
            .join(", ");
        let n = cols.len();
        let rows = self.first_members(f, &list, limit, true)?.run(self, |s| {
            s.query_map([], |r| {
                (0..n).map(|i| r.get::<_, duckdb::types::Value>(i).map(cell)).collect::<duckdb::Result<Vec<_>>>()
            })?
            .collect()
        })?;
        Ok(TypedRows { columns: cols, rows })
    }

    /// `list` of the first `limit` members by key. The first keys, then their rows: the top-N
    /// runs over the key alone (DuckDB's late materialisation of wide top-N queries trips over
    /// the clause cache's rowid lookups). `cached` false: the plain filter (`SqlBuilder::filter_as`).
    fn first_members<'a>(&self, f: &'a Compiled, list: &str, limit: usize, cached: bool) -> Result<SqlBuilder<'a>> {
        let mut q = SqlBuilder::new();
        let (k, t) = (ident(self.key()), self.table_sql());
        q.push(&format!("SELECT {list} FROM {t} WHERE {k} IN (SELECT {k} FROM {t} WHERE "));
        q.filter_as(self, f, cached)?;
        q.push(&format!(" ORDER BY {k} LIMIT {limit}) ORDER BY {k}"));
        Ok(q)
    }

    fn select_list(&self, columns: &[String]) -> Result<(Vec<String>, String)> {
        let cols: Vec<String> = if columns.is_empty() {
            self.columns().iter().map(|c| c.name.clone()).collect()
        } else {
            columns.iter().map(|c| self.column_named(c)).collect::<Result<_>>()?
        };
        // DuckDB formats values (dates, decimals) vectorized in C++; seglens only moves text.
        let list = cols.iter().map(|c| format!("CAST({} AS VARCHAR)", ident(c))).collect::<Vec<_>>().join(", ");
        Ok((cols, list))
    }

    /// The first `limit` members by key (all columns when `columns` is empty).
    pub fn rows(&self, f: &Compiled, columns: &[String], limit: usize) -> Result<RowSet> {
        let (cols, list) = self.select_list(columns)?;
        let n = cols.len();
        let rows = self.first_members(f, &list, limit, true)?.run(self, |s| {
            s.query_map([], |r| (0..n).map(|i| r.get::<_, Option<String>>(i)).collect::<duckdb::Result<Vec<_>>>())?
                .collect()
        })?;
        Ok(RowSet { columns: cols, rows })
    }

    /// The SQL `rows` runs, without the clause cache (for benchmarks against DuckDB).
    pub fn rows_sql(&self, f: &Compiled, columns: &[String], limit: usize) -> Result<String> {
        let (_, list) = self.select_list(columns)?;
        Ok(self.first_members(f, &list, limit, false)?.sql)
    }

    /// The SQL `for_each_member` runs (for benchmarks against DuckDB's COPY).
    pub fn members_sql(&self, f: &Compiled, columns: &[String]) -> Result<String> {
        let (_, list) = self.select_list(columns)?;
        Ok(format!("SELECT {list} FROM {} WHERE (\n{}\n) ORDER BY {}", self.table_sql(), f.sql, ident(self.key())))
    }

    /// Streams every member, ordered by key, to `on_row` as text fields; returns the row count.
    /// `on_row` returning an error stops the stream (the error comes back as `EngineError::Output`).
    pub fn for_each_member(
        &self,
        f: &Compiled,
        columns: &[String],
        mut on_row: impl FnMut(&[Option<&str>]) -> std::io::Result<()>,
    ) -> Result<(Vec<String>, u64)> {
        let (cols, list) = self.select_list(columns)?;
        let mut q = SqlBuilder::new();
        q.push(&format!("SELECT {list} FROM {} WHERE ", self.table_sql()));
        q.filter(f);
        q.push(&format!(" ORDER BY {}", ident(self.key())));
        let mut written = 0u64;
        let mut out_err: Option<std::io::Error> = None;
        q.run(self, |s| {
            for batch in s.stream_arrow([])? {
                let batch = batch?;
                let arrays: Vec<Option<TextColumn<'_>>> =
                    batch.columns().iter().map(|a| TextColumn::of(a.as_ref())).collect();
                let mut fields: Vec<Option<&str>> = Vec::with_capacity(arrays.len());
                for row in 0..batch.num_rows() {
                    fields.clear();
                    fields.extend(arrays.iter().map(|a| a.as_ref().and_then(|a| a.get(row))));
                    if let Err(e) = on_row(&fields) {
                        out_err = Some(e);
                        return Ok(());
                    }
                    written += 1;
                }
            }
            Ok(())
        })?;
        match out_err {
            Some(e) => Err(EngineError::Output(e)),
            None => Ok((cols, written)),
        }
    }
}

/// A text column in whichever string layout DuckDB's Arrow export chose: the one reader of the
/// three layouts (members files, key sets).
pub(in crate::engine) enum TextColumn<'a> {
    Utf8(&'a duckdb::arrow::array::StringArray),
    Large(&'a duckdb::arrow::array::LargeStringArray),
    View(&'a duckdb::arrow::array::StringViewArray),
}

impl<'a> TextColumn<'a> {
    /// None when `a` holds no text (a column of NULLs comes back untyped).
    pub(in crate::engine) fn of(a: &'a dyn Array) -> Option<TextColumn<'a>> {
        match a.data_type() {
            DataType::Utf8 => Some(TextColumn::Utf8(a.as_string::<i32>())),
            DataType::LargeUtf8 => Some(TextColumn::Large(a.as_string::<i64>())),
            DataType::Utf8View => Some(TextColumn::View(a.as_string_view())),
            _ => None,
        }
    }

    /// Row `i`; None when it is NULL.
    pub(in crate::engine) fn get(&self, i: usize) -> Option<&'a str> {
        match self {
            TextColumn::Utf8(a) => (!a.is_null(i)).then(|| a.value(i)),
            TextColumn::Large(a) => (!a.is_null(i)).then(|| a.value(i)),
            TextColumn::View(a) => (!a.is_null(i)).then(|| a.value(i)),
        }
    }
}
