//! Measurement 14 (issue 25): what users run. Not the sample: a generated database of another
//! schema (`subscribers` keyed by a text `sub_ref`, `transactions` ten times as many, DECIMAL
//! money, timestamps, NULLs, quoted column names, related rows that match no subscriber), opened
//! with default settings and the metrics inferred from it, so every profile joins the kept rollup
//! of the transactions. Each row runs seglens (in this process: the explorer's real worker, or
//! the engine) against DuckDB as released, the Python wheel of the same version, and the bundled
//! crate's DuckDB, both in processes of their own running the same SQL (`server.rs`), interleaved
//! run by run; every answer is checked against seglens'. Peak resident memory is read per row for
//! every side.
//!
//! Sizes come from `--scale-sizes` (default 10M subscribers / 100M transactions); each database is
//! generated once into the data directory with its generation time and disk use beside it.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::measure::{export_request, named};
use super::report::{Row, Target, Unit, ratio_text, value};
use super::server::{Answer, Build, Request, ServeConfig, Server, peak_kb, reset_peak};
use super::session::Session;
use super::{Run, Timer, clock, median, threads};
use seglens::engine::overlap::OverlapInput;
use seglens::engine::{Compiled, Engine, FeatureSet, OpenOptions, filter, ident};
use seglens::format::count as thousands;

pub(super) const TRANSACTIONS_PER_SUBSCRIBER: u64 = 10;
pub(super) const SMOKE_SUBSCRIBERS: u64 = 10_000;
/// Targets are set for 10M subscribers and up.
const TARGET_SIZE: u64 = 10_000_000;
pub(super) const TABLE: &str = "subscribers";

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

/// Previews of the session in a process of its own (`rss_probe`).
const SESSION_PREVIEWS: usize = 3;
/// Typed in the explorer (keystroke rows).
const PREVIEW: &str = "plan_tier IN ('plus', 'family', 'business') AND churn_risk > 0.6 AND lifetime_value >= 1000";
/// Four clauses: a list, a number, an OR with a NULL-able flag, a timestamp window.
const FUNNEL: &str = "plan_tier <> 'free' AND sessions_30d >= 10 AND (is_autorenew OR push_opens > 2) \
AND last_seen_at >= current_date - INTERVAL 30 DAY";
const SPLIT: (&str, [&str; 2]) = ("churn_risk > 0.5", ["plan_tier", "home_market"]);
const EXPORT: &str = "plan_tier = 'business' AND churn_risk > 0.5 AND email_verified";
/// Sixteen segments a subscription business could keep.
const SEGMENTS: [(&str, &str); 16] = [
    ("premium", "plan_tier IN ('family', 'business')"),
    ("free-tier", "plan_tier = 'free'"),
    ("at-risk", "churn_risk > 0.7"),
    ("long-tenure", "tenure_days > 1800"),
    ("new", "signup_date >= current_date - INTERVAL 90 DAY"),
    ("dormant", "last_seen_at < current_date - INTERVAL 60 DAY"),
    ("active", "sessions_30d >= 20"),
    ("push-engaged", "push_opens * 2 >= push_sends"),
    ("high-value", "lifetime_value >= 3000"),
    ("no-autorenew", "NOT is_autorenew"),
    ("unverified", "NOT email_verified"),
    ("benelux-de", "home_market IN ('DE', 'NL')"),
    ("latam", "home_market IN ('BR', 'MX')"),
    ("referred", "signup_channel = 'referral'"),
    ("paid", "signup_channel IN ('paid social', 'app store')"),
    ("nameless", "\"Display Name\" IS NULL"),
];

// ---------------------------------------------------------------------------------------------
// The database
// ---------------------------------------------------------------------------------------------

