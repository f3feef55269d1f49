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

pub(super) type Target = Arc<RwLock<Option<Arc<Filling>>>>;

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
        let filling = target.read().map_err(|_| "member cache poisoned")?.clone();
        let filling = filling.ok_or("a seglens mark function ran outside its query")?;
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
        *self.target.write().map_err(|_| poisoned())? = Some(filling.clone());
        let figures = query();
        self.target.write().map_err(|_| poisoned())?.take();
        let (count, marked) = figures?;
        let outside = filling.outside.load(Ordering::Relaxed);
        let bits: Vec<u64> = filling.bits.iter().map(|w| w.load(Ordering::Relaxed)).collect();
        let set: u64 = bits.iter().map(|w| w.count_ones() as u64).sum();
        let agrees = !outside && marked.unwrap_or(0) == count && set == count as u64;
        Ok(agrees.then_some((bits, set)))
    }
}

/// Rows per combination of a funnel's clause outcomes: cell `Σ state_i · 3^i` with false 0,
/// true 1, NULL 2.
pub(super) type TallyTarget = Arc<RwLock<Option<Arc<Vec<AtomicU64>>>>>;

/// `__seglens_tally_N(k0, k1, …) -> BIGINT`: adds each row to the cell of its combination of
/// clause outcomes in the funnel being counted; returns 1. A funnel counts its outcome table in
/// the scan this way, not with a GROUP BY over the clauses (measured at 10M customers: the hash
/// aggregate over k booleans costs about 1.5 size queries on top of evaluating the clauses).
struct Tally;

impl VScalar for Tally {
    type State = TallyTarget;

    fn invoke(
        target: &Self::State,
        input: &mut DataChunkHandle,
        output: &mut dyn WritableVector,
    ) -> std::result::Result<(), Box<dyn std::error::Error>> {
        let cells = target.read().map_err(|_| "funnel tally poisoned")?.clone();
        let cells = cells.ok_or("a seglens tally function ran outside its query")?;
        let n = input.len();
        let chunk = input.get_ptr();
        if input.num_columns() > TALLY_MAX_CLAUSES {
            return Err("a seglens tally takes at most 6 clauses".into());
        }
        // Cells fit in 16 bits (3^6 = 729), so the loops below work on narrow lanes.
        let mut index = vec![0u16; n];
        let mut weight = 1u16;
        for col in 0..input.num_columns() {
            // SAFETY: DuckDB flattens a C API scalar function's input chunk before the call
            // (`CAPIScalarFunction`), and every argument is BOOLEAN (the signature): column `col`
            // holds `n` one-byte values, and its validity mask is null (all valid) or has a bit
            // for each of the `n` rows. A NULL row's byte is read but not used.
            let (data, valid) = unsafe {
                let v = duckdb::ffi::duckdb_data_chunk_get_vector(chunk, col as u64);
                let data = std::slice::from_raw_parts(duckdb::ffi::duckdb_vector_get_data(v) as *const u8, n);
                let valid = duckdb::ffi::duckdb_vector_get_validity(v);
                (data, (!valid.is_null()).then(|| std::slice::from_raw_parts(valid, n.div_ceil(64))))
            };
            match valid {
                // No NULL in this vector: a branch-free loop.
                None => index.iter_mut().zip(data).for_each(|(cell, &d)| *cell += u16::from(d != 0) * weight),
                Some(mask) => {
                    for (r, (cell, &d)) in index.iter_mut().zip(data).enumerate() {
                        let null = (mask[r / 64] >> (r % 64)) & 1 == 0;
                        *cell += if null { 2 * weight } else { u16::from(d != 0) * weight };
                    }
                }
            }
            weight *= 3;
        }
        // Counted per chunk first: threads meet on the shared cells once per chunk, not per row.
        let mut local = vec![0u64; cells.len()];
        for i in index {
            if let Some(x) = local.get_mut(usize::from(i)) {
                *x += 1;
            }
        }
        for (cell, l) in cells.iter().zip(local) {
            if l > 0 {
                cell.fetch_add(l, Ordering::Relaxed);
            }
        }
        let mut out = output.flat_vector();
        unsafe { out.as_mut_slice_with_len::<i64>(n) }.fill(1);
        Ok(())
    }

    fn signatures() -> Vec<ScalarFunctionSignature> {
        vec![ScalarFunctionSignature::variadic(
            LogicalTypeHandle::from(LogicalTypeId::Boolean),
            LogicalTypeHandle::from(LogicalTypeId::Bigint),
        )]
    }

    fn volatile() -> bool {
        true
    }
}

/// A registered tally function.
#[derive(Clone)]
pub struct Tallier {
    pub(super) name: String,
    pub(super) target: TallyTarget,
}

/// Funnels of at most this many clauses are tallied (3^6 = 729 cells a chunk); longer ones are
/// counted with a GROUP BY.
pub const TALLY_MAX_CLAUSES: usize = 6;

impl Tallier {
    /// Registers the tally function on `conn`; None when DuckDB refuses it.
    pub fn register(conn: &Connection) -> Option<Tallier> {
        let name = format!("__seglens_tally_{}", NEXT_FUNCTION.fetch_add(1, Ordering::Relaxed));
        let target = TallyTarget::default();
        conn.register_scalar_function_with_state::<Tally>(&name, &target).ok()?;
        Some(Tallier { name, target })
    }

    /// `SELECT count(*), sum(tally(args))::BIGINT FROM table`: the statement `run` expects.
    pub fn select(&self, args: &[String], table: &str) -> String {
        format!("SELECT count(*), sum({}({}))::BIGINT FROM {table}", self.name, args.join(", "))
    }

    /// Runs `query` (the statement from `select` over `k` clauses) with a fresh table of 3^k
    /// cells; returns the cells, or None when they do not add up to DuckDB's count.
    pub fn run(&self, k: usize, query: impl FnOnce() -> Result<(i64, Option<i64>)>) -> Result<Option<Vec<u64>>> {
        let cells: Arc<Vec<AtomicU64>> = Arc::new((0..3usize.pow(k as u32)).map(|_| AtomicU64::new(0)).collect());
        *self.target.write().map_err(|_| poisoned())? = Some(cells.clone());
        let figures = query();
        self.target.write().map_err(|_| poisoned())?.take();
        let (count, tallied) = figures?;
        let cells: Vec<u64> = cells.iter().map(|c| c.load(Ordering::Relaxed)).collect();
        let agrees = tallied.unwrap_or(0) == count && cells.iter().sum::<u64>() == count as u64;
        Ok(agrees.then_some(cells))
    }
}

/// The work a scan hands each chunk of `(rowid, key)` pairs: row ids, integer keys, and which
/// keys are not NULL. Called on DuckDB's threads, several at once.
pub type EachChunk = Arc<dyn Fn(&[i64], &[i64], &[bool]) + Send + Sync>;

type EachTarget = Arc<RwLock<Option<EachChunk>>>;

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
        let work = target.read().map_err(|_| "seglens scan poisoned")?.clone();
        let work = work.ok_or("a seglens scan function ran outside its query")?;
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
        *self.target.write().map_err(|_| poisoned())? = Some(work);
        let figures = query();
        self.target.write().map_err(|_| poisoned())?.take();
        let (count, seen) = figures?;
        Ok(seen.unwrap_or(0) == count)
    }
}

pub(super) fn poisoned() -> EngineError {
    EngineError::Config("member cache poisoned".into())
}
