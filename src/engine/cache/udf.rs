//! The DuckDB scalar functions behind the member cache, and all of the engine's `unsafe` (the
//! only other block is `_exit` in cli/signal.rs): each reads DuckDB's input vectors and writes its
//! output vector through raw slices of the chunk's length. Kept in one file so the unsafe code can
//! be audited in one place; `clippy::undocumented_unsafe_blocks` asks each block for its reason.
//!
//! What every block relies on, from DuckDB's C API (`CAPIScalarFunction`, scalar_function-c.cpp):
//! - the input chunk is flattened before the call, so each column is a flat vector of
//!   `STANDARD_VECTOR_SIZE` (2048) slots or more, and the chunk's `n` rows are its first `n`;
//! - each column's physical type is the one the function's signatures declare (BIGINT: `i64`,
//!   BOOLEAN: a one-byte C++ `bool`), and so is the output vector's, also flat and as large;
//! - a NULL row's slot holds whatever the buffer held (a flattened NULL constant is a fresh,
//!   uninitialised buffer): it is read only after the validity mask says the row is not NULL;
//! - the validity mask is null (every row valid) or a buffer of 64-bit words covering the
//!   vector's capacity, every word initialised (all valid first, then NULL rows cleared);
//! - output slots may be uninitialised: they are written through `MaybeUninit`, never read.
//!
//! Functions are registered on the connection and never unregistered: DuckDB's C API has no call
//! that removes a scalar function, and the sandbox allows no DROP. What stays behind is small
//! and bounded: the mark, tally and scan functions are registered once per engine, a lookup
//! function once per clause the cache takes in (its bitmap is freed on eviction, see `Lookups`,
//! leaving a catalog entry of a few hundred bytes per clause cached in a session), and all of
//! them go with the database instance when the engine and its clones are dropped.

use std::collections::HashMap;
use std::error::Error;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use crate::engine::conn::sandbox::ReadOnly as Connection;
use duckdb::core::{DataChunkHandle, LogicalTypeHandle, LogicalTypeId};
use duckdb::vscalar::{ScalarFunctionSignature, VScalar};
use duckdb::vtab::arrow::WritableVector;

use super::Bits;
use super::tally::{Clause, TALLY_MAX_CLAUSES, TallyTarget, count_block, gather, record, run_start};
use crate::engine::{EngineError, Result, ident};

/// Function names are unique in the process: connections to one database share its catalog.
pub(super) static NEXT_FUNCTION: AtomicU64 = AtomicU64::new(1);

/// What the running query's function works on: set by the caller for the query's duration
/// (`while_running`), read by the function on DuckDB's threads (`current`).
pub(super) type Slot<T> = Arc<RwLock<Option<T>>>;

type Invoked = std::result::Result<(), Box<dyn Error>>;

/// Column `c` of a function's input chunk as its `n` BIGINT values, every one not NULL: the row
/// ids (`rowid`, or a constant where the tally records nothing). An error where one is NULL.
fn bigints(input: &DataChunkHandle, c: usize, n: usize) -> std::result::Result<&[i64], Box<dyn Error>> {
    if validity(input, c, n).is_some_and(|words| (0..n).any(|i| words[i / 64] >> (i % 64) & 1 == 0)) {
        return Err("a seglens function was given a NULL row id".into());
    }
    // SAFETY: column `c` is BIGINT by every caller's signatures, flat with at least `n` slots
    // (module doc); no row is NULL (checked above), so each of the `n` slots was written. The
    // data belongs to the chunk, which outlives the borrow of `input`, and nothing writes to an
    // input vector during the call.
    unsafe {
        let v = duckdb::ffi::duckdb_data_chunk_get_vector(input.get_ptr(), c as u64);
        Ok(std::slice::from_raw_parts(duckdb::ffi::duckdb_vector_get_data(v) as *const i64, n))
    }
}

