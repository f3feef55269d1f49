//! What the user named as data (`--db`), how DuckDB is given it, which files DuckDB may read, and
//! where DuckDB may spill.
//!
//! - A DuckDB file is opened read-only, external access off, configuration locked.
//! - A CSV file (`.csv`, `.tsv`) is loaded into an in-memory table: re-scanning a CSV for every
//!   keystroke would be slow. A load of a big file reports its progress (`OpenOptions::progress`).
//! - Parquet is read in place, through a view over `read_parquet(...)` in an in-memory database:
//!   a `.parquet` file; a folder of Parquet files (searched recursively; `k=v` folders are hive
//!   partitions and become columns); a glob (`exports/*.parquet`, `ds/**/*.parquet`), expanded by
//!   DuckDB's own `glob()`. Each is one table, named after the file or folder. A folder holding
//!   subfolders that are not partitions is a database: each `NAME.parquet` file and each `NAME/`
//!   folder in it is table `NAME` (one file, or a dataset of files and partitions), so related
//!   tables (transactions beside customers) work as in a DuckDB file.
//!
//! The files are listed once, at open; DuckDB may then read exactly those files
//! (`allowed_paths`, no directory), nothing else (`enable_external_access = false`), and the
//! configuration is locked. An allowed path is writable too, so every statement after that goes
//! through `sandbox::ReadOnly`, which lets only single SELECTs reach DuckDB.
//!
//! DuckDB's temp directory, for every kind of source, is a folder of this session under seglens'
//! cache directory (`SessionTemp`): never the current directory (an in-memory database's default,
//! `.tmp`), never beside the user's data. A session holds a lock on its folder; a later session
//! removes the folders whose lock nobody holds (a killed session's spill files).

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use duckdb::Connection;

use super::entity::FileVersion;
use super::error::DuckMessage;
use crate::engine::{EngineError, Result, SourceKind, ident, literal};

/// One table of a Parquet source: the view's name and the files it reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParquetTable {
    pub name: String,
    pub files: Vec<PathBuf>,
    /// Files sit in `k=v` folders below what was named: read with `hive_partitioning`.
    pub hive: bool,
}

/// What `--db` named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Duckdb(PathBuf),
    Csv(PathBuf),
    /// Tables read in place; `files` of all tables are what DuckDB may read.
    Parquet(Vec<ParquetTable>),
}

/// Refuses a path that exists but is neither a regular file nor a folder: a named pipe, a socket,
/// a device. Opening a FIFO waits for a writer, for good, before any query runs, so `--timeout`
/// cannot end it; a device is no file of data. Every place seglens reads a file the user named
/// calls this first. It only stats (never opens); a path that does not exist, or a folder, passes
/// to its reader, which says what it expected.
pub fn regular_file(path: &Path) -> Result<()> {
    use std::os::unix::fs::FileTypeExt;
    let Ok(meta) = std::fs::metadata(path) else { return Ok(()) };
    let t = meta.file_type();
    let what = if t.is_file() || t.is_dir() {
        return Ok(());
    } else if t.is_fifo() {
        "a named pipe (FIFO)"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_char_device() || t.is_block_device() {
        "a device"
    } else {
        "a special file"
    };
    Err(EngineError::NotRegular { path: path.to_path_buf(), what })
}

/// What `--db` names, checked before DuckDB is given it: a regular file that is not empty, a
/// folder, or a glob (which names no file).
pub fn check_named(path: &Path) -> Result<()> {
    regular_file(path)?;
    if std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.len() == 0) {
        return Err(EngineError::EmptyFile(path.to_path_buf()));
    }
    Ok(())
}

/// The folders an export must never write into: the folder named as the data, or the folder a
/// glob's pattern starts in. A file written there could be read as part of the data by the next
/// session (a CSV under a `.parquet` name breaks it). A single file names no folder.
pub fn data_folders(named: &Path) -> Vec<PathBuf> {
    if named.is_dir() {
        vec![named.to_path_buf()]
    } else if is_glob(named) {
        vec![glob_base(named)]
    } else {
        Vec::new()
    }
}

