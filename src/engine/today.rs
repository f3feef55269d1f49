//! What `current_date` means: seglens defines it per connection (the bundled DuckDB has no ICU),
//! pinned by `--as-of` or moving on at midnight.

use duckdb::Connection;

use super::*;

impl Engine {
    /// The date `current_date` and `today()` answer in this engine's queries.
    pub fn today(&self) -> NaiveDate {
        self.today.get()
    }

    /// Moves `current_date` on to the local date when it has changed since the last call (a
    /// session past midnight). Figures that depend on the date are dropped: cached member sets
    /// and base profiles. True when the date moved.
    pub fn refresh_today(&self) -> Result<bool> {
        if self.pinned {
            return Ok(false);
        }
        self.set_today(chrono::Local::now().date_naive())
    }

    /// `refresh_today` to a given date.
    pub fn set_today(&self, date: NaiveDate) -> Result<bool> {
        if date == self.today.get() {
            return Ok(false);
        }
        define_today_as(self.conn.setup(), date)?;
        self.today.set(date);
        self.clear_cache();
        let mut memo = self.memo.borrow_mut();
        *memo = profile::Memo { schema: memo.schema.take(), ..Default::default() };
        Ok(true)
    }
}

/// `current_date` and `today()` live in DuckDB's ICU extension, which the bundled build leaves
/// out (and extensions cannot load once external access is off). seglens defines them per
/// connection as today's local date, so "no order in 90 days" means the same in every query of a
/// preview and in the sample generator's as-of date; an engine moves the date on with
/// `refresh_today` when a session runs past midnight. The connection must have extension
/// autoloading off, as the engine's have: binding `current_date` would otherwise fetch ICU.
pub fn define_today(conn: &Connection) -> Result<()> {
    define_today_as(conn, chrono::Local::now().date_naive())
}

pub(super) fn define_today_as(conn: &Connection, date: NaiveDate) -> Result<()> {
    // A built-in `current_date` (a build with ICU) binds before seglens defines anything; then it
    // is left alone. Binding is the cheap check: listing duckdb_functions() costs ~40 ms a query,
    // which every headless command would pay. Once seglens' temp macro exists, it is replaced.
    // A bind that failed once means the build has no such function, so later connections skip
    // the check: each failure costs DuckDB's "did you mean" search over every function name.
    static MISSING: [std::sync::OnceLock<()>; 2] = [std::sync::OnceLock::new(), std::sync::OnceLock::new()];
    for (name, missing) in ["current_date", "today"].into_iter().zip(&MISSING) {
        let unbound = || {
            let failed = conn.prepare(&format!("SELECT {name}()")).is_err();
            if failed {
                let _ = missing.set(());
            }
            failed
        };
        let ours = missing.get().is_some() || unbound() || macro_is_ours(conn, name);
        if ours {
            conn.execute_batch(&format!("CREATE OR REPLACE TEMP MACRO {name}() AS DATE '{date}'"))?;
        }
    }
    Ok(())
}

/// Whether `name` is seglens' temp macro (asked only once a function of that name binds).
pub(super) fn macro_is_ours(conn: &Connection, name: &str) -> bool {
    conn.query_row(
        "SELECT count(*) FROM duckdb_functions() WHERE function_name = ? AND database_name = 'temp'",
        [name],
        |r| r.get::<_, i64>(0),
    )
    .is_ok_and(|n| n > 0)
}
