//! Which table holds one row per customer, and by which key; and remembering, per version of a
//! database file, that the key was checked unique, so a headless command that a script runs in a
//! loop does not pay a full scan before every answer.
//!
//! Detection, in order (README "Your data"):
//! 1. `--table` (and `--key`) when given;
//! 2. a table named `customers`;
//! 3. the table whose key (a PRIMARY KEY/UNIQUE column, else the first id-like column: `id`,
//!    `*_id`, `*_ref`, `*_key`, `*_no`, `*_code`) is referenced by a same-named column in other
//!    tables, most referenced first: the centre of a star schema, not its transactions table,
//!    which has an id of its own that nothing references;
//! 4. else the one table with a unique id-like column.
//!
//! Uniqueness is checked by a scan, except where DuckDB enforces it; the result is remembered in
//! the cache directory under the file's path, size and modification time.

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use super::sandbox::ReadOnly as Connection;
use serde::{Deserialize, Serialize};
use sha2::Digest;

use crate::engine::query::schema::{columns, tables};
use crate::engine::{EngineError, Result, ident, literal};

/// A version of a database file: path, size and modification time (never its bytes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileVersion {
    pub path: String,
    pub bytes: u64,
    pub modified_ns: u128,
}

impl FileVersion {
    pub fn of(path: &Path) -> Option<FileVersion> {
        let meta = std::fs::metadata(path).ok()?;
        let modified_ns = meta.modified().ok()?.duration_since(std::time::UNIX_EPOCH).ok()?.as_nanos();
        let path = std::fs::canonicalize(path).ok()?.to_string_lossy().into_owned();
        Some(FileVersion { path, bytes: meta.len(), modified_ns })
    }
}

/// What was learnt about one file version: its entity table and key, checked unique.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Known {
    file: FileVersion,
    table: String,
    key: String,
    /// Found by detection (not named with --table/--key), so detection may reuse it.
    detected: bool,
}

/// Checks remembered in a directory (one small JSON file per database path). Anything unreadable
/// is ignored and the check simply runs again: a cache never decides a result.
#[derive(Debug, Clone)]
pub struct Remembered {
    dir: Option<PathBuf>,
    file: Option<FileVersion>,
    /// The entry as read from disk (or last written), read once: detection and the key check
    /// both ask.
    read: RefCell<Option<Option<Known>>>,
}

impl Remembered {
    pub fn new(dir: Option<&Path>, data: &Path) -> Remembered {
        Remembered::with_version(dir, FileVersion::of(data))
    }

    /// Checks remembered for a version given (a dataset of several files: source.rs).
    pub fn with_version(dir: Option<&Path>, file: Option<FileVersion>) -> Remembered {
        Remembered { dir: dir.map(Path::to_path_buf), file, read: RefCell::new(None) }
    }

    fn entry_path(&self) -> Option<PathBuf> {
        let (dir, file) = (self.dir.as_ref()?, self.file.as_ref()?);
        let digest = sha2::Sha256::digest(file.path.as_bytes());
        let name: String = digest.iter().take(12).map(|b| format!("{b:02x}")).collect();
        Some(dir.join(format!("{name}.json")))
    }

    fn load(&self) -> Option<Known> {
        let read = || {
            let text = std::fs::read_to_string(self.entry_path()?).ok()?;
            let known: Known = serde_json::from_str(&text).ok()?;
            (Some(&known.file) == self.file.as_ref()).then_some(known)
        };
        self.read.borrow_mut().get_or_insert_with(read).clone()
    }

    /// The entity table and key found for this very file version, if any.
    pub fn entity(&self) -> Option<(String, String)> {
        self.load().filter(|k| k.detected).map(|k| (k.table, k.key))
    }

    /// The entity table and key last checked in this very file version, found or named.
    pub fn named(&self) -> Option<(String, String)> {
        self.load().map(|k| (k.table, k.key))
    }

    /// True when `table`.`key` was checked unique in this very file version.
    pub fn key_checked(&self, table: &str, key: &str) -> bool {
        self.load().is_some_and(|k| k.table == table && k.key == key)
    }

