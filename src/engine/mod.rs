//! The segment engine: owns the DuckDB connection and answers questions with plain data. Knows
//! nothing about terminals; the CLI and the TUI call the same functions. This file holds `Engine`
//! and its public API; the folders are its concerns:
//! - `conn/`: opening a source read-only, the sandbox, the one path every statement takes
//!   (`Engine::run`), cancels, `current_date`, errors;
//! - `text/`: the only folder that turns user text (filters, params, features) into SQL;
//! - `query/`: one file per query family, each one `impl Engine` block: size, profile, infer,
//!   breakdown, members, schema, overlap, funnel, split, arms, compare, hygiene, rollup;
//! - `keys.rs` and `movement/`: member key sets, and changes and movement over time;
//! - `cache/`: member bitmaps, the funnel's tally and the DuckDB functions behind them.

pub mod cache;
pub mod conn;
pub mod keys;
pub mod movement;
pub mod query;
pub mod text;

use std::cell::{Cell, RefCell};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use chrono::NaiveDate;

use serde::Serialize;

pub use conn::cancel::Canceller;
pub use conn::error::{EngineError, FilterError, Pos};
pub(crate) use conn::sql::{SqlBuilder, guarded, plain_error, run_on};
pub use conn::sql::{ident, literal};
pub use conn::today::define_today;
use conn::{entity, sandbox, source, sql};
pub use query::profile::{MetricDef, MetricSet, MetricSource, MetricsFile};
pub use text::features::{Feature, FeatureSet};
pub use text::filter::Compiled;
pub use text::params::{ParamDecl, ParamDecls, ParamType, ParamValue};

pub type Result<T, E = EngineError> = std::result::Result<T, E>;

/// How to open a data file. Defaults: detect the entity table and key; DuckDB's threads = cores;
/// DuckDB's own memory limit (`DEFAULT_MEMORY_LIMIT`).
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    pub table: Option<String>,
    pub key: Option<String>,
    pub threads: Option<usize>,
    pub memory_limit: Option<String>,
    /// Profile metrics (a metrics file); inferred from the schema when None (`query/infer.rs`).
    pub metrics: Option<MetricSet>,
    /// The date `current_date` and `today()` answer, pinned (`--as-of`); the local date, moving
    /// on at midnight, when None.
    pub as_of: Option<NaiveDate>,
    /// Where checks of a file version are remembered (the key's uniqueness, the detected entity
    /// table), so that they run once per version of the file; nowhere when None.
    pub checks_dir: Option<PathBuf>,
    /// Told how far a CSV load has got (bytes done, total); a Parquet source is never loaded.
    pub progress: Option<Progress>,
}

/// A callback `(done, total)` following a long load.
#[derive(Clone)]
pub struct Progress(pub Arc<dyn Fn(u64, u64) + Send + Sync>);

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Progress")
    }
}

/// The buffer pool cap when none is set: DuckDB's own, 80% of RAM, spilling to seglens' temp
/// directory beyond it. A 320 MB cap (for a 500 MB resident goal) made profiles with inferred
/// rollups fail at 10M customers / 100M events, which needed 2.1 GB: a right answer comes before a
/// small memory figure, and memory is reported (the bench), not capped below what the work needs.
pub const DEFAULT_MEMORY_LIMIT: &str = "80% of RAM";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    Duckdb,
    Csv,
    Parquet,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Column {
    pub name: String,
    pub ty: String,
}

/// Identifies the data a figure was measured on, cheaply: path, size, modification time and the
/// row count of the entity table. (Hashing the file would read 10 GB twice, and reading the file
/// with std::fs while DuckDB has it open would drop DuckDB's POSIX lock.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Fingerprint {
    pub path: String,
    pub bytes: u64,
    pub modified: String,
    pub table: String,
    pub rows: u64,
}

pub struct Engine {
    /// Every statement through DuckDB's parser as one SELECT (conn/sandbox.rs).
    conn: sandbox::ReadOnly,
    /// DuckDB's temp directory for this session, removed after the connection closes (fields
    /// drop in order); shared by clones, which use the same database.
    _temp: Option<Arc<source::SessionTemp>>,
    /// Every file the source reads.
    files: Vec<PathBuf>,
    /// Cancels this connection's statements, sticky between them (`conn/cancel.rs`).
    cancel: Canceller,
    /// When the latest statement passed the cancel check and went to DuckDB (the worker reports
    /// it with each answer: evidence of what ran when).
    began: Cell<Option<std::time::Instant>>,
    path: PathBuf,
    kind: SourceKind,
    table: String,
    key: String,
    columns: Vec<Column>,
    base: u64,
    fingerprint: Fingerprint,
    /// The metrics asked for (None: infer from the schema), installed on first use: a `size`
    /// never pays for binding or inferring them.
    metric_set: Option<MetricSet>,
    installed: std::cell::OnceCell<query::profile::Installed>,
    /// Checks remembered per version of the file (conn/entity.rs).
    remembered: entity::Remembered,
    /// The entity table and key were detected, not named.
    detected: bool,
    /// `current_date` is pinned by `--as-of` and never moves on.
    pinned: bool,
    /// Figures that depend only on the database, computed once (the engine is used by one thread).
    memo: RefCell<query::profile::Memo>,
    /// Rollups of related tables kept for the session, shared by clones (`query/rollup.rs`).
    kept: Arc<query::rollup::Kept>,
    /// Member sets of expensive clauses, overlap segments and funnel clauses (engine/cache/).
    member_cache: RefCell<cache::MemberCache>,
    /// The date `current_date` and `today()` answer.
    today: Cell<NaiveDate>,
}

