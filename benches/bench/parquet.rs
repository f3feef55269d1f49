//! Measurement 13 (issue 19): Parquet read in place. `seglens size` as a whole process on the
//! customers table written as one Parquet file, against DuckDB in-process doing the same work
//! over `read_parquet` (open an in-memory database, count the filter, count the base). Target:
//! within 40 ms of DuckDB. Self-contained: it only needs the measured database's path.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use duckdb::{Config, Connection};

use super::measure::Db;
use super::report::{Target, Unit};
use super::{PLAIN, clock, count, define_today, threads};
use seglens::engine::conn::source::PARQUET_SETTINGS;
use seglens::engine::literal;
use seglens::engine::{Engine, OpenOptions};

impl Db {
    pub(super) fn parquet(&mut self) -> Result<()> {
        let pq = parquet_copy(&self.path)?;
        let filter = self.compile(PLAIN)?.sql;
        let read = format!("read_parquet({})", literal(&pq.to_string_lossy()));
        let sql = format!("SELECT count(*) FROM {read} WHERE ({filter})");
        let base = format!("SELECT count(*) FROM {read}");
        let work = "count over read_parquet + base count";
        self.size_process_rows(["13", "13a"], &pq, &[sql.clone(), base], " on a Parquet file", work)?;
        // In the explorer: opening (what the first frame waits for) and a size per keystroke,
        // in-process, against DuckDB counting over read_parquet on its own connection. Checks
        // are remembered as the CLI remembers them (the warm-up run pays the key's scan).
        let checks = tempfile::tempdir()?;
        let opts = OpenOptions { checks_dir: Some(checks.path().to_path_buf()), ..super::sample_options() };
        let mut engine = None;
        let open = self.t.one(&mut |_| {
            clock(|| {
                let e = Engine::open(&pq, &opts)?;
                e.verify_key()?;
                engine = Some(e);
                Ok(())
            })
        })?;
        let engine = engine.context("the Parquet file was never opened")?;
        self.push(
            "13",
            "explorer: opening the Parquet file and its checked key (before the first frame)".into(),
            Unit::Ms,
            open,
            None,
            Target::Under(300.0),
        );
        // As the explorer opens it: the key's check remembered (the warm-up run pays it).
        self.first_frame_and_rss("13", &pq, &opts, " on the Parquet file (no events table: no EXISTS filters)")?;
        let f = self.compile(PLAIN)?;
        let conn = in_memory()?;
        let (mut ours, mut theirs) = (0u64, 0u64);
        let (s, d) = self.t.pair(
            &mut |_| {
                clock(|| {
                    ours = engine.size(&f)?.size;
                    Ok(())
                })
            },
            &mut |_| {
                clock(|| {
                    theirs = count(&conn, &sql)?;
                    Ok(())
                })
            },
        )?;
        if ours != theirs {
            bail!("seglens counted {ours} on the Parquet file, DuckDB {theirs}");
        }
        self.push(
            "13",
            "explorer: size of a plain filter on the Parquet file vs DuckDB's count over read_parquet".into(),
            Unit::Ms,
            s,
            Some(d),
            Target::Plus(10.0),
        );
        Ok(())
    }
}

/// DuckDB as a script would use it on Parquet: in memory, extensions not fetched, with the
/// settings seglens gives a Parquet connection (`PARQUET_SETTINGS`, the one list both use: the
/// metadata cache; issue 29 found the baseline without it).
pub(super) fn in_memory() -> Result<Connection> {
    let config = Config::default().enable_autoload_extension(false)?.threads(threads() as i64)?;
    let conn = Connection::open_in_memory_with_flags(config)?;
    conn.execute_batch(PARQUET_SETTINGS)?;
    define_today(&conn)?;
    Ok(conn)
}

/// The database's customers table as one Parquet file beside it, written once (through a
/// temporary name, so a killed run leaves no half file under the final name).
fn parquet_copy(db: &Path) -> Result<PathBuf> {
    let pq = db.with_extension("parquet");
    if pq.exists() {
        return Ok(pq);
    }
    let tmp = db.with_extension("parquet.tmp");
    let conn = in_memory()?;
    conn.execute_batch(&format!(
        "ATTACH {} AS src (READ_ONLY); COPY src.customers TO {} (FORMAT parquet);",
        literal(&db.to_string_lossy()),
        literal(&tmp.to_string_lossy())
    ))
    .with_context(|| format!("writing {}", tmp.display()))?;
    drop(conn);
    std::fs::rename(&tmp, &pq)?;
    Ok(pq)
}
