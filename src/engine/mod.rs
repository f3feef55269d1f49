//! The segment engine: owns the DuckDB connection and answers size, profile, breakdown, overlap,
//! member and schema questions with plain data. Knows nothing about terminals; the CLI and the TUI
//! call the same functions, and only `filter.rs`/`params.rs` turn user text into SQL.

pub mod bitmap;
pub mod breakdown;
pub mod cache;
pub mod cancel;
pub mod compare;
pub mod entity;
pub mod error;
pub mod features;
pub mod filter;
pub mod funnel;
pub mod hygiene;
pub mod infer;
pub mod lexer;
pub mod members;
pub mod overlap;
pub mod params;
pub mod profile;
pub mod schema;
pub mod size;

use std::cell::{Cell, RefCell};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use chrono::NaiveDate;
use duckdb::{AccessMode, Config, Connection};
use serde::Serialize;

pub use cancel::Canceller;
pub use error::{EngineError, FilterError, Pos};
pub use features::{Feature, FeatureSet};
pub use filter::Compiled;
pub use params::{ParamDecl, ParamDecls, ParamType, ParamValue};
pub use profile::{MetricDef, MetricSet, MetricSource, MetricsFile};

pub type Result<T, E = EngineError> = std::result::Result<T, E>;

/// How to open a data file. Defaults: detect the entity table and key; DuckDB's threads = cores;
/// memory limit `DEFAULT_MEMORY_LIMIT`.
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    pub table: Option<String>,
    pub key: Option<String>,
    pub threads: Option<usize>,
    pub memory_limit: Option<String>,
    /// Profile metrics (a metrics file); inferred from the schema when None (`infer.rs`).
    pub metrics: Option<MetricSet>,
    /// The date `current_date` and `today()` answer, pinned (`--as-of`); the local date, moving
    /// on at midnight, when None.
    pub as_of: Option<NaiveDate>,
    /// Where checks of a file version are remembered (the key's uniqueness, the detected entity
    /// table), so that they run once per version of the file; nowhere when None.
    pub checks_dir: Option<PathBuf>,
}

/// DuckDB's buffer pool cap. Scans of a 10M-customer table stay fast from the OS page cache while
/// the process stays well under 500 MB resident.
pub const DEFAULT_MEMORY_LIMIT: &str = "320MB";

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
    conn: Connection,
    /// Cancels this connection's statements, sticky between them (`cancel.rs`).
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
    installed: std::cell::OnceCell<profile::Installed>,
    /// Checks remembered per version of the file (entity.rs).
    remembered: entity::Remembered,
    /// The entity table and key were detected, not named.
    detected: bool,
    /// `current_date` is pinned by `--as-of` and never moves on.
    pinned: bool,
    /// Figures that depend only on the database, computed once (the engine is used by one thread).
    memo: RefCell<profile::Memo>,
    /// Member sets of expensive clauses and overlap segments (engine/cache.rs).
    member_cache: RefCell<cache::MemberCache>,
    /// The date `current_date` and `today()` answer.
    today: Cell<NaiveDate>,
}

