//! What `current_date` means: seglens defines it per connection (the bundled DuckDB has no ICU),
//! pinned by `--as-of` or moving on at midnight.

use duckdb::Connection;

use crate::engine::query::profile;
use crate::engine::*;

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
    // Defined unconditionally, without asking whether a built-in exists: a temp macro shadows a
    // built-in `current_date` (DuckDB as released, with ICU, answers the macro's date), so
    // `--as-of` pins the date on any build; and asking by binding costs a failed bind, whose
    // "did you mean" search over every function name was ~25 ms of every headless command.
    conn.execute_batch(&format!(
        "CREATE OR REPLACE TEMP MACRO current_date() AS DATE '{date}'; CREATE OR REPLACE TEMP MACRO today() AS DATE '{date}'"
    ))?;
    Ok(())
}
