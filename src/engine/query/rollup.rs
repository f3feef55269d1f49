//! Rollups kept for the session: each related table (transactions, events) aggregated per
//! customer once, then joined by every profile, compare, split and arms query. At 10M customers
//! and 100M events that GROUP BY is most of a profile's cost; recomputing it per keystroke made the
//! explorer's engagement panel follow an edit 11 s late.
//!
//! **One row per customer, whatever the related key's type.** The related key is converted to the
//! entity key's type (`TRY_CAST`) *before* grouping, so `'10'`, `'010'` and `' 10'` in a VARCHAR
//! column are all customer 10 of an integer key, and are counted once, together. (Grouping by the
//! text and letting the join cast it matched one customer to several groups: a segment of 115 in a
//! base of 100.) A value that converts to no customer (`'n/a'`, an id the entity lacks) matches
//! nothing; how many related rows that is goes into the profile's notes.
//!
//! The kept tables live in an in-memory database attached to the engine's DuckDB instance
//! (`__seglens_kept`), never the user's file: every connection of the instance (the explorer's
//! worker, its reports and exports) joins the same tables, and the build runs on a connection of
//! its own, so the size the user watches never waits behind it. Within a session the data cannot
//! change (it is opened read-only), so the tables are valid until the engine closes.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use super::profile::Rollup;
use super::schema::columns;
use crate::engine::conn::sandbox::ReadOnly;
use crate::engine::{Engine, Result, guarded, ident, plain_error};

/// The attached in-memory database that holds kept rollups.
pub(crate) const KEPT_DB: &str = "__seglens_kept";

/// What every rollup's table adds beside its own columns: the related rows of the customer (so
/// unmatched rows can be counted whatever columns a metrics file asks for).
const ROWS: &str = "__rows";

/// Kept rollups, shared by every connection (clone) of one engine's database.
pub(crate) struct Kept {
    state: Mutex<State>,
    changed: Condvar,
    /// How far the running build is, in tenths of a percent (`u32::MAX`: unknown).
    progress: AtomicU32,
    /// The connection that builds them: made before the configuration was locked, so it
    /// reports its statement's progress (a per-connection setting; `ReadOnly::lock`).
    conn: Mutex<Option<ReadOnly>>,
}

impl Kept {
    pub(crate) fn new(conn: ReadOnly) -> Kept {
        Kept {
            state: Mutex::default(),
            changed: Condvar::new(),
            progress: AtomicU32::new(u32::MAX),
            conn: Mutex::new(Some(conn)),
        }
    }
}

#[derive(Default)]
enum State {
    #[default]
    NotBuilt,
    /// A connection is building them; `table` is the related table being aggregated.
    Building {
        table: String,
    },
    Built(Arc<Built>),
}

/// The outcome of a build: per rollup, the related rows that matched no customer.
#[derive(Debug, Default)]
pub struct Built {
    pub unmatched: Vec<(String, u64)>,
}

impl Built {
    /// The notes a profile shows: rows of a related table that no customer owns.
    pub fn notes(&self) -> Vec<String> {
        self.unmatched
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(table, n)| {
                format!(
                    "{} row{} of {table} matched no customer (a key that converts to no customer's key) and {} left out",
                    crate::format::count(*n),
                    if *n == 1 { "" } else { "s" },
                    if *n == 1 { "is" } else { "are" }
                )
            })
            .collect()
    }
}

/// Where the kept rollups are, for a panel that waits for them.
#[derive(Debug, Clone, PartialEq)]
pub enum RollupStatus {
    /// Nothing to build (no metric reads a related table) or built.
    Ready,
    /// Not built and no one building: the next profile builds them.
    NotBuilt,
    /// Being built: the related table and how far (0..=100), when DuckDB can tell.
    Building { table: String, percent: Option<f64> },
}