/// A generated database and how it was made (kept beside it as `scale-N.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct ScaleData {
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
pub(super) fn database(dir: &Path, n: u64) -> Result<ScaleData> {
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

// ---------------------------------------------------------------------------------------------
// Measuring
// ---------------------------------------------------------------------------------------------

/// The highest peak resident size of this process over the runs of one seglens side.
#[derive(Default)]
struct Peak(Cell<u64>);

impl Peak {
    /// Times `f`, with this process's peak RSS reset before and read after it.
    fn clock(&self, f: impl FnOnce() -> Result<()>) -> Result<Duration> {
        reset_peak()?;
        let d = clock(f)?;
        self.0.set(self.0.get().max(peak_kb()?));
        Ok(d)
    }

    fn mb(&self) -> f64 {
        self.0.get() as f64 / 1024.0
    }
}

type Ours<'a> = &'a mut dyn FnMut(usize, &Peak) -> Result<Duration>;

/// Medians and peaks of one comparison: seglens' sides, then the wheel and the crate.
struct Sides {
    seglens: Vec<f64>,
    seglens_mb: Vec<f64>,
    duckdb: [f64; 2],
    duckdb_mb: [f64; 2],
    /// Every DuckDB answer of the timed runs, per build.
    answers: [Vec<Answer>; 2],
}

/// One row pair's figures: a seglens side against both DuckDBs.
#[derive(Clone, Copy)]
struct Figures {
    seglens: f64,
    seglens_mb: f64,
    duckdb: [f64; 2],
    duckdb_mb: [f64; 2],
}

impl Sides {
    /// The figures of seglens' side `i`.
    fn figures(&self, i: usize) -> Figures {
        Figures {
            seglens: self.seglens[i],
            seglens_mb: self.seglens_mb[i],
            duckdb: self.duckdb,
            duckdb_mb: self.duckdb_mb,
        }
    }

    fn last(&self, build: usize) -> Result<&Answer> {
        self.answers[build].last().ok_or_else(|| anyhow!("DuckDB gave no answer"))
    }

    /// Median milliseconds of statements `which` alone (their sum in each run), per build.
    fn statements_ms(&self, which: &[usize]) -> [f64; 2] {
        [0, 1].map(|b| {
            let runs = self.answers[b].iter();
            median(
                runs.map(|a| which.iter().filter_map(|&i| a.each.get(i)).map(|d| d.as_secs_f64() * 1e3).sum())
                    .collect(),
            )
        })
    }
}

struct Scale<'a> {
    data: &'a ScaleData,
    t: Timer,
    /// The wheel (DuckDB as released) and the bundled crate's DuckDB.
    servers: [Server; 2],
    /// seglens' options: the defaults, the date pinned, checks remembered in `_checks` (as the
    /// CLI remembers them in its cache, so only a file's first open detects the entity by a scan).
    opts: OpenOptions,
    _checks: tempfile::TempDir,
    rows: Vec<Row>,
}

const BUILDS: [Build; 2] = [Build::Wheel, Build::Crate];

/// Measures `data`, appending its rows to `out`; fills `data.memory`. Returns the DuckDB version.
pub(super) fn measure(t: Timer, data: &mut ScaleData, out: &mut Vec<Row>) -> Result<String> {
    let cfg = ServeConfig {
        db: data.path.clone(),
        threads: threads(),
        memory_limit: data.memory_limit(),
        as_of: data.as_of.clone(),
        write: false,
    };
    let servers = [Server::start(Build::Wheel, &cfg)?, Server::start(Build::Crate, &cfg)?];
    if servers[0].version != servers[1].version {
        bail!(
            "DuckDB as released (the Python wheel) is {} but the bundled crate's DuckDB is {}: install the wheel of the \
same version (`python3 -m pip install duckdb=={}`)",
            servers[0].version,
            servers[1].version,
            servers[1].version.trim_start_matches('v')
        );
    }
    let version = servers[1].version.clone();
    let checks = tempfile::tempdir()?;
    let opts = data.open_options(Some(checks.path().to_path_buf()))?;
    let mut s = Scale { data, t, servers, opts, _checks: checks, rows: Vec::new() };
    s.first_frame()?;
    let engine = s.rollup_build()?;
    s.overlap(&engine)?;
    s.funnel(&engine)?;
    s.split(&engine)?;
    s.export(&engine)?;
    s.keystrokes(engine)?;
    s.peaks()?;
    let memory = s.memory()?;
    out.append(&mut s.rows);
    drop(s);
    data.memory = memory;
    Ok(version)
}

/// A DuckDB side of `Scale::against`: asks `server` for `req(run)`, keeping the highest peak in
/// `kb` and the timed runs' answers in `kept`.
fn duckdb_side<'a>(
    server: &'a mut Server,
    kept: &'a mut Vec<Answer>,
    kb: &'a mut u64,
    req: &'a dyn Fn(usize) -> Request,
) -> impl FnMut(usize) -> Result<Duration> + 'a {
    move |run| {
        let a = server.ask(&req(run))?;
        *kb = (*kb).max(a.peak_kb);
        let d = a.time;
        if run > 0 {
            kept.push(a);
        }
        Ok(d)
    }
}

fn open(path: &Path, opts: &OpenOptions) -> Result<Engine> {
    Engine::open(path, opts).with_context(|| format!("opening {}", path.display()))
}

fn compile(text: &str) -> Result<Compiled> {
    filter::compile(text, &BTreeMap::new(), &BTreeMap::new(), &FeatureSet::default())
        .map_err(|e| anyhow!("compiling {text:?}: {e}"))
}

