//! The tables and columns a translation may name, with their exact spelling and a coarse type:
//! enough to quote every name as the database spells it (DuckDB matches names case-insensitively,
//! quoted or not; PostgreSQL and Snowflake do not) and to tell date arithmetic from numbers.

use crate::engine::query::schema;
use crate::engine::{Engine, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    Int,
    Decimal,
    Float,
    Text,
    Bool,
    Date,
    Timestamp,
    Interval,
    /// Anything else (lists, structs, blobs, time zones): usable as a value, never in arithmetic.
    Other,
    Unknown,
}

impl Ty {
    /// The coarse type of a DuckDB type name (`information_schema.columns.data_type`).
    pub fn of_duckdb(ty: &str) -> Ty {
        let t = ty.trim().to_ascii_uppercase();
        match t.as_str() {
            "TINYINT" | "SMALLINT" | "INTEGER" | "BIGINT" | "HUGEINT" | "UTINYINT" | "USMALLINT" | "UINTEGER"
            | "UBIGINT" | "UHUGEINT" | "INT" => Ty::Int,
            "DOUBLE" | "FLOAT" | "REAL" => Ty::Float,
            "VARCHAR" | "TEXT" | "STRING" => Ty::Text,
            "BOOLEAN" => Ty::Bool,
            "DATE" => Ty::Date,
            "TIMESTAMP" | "TIMESTAMP_NS" | "TIMESTAMP_MS" | "TIMESTAMP_S" | "DATETIME" => Ty::Timestamp,
            "INTERVAL" => Ty::Interval,
            _ if t.starts_with("DECIMAL") || t.starts_with("NUMERIC") => Ty::Decimal,
            _ if t.starts_with("VARCHAR") => Ty::Text,
            _ => Ty::Other,
        }
    }

    pub fn is_numeric(self) -> bool {
        matches!(self, Ty::Int | Ty::Decimal | Ty::Float)
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Catalog {
    tables: Vec<(String, Vec<(String, Ty)>)>,
}

impl Catalog {
    /// From (table, [(column, DuckDB type)]).
    pub fn new(tables: Vec<(String, Vec<(String, String)>)>) -> Catalog {
        Catalog {
            tables: tables
                .into_iter()
                .map(|(t, cols)| (t, cols.into_iter().map(|(c, ty)| (c, Ty::of_duckdb(&ty))).collect()))
                .collect(),
        }
    }

    /// Every table of the engine's database with its columns.
    pub fn of(engine: &Engine) -> Result<Catalog> {
        let conn = engine.conn();
        let mut tables = Vec::new();
        for t in schema::tables(conn)? {
            let cols = schema::columns(conn, &t)?.into_iter().map(|c| (c.name, c.ty)).collect();
            tables.push((t, cols));
        }
        Ok(Catalog::new(tables))
    }

    /// The table's exact name, matched case-insensitively (as DuckDB matches it).
    pub fn table_name(&self, name: &str) -> Option<&str> {
        self.table(name).map(|(n, _)| n.as_str())
    }

    fn table(&self, name: &str) -> Option<&(String, Vec<(String, Ty)>)> {
        self.tables
            .iter()
            .find(|(n, _)| n == name)
            .or_else(|| self.tables.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)))
    }

    /// The column's exact name and type in `table`.
    pub fn column(&self, table: &str, column: &str) -> Option<(&str, Ty)> {
        let (_, cols) = self.table(table)?;
        cols.iter()
            .find(|(c, _)| c == column)
            .or_else(|| cols.iter().find(|(c, _)| c.eq_ignore_ascii_case(column)))
            .map(|(c, t)| (c.as_str(), *t))
    }

    pub fn column_name(&self, table: &str, column: &str) -> Option<&str> {
        self.column(table, column).map(|(c, _)| c)
    }
}
