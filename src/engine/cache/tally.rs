//! The funnel's tally, apart from the function DuckDB calls (`udf.rs`, which holds the
//! `unsafe`): what a running tally fills (cells of outcome combinations, clause recordings), the
//! bit arithmetic over blocks of 64 rows, and `Tallier`, which registers and runs it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::Bits;
use super::udf::{NEXT_FUNCTION, Slot, Tally, while_running};
use crate::engine::Result;
use crate::engine::conn::sandbox::ReadOnly as Connection;

/// How a tally learns a clause's outcome.
pub enum Source {
    /// From the next BOOLEAN argument of the function; recorded by row id when `record`.
    Argument { record: bool },
    /// From an earlier recording: the rows where the clause holds, and where it is NULL.
    Recorded { yes: Bits, null: Bits },
}

/// A clause of a running tally: a recording being filled for an argument, or one being read.
pub(super) enum Clause {
    Argument(Option<Recording>),
    Recorded { yes: Bits, null: Bits },
}

/// One clause's outcome over the table, filled by the tally while it counts: one bit per row
/// id where the clause holds, and one where it is NULL.
pub(super) struct Recording {
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
    pub(super) clauses: Vec<Clause>,
    pub(super) cells: Vec<AtomicU64>,
    /// A row id fell outside the recordings' bitmaps: they are not kept.
    pub(super) outside: AtomicBool,
}

pub(super) type TallyTarget = Slot<Arc<TallyRun>>;

/// Is bit `r` set? (false past the end)
fn bit(bits: &[u64], r: usize) -> u64 {
    bits.get(r / 64).map_or(0, |w| (w >> (r % 64)) & 1)
}

/// The bits of a block's rows: bit i of the result is row `rows[i]`'s. A table scan hands over
/// row ids that run on by one (`first..`): then the block is two words shifted, else a lookup
/// per row.
pub(super) fn gather(bits: &[u64], rows: &[i64], first: Option<usize>) -> u64 {
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
pub(super) fn run_start(rows: &[i64]) -> Option<usize> {
    let first = *rows.first()?;
    (first >= 0 && rows.iter().zip(first..).all(|(&r, want)| r == want)).then_some(first as usize)
}

/// Adds `rows` (a bit per row of a block) to the cells of their combinations of outcomes:
/// `planes` holds per clause the block's rows where it holds and where it is NULL. Splitting
/// the rows three ways per clause and counting what is left with a popcount costs a few
/// operations per block of 64 rows, where a cell index per row costs a few per row and clause.
pub(super) fn count_block(planes: &[(u64, u64)], rows: u64, cell: usize, weight: usize, cells: &mut [u64]) {
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

/// Sets the recording's bits for a block's rows (`rows` their row ids, `first` as `run_start`
/// gives it; `planes` a bit per row of the block where the clause holds and where it is NULL).
pub(super) fn record(
    recording: &Recording,
    rows: &[i64],
    first: Option<usize>,
    planes: (u64, u64),
    outside: &AtomicBool,
) {
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
