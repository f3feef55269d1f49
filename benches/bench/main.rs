//! The benchmark (`cargo xbench`, an alias for `cargo bench --profile dev --bench bench --`): measures the engine, the export, the real worker and the screen against DuckDB
//! running the identical SQL through the duckdb crate, in the same process and run, and writes the
//! table into BENCHMARKS.md (issue 7). Ratios are what count: on shared 2-core machines absolute
//! times drift, so every comparison runs seglens and DuckDB interleaved, run by run. Nothing here
//! asserts on speed; only real errors (a failed query, a count that differs from DuckDB's) fail.
//! It is dev tooling, not the product: a `harness = false` bench target, so it is neither in the
//! `seglens` binary nor in its `--help`. It runs in the dev profile, whose DuckDB is built
//! optimized already (a release build would compile DuckDB a second time).

mod export;
mod history;
mod measure;
mod parquet;
mod qa;
mod report;
mod scale;
mod server;
mod session;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use duckdb::{AccessMode, Config, Connection};

use measure::Db;
use report::{report, write_section};
use seglens::engine::define_today as seglens_define_today;
use seglens::engine::{Engine, FeatureSet, OpenOptions};
use seglens::format::count as thousands;
use session::rss_probe;

#[derive(clap::Parser, Debug)]
#[command(name = "bench", about = "seglens against DuckDB running the same SQL (writes BENCHMARKS.md)")]
pub struct BenchArgs {
    /// Customers in each generated database, comma-separated
    #[arg(long, value_delimiter = ',', default_value = "1000000,10000000")]
    pub sizes: Vec<u64>,
    /// Timed runs per measurement (the median is reported), after one warm-up run; quick
    /// measurements repeat up to 10x as often within about a second
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// Where the generated databases are kept between runs (default: bench-data)
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Prove the code works, in seconds: 10,000 customers, one run, no warm-up; the table goes to --out
    #[arg(long)]
    pub smoke: bool,
    /// Directory for the table (BENCHMARKS.md) of a --smoke run, and its data unless --data is given
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Markdown file whose generated section is rewritten (default: BENCHMARKS.md, unless --smoke or --only)
    #[arg(long, value_name = "FILE")]
    pub write: Option<PathBuf>,
    /// Subscribers in measurement 14's database of another schema (10x as many transactions),
    /// comma-separated; 100000000 is the optional large size
    #[arg(long, value_delimiter = ',', default_value = "10000000")]
    pub scale_sizes: Vec<u64>,
    /// Only these measurements (1-14), comma-separated
    #[arg(long, value_delimiter = ',', value_name = "N")]
    pub only: Vec<u8>,
    /// Internal: run a session on DB in this (child) process and print its peak RSS
    #[arg(long, hide = true, value_name = "DB")]
    pub rss_probe: Option<PathBuf>,
    /// Internal: an explorer session on measurement 14's DB in this (child) process (its rollup
    /// build, previews); print its peak RSS
    #[arg(long, hide = true, value_name = "DB")]
    pub scale_rss_probe: Option<PathBuf>,
    /// Internal: open DB (a DuckDB file, or in memory for a Parquet file) as plain DuckDB, run
    /// each --sql and print the first count: DuckDB as a whole process
    #[arg(long, hide = true, value_name = "DB")]
    pub duckdb_count: Option<PathBuf>,
    #[arg(long, hide = true, value_name = "SQL")]
    pub sql: Vec<String>,
    /// Internal: serve DuckDB requests on stdin with the bundled DuckDB (`server.rs`)
    #[arg(long, hide = true, value_name = "CONFIG")]
    pub duckdb_serve: Option<String>,
    /// Passed by `cargo bench` to every bench target; nothing to do here.
    #[arg(long, hide = true)]
    pub bench: bool,
}

