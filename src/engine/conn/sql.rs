//! Building statements that embed compiled filters, and mapping DuckDB's errors back to the
//! user's text.

use std::cell::Cell;
use std::time::Instant;

use super::error;
use super::sandbox::ReadOnly;
use crate::engine::*;

/// Quotes an identifier for DuckDB: `"` doubled. The one copy of the rule; `Dialect::ident`
/// delegates to it for the engines that read identifiers the same way.
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `s` as a DuckDB string literal: `'` doubled, the only escape of a standard string. The one
/// copy of the rule; `Dialect::string` delegates to it for the engines that read strings the same way.
pub fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Builds one SQL statement that embeds compiled filters, remembering where each one sits so an
/// error position from DuckDB maps back to the user's text of the right filter.
pub(crate) struct SqlBuilder<'a> {
    pub sql: String,
    spans: Vec<(usize, usize, &'a Compiled)>,
}

impl<'a> SqlBuilder<'a> {
    pub fn new() -> SqlBuilder<'a> {
        SqlBuilder { sql: String::new(), spans: Vec::new() }
    }

    pub fn push(&mut self, s: &str) -> &mut Self {
        self.sql.push_str(s);
        self
    }

    /// Appends `(\n<filter>\n)`; the newlines keep a trailing `--` comment from eating the `)`.
    pub fn filter(&mut self, f: &'a Compiled) -> &mut Self {
        self.sql.push_str("(\n");
        let start = self.sql.len();
        self.sql.push_str(&f.sql);
        self.spans.push((start, self.sql.len(), f));
        self.sql.push_str("\n)");
        self
    }

    /// Like `filter`, but clauses whose member set the engine has cached are replaced by a lookup.
    pub fn filter_cached(&mut self, engine: &Engine, f: &'a Compiled) -> Result<&mut Self> {
        match engine.member_cache.borrow_mut().rewrite(&engine.conn, &engine.cancel, &engine.table, f)? {
            Some(rewritten) => {
                self.sql.push_str("(\n");
                self.sql.push_str(&rewritten);
                self.sql.push_str("\n)");
                Ok(self)
            }
            None => Ok(self.filter(f)),
        }
    }

    /// `filter_cached` where the engine runs the statement, plain `filter` where a benchmark
    /// hands the same statement to another DuckDB (`cached` false).
    pub fn filter_as(&mut self, engine: &Engine, f: &'a Compiled, cached: bool) -> Result<&mut Self> {
        if cached { self.filter_cached(engine, f) } else { Ok(self.filter(f)) }
    }

    /// Runs the statement on `engine` (`Engine::run`) through `run`, errors located in the filters.
    pub fn run<T>(
        &self,
        engine: &Engine,
        run: impl FnOnce(&mut duckdb::Statement<'_>) -> duckdb::Result<T>,
    ) -> Result<T> {
        engine.run(&self.sql, |e| self.map_error(e), run)
    }

    pub fn map_error(&self, e: duckdb::Error) -> EngineError {
        let m = error::DuckMessage::parse(&e);
        if m.is_interrupt() {
            return EngineError::Cancelled;
        }
        if let Some(p) = m.position {
            // DuckDB reports byte offsets into the statement.
            let byte = p.min(self.sql.len());
            // An error at the parenthesis seglens adds after a filter (`orders_count >`) is
            // located at the end of what the user wrote.
            if let Some((s, e, f)) = self.spans.iter().find(|(s, e, _)| byte >= *s && byte <= *e + 2) {
                let mut message = m.headline();
                if byte > *e {
                    message.push_str(" — the filter ends too early");
                }
                let byte = byte.min(*e);
                return EngineError::Filter(FilterError { message, pos: Some(f.source_pos(byte - s)) });
            }
        }
        plain_error(e)
    }
}

/// Runs one statement on `conn` (`guarded`), prepared, then checked again for a cancel asked
/// for while DuckDB planned it (DuckDB clears its interrupt when a statement begins, so that one
/// would be lost). `Engine::run`, and the member cache's statements (it holds the engine's
/// connection and canceller, not the engine), go through here.
pub(crate) fn run_on<T>(
    conn: &ReadOnly,
    cancel: &Canceller,
    began: Option<&Cell<Option<Instant>>>,
    sql: &str,
    map_error: impl Fn(duckdb::Error) -> EngineError,
    run: impl FnOnce(&mut duckdb::Statement<'_>) -> duckdb::Result<T>,
) -> Result<T> {
    guarded(cancel, began, || {
        let mut statement = conn.prepare(sql).map_err(&map_error)?;
        cancel.check()?;
        run(&mut statement).map_err(&map_error)
    })
}

/// Runs `work`, one statement, under the rules of `cancel` (`cancel.rs`), the one place they
/// are kept: a pending cancel stops the statement before it begins, and a cancel that stopped it
/// is spent, as DuckDB's interrupt is, so that the next statement runs. `began`, when given, is
/// told when the statement passed its check and went to DuckDB.
pub(crate) fn guarded<T>(
    cancel: &Canceller,
    began: Option<&Cell<Option<Instant>>>,
    work: impl FnOnce() -> Result<T>,
) -> Result<T> {
    cancel.check()?;
    if let Some(began) = began {
        began.set(Some(Instant::now()));
    }
    let result = work();
    if matches!(result, Err(EngineError::Cancelled)) {
        cancel.clear();
    }
    result
}

/// Maps a DuckDB error that has no filter text to locate in.
pub(crate) fn plain_error(e: duckdb::Error) -> EngineError {
    let m = error::DuckMessage::parse(&e);
    if m.is_interrupt() {
        EngineError::Cancelled
    } else if m.is_user_sql_error() {
        EngineError::Filter(FilterError::new(m.headline()))
    } else {
        EngineError::from(e)
    }
}
