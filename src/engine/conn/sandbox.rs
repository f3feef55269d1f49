//! The engine's connection once the sandbox is closed: every statement reaches DuckDB as
//! `SELECT * FROM query('<statement>')`, so DuckDB's own parser must find exactly one SELECT in
//! it before anything runs.
//!
//! Why this and not only seglens' checks of each fragment (`filter::check_fragment`): a Parquet
//! source is read in place, and DuckDB's `allowed_paths` makes the files it names writable as well
//! as readable (`COPY ... TO '<the file>'` overwrote it, measured). A filter is one expression
//! checked by seglens' own tokenizer, but if that tokenizer and DuckDB's ever disagreed about where
//! a string or comment ends, a `;` could start a second statement, and the `duckdb` crate's
//! `prepare` *executes* every statement but the last of a text it is given. Wrapped in `query()`:
//!
//! - the outer statement is seglens' own, with the whole statement as one string literal (quotes
//!   doubled; DuckDB's standard strings have no other escape), so it is one statement by
//!   construction and nothing in it is executed as SQL but through `query()`;
//! - `query()` parses its argument with DuckDB's parser and refuses anything that is not exactly
//!   one SELECT statement ("Expected a single SELECT statement"): no COPY, ATTACH, SET, CREATE,
//!   INSERT, PRAGMA, CALL, EXPORT, LOAD, whatever seglens' tokenizer thought;
//! - inside a SELECT, the table functions with side effects (`enable_profiling`,
//!   `enable_logging` with a file, ...) refuse because the configuration is locked, and no
//!   function of this build writes a file (`tests/adversarial.rs` lists the table functions of
//!   the bundled DuckDB, so an upgrade that adds one fails until it is reviewed).
//!
//! The plan is the same (`query()` is replaced by its subquery at bind time), and DuckDB reports
//! error positions in the inner statement, which is seglens' statement, so positions map back to
//! the user's text as before. Statements cannot carry `?` parameters through `query()`: values
//! are literals (`literal`).
//!
//! The only statements that bypass the wrapper are seglens' own date macros (`define_today_as`
//! in mod.rs, through `setup`), whose text is fixed but for a date chrono formats, and the
//! temporary key tables of movement over a view (`temp_keys`): a generated name, a fixed type,
//! filled through the appender API; DuckDB's temp catalog is in memory, never a user's file; and
//! the kept rollups (`attach_kept`, `keep`): an in-memory database of seglens' own, filled by a
//! `CREATE TABLE r_N AS SELECT * FROM query('<the rollup's select>')`.

use duckdb::vscalar::VScalar;
use duckdb::{Connection, InterruptHandle, Params, Row, Statement};

use crate::engine::literal;

/// A connection whose statements are all proven single SELECTs by DuckDB's parser.
pub struct ReadOnly {
    conn: Connection,
}

impl ReadOnly {
    /// Wraps a connection as it is (unit tests of code that takes the wrapper).
    #[cfg(test)]
    pub(crate) fn new(conn: Connection) -> ReadOnly {
        ReadOnly { conn }
    }

    /// Closes the sandbox of a fresh connection: only `allowed` files stay readable (a DuckDB
    /// file's connection allows none), external access goes off, the configuration is locked.
    /// Also returns a second connection to the same database that reports how far its statement
    /// is (for the rollup build's progress): that is a per-connection setting, which the lock
    /// would refuse afterwards, so it is made here, before the lock.
    pub(crate) fn lock(conn: Connection, allowed: &[String]) -> duckdb::Result<(ReadOnly, ReadOnly)> {
        if !allowed.is_empty() {
            let list: Vec<String> = allowed.iter().map(|p| literal(p)).collect();
            conn.execute_batch(&format!("SET allowed_paths = [{}]", list.join(", ")))?;
        }
        conn.execute_batch("SET enable_external_access = false;")?;
        let progress = conn.try_clone()?;
        progress.execute_batch("SET enable_progress_bar = true; SET enable_progress_bar_print = false;")?;
        conn.execute_batch("SET lock_configuration = true;")?;
        Ok((ReadOnly { conn }, ReadOnly { conn: progress }))
    }

    /// The text DuckDB receives for `sql`.
    pub fn statement(sql: &str) -> String {
        format!("SELECT * FROM query({})", literal(sql))
    }