/// True when `path` is a glob pattern rather than a file name (and no such file exists).
pub fn is_glob(path: &Path) -> bool {
    path.to_str().is_some_and(|s| s.contains(['*', '?', '['])) && !path.exists()
}

/// What kind of source `path` names, from its name and whether it is a folder or a glob (nothing
/// is read).
pub fn kind_of(path: &Path) -> SourceKind {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    if path.is_dir() || is_glob(path) || ext == "parquet" {
        SourceKind::Parquet
    } else if ext == "csv" || ext == "tsv" {
        SourceKind::Csv
    } else {
        SourceKind::Duckdb
    }
}

impl Source {
    /// Resolves `path`: a Parquet folder or glob is listed now (the glob with DuckDB's `glob()` on
    /// `conn`, an in-memory connection whose sandbox is not closed yet). `table` names the one
    /// table of a single-table source (`--table`).
    pub fn resolve(path: &Path, table: Option<&str>, conn: Option<&Connection>) -> Result<Source> {
        match kind_of(path) {
            SourceKind::Duckdb => Ok(Source::Duckdb(path.to_path_buf())),
            SourceKind::Csv => Ok(Source::Csv(path.to_path_buf())),
            SourceKind::Parquet => {
                let one = |name: String, files: Vec<PathBuf>, base: &Path| {
                    let hive = files.iter().any(|f| is_hive(base, f));
                    ParquetTable { name: table.map_or(name, str::to_string), files, hive }
                };
                let tables = if is_glob(path) {
                    let conn = conn.ok_or_else(|| EngineError::Config("a glob needs a connection".into()))?;
                    let base = glob_base(path);
                    let name = base.file_name().map_or_else(|| "data".to_string(), table_name_of);
                    vec![one(name, glob(conn, path)?, &base)]
                } else if path.is_dir() {
                    folder_tables(path, table)?
                } else {
                    let file = std::fs::canonicalize(path).map_err(|_| EngineError::NotFound(path.to_path_buf()))?;
                    let name = path.file_stem().map_or_else(|| "data".to_string(), table_name_of);
                    vec![one(name, vec![file], Path::new("/"))]
                };
                if tables.is_empty() || tables.iter().any(|t| t.files.is_empty()) {
                    let what = if path.is_dir() { "it is a directory without" } else { "the pattern matches no" };
                    return Err(not_parquet(path, &format!("{what} Parquet file (*.parquet)")));
                }
                for t in &tables {
                    if t.files.iter().any(|f| f.to_str().is_none()) {
                        return Err(not_parquet(path, "a file name is not UTF-8; DuckDB cannot read it"));
                    }
                }
                Ok(Source::Parquet(tables))
            }
        }
    }

    pub fn kind(&self) -> SourceKind {
        match self {
            Source::Duckdb(_) => SourceKind::Duckdb,
            Source::Csv(_) => SourceKind::Csv,
            Source::Parquet(_) => SourceKind::Parquet,
        }
    }

    /// Every file the source reads (the export guard never writes onto one of them).
    pub fn files(&self) -> Vec<PathBuf> {
        match self {
            Source::Duckdb(p) | Source::Csv(p) => vec![p.clone()],
            Source::Parquet(tables) => tables.iter().flat_map(|t| t.files.iter().cloned()).collect(),
        }
    }

    /// The files DuckDB may read once the sandbox is closed: exactly the source's Parquet files.
    pub fn allowed_paths(&self) -> Vec<String> {
        match self {
            Source::Parquet(_) => self.files().iter().filter_map(|f| f.to_str().map(str::to_string)).collect(),
            _ => Vec::new(),
        }
    }