/// The per-customer aggregate of `r`, keyed by the entity key converted to `key_type` (`None`:
/// the related key already has that type).
fn rollup_select(r: &Rollup, convert_to: Option<&str>) -> String {
    let key = match convert_to {
        Some(ty) => format!("TRY_CAST({} AS {ty})", ident(&r.key)),
        None => ident(&r.key),
    };
    let mut cols = vec![format!("count(*) AS {ROWS}")];
    cols.extend(r.columns.iter().map(|(name, sql)| format!("{sql} AS {}", ident(name))));
    format!("SELECT {key} AS __key, {} FROM {} GROUP BY 1", cols.join(", "), ident(&r.table))
}

/// The kept table of the `i`-th rollup, qualified.
pub(crate) fn kept_table(i: usize) -> String {
    format!("{KEPT_DB}.main.r_{i}")
}

impl Engine {
    /// The type the `r`'s key converts to before grouping, when it differs from the entity key's.
    fn rollup_key_cast(&self, r: &Rollup) -> Option<String> {
        let entity = self.columns().iter().find(|c| c.name == self.key())?.ty.clone();
        let related = columns(self.conn(), &r.table).ok()?.into_iter().find(|c| c.name == r.key)?.ty;
        (!related.eq_ignore_ascii_case(&entity)).then_some(entity)
    }

    /// The SELECT that fills `r`'s kept table, keyed by the customer key's type.
    pub(crate) fn rollup_query(&self, r: &Rollup) -> String {
        rollup_select(r, self.rollup_key_cast(r).as_deref())
    }

    /// Each kept rollup's table and the SELECT that fills it, as seglens runs them: for a benchmark
    /// that builds the same tables in another DuckDB and then runs `profile_sql` there.
    pub fn rollup_statements(&self) -> Vec<(String, String)> {
        self.rollups().iter().enumerate().map(|(i, r)| (kept_table(i), self.rollup_query(r))).collect()
    }

    /// The count of the `i`-th kept table's related rows that no customer owns, which the build
    /// runs after filling it (for the notes); public for benchmarks that build the same.
    pub fn rollup_unmatched_sql(&self, i: usize) -> String {
        format!(
            "SELECT CAST(coalesce(sum(k.{ROWS}), 0) AS BIGINT) FROM {} AS k WHERE NOT EXISTS (SELECT 1 FROM {} AS e WHERE e.{} = k.__key)",
            kept_table(i),
            self.table_sql(),
            ident(self.key())
        )
    }

    /// Where the kept rollups are, without waiting or building.
    pub fn rollup_status(&self) -> RollupStatus {
        if self.rollups().is_empty() {
            return RollupStatus::Ready;
        }
        let state = self.kept.state.lock().unwrap_or_else(|e| e.into_inner());
        match &*state {
            State::NotBuilt => RollupStatus::NotBuilt,
            State::Built(_) => RollupStatus::Ready,
            State::Building { table } => {
                let p = self.kept.progress.load(Ordering::Relaxed);
                RollupStatus::Building { table: table.clone(), percent: (p != u32::MAX).then(|| p as f64 / 10.0) }
            }
        }
    }

    /// The kept rollups, built now on this connection if no connection has (a build running on
    /// another connection is waited for). `progress` hears `(related table, percent)` while this
    /// connection builds.
    pub fn kept_rollups(&self, progress: &(dyn Fn(&str, Option<f64>) + Sync)) -> Result<Arc<Built>> {
        {
            let mut state = self.kept.state.lock().unwrap_or_else(|e| e.into_inner());
            loop {
                match &*state {
                    State::Built(b) => return Ok(Arc::clone(b)),
                    State::Building { .. } => {
                        // Woken when the builder finishes or gives up; a cancel is looked at
                        // between waits.
                        let (s, _) = self
                            .kept
                            .changed
                            .wait_timeout(state, std::time::Duration::from_millis(100))
                            .unwrap_or_else(|e| e.into_inner());
                        state = s;
                        self.cancel.check()?;
                    }
                    State::NotBuilt => {
                        *state = State::Building { table: String::new() };
                        break;
                    }
                }
            }
        }
        let built = self.build_rollups(progress);
        let mut state = self.kept.state.lock().unwrap_or_else(|e| e.into_inner());
        *state = match &built {
            Ok(b) => State::Built(Arc::clone(b)),
            Err(_) => State::NotBuilt,
        };
        self.kept.changed.notify_all();
        built
    }