impl Engine {
    /// Opens `path` read-only. A `.csv`/`.parquet` file is loaded into an in-memory database first.
    /// User SQL then runs with external access off and the configuration locked: a filter can read
    /// nothing but the attached data, write nothing, attach nothing and load no extension.
    pub fn open(path: &Path, opts: &OpenOptions) -> Result<Engine> {
        let meta = std::fs::metadata(path).map_err(|_| EngineError::NotFound(path.to_path_buf()))?;
        if meta.is_dir() {
            return Err(EngineError::NotADatabase { path: path.to_path_buf(), detail: "it is a directory".into() });
        }
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
        let kind = match ext.as_str() {
            "csv" | "tsv" => SourceKind::Csv,
            "parquet" => SourceKind::Parquet,
            _ => SourceKind::Duckdb,
        };
        let threads = opts.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
        let memory = opts.memory_limit.clone().unwrap_or_else(|| DEFAULT_MEMORY_LIMIT.to_string());
        let base_config = || -> Result<Config> {
            Ok(Config::default()
                .threads(threads as i64)?
                .max_memory(&memory)?
                .enable_autoload_extension(false)?
                .with("autoinstall_known_extensions", "false")?
                .with("errors_as_json", "true")?)
        };
        let conn = match kind {
            // DuckDB names the database after its file and fails on a name that is not UTF-8.
            SourceKind::Duckdb if path.file_stem().is_some_and(|s| s.to_str().is_none()) => {
                return Err(EngineError::Config(format!(
                    "{}: DuckDB cannot open a database whose file name is not UTF-8; rename the file (or copy it) to a UTF-8 name",
                    path.display()
                )));
            }
            SourceKind::Duckdb => {
                let config = base_config()?
                    .access_mode(AccessMode::ReadOnly)?
                    .enable_external_access(false)?
                    .with("lock_configuration", "true")?;
                // Through a symlink DuckDB looks for the WAL beside the link's target, which the
                // sandbox (external access off) refuses: open the real path.
                let real = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
                Connection::open_with_flags(&real, config).map_err(|e| open_error(path, e))?
            }
            SourceKind::Csv | SourceKind::Parquet => {
                let conn = Connection::open_in_memory_with_flags(base_config()?)?;
                let name = opts.table.clone().unwrap_or_else(|| table_name_from(path));
                let reader = if kind == SourceKind::Csv { "read_csv" } else { "read_parquet" };
                let p = path.to_string_lossy().replace('\'', "''");
                conn.execute_batch(&format!("CREATE TABLE {} AS SELECT * FROM {reader}('{p}')", ident(&name)))
                    .map_err(|e| EngineError::NotADatabase {
                        path: path.to_path_buf(),
                        detail: error::DuckMessage::parse(&e).headline(),
                    })?;
                conn.execute_batch("SET enable_external_access = false; SET lock_configuration = true;")?;
                conn
            }
        };
        // A file with a valid header but truncated or damaged data opens, then fails on its first
        // read: that is a bad file the user pointed at, not an internal error.
        let damaged = |e: EngineError| match e {
            EngineError::Damaged(detail) => EngineError::NotADatabase {
                path: path.to_path_buf(),
                detail: format!("truncated or damaged: {detail}"),
            },
            EngineError::Db(d) => {
                let m = error::DuckMessage::parse(&d);
                if matches!(m.kind.as_str(), "IO" | "Serialization" | "Corruption") {
                    EngineError::NotADatabase {
                        path: path.to_path_buf(),
                        detail: format!("truncated or damaged: {}", m.headline()),
                    }
                } else {
                    EngineError::Db(d)
                }
            }
            other => other,
        };
        let today = opts.as_of.unwrap_or_else(|| chrono::Local::now().date_naive());
        define_today_as(&conn, today).map_err(damaged)?;
        let remembered = entity::Remembered::new(opts.checks_dir.as_deref(), path);
        let (table, key) =
            entity::detect(&conn, opts.table.as_deref(), opts.key.as_deref(), &remembered).map_err(damaged)?;
        let columns = schema::columns(&conn, &table).map_err(damaged)?;
        if !columns.iter().any(|c| c.name == key) {
            return Err(EngineError::KeyNotFound {
                table: table.clone(),
                key,
                columns: columns.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", "),
            });
        }
        let base: u64 = conn
            .query_row(&format!("SELECT count(*) FROM {}", ident(&table)), [], |r| r.get::<_, i64>(0))
            .map_err(|e| damaged(e.into()))? as u64;
        let fingerprint = Fingerprint {
            path: std::fs::canonicalize(path).unwrap_or(path.to_path_buf()).to_string_lossy().into_owned(),
            bytes: meta.len(),
            modified: meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
                .map(|d| {
                    chrono::DateTime::from_timestamp(d.as_secs() as i64, d.subsec_nanos())
                        .map_or(String::new(), |t| t.to_rfc3339())
                })
                .unwrap_or_default(),
            table: table.clone(),
            rows: base,
        };
        let member_cache = RefCell::new(member_cache_for(&columns));
        let cancel = Canceller::new(conn.interrupt_handle());
        let engine = Engine {
            conn,
            path: path.to_path_buf(),
            kind,
            table,
            key,
            columns,
            base,
            fingerprint,
            metric_set: opts.metrics.clone(),
            installed: std::cell::OnceCell::new(),
            remembered,
            detected: opts.table.is_none() && opts.key.is_none(),
            pinned: opts.as_of.is_some(),
            memo: RefCell::new(profile::Memo::default()),
            member_cache,
            today: Cell::new(today),
            cancel,
            began: Cell::new(None),
        };
        Ok(engine)
    }

    /// Checks that the key is unique in the entity table: one scan, skipped when DuckDB already
    /// enforces a PRIMARY KEY or UNIQUE constraint on it or this version of the file was checked.
    pub fn verify_key(&self) -> Result<()> {
        entity::verify_key(&self.conn, &self.table, &self.key, self.detected, &self.remembered)
    }

    /// A second connection to the same database (same settings), e.g. for an export thread.
    pub fn try_clone(&self) -> Result<Engine> {
        let conn = self.conn.try_clone()?;
        define_today_as(&conn, self.today.get())?;
        let cancel = Canceller::new(conn.interrupt_handle());
        Ok(Engine {
            cancel,
            began: Cell::new(None),
            conn,
            path: self.path.clone(),
            kind: self.kind,
            table: self.table.clone(),
            key: self.key.clone(),
            columns: self.columns.clone(),
            base: self.base,
            fingerprint: self.fingerprint.clone(),
            metric_set: self.metric_set.clone(),
            installed: self.installed.clone(),
            remembered: self.remembered.clone(),
            detected: self.detected,
            pinned: self.pinned,
            memo: RefCell::new(self.memo.borrow().clone()),
            member_cache: RefCell::new(member_cache_for(&self.columns)),
            today: Cell::new(self.today.get()),
        })
    }

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
    pub fn rollups(&self) -> &[profile::Rollup] {
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
        let mut q = SqlBuilder::new(self);
        q.push(&format!("SELECT count(*) FROM {} WHERE ", self.table_sql()));
        q.filter(f);
        q.push(" LIMIT 0");
        q.prepare(self, |s| s.query([]).map(|_| ()))
    }

    /// The table the filters run over, quoted.
    pub fn table_sql(&self) -> String {
        ident(&self.table)
    }

    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }

    /// The connection for a statement about to run: Err(Cancelled) when a cancel is pending (a
    /// DuckDB interrupt before the statement begins would be lost; `cancel.rs`).
    pub(crate) fn statement_conn(&self) -> Result<&Connection> {
        self.cancel.check()?;
        self.began.set(Some(std::time::Instant::now()));
        Ok(&self.conn)
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
        define_today_as(&self.conn, date)?;
        self.today.set(date);
        self.clear_cache();
        let mut memo = self.memo.borrow_mut();
        *memo = profile::Memo { schema: memo.schema.take(), ..Default::default() };
        Ok(true)
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
        let Some(marker) = self.member_cache.borrow_mut().marker(&self.conn, &self.table)? else { return Ok(None) };
        let mut q = SqlBuilder::new(self);
        q.push(&marker.select(&self.table));
        q.filter_cached(self, f)?;
        match marker.fill(|| q.prepare(self, |s| s.query_row([], |r| Ok((r.get(0)?, r.get(1)?)))))? {
            Some((bits, members)) => Ok(Some(self.member_cache.borrow_mut().insert(&f.sql, bits, members))),
            None => {
                self.member_cache.borrow_mut().disable();
                Ok(None)
            }
        }
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

fn define_today_as(conn: &Connection, date: NaiveDate) -> Result<()> {
    // A built-in `current_date` (a build with ICU) binds before seglens defines anything; then it
    // is left alone. Binding is a cheap check: listing duckdb_functions() costs ~40 ms a query,
    // which every headless command would pay. Once seglens' temp macro exists, it is replaced.
    for name in ["current_date", "today"] {
        let ours = conn.prepare(&format!("SELECT {name}()")).is_err() || macro_is_ours(conn, name);
        if ours {
            conn.execute_batch(&format!("CREATE OR REPLACE TEMP MACRO {name}() AS DATE '{date}'"))?;
        }
    }
    Ok(())
}

/// Whether `name` is seglens' temp macro (asked only once a function of that name binds).
fn macro_is_ours(conn: &Connection, name: &str) -> bool {
    conn.query_row(
        "SELECT count(*) FROM duckdb_functions() WHERE function_name = ? AND database_name = 'temp'",
        [name],
        |r| r.get::<_, i64>(0),
    )
    .is_ok_and(|n| n > 0)
}

/// A column named `rowid` hides DuckDB's row id, which the member cache keys its bitmaps by: off.
fn member_cache_for(columns: &[Column]) -> cache::MemberCache {
    if columns.iter().any(|c| c.name.eq_ignore_ascii_case("rowid")) {
        cache::MemberCache::disabled()
    } else {
        cache::MemberCache::default()
    }
}

/// Quotes an identifier for DuckDB.
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn table_name_from(path: &Path) -> String {
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("data");
    let clean: String =
        stem.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).collect();
    if clean.starts_with(|c: char| c.is_ascii_digit()) || clean.is_empty() { format!("t_{clean}") } else { clean }
}