    /// The data's resolved path, size and latest modification time (of all its files), read from
    /// file metadata only (never the bytes, and never opening the database: STYLE.md's lock pitfall).
    pub fn stat(&self, named: &Path) -> (String, u64, Option<SystemTime>) {
        let path = std::fs::canonicalize(named).unwrap_or_else(|_| absolute(named));
        let (mut bytes, mut latest) = (0u64, None::<SystemTime>);
        for f in self.files() {
            if let Ok(meta) = std::fs::metadata(&f) {
                bytes += meta.len();
                latest = latest.max(meta.modified().ok());
            }
        }
        (path.to_string_lossy().into_owned(), bytes, latest)
    }

    /// A version of the data, cheaply: a single file's path, size and modification time; for a
    /// set of files, the named path, the total size and the latest modification time mixed with
    /// the number of files, so adding, removing or rewriting a file makes a new version.
    pub fn version(&self, named: &Path) -> Option<FileVersion> {
        match self {
            Source::Duckdb(p) | Source::Csv(p) => FileVersion::of(p),
            Source::Parquet(tables) if tables.len() == 1 && tables[0].files.len() == 1 && !named.is_dir() => {
                FileVersion::of(&tables[0].files[0])
            }
            Source::Parquet(_) => {
                let (path, bytes, latest) = self.stat(named);
                let latest = latest?.duration_since(UNIX_EPOCH).ok()?.as_nanos();
                let files = self.files().len() as u128;
                Some(FileVersion { path, bytes, modified_ns: latest.wrapping_mul(1_000_003).wrapping_add(files) })
            }
        }
    }

    /// Defines the source's tables on `conn` (in memory, sandbox still open): a CSV is loaded,
    /// Parquet tables become views. `progress(done, total)` follows a CSV load in bytes.
    pub(crate) fn attach(
        &self,
        conn: &Connection,
        table: Option<&str>,
        named: &Path,
        progress: Option<&crate::engine::Progress>,
    ) -> Result<()> {
        match self {
            Source::Duckdb(_) => Ok(()),
            Source::Csv(path) => {
                let name = table.map_or_else(|| table_name_from(path), str::to_string);
                let sql = format!(
                    "CREATE TABLE {} AS SELECT * FROM read_csv({})",
                    ident(&name),
                    literal(&path.to_string_lossy())
                );
                let total = std::fs::metadata(path).map_or(0, |m| m.len());
                run_with_progress(conn, &sql, total, progress).map_err(|e| not_data(named, &e))
            }
            Source::Parquet(tables) => {
                conn.execute_batch(PARQUET_SETTINGS)?;
                for t in tables {
                    same_columns(conn, named, t)?;
                    let files: Vec<String> = t.files.iter().map(|f| literal(&f.to_string_lossy())).collect();
                    let list = if files.len() == 1 { files[0].clone() } else { format!("[{}]", files.join(", ")) };
                    let sql = format!(
                        "CREATE VIEW {} AS SELECT * FROM read_parquet({list}, hive_partitioning = {})",
                        ident(&t.name),
                        t.hive
                    );
                    conn.execute_batch(&sql).map_err(|e| not_data(named, &e))?;
                }
                Ok(())
            }
        }
    }
}

/// The settings seglens gives a connection that reads Parquet in place, beyond those of every
/// engine connection (`Engine::open`): one batch, so the benchmark's DuckDB baseline for Parquet
/// runs exactly what seglens runs. The metadata cache reads a file's footer once per file instead
/// of once per query of a session.
pub const PARQUET_SETTINGS: &str = "SET parquet_metadata_cache = true;";

