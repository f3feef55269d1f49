//! `seglens bench`: measures the engine, the export, the real worker and the screen against DuckDB
//! running the identical SQL through the duckdb crate, in the same process and run, and writes the
//! table into BENCHMARKS.md (issue 7). Ratios are what count: on shared 2-core machines absolute
//! times drift, so every comparison runs seglens and DuckDB interleaved, run by run. Nothing here
//! asserts on speed; only real errors (a failed query, a count that differs from DuckDB's) fail.

use crate::engine::define_today as seglens_define_today;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use duckdb::{AccessMode, Config, Connection};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::engine::overlap::OverlapInput;
use crate::engine::{
    Compiled, DEFAULT_MEMORY_LIMIT, Engine, FeatureSet, OpenOptions, ParamDecl, ParamType, ParamValue, filter, ident,
};
use crate::export::{ExportRequest, ExportSegment};
use crate::library::Library;
use crate::library::template::{Status, Template};
use crate::tui::action::{Action, Effect, LibrarySnapshot};
use crate::tui::state::{AppState, DEBOUNCE, WorkerState};
use crate::tui::theme::Theme;
use crate::tui::worker::{Part, Response, WorkerHandle};
use crate::tui::{self, ui, update};

#[derive(clap::Args, Debug)]
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
    /// Only these measurements (1-8), comma-separated
    #[arg(long, value_delimiter = ',', value_name = "N")]
    pub only: Vec<u8>,
    /// Internal: run a session on DB in this (child) process and print its peak RSS
    #[arg(long, hide = true, value_name = "DB")]
    pub rss_probe: Option<PathBuf>,
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

const STARTER_FEATURES: &str = include_str!("../sample-data/features.toml");
const SMOKE_CUSTOMERS: u64 = 10_000;
const RENDER_FRAMES: usize = 200;
/// How long the worker may take for one answer before the benchmark gives up (a real error).
const WORKER_TIMEOUT: Duration = Duration::from_secs(300);

// ---------------------------------------------------------------------------------------------
// Entry
// ---------------------------------------------------------------------------------------------

pub fn run(a: BenchArgs) -> Result<()> {
    if let Some(db) = &a.rss_probe {
        let kb = rss_probe(db)?;
        println!("vmhwm_kb {kb}");
        return Ok(());
    }
    let plan = Plan::from_args(&a)?;
    let features = FeatureSet::from_toml(STARTER_FEATURES).context("parsing the starter features.toml")?;
    let mut rows = Vec::new();
    let mut databases = Vec::new();
    let mut duckdb_version = String::new();
    for &n in &plan.sizes {
        let path = database(&plan.data, n)?;
        let engine =
            Engine::open(&path, &OpenOptions::default()).with_context(|| format!("opening {}", path.display()))?;
        duckdb_version = engine.duckdb_version()?;
        databases.push((n, path.clone()));
        let raw = open_raw(&path)?;
        let mut db = Db { path, n, engine, raw, features: features.clone(), t: plan.timer, rows: Vec::new() };
        for step in 1..=8u8 {
            if !plan.only.is_empty() && !plan.only.contains(&step) {
                continue;
            }
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
                _ => db.clause_cache()?,
            }
            eprintln!("bench:   ({:.1} s)", start.elapsed().as_secs_f64());
        }
        rows.append(&mut db.rows);
    }
    let section = report(&plan, &rows, &databases, &duckdb_version);
    println!("{section}");
    if let Some(path) = &plan.write {
        write_section(path, &section)?;
        eprintln!("bench: wrote {}", path.display());
    }
    Ok(())
}

struct Plan {
    sizes: Vec<u64>,
    timer: Timer,
    data: PathBuf,
    write: Option<PathBuf>,
    only: Vec<u8>,
    smoke: bool,
}