fn open_error(path: &Path, e: duckdb::Error) -> EngineError {
    let msg = error::DuckMessage::parse(&e);
    if msg.message.to_ascii_lowercase().contains("lock") {
        EngineError::Locked(path.to_path_buf())
    } else {
        EngineError::NotADatabase { path: path.to_path_buf(), detail: msg.headline() }
    }
}

/// Builds one SQL statement that embeds compiled filters, remembering where each one sits so an
/// error position from DuckDB maps back to the user's text of the right filter.
pub(crate) struct SqlBuilder<'a> {
    pub sql: String,
    spans: Vec<(usize, usize, &'a Compiled)>,
}

impl<'a> SqlBuilder<'a> {
    pub fn new(engine: &Engine) -> SqlBuilder<'a> {
        let _ = engine;
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

    /// Prepares and runs the statement through `run`, mapping DuckDB errors.
    pub fn prepare<T>(
        &self,
        engine: &Engine,
        run: impl FnOnce(&mut duckdb::Statement<'_>) -> duckdb::Result<T>,
    ) -> Result<T> {
        // A cancel asked for before DuckDB began the statement, or while it planned it, would be
        // lost (DuckDB clears its interrupt when a statement begins): checked before and after.
        engine.cancel.check()?;
        engine.began.set(Some(std::time::Instant::now()));
        let mut statement = engine.conn.prepare(&self.sql).map_err(|e| self.map_error(e))?;
        engine.cancel.check()?;
        let result = run(&mut statement).map_err(|e| self.map_error(e));
        if matches!(result, Err(EngineError::Cancelled)) {
            // DuckDB's interrupt stopped it: that cancel is spent.
            engine.cancel.clear();
        }
        result
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