/// Every file of a table reads as Parquet (a damaged one is named) and has the same columns
/// (names and Parquet types, in any order) as its first file. DuckDB binds a dataset by its first
/// file alone: a damaged later file failed only at the first query that reached it, as an
/// internal error naming no file, and a file with other columns was read silently by the first
/// file's (its own columns dropped; the first's missing ones an error later, or NULL with
/// `union_by_name`). seglens refuses both at open, naming the file: files that disagree are not
/// one table. One query reads every footer (about 0.15 ms a file); the leaf columns are compared
/// (a nested column by its fields).
fn same_columns(conn: &Connection, named: &Path, t: &ParquetTable) -> Result<()> {
    type Columns = Vec<(String, String)>;
    let list = |files: &[PathBuf]| {
        format!("[{}]", files.iter().map(|f| literal(&f.to_string_lossy())).collect::<Vec<_>>().join(", "))
    };
    let read = |files: &[PathBuf]| -> duckdb::Result<BTreeMap<String, Columns>> {
        let sql = format!("SELECT file_name, name, type FROM parquet_schema({}) WHERE type IS NOT NULL", list(files));
        let mut s = conn.prepare(&sql)?;
        let mut by_file: BTreeMap<String, Columns> = BTreeMap::new();
        for row in s.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?)))? {
            let (file, name, ty) = row?;
            by_file.entry(file).or_default().push((name, ty));
        }
        Ok(by_file)
    };
    let mut by_file = match read(&t.files) {
        Ok(m) => m,
        Err(e) => {
            // One query for all: find the file it failed on, to name it.
            let bad = t.files.iter().find_map(|f| read(std::slice::from_ref(f)).err().map(|e| (f, e)));
            let (path, e) = bad.map_or((named, e), |(f, e)| (f.as_path(), e));
            return Err(not_parquet(path, &DuckMessage::parse(&e).headline()));
        }
    };
    let mut columns = |f: &Path| {
        let mut c = by_file.remove(&*f.to_string_lossy()).unwrap_or_default();
        c.sort();
        c
    };
    let first = &t.files[0];
    let want = columns(first);
    for f in &t.files[1..] {
        let have = columns(f);
        if have != want {
            let show = |a: &Columns, b: &Columns| {
                a.iter().filter(|c| !b.contains(c)).map(|(n, ty)| format!("{n} {ty}")).collect::<Vec<_>>().join(", ")
            };
            let (extra, missing) = (show(&have, &want), show(&want, &have));
            let what = match (extra.is_empty(), missing.is_empty()) {
                (false, false) => format!("it has {extra} and lacks {missing}"),
                (false, true) => format!("it has {extra} besides"),
                _ => format!("it lacks {missing}"),
            };
            return Err(EngineError::ColumnsDiffer { path: f.clone(), first: first.clone(), what });
        }
    }
    Ok(())
}