    pub fn prepare(&self, sql: &str) -> duckdb::Result<Statement<'_>> {
        self.conn.prepare(&Self::statement(sql))
    }

    pub fn query_row<T, P: Params, F: FnOnce(&Row<'_>) -> duckdb::Result<T>>(
        &self,
        sql: &str,
        params: P,
        f: F,
    ) -> duckdb::Result<T> {
        self.conn.query_row(&Self::statement(sql), params, f)
    }

    /// A second connection to the same database (same locked configuration).
    pub fn try_clone(&self) -> duckdb::Result<ReadOnly> {
        Ok(ReadOnly { conn: self.conn.try_clone()? })
    }

    pub fn interrupt_handle(&self) -> std::sync::Arc<InterruptHandle> {
        self.conn.interrupt_handle()
    }

    /// Registers a scalar function written in Rust (the member cache's): an API call, not SQL.
    pub fn register_scalar_function_with_state<S: VScalar>(&self, name: &str, state: &S::State) -> duckdb::Result<()>
    where
        S::State: Clone,
    {
        self.conn.register_scalar_function_with_state::<S>(name, state)
    }

    /// A temporary table `name (k BIGINT|VARCHAR, s INTEGER)` and an appender to fill it, for
    /// movement over a view (no row ids). `name` is seglens' own (`__seglens_keys_N`).
    pub(crate) fn temp_keys(&self, name: &str, text: bool) -> duckdb::Result<duckdb::Appender<'_>> {
        if !is_temp_keys(name) {
            return Err(duckdb::Error::InvalidParameterName(name.to_string()));
        }
        let ty = if text { "VARCHAR" } else { "BIGINT" };
        self.conn.execute_batch(&format!("CREATE TEMP TABLE {name} (k {ty}, s INTEGER)"))?;
        self.conn.appender_to_catalog_and_db(name, "temp", "main")
    }

    /// Attaches the in-memory database that holds kept rollups (`rollup.rs`): DuckDB's own
    /// memory, never a file (external access is off), shared by every connection of the instance.
    pub(crate) fn attach_kept(&self) -> duckdb::Result<()> {
        self.conn.execute_batch(&format!("ATTACH ':memory:' AS {} (READ_WRITE)", crate::engine::query::rollup::KEPT_DB))
    }

    /// Keeps the result of `select` as the kept rollup table `name` (`r_N`, seglens' own). The
    /// select, which may hold a metrics file's aggregates, reaches DuckDB only through `query()`,
    /// so it is one SELECT like every other statement; the CREATE around it is seglens' own text.
    pub(crate) fn keep(&self, name: &str, select: &str) -> duckdb::Result<()> {
        if !(name.starts_with("r_") && name[2..].chars().all(|c| c.is_ascii_digit())) {
            return Err(duckdb::Error::InvalidParameterName(name.to_string()));
        }
        self.conn.execute_batch(&format!(
            "CREATE OR REPLACE TABLE {}.main.{name} AS {}",
            crate::engine::query::rollup::KEPT_DB,
            Self::statement(select)
        ))
    }

    /// Reads how far the running statement is, from another thread.
    pub(crate) fn progress_handle(&self) -> duckdb::ProgressHandle {
        self.conn.progress_handle()
    }

    /// Drops a table `temp_keys` made.
    pub(crate) fn drop_temp_keys(&self, name: &str) {
        if is_temp_keys(name) {
            let _ = self.conn.execute_batch(&format!("DROP TABLE IF EXISTS temp.main.{name}"));
        }
    }

    /// The connection itself, for seglens' date macros only (see the module doc).
    pub(in crate::engine) fn setup(&self) -> &Connection {
        &self.conn
    }
}

/// A name `temp_keys` makes (`__seglens_keys_N`): nothing else is created or dropped through it.
fn is_temp_keys(name: &str) -> bool {
    name.starts_with("__seglens_keys_") && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn locked() -> (tempfile::TempDir, std::path::PathBuf, ReadOnly) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("it's.parquet");
        let conn = Connection::open_in_memory().unwrap();
        let f = file.to_str().unwrap();
        conn.execute_batch(&format!(
            "COPY (SELECT range AS id FROM range(10)) TO {} (FORMAT parquet); CREATE VIEW t AS SELECT * FROM read_parquet({})",
            literal(f),
            literal(f)
        ))
        .unwrap();
        let (ro, _) = ReadOnly::lock(conn, &[f.to_string()]).unwrap();
        (dir, file, ro)
    }

    #[test]
    fn only_single_selects_pass_and_the_allowed_file_is_never_written() {
        let (_dir, file, ro) = locked();
        let before = std::fs::read(&file).unwrap();
        let n: i64 = ro.query_row("SELECT count(*) FROM t WHERE id > 2", [], |r| r.get(0)).unwrap();
        assert_eq!(n, 7);
        let f = literal(file.to_str().unwrap());
        for sql in [
            format!("COPY (SELECT 1) TO {f} (FORMAT parquet, USE_TMP_FILE false)"),
            format!("SELECT 1; COPY (SELECT 1) TO {f} (FORMAT parquet, USE_TMP_FILE false)"),
            format!("COPY (SELECT 1) TO {f} (FORMAT parquet, USE_TMP_FILE false); SELECT 1"),
            "SET lock_configuration = false".to_string(),
            "CREATE TABLE x AS SELECT 1".to_string(),
            "ATTACH ':memory:' AS m".to_string(),
            "EXPLAIN SELECT 1".to_string(),
            format!("SELECT * FROM query({})", literal(&format!("COPY (SELECT 1) TO {f} (FORMAT parquet)"))),
            format!("SELECT * FROM enable_profiling(save_location := {f})"),
        ] {
            let err = ro.prepare(&sql).and_then(|mut s| s.query([]).map(|_| ()));
            assert!(err.is_err(), "{sql} was accepted");
        }
        assert_eq!(std::fs::read(&file).unwrap(), before);
        let tables: i64 = ro.query_row("SELECT count(*) FROM duckdb_tables()", [], |r| r.get(0)).unwrap();
        assert_eq!(tables, 0, "nothing was created");
    }
}
