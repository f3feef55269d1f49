//! Databases whose schemas share nothing with the sample's: every feature is tested on data that
//! is not ours (other table and column names, a VARCHAR key, a transactions table, NULLs, quoted
//! names). Generated from `foreign.sql` with a fixed as-of date, so figures never depend on the day.
//!
//! - `Foreign::Shop`: `shoppers` keyed by `shopper_ref` (VARCHAR, `S000001`), a `purchase_records`
//!   table (amount DECIMAL, bought_on DATE; 0 to 4 rows per shopper), a column `"Full Name"`,
//!   a 10-value `segment_label` with NULLs, planted duplicate emails and phones.
//! - `Foreign::Club`: `"Club Members"` (a space in the table name) keyed by `member_id` BIGINT, an
//!   `activity` table with its own unique `event_id`, `"Revenue"`/`"Signup Channel"`, a TIMESTAMP
//!   `last_active`, near-duplicate `city` spellings (`Pune`, ` pune`, `PUNE`).

use std::path::{Path, PathBuf};

const SQL: &str = include_str!("foreign.sql");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Foreign {
    Shop,
    Club,
}

impl Foreign {
    pub const ALL: [Foreign; 2] = [Foreign::Shop, Foreign::Club];

    /// The entity table, as named in SQL (quoted where it must be).
    pub fn table(self) -> &'static str {
        match self {
            Foreign::Shop => "shoppers",
            Foreign::Club => "Club Members",
        }
    }

    pub fn table_sql(self) -> &'static str {
        match self {
            Foreign::Shop => "shoppers",
            Foreign::Club => "\"Club Members\"",
        }
    }

    pub fn key(self) -> &'static str {
        match self {
            Foreign::Shop => "shopper_ref",
            Foreign::Club => "member_id",
        }
    }

    /// The related (transactions/activity) table and its date column.
    pub fn related(self) -> (&'static str, &'static str) {
        match self {
            Foreign::Shop => ("purchase_records", "bought_on"),
            Foreign::Club => ("activity", "happened_at"),
        }
    }

    /// A plain filter that selects part of the table (no params, no features).
    pub fn filter(self) -> &'static str {
        match self {
            Foreign::Shop => "total_spent > 1000 AND home_country IN ('IN', 'UK')",
            Foreign::Club => "\"Revenue\" >= 600 AND tier <> 'Bronze'",
        }
    }

    fn script(self) -> &'static str {
        let (shop, club) = SQL.split_once("\n-- club\n").expect("foreign.sql has a club part");
        match self {
            Foreign::Shop => shop,
            Foreign::Club => club,
        }
    }
}

/// Writes the database `kind` with `rows` entities to `dir/<name>` (as of `super::as_of()`).
pub fn foreign_db(dir: &Path, kind: Foreign, rows: u64) -> PathBuf {
    let name = match kind {
        Foreign::Shop => "shop.duckdb",
        Foreign::Club => "club.duckdb",
    };
    let path = dir.join(name);
    let conn = duckdb::Connection::open(&path).expect("create a foreign database");
    conn.execute_batch(&format!(
        "SET VARIABLE n = {rows}::BIGINT; SET VARIABLE as_of = DATE '{}';",
        super::as_of().format("%Y-%m-%d")
    ))
    .expect("variables");
    conn.execute_batch(kind.script()).unwrap_or_else(|e| panic!("generating {kind:?}: {e}"));
    conn.execute_batch("CHECKPOINT").expect("checkpoint");
    drop(conn);
    path
}