/// Runs `sql` (a CSV load) on a second connection, on a thread of its own, while this thread
/// reports DuckDB's progress of it.
fn run_with_progress(
    conn: &Connection,
    sql: &str,
    total: u64,
    progress: Option<&crate::engine::Progress>,
) -> duckdb::Result<()> {
    let Some(progress) = progress else { return conn.execute_batch(sql) };
    let loader = conn.try_clone()?;
    // Progress is tracked only with DuckDB's progress bar on; its own printing stays off.
    loader.execute_batch(
        "SET enable_progress_bar = true; SET enable_progress_bar_print = false; SET progress_bar_time = 0;",
    )?;
    let handle = loader.progress_handle();
    std::thread::scope(|s| {
        let load = s.spawn(move || loader.execute_batch(sql));
        while !load.is_finished() {
            if let Some(pct) = handle.query_progress().percentage().filter(|p| *p >= 0.0) {
                (progress.0)((pct.min(100.0) / 100.0 * total as f64) as u64, total);
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let result = load.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        if result.is_ok() {
            (progress.0)(total, total);
        }
        result
    })
}

fn not_data(path: &Path, e: &duckdb::Error) -> EngineError {
    let detail = DuckMessage::parse(e).headline();
    match kind_of(path) {
        SourceKind::Parquet => EngineError::NotParquet { path: path.to_path_buf(), detail },
        _ => EngineError::NotADatabase { path: path.to_path_buf(), detail },
    }
}

fn not_parquet(path: &Path, detail: &str) -> EngineError {
    EngineError::NotParquet { path: path.to_path_buf(), detail: detail.to_string() }
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// The files a glob matches, by DuckDB's own `glob()` (its syntax, `**` included), resolved.
fn glob(conn: &Connection, pattern: &Path) -> Result<Vec<PathBuf>> {
    let text = absolute(pattern).to_string_lossy().into_owned();
    let mut s = conn.prepare(&format!("SELECT file FROM glob({}) ORDER BY file", literal(&text)))?;
    let files = s.query_map([], |r| r.get::<_, String>(0))?.collect::<duckdb::Result<Vec<_>>>()?;
    Ok(files
        .into_iter()
        .map(PathBuf::from)
        .filter(|f| f.is_file())
        .map(|f| std::fs::canonicalize(&f).unwrap_or(f))
        .collect())
}

/// The folder a glob's matches sit under: its leading components without wildcards.
fn glob_base(pattern: &Path) -> PathBuf {
    let mut base = PathBuf::new();
    for c in absolute(pattern).components() {
        if c.as_os_str().to_str().is_some_and(|s| s.contains(['*', '?', '['])) {
            break;
        }
        base.push(c);
    }
    base
}

/// A file below `base` in a `k=v` folder.
fn is_hive(base: &Path, file: &Path) -> bool {
    let base = std::fs::canonicalize(base).unwrap_or_else(|_| base.to_path_buf());
    let rel = file.strip_prefix(&base).unwrap_or(file);
    rel.parent().is_some_and(|p| p.components().any(|c| c.as_os_str().to_string_lossy().contains('=')))
}

/// A folder: one dataset, or (when it holds a subfolder that is not a partition) one table per
/// `NAME.parquet` file and `NAME/` folder.
fn folder_tables(dir: &Path, table: Option<&str>) -> Result<Vec<ParquetTable>> {
    let dir = std::fs::canonicalize(dir).map_err(|_| EngineError::NotFound(dir.to_path_buf()))?;
    let entries = sorted_entries(&dir)?;
    let database =
        entries.iter().any(|p| p.is_dir() && !p.file_name().is_some_and(|n| n.to_string_lossy().contains('=')));
    if !database {
        let files = parquet_files(&dir)?;
        let name =
            table.map_or_else(|| dir.file_name().map_or_else(|| "data".to_string(), table_name_of), str::to_string);
        let hive = files.iter().any(|f| is_hive(&dir, f));
        return Ok(vec![ParquetTable { name, files, hive }]);
    }
    let mut tables: Vec<ParquetTable> = Vec::new();
    for p in entries {
        let (name, files) = if p.is_dir() {
            (p.file_name().map_or_else(|| "data".to_string(), table_name_of), parquet_files(&p)?)
        } else if p.extension().is_some_and(|e| e.eq_ignore_ascii_case("parquet")) {
            regular_file(&p)?;
            (p.file_stem().map_or_else(|| "data".to_string(), table_name_of), vec![p.clone()])
        } else {
            continue;
        };
        if files.is_empty() {
            continue;
        }
        if tables.iter().any(|t| t.name == name) {
            return Err(not_parquet(&dir, &format!("two tables would be named {name}; rename one")));
        }
        let hive = files.iter().any(|f| is_hive(&p, f));
        tables.push(ParquetTable { name, files, hive });
    }
    Ok(tables)
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let read = std::fs::read_dir(dir).map_err(|e| not_parquet(dir, &format!("cannot list the folder: {e}")))?;
    let mut out: Vec<PathBuf> = read.filter_map(|e| e.ok().map(|e| e.path())).collect();
    out.retain(|p| !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with(['.', '_'])));
    out.sort();
    Ok(out)
}

/// Every `*.parquet` file below `dir`, resolved, in path order (hidden and `_` names skipped,
/// as Spark and DuckDB write `_SUCCESS`, `.crc` files).
fn parquet_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in sorted_entries(dir)? {
        if p.is_dir() {
            out.extend(parquet_files(&p)?);
        } else if p.extension().is_some_and(|e| e.eq_ignore_ascii_case("parquet")) {
            regular_file(&p)?;
            out.push(std::fs::canonicalize(&p).unwrap_or(p));
        }
    }
    Ok(out)
}

fn table_name_of(stem: &std::ffi::OsStr) -> String {
    let stem = stem.to_str().unwrap_or("data");
    let clean: String =
        stem.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).collect();
    if clean.starts_with(|c: char| c.is_ascii_digit()) || clean.is_empty() { format!("t_{clean}") } else { clean }
}

