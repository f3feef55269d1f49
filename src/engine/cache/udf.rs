//! The DuckDB scalar functions behind the member cache, and all of seglens' `unsafe`: each
//! reads DuckDB's row-id vector and writes its output vector through raw slices of the chunk's
//! length. Kept in one file so the unsafe code can be audited in one place.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use crate::engine::sandbox::ReadOnly as Connection;
use duckdb::core::{DataChunkHandle, LogicalTypeHandle, LogicalTypeId};
use duckdb::vscalar::{ScalarFunctionSignature, VScalar};
use duckdb::vtab::arrow::WritableVector;

use super::Bits;
use crate::engine::{EngineError, Result, ident};

/// Function names are unique in the process: connections to one database share its catalog.
pub(super) static NEXT_FUNCTION: AtomicU64 = AtomicU64::new(1);

/// What the running query's function works on: set by the caller for the query's duration
/// (`while_running`), read by the function on DuckDB's threads (`current`).
pub(super) type Slot<T> = Arc<RwLock<Option<T>>>;

/// The value in `slot` while a query of the function `what` runs; an error outside one.
fn current<T: Clone>(slot: &Slot<T>, what: &str) -> std::result::Result<T, Box<dyn std::error::Error>> {
    let value = slot.read().map_err(|_| format!("{what} poisoned"))?.clone();
    Ok(value.ok_or_else(|| format!("a {what} function ran outside its query"))?)
}

/// Runs `query` with `value` in `slot`, emptied again whatever the query returns.
fn while_running<T, R>(slot: &Slot<T>, value: T, query: impl FnOnce() -> Result<R>) -> Result<R> {
    *slot.write().map_err(|_| poisoned())? = Some(value);
    let result = query();
    slot.write().map_err(|_| poisoned())?.take();
    result
}

/// Bitmaps of clauses by lookup function number, shared with the functions: an evicted bitmap
/// is freed although DuckDB cannot unregister its function.
pub(super) type Lookups = Arc<RwLock<HashMap<u64, Bits>>>;

/// `__seglens_clause_N(rowid) -> BOOLEAN`: is the row in cached clause N's bitmap?
pub(super) struct Lookup;

impl VScalar for Lookup {
    type State = (u64, Lookups);

    fn invoke(
        (n, lookups): &Self::State,
        input: &mut DataChunkHandle,
        output: &mut dyn WritableVector,
    ) -> std::result::Result<(), Box<dyn std::error::Error>> {
        let bits = lookups.read().map_err(|_| "member cache poisoned")?.get(n).cloned();
        let bits = bits.ok_or("a cached clause was dropped while in use; run the query again")?;
        let n = input.len();
        let rows = input.flat_vector(0);
        let rows = unsafe { rows.as_slice_with_len::<i64>(n) };
        let mut out = output.flat_vector();
        let out = unsafe { out.as_mut_slice_with_len::<bool>(n) };
        for (o, &r) in out.iter_mut().zip(rows) {
            let r = r as usize;
            *o = bits.get(r / 64).is_some_and(|w| w >> (r % 64) & 1 == 1);
        }
        Ok(())
    }

    fn signatures() -> Vec<ScalarFunctionSignature> {
        vec![ScalarFunctionSignature::exact(
            vec![LogicalTypeHandle::from(LogicalTypeId::Bigint)],
            LogicalTypeHandle::from(LogicalTypeId::Boolean),
        )]
    }
}

/// The bitmap a running mark query fills, and whether a row id fell outside it.
#[derive(Default)]
pub(super) struct Filling {
    pub(super) bits: Vec<AtomicU64>,
    outside: AtomicBool,
}

pub(super) type Target = Slot<Arc<Filling>>;

/// `__seglens_mark_N(rowid) -> BIGINT`: sets the row's bit in the bitmap being filled; returns 1.
pub(super) struct Mark;

impl VScalar for Mark {
    type State = Target;