/// The validity words of column `c` of the input chunk, covering its `n` rows (bit `i % 64` of
/// word `i / 64` set where row `i` is not NULL); None when no row is NULL.
fn validity(input: &DataChunkHandle, c: usize, n: usize) -> Option<&[u64]> {
    // SAFETY: `c` is below the chunk's column count (callers check it or take it from the
    // signatures); the mask is null or holds initialised words for the vector's capacity, at
    // least `n` rows (module doc). It belongs to the chunk, which outlives the borrow of `input`.
    unsafe {
        let v = duckdb::ffi::duckdb_data_chunk_get_vector(input.get_ptr(), c as u64);
        let valid = duckdb::ffi::duckdb_vector_get_validity(v);
        (!valid.is_null()).then(|| std::slice::from_raw_parts(valid as *const u64, n.div_ceil(64)))
    }
}

/// The function's `n` output slots, of the type its signatures return (`T`).
///
/// # Safety
/// `T` must be the physical type of the output vector (`i64` for BIGINT, `bool` for BOOLEAN).
unsafe fn output_slots<T>(output: &mut dyn WritableVector, n: usize) -> &mut [MaybeUninit<T>] {
    let out = output.flat_vector();
    // SAFETY: the output vector is flat with at least `n` slots of `T` (module doc, and the
    // caller's promise on `T`); slots are seen as `MaybeUninit` because they may not be
    // initialised yet. The vector belongs to DuckDB's result for the whole call, and `output` is
    // borrowed mutably for as long as the slice lives, so nothing else reaches it meanwhile.
    unsafe { std::slice::from_raw_parts_mut(out.as_mut_ptr::<MaybeUninit<T>>(), n) }
}

/// The value in `slot` while a query of the function `what` runs; an error outside one.
fn current<T: Clone>(slot: &Slot<T>, what: &str) -> std::result::Result<T, Box<dyn std::error::Error>> {
    let value = slot.read().map_err(|_| format!("{what} poisoned"))?.clone();
    Ok(value.ok_or_else(|| format!("a {what} function ran outside its query"))?)
}