impl Engine {
    /// A handle that cancels whatever this engine's connection is running or about to run, from
    /// any thread.
    pub fn canceller(&self) -> Canceller {
        self.cancel.clone()
    }

    /// Forgets an earlier cancel (the worker, starting work for a new generation).
    pub fn clear_cancel(&self) {
        self.cancel.clear();
    }

    /// When the latest statement went to DuckDB (after its cancel check).
    pub fn last_statement_began(&self) -> Option<std::time::Instant> {
        self.began.get()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
    pub fn source_kind(&self) -> SourceKind {
        self.kind
    }
    /// Every file the data is read from (the database file; each Parquet file of a dataset).
    pub fn source_files(&self) -> &[PathBuf] {
        &self.files
    }
    pub fn table(&self) -> &str {
        &self.table
    }
    pub fn key(&self) -> &str {
        &self.key
    }
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }
    pub fn base_size(&self) -> u64 {
        self.base
    }
    pub fn fingerprint(&self) -> &Fingerprint {
        &self.fingerprint
    }
    pub fn metrics(&self) -> &[MetricDef] {
        &self.metrics_installed().metrics
    }
    /// Where the profile metrics came from.
    pub fn metric_source(&self) -> &MetricSource {
        &self.metrics_installed().source
    }
    /// The rollups (related tables aggregated per customer) the metrics read.
    pub fn rollups(&self) -> &[query::profile::Rollup] {
        &self.metrics_installed().rollups
    }
    /// The metrics as a file a user can edit (`seglens metrics --init`).
    pub fn metrics_file(&self) -> MetricsFile {
        let m = self.metrics_installed();
        MetricsFile { rollup: m.rollups.clone(), metric: m.metrics.clone() }
    }
    /// True when `current_date` is pinned (`--as-of`).
    pub fn date_pinned(&self) -> bool {
        self.pinned
    }
    /// Why configured metrics were left out (e.g. a column the database lacks).
    pub fn metric_notes(&self) -> &[String] {
        &self.metrics_installed().notes
    }

    /// DuckDB's version string, for benchmarks and manifests.
    pub fn duckdb_version(&self) -> Result<String> {
        Ok(self.conn.query_row("SELECT version()", [], |r| r.get(0))?)
    }

    /// Checks a filter with DuckDB without scanning (binds it), reporting errors in the user's text.
    pub fn check(&self, f: &Compiled) -> Result<()> {
        let mut q = SqlBuilder::new();
        q.push(&format!("SELECT count(*) FROM {} WHERE ", self.table_sql()));
        q.filter(f);
        q.push(" LIMIT 0");
        q.run(self, |s| s.query([]).map(|_| ()))
    }

    /// The table the filters run over, quoted.
    pub fn table_sql(&self) -> String {
        ident(&self.table)
    }

    pub(crate) fn conn(&self) -> &sandbox::ReadOnly {
        &self.conn
    }

    /// Runs one statement through `run`, DuckDB's errors mapped by `map_error` (`plain_error`,
    /// or a `SqlBuilder`'s, which locates them in the filters). Every statement the engine runs
    /// goes through here (`sql::run_on`), so that a pending cancel stops it and a cancel that
    /// stopped it is spent: the next statement runs.
    pub(crate) fn run<T>(
        &self,
        sql: &str,
        map_error: impl Fn(duckdb::Error) -> EngineError,
        run: impl FnOnce(&mut duckdb::Statement<'_>) -> duckdb::Result<T>,
    ) -> Result<T> {
        sql::run_on(&self.conn, &self.cancel, Some(&self.began), sql, map_error, run)
    }

    /// The portable SQL selecting the segment's keys, with everything expanded and bound.
    pub fn select_sql(&self, f: &Compiled) -> String {
        format!("SELECT {} FROM {} WHERE (\n{}\n)", ident(&self.key), ident(&self.table), f.sql)
    }

    /// Columns of the entity table that the filter reads.
    pub fn columns_used(&self, f: &Compiled) -> Vec<String> {
        self.columns.iter().filter(|c| f.words.contains(&c.name.to_ascii_lowercase())).map(|c| c.name.clone()).collect()
    }

    /// Describes what the member cache holds (for a status line or `--verbose`).
    pub fn cache_summary(&self) -> String {
        self.member_cache.borrow().summary()
    }

    pub fn clear_cache(&self) {
        self.member_cache.borrow_mut().clear();
    }

    /// The size of `f` from its member set, filled and cached if need be so that a later overlap
    /// finds it; a plain count where there are no row ids.
    pub fn member_count(&self, f: &Compiled) -> Result<u64> {
        match self.member_bits(f)? {
            Some(bits) => Ok(bits.iter().map(|w| w.count_ones() as u64).sum()),
            None => Ok(self.size(f)?.size),
        }
    }

    /// The member bitmap of `f`, from the cache or filled by one scan with `f` pushed into it;
    /// None when the entity has no row ids (a view).
    pub(crate) fn member_bits(&self, f: &Compiled) -> Result<Option<cache::Bits>> {
        if let Some(bits) = self.member_cache.borrow_mut().get(&f.sql) {
            return Ok(Some(bits));
        }
        let Some(marker) = self.member_cache.borrow_mut().marker(&self.conn, &self.cancel, &self.table)? else {
            return Ok(None);
        };
        let mut q = SqlBuilder::new();
        q.push(&marker.select(&self.table));
        q.filter_cached(self, f)?;
        match marker.fill(|| q.run(self, |s| s.query_row([], |r| Ok((r.get(0)?, r.get(1)?)))))? {
            Some((bits, members)) => Ok(Some(self.member_cache.borrow_mut().insert(&f.sql, bits, members))),
            None => {
                self.member_cache.borrow_mut().disable();
                Ok(None)
            }
        }
    }
}