    fn invoke(
        target: &Self::State,
        input: &mut DataChunkHandle,
        output: &mut dyn WritableVector,
    ) -> std::result::Result<(), Box<dyn std::error::Error>> {
        let n = input.len();
        let filling = current(target, "seglens mark")?;
        let rows = input.flat_vector(0);
        let rows = unsafe { rows.as_slice_with_len::<i64>(n) };
        // DuckDB runs the function on several threads at once. Row ids of a chunk mostly ascend:
        // bits are gathered per word and OR-ed in once per word.
        let set = |(word, bits): (usize, u64)| match filling.bits.get(word) {
            Some(w) => _ = w.fetch_or(bits, Ordering::Relaxed),
            None => filling.outside.store(true, Ordering::Relaxed),
        };
        let mut pending = (usize::MAX, 0);
        for &r in rows {
            let r = r as usize;
            if r / 64 != pending.0 {
                if pending.1 != 0 {
                    set(pending);
                }
                pending = (r / 64, 0);
            }
            pending.1 |= 1 << (r % 64);
        }
        if pending.1 != 0 {
            set(pending);
        }
        let mut out = output.flat_vector();
        unsafe { out.as_mut_slice_with_len::<i64>(n) }.fill(1);
        Ok(())
    }

    fn signatures() -> Vec<ScalarFunctionSignature> {
        vec![ScalarFunctionSignature::exact(
            vec![LogicalTypeHandle::from(LogicalTypeId::Bigint)],
            LogicalTypeHandle::from(LogicalTypeId::Bigint),
        )]
    }

    fn volatile() -> bool {
        true
    }
}

/// A registered mark function and the size of the bitmaps it fills.
#[derive(Clone)]
pub struct Marker {
    pub(super) name: String,
    pub(super) target: Target,
    pub(super) words: usize,
}

impl Marker {
    /// Words of the bitmaps over this table's row ids.
    pub fn words(&self) -> usize {
        self.words
    }

    /// The SQL that fills a bitmap with the rows of `table` where `expr` holds:
    /// `SELECT count(*), sum(mark(rowid)) FROM table WHERE <expr>`, expr appended by the caller.
    pub fn select(&self, table: &str) -> String {
        format!("SELECT count(*), sum({}(rowid))::BIGINT FROM {} WHERE ", self.name, ident(table))
    }

    /// Runs `query` (the statement from `select`, returning its two figures) with this marker
    /// filling a fresh bitmap; returns the bitmap and its member count, or None when the bitmap
    /// does not agree with DuckDB's count (row ids that are not what the cache assumes).
    pub fn fill(&self, query: impl FnOnce() -> Result<(i64, Option<i64>)>) -> Result<Option<(Vec<u64>, u64)>> {
        let filling =
            Arc::new(Filling { bits: (0..self.words).map(|_| AtomicU64::new(0)).collect(), ..Default::default() });
        let (count, marked) = while_running(&self.target, filling.clone(), query)?;
        let outside = filling.outside.load(Ordering::Relaxed);
        let bits: Vec<u64> = filling.bits.iter().map(|w| w.load(Ordering::Relaxed)).collect();
        let set: u64 = bits.iter().map(|w| w.count_ones() as u64).sum();
        let agrees = !outside && marked.unwrap_or(0) == count && set == count as u64;
        Ok(agrees.then_some((bits, set)))
    }
}

/// How a tally learns a clause's outcome.
pub enum Source {
    /// From the next BOOLEAN argument of the function; recorded by row id when `record`.
    Argument { record: bool },
    /// From an earlier recording: the rows where the clause holds, and where it is NULL.
    Recorded { yes: Bits, null: Bits },
}

/// A clause of a running tally: a recording being filled for an argument, or one being read.
enum Clause {
    Argument(Option<Recording>),
    Recorded { yes: Bits, null: Bits },
}

/// One clause's outcome over the table, filled by the tally while it counts: one bit per row
/// id where the clause holds, and one where it is NULL.
struct Recording {
    yes: Vec<AtomicU64>,
    null: Vec<AtomicU64>,
}

impl Recording {
    fn new(words: usize) -> Recording {
        let zeros = || (0..words).map(|_| AtomicU64::new(0)).collect();
        Recording { yes: zeros(), null: zeros() }
    }

