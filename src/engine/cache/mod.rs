//! Member sets kept by seglens as bitmaps over the entity table's row ids, keyed by the SQL
//! expression they answer. Three kinds of expression are cached:
//! - an expensive clause of a filter (one with a subquery, e.g. `EXISTS` over events): when a user
//!   nudges a cheap clause beside it, the expensive one is answered by a scalar function that
//!   looks each row id up in its bitmap (`__seglens_clause_3(rowid)`), a few nanoseconds a row,
//!   instead of running the subquery again;
//! - a whole segment of an overlap: editing one segment of a working set re-evaluates that one
//!   filter, and the rest of the overlap is bit arithmetic (engine/bitmap.rs);
//! - a clause of a funnel, with the rows where it is NULL: the funnel's tally records each
//!   clause's outcome while it counts, so when the user nudges one clause the next funnel
//!   evaluates that one and looks the others up.
//!
//! A bitmap is filled by `SELECT count(*), sum(__seglens_mark_N(rowid)) FROM t WHERE <expr>`:
//! DuckDB pushes the expression into the scan as it does for a size query, and the volatile
//! function sets one bit per member row. The three figures (count, sum, bits set) must agree.
//!
//! The database is read-only, so row ids and an expression's members stay true for the engine's
//! lifetime (apart from `current_date` moving at midnight; reopen to refresh). An entity that is
//! a view has no row ids: nothing is cached and callers run the SQL as written. Memory is bounded:
//! at most `BUDGET` bytes of bitmaps (10M rows: 1.25 MB each), least recently used dropped first.
//! The bitmaps of the latest overlap are kept even beyond that (its segments hold them while it
//! runs anyway): on a table so large that a working set does not fit, dropping them would make
//! every later overlap of that working set compute all of them again. Only the bitmaps the
//! overlap used while it ran are kept so: what is cached after it ends counts against the budget.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::sandbox::ReadOnly as Connection;

mod udf;

use super::{Canceller, Compiled, EngineError, Result, ident, plain_error, run_on};
pub use udf::{Counted, EachChunk, Eacher, Marker, Source, TALLY_MAX_CLAUSES, Tallier, cell_state};
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
mod tests {
    use super::*;

    /// A table of 10,000 rows in memory, and a filter of two expensive clauses and a cheap one.
    fn table() -> (Connection, Compiled) {
        let conn = Connection::new(duckdb::Connection::open_in_memory().unwrap());
        conn.setup()
            .execute_batch(
                "CREATE TABLE t AS SELECT i AS id, i % 10 AS d FROM range(10000) r(i);
             CREATE TABLE e AS SELECT i AS id FROM range(0, 10000, 3) r(i);",
            )
            .unwrap();
        let text =
            "EXISTS (SELECT 1 FROM e WHERE e.id = t.id) AND d < 5 AND EXISTS (SELECT 1 FROM e WHERE e.id = t.id + 1)";
        let f =
            super::super::filter::compile(text, &Default::default(), &Default::default(), &Default::default()).unwrap();
        (conn, f)
    }

    fn count(conn: &Connection, filter: &str) -> i64 {
        conn.query_row(&format!("SELECT count(*) FROM t WHERE {filter}"), [], |r| r.get(0)).unwrap()
    }

    #[test]
    fn a_filters_clauses_all_stay_while_it_runs_even_beyond_the_budget() {
        let (conn, f) = table();
        let mut c = MemberCache::default();
        c.budget = 1500; // less than one bitmap of 10,000 bits
        let rewritten = c
            .rewrite(&conn, &super::super::Canceller::new(conn.interrupt_handle()), "t", &f)
            .unwrap()
            .expect("two expensive clauses are cached");
        assert_eq!(rewritten.matches("__seglens_clause_").count(), 2, "{rewritten}");
        assert_eq!(count(&conn, &rewritten), count(&conn, &f.sql));
        // The next filter's clauses push them out.
        let (_, g) = table();
        let g = super::super::filter::compile(
            &g.sql.replace("t.id + 1", "t.id + 2"),
            &Default::default(),
            &Default::default(),
            &Default::default(),
        )
        .unwrap();
        let rewritten =
            c.rewrite(&conn, &super::super::Canceller::new(conn.interrupt_handle()), "t", &g).unwrap().unwrap();
        assert_eq!(count(&conn, &rewritten), count(&conn, &g.sql));
        assert_eq!(c.entries.len(), 2, "{}", c.summary());
    }

