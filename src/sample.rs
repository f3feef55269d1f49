//! Writes the sample CRM database by running `sample-data/generate.sql` (kept as SQL so users can
//! read and adapt it). Same size, seed and as-of date give identical data.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use duckdb::Connection;

pub const GENERATOR_SQL: &str = include_str!("../sample-data/generate.sql");
/// Customers in the sample database used when no database is given.
pub const DEFAULT_CUSTOMERS: u64 = 100_000;
pub const DEFAULT_SEED: u64 = 42;

#[derive(Debug, thiserror::Error)]
pub enum SampleError {
    #[error("{0} exists; pass --force to replace it")]
    Exists(PathBuf),
    #[error("--customers must be at least 1")]
    Empty,
    #[error("writing {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("generating the sample: {0}")]
    Db(#[from] duckdb::Error),
}

#[derive(Debug, Clone)]
pub struct SampleSpec {
    pub customers: u64,
    pub seed: u64,
    pub as_of: NaiveDate,
}

impl SampleSpec {
    pub fn new(customers: u64) -> SampleSpec {
        SampleSpec { customers, seed: DEFAULT_SEED, as_of: chrono::Local::now().date_naive() }
    }
}

/// Writes the sample to `out`: generated into a temporary file beside it and renamed into place
/// only when complete, so an interrupted run never leaves a half-built database under that name.
pub fn generate(out: &Path, spec: &SampleSpec, force: bool) -> Result<(), SampleError> {
    if spec.customers == 0 {
        return Err(SampleError::Empty);
    }
    if out.exists() && !force {
        return Err(SampleError::Exists(out.to_path_buf()));
    }
    let io = |source| SampleError::Io { path: out.to_path_buf(), source };
    let dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).map_err(io)?;
    let tmp = tempfile::Builder::new().prefix(".seglens-sample-").suffix(".duckdb").tempfile_in(&dir).map_err(io)?;
    let tmp_path = tmp.into_temp_path();
    // DuckDB wants to create the file itself.
    std::fs::remove_file(&tmp_path).map_err(io)?;
    {
        let conn = Connection::open(&tmp_path)?;
        conn.execute_batch(&format!(
            "SET VARIABLE customers = {}::BIGINT; SET VARIABLE seed = {}::BIGINT; SET VARIABLE as_of = DATE '{}';",
            spec.customers,
            spec.seed,
            spec.as_of.format("%Y-%m-%d")
        ))?;
        conn.execute_batch(GENERATOR_SQL)?;
        conn.execute_batch("CHECKPOINT")?;
    }
    let _ = std::fs::remove_file(tmp_path.with_extension("duckdb.wal"));
    tmp_path.persist(out).map_err(|e| io(e.error))?;
    Ok(())
}