    fn load(&self) -> (Vec<u64>, Vec<u64>) {
        let load = |words: &[AtomicU64]| words.iter().map(|w| w.load(Ordering::Relaxed)).collect();
        (load(&self.yes), load(&self.null))
    }
}

/// What a running tally fills: rows per combination of the clauses' outcomes (cell
/// `Σ state_i · 3^i` with false 0, true 1, NULL 2), and the recordings it was asked for.
pub(super) struct TallyRun {
    clauses: Vec<Clause>,
    cells: Vec<AtomicU64>,
    /// A row id fell outside the recordings' bitmaps: they are not kept.
    outside: AtomicBool,
}

pub(super) type TallyTarget = Slot<Arc<TallyRun>>;

/// Is bit `r` set? (false past the end)
fn bit(bits: &[u64], r: usize) -> u64 {
    bits.get(r / 64).map_or(0, |w| (w >> (r % 64)) & 1)
}

/// The bits of a block's rows: bit i of the result is row `rows[i]`'s. A table scan hands over
/// row ids that run on by one (`first..`): then the block is two words shifted, else a lookup
/// per row.
fn gather(bits: &[u64], rows: &[i64], first: Option<usize>) -> u64 {
    match first {
        Some(r) => {
            let word = |i: usize| bits.get(i).copied().unwrap_or(0);
            let (w, off) = (r / 64, r % 64);
            let high = if off == 0 { 0 } else { word(w + 1) << (64 - off) };
            ((word(w) >> off) | high) & (u64::MAX >> (64 - rows.len()))
        }
        None => rows.iter().enumerate().fold(0, |acc, (i, &r)| acc | bit(bits, r as usize) << i),
    }
}

/// The first row id of a block whose row ids run on by one, else None.
fn run_start(rows: &[i64]) -> Option<usize> {
    let first = *rows.first()?;
    (first >= 0 && rows.iter().zip(first..).all(|(&r, want)| r == want)).then_some(first as usize)
}

/// Adds `rows` (a bit per row of a block) to the cells of their combinations of outcomes:
/// `planes` holds per clause the block's rows where it holds and where it is NULL. Splitting
/// the rows three ways per clause and counting what is left with a popcount costs a few
/// operations per block of 64 rows, where a cell index per row costs a few per row and clause.
fn count_block(planes: &[(u64, u64)], rows: u64, cell: usize, weight: usize, cells: &mut [u64]) {
    let Some((&(yes, null), rest)) = planes.split_first() else {
        if let Some(c) = cells.get_mut(cell) {
            *c += u64::from(rows.count_ones());
        }
        return;
    };
    for (state, set) in [(0, !(yes | null)), (1, yes), (2, null)] {
        let r = rows & set;
        if r != 0 {
            count_block(rest, r, cell + state * weight, weight * 3, cells);
        }
    }
}

/// `__seglens_tally_N(rowid, k0, k1, …) -> BOOLEAN`: adds each row to the cell of its combination
/// of clause outcomes in the funnel being counted and returns true. A clause's outcome comes from
/// its argument (recorded by row id when asked) or from an earlier recording looked up by row id,
/// so a funnel where the user nudged one clause evaluates that one only. A funnel counts its
/// outcome table in the scan this way, not with a GROUP BY over the clauses (measured at 10M
/// customers: the hash aggregate over k booleans costs about 1.5 size queries on top of
/// evaluating the clauses).
struct Tally;

impl VScalar for Tally {
    type State = TallyTarget;

