//! Measurement 14's rows: each runs seglens against both DuckDBs (`Scale::against`) and checks
//! every answer against what seglens showed.

use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use serde_json::Value;

use super::super::export::{compare_csv, copy_members, export_request};
use super::super::measure::named;
use super::super::report::Target;
use super::super::server::{Answer, Request};
use super::super::session::Session;
use super::super::{EXTRA_ROUNDS, median};
use super::data::TABLE;
use super::{BUILDS, EXPORT, FUNNEL, Figures, PREVIEW, Peak, SEGMENTS, SPLIT, Scale, compile, open};
use seglens::engine::query::overlap::OverlapInput;
use seglens::engine::{Compiled, Engine, FeatureSet, ident};
use seglens::format::count as thousands;

impl Scale<'_> {
    /// Startup to the first frame on a fresh engine (the metrics inferred; the rollup build
    /// starts behind it) against each DuckDB opening the file and counting the subscribers.
    pub(super) fn first_frame(&mut self) -> Result<()> {
        let lib = tempfile::tempdir()?;
        let (path, opts) = (self.data.path.clone(), self.opts.clone());
        let count = format!("SELECT count(*) FROM {}", ident(TABLE));
        // The first open of this file: no `customers` table, so the entity is found by its
        // structure and its key's uniqueness confirmed by a scan, then remembered.
        let first = Peak::default();
        let mut first_ms = Duration::ZERO;
        first.clock(|| {
            first_ms = super::super::measure::first_frame(&path, &opts, lib.path())?;
            Ok(())
        })?;
        // The session's worker checks the key in the background and remembers it; the timed
        // runs stop their session at the first frame, before that check ends, so it runs here.
        open(&path, &opts)?.verify_key()?;
        let mut frame = |_: usize, p: &Peak| -> Result<Duration> {
            let mut d = Duration::ZERO;
            p.clock(|| {
                d = super::super::measure::first_frame(&path, &opts, lib.path())?;
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
    pub(super) fn rollup_build(&mut self) -> Result<Engine> {
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
    pub(super) fn overlap(&mut self, engine: &Engine) -> Result<()> {
        let filters: Vec<Compiled> = SEGMENTS.iter().map(|(_, t)| compile(t)).collect::<Result<_>>()?;
        let edited: Vec<Vec<Compiled>> = (0..=self.t.runs * EXTRA_ROUNDS)
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
    pub(super) fn funnel(&mut self, engine: &Engine) -> Result<()> {
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
    pub(super) fn split(&mut self, engine: &Engine) -> Result<()> {
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
    pub(super) fn export(&mut self, engine: &Engine) -> Result<()> {
        let f = compile(EXPORT)?;
        let dir = tempfile::tempdir().context("creating a temporary directory for the export")?;
        let copy_to = dir.path().join("copy.csv");
        let copy = copy_members(engine, &f, &copy_to)?;
        let ours_to = dir.path().join("segment.csv");
        let req = export_request("business-at-risk", &f, ours_to.clone());
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
        // The last COPY's file (whichever DuckDB ran last) against the last export, cell by cell.
        let files = compare_csv(&ours_to, &copy_to).context("comparing the export with COPY's file")?;
        let what = format!(
            "export of {} rows × {} columns to CSV (manifest, SHA-256, fsync, count check); DuckDB: COPY TO of the same members query (files compared: {files})",
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
    pub(super) fn keystrokes(&mut self, engine: Engine) -> Result<()> {
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
pub(super) fn text_of(v: &Value) -> Option<String> {
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