impl Plan {
    fn from_args(a: &BenchArgs) -> Result<Plan> {
        if let Some(bad) = a.only.iter().find(|n| !(1..=8).contains(*n)) {
            bail!(crate::cli::UserError(format!("--only {bad}: measurements are numbered 1 to 8")));
        }
        if a.smoke {
            let data = a
                .data
                .clone()
                .or_else(|| a.out.as_ref().map(|o| o.join("bench-data")))
                .unwrap_or_else(|| "bench-data".into());
            return Ok(Plan {
                sizes: vec![SMOKE_CUSTOMERS],
                timer: Timer { runs: 1, warm: false },
                data,
                write: a.write.clone().or_else(|| a.out.as_ref().map(|o| o.join("BENCHMARKS.md"))),
                only: a.only.clone(),
                smoke: true,
            });
        }
        if a.runs == 0 || a.sizes.is_empty() || a.sizes.contains(&0) {
            bail!(crate::cli::UserError("--runs and every --sizes value must be at least 1".into()));
        }
        Ok(Plan {
            sizes: a.sizes.clone(),
            timer: Timer { runs: a.runs, warm: true },
            data: a.data.clone().unwrap_or_else(|| "bench-data".into()),
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

/// The sample database with `n` customers, generated once (fixed seed, dates relative to today)
/// and reused while the file exists.
fn database(dir: &Path, n: u64) -> Result<PathBuf> {
    let path = dir.join(format!("customers-{n}.duckdb"));
    if !path.exists() {
        eprintln!("bench: generating {} ({} customers; 10M take a minute or two)", path.display(), thousands(n));
        let start = Instant::now();
        crate::sample::generate(&path, &crate::sample::SampleSpec::new(n), false)?;
        eprintln!("bench: generated in {:.1} s", start.elapsed().as_secs_f64());
    }
    Ok(path)
}

fn threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// DuckDB itself on the same file, with the settings seglens uses (engine/mod.rs). The bundled
/// DuckDB has no ICU extension, where `current_date` and `today()` live: they are defined here as
/// the engine defines them (`define_today`), so both sides run the same SQL.
fn open_raw(path: &Path) -> Result<Connection> {
    let config = Config::default()
        .access_mode(AccessMode::ReadOnly)?
        .threads(threads() as i64)?
        .max_memory(DEFAULT_MEMORY_LIMIT)?;
    let conn =
        Connection::open_with_flags(path, config).with_context(|| format!("opening {} with DuckDB", path.display()))?;
    define_today(&conn)?;
    Ok(conn)
}

/// Temp macros live in one connection's catalog: every connection gets its own.
fn define_today(conn: &Connection) -> Result<()> {
    Ok(seglens_define_today(conn)?)
}

/// DuckDB alone in the superseded situation: the `expensive` statements run one after another
/// (as the worker runs a preview's parts) on a second connection of the same database, and are
/// interrupted `after` into them; once they have returned, `sql` runs on `raw`. Returns the time
/// from the interrupt to the end of `sql`.
fn after_interrupt(raw: &Connection, expensive: &[String], sql: &str, after: Duration) -> Result<Duration> {
    let other = raw.try_clone()?;
    define_today(&other)?;
    let handle = other.interrupt_handle();
    let expensive = expensive.to_vec();
    let query = std::thread::spawn(move || {
        for sql in &expensive {
            if other.query_row(sql, [], |r| r.get::<_, i64>(0)).is_err() {
                return;
            }
        }
    });
    std::thread::sleep(after);
    clock(|| {
        handle.interrupt();
        query.join().map_err(|_| anyhow!("the interrupted query's thread panicked"))?;
        count(raw, sql).map(|_| ())
    })
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

// ---------------------------------------------------------------------------------------------
// Results
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy)]
enum Unit {
    Ms,
    Us,
    Mb,
}

#[derive(Clone, Copy)]
enum Target {
    None,
    /// seglens ≤ k × DuckDB + c ms.
    Ratio(f64, f64),
    /// seglens ≤ DuckDB + c ms.
    Plus(f64),
    /// seglens below this, in the row's unit.
    Under(f64),
    /// seglens at least k times faster than DuckDB.
    Faster(f64),
}

struct Row {
    id: &'static str,
    what: String,
    customers: u64,
    unit: Unit,
    seglens: f64,
    duckdb: Option<f64>,
    target: Target,
    /// Whether the target applies at this size (some are set for 10M customers).
    applies: bool,
}

impl Row {
    fn met(&self) -> Option<bool> {
        if !self.applies {
            return None;
        }
        let s = self.seglens;
        match (self.target, self.duckdb) {
            (Target::None, _) => None,
            (Target::Under(x), _) => Some(s < x),
            (Target::Ratio(k, c), Some(d)) => Some(s <= k * d + c),
            (Target::Plus(c), Some(d)) => Some(s <= d + c),
            (Target::Faster(k), Some(d)) => Some(s * k <= d),
            (_, None) => None,
        }
    }

    fn target_text(&self) -> String {
        let t = match self.target {
            Target::None => return "–".into(),
            Target::Ratio(k, c) if c > 0.0 => format!("≤ {k}x + {c} ms"),
            Target::Ratio(k, _) => format!("≤ {k}x"),
            Target::Plus(c) => format!("≤ DuckDB + {c} ms"),
            Target::Under(x) if matches!(self.unit, Unit::Us) && x >= 1000.0 => {
                format!("< {} ms", x / 1000.0)
            }
            Target::Under(x) => format!("< {}", value(x, self.unit)),
            Target::Faster(k) => format!("≥ {k}x faster"),
        };
        if self.applies { t } else { format!("({t} at 10M)") }
    }
}

/// A figure with its unit; NaN (no figure) shows as a dash.
fn value(v: f64, unit: Unit) -> String {
    match unit {
        _ if v.is_nan() => "–".into(),
        Unit::Ms if v < 10.0 => format!("{v:.2} ms"),
        Unit::Ms if v < 100.0 => format!("{v:.1} ms"),
        Unit::Ms => format!("{v:.0} ms"),
        Unit::Us => format!("{v:.0} µs"),
        Unit::Mb => format!("{v:.0} MB"),
    }
}

fn ratio_text(s: f64, d: f64) -> String {
    if s.is_nan() {
        return "–".into();
    }
    let r = s / d;
    if r < 0.5 { format!("{r:.3}x ({:.0}x faster)", d / s) } else { format!("{r:.2}x") }
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn short_count(n: u64) -> String {
    match n {
        n if n >= 1_000_000 && n.is_multiple_of(1_000_000) => format!("{}M", n / 1_000_000),
        n if n >= 1_000 && n.is_multiple_of(1_000) => format!("{}k", n / 1_000),
        n => thousands(n),
    }
}

// ---------------------------------------------------------------------------------------------
// The measurements, per database
// ---------------------------------------------------------------------------------------------

struct Db {
    path: PathBuf,
    n: u64,
    engine: Engine,
    raw: Connection,
    features: FeatureSet,
    t: Timer,
    rows: Vec<Row>,
}

impl Db {
    fn compile(&self, text: &str) -> Result<Compiled> {
        filter::compile(text, &BTreeMap::new(), &BTreeMap::new(), &self.features)
            .map_err(|e| anyhow!("compiling {text:?}: {e}"))
    }

    fn push(&mut self, id: &'static str, what: String, unit: Unit, seglens: f64, duckdb: Option<f64>, target: Target) {
        self.push_at(id, what, unit, seglens, duckdb, target, true);
    }

    #[allow(clippy::too_many_arguments)]
    fn push_at(
        &mut self,
        id: &'static str,
        what: String,
        unit: Unit,
        seglens: f64,
        duckdb: Option<f64>,
        target: Target,
        applies: bool,
    ) {
        let row = Row { id, what, customers: self.n, unit, seglens, duckdb, target, applies };
        eprintln!(
            "bench:   {id} {} | seglens {} | DuckDB {} | {}",
            row.what,
            value(seglens, unit),
            duckdb.map_or("–".into(), |d| value(d, unit)),
            duckdb.map_or(String::new(), |d| ratio_text(seglens, d))
        );
        self.rows.push(row);
    }

    /// Targets set "at 10M customers" apply from 10M up.
    fn at_scale(&self) -> bool {
        self.n >= 10_000_000
    }

    fn table(&self) -> String {
        ident(self.engine.table())
    }

    /// Measurement 1: size of a segment for typical filters.
    fn sizes(&mut self) -> Result<()> {
        for (label, text) in SIZE_FILTERS {
            let f = self.compile(text)?;
            let sql = self.engine.size_sql(&f);
            let (mut ours, mut theirs) = (0, 0);
            let (engine, raw) = (&self.engine, &self.raw);
            let (s, d) = self.t.pair(
                &mut |_| {
                    clock(|| {
                        ours = engine.size(&f)?.size;
                        Ok(())
                    })
                },
                &mut |_| {
                    clock(|| {
                        theirs = count(raw, &sql)?;
                        Ok(())
                    })
                },
            )?;
            if ours != theirs {
                bail!("size of {text:?}: seglens counted {ours}, DuckDB {theirs}");
            }
            self.push(
                "1",
                format!("size: {label} ({} match)", short_share(ours, self.n)),
                Unit::Ms,
                s,
                Some(d),
                Target::Ratio(1.1, 2.0),
            );
        }
        Ok(())
    }

    /// Measurement 2: full profile plus one breakdown (warm: the base profile is cached per database).
    fn profiles(&mut self) -> Result<()> {
        for (label, text) in [("plain columns", PLAIN), ("feature macros", FEATURE)] {
            let f = self.compile(text)?;
            let psql = self.engine.profile_sql(&f);
            let bsql = format!(
                "SELECT CAST(region AS VARCHAR) AS v, count(*) AS c FROM {} WHERE (\n{}\n) GROUP BY 1 ORDER BY c DESC",
                self.table(),
                f.sql
            );
            let metrics = self.engine.metrics().len();
            let (mut ours, mut theirs) = (0, 0);
            let (engine, raw) = (&self.engine, &self.raw);
            let (s, d) = self.t.pair(
                &mut |_| {
                    clock(|| {
                        ours = engine.profile(&f)?.size;
                        engine.breakdown(&f, "region", 12)?;
                        Ok(())
                    })
                },
                &mut |_| {
                    clock(|| {
                        theirs = raw.query_row(&psql, [], |r| {
                            for i in 1..=metrics {
                                r.get::<_, Option<f64>>(i)?;
                            }
                            r.get::<_, i64>(0)
                        })? as u64;
                        let mut st = raw.prepare(&bsql)?;
                        let groups: Vec<(Option<String>, i64)> =
                            st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<_, _>>()?;
                        std::hint::black_box(groups);
                        Ok(())
                    })
                },
            )?;
            if ours != theirs {
                bail!("profile of {text:?}: seglens counted {ours}, DuckDB {theirs}");
            }
            self.push(
                "2",
                format!("profile + breakdown by region: {label}"),
                Unit::Ms,
                s,
                Some(d),
                Target::Ratio(1.1, 2.0),
            );
        }
        Ok(())
    }

    /// Measurement 3: overlap of 16 segments, against one size query and the 120 pairwise ones:
    /// while one segment is being edited (the other 15 members sets cached), and cold.
    fn overlap(&mut self) -> Result<()> {
        let filters: Vec<Compiled> = SEGMENTS.iter().map(|(_, t)| self.compile(t)).collect::<Result<_>>()?;
        // Run n edits the first segment: the text changes (a space more each run), so its member
        // set is computed again while the other 15 come from the cache.
        let edited: Vec<Vec<Compiled>> = (0..=self.t.runs * EXTRA_ROUNDS)
            .map(|n| {
                let mut f = filters.clone();
                f[0] = self.compile(&format!("{}{}", SEGMENTS[0].1, " ".repeat(n + 1)))?;
                Ok(f)
            })
            .collect::<Result<_>>()?;
        let inputs = named(&filters);
        let edited_inputs: Vec<Vec<OverlapInput<'_>>> = edited.iter().map(|f| named(f)).collect();
        let refs: Vec<&Compiled> = filters.iter().collect();
        let table = self.table();
        let overlap_sql = self.engine.overlap_sql(&refs);
        let union = filters.iter().map(|f| format!("(\n{}\n)", f.sql)).collect::<Vec<_>>().join(" OR ");
        let union_sql = format!("SELECT count(*) FROM {table} WHERE {union}");
        let singles: Vec<String> = filters.iter().map(|f| self.engine.size_sql(f)).collect();
        let mut pairs = Vec::new();
        for i in 0..filters.len() {
            for j in i + 1..filters.len() {
                pairs.push((
                    i,
                    j,
                    format!("SELECT count(*) FROM {table} WHERE (\n{}\n) AND (\n{}\n)", filters[i].sql, filters[j].sql),
                ));
            }
        }
        let (engine, raw) = (&self.engine, &self.raw);
        let (mut cold, mut warm) = (None, None);
        let mut pairwise = Vec::new();
        let m = self.t.sides(&mut [
            &mut |_| {
                engine.clear_cache();
                clock(|| {
                    cold = Some(engine.overlap(&inputs)?);
                    Ok(())
                })
            },
            &mut |n| {
                clock(|| {
                    warm = Some(engine.overlap(&edited_inputs[n.min(edited_inputs.len() - 1)])?);
                    Ok(())
                })
            },
            &mut |_| {
                clock(|| {
                    let mut st = raw.prepare(&overlap_sql)?;
                    let groups: Vec<(u64, i64)> =
                        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<_, _>>()?;
                    std::hint::black_box(groups);
                    Ok(())
                })
            },
            &mut |_| clock(|| count(raw, &union_sql).map(|_| ())),
            &mut |_| clock(|| singles.iter().try_for_each(|sql| count(raw, sql).map(|_| ()))),
            &mut |_| {
                clock(|| {
                    pairwise = pairs.iter().map(|(i, j, sql)| Ok((*i, *j, count(raw, sql)?))).collect::<Result<_>>()?;
                    Ok(())
                })
            },
        ])?;
        for o in [cold, warm] {
            let o = o.ok_or_else(|| anyhow!("the overlap did not run"))?;
            for (i, j, n) in &pairwise {
                let ours = o.pair(*i, *j).map_or(0, |p| p.intersection);
                if ours != *n {
                    bail!("overlap of {} and {}: seglens counted {ours}, DuckDB {n}", SEGMENTS[*i].0, SEGMENTS[*j].0);
                }
            }
        }
        let scale = self.at_scale();
        let (cold, warm, one_scan, union, singles, pairwise) = (m[0], m[1], m[2], m[3], m[4], m[5]);
        let edited = "overlap of 16 segments, one being edited (15 member sets cached)";
        self.push(
            "3",
            format!("{edited} vs one size query (the OR of the 16)"),
            Unit::Ms,
            warm,
            Some(union),
            Target::Ratio(2.0, 0.0),
        );
        let what = format!("{edited} vs the 120 pairwise count queries");
        self.push_at("3a", what, Unit::Ms, warm, Some(pairwise), Target::Faster(20.0), scale);
        let what = "overlap of 16 segments, cold (nothing cached) vs one size query (the OR of the 16)";
        self.push("3b", what.into(), Unit::Ms, cold, Some(union), Target::Ratio(2.0, 0.0));
        let what = "overlap of 16 segments, cold vs the 120 pairwise count queries";
        self.push_at("3c", what.into(), Unit::Ms, cold, Some(pairwise), Target::Faster(20.0), scale);
        let what = "↳ cold vs the 16 size queries one by one (each filter pushed into the scan)";
        self.push("3d", what.into(), Unit::Ms, cold, Some(singles), Target::None);
        let what = "↳ cold vs DuckDB counting by mask in one scan (16 `CASE WHEN`, GROUP BY; what a view gets)";
        self.push("3e", what.into(), Unit::Ms, cold, Some(one_scan), Target::None);
        Ok(())
    }

    /// Measurement 4: export of a segment to CSV against DuckDB's COPY TO, with a breakdown of where the
    /// time goes (streaming the rows, formatting CSV, the export's own checks).
    fn export(&mut self) -> Result<()> {
        let f = self.compile(PLAIN)?;
        let members_sql = self.engine.members_sql(&f, &[])?;
        let dir = tempfile::tempdir().context("creating a temporary directory for the export")?;
        let ours_path = dir.path().join("segment.csv");
        let copy_path = dir.path().join("copy.csv");
        let plain_path = dir.path().join("plain.csv");
        let copy_sql =
            format!("COPY ({members_sql}) TO '{}' (HEADER)", copy_path.to_string_lossy().replace('\'', "''"));
        let req = ExportRequest {
            segments: vec![ExportSegment {
                name: "engaged-push".into(),
                version: 1,
                filter: f.clone(),
                params: BTreeMap::new(),
            }],
            suppressions: Vec::new(),
            exclusive: false,
            columns: Vec::new(),
            out: ours_path,
            force: true,
        };
        let (engine, raw) = (&self.engine, &self.raw);
        let (mut ours, mut theirs, mut streamed) = (0, 0, 0);
        let m = self.t.sides(&mut [
            &mut |_| {
                clock(|| {
                    ours = crate::export::export(engine, &req, &mut |_| true)?.iter().map(|x| x.rows).sum();
                    Ok(())
                })
            },
            &mut |_| {
                clock(|| {
                    theirs = raw.execute(&copy_sql, [])? as u64;
                    Ok(())
                })
            },
            &mut |_| {
                clock(|| {
                    streamed = engine.for_each_member(&f, &[], |_| Ok(()))?.1;
                    Ok(())
                })
            },
            &mut |_| {
                clock(|| {
                    let file = std::fs::File::create(&plain_path)?;
                    let mut w = csv::WriterBuilder::new().buffer_capacity(1 << 20).from_writer(file);
                    engine.for_each_member(&f, &[], |fields| {
                        w.write_record(fields.iter().map(|x| x.unwrap_or(""))).map_err(std::io::Error::from)
                    })?;
                    w.flush()?;
                    Ok(())
                })
            },
        ])?;
        if ours != theirs || streamed != theirs {
            bail!("export: seglens wrote {ours} rows (streamed {streamed}), DuckDB's COPY {theirs}");
        }
        let what =
            format!("export {} rows × {} columns to CSV vs COPY TO", thousands(ours), self.engine.columns().len());
        self.push("4", what, Unit::Ms, m[0], Some(m[1]), Target::Ratio(1.5, 0.0));
        self.push(
            "4a",
            "↳ of which: stream the members (no-op callback)".into(),
            Unit::Ms,
            m[2],
            Some(m[1]),
            Target::None,
        );
        self.push(
            "4b",
            "↳ of which: stream + csv writer (no hash, no fsync, no count check)".into(),
            Unit::Ms,
            m[3],
            Some(m[1]),
            Target::None,
        );
        Ok(())
    }

    /// Measurement 5: keystroke to preview with the real worker, and a superseded query.
    fn keystrokes(&mut self) -> Result<()> {
        let mut s = Session::start(&self.path, &self.features)?;
        let size_sql = self.engine.size_sql(&self.compile(PLAIN)?);
        let profile_sql = self.engine.profile_sql(&self.compile(PLAIN)?);
        let exists = self.compile(EXISTS_30)?;
        let exists_sql = [self.engine.size_sql(&exists), self.engine.profile_sql(&exists)];
        let raw = &self.raw;
        let (mut debounce, mut number, mut profile, mut full) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let (mut sup, mut waited, mut key_us) = (Vec::new(), Vec::new(), Vec::new());
        // One side drives the session (a preview, then a superseded one); DuckDB runs beside it.
        let d = self.t.sides(&mut [
            &mut |run| {
                let t = s.preview(PLAIN)?;
                let sup_t = s.superseded(EXISTS_30, PLAIN)?;
                if run > 0 {
                    debounce.push(t.debounce);
                    number.push(t.number);
                    profile.push(t.profile);
                    full.push(t.full);
                    sup.push(sup_t.number);
                    waited.push(sup_t.waited);
                    key_us.push(sup_t.worst_key.as_secs_f64() * 1e6);
                }
                Ok(Duration::ZERO)
            },
            &mut |_| clock(|| count(raw, &size_sql).map(|_| ())),
            &mut |_| clock(|| count(raw, &profile_sql).map(|_| ())),
            &mut |_| after_interrupt(raw, &exists_sql, &size_sql, DEBOUNCE),
        ])?;
        let ms = |v: Vec<Duration>| median(v.into_iter().map(|d| d.as_secs_f64() * 1e3).collect());
        let (size_d, profile_d) = (d[1], d[2]);
        let sup_ms = ms(sup);
        self.push(
            "5",
            "keystroke → size on screen, plain filter (after the debounce)".into(),
            Unit::Ms,
            ms(number),
            Some(size_d),
            Target::Plus(10.0),
        );
        self.push(
            "5",
            "keystroke → profile on screen (after the debounce)".into(),
            Unit::Ms,
            ms(profile),
            Some(profile_d),
            Target::Ratio(2.0, 0.0),
        );
        self.push(
            "5",
            "keystroke → whole preview (size, profile, breakdown, NULL share, 50 rows)".into(),
            Unit::Ms,
            ms(full),
            None,
            Target::None,
        );
        self.push(
            "5",
            format!("debounce: last key → query sent (state::DEBOUNCE = {} ms)", DEBOUNCE.as_millis()),
            Unit::Ms,
            ms(debounce),
            None,
            Target::None,
        );
        self.push(
            "5",
            "superseded: EXISTS preview running, edit to the plain filter → its size on screen".into(),
            Unit::Ms,
            sup_ms,
            Some(size_d),
            Target::Plus(10.0),
        );
        // Where the superseded case's time goes: until the interrupted query stops, the worker
        // cannot start the new one (DuckDB notices an interrupt between pipeline tasks only).
        let what = "↳ of which: waiting for the superseded query to stop (tick → worker starts)";
        self.push("5", what.into(), Unit::Ms, ms(waited), None, Target::None);
        let what = format!(
            "↳ DuckDB alone: EXISTS count, then profile, interrupted {} ms in; then the plain count",
            DEBOUNCE.as_millis()
        );
        self.push("5", what, Unit::Ms, sup_ms, Some(d[3]), Target::None);
        self.push(
            "5",
            "input handled while a query runs (slowest key of the edit)".into(),
            Unit::Us,
            median(key_us),
            None,
            Target::Under(16_000.0),
        );
        // The overlap panel: the same preview with a working set of 16 segments.
        s.state.library.working = SEGMENTS.iter().map(|(n, _)| n.to_string()).collect();
        let mut with_overlap = Vec::new();
        self.t.one(&mut |run| {
            let t = s.preview(PLAIN)?;
            if run > 0 {
                with_overlap.push(t.full);
            }
            Ok(Duration::ZERO)
        })?;
        self.push(
            "5",
            "keystroke → whole preview with a 16-segment overlap working set".into(),
            Unit::Ms,
            ms(with_overlap),
            None,
            Target::None,
        );
        Ok(())
    }

    /// Measurement 6: a full-screen frame at 200x60 with every panel populated.
    fn render(&mut self) -> Result<()> {
        let mut s = Session::start(&self.path, &self.features)?;
        s.state.library.working = SEGMENTS.iter().map(|(n, _)| n.to_string()).collect();
        s.preview(FEATURE)?;
        let theme = Theme::default_theme();
        let explore = frame_us(&s.state, &theme)?;
        s.key(KeyCode::F(3));
        let overlap = frame_us(&s.state, &theme)?;
        self.push(
            "6",
            "frame render 200x60, explore view, all panels populated".into(),
            Unit::Us,
            explore,
            None,
            Target::Under(2000.0),
        );
        self.push(
            "6",
            "frame render 200x60, overlap view (16 segments)".into(),
            Unit::Us,
            overlap,
            None,
            Target::Under(2000.0),
        );
        Ok(())
    }

    /// Measurement 7: startup to first frame, and peak RSS of a session (in a child process).
    fn startup(&mut self) -> Result<()> {
        let lib = tempfile::tempdir()?;
        std::fs::write(lib.path().join(crate::library::store::FEATURES_FILE), STARTER_FEATURES)?;
        let path = self.path.clone();
        let ms = self.t.one(&mut |_| {
            let start = Instant::now();
            let engine = Engine::open(&path, &OpenOptions::default())?;
            let (rt, state) =
                tui::Runtime::start(engine, Library::open(lib.path()), Theme::default_theme(), "bench".into())?;
            let mut terminal = Terminal::new(TestBackend::new(200, 60))?;
            terminal.draw(|f| ui::render(f, &state, rt.theme()))?;
            let elapsed = start.elapsed();
            drop(rt);
            Ok(elapsed)
        })?;
        self.push(
            "7",
            "startup to first frame (open, worker, library, first render)".into(),
            Unit::Ms,
            ms,
            None,
            Target::Under(300.0),
        );
        // /proc/self/exe still runs this binary when a concurrent build has replaced the file.
        let exe = match Path::new("/proc/self/exe") {
            p if p.exists() => p.to_path_buf(),
            _ => std::env::current_exe().context("finding the seglens binary for the RSS probe")?,
        };
        let out = std::process::Command::new(exe)
            .args(["bench", "--rss-probe"])
            .arg(&self.path)
            .output()
            .context("running the RSS probe")?;
        if !out.status.success() {
            bail!("the RSS probe failed: {}", String::from_utf8_lossy(&out.stderr).trim());
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let kb: f64 = text
            .lines()
            .find_map(|l| l.strip_prefix("vmhwm_kb "))
            .and_then(|v| v.trim().parse().ok())
            .ok_or_else(|| anyhow!("the RSS probe printed no figure: {text}"))?;
        self.push(
            "7",
            "peak RSS of a session (previews, 16-segment overlap, clause cache)".into(),
            Unit::Mb,
            kb / 1024.0,
            None,
            Target::Under(500.0),
        );
        Ok(())
    }

    /// Measurement 8: nudging the cheap clause of a filter that also has an EXISTS-on-events clause.
    fn clause_cache(&mut self) -> Result<()> {
        let decls: BTreeMap<String, ParamDecl> = [("n".to_string(), ParamDecl::new(ParamType::Int))].into();
        let features = &self.features;
        let at = |n: i64| -> Result<Compiled> {
            let values: BTreeMap<String, ParamValue> = [("n".to_string(), ParamValue::Int(n))].into();
            filter::compile(NUDGE, &decls, &values, features).map_err(|e| anyhow!("compiling the nudge filter: {e}"))
        };
        self.engine.clear_cache();
        self.engine.size(&at(50)?)?;
        let (engine, raw) = (&self.engine, &self.raw);
        let (mut ours, mut theirs) = (0, 0);
        // Each run a new value (51, 52, ...), so nothing but the cached clause is reused.
        let warm = self.t.pair(
            &mut |run| {
                let f = at(51 + run as i64)?;
                clock(|| {
                    ours = engine.size(&f)?.size;
                    Ok(())
                })
            },
            &mut |run| {
                let sql = engine.size_sql(&at(51 + run as i64)?);
                clock(|| {
                    theirs = count(raw, &sql)?;
                    Ok(())
                })
            },
        )?;
        if ours != theirs {
            bail!("nudged filter: seglens counted {ours} with its clause cache, DuckDB {theirs}");
        }
        let cold = self.t.pair(
            &mut |run| {
                let f = at(40 + run as i64)?;
                engine.clear_cache();
                clock(|| {
                    ours = engine.size(&f)?.size;
                    Ok(())
                })
            },
            &mut |run| {
                let sql = engine.size_sql(&at(40 + run as i64)?);
                clock(|| {
                    theirs = count(raw, &sql)?;
                    Ok(())
                })
            },
        )?;
        if ours != theirs {
            bail!("filter with a fresh clause cache: seglens counted {ours}, DuckDB {theirs}");
        }
        let scale = self.at_scale();
        self.push_at(
            "8",
            "nudge `engagement_score > n` beside an EXISTS (clause cache warm)".into(),
            Unit::Ms,
            warm.0,
            Some(warm.1),
            Target::Faster(5.0),
            scale,
        );
        self.push(
            "8",
            "↳ the first run of that filter (fills the clause cache)".into(),
            Unit::Ms,
            cold.0,
            Some(cold.1),
            Target::None,
        );
        Ok(())
    }
}

fn short_share(n: u64, base: u64) -> String {
    format!("{} = {:.1}%", thousands(n), if base == 0 { 0.0 } else { n as f64 * 100.0 / base as f64 })
}

/// Median microseconds of drawing `state` at 200x60 through TestBackend.
fn frame_us(state: &AppState, theme: &Theme) -> Result<f64> {
    let mut terminal = Terminal::new(TestBackend::new(200, 60))?;
    let mut samples = Vec::with_capacity(RENDER_FRAMES);
    for i in 0..RENDER_FRAMES + 10 {
        let start = Instant::now();
        terminal.draw(|f| ui::render(f, state, theme))?;
        if i >= 10 {
            samples.push(start.elapsed().as_secs_f64() * 1e6);
        }
    }
    Ok(median(samples))
}

// ---------------------------------------------------------------------------------------------
// A session with the real worker, driven as the terminal loop drives it
// ---------------------------------------------------------------------------------------------

/// AppState + the real worker thread, with keys, ticks and responses fed through `update` exactly
/// as `tui::Runtime` does, but with the clock read at each step.
struct Session {
    state: AppState,
    worker: WorkerHandle,
    rx: Receiver<Response>,
    library_dir: tempfile::TempDir,
    /// The worker's own time for the latest size of the current generation.
    size_elapsed: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    Size,
    Profile,
    Done,
    Other,
}

struct Superseded {
    number: Duration,
    waited: Duration,
    worst_key: Duration,
}

struct PreviewTimes {
    debounce: Duration,
    number: Duration,
    profile: Duration,
    full: Duration,
}

impl Session {
    fn start(path: &Path, features: &FeatureSet) -> Result<Session> {
        let engine = Engine::open(path, &OpenOptions::default())?;
        let theme = Theme::default_theme();
        let state = tui::initial_state(&engine, "bench".into(), &theme);
        let dir = tempfile::tempdir()?;
        let (tx, rx) = std::sync::mpsc::channel();
        let worker = WorkerHandle::start(engine, Library::open(dir.path()), move |r| {
            let _ = tx.send(r);
        });
        let mut s = Session { state, worker, rx, library_dir: dir, size_elapsed: Duration::ZERO };
        s.apply(Action::Resize(200, 60));
        let snapshot = LibrarySnapshot {
            dir: s.library_dir.path().display().to_string(),
            templates: templates(),
            features: features.clone(),
            ..LibrarySnapshot::default()
        };
        s.apply(Action::LibraryLoaded(snapshot));
        // The worker starts with the schema (the breakdown dimensions come with it).
        let deadline = Instant::now() + WORKER_TIMEOUT;
        while s.state.schema.schema.is_none() {
            s.recv(deadline)?;
        }
        Ok(s)
    }

    fn apply(&mut self, a: Action) {
        for e in update::update(&mut self.state, a, Instant::now()) {
            match e {
                Effect::Send(r) => self.worker.send(r),
                Effect::Cancel(g) => self.worker.cancel(g),
                _ => {}
            }
        }
    }

    fn key(&mut self, code: KeyCode) {
        self.apply(Action::Key(KeyEvent::new(code, KeyModifiers::NONE)));
    }

    /// The keys that replace the editor's text with `text` (the cursor is at the end).
    fn retype_keys(&self, text: &str) -> Vec<KeyCode> {
        let n = self.state.editor.text().chars().count();
        std::iter::repeat_n(KeyCode::Backspace, n).chain(text.chars().map(KeyCode::Char)).collect()
    }

    fn handle(&mut self, resp: Response) -> Result<Seen> {
        let current = resp.generation == self.state.generation;
        let seen = match &resp.result {
            Ok(Part::Size(_)) => {
                if current {
                    self.size_elapsed = resp.elapsed;
                }
                Seen::Size
            }
            Ok(Part::Profile(_)) => Seen::Profile,
            Ok(Part::Done) => Seen::Done,
            Ok(_) => Seen::Other,
            Err(e) if current || resp.generation == 0 => bail!("the worker failed: {e}"),
            Err(_) => Seen::Other,
        };
        self.apply(Action::Worker(resp));
        Ok(if current { seen } else { Seen::Other })
    }

    fn recv(&mut self, deadline: Instant) -> Result<Seen> {
        match self.rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(resp) => self.handle(resp),
            Err(RecvTimeoutError::Timeout) => bail!("the worker gave no answer within {} s", WORKER_TIMEOUT.as_secs()),
            Err(RecvTimeoutError::Disconnected) => bail!("the worker stopped"),
        }
    }

    /// Waits (handling responses) until the preview is due, then ticks; returns the tick's time.
    fn tick_when_due(&mut self) -> Result<Instant> {
        let deadline = Instant::now() + WORKER_TIMEOUT;
        loop {
            let Some(due) = self.state.preview_due else {
                bail!(
                    "no preview is due: {}",
                    self.state.editor.error.as_ref().map_or("the filter did not compile".into(), |e| e.to_string())
                );
            };
            let now = Instant::now();
            if now >= due {
                self.apply(Action::Tick(now));
                return Ok(now);
            }
            match self.rx.recv_timeout(due - now) {
                Ok(resp) => {
                    self.handle(resp)?;
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => bail!("the worker stopped"),
            }
            if Instant::now() > deadline {
                bail!("the preview never became due");
            }
        }
    }

    fn wait_for(&mut self, what: Seen) -> Result<Instant> {
        let deadline = Instant::now() + WORKER_TIMEOUT;
        while self.recv(deadline)? != what {}
        Ok(Instant::now())
    }

    /// Types `text` as the filter and times the preview, from the tick that sends it.
    fn preview(&mut self, text: &str) -> Result<PreviewTimes> {
        for k in self.retype_keys(text) {
            self.key(k);
        }
        let last_key = Instant::now();
        let t0 = self.tick_when_due()?;
        let number = self.wait_for(Seen::Size)? - t0;
        if self.state.preview.size.is_none() {
            bail!("the size is not in state after its response");
        }
        let profile = self.wait_for(Seen::Profile)? - t0;
        let full = self.wait_for(Seen::Done)? - t0;
        if self.state.worker != WorkerState::Idle {
            bail!("the worker is not idle after the whole preview: {:?}", self.state.worker);
        }
        Ok(PreviewTimes { debounce: t0 - last_key, number, profile, full })
    }

    /// Starts a preview of `expensive`, edits to `cheap` right away, and times from the tick that
    /// sends `cheap` (interrupting `expensive`) to its size in state. Also returns how much of
    /// that passed before the worker started on `cheap` (the superseded query stopping), and the
    /// slowest key of the edit (handled while the expensive query runs).
    fn superseded(&mut self, expensive: &str, cheap: &str) -> Result<Superseded> {
        for k in self.retype_keys(expensive) {
            self.key(k);
        }
        self.tick_when_due()?;
        let mut worst = Duration::ZERO;
        for k in self.retype_keys(cheap) {
            let start = Instant::now();
            self.key(k);
            worst = worst.max(start.elapsed());
        }
        let t0 = self.tick_when_due()?;
        let number = self.wait_for(Seen::Size)? - t0;
        let waited = number.saturating_sub(self.size_elapsed);
        self.wait_for(Seen::Done)?;
        Ok(Superseded { number, waited, worst_key: worst })
    }
}

/// The 16 overlap segments as overlap inputs, `filters` compiled from their texts.
fn named(filters: &[Compiled]) -> Vec<OverlapInput<'_>> {
    SEGMENTS
        .iter()
        .zip(filters)
        .map(|((name, _), f)| OverlapInput { name: name.to_string(), filter: f, suppression: false })
        .collect()
}

/// The 16 segments as approved library templates (library panel, overlap working set).
fn templates() -> Vec<Template> {
    SEGMENTS
        .iter()
        .enumerate()
        .map(|(i, (name, text))| {
            let mut t = Template::new(name, text);
            t.version = 1;
            t.status = Status::Approved;
            t.priority = 10 * (i as i64 + 1);
            t.intent = format!("Benchmark segment {name}");
            t.owner = "crm-team".into();
            t
        })
        .collect()
}

/// The child process of measurement 7: a session on `db` (previews with the 16-segment overlap,
/// an EXISTS filter, the clause cache), then the peak resident set size in kB.
fn rss_probe(db: &Path) -> Result<u64> {
    let features = FeatureSet::from_toml(STARTER_FEATURES)?;
    let mut s = Session::start(db, &features)?;
    s.state.library.working = SEGMENTS.iter().map(|(n, _)| n.to_string()).collect();
    s.preview(PLAIN)?;
    s.preview(FEATURE)?;
    s.preview(EXISTS_30)?;
    s.preview(&NUDGE.replace("{{n}}", "50"))?;
    s.preview(&NUDGE.replace("{{n}}", "51"))?;
    let status = std::fs::read_to_string("/proc/self/status").context("reading /proc/self/status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| anyhow!("no VmHWM in /proc/self/status"))
}

// ---------------------------------------------------------------------------------------------
// BENCHMARKS.md
// ---------------------------------------------------------------------------------------------

const BEGIN: &str = "<!-- bench:begin -->";
const END: &str = "<!-- bench:end -->";

fn report(plan: &Plan, rows: &[Row], databases: &[(u64, PathBuf)], duckdb_version: &str) -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut s = String::new();
    let _ = writeln!(s, "{BEGIN}");
    let _ = writeln!(s, "<!-- Generated by `seglens bench`; rerun the command below to regenerate this section. -->\n");
    let _ = writeln!(s, "- Command: `cargo run -- {}`", args.join(" "));
    let _ = writeln!(s, "- Date: {}", chrono::Local::now().format("%Y-%m-%d %H:%M %Z"));
    let _ = writeln!(s, "- Machine: {}", machine());
    let _ = writeln!(
        s,
        "- DuckDB {duckdb_version} (bundled by the duckdb crate), for seglens and for the baseline alike: \
read-only, threads = {} (the cores), memory_limit = {DEFAULT_MEMORY_LIMIT} (seglens' default)",
        threads()
    );
    let _ = writeln!(
        s,
        "- Build: the dev profile (seglens at opt-level 1; DuckDB and every other dependency at opt-level 3)"
    );
    let runs = if plan.smoke {
        "1 run, no warm-up (smoke)".to_string()
    } else {
        format!(
            "median of {} runs after one warm-up (up to {} while a measurement's runs take under {} s)",
            plan.timer.runs,
            plan.timer.runs * EXTRA_ROUNDS,
            QUICK.as_secs()
        )
    };
    let _ = writeln!(s, "- Runs: {runs}; seglens and DuckDB interleaved run by run, in one process");
    for (n, path) in databases {
        let day = std::fs::metadata(path)
            .and_then(|m| m.modified())
            .map(|t| chrono::DateTime::<chrono::Local>::from(t).format("%Y-%m-%d").to_string())
            .unwrap_or_else(|_| "?".into());
        let _ = writeln!(
            s,
            "- Data: `{}`: {} customers, `seglens sample` seed {}, generated {day}",
            path.display(),
            thousands(*n),
            crate::sample::DEFAULT_SEED
        );
    }
    let _ = writeln!(s, "\n| # | measurement | customers | seglens | DuckDB | ratio | target | met? |");
    let _ = writeln!(s, "|---|---|---:|---:|---:|---:|---|---|");
    for r in rows {
        let met = match r.met() {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "–",
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {met} |",
            r.id,
            r.what.replace('|', "\\|"),
            short_count(r.customers),
            value(r.seglens, r.unit),
            r.duckdb.map_or("–".into(), |d| value(d, r.unit)),
            r.duckdb.map_or("–".into(), |d| ratio_text(r.seglens, d)),
            r.target_text(),
        );
    }
    let _ = writeln!(s, "\nFilters (sample schema, starter `features.toml`):\n");
    for (label, text) in SIZE_FILTERS {
        let _ = writeln!(s, "- {label}: `{text}`");
    }
    let _ = writeln!(s, "- clause cache (8): `{NUDGE}`");
    let _ = writeln!(
        s,
        "- the 16 overlap segments: {}",
        SEGMENTS.iter().map(|(n, t)| format!("{n} `{t}`")).collect::<Vec<_>>().join(", ")
    );
    let _ = write!(s, "{END}");
    s
}

fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name").and_then(|r| r.split_once(':')).map(|(_, m)| m.trim().to_string()))
        .unwrap_or_else(|| "unknown CPU".into());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kb: f64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0);
    format!(
        "{} CPUs available ({model}), {:.1} GiB memory, {}",
        threads(),
        mem_kb / 1024.0 / 1024.0,
        std::env::consts::OS
    )
}

/// Replaces the generated section of `path` (between the markers), keeping everything else; a
/// file without the markers gets the section appended, a missing file is created.
fn write_section(path: &Path, section: &str) -> Result<()> {
    let old = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let new = match (old.find(BEGIN), old.find(END)) {
        (Some(b), Some(e)) if b < e => format!("{}{section}{}", &old[..b], &old[e + END.len()..]),
        _ if old.is_empty() => format!("# Benchmarks\n\n{section}\n"),
        _ => format!("{}\n\n{section}\n", old.trim_end()),
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(path, new).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn section_is_replaced_and_notes_kept() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("B.md");
        std::fs::write(&p, format!("# B\n\nnotes above\n\n{BEGIN}\nold\n{END}\n\nnotes below\n")).unwrap();
        write_section(&p, &format!("{BEGIN}\nnew\n{END}")).unwrap();
        let t = std::fs::read_to_string(&p).unwrap();
        assert_eq!(t, format!("# B\n\nnotes above\n\n{BEGIN}\nnew\n{END}\n\nnotes below\n"));
    }

    #[test]
    fn median_and_targets() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        let row = |s, d, target| Row {
            id: "1",
            what: String::new(),
            customers: 1,
            unit: Unit::Ms,
            seglens: s,
            duckdb: Some(d),
            target,
            applies: true,
        };
        assert_eq!(row(12.0, 10.0, Target::Ratio(1.1, 2.0)).met(), Some(true));
        assert_eq!(row(14.0, 10.0, Target::Ratio(1.1, 2.0)).met(), Some(false));
        assert_eq!(row(10.0, 100.0, Target::Faster(5.0)).met(), Some(true));
        assert_eq!(row(30.0, 100.0, Target::Faster(5.0)).met(), Some(false));
        assert_eq!(thousands(10_000_000), "10,000,000");
    }
}