    /// Remembers that `table`.`key` is unique in this file version (atomically; errors ignored:
    /// a read-only cache directory only costs the next command its scan).
    pub fn remember(&self, table: &str, key: &str, detected: bool) {
        let (Some(path), Some(file)) = (self.entry_path(), self.file.clone()) else { return };
        let Some(dir) = path.parent() else { return };
        let known = Known { file, table: table.into(), key: key.into(), detected };
        let write = || -> std::io::Result<()> {
            std::fs::create_dir_all(dir)?;
            let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
            serde_json::to_writer(&mut tmp, &known)?;
            tmp.persist(&path).map_err(|e| e.error)?;
            Ok(())
        };
        let _ = write();
        *self.read.borrow_mut() = Some(Some(known));
    }
}

/// Column names that name a row: `id`, `*_id`, `*_ref`, `*_key`, `*_no`, `*_code`, `*_uuid`,
/// camelCase `*Id`.
fn id_like(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n == "id" || ["_id", "_ref", "_key", "_no", "_code", "_uuid"].iter().any(|s| n.ends_with(s)) || name.ends_with("Id")
}

/// The single-column PRIMARY KEY or UNIQUE constraints DuckDB enforces on `table`.
fn enforced_keys(conn: &Connection, table: &str) -> Result<Vec<String>> {
    let mut s = conn.prepare(&format!(
        "SELECT constraint_column_names[1] FROM duckdb_constraints() WHERE database_name = current_database() AND table_name = {} AND constraint_type IN ('PRIMARY KEY', 'UNIQUE') AND len(constraint_column_names) = 1",
        literal(table)
    ))?;
    Ok(s.query_map([], |r| r.get(0))?.collect::<duckdb::Result<Vec<String>>>()?)
}

/// Picks the entity table and key (see the module doc). Scans only to confirm uniqueness.
pub(crate) fn detect(
    conn: &Connection,
    table: Option<&str>,
    key: Option<&str>,
    remembered: &Remembered,
) -> Result<(String, String)> {
    if table.is_none()
        && key.is_none()
        && let Some(found) = remembered.entity()
    {
        return Ok(found);
    }
    // Named, as checked before in this file version: its spelling as stored, without listing
    // the tables (listing views makes DuckDB build its built-in views, ~10 ms a command).
    if let (Some(t), Some(k)) = (table, key)
        && let Some((known_t, known_k)) = remembered.named()
        && known_t.eq_ignore_ascii_case(t)
        && known_k.eq_ignore_ascii_case(k)
    {
        return Ok((known_t, known_k));
    }
    let all = tables(conn)?;
    if all.is_empty() {
        return Err(EngineError::NoEntityTable("the database has no tables".into()));
    }
    let table = match table {
        Some(t) => all
            .iter()
            .find(|x| x.eq_ignore_ascii_case(t))
            .cloned()
            .ok_or_else(|| EngineError::NoEntityTable(format!("no table {t:?}; tables: {}", all.join(", "))))?,
        None => match all.iter().find(|t| t.eq_ignore_ascii_case("customers")) {
            Some(t) => t.clone(),
            None => {
                let (t, k) = by_structure(conn, &all)?;
                return Ok(match key {
                    Some(k) => (t.clone(), key_named(conn, &t, k)?),
                    None => {
                        // Found unique (enforced or scanned): the key check need not scan again.
                        remembered.remember(&t, &k, true);
                        (t, k)
                    }
                });
            }
        },
    };
    let key = match key {
        Some(k) => key_named(conn, &table, k)?,
        None => default_key(conn, &table)?,
    };
    Ok((table, key))
}

fn key_named(conn: &Connection, table: &str, k: &str) -> Result<String> {
    let cols = columns(conn, table)?;
    Ok(cols.iter().find(|c| c.name.eq_ignore_ascii_case(k)).map(|c| c.name.clone()).unwrap_or_else(|| k.to_string()))
}

