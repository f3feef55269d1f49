//! Measurement 14's database: another schema than the sample's, generated in DuckDB SQL once
//! per size into the bench data directory, its generation time and disk use kept beside it.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::super::server::{Build, Request, ServeConfig, Server};
use super::super::threads;
use seglens::engine::OpenOptions;
use seglens::format::count as thousands;

const TRANSACTIONS_PER_SUBSCRIBER: u64 = 10;
pub(crate) const SMOKE_SUBSCRIBERS: u64 = 10_000;
/// Targets are set for 10M subscribers and up.
pub(crate) const TARGET_SIZE: u64 = 10_000_000;
pub(crate) const TABLE: &str = "subscribers";

/// The subscribers: the key is text, not in key order (a multiplicative permutation of the row
/// number), and every other column is drawn from a hash of the row number (deterministic).
const SUBSCRIBERS: &str = "CREATE TABLE subscribers AS
SELECT
    'sb-' || lpad(((i * 2654435761) % 10000000000)::VARCHAR, 10, '0')                  AS sub_ref,
    CASE WHEN h % 9 = 0 THEN NULL ELSE 'Subscriber ' || i END                            AS \"Display Name\",
    ['free', 'free', 'basic', 'plus', 'family', 'business'][1 + ((h >> 4) % 6)::INTEGER]  AS plan_tier,
    CASE WHEN (h >> 8) % 29 = 0 THEN NULL
         ELSE ['DE', 'FR', 'NL', 'ES', 'IT', 'PL', 'SE', 'BR', 'MX', 'JP'][1 + ((h >> 12) % 10)::INTEGER] END AS home_market,
    CASE WHEN (h >> 16) % 13 = 0 THEN NULL
         ELSE ['organic', 'paid social', 'referral', 'partner', 'app store'][1 + ((h >> 20) % 5)::INTEGER] END AS signup_channel,
    CASE WHEN (h >> 24) % 17 = 0 THEN NULL ELSE (((h >> 28) % 500000)::BIGINT * 0.01)::DECIMAL(12, 2) END AS lifetime_value,
    ((h >> 32) % 60)::INTEGER                                                            AS sessions_30d,
    CASE WHEN (h >> 38) % 11 = 0 THEN NULL ELSE ((h >> 40) % 1000)::DOUBLE / 1000 END    AS churn_risk,
    (4 + (h >> 44) % 9)::INTEGER                                                         AS push_sends,
    ((h >> 48) % 5)::INTEGER                                                             AS push_opens,
    ((h >> 50) % 3650)::INTEGER                                                          AS tenure_days,
    getvariable('as_of')::DATE - ((h >> 50) % 3650)::INTEGER                             AS signup_date,
    CASE WHEN (i * 7) % 10 = 3 THEN NULL
         ELSE getvariable('as_of')::DATE::TIMESTAMP - to_seconds(((h >> 20) % 34560000)::BIGINT) END AS last_seen_at,
    CASE WHEN (h >> 56) % 19 = 0 THEN NULL ELSE (h >> 58) % 3 <> 0 END                   AS is_autorenew,
    (h >> 60) % 5 <> 0                                                                   AS email_verified
FROM (SELECT i, hash(i) AS h FROM range(0, getvariable('n')) r(i))";