    fn invoke(
        target: &Self::State,
        input: &mut DataChunkHandle,
        output: &mut dyn WritableVector,
    ) -> std::result::Result<(), Box<dyn std::error::Error>> {
        let run = current(target, "seglens tally")?;
        let n = input.len();
        let chunk = input.get_ptr();
        let arguments = run.clauses.iter().filter(|c| matches!(c, Clause::Argument(_))).count();
        if input.num_columns() != arguments + 1 {
            return Err("a seglens tally was called with other arguments than its funnel's".into());
        }
        let rowids = input.flat_vector(0);
        let rowids = unsafe { rowids.as_slice_with_len::<i64>(n) };
        // Each argument's values and validity words.
        let columns: Vec<(&[u8], Option<&[u64]>)> = (0..arguments)
            .map(|a| {
                // SAFETY: DuckDB flattens a C API scalar function's input chunk before the call
                // (`CAPIScalarFunction`), and every argument after the row id is BOOLEAN (the
                // signatures): the column holds `n` one-byte values, 0 or 1 (C++ `bool`), and its
                // validity mask is null (all valid) or has a bit for each of the `n` rows. A NULL
                // row's byte is read but not used. The chunk outlives this call.
                unsafe {
                    let v = duckdb::ffi::duckdb_data_chunk_get_vector(chunk, a as u64 + 1);
                    let data = std::slice::from_raw_parts(duckdb::ffi::duckdb_vector_get_data(v) as *const u8, n);
                    let valid = duckdb::ffi::duckdb_vector_get_validity(v);
                    (data, (!valid.is_null()).then(|| std::slice::from_raw_parts(valid, n.div_ceil(64))))
                }
            })
            .collect();
        // Counted per chunk first: threads meet on the shared cells once per chunk, not per row.
        let mut local = vec![0u64; run.cells.len()];
        let mut planes = vec![(0u64, 0u64); run.clauses.len()];
        for (block, rows) in rowids.chunks(64).enumerate() {
            let start = block * 64;
            let live = u64::MAX >> (64 - rows.len());
            let first = run_start(rows);
            let mut argument = 0;
            for (clause, plane) in run.clauses.iter().zip(planes.iter_mut()) {
                *plane = match clause {
                    Clause::Argument(recording) => {
                        let (data, valid) = columns[argument];
                        argument += 1;
                        let null = valid.map_or(0, |m| !m[block]) & live;
                        // Without branches on the values: they are mispredicted on about every
                        // other row (measured: they cost more than the rest of the funnel).
                        let set = data[start..start + rows.len()]
                            .iter()
                            .enumerate()
                            .fold(0u64, |w, (i, &d)| w | (u64::from(d & 1) << i));
                        let yes = set & !null;
                        if let Some(recording) = recording {
                            record(recording, rows, first, (yes, null), &run.outside);
                        }
                        (yes, null)
                    }
                    Clause::Recorded { yes, null } => (gather(yes, rows, first), gather(null, rows, first)),
                };
            }
            count_block(&planes, live, 0, 1, &mut local);
        }
        for (cell, l) in run.cells.iter().zip(local) {
            if l > 0 {
                cell.fetch_add(l, Ordering::Relaxed);
            }
        }
        let mut out = output.flat_vector();
        unsafe { out.as_mut_slice_with_len::<bool>(n) }.fill(true);
        Ok(())
    }

    /// The row id (BIGINT; any constant when nothing is recorded nor read), then up to 6 clauses.
    fn signatures() -> Vec<ScalarFunctionSignature> {
        (0..=TALLY_MAX_CLAUSES)
            .map(|k| {
                let mut args = vec![LogicalTypeHandle::from(LogicalTypeId::Bigint)];
                args.extend((0..k).map(|_| LogicalTypeHandle::from(LogicalTypeId::Boolean)));
                ScalarFunctionSignature::exact(args, LogicalTypeHandle::from(LogicalTypeId::Boolean))
            })
            .collect()
    }

    fn volatile() -> bool {
        true
    }
}

