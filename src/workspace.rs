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
//! `--db`. A workspace applies only to its own database: found upward, only when `--db` is not
//! given or names its database; beside the database, only when it names it. With `--db`, a
//! workspace file that cannot be read names no database seglens can tell, so it is passed over
//! with a warning instead of stopping the command. The database may be anywhere (it is only
//! read); a library or metrics file outside the workspace's folder (and outside seglens' data
//! directory, where `metrics --init` keeps the library it found) is used, and named in a warning
//! every time (`outside`). The sample database is a workspace of its own in the user data
//! directory.

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

    /// The workspace for this run: upward from `cwd` (when it fits `db`), else beside `db`; and
    /// the warnings to print (a workspace file passed over because it cannot be read).
    pub fn find(cwd: &Path, db: Option<&Path>) -> Result<Found, WorkspaceError> {
        let mut warnings = Vec::new();
        // With --db, an unreadable file may name any database: it is not this run's to fix.
        let mut read = |path: &Path| match Workspace::read(path) {
            Ok(ws) => Ok(Some(ws)),
            Err(e) if db.is_some() => {
                warnings.push(format!("{e} (passed over: --db names the database)"));
                Ok(None)
            }
            Err(e) => Err(e),
        };
        let upward = cwd.ancestors().map(|dir| dir.join(FILE)).find(|c| c.is_file());
        let mut workspace = None;
        if let Some(candidate) = &upward
            && let Some(ws) = read(candidate)?
            && db.is_none_or(|d| same_file(d, &ws.database))
        {
            workspace = Some(ws);
        } else if let Some(d) = db {
            let beside = d.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")).join(FILE);
            let seen = upward.as_deref().is_some_and(|u| same_file(u, &beside));
            if !seen
                && beside.is_file()
                && let Some(ws) = read(&beside)?
                && same_file(d, &ws.database)
            {
                workspace = Some(ws);
            }
        }
        Ok(Found { workspace, warnings })
    }

    /// A warning when `path` (this workspace's `what`: library, metrics) resolves outside the
    /// workspace's folder and outside seglens' data directory: it is used, and named each time
    /// (symbolic links and `..` resolved, so neither hides where saves go).
    pub fn outside(&self, what: &str, path: &Path) -> Option<String> {
        let dir = resolved(self.path.parent().unwrap_or(Path::new(".")));
        let real = resolved(path);
        if real.starts_with(&dir) || real.starts_with(resolved(&crate::config::data_dir())) {
            return None;
        }
        Some(format!(
            "{}: {what} {} resolves to {}, outside the workspace folder {}; it is used as written (keep it inside the folder, or name it with --{what})",
            self.path.display(),
            path.display(),
            real.display(),
            dir.display()
        ))
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

/// What `Workspace::find` found.
#[derive(Debug, Default)]
pub struct Found {
    pub workspace: Option<Workspace>,
    /// Workspace files passed over (one line each, for stderr).
    pub warnings: Vec<String>,
}

/// `path` absolute, with symbolic links and `..` resolved as far as it exists (a library folder
/// may not exist yet).
fn resolved(path: &Path) -> PathBuf {
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut rest = Vec::new();
    let mut at = abs.as_path();
    loop {
        if let Ok(real) = std::fs::canonicalize(at) {
            return rest.iter().rev().fold(real, |p, name| p.join(name));
        }
        match (at.file_name(), at.parent()) {
            (Some(name), Some(parent)) => {
                rest.push(name);
                at = parent;
            }
            _ => return abs,
        }
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}
