//! A workspace: a `seglens.toml` naming a database and where its library and metrics live, so the
//! segments and metrics a user sees are the ones written for the data they opened (the habit of
//! dbt's `dbt_project.yml` and Harlequin's config: a file found from the current directory up).
//!
//! ```toml
//! database = "crm.duckdb"      # relative to this file
//! table = "shoppers"           # optional: the entity table (else detected)
//! key = "shopper_ref"          # optional
//! library = "segments"         # default: segments/ beside this file
//! metrics = "metrics.toml"     # default: metrics.toml beside this file, when it exists
//! ```
//!
//! Found, in order: from the current directory upward; else beside the database named with
//! `--db`. A workspace found upward applies only when `--db` is not given or names its database.
//! The sample database is a workspace of its own in the user data directory.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub const FILE: &str = "seglens.toml";

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkspaceFile {
    pub database: PathBuf,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub library: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<PathBuf>,
}

/// A workspace file read from disk, its paths resolved against its folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workspace {
    /// The `seglens.toml` itself.
    pub path: PathBuf,
    pub database: PathBuf,
    pub table: Option<String>,
    pub key: Option<String>,
    pub library: PathBuf,
    /// The metrics file to use, when it exists.
    pub metrics: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum WorkspaceError {
    #[error("{}: {message}; fix the file (fields: database, table, key, library, metrics)", path.display())]
    Invalid { path: PathBuf, message: String },
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
}

impl Workspace {
    pub fn read(path: &Path) -> Result<Workspace, WorkspaceError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| WorkspaceError::Io { path: path.to_path_buf(), source })?;
        let f: WorkspaceFile = toml::from_str(&text).map_err(|e| WorkspaceError::Invalid {
            path: path.to_path_buf(),
            message: e.message().trim().to_string(),
        })?;
        let dir = path.parent().unwrap_or(Path::new("."));
        Ok(Workspace {
            path: path.to_path_buf(),
            database: dir.join(&f.database),
            table: f.table,
            key: f.key,
            library: dir.join(f.library.unwrap_or_else(|| PathBuf::from("segments"))),
            metrics: dir.join(f.metrics.unwrap_or_else(|| PathBuf::from("metrics.toml"))),
        })
    }

    /// The workspace for this run: upward from `cwd` (when it fits `db`), else beside `db`.
    pub fn find(cwd: &Path, db: Option<&Path>) -> Result<Option<Workspace>, WorkspaceError> {
        for dir in cwd.ancestors() {
            let candidate = dir.join(FILE);
            if candidate.is_file() {
                let ws = Workspace::read(&candidate)?;
                if db.is_none_or(|d| same_file(d, &ws.database)) {
                    return Ok(Some(ws));
                }
                break;
            }
        }
        if let Some(d) = db {
            let beside = d.parent().unwrap_or(Path::new(".")).join(FILE);
            if beside.is_file() {
                let ws = Workspace::read(&beside)?;
                if same_file(d, &ws.database) {
                    return Ok(Some(ws));
                }
            }
        }
        Ok(None)
    }

    /// Writes a workspace file with create-new semantics (never replaces one).
    pub fn create(path: &Path, file: &WorkspaceFile) -> Result<(), WorkspaceError> {
        let text = toml::to_string_pretty(file)
            .map_err(|e| WorkspaceError::Invalid { path: path.to_path_buf(), message: e.to_string() })?;
        write_new(path, &format!("# seglens workspace: the database, its library and its metrics.\n{text}"))
    }
}

/// Writes `text` to `path` only if nothing is there: a temporary file beside it, then a hard link
/// that fails when the name exists, so a concurrent writer or an existing file is never replaced.
pub fn write_new(path: &Path, text: &str) -> Result<(), WorkspaceError> {
    let io = |source| WorkspaceError::Io { path: path.to_path_buf(), source };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    let mut tmp = tempfile::Builder::new().prefix(".seglens-").tempfile_in(dir).map_err(io)?;
    std::io::Write::write_all(&mut tmp, text.as_bytes()).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    std::fs::hard_link(tmp.path(), path).map_err(io)?;
    Ok(())
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}