/// Sets the recording's bits for a block's rows (`rows` their row ids, `first` as `run_start`
/// gives it; `planes` a bit per row of the block where the clause holds and where it is NULL).
fn record(recording: &Recording, rows: &[i64], first: Option<usize>, planes: (u64, u64), outside: &AtomicBool) {
    let set = |words: &[AtomicU64], word: usize, bits: u64| {
        if bits != 0 {
            match words.get(word) {
                Some(w) => _ = w.fetch_or(bits, Ordering::Relaxed),
                None => outside.store(true, Ordering::Relaxed),
            }
        }
    };
    for (words, plane) in [(&recording.yes, planes.0), (&recording.null, planes.1)] {
        match first {
            // Row ids that run on by one: the block's bits shifted into one or two words.
            Some(r) => {
                let (w, off) = (r / 64, r % 64);
                set(words, w, plane << off);
                if off > 0 {
                    set(words, w + 1, plane >> (64 - off));
                }
            }
            None => {
                for (i, &r) in rows.iter().enumerate() {
                    set(words, r as usize / 64, ((plane >> i) & 1) << (r as usize % 64));
                }
            }
        }
    }
}

/// A registered tally function.
#[derive(Clone)]
pub struct Tallier {
    pub(super) name: String,
    pub(super) target: TallyTarget,
}

/// Funnels of at most this many clauses are tallied (3^6 = 729 cells); longer ones are counted
/// with a GROUP BY.
pub const TALLY_MAX_CLAUSES: usize = 6;

/// Clause `clause`'s outcome in tally cell `cell` (`Σ state_i · 3^i` with false 0, true 1, NULL
/// 2): Some(value), or None for NULL.
pub fn cell_state(cell: usize, clause: usize) -> Option<bool> {
    match cell / 3usize.pow(clause as u32) % 3 {
        0 => Some(false),
        1 => Some(true),
        _ => None,
    }
}

/// What a tally counted: rows per cell (see `TallyRun`), and per clause the outcome it recorded
/// (rows where it holds, rows where it is NULL) when asked to and the bits agree with the cells.
pub struct Counted {
    pub cells: Vec<u64>,
    pub recorded: Vec<Option<(Vec<u64>, Vec<u64>)>>,
}

impl Tallier {
    /// Registers the tally function on `conn`; None when DuckDB refuses it.
    pub fn register(conn: &Connection) -> Option<Tallier> {
        let name = format!("__seglens_tally_{}", NEXT_FUNCTION.fetch_add(1, Ordering::Relaxed));
        let target = TallyTarget::default();
        conn.register_scalar_function_with_state::<Tally>(&name, &target).ok()?;
        Some(Tallier { name, target })
    }

    /// `SELECT count(*), count(tally(rowid, args))::BIGINT FROM table`: the statement `run`
    /// expects, `args` the BOOLEAN arguments of the `Source::Argument` clauses in order. `rowid`
    /// is the row id column when outcomes are recorded or read, else any BIGINT constant.
    pub fn select(&self, rowid: &str, args: &[String], table: &str) -> String {
        let args: String = args.iter().map(|a| format!(", {a}")).collect();
        format!("SELECT count(*), count({}({rowid}{args}))::BIGINT FROM {table}", self.name)
    }

    /// Runs `query` (the statement from `select`) with a fresh table of cells for `sources`,
    /// recordings over `words` words of row ids. None when the cells do not add up to DuckDB's
    /// count; a recording is dropped when its bits do not agree with the cells (row ids that are
    /// not what the cache assumes).
    pub fn run(
        &self,
        sources: Vec<Source>,
        words: usize,
        query: impl FnOnce() -> Result<(i64, Option<i64>)>,
    ) -> Result<Option<Counted>> {
        let k = sources.len();
        let clauses = sources
            .into_iter()
            .map(|s| match s {
                Source::Argument { record } => Clause::Argument(record.then(|| Recording::new(words))),
                Source::Recorded { yes, null } => Clause::Recorded { yes, null },
            })
            .collect();
        let run = Arc::new(TallyRun {
            clauses,
            cells: (0..3usize.pow(k as u32)).map(|_| AtomicU64::new(0)).collect(),
            outside: AtomicBool::new(false),
        });
        let (count, tallied) = while_running(&self.target, run.clone(), query)?;
        let cells: Vec<u64> = run.cells.iter().map(|c| c.load(Ordering::Relaxed)).collect();
        if tallied.unwrap_or(0) != count || cells.iter().sum::<u64>() != count as u64 {
            return Ok(None);
        }
        let outside = run.outside.load(Ordering::Relaxed);
        // Rows where clause `i` is in `state`, by the cells.
        let in_state = |i: usize, state: Option<bool>| -> u64 {
            cells.iter().enumerate().filter(|&(cell, _)| cell_state(cell, i) == state).map(|(_, &n)| n).sum()
        };
        let ones = |bits: &[u64]| bits.iter().map(|w| u64::from(w.count_ones())).sum::<u64>();
        let recorded = run
            .clauses
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let Clause::Argument(Some(recording)) = c else { return None };
                let (yes, null) = recording.load();
                (!outside && ones(&yes) == in_state(i, Some(true)) && ones(&null) == in_state(i, None))
                    .then_some((yes, null))
            })
            .collect();
        Ok(Some(Counted { cells, recorded }))
    }
}

