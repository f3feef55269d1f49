//! Member sets kept by seglens as bitmaps over the entity table's row ids, keyed by the SQL
//! expression they answer. Three kinds of expression are cached:
//! - an expensive clause of a filter (one with a subquery, e.g. `EXISTS` over events): when a user
//!   nudges a cheap clause beside it, the expensive one is answered by a scalar function that
//!   looks each row id up in its bitmap (`__seglens_clause_3(rowid)`), a few nanoseconds a row,
//!   instead of running the subquery again;
//! - a whole segment of an overlap: editing one segment of a working set re-evaluates that one
//!   filter, and the rest of the overlap is bit arithmetic (bitmap.rs);
//! - a clause of a funnel, with the rows where it is NULL: the funnel's tally records each
//!   clause's outcome while it counts, so when the user nudges one clause the next funnel
//!   evaluates that one and looks the others up.
//!
//! A bitmap is filled by `SELECT count(*), sum(__seglens_mark_N(rowid)) FROM t WHERE <expr>`:
//! DuckDB pushes the expression into the scan as it does for a size query, and the volatile
//! function sets one bit per member row. The three figures (count, sum, bits set) must agree.
//!
//! The database is read-only, so row ids and an expression's members stay true for the engine's
//! lifetime, except where `current_date` moves on at midnight: `refresh_today` then clears the
//! cache (conn/today.rs). The funnel's tally (tally.rs) and the scalar functions (udf.rs, all of
//! the `unsafe`) live beside this file, and so does `bitmap.rs`, which counts an overlap from the
//! bitmaps. An entity that is
//! a view has no row ids: nothing is cached and callers run the SQL as written. Memory is bounded:
//! at most `BUDGET` bytes of bitmaps (10M rows: 1.25 MB each), least recently used dropped first.
//! The bitmaps of the latest overlap are kept even beyond that (its segments hold them while it
//! runs anyway): on a table so large that a working set does not fit, dropping them would make
//! every later overlap of that working set compute all of them again. Only the bitmaps the
//! overlap used while it ran are kept so: what is cached after it ends counts against the budget.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::engine::conn::sandbox::ReadOnly as Connection;

pub mod bitmap;
mod tally;
mod udf;

use super::{Canceller, Compiled, EngineError, Result, ident, plain_error, run_on};
pub use tally::{Counted, Source, TALLY_MAX_CLAUSES, Tallier, cell_state};
pub use udf::{EachChunk, Eacher, Marker};
use udf::{Lookup, Lookups, Mark, NEXT_FUNCTION, Target};

/// Bytes of bitmaps kept: a 64-segment working set at 10M customers, plus a few clauses.
pub const BUDGET: usize = 96 << 20;

/// One bit per row id: bit `r % 64` of word `r / 64` is row `r`.
pub type Bits = Arc<Vec<u64>>;

struct Entry {
    expr: String,
    bits: Bits,
    /// The rows where the expression is NULL, when a funnel recorded them (a size query's
    /// bitmap only knows where it holds).
    null: Option<Bits>,
    members: u64,
    last_used: u64,
    /// The number of the lookup function answering this expression as a clause, once registered.
    lookup: Option<u64>,
    /// Used by the latest overlap while it ran: never evicted until the next overlap starts.
    overlap: bool,
}

pub struct MemberCache {
    /// The funnel's tally function, registered on first use (None inside: DuckDB refused it).
    tallier: Option<Option<Tallier>>,
    /// The per-chunk scan function (a movement's lookups), registered on first use.
    eacher: Option<Option<Eacher>>,
    entries: Vec<Entry>,
    lookups: Lookups,
    marker: Option<Marker>,
    clock: u64,
    /// An overlap is running: the entries it uses are marked `overlap` (kept beyond the budget).
    overlap_running: bool,
    /// Set when the entity has no row ids (a view) or functions cannot be registered: off.
    disabled: bool,
    /// Bytes of bitmaps kept (`BUDGET`; smaller in tests).
    budget: usize,
}

impl Default for MemberCache {
    fn default() -> MemberCache {
        MemberCache {
            tallier: None,
            eacher: None,
            entries: Vec::new(),
            lookups: Lookups::default(),
            marker: None,
            clock: 0,
            overlap_running: false,
            disabled: false,
            budget: BUDGET,
        }
    }
}

fn is_expensive(clause: &str) -> bool {
    clause.to_ascii_lowercase().split(|c: char| !c.is_ascii_alphanumeric() && c != '_').any(|w| w == "select")
}

impl Drop for MemberCache {
    /// DuckDB keeps a lookup function's state until the database closes, which outlives this
    /// engine's connection (an export's clone, say): the bitmaps go with the cache.
    fn drop(&mut self) {
        if let Ok(mut lookups) = self.lookups.write() {
            lookups.clear();
        }
    }
}