/// The key of a named table: an enforced key, `<singular>_id`, `customer_id`, `id`, else the
/// first id-like column.
fn default_key(conn: &Connection, table: &str) -> Result<String> {
    if let Some(k) = enforced_keys(conn, table)?.into_iter().next() {
        return Ok(k);
    }
    let cols = columns(conn, table)?;
    let singular = table.to_ascii_lowercase().trim_end_matches('s').to_string() + "_id";
    cols.iter()
        .find(|c| c.name.eq_ignore_ascii_case(&singular))
        .or_else(|| cols.iter().find(|c| c.name.eq_ignore_ascii_case("customer_id")))
        .or_else(|| cols.iter().find(|c| c.name.eq_ignore_ascii_case("id")))
        .or_else(|| cols.iter().find(|c| id_like(&c.name)))
        .map(|c| c.name.clone())
        .ok_or_else(|| EngineError::KeyNotFound {
            table: table.to_string(),
            key: singular,
            columns: cols.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", "),
        })
}

/// Rule 3, then rule 4 of the module doc.
fn by_structure(conn: &Connection, all: &[String]) -> Result<(String, String)> {
    let mut names: Vec<(String, Vec<String>)> = Vec::new();
    for t in all {
        names.push((t.clone(), columns(conn, t)?.into_iter().map(|c| c.name).collect()));
    }
    // Each table's candidate key and how many other tables have a column of that name.
    let mut candidates: Vec<(usize, String, String, bool)> = Vec::new();
    for (t, cols) in &names {
        let enforced = enforced_keys(conn, t)?;
        let key = enforced.first().cloned().or_else(|| cols.iter().find(|c| id_like(c)).cloned());
        let Some(key) = key else { continue };
        let referenced = names
            .iter()
            .filter(|(other, ocols)| other != t && ocols.iter().any(|c| c.eq_ignore_ascii_case(&key)))
            .count();
        candidates.push((referenced, t.clone(), key, !enforced.is_empty()));
    }
    candidates.sort_by_key(|c| std::cmp::Reverse(c.0));
    for (_, t, k, enforced) in candidates.iter().filter(|c| c.0 > 0) {
        if *enforced || duplicates(conn, t, k)? == 0 {
            return Ok((t.clone(), k.clone()));
        }
    }
    let mut unique = Vec::new();
    for (_, t, k, enforced) in &candidates {
        if *enforced || duplicates(conn, t, k)? == 0 {
            unique.push((t.clone(), k.clone()));
        }
    }
    match unique.len() {
        1 => Ok(unique.remove(0)),
        0 => Err(EngineError::NoEntityTable(format!(
            "no customer table found (no table named customers, none with a unique id-like column such as id, *_id or *_ref); name it with --table and --key (tables: {})",
            all.join(", ")
        ))),
        _ => Err(EngineError::NoEntityTable(format!(
            "several tables could hold one row per customer ({}); pick one with --table (or in seglens.toml)",
            unique.iter().map(|(t, k)| format!("{t} by {k}")).collect::<Vec<_>>().join(", ")
        ))),
    }
}

/// Rows beyond the first of each key; a NULL key counts too (count(DISTINCT) skips NULLs).
fn duplicates(conn: &Connection, table: &str, key: &str) -> Result<u64> {
    let sql = format!("SELECT count(*) - count(DISTINCT {k}) FROM {t}", k = ident(key), t = ident(table));
    Ok(conn.query_row(&sql, [], |r| r.get::<_, i64>(0))? as u64)
}

/// Checks that the key is unique: free where DuckDB enforces it or this file version was checked
/// before, one scan otherwise (then remembered).
pub(crate) fn verify_key(
    conn: &Connection,
    table: &str,
    key: &str,
    detected: bool,
    remembered: &Remembered,
) -> Result<()> {
    if remembered.key_checked(table, key) {
        return Ok(());
    }
    if enforced_keys(conn, table)?.iter().any(|k| k == key) {
        // Remembered too, so the next command skips listing tables to find its spelling.
        remembered.remember(table, key, detected);
        return Ok(());
    }
    match duplicates(conn, table, key)? {
        0 => {
            remembered.remember(table, key, detected);
            Ok(())
        }
        d => Err(EngineError::KeyNotUnique { table: table.into(), key: key.into(), duplicates: d }),
    }
}