fn main() -> std::process::ExitCode {
    let args = <BenchArgs as clap::Parser>::parse();
    match run(args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: {}", seglens::error::error_line(&e));
            std::process::ExitCode::from(seglens::error::exit_code(&e))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The workload
// ---------------------------------------------------------------------------------------------

const PLAIN: &str = "engagement_score > 70 AND push_opt_in";
const FEATURE: &str = "lapsed(90) AND high_value(5000)";
/// One clause, so the clause cache stays out of it and both sides do the same work.
const EXISTS_30: &str = "EXISTS (SELECT 1 FROM events e WHERE e.customer_id = customers.customer_id \
AND e.event_type = 'purchase' AND e.event_time >= current_date - INTERVAL 30 DAY)";
/// A cheap clause with a parameter beside an expensive one: what the clause cache is for.
const NUDGE: &str = "engagement_score > {{n}} AND EXISTS (SELECT 1 FROM events e WHERE e.customer_id = customers.customer_id \
AND e.event_type = 'purchase' AND e.event_time >= current_date - INTERVAL 90 DAY)";

/// Four clauses for the funnel: a NULL-able score, two features (one an OR inside), a flag.
const FUNNEL: &str = "engagement_score > 40 AND lapsed(90) AND high_value(5000) AND push_opt_in";

const SIZE_FILTERS: [(&str, &str); 6] = [
    ("plain columns", PLAIN),
    ("date window", "last_order_date BETWEEN current_date - INTERVAL 90 DAY AND current_date - INTERVAL 30 DAY"),
    (
        "IN lists",
        "city IN ('Mumbai', 'Pune', 'Bengaluru', 'Chennai', 'Hyderabad', 'New Delhi', 'Kolkata', 'Ahmedabad', 'Jaipur', 'Lucknow') \
AND language IN ('hi', 'mr', 'en', 'ta', 'te', 'kn', 'bn', 'gu', 'ml', 'pa')",
    ),
    ("NULL-heavy columns", "age_band IS NULL OR channel_pref IS NULL"),
    ("feature macros", FEATURE),
    ("EXISTS on events", EXISTS_30),
];

/// Sixteen segments a CRM team could keep, over the columns (no subqueries).
const SEGMENTS: [(&str, &str); 16] = [
    ("engaged-push", PLAIN),
    ("lapsed-high-value", FEATURE),
    ("gold-platinum", "loyalty_tier IN ('gold', 'platinum')"),
    ("repeat-buyers", "orders_count >= 2"),
    ("app-users", "app_installed"),
    ("email-engaged", "NOT unsubscribed AND email_opens_90d > 0"),
    ("north-sms", "sms_opt_in AND region = 'North India'"),
    ("whatsapp", "reachable('whatsapp')"),
    ("at-risk", "at_risk(0.5)"),
    ("not-onboarded", "NOT onboarding_completed"),
    ("new-users", "new_user(30)"),
    ("holi-buyers", "holi_buyer()"),
    ("active-7d", "last_login_date >= current_date - INTERVAL 7 DAY"),
    ("diaspora", "region LIKE 'Diaspora%'"),
    ("young", "age_band IN ('18-24', '25-34')"),
    ("clickers", "email_clicks_90d >= 3"),
];

/// Measurements are numbered 1 to this; the last one (`scale/`) has databases of its own.
const MEASUREMENTS: u8 = 14;
const SCALE: u8 = 14;

const STARTER_FEATURES: &str = include_str!("../../sample-data/features.toml");
const SMOKE_CUSTOMERS: u64 = 10_000;
const RENDER_FRAMES: usize = 200;
/// Superseded edits per round of measurement 5: with the default 5 runs, 20 edits for its p90.
const SUPERSEDED_PER_RUN: usize = 4;
/// How long the worker may take for one answer before the benchmark gives up (a real error).
const WORKER_TIMEOUT: Duration = Duration::from_secs(300);
/// How long a session's background work (schema statistics, the rollup build) may take: over
/// 1B transactions it takes many minutes on 2 cores.
const BACKGROUND_TIMEOUT: Duration = Duration::from_secs(4 * 3600);

// ---------------------------------------------------------------------------------------------
// Entry
// ---------------------------------------------------------------------------------------------

pub fn run(a: BenchArgs) -> Result<()> {
    if let Some(db) = &a.rss_probe {
        let kb = rss_probe(db)?;
        println!("vmhwm_kb {kb}");
        return Ok(());
    }
    if let Some(db) = &a.duckdb_count {
        println!("{}", duckdb_count(db, &a.sql)?);
        return Ok(());
    }
    if let Some(db) = &a.scale_rss_probe {
        println!("vmhwm_kb {}", scale::rss_probe(db)?);
        return Ok(());
    }
    if let Some(config) = &a.duckdb_serve {
        return server::serve(config);
    }
    let plan = Plan::from_args(&a)?;
    let features = FeatureSet::from_toml(STARTER_FEATURES).context("parsing the starter features.toml")?;
    let mut rows = Vec::new();
    let mut databases = Vec::new();
    let mut duckdb_version = String::new();
    let sample_sizes: &[u64] = if (1..SCALE).any(|s| plan.runs(s)) { &plan.sizes } else { &[] };
    for &n in sample_sizes {
        let path = database(&plan.data, n)?;
        let engine = Engine::open(&path, &sample_options()).with_context(|| format!("opening {}", path.display()))?;
        duckdb_version = engine.duckdb_version()?;
        databases.push((n, path.clone()));
        let raw = open_raw(&path)?;
        let mut db = Db { path, n, engine, raw, features: features.clone(), t: plan.timer, rows: Vec::new() };
        for step in (1..SCALE).filter(|s| plan.runs(*s)) {
            eprintln!("bench: {} customers, measurement {step}", thousands(n));
            let start = Instant::now();
            match step {
                1 => db.sizes()?,
                2 => db.profiles()?,
                3 => db.overlap()?,
                4 => db.export()?,
                5 => db.keystrokes()?,
                6 => db.render()?,
                7 => db.startup()?,
                8 => db.clause_cache()?,
                9 => db.funnel()?,
                10 => db.hygiene()?,
                11 => db.headless()?,
                12 => db.history()?,
                _ => db.parquet()?,
            }
            eprintln!("bench:   ({:.1} s)", start.elapsed().as_secs_f64());
        }
        rows.append(&mut db.rows);
    }
    let mut scaled = Vec::new();
    let scale_sizes: &[u64] = if plan.runs(SCALE) { &plan.scale_sizes } else { &[] };
    for &n in scale_sizes {
        let mut data = scale::database(&plan.data, n)?;
        eprintln!("bench: {} subscribers, measurement {SCALE}", thousands(n));
        let start = Instant::now();
        duckdb_version = scale::measure(plan.timer, &mut data, &mut rows)?;
        eprintln!("bench:   ({:.1} s)", start.elapsed().as_secs_f64());
        scaled.push(data);
    }
    let section = report(&plan, &rows, &databases, &scaled, &duckdb_version);
    println!("{section}");
    if let Some(path) = &plan.write {
        write_section(path, &section)?;
        eprintln!("bench: wrote {}", path.display());
    }
    Ok(())
}

struct Plan {
    sizes: Vec<u64>,
    scale_sizes: Vec<u64>,
    timer: Timer,
    data: PathBuf,
    write: Option<PathBuf>,
    only: Vec<u8>,
    smoke: bool,
}

impl Plan {
    fn from_args(a: &BenchArgs) -> Result<Plan> {
        if let Some(bad) = a.only.iter().find(|n| !(1..=MEASUREMENTS).contains(*n)) {
            bail!(seglens::error::UserError(format!("--only {bad}: measurements are numbered 1 to {MEASUREMENTS}")));
        }
        if a.smoke {
            let data = a
                .data
                .clone()
                .or_else(|| a.out.as_ref().map(|o| o.join("bench-data")))
                .unwrap_or_else(|| "bench-data".into());
            let data = std::path::absolute(data)?;
            return Ok(Plan {
                sizes: vec![SMOKE_CUSTOMERS],
                scale_sizes: vec![scale::SMOKE_SUBSCRIBERS],
                timer: Timer { runs: 1, warm: false },
                data,
                write: a.write.clone().or_else(|| a.out.as_ref().map(|o| o.join("BENCHMARKS.md"))),
                only: a.only.clone(),
                smoke: true,
            });
        }
        if a.runs == 0 || [&a.sizes, &a.scale_sizes].iter().any(|s| s.is_empty() || s.contains(&0)) {
            bail!(seglens::error::UserError(
                "--runs and every --sizes and --scale-sizes value must be at least 1".into()
            ));
        }
        Ok(Plan {
            sizes: a.sizes.clone(),
            scale_sizes: a.scale_sizes.clone(),
            timer: Timer { runs: a.runs, warm: true },
            // Absolute: whole-process rows run `seglens size` from a directory of their own.
            data: std::path::absolute(a.data.clone().unwrap_or_else(|| "bench-data".into()))?,
            // A partial run (--only) prints its rows but leaves BENCHMARKS.md alone unless asked.
            write: a
                .write
                .clone()
                .or_else(|| a.out.as_ref().map(|o| o.join("BENCHMARKS.md")))
                .or_else(|| a.only.is_empty().then(|| "BENCHMARKS.md".into())),
            only: a.only.clone(),
            smoke: false,
        })
    }
}

impl Plan {
    /// Whether measurement `step` runs.
    fn runs(&self, step: u8) -> bool {
        self.only.is_empty() || self.only.contains(&step)
    }
}

/// The sample database with `n` customers, generated once (fixed seed, dates relative to today)
/// and reused while the file exists.
fn database(dir: &Path, n: u64) -> Result<PathBuf> {
    let path = dir.join(format!("customers-{n}.duckdb"));
    if !path.exists() {
        eprintln!("bench: generating {} ({} customers; 10M take a minute or two)", path.display(), thousands(n));
        let start = Instant::now();
        seglens::sample::generate(&path, &seglens::sample::SampleSpec::new(n), false)?;
        eprintln!("bench: generated in {:.1} s", start.elapsed().as_secs_f64());
    }
    Ok(path)
}

/// The sample workspace's metrics: the bench measures the sample schema as users see it.
pub(crate) fn sample_options() -> OpenOptions {
    let metrics = seglens::engine::MetricSet {
        file: seglens::engine::MetricsFile {
            rollup: Vec::new(),
            metric: seglens::engine::query::profile::sample_metrics(),
        },
        source: seglens::engine::MetricSource::Inferred,
    };
    OpenOptions { metrics: Some(metrics), ..Default::default() }
}

fn threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// DuckDB on `db` as a script would use it (a Parquet file through an in-memory database):
/// runs every statement in `sqls` and returns the first one's count.
pub(crate) fn duckdb_count(db: &Path, sqls: &[String]) -> Result<u64> {
    let parquet = db.extension().is_some_and(|e| e == "parquet");
    let conn = if parquet { parquet::in_memory()? } else { open_raw(db)? };
    let mut first = None;
    for s in sqls {
        let n = count(&conn, s)?;
        first.get_or_insert(n);
    }
    first.context("no statement to count")
}

/// DuckDB itself on the same file, with the settings seglens uses that change a query's work
/// (`Engine::open`: read-only, threads = cores, DuckDB's own memory limit; a Parquet source adds
/// `PARQUET_SETTINGS`, see `parquet::in_memory`). The bundled DuckDB has no ICU extension, where
/// `current_date` and `today()` live: they are defined here as the engine defines them
/// (`define_today`), so both sides run the same SQL.
pub(crate) fn open_raw(path: &Path) -> Result<Connection> {
    let config = Config::default()
        .access_mode(AccessMode::ReadOnly)?
        // As the engine: no extension is fetched (binding `current_date` would try ICU).
        .enable_autoload_extension(false)?
        .threads(threads() as i64)?;
    let conn =
        Connection::open_with_flags(path, config).with_context(|| format!("opening {} with DuckDB", path.display()))?;
    define_today(&conn)?;
    Ok(conn)
}

/// Temp macros live in one connection's catalog: every connection gets its own.
fn define_today(conn: &Connection) -> Result<()> {
    Ok(seglens_define_today(conn)?)
}

/// DuckDB alone in the superseded situation, on the explorer's clock (`Session::superseded`):
/// the preview's two statements (`expensive`: its count, then its profile) run one after the
/// other on a second connection of the same database, as the worker runs a preview's parts;
/// `into` after the count has returned (the profile then running) the interrupt comes, at the
/// moment of the edit's first key; once the profile has stopped and `pause` has passed since the
/// interrupt, `sql` runs on `raw`. Returns (interrupt → the profile stopped, interrupt → `sql`
/// counted), or None when the profile ended before the interrupt (that attempt does not count).
fn after_interrupt(
    raw: &Connection,
    expensive: &[String; 2],
    sql: &str,
    into: Duration,
    pause: Duration,
) -> Result<Option<(Duration, Duration)>> {
    let other = raw.try_clone()?;
    define_today(&other)?;
    let handle = other.interrupt_handle();
    let [first, second] = expensive.clone();
    let (counted, running) = std::sync::mpsc::channel();
    // Ok(true): the profile was interrupted; Ok(false): it ran to its end.
    let query = std::thread::spawn(move || -> Result<bool> {
        count(&other, &first)?;
        let _ = counted.send(());
        match other.query_row(&second, [], |r| r.get::<_, i64>(0)) {
            Ok(_) => Ok(false),
            Err(e) if seglens::engine::conn::error::DuckMessage::parse(&e).is_interrupt() => Ok(true),
            Err(e) => Err(e.into()),
        }
    });
    if running.recv_timeout(WORKER_TIMEOUT).is_err() {
        return match query.join() {
            Ok(Err(e)) => Err(e.context("DuckDB alone: the superseded preview's count")),
            _ => bail!("DuckDB alone: the superseded preview's count never returned"),
        };
    }
    std::thread::sleep(into);
    let t0 = Instant::now();
    handle.interrupt();
    let interrupted = query.join().map_err(|_| anyhow!("the interrupted query's thread panicked"))??;
    let stopped = t0.elapsed();
    if !interrupted {
        return Ok(None);
    }
    std::thread::sleep(pause.saturating_sub(t0.elapsed()));
    count(raw, sql)?;
    Ok(Some((stopped, t0.elapsed())))
}

fn count(raw: &Connection, sql: &str) -> Result<u64> {
    Ok(raw.query_row(sql, [], |r| r.get::<_, i64>(0))? as u64)
}

// ---------------------------------------------------------------------------------------------
// Timing
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy)]
struct Timer {
    runs: usize,
    warm: bool,
}