/// Runs `query` with `value` in `slot`, emptied again whatever the query returns.
pub(super) fn while_running<T, R>(slot: &Slot<T>, value: T, query: impl FnOnce() -> Result<R>) -> Result<R> {
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

    fn invoke((n, lookups): &Self::State, input: &mut DataChunkHandle, output: &mut dyn WritableVector) -> Invoked {
        let bits = lookups.read().map_err(|_| "member cache poisoned")?.get(n).cloned();
        let bits = bits.ok_or("a cached clause was dropped while in use; run the query again")?;
        let n = input.len();
        let rows = bigints(input, 0, n)?;
        // SAFETY: the signature returns BOOLEAN, a one-byte `bool`.
        let out = unsafe { output_slots::<bool>(output, n) };
        for (o, &r) in out.iter_mut().zip(rows) {
            let r = r as usize;
            o.write(bits.get(r / 64).is_some_and(|w| w >> (r % 64) & 1 == 1));
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

    fn invoke(target: &Self::State, input: &mut DataChunkHandle, output: &mut dyn WritableVector) -> Invoked {
        let n = input.len();
        let filling = current(target, "seglens mark")?;
        let rows = bigints(input, 0, n)?;
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
        // SAFETY: the signature returns BIGINT, an `i64`.
        unsafe { output_slots::<i64>(output, n) }.fill(MaybeUninit::new(1));
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

/// `__seglens_tally_N(rowid, k0, k1, …) -> BOOLEAN`: adds each row to the cell of its combination
/// of clause outcomes in the funnel being counted and returns true. A clause's outcome comes from
/// its argument (recorded by row id when asked) or from an earlier recording looked up by row id,
/// so a funnel where the user nudged one clause evaluates that one only. A funnel counts its
/// outcome table in the scan this way, not with a GROUP BY over the clauses (measured at 10M
/// customers: the hash aggregate over k booleans costs about 1.5 size queries on top of
/// evaluating the clauses).
pub(super) struct Tally;

impl VScalar for Tally {
    type State = TallyTarget;

    fn invoke(target: &Self::State, input: &mut DataChunkHandle, output: &mut dyn WritableVector) -> Invoked {
        let run = current(target, "seglens tally")?;
        let n = input.len();
        let arguments = run.clauses.iter().filter(|c| matches!(c, Clause::Argument(_))).count();
        if input.num_columns() != arguments + 1 {
            return Err("a seglens tally was called with other arguments than its funnel's".into());
        }
        let rowids = bigints(input, 0, n)?;
        // Each argument's bytes and validity words.
        let columns: Vec<_> = (1..=arguments)
            .map(|c| {
                // SAFETY: `c` is below the column count (checked above) and every argument after
                // the row id is BOOLEAN by the signatures: `n` one-byte C++ `bool`s, 0 or 1, in a
                // flat vector (module doc). A NULL row's byte may be uninitialised, so the bytes
                // are `MaybeUninit` and `true_bits` reads only those its validity marks valid.
                // The chunk outlives the borrow of `input`, and nothing writes to it meanwhile.
                let data = unsafe {
                    let v = duckdb::ffi::duckdb_data_chunk_get_vector(input.get_ptr(), c as u64);
                    std::slice::from_raw_parts(duckdb::ffi::duckdb_vector_get_data(v) as *const MaybeUninit<u8>, n)
                };
                (data, validity(input, c, n))
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
                        let yes = true_bits(&data[start..start + rows.len()], null);
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
        // SAFETY: the signatures return BOOLEAN, a one-byte `bool`.
        unsafe { output_slots::<bool>(output, n) }.fill(MaybeUninit::new(true));
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

/// The bits of a block of BOOLEAN values (at most 64): bit `i` set where value `i` is true. The
/// rows set in `null` are NULL: their bytes are never read (they may be uninitialised).
fn true_bits(bytes: &[MaybeUninit<u8>], null: u64) -> u64 {
    let byte = |i: usize, d: &MaybeUninit<u8>| {
        debug_assert!(null >> i & 1 == 0);
        // SAFETY: row `i` is not NULL (callers pass only those), so DuckDB wrote its byte.
        u64::from(unsafe { d.assume_init() } & 1) << i
    };
    if null == 0 {
        // Without branches on the values: they are mispredicted on about every other row
        // (measured: they cost more than the rest of the funnel).
        bytes.iter().enumerate().fold(0, |w, (i, d)| w | byte(i, d))
    } else {
        bytes.iter().enumerate().filter(|&(i, _)| null >> i & 1 == 0).fold(0, |w, (i, d)| w | byte(i, d))
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

    fn invoke(target: &Self::State, input: &mut DataChunkHandle, output: &mut dyn WritableVector) -> Invoked {
        let work = current(target, "seglens scan")?;
        let n = input.len();
        let rows = bigints(input, 0, n)?;
        // The keys: NULL ones read as 0 (their slots may be uninitialised), `valid` false.
        let copied: Vec<i64>;
        let (keys, valid): (&[i64], Vec<bool>) = match validity(input, 1, n) {
            None => (bigints(input, 1, n)?, vec![true; n]),
            Some(words) => {
                let valid: Vec<bool> = (0..n).map(|i| words[i / 64] >> (i % 64) & 1 == 1).collect();
                // SAFETY: column 1 is BIGINT by the signature, flat with at least `n` slots
                // (module doc); the slots are `MaybeUninit` since NULL rows' may not be written,
                // and only valid rows' are read below. The chunk outlives the borrow of `input`.
                let slots = unsafe {
                    let v = duckdb::ffi::duckdb_data_chunk_get_vector(input.get_ptr(), 1);
                    std::slice::from_raw_parts(duckdb::ffi::duckdb_vector_get_data(v) as *const MaybeUninit<i64>, n)
                };
                copied = slots
                    .iter()
                    .zip(&valid)
                    // SAFETY: the row is not NULL, so DuckDB wrote its slot.
                    .map(|(k, &ok)| if ok { unsafe { k.assume_init() } } else { 0 })
                    .collect();
                (&copied, valid)
            }
        };
        work(rows, keys, &valid);
        // SAFETY: the signature returns BIGINT, an `i64`.
        unsafe { output_slots::<i64>(output, n) }.fill(MaybeUninit::new(1));
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