/// The work a scan hands each chunk of `(rowid, key)` pairs: row ids, integer keys, and which
/// keys are not NULL. Called on DuckDB's threads, several at once.
pub type EachChunk = Arc<dyn Fn(&[i64], &[i64], &[bool]) + Send + Sync>;

type EachTarget = Slot<EachChunk>;

/// `__seglens_each_N(rowid, key) -> BIGINT`: passes each chunk to the work of the running query
/// (`Eacher::run`); returns 1. So work over every row (a movement's lookups) runs inside DuckDB's
/// parallel scan, and no row leaves DuckDB.
struct Each;

impl VScalar for Each {
    type State = EachTarget;

    fn invoke(
        target: &Self::State,
        input: &mut DataChunkHandle,
        output: &mut dyn WritableVector,
    ) -> std::result::Result<(), Box<dyn std::error::Error>> {
        let work = current(target, "seglens scan")?;
        let n = input.len();
        let rows = input.flat_vector(0);
        let rows = unsafe { rows.as_slice_with_len::<i64>(n) };
        let keys = input.flat_vector(1);
        let valid: Vec<bool> = (0..n).map(|i| !keys.row_is_null(i as u64)).collect();
        // A NULL key's slot holds whatever DuckDB left there; `valid` says not to read it.
        let keys = unsafe { keys.as_slice_with_len::<i64>(n) };
        work(rows, keys, &valid);
        let mut out = output.flat_vector();
        unsafe { out.as_mut_slice_with_len::<i64>(n) }.fill(1);
        Ok(())
    }

    fn signatures() -> Vec<ScalarFunctionSignature> {
        vec![ScalarFunctionSignature::exact(
            vec![LogicalTypeHandle::from(LogicalTypeId::Bigint), LogicalTypeHandle::from(LogicalTypeId::Bigint)],
            LogicalTypeHandle::from(LogicalTypeId::Bigint),
        )]
    }

    fn volatile() -> bool {
        true
    }
}

/// A registered per-chunk scan function.
#[derive(Clone)]
pub struct Eacher {
    name: String,
    target: EachTarget,
}

impl Eacher {
    pub fn register(conn: &Connection) -> Option<Eacher> {
        let name = format!("__seglens_each_{}", NEXT_FUNCTION.fetch_add(1, Ordering::Relaxed));
        let target = EachTarget::default();
        conn.register_scalar_function_with_state::<Each>(&name, &target).ok()?;
        Some(Eacher { name, target })
    }

    /// `SELECT count(*), sum(each(rowid, key))::BIGINT FROM table`: the statement `run` expects.
    pub fn select(&self, key: &str, table: &str) -> String {
        format!("SELECT count(*), sum({}(rowid, {key}))::BIGINT FROM {table}", self.name)
    }

    /// Runs `query` (the statement from `select`) with `work` given every chunk; false when the
    /// function did not see every row DuckDB counted.
    pub fn run(&self, work: EachChunk, query: impl FnOnce() -> Result<(i64, Option<i64>)>) -> Result<bool> {
        let (count, seen) = while_running(&self.target, work, query)?;
        Ok(seen.unwrap_or(0) == count)
    }
}

pub(super) fn poisoned() -> EngineError {
    EngineError::Config("member cache poisoned".into())
}
