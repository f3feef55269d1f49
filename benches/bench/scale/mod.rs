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

mod data;
mod rows;

use std::cell::Cell;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};

use super::report::{Row, Target, Unit, ratio_text, value};
use super::server::{Answer, Build, Request, ServeConfig, Server, peak_kb, reset_peak};
use super::session::Session;
use super::{Run, Timer, clock, median, threads};
use data::TARGET_SIZE;
pub(crate) use data::{SMOKE_SUBSCRIBERS, ScaleData, database};
use rows::text_of;
use seglens::engine::text::filter;
use seglens::engine::{Compiled, Engine, FeatureSet, OpenOptions};
use seglens::format::count as thousands;

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