/// The table name of a single file: its stem, lower case, other characters as `_`.
pub fn table_name_from(path: &Path) -> String {
    path.file_stem().map_or_else(|| "data".to_string(), table_name_of)
}

/// This session's folder under `<cache>/tmp`, locked while the session lives and removed when it
/// ends; DuckDB's `temp_directory` is `duckdb` inside it (DuckDB creates it on first spill).
#[derive(Debug)]
pub struct SessionTemp {
    dir: PathBuf,
    _lock: File,
}

impl SessionTemp {
    /// Creates the session folder under `root`, after removing the folders of sessions that are
    /// gone (their lock is free). None when `root` cannot be written: DuckDB then does not spill.
    pub fn create(root: &Path) -> Option<SessionTemp> {
        std::fs::create_dir_all(root).ok()?;
        sweep(root);
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = root.join(format!("{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).ok()?;
        let lock = File::create(dir.join("lock")).ok()?;
        lock.try_lock().ok()?;
        Some(SessionTemp { dir, _lock: lock })
    }

    /// The value for DuckDB's `temp_directory`.
    pub fn duckdb_dir(&self) -> PathBuf {
        self.dir.join("duckdb")
    }
}

impl Drop for SessionTemp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Removes the session folders under `root` whose lock no process holds (a session killed before
/// it could remove its own). A folder without a lock file is left alone: it may be a session
/// between creating its folder and locking it.
fn sweep(root: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else { return };
    for e in entries.flatten() {
        let dir = e.path();
        let Ok(lock) = File::options().write(true).open(dir.join("lock")) else { continue };
        if lock.try_lock().is_ok() {
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
}

/// DuckDB's temp directory for a session: `<cache>/tmp/<session>/duckdb`, or `''` (no spilling,
/// never the current directory) when the cache directory cannot be written.
pub fn temp_directory(session: Option<&SessionTemp>) -> String {
    session.map_or_else(String::new, |s| s.duckdb_dir().to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_killed_sessions_folder_is_removed_and_a_live_ones_kept() {
        let root = tempfile::tempdir().unwrap();
        let live = SessionTemp::create(root.path()).unwrap();
        // A session that is gone: its folder and lock file, nobody holding the lock.
        let dead = root.path().join("999999-0");
        std::fs::create_dir_all(dead.join("duckdb")).unwrap();
        std::fs::write(dead.join("lock"), "").unwrap();
        std::fs::write(dead.join("duckdb/spill.block"), "x").unwrap();
        let other = SessionTemp::create(root.path()).unwrap();
        assert!(!dead.exists(), "the dead session's folder is removed");
        assert!(live.dir.exists() && other.dir.exists());
        let dir = live.dir.clone();
        drop(live);
        assert!(!dir.exists(), "a session removes its own folder");
    }

    #[test]
    fn hive_folders_and_glob_bases() {
        assert!(is_hive(Path::new("/d"), Path::new("/d/region=a/x.parquet")));
        assert!(!is_hive(Path::new("/d/region=a"), Path::new("/d/region=a/x.parquet")));
        assert_eq!(glob_base(Path::new("/d/e/*/f*.parquet")), PathBuf::from("/d/e"));
    }
}