type Run<'a> = &'a mut dyn FnMut(usize) -> Result<Duration>;

/// Measurements whose rounds take less than this in all get extra rounds…
const QUICK: Duration = Duration::from_secs(1);
/// …up to this many times `--runs`.
const EXTRA_ROUNDS: usize = 10;

impl Timer {
    /// Median milliseconds of each side; sides run interleaved, round by round, after one
    /// warm-up round. Each side gets the run number (0 is the warm-up) and returns the time it
    /// measured. Quick measurements get more rounds than `runs` (up to `EXTRA_ROUNDS` times as
    /// many, while the rounds took less than `QUICK`), so that a burst from another process on a
    /// shared machine moves their median less.
    fn sides(&self, sides: &mut [Run<'_>]) -> Result<Vec<f64>> {
        let mut samples = vec![Vec::with_capacity(self.runs); sides.len()];
        let first = if self.warm { 0 } else { 1 };
        let start = Instant::now();
        let mut run = first;
        loop {
            for (i, side) in sides.iter_mut().enumerate() {
                let d = side(run)?;
                if run > 0 {
                    samples[i].push(d.as_secs_f64() * 1e3);
                }
            }
            let more = self.warm && run < self.runs * EXTRA_ROUNDS && start.elapsed() < QUICK;
            if run >= self.runs && !more {
                break;
            }
            run += 1;
        }
        Ok(samples.into_iter().map(median).collect())
    }

    fn pair(&self, a: Run<'_>, b: Run<'_>) -> Result<(f64, f64)> {
        let m = self.sides(&mut [a, b])?;
        Ok((m[0], m[1]))
    }

    fn one(&self, a: Run<'_>) -> Result<f64> {
        Ok(self.sides(&mut [a])?[0])
    }
}

/// The `q` quantile (0..=1) by the nearest-rank method: the p90 of 20 samples is the 18th.
fn quantile(mut v: Vec<f64>, q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1]
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 { v[m] } else { (v[m - 1] + v[m]) / 2.0 }
}

/// Times `f`.
fn clock(f: impl FnOnce() -> Result<()>) -> Result<Duration> {
    let start = Instant::now();
    f()?;
    Ok(start.elapsed())
}