    #[test]
    fn the_tally_counts_every_combination_of_outcomes_with_nulls() {
        let conn = Connection::new(duckdb::Connection::open_in_memory().unwrap());
        conn.setup()
            .execute_batch(
                "CREATE TABLE t AS SELECT i, CASE WHEN i % 7 = 0 THEN NULL ELSE i % 3 END AS d FROM range(10000) r(i)",
            )
            .unwrap();
        let tally = Tallier::register(&conn).expect("registers");
        let args = ["CAST(d = 1 AS BOOLEAN)".to_string(), "CAST(i < 2500 AS BOOLEAN)".to_string()];
        let sql = tally.select("rowid", &args, "t");
        let words = 10_000 / 64 + 1;
        let sources = || vec![Source::Argument { record: true }, Source::Argument { record: false }];
        let counted = tally
            .run(sources(), words, || Ok(conn.query_row(&sql, [], |r| Ok((r.get(0)?, r.get(1)?))).unwrap()))
            .unwrap()
            .expect("the cells add up to the count");
        // The first clause's outcome, recorded by row id (row ids of this table are 0..10000).
        let (yes, null) = counted.recorded[0].clone().expect("recorded and checked");
        assert!(counted.recorded[1].is_none(), "not asked for");
        let rows = |bits: &[u64]| (0..10_000usize).filter(|&r| bits[r / 64] >> (r % 64) & 1 == 1).collect::<Vec<_>>();
        let ids = |filter: &str| -> Vec<usize> {
            let mut s = conn.prepare(&format!("SELECT rowid FROM t WHERE {filter} ORDER BY rowid")).unwrap();
            s.query_map([], |r| r.get::<_, i64>(0)).unwrap().map(|r| r.unwrap() as usize).collect()
        };
        assert_eq!(rows(&yes), ids("d = 1"));
        assert_eq!(rows(&null), ids("d IS NULL"));
        // The same counts without recording (a view has no row ids: any constant in its place).
        let plain = tally.select("0", &args, "t");
        let again = tally
            .run(vec![Source::Argument { record: false }, Source::Argument { record: false }], 0, || {
                Ok(conn.query_row(&plain, [], |r| Ok((r.get(0)?, r.get(1)?))).unwrap())
            })
            .unwrap()
            .expect("adds up");
        assert_eq!(again.cells, counted.cells);
        let cells = counted.cells;
        for (cell, &n) in cells.iter().enumerate() {
            let cond = |state: usize, expr: &str| match state {
                0 => format!("({expr}) = false"),
                1 => format!("({expr}) = true"),
                _ => format!("({expr}) IS NULL"),
            };
            let want = count(&conn, &format!("{} AND {}", cond(cell % 3, "d = 1"), cond(cell / 3, "i < 2500")));
            assert_eq!(n as i64, want, "cell {cell}");
        }
        assert!(cells.iter().filter(|&&n| n > 0).count() >= 5, "{cells:?}");
    }

