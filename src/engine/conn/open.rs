//! Opening a data source read-only (a DuckDB file, a CSV, Parquet read in place), the checks a
//! file version needs once, and second connections to the same database.

use duckdb::{AccessMode, Config, Connection};

use super::error;
use super::today::define_today_as;
use crate::engine::query::{profile, rollup, schema};
use crate::engine::*;

impl Engine {
    /// Opens `path` read-only: a DuckDB file; a CSV loaded into an in-memory database; Parquet
    /// (a file, folder, glob or hive dataset) read in place through views (source.rs). User SQL
    /// then runs with external access off (Parquet: only its files readable) and the
    /// configuration locked, and only single SELECT statements reach DuckDB (sandbox.rs).
    pub fn open(path: &Path, opts: &OpenOptions) -> Result<Engine> {
        let kind = source::kind_of(path);
        check_path(path, kind)?;
        let threads = opts.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
        // Spill files go to this session's folder in seglens' cache, never the current directory.
        let temp = source::SessionTemp::create(&crate::config::cache_dir().join("tmp")).map(Arc::new);
        let temp_directory = source::temp_directory(temp.as_deref());
        let ((conn, progress_conn), src) = connect(path, kind, opts, || base_config(threads, opts, &temp_directory))?;
        let damaged = |e| damaged(path, e);
        conn.attach_kept()?;
        let today = opts.as_of.unwrap_or_else(|| chrono::Local::now().date_naive());
        define_today_as(conn.setup(), today).map_err(damaged)?;
        define_today_as(progress_conn.setup(), today).map_err(damaged)?;
        let remembered = entity::Remembered::with_version(opts.checks_dir.as_deref(), src.version(path));
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
        let fingerprint = fingerprint(&src, path, &table, base);
        let member_cache = RefCell::new(member_cache_for(&columns));
        let cancel = Canceller::new(conn.interrupt_handle());
        let engine = Engine {
            conn,
            _temp: temp,
            files: src.files(),
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
            kept: Arc::new(rollup::Kept::new(progress_conn)),
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
        define_today_as(conn.setup(), self.today.get())?;
        let cancel = Canceller::new(conn.interrupt_handle());
        Ok(Engine {
            cancel,
            began: Cell::new(None),
            conn,
            _temp: self._temp.clone(),
            files: self.files.clone(),
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
            kept: Arc::clone(&self.kept),
            today: Cell::new(self.today.get()),
        })
    }
}

/// Refuses what is not a data file: a pipe or device (it would block or mislead DuckDB), a
/// directory where a file is expected, a path that does not exist.
fn check_path(path: &Path, kind: SourceKind) -> Result<()> {
    // A pipe or device would block or mislead DuckDB; an empty file has no table to find.
    source::check_named(path)?;
    if kind != SourceKind::Parquet {
        let meta = std::fs::metadata(path).map_err(|_| EngineError::NotFound(path.to_path_buf()))?;
        if meta.is_dir() {
            return Err(EngineError::NotADatabase { path: path.to_path_buf(), detail: "it is a directory".into() });
        }
    } else if !source::is_glob(path) && !path.exists() {
        return Err(EngineError::NotFound(path.to_path_buf()));
    }
    Ok(())
}

/// The settings every connection of a session starts from.
fn base_config(threads: usize, opts: &OpenOptions, temp_directory: &str) -> Result<Config> {
    let config = Config::default().threads(threads as i64)?;
    // DuckDB's own default (80% of RAM) unless the user sets one: a cap below what the
    // work needs turns a right answer into an error (`DEFAULT_MEMORY_LIMIT`).
    let config = match &opts.memory_limit {
        Some(m) => config.max_memory(m)?,
        None => config,
    };
    // Query progress is a per-connection setting, refused here and once the configuration
    // is locked: the rollup build's connection sets it before the lock (`ReadOnly::lock`).
    Ok(config
        .enable_autoload_extension(false)?
        .with("autoinstall_known_extensions", "false")?
        .with("errors_as_json", "true")?
        .with("temp_directory", temp_directory)?)
}

/// The locked connections (the engine's and the rollup build's) to `path`, and what it is.
fn connect(
    path: &Path,
    kind: SourceKind,
    opts: &OpenOptions,
    base_config: impl Fn() -> Result<Config>,
) -> Result<((sandbox::ReadOnly, sandbox::ReadOnly), source::Source)> {
    Ok(match kind {
        // DuckDB names the database after its file and fails on a name that is not UTF-8.
        SourceKind::Duckdb if path.file_stem().is_some_and(|s| s.to_str().is_none()) => {
            return Err(EngineError::Config(format!(
                "{}: DuckDB cannot open a database whose file name is not UTF-8; rename the file (or copy it) to a UTF-8 name",
                path.display()
            )));
        }
        SourceKind::Duckdb => {
            // The configuration is locked once the progress connection exists (`lock`).
            let config = base_config()?.access_mode(AccessMode::ReadOnly)?.enable_external_access(false)?;
            // Through a symlink DuckDB looks for the WAL beside the link's target, which the
            // sandbox (external access off) refuses: open the real path.
            let real = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
            let conn = Connection::open_with_flags(&real, config).map_err(|e| open_error(path, e))?;
            (sandbox::ReadOnly::lock(conn, &[])?, source::Source::Duckdb(path.to_path_buf()))
        }
        SourceKind::Csv | SourceKind::Parquet => {
            let conn = Connection::open_in_memory_with_flags(base_config()?)?;
            let src = source::Source::resolve(path, opts.table.as_deref(), Some(&conn))?;
            src.attach(&conn, opts.table.as_deref(), path, opts.progress.as_ref())?;
            (sandbox::ReadOnly::lock(conn, &src.allowed_paths())?, src)
        }
    })
}

/// A file with a valid header but truncated or damaged data opens, then fails on its first
/// read: that is a bad file the user pointed at, not an internal error.
fn damaged(path: &Path, e: EngineError) -> EngineError {
    match e {
        EngineError::Damaged(detail) => {
            EngineError::NotADatabase { path: path.to_path_buf(), detail: format!("truncated or damaged: {detail}") }
        }
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
    }
}

/// Identifies the data cheaply: path, size, modification time and the entity table's rows.
fn fingerprint(src: &source::Source, path: &Path, table: &str, base: u64) -> Fingerprint {
    let (fp_path, bytes, modified) = src.stat(path);
    Fingerprint {
        path: fp_path,
        bytes,
        modified: modified
            .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
            .map(|d| {
                chrono::DateTime::from_timestamp(d.as_secs() as i64, d.subsec_nanos())
                    .map_or(String::new(), |t| t.to_rfc3339())
            })
            .unwrap_or_default(),
        table: table.to_string(),
        rows: base,
    }
}

/// A column named `rowid` hides DuckDB's row id, which the member cache keys its bitmaps by: off.
fn member_cache_for(columns: &[Column]) -> cache::MemberCache {
    if columns.iter().any(|c| c.name.eq_ignore_ascii_case("rowid")) {
        cache::MemberCache::disabled()
    } else {
        cache::MemberCache::default()
    }
}

fn open_error(path: &Path, e: duckdb::Error) -> EngineError {
    let msg = error::DuckMessage::parse(&e);
    if msg.message.to_ascii_lowercase().contains("lock") {
        EngineError::Locked(path.to_path_buf())
    } else {
        EngineError::NotADatabase { path: path.to_path_buf(), detail: msg.headline() }
    }
}