impl Scale<'_> {
    /// seglens' sides (`ours`, in this process) against both DuckDBs answering `req(run)`,
    /// interleaved run by run.
    fn against(&mut self, ours: &mut [Ours<'_>], req: &dyn Fn(usize) -> Request) -> Result<Sides> {
        let t = self.t;
        let peaks: Vec<Peak> = ours.iter().map(|_| Peak::default()).collect();
        let mut answers: [Vec<Answer>; 2] = Default::default();
        let mut kb = [0u64; 2];
        let m = {
            let [wheel, krate] = &mut self.servers;
            let [wheel_answers, crate_answers] = &mut answers;
            let [wheel_kb, crate_kb] = &mut kb;
            let mut wheel_side = duckdb_side(wheel, wheel_answers, wheel_kb, req);
            let mut crate_side = duckdb_side(krate, crate_answers, crate_kb, req);
            let mut seglens: Vec<Box<dyn FnMut(usize) -> Result<Duration> + '_>> = ours
                .iter_mut()
                .zip(&peaks)
                .map(|(f, p)| Box::new(move |run| (*f)(run, p)) as Box<dyn FnMut(usize) -> Result<Duration> + '_>)
                .collect();
            let mut sides: Vec<Run<'_>> = seglens.iter_mut().map(|b| b.as_mut() as Run<'_>).collect();
            sides.push(&mut wheel_side);
            sides.push(&mut crate_side);
            t.sides(&mut sides)?
        };
        let k = ours.len();
        Ok(Sides {
            seglens: m[..k].to_vec(),
            seglens_mb: peaks.iter().map(Peak::mb).collect(),
            duckdb: [m[k], m[k + 1]],
            duckdb_mb: kb.map(|kb| kb as f64 / 1024.0),
            answers,
        })
    }

    /// Two rows of `f`: seglens against DuckDB as released with `target`, then against the
    /// bundled crate's DuckDB; each with both sides' peak RSS.
    fn push_pair(&mut self, what: &str, f: Figures, target: Target) {
        let applies = self.data.subscribers >= TARGET_SIZE;
        for (b, build) in BUILDS.iter().enumerate() {
            let (what, target) = match build {
                Build::Wheel => (format!("{what} — against DuckDB as released (the wheel)"), target),
                Build::Crate => ("↳ the same against the bundled crate's DuckDB".to_string(), Target::None),
            };
            self.push(what, Unit::Ms, f.seglens, f.duckdb[b], target, applies, (f.seglens_mb, f.duckdb_mb[b]));
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        what: String,
        unit: Unit,
        seglens: f64,
        duckdb: f64,
        target: Target,
        applies: bool,
        rss: (f64, f64),
    ) {
        eprintln!(
            "bench:   14 {what} | seglens {} | DuckDB {} | {} | peak RSS {:.0} / {:.0} MB",
            value(seglens, unit),
            value(duckdb, unit),
            ratio_text(seglens, duckdb),
            rss.0,
            rss.1
        );
        let customers = self.data.subscribers;
        let duckdb = Some(duckdb);
        self.rows.push(Row { id: "14", what, customers, unit, seglens, duckdb, target, applies, rss: Some(rss) });
    }

    /// Startup to the first frame on a fresh engine (the metrics inferred; the rollup build
    /// starts behind it) against each DuckDB opening the file and counting the subscribers.
    fn first_frame(&mut self) -> Result<()> {
        let lib = tempfile::tempdir()?;
        let (path, opts) = (self.data.path.clone(), self.opts.clone());
        let count = format!("SELECT count(*) FROM {}", ident(TABLE));
        // The first open of this file: no `customers` table, so the entity is found by its
        // structure and its key's uniqueness confirmed by a scan, then remembered.
        let first = Peak::default();
        let mut first_ms = Duration::ZERO;
        first.clock(|| {
            first_ms = super::measure::first_frame(&path, &opts, lib.path())?;
            Ok(())
        })?;
        // The session's worker checks the key in the background and remembers it; the timed
        // runs stop their session at the first frame, before that check ends, so it runs here.
        open(&path, &opts)?.verify_key()?;
        let mut frame = |_: usize, p: &Peak| -> Result<Duration> {
            let mut d = Duration::ZERO;
            p.clock(|| {
                d = super::measure::first_frame(&path, &opts, lib.path())?;
                Ok(())
            })?;
            Ok(d)
        };
        let req = |_: usize| Request { sql: vec![count.clone()], timed_open: true, ..Default::default() };
        let s = self.against(&mut [&mut frame], &req)?;
        for (b, build) in BUILDS.iter().enumerate() {
            let n = s.last(b)?.count(0)?;
            if n != self.data.subscribers {
                bail!("{} counted {n} subscribers, not {}", build.describe(), self.data.subscribers);
            }
        }
        let what = "explorer: startup to first frame (open, infer the metrics, worker, first render; the rollup build starts behind it); DuckDB: open the file, count the subscribers";
        self.push_pair(what, s.figures(0), Target::Under(300.0));
        let once = Figures { seglens: first_ms.as_secs_f64() * 1e3, seglens_mb: first.mb(), ..s.figures(0) };
        let what = "the first open of this file ever, to its first frame (once: the entity table found by a uniqueness scan of its key, then remembered); DuckDB: as above";
        self.push_pair(what, once, Target::None);
        Ok(())
    }

    /// The first rollup build of a session (`kept_rollups` on a fresh engine, the metrics
    /// already inferred) against each DuckDB creating the same tables from the same GROUP BY on
    /// a fresh connection. Returns the last engine, its rollups kept.
    fn rollup_build(&mut self) -> Result<Engine> {
        let (path, opts) = (self.data.path.clone(), self.opts.clone());
        // Each kept table as seglens builds it: CREATE TABLE AS its GROUP BY, then the count of
        // its rows no subscriber owns.
        let (statements, related) = {
            let e = open(&path, &opts)?;
            let statements: Vec<String> = e
                .rollup_statements()
                .iter()
                .enumerate()
                .flat_map(|(i, (table, select))| {
                    [format!("CREATE OR REPLACE TABLE {table} AS {select}"), e.rollup_unmatched_sql(i)]
                })
                .collect();
            (statements, e.rollups().iter().map(|r| r.table.clone()).collect::<Vec<_>>())
        };
        if statements.is_empty() {
            bail!("no rollup inferred for {}: the transactions table should be rolled up", path.display());
        }
        let creates: Vec<usize> = (0..statements.len()).step_by(2).collect();
        let mut engine: Option<Engine> = None;
        let mut build = |_: usize, p: &Peak| -> Result<Duration> {
            // The previous session ends before this one opens (and before the peak is reset).
            engine = None;
            let e = open(&path, &opts)?;
            e.rollups();
            let d = p.clock(|| {
                e.kept_rollups(&|_, _| {})?;
                Ok(())
            })?;
            engine = Some(e);
            Ok(d)
        };
        let req = |_: usize| Request { sql: statements.clone(), reopen: true, ..Default::default() };
        let s = self.against(&mut [&mut build], &req)?;
        let engine = engine.context("the rollups were never built")?;
        let what = format!(
            "first rollup build of a session (`kept_rollups`: the GROUP BY of {} kept in memory, then its rows no subscriber owns counted); DuckDB: CREATE TABLE AS the same GROUP BY",
            related.join(", ")
        );
        self.push_pair(&what, Figures { duckdb: s.statements_ms(&creates), ..s.figures(0) }, Target::Ratio(1.2, 0.0));
        let what = "↳ DuckDB running every statement of the build (CREATE TABLE AS, then the count of rows no subscriber owns)";
        self.push_pair(what, s.figures(0), Target::None);
        Ok(engine)
    }

    /// The 16 segments' overlap: cold (member cache cleared) and with one segment being edited
    /// (its text changes each run, the other 15 cached), against DuckDB counting the same masks
    /// in one scan (`overlap_sql`). Every size and pairwise intersection is checked.
    fn overlap(&mut self, engine: &Engine) -> Result<()> {
        let filters: Vec<Compiled> = SEGMENTS.iter().map(|(_, t)| compile(t)).collect::<Result<_>>()?;
        let edited: Vec<Vec<Compiled>> = (0..=self.t.runs * super::EXTRA_ROUNDS)
            .map(|n| {
                let mut f = filters.clone();
                f[0] = compile(&format!("{}{}", SEGMENTS[0].1, " ".repeat(n + 1)))?;
                Ok(f)
            })
            .collect::<Result<_>>()?;
        let inputs = named(&SEGMENTS, &filters);
        let edited_inputs: Vec<Vec<OverlapInput<'_>>> = edited.iter().map(|f| named(&SEGMENTS, f)).collect();
        let sql = engine.overlap_sql(&filters.iter().collect::<Vec<_>>());
        let (mut cold, mut warm) = (None, None);
        let mut cold_side = |_: usize, p: &Peak| {
            engine.clear_cache();
            p.clock(|| {
                cold = Some(engine.overlap(&inputs)?);
                Ok(())
            })
        };
        let mut warm_side = |run: usize, p: &Peak| {
            p.clock(|| {
                warm = Some(engine.overlap(&edited_inputs[run.min(edited_inputs.len() - 1)])?);
                Ok(())
            })
        };
        let req = |_: usize| Request::sql(vec![sql.clone()]);
        let s = self.against(&mut [&mut cold_side, &mut warm_side], &req)?;
        for (b, build) in BUILDS.iter().enumerate() {
            let groups: Vec<(u64, u64)> =
                s.last(b)?.rows(0).iter().map(|r| Ok((uint(&r[0])?, uint(&r[1])?))).collect::<Result<_>>()?;
            for o in [&cold, &warm] {
                let o = o.as_ref().context("the overlap did not run")?;
                for (i, (a, _)) in SEGMENTS.iter().enumerate() {
                    for (j, (b, _)) in SEGMENTS.iter().enumerate().skip(i) {
                        let both = (1u64 << i) | (1u64 << j);
                        let theirs: u64 = groups.iter().filter(|(m, _)| m & both == both).map(|(_, n)| n).sum();
                        let ours = if i == j { o.segments[i].size } else { o.pair(i, j).map_or(0, |p| p.intersection) };
                        if ours != theirs {
                            bail!("overlap of {a} and {b}: seglens counted {ours}, {} {theirs}", build.describe());
                        }
                    }
                }
            }
        }
        let what = "overlap of 16 segments, cold (member cache cleared); DuckDB: the 16 masks counted in one scan (`overlap_sql`)";
        self.push_pair(what, s.figures(0), Target::None);
        let what = "overlap of 16 segments, one being edited (15 member sets cached); DuckDB: the same one scan";
        self.push_pair(what, s.figures(1), Target::None);
        Ok(())
    }

    /// The funnel of a 4-clause filter, cold, against DuckDB counting the same outcome table with
    /// a GROUP BY (`funnel_sql`); the outcome tables must be equal.
    fn funnel(&mut self, engine: &Engine) -> Result<()> {
        let f = compile(FUNNEL)?;
        let sql = engine.funnel_sql(&f);
        let mut funnel = None;
        let mut ours = |_: usize, p: &Peak| {
            engine.clear_cache();
            p.clock(|| {
                funnel = Some(engine.funnel(&f)?);
                Ok(())
            })
        };
        let s = self.against(&mut [&mut ours], &|_| Request::sql(vec![sql.clone()]))?;
        let funnel = funnel.context("the funnel did not run")?;
        let mut mine: Vec<(Vec<Option<bool>>, u64)> =
            funnel.outcomes.iter().map(|o| (o.states.clone(), o.rows)).collect();
        mine.sort();
        for (b, build) in BUILDS.iter().enumerate() {
            let mut theirs: Vec<(Vec<Option<bool>>, u64)> = s
                .last(b)?
                .rows(0)
                .iter()
                .map(|r| {
                    let (states, n) = r.split_at(r.len().saturating_sub(1));
                    Ok((states.iter().map(Value::as_bool).collect(), uint(&n[0])?))
                })
                .collect::<Result<_>>()?;
            theirs.sort();
            if mine != theirs {
                bail!("funnel of {FUNNEL:?}: seglens' outcome table {mine:?}, {}'s {theirs:?}", build.describe());
            }
        }
        let what = "funnel of a 4-clause filter, cold (one scan, every clause's running count, without, NULLs); DuckDB: the outcome table by GROUP BY (`funnel_sql`)";
        self.push_pair(what, s.figures(0), Target::None);
        Ok(())
    }

    /// A split by two columns with the profile metrics per cell (the kept rollup joined) against
    /// DuckDB running the same statement; every cell's count and metrics are checked.
    fn split(&mut self, engine: &Engine) -> Result<()> {
        let (text, by) = SPLIT;
        let f = compile(text)?;
        let by: Vec<String> = by.iter().map(|c| c.to_string()).collect();
        let sql = engine.split_metrics_sql(&f, &by)?;
        let mut split = None;
        let mut ours = |_: usize, p: &Peak| {
            engine.clear_cache();
            p.clock(|| {
                split = Some(engine.split(&f, &by, 0.05)?);
                Ok(())
            })
        };
        let s = self.against(&mut [&mut ours], &|_| Request::sql(vec![sql.clone()]))?;
        let split = split.context("the split did not run")?;
        let k = by.len();
        for (b, build) in BUILDS.iter().enumerate() {
            let rows = s.last(b)?.rows(0);
            if rows.len() != split.cells.len() {
                bail!("split: seglens has {} cells, {} {}", split.cells.len(), build.describe(), rows.len());
            }
            for r in rows {
                let values: Vec<Option<String>> = r[..k].iter().map(text_of).collect();
                let cell = split
                    .cells
                    .iter()
                    .find(|c| {
                        split.by.iter().map(|col| c.values.get(col).cloned().flatten()).eq(values.iter().cloned())
                    })
                    .ok_or_else(|| anyhow!("split: no seglens cell {values:?} ({})", build.describe()))?;
                let theirs: Vec<Option<f64>> = r[k + 1..].iter().map(Value::as_f64).collect();
                // The cell's metrics are by name; the statement's columns in the metrics' order.
                let mine: Vec<Option<f64>> =
                    engine.metrics().iter().map(|m| cell.metrics.get(&m.name).cloned().flatten()).collect();
                if uint(&r[k])? != cell.size || !close_all(&mine, &theirs) {
                    bail!(
                        "split cell {values:?}: seglens {} rows, metrics {mine:?}; {} {} rows, {theirs:?}",
                        cell.size,
                        build.describe(),
                        r[k]
                    );
                }
            }
        }
        let what = format!(
            "split of `{text}` by {} with the profile metrics per cell (kept rollup joined); DuckDB: the same statement",
            by.join(" × ")
        );
        self.push_pair(&what, s.figures(0), Target::None);
        Ok(())
    }

    /// The export of a segment to CSV (every column; manifest, hash, fsync, count check) against
    /// DuckDB's COPY of the same members query.
    fn export(&mut self, engine: &Engine) -> Result<()> {
        let f = compile(EXPORT)?;
        let dir = tempfile::tempdir().context("creating a temporary directory for the export")?;
        let copy_to = dir.path().join("copy.csv");
        let copy = format!(
            "COPY ({}) TO {} (HEADER)",
            engine.members_sql(&f, &[])?,
            seglens::engine::sandbox::literal(&copy_to.to_string_lossy())
        );
        let req = export_request("business-at-risk", &f, dir.path().join("segment.csv"));
        let mut written = 0;
        let mut ours = |_: usize, p: &Peak| {
            p.clock(|| {
                written = seglens::export::export(engine, &req, &mut |_| true)?.iter().map(|x| x.rows).sum();
                Ok(())
            })
        };
        let s = self.against(&mut [&mut ours], &|_| Request::sql(vec![copy.clone()]))?;
        for (b, build) in BUILDS.iter().enumerate() {
            let copied = s.last(b)?.count(0)?;
            if copied != written {
                bail!("export: seglens wrote {written} rows, {}'s COPY {copied}", build.describe());
            }
        }
        let what = format!(
            "export of {} rows × {} columns to CSV (manifest, SHA-256, fsync, count check); DuckDB: COPY TO of the same members query",
            thousands(written),
            engine.columns().len()
        );
        self.push_pair(&what, s.figures(0), Target::None);
        Ok(())
    }

    /// Keystrokes in the explorer (the real worker, driven as the terminal loop drives it), once
    /// its rollup build has ended: the edit's size on screen and its whole preview, against each
    /// DuckDB running the preview's statements (size, profile with the kept rollup, breakdown,
    /// the first members). Every figure on screen is checked against both DuckDBs.
    fn keystrokes(&mut self, engine: Engine) -> Result<()> {
        let mut session = Session::start_with(&self.data.path, &self.opts, &FeatureSet::default(), Vec::new())?;
        let f = compile(PREVIEW)?;
        let dimension = session.state.preview.dimension_name().map(str::to_string);
        let (columns, limit) = (session.state.shown_columns(), session.state.member_rows);
        let mut sql = vec![engine.size_sql(&f), engine.profile_sql(&f)?];
        if let Some(d) = &dimension {
            sql.push(engine.breakdown_sql(&f, d, 12)?);
        }
        sql.push(engine.rows_sql(&f, &columns, limit)?);
        let metrics = engine.metrics().len();
        // One seglens session from here on, as a user has.
        drop(engine);
        session.wait_for_rollups()?;
        let mut number = Vec::new();
        let mut ours = |run: usize, p: &Peak| -> Result<Duration> {
            let mut times = None;
            p.clock(|| {
                times = Some(session.preview(PREVIEW)?);
                Ok(())
            })?;
            let times = times.context("the preview did not run")?;
            if run > 0 {
                number.push(times.number.as_secs_f64() * 1e3);
            }
            Ok(times.full)
        };
        let s = self.against(&mut [&mut ours], &|_| Request::sql(sql.clone()))?;
        for (b, build) in BUILDS.iter().enumerate() {
            check_preview(&session, s.last(b)?, dimension.is_some(), metrics)
                .with_context(|| format!("the preview of {PREVIEW:?} on screen against {}", build.describe()))?;
        }
        let size = Figures { seglens: median(number), duckdb: s.statements_ms(&[0]), ..s.figures(0) };
        let what = "keystroke → size on screen (the explorer's worker, after the debounce); DuckDB: the size query";
        self.push_pair(what, size, Target::None);
        let what = format!(
            "keystroke → whole preview (size, profile of {metrics} inferred metrics with the kept rollup, breakdown{}, {limit} members); DuckDB: the same statements",
            dimension.as_deref().map_or(String::new(), |d| format!(" by {d}"))
        );
        self.push_pair(&what, s.figures(0), Target::Ratio(1.5, 0.0));
        Ok(())
    }

    /// The peak RSS of an explorer session alone, and the highest peak of every row, per side.
    fn peaks(&mut self) -> Result<()> {
        let session = super::measure::rss_probe_kb("--scale-rss-probe", &self.data.path)? / 1024.0;
        let mut seglens = 0f64;
        let mut duckdb = [0f64; 2];
        // Rows come in pairs: against the wheel, then against the crate.
        for pair in self.rows.chunks(2) {
            for (b, r) in pair.iter().enumerate() {
                let (s, d) = r.rss.unwrap_or_default();
                seglens = seglens.max(s);
                duckdb[b] = duckdb[b].max(d);
            }
        }
        let applies = self.data.subscribers >= TARGET_SIZE;
        let what = format!(
            "peak RSS of an explorer session in a process of its own ({SESSION_PREVIEWS} previews after its rollup build) against DuckDB as released over the rows above"
        );
        self.push(what, Unit::Mb, session, duckdb[0], Target::None, applies, (session, duckdb[0]));
        let what = "↳ the same against the bundled crate's DuckDB";
        self.push(what.into(), Unit::Mb, session, duckdb[1], Target::None, applies, (session, duckdb[1]));
        let what = "peak RSS over the rows above: seglens (this process: engine, worker, kept rollup) against DuckDB as released (its own process)";
        self.push(what.into(), Unit::Mb, seglens, duckdb[0], Target::None, applies, (seglens, duckdb[0]));
        let what = "↳ the same against the bundled crate's DuckDB";
        self.push(what.into(), Unit::Mb, seglens, duckdb[1], Target::None, applies, (seglens, duckdb[1]));
        Ok(())
    }

    /// Where DuckDB as released holds its memory after the rows above (the same work, the same
    /// kept tables as seglens'): `duckdb_memory()` by tag, and the kept tables' rows.
    fn memory(&mut self) -> Result<String> {
        let sql = vec![
            "SELECT tag, memory_usage_bytes FROM duckdb_memory() WHERE memory_usage_bytes > 0 ORDER BY 2 DESC".into(),
            "SELECT coalesce(sum(estimated_size), 0) FROM duckdb_tables() WHERE database_name = '__seglens_kept'"
                .into(),
        ];
        let a = self.servers[0].ask(&Request::sql(sql))?;
        let tags: Vec<String> = a
            .rows(0)
            .iter()
            .map(|r| {
                format!("{} {:.0} MB", text_of(&r[0]).unwrap_or_default(), r[1].as_f64().unwrap_or(0.0) / 1048576.0)
            })
            .collect();
        Ok(format!("{}; the kept rollup tables hold {} rows", tags.join(", "), thousands(a.count(1).unwrap_or(0))))
    }
}

/// What the screen shows after a preview against one DuckDB's answers to its statements.
fn check_preview(session: &Session, a: &Answer, breakdown: bool, metrics: usize) -> Result<()> {
    let p = &session.state.preview;
    let size = p.size.as_ref().context("no size on screen")?.size;
    if size != a.count(0)? {
        bail!("size {size} on screen, DuckDB counted {}", a.count(0)?);
    }
    let profile = p.profile.as_ref().context("no profile on screen")?;
    let row = a.rows(1).first().context("DuckDB's profile has no row")?;
    let mine: Vec<Option<f64>> = profile.metrics.iter().map(|m| m.segment).collect();
    let theirs: Vec<Option<f64>> = row[1..].iter().map(Value::as_f64).collect();
    if profile.size != uint(&row[0])? || mine.len() != metrics || !close_all(&mine, &theirs) {
        bail!("profile on screen: {} rows, {mine:?}; DuckDB: {}, {theirs:?}", profile.size, row[0]);
    }
    let mut next = 2;
    if breakdown {
        let b = p.breakdown.as_ref().context("no breakdown on screen")?;
        let theirs = a.rows(next);
        let counts_match = b.rows.len() == theirs.len()
            && b.rows.iter().zip(theirs).all(|(m, t)| uint(&t[1]).is_ok_and(|n| n == m.count));
        // Binned rows are labelled on screen (`10–19`); values compare where they are values.
        let values_match = b.bin_width.is_some() || b.rows.iter().zip(theirs).all(|(m, t)| m.value == text_of(&t[0]));
        if !counts_match || !values_match {
            bail!("breakdown by {} on screen: {:?}; DuckDB: {theirs:?}", b.column, b.rows);
        }
        next += 1;
    }
    let rows = &p.rows.as_ref().context("no members on screen")?.rows;
    let theirs: Vec<Vec<Option<String>>> = a.rows(next).iter().map(|r| r.iter().map(text_of).collect()).collect();
    if *rows != theirs {
        bail!("members on screen: {rows:?}; DuckDB: {theirs:?}");
    }
    Ok(())
}

fn uint(v: &Value) -> Result<u64> {
    v.as_u64().ok_or_else(|| anyhow!("{v} is not a count"))
}

/// A value as the engine shows it: text, or None for NULL.
fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// Equal within floating-point noise (DuckDB sums in parallel, in no fixed order).
fn close_all(a: &[Option<f64>], b: &[Option<f64>]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| match (x, y) {
            (Some(x), Some(y)) => (x - y).abs() <= 1e-6 * y.abs().max(1.0),
            (None, None) => true,
            _ => false,
        })
}