/// Ten transactions per subscriber on average, in time order; 15% of subscribers have none
/// (rows go to the first 85% of row numbers, whose keys are scattered), one row in 1,009 has no
/// key and one in 1,013 a key in capitals that matches no subscriber.
const TRANSACTIONS: &str = "CREATE TABLE transactions AS
SELECT
    j                                                                                    AS txn_id,
    CASE WHEN j % 1009 = 0 THEN NULL
         WHEN j % 1013 = 0 THEN 'SB-' || lpad(((c * 2654435761) % 10000000000)::VARCHAR, 10, '0')
         ELSE 'sb-' || lpad(((c * 2654435761) % 10000000000)::VARCHAR, 10, '0') END       AS sub_ref,
    CASE WHEN g % 53 = 0 THEN NULL
         WHEN g % 31 = 0 THEN -((((g >> 8) % 5000)::BIGINT * 0.01)::DECIMAL(12, 2))
         ELSE (((g >> 8) % 20000)::BIGINT * 0.01 + 0.99)::DECIMAL(12, 2) END              AS amount,
    getvariable('as_of')::DATE::TIMESTAMP - to_seconds(((getvariable('m') - 1 - j) * 63072000) // getvariable('m')) AS posted_at,
    ['charge', 'charge', 'charge', 'renewal', 'refund', 'upgrade'][1 + ((g >> 24) % 6)::INTEGER] AS kind,
    CASE WHEN (g >> 32) % 23 = 0 THEN NULL
         ELSE ['card', 'paypal', 'sepa', 'apple pay', 'gift card'][1 + ((g >> 36) % 5)::INTEGER] END AS \"Payment Method\"
FROM (SELECT j, (hash(j) % (getvariable('n') * 85 // 100 + 1))::BIGINT AS c, hash(j * 7 + 3) AS g
      FROM range(0, getvariable('m')) r(j))";

/// A generated database and how it was made (kept beside it as `scale-N.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ScaleData {
    #[serde(skip)]
    pub path: PathBuf,
    pub subscribers: u64,
    pub transactions: u64,
    /// Dates are relative to this day (YYYY-MM-DD), and `current_date` answers it on every side.
    pub as_of: String,
    pub seconds: f64,
    pub bytes: u64,
    /// Where DuckDB's memory is at the end of the measurement (filled by `measure`).
    #[serde(skip)]
    pub memory: String,
}

impl ScaleData {
    /// The generated database at `path`, as its description beside it says.
    pub fn of(path: &Path) -> Result<ScaleData> {
        let about = path.with_extension("json");
        let text = std::fs::read_to_string(&about).with_context(|| format!("reading {}", about.display()))?;
        let mut data: ScaleData =
            serde_json::from_str(&text).with_context(|| format!("reading {}", about.display()))?;
        data.path = path.to_path_buf();
        Ok(data)
    }

    /// seglens' options: the defaults but for the date, pinned to the data's day as every side
    /// pins it, the memory limit of every side, and where checks are remembered.
    pub fn open_options(&self, checks: Option<PathBuf>) -> Result<OpenOptions> {
        let as_of = NaiveDate::parse_from_str(&self.as_of, "%Y-%m-%d")
            .with_context(|| format!("the as-of date {:?}", self.as_of))?;
        Ok(OpenOptions {
            as_of: Some(as_of),
            memory_limit: self.memory_limit(),
            checks_dir: checks,
            ..Default::default()
        })
    }

    /// One memory limit for each of the three DuckDBs (seglens', the wheel's, the crate's), which
    /// run side by side: DuckDB's own default (80% of RAM each) up to 10M subscribers, where the
    /// work fits; above, three defaults would add up to 2.4 times the machine, so each gets a
    /// third of 80% (spilling to disk) rather than the kernel killing one.
    pub fn memory_limit(&self) -> Option<String> {
        (self.subscribers > TARGET_SIZE).then(|| format!("{}MB", total_memory_mb() * 8 / 10 / 3))
    }

    pub fn describe(&self) -> String {
        format!(
            "`{}`: {} subscribers (VARCHAR key `sub_ref`), {} transactions (DECIMAL `amount`, TIMESTAMP \
`posted_at`, NULLs, keys no subscriber has); generated in {:.0} s as of {}, {} on disk; \
memory limit per DuckDB: {}",
            self.path.display(),
            thousands(self.subscribers),
            thousands(self.transactions),
            self.seconds,
            self.as_of,
            bytes(self.bytes),
            self.memory_limit().unwrap_or_else(|| "DuckDB's default (80% of RAM)".into())
        )
    }
}

/// A size on disk: MB below a GB.
fn bytes(n: u64) -> String {
    if n < 1_000_000_000 { format!("{:.0} MB", n as f64 / 1e6) } else { format!("{:.2} GB", n as f64 / 1e9) }
}

fn total_memory_mb() -> u64 {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(8192, |kb| kb / 1024)
}

/// The database with `n` subscribers in `dir`, generated by the bundled DuckDB (in a process of
/// its own) if it is not there yet. It is written under a temporary name and renamed once its
/// description is saved, so a killed run leaves no half database under the final name.
pub(crate) fn database(dir: &Path, n: u64) -> Result<ScaleData> {
    let path = dir.join(format!("scale-{n}.duckdb"));
    let about = path.with_extension("json");
    if path.exists() && about.exists() {
        return ScaleData::of(&path);
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let tmp = dir.join(format!("scale-{n}.duckdb.tmp"));
    for stale in [tmp.clone(), dir.join(format!("scale-{n}.duckdb.tmp.wal"))] {
        if stale.exists() {
            std::fs::remove_file(&stale).with_context(|| format!("removing {}", stale.display()))?;
        }
    }
    let m = n * TRANSACTIONS_PER_SUBSCRIBER;
    let as_of = chrono::Local::now().date_naive().to_string();
    eprintln!(
        "bench: generating {} ({} subscribers, {} transactions; 10M take a few minutes)",
        path.display(),
        thousands(n),
        thousands(m)
    );
    let start = Instant::now();
    {
        let cfg =
            ServeConfig { db: tmp.clone(), threads: threads(), memory_limit: None, as_of: as_of.clone(), write: true };
        let mut server = Server::start(Build::Crate, &cfg)?;
        let mut sql = vec![
            format!("SET VARIABLE n = {n}::BIGINT"),
            format!("SET VARIABLE m = {m}::BIGINT"),
            format!("SET VARIABLE as_of = DATE '{as_of}'"),
        ];
        sql.extend([SUBSCRIBERS, TRANSACTIONS, "CHECKPOINT"].map(String::from));
        server.ask(&Request::sql(sql)).context("generating the database")?;
    }
    let seconds = start.elapsed().as_secs_f64();
    let size = std::fs::metadata(&tmp).with_context(|| format!("reading {}", tmp.display()))?.len();
    let data = ScaleData {
        path: path.clone(),
        subscribers: n,
        transactions: m,
        as_of,
        seconds,
        bytes: size,
        memory: String::new(),
    };
    std::fs::write(&about, serde_json::to_string_pretty(&data)?)
        .with_context(|| format!("writing {}", about.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))?;
    eprintln!("bench: generated in {seconds:.1} s, {}", bytes(size));
    Ok(data)
}