    fn build_rollups(&self, progress: &(dyn Fn(&str, Option<f64>) + Sync)) -> Result<Arc<Built>> {
        let rollups = self.rollups().to_vec();
        let n = rollups.len().max(1) as f64;
        let mut built = Built::default();
        for (i, r) in rollups.iter().enumerate() {
            *self.kept.state.lock().unwrap_or_else(|e| e.into_inner()) = State::Building { table: r.table.clone() };
            let select = self.rollup_query(r);
            let share = |p: Option<f64>| p.map(|p| (i as f64 + p / 100.0) / n * 100.0);
            self.keep_with_progress(&format!("r_{i}"), &select, &|p| progress(&r.table, share(p)))?;
            let rows =
                self.run(&self.rollup_unmatched_sql(i), plain_error, |s| s.query_row([], |row| row.get::<_, i64>(0)))?;
            built.unmatched.push((r.table.clone(), rows.max(0) as u64));
        }
        self.kept.progress.store(u32::MAX, Ordering::Relaxed);
        Ok(Arc::new(built))
    }

    /// Runs `select` into the kept table `name` on the build connection, polling DuckDB's estimate
    /// of how far it is (and passing on this engine's cancel, which interrupts only its own
    /// connection) until it ends.
    fn keep_with_progress(&self, name: &str, select: &str, progress: &(dyn Fn(Option<f64>) + Sync)) -> Result<()> {
        let kept: &Kept = &self.kept;
        let guard = kept.conn.lock().unwrap_or_else(|e| e.into_inner());
        // The build connection is in use only while the state says Building, by one builder.
        let Some(conn) = guard.as_ref() else {
            return guarded(&self.cancel, Some(&self.began), || self.conn().keep(name, select).map_err(plain_error));
        };
        let (handle, interrupt) = (conn.progress_handle(), conn.interrupt_handle());
        let cancel = self.cancel.clone();
        // Dropped when the statement ends, which ends the poller at once.
        let (running, ended) = std::sync::mpsc::channel::<()>();
        guarded(&self.cancel, None, || {
            std::thread::scope(|s| {
                s.spawn(move || {
                    while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                        ended.recv_timeout(std::time::Duration::from_millis(100))
                    {
                        if cancel.requested() {
                            interrupt.interrupt();
                        }
                        let p = handle.query_progress().percentage();
                        kept.progress.store(p.map_or(u32::MAX, |p| (p * 10.0) as u32), Ordering::Relaxed);
                        progress(p);
                    }
                });
                let result = conn.keep(name, select).map_err(plain_error);
                drop(running);
                result
            })
        })
    }

    /// The LEFT JOINs of the kept rollups to the entity rows (named after the entity table), built
    /// first if need be.
    pub(crate) fn rollup_joins(&self) -> Result<String> {
        if self.rollups().is_empty() {
            return Ok(String::new());
        }
        self.kept_rollups(&|_, _| {})?;
        Ok(self.joins(self.rollups(), |i, _| kept_table(i)))
    }

    /// `LEFT JOIN <source> AS <rollup> ON <rollup>.__key = <entity>.<key>` for each rollup.
    pub(crate) fn joins(&self, rollups: &[Rollup], source: impl Fn(usize, &Rollup) -> String) -> String {
        let (t, k) = (self.table_sql(), ident(self.key()));
        rollups
            .iter()
            .enumerate()
            .map(|(i, r)| format!(" LEFT JOIN {} AS {n} ON {n}.__key = {t}.{k}", source(i, r), n = ident(&r.name)))
            .collect()
    }
}