impl MemberCache {
    /// A cache that stays off: the entity has a column named `rowid`, which hides DuckDB's.
    pub fn disabled() -> MemberCache {
        let mut c = MemberCache::default();
        c.disabled = true;
        c
    }

    /// Turns caching off for good (the filters then run as written) and forgets what it holds.
    pub fn disable(&mut self) {
        self.disabled = true;
        self.clear();
    }

    /// Starts an overlap: the bitmaps it uses until `end_overlap` are kept until the next one
    /// starts (and no longer those of the one before).
    pub fn begin_overlap(&mut self) {
        for e in &mut self.entries {
            e.overlap = false;
        }
        self.overlap_running = true;
    }

    /// Ends the running overlap: bitmaps used from now on count against the budget. Without this
    /// every bitmap cached after an overlap would be kept beyond it.
    pub fn end_overlap(&mut self) {
        self.overlap_running = false;
    }

    /// The mark function, registered on first use; None when the entity has no row ids.
    pub fn marker(&mut self, conn: &Connection, cancel: &Canceller, table: &str) -> Result<Option<Marker>> {
        if self.disabled {
            return Ok(None);
        }
        if let Some(m) = &self.marker {
            return Ok(Some(m.clone()));
        }
        let sql = format!("SELECT coalesce(min(rowid), 0), coalesce(max(rowid), 0), count(*) FROM {}", ident(table));
        let bounds = run_on(conn, cancel, None, &sql, plain_error, |s| {
            s.query_row([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        });
        let (min, max, rows): (i64, i64, i64) = match bounds {
            Ok(m) => m,
            Err(EngineError::Cancelled) => return Err(EngineError::Cancelled),
            // A view has no row ids: caching stays off for this engine.
            Err(_) => {
                self.disabled = true;
                return Ok(None);
            }
        };
        // Row ids run from 0 to about the row count (more after deletes). Anything else would ask
        // for a bitmap out of proportion with the table: the filters then run as written.
        if min < 0 || max > 2 * rows + (1 << 20) {
            self.disabled = true;
            return Ok(None);
        }
        let name = format!("__seglens_mark_{}", NEXT_FUNCTION.fetch_add(1, Ordering::Relaxed));
        let target = Target::default();
        if conn.register_scalar_function_with_state::<Mark>(&name, &target).is_err() {
            self.disabled = true;
            return Ok(None);
        }
        let marker = Marker { name, target, words: max as usize / 64 + 1 };
        self.marker = Some(marker.clone());
        Ok(Some(marker))
    }

    /// The cached bitmap of `expr`, if any (counts as a use).
    pub fn get(&mut self, expr: &str) -> Option<Bits> {
        let i = self.entries.iter().position(|e| e.expr == expr)?;
        Some(self.touch(i).bits.clone())
    }

    /// Keeps a filled bitmap for `expr`, then drops old ones beyond the budget.
    pub fn insert(&mut self, expr: &str, bits: Vec<u64>, members: u64) -> Bits {
        let bits = self.add(expr, bits, members, None);
        self.evict(&[expr]);
        bits
    }

    /// Keeps the outcome a funnel recorded for `clause` (rows where it holds, rows where it is
    /// NULL), replacing what a size query cached for it; `keep` are the funnel's other clauses.
    pub fn insert_outcome(&mut self, clause: &str, yes: Vec<u64>, null: Vec<u64>, keep: &[&str]) {
        if let Some(i) = self.entries.iter().position(|e| e.expr == clause) {
            self.forget(i);
        }
        let members = yes.iter().map(|w| u64::from(w.count_ones())).sum();
        self.add(clause, yes, members, Some(null));
        self.evict(keep);
    }

    fn add(&mut self, expr: &str, bits: Vec<u64>, members: u64, null: Option<Vec<u64>>) -> Bits {
        let bits = Arc::new(bits);
        let null = null.map(Arc::new);
        let entry = Entry {
            expr: expr.to_string(),
            bits: bits.clone(),
            null,
            members,
            last_used: 0,
            lookup: None,
            overlap: false,
        };
        self.entries.push(entry);
        self.touch(self.entries.len() - 1);
        bits
    }

    fn touch(&mut self, i: usize) -> &mut Entry {
        self.clock += 1;
        let e = &mut self.entries[i];
        e.last_used = self.clock;
        e.overlap |= self.overlap_running;
        e
    }

    /// Rewrites `f` with its expensive clauses answered from cached bitmaps, filling them first
    /// when missing. None when the filter has no clause worth caching (a single clause, or no
    /// subquery), so the caller runs the filter as written.
    pub fn rewrite(
        &mut self,
        conn: &Connection,
        cancel: &Canceller,
        table: &str,
        f: &Compiled,
    ) -> Result<Option<String>> {
        let clauses = f.clauses();
        if clauses.len() < 2 || !clauses.iter().any(|c| is_expensive(c)) {
            return Ok(None);
        }
        let Some(marker) = self.marker(conn, cancel, table)? else { return Ok(None) };
        let mut parts = Vec::with_capacity(clauses.len());
        for &c in &clauses {
            if !is_expensive(c) {
                parts.push(format!("({c})"));
                continue;
            }
            if self.get(c).is_none() {
                let sql = format!("{}({c})", marker.select(table));
                let fill = || {
                    run_on(conn, cancel, None, &sql, plain_error, |s| s.query_row([], |r| Ok((r.get(0)?, r.get(1)?))))
                };
                match marker.fill(fill) {
                    // Added without evicting: an earlier clause of this filter must stay.
                    Ok(Some((bits, members))) => _ = self.add(c, bits, members, None),
                    Ok(None) => {
                        self.disable();
                        return Ok(None);
                    }
                    Err(e @ EngineError::Cancelled) => return Err(e),
                    // An error in the clause itself: running the filter as written reports it
                    // at the right place in the user's text.
                    Err(_) => return Ok(None),
                }
            }
            match self.lookup(conn, c) {
                Some(n) => parts.push(format!("__seglens_clause_{n}(rowid)")),
                None => return Ok(None),
            }
        }
        self.evict(&clauses);
        Ok(Some(parts.join(" AND ")))
    }

    /// The funnel's tally function, registered on first use; None when DuckDB refuses it.
    pub fn tallier(&mut self, conn: &Connection) -> Option<Tallier> {
        self.tallier.get_or_insert_with(|| Tallier::register(conn)).clone()
    }

    /// The per-chunk scan function, registered on first use; None when DuckDB refuses it.
    pub fn eacher(&mut self, conn: &Connection) -> Option<Eacher> {
        self.eacher.get_or_insert_with(|| Eacher::register(conn)).clone()
    }

    /// The outcome of `clause` an earlier funnel recorded (rows where it holds, rows where it is
    /// NULL), when the cache holds one. A size query's bitmap does not do: it cannot tell NULL
    /// from false.
    pub fn outcome(&mut self, clause: &str) -> Option<Source> {
        if self.disabled {
            return None;
        }
        let i = self.entries.iter().position(|e| e.expr == clause && e.null.is_some())?;
        let e = self.touch(i);
        Some(Source::Recorded { yes: e.bits.clone(), null: e.null.clone()? })
    }

    /// The lookup function of cached `expr`, registered on first use.
    fn lookup(&mut self, conn: &Connection, expr: &str) -> Option<u64> {
        let e = self.entries.iter_mut().find(|e| e.expr == expr)?;
        if e.lookup.is_none() {
            let n = NEXT_FUNCTION.fetch_add(1, Ordering::Relaxed);
            self.lookups.write().ok()?.insert(n, e.bits.clone());
            let name = format!("__seglens_clause_{n}");
            if conn.register_scalar_function_with_state::<Lookup>(&name, &(n, self.lookups.clone())).is_err() {
                self.disable();
                return None;
            }
            e.lookup = Some(n);
        }
        e.lookup
    }

    /// Drops least recently used bitmaps beyond the budget, never those of `keep` nor the latest
    /// overlap's. A dropped clause's lookup function stays registered but is never named again.
    fn evict(&mut self, keep: &[&str]) {
        while self.bytes() > self.budget {
            let kept = |e: &Entry| keep.contains(&e.expr.as_str()) || e.overlap;
            let candidates = self.entries.iter().enumerate().filter(|(_, e)| !kept(e));
            let Some((i, _)) = candidates.min_by_key(|(_, e)| e.last_used) else { return };
            self.forget(i);
        }
    }

    fn forget(&mut self, i: usize) {
        let e = self.entries.remove(i);
        if let (Some(n), Ok(mut lookups)) = (e.lookup, self.lookups.write()) {
            lookups.remove(&n);
        }
    }

    fn bytes(&self) -> usize {
        self.entries.iter().map(|e| (e.bits.len() + e.null.as_ref().map_or(0, |n| n.len())) * 8).sum()
    }

    pub fn clear(&mut self) {
        while !self.entries.is_empty() {
            self.forget(0);
        }
    }

    /// What the cache holds, for people: entries, members and memory.
    pub fn summary(&self) -> String {
        let members: u64 = self.entries.iter().map(|e| e.members).sum();
        format!(
            "{} cached member set{} ({} members, {} KiB of bitmaps; at most {} MiB)",
            self.entries.len(),
            if self.entries.len() == 1 { "" } else { "s" },
            members,
            self.bytes() / 1024,
            self.budget >> 20
        )
    }
}

#[cfg(test)]
mod tests;