    /// NULL slots of DuckDB's vectors may hold anything (nothing writes them): the functions read
    /// a value only where the validity mask says the row is not NULL, and refuse a NULL row id
    /// rather than use whatever its slot holds. (A NULL constant never reaches them: DuckDB
    /// answers NULL for a function of a constant NULL without calling it.)
    #[test]
    fn the_functions_read_no_slot_of_a_null_row() {
        let conn = Connection::new(duckdb::Connection::open_in_memory().unwrap());
        conn.setup()
            .execute_batch(
                "CREATE TABLE t AS SELECT i, CASE WHEN i % 3 = 0 THEN NULL ELSE i * 7 END AS k FROM range(5000) r(i)",
            )
            .unwrap();
        let query = |sql: &str| Ok(conn.query_row(sql, [], |r| Ok((r.get(0)?, r.get(1)?))).unwrap());
        // The tally: two clauses NULL on different rows, both recorded.
        let tally = Tallier::register(&conn).expect("registers");
        let clauses =
            ["CASE WHEN i % 2 = 0 THEN NULL ELSE i % 3 = 1 END", "CASE WHEN i % 5 = 0 THEN NULL ELSE i < 2500 END"];
        let args: Vec<String> = clauses.iter().map(|c| c.to_string()).collect();
        let sql = tally.select("rowid", &args, "t");
        let words = 5000 / 64 + 1;
        let sources = || vec![Source::Argument { record: true }, Source::Argument { record: true }];
        let counted = tally.run(sources(), words, || query(&sql)).unwrap().expect("adds up");
        let states = [("= false", 0), ("= true", 1), ("IS NULL", 2)];
        for (a, i) in states {
            for (b, j) in states {
                let want = count(&conn, &format!("({}) {a} AND ({}) {b}", clauses[0], clauses[1]));
                assert_eq!(counted.cells[i + 3 * j] as i64, want, "{a}, {b}");
            }
        }
        for (c, recorded) in clauses.iter().zip(&counted.recorded) {
            let (yes, null) = recorded.clone().expect("recorded");
            let ones = |bits: &[u64]| bits.iter().map(|w| i64::from(w.count_ones())).sum::<i64>();
            assert_eq!(ones(&yes), count(&conn, c), "{c}");
            assert_eq!(ones(&null), count(&conn, &format!("({c}) IS NULL")), "{c}");
        }
        // A NULL row id is refused, not read.
        let sql = tally.select("CASE WHEN i = 7 THEN NULL ELSE rowid END", &args, "t");
        let err = tally
            .run(sources(), words, || {
                conn.query_row(&sql, [], |r| Ok((r.get(0)?, r.get(1)?))).map_err(crate::engine::plain_error)
            })
            .err()
            .expect("a NULL row id fails the query");
        assert!(err.to_string().contains("NULL row id"), "{err}");
        // The per-chunk scan: NULL keys arrive as not valid, every other key as it is.
        let eacher = Eacher::register(&conn).expect("registers");
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let into = seen.clone();
        let work: EachChunk = Arc::new(move |rows, keys, valid| {
            let mut seen = into.lock().unwrap();
            seen.extend(rows.iter().zip(keys).zip(valid).map(|((&r, &k), &ok)| (r, ok.then_some(k))));
        });
        assert!(eacher.run(work, || query(&eacher.select("k", "t"))).unwrap(), "every row");
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 5000);
        assert_eq!(seen.iter().filter(|(_, k)| k.is_none()).count(), 5000 / 3 + 1);
        for &(r, k) in seen.iter().filter(|(r, _)| r % 3 != 0) {
            assert_eq!(k, Some(r * 7), "row {r}");
        }
    }

    #[test]
    fn recorded_outcomes_read_back_give_the_same_cells_also_over_row_ids_with_gaps() {
        let conn = Connection::new(duckdb::Connection::open_in_memory().unwrap());
        // Deleted rows leave gaps in the row ids a scan hands over (the per-row path), the rest
        // run on by one (the shifted-words path).
        conn.setup()
            .execute_batch(
                "CREATE TABLE t AS SELECT i, CASE WHEN i % 7 = 0 THEN NULL ELSE i % 3 END AS d FROM range(10000) r(i);
                 DELETE FROM t WHERE i % 5 = 1 OR i BETWEEN 3000 AND 3100;",
            )
            .unwrap();
        let tally = Tallier::register(&conn).expect("registers");
        let args = ["CAST(d = 1 AS BOOLEAN)".to_string(), "CAST(i < 2500 AS BOOLEAN)".to_string()];
        let words = 10_000 / 64 + 1;
        let run = |sources: Vec<Source>, args: &[String]| {
            let sql = tally.select("rowid", args, "t");
            tally
                .run(sources, words, || Ok(conn.query_row(&sql, [], |r| Ok((r.get(0)?, r.get(1)?))).unwrap()))
                .unwrap()
                .expect("adds up")
        };
        let evaluated = run(vec![Source::Argument { record: true }, Source::Argument { record: true }], &args);
        assert_eq!(evaluated.cells.iter().sum::<u64>(), 10_000 - 2_000 - 81, "{:?}", evaluated.cells);
        let recorded = |i: usize| {
            let (yes, null) = evaluated.recorded[i].clone().expect("recorded");
            Source::Recorded { yes: Arc::new(yes), null: Arc::new(null) }
        };
        let one_read = run(vec![recorded(0), Source::Argument { record: false }], &args[1..]);
        assert_eq!(one_read.cells, evaluated.cells);
        let both_read = run(vec![recorded(0), recorded(1)], &[]);
        assert_eq!(both_read.cells, evaluated.cells);
    }

    #[test]
    fn a_rowid_column_that_is_not_a_row_id_turns_caching_off() {
        let conn = Connection::new(duckdb::Connection::open_in_memory().unwrap());
        conn.setup()
            .execute_batch("CREATE TABLE t AS SELECT i AS id, i * 1000003 AS rowid FROM range(1000) r(i)")
            .unwrap();
        let mut c = MemberCache::default();
        assert!(
            c.marker(&conn, &Canceller::new(conn.interrupt_handle()), "t").unwrap().is_none(),
            "rowid up to 10^9 for 1,000 rows"
        );
        // Duplicates within bounds: the first bitmap disagrees with the count.
        conn.setup().execute_batch("CREATE TABLE u AS SELECT i AS id, i % 10 AS rowid FROM range(1000) r(i)").unwrap();
        let mut c = MemberCache::default();
        let m =
            c.marker(&conn, &Canceller::new(conn.interrupt_handle()), "u").unwrap().expect("bounds look like row ids");
        let sql = format!("{} id < 500", m.select("u"));
        let filled = m.fill(|| Ok(conn.query_row(&sql, [], |r| Ok((r.get(0)?, r.get(1)?))).unwrap())).unwrap();
        assert!(filled.is_none(), "500 rows but 10 bits: not cached");
    }

    #[test]
    fn dropping_the_cache_frees_bitmaps_its_lookup_functions_hold() {
        let (conn, f) = table();
        let mut c = MemberCache::default();
        c.rewrite(&conn, &super::super::Canceller::new(conn.interrupt_handle()), "t", &f).unwrap().unwrap();
        let lookups = c.lookups.clone();
        assert_eq!(lookups.read().unwrap().len(), 2);
        drop(c);
        assert!(lookups.read().unwrap().is_empty());
    }

    #[test]
    fn evicts_the_least_recently_used_beyond_the_budget() {
        let words = BUDGET / 8 / 4; // four bitmaps fill the budget
        let mut c = MemberCache::default();
        for name in ["a", "b", "c", "d"] {
            c.insert(name, vec![0; words], 0);
        }
        assert_eq!(c.entries.len(), 4);
        let held = c.get("a").unwrap();
        c.insert("e", vec![0; words], 0);
        let kept: Vec<&str> = c.entries.iter().map(|e| e.expr.as_str()).collect();
        assert_eq!(kept, ["a", "c", "d", "e"], "b was the least recently used");
        c.insert("f", vec![0; 3 * words], 0);
        assert!(c.get("a").is_none() && c.get("e").is_some() && c.get("f").is_some(), "{}", c.summary());
        assert_eq!(held.len(), words, "a caller's bitmap outlives its eviction");
        assert!(c.bytes() <= BUDGET);
    }

    #[test]
    fn bitmaps_cached_after_an_overlap_ends_count_against_the_budget() {
        let words = 16;
        let mut c = MemberCache::default();
        c.budget = 4 * words * 8; // four bitmaps
        c.begin_overlap();
        for name in ["s1", "s2", "s3", "s4", "s5", "s6"] {
            c.insert(name, vec![0; words], 0);
        }
        c.end_overlap();
        assert_eq!(c.entries.len(), 6, "the overlap's six stay, beyond the budget: {}", c.summary());
        // Then the library is measured: a hundred more bitmaps, one at a time.
        for i in 0..100 {
            c.insert(&format!("m{i}"), vec![0; words], 0);
        }
        let kept: Vec<&str> = c.entries.iter().map(|e| e.expr.as_str()).collect();
        assert_eq!(kept, ["s1", "s2", "s3", "s4", "s5", "s6", "m99"], "only the one in use beside the overlap's");
        // The next overlap uses two of them: the other four may go, and what follows it too.
        c.begin_overlap();
        c.get("s1");
        c.get("s2");
        c.end_overlap();
        for i in 0..10 {
            c.insert(&format!("n{i}"), vec![0; words], 0);
        }
        let kept: Vec<&str> = c.entries.iter().map(|e| e.expr.as_str()).collect();
        assert_eq!(kept, ["s1", "s2", "n8", "n9"]);
        assert!(c.bytes() <= c.budget, "{}", c.summary());
    }

    #[test]
    fn the_latest_overlaps_bitmaps_stay_beyond_the_budget() {
        let words = BUDGET / 8 / 4;
        let mut c = MemberCache::default();
        c.insert("old", vec![0; words], 0);
        c.begin_overlap();
        for name in ["s1", "s2", "s3", "s4", "s5", "s6"] {
            c.insert(name, vec![0; words], 0);
        }
        assert!(c.get("old").is_none(), "older entries go first");
        assert_eq!(c.entries.len(), 6, "six segments of one overlap, 1.5x the budget: {}", c.summary());
        // The next overlap uses three of them: the other three may go.
        c.begin_overlap();
        for name in ["s1", "s2", "s3"] {
            c.get(name);
        }
        c.insert("s7", vec![0; words], 0);
        let kept: Vec<&str> = c.entries.iter().map(|e| e.expr.as_str()).collect();
        assert_eq!(kept, ["s1", "s2", "s3", "s7"]);
    }
}