// ---------------------------------------------------------------------------------------------
// BENCHMARKS.md
// ---------------------------------------------------------------------------------------------

/// The section of measurement 14: its databases, how the sides run, its rows (with peak RSS),
/// where memory goes, its filters.
pub(super) fn report(s: &mut String, rows: &[&Row], scale: &[ScaleData], version: &str) {
    use std::fmt::Write as _;
    let _ = writeln!(s, "\n### 14: another schema at scale, against DuckDB as released\n");
    for d in scale {
        let _ = writeln!(s, "- Data: {}", d.describe());
    }
    let _ = writeln!(
        s,
        "- Sides: seglens in the bench's process with default settings and the metrics it infers (the \
transactions rolled up per subscriber and kept); DuckDB {version} as released (the Python wheel of the same \
version, `pip install duckdb=={}`) and the bundled crate's DuckDB {version}, each in a long-lived process of its own running the same \
SQL with the same settings (read-only, threads = cores, the same memory limit, `current_date` pinned to the \
data's day, the kept rollup tables built from `rollup_statements()`), interleaved run by run. Times are each \
side's own, in-process; peak RSS is each process's VmHWM over the row's runs (reset before each run). Every \
answer is checked against seglens'.",
        version.trim_start_matches('v')
    );
    let _ = writeln!(
        s,
        "\n| # | measurement | subscribers | seglens | DuckDB | ratio | target | met? | peak RSS seglens | peak RSS DuckDB |"
    );
    let _ = writeln!(s, "|---|---|---:|---:|---:|---:|---|---|---:|---:|");
    for r in rows {
        let (ours, theirs) = r.rss.unwrap_or((f64::NAN, f64::NAN));
        let _ = writeln!(s, "{} | {} | {} |", r.cells(), value(ours, Unit::Mb), value(theirs, Unit::Mb));
    }
    for d in scale {
        let _ = writeln!(
            s,
            "\nWhere DuckDB as released holds memory after these rows at {} subscribers (`duckdb_memory()`): {}",
            super::report::short_count(d.subscribers),
            d.memory
        );
    }
    let _ = writeln!(s, "\nFilters (14):\n");
    let _ = writeln!(s, "- keystrokes: `{PREVIEW}`");
    let _ = writeln!(s, "- funnel: `{FUNNEL}`");
    let _ = writeln!(s, "- split: `{}` by {}", SPLIT.0, SPLIT.1.join(" × "));
    let _ = writeln!(s, "- export: `{EXPORT}`");
    let _ = writeln!(
        s,
        "- the 16 overlap segments: {}",
        SEGMENTS.iter().map(|(n, t)| format!("{n} `{t}`")).collect::<Vec<_>>().join(", ")
    );
}

/// The child process of `Scale::peaks`: an explorer session on `db` (a generated database) as a
/// user has it: open, the rollup build, previews; then its peak resident size in kB.
pub(super) fn rss_probe(db: &Path) -> Result<u64> {
    let data = ScaleData::of(db)?;
    let mut s = Session::start_with(db, &data.open_options(None)?, &FeatureSet::default(), Vec::new())?;
    s.wait_for_rollups()?;
    for _ in 0..SESSION_PREVIEWS {
        s.preview(PREVIEW)?;
    }
    peak_kb()
}
