//! The measurements, per database.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use duckdb::Connection;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::KeyCode;

use super::report::{Row, Target, Unit, ratio_text, value};
use super::session::Session;
use super::{
    EXISTS_30, EXTRA_ROUNDS, FEATURE, NUDGE, PLAIN, RENDER_FRAMES, SEGMENTS, SIZE_FILTERS, STARTER_FEATURES,
    SUPERSEDED_PER_RUN, Timer, after_interrupt, clock, count, median, quantile,
};
use seglens::engine::query::overlap::OverlapInput;
use seglens::engine::text::filter;
use seglens::engine::{Compiled, Engine, FeatureSet, ParamDecl, ParamType, ParamValue, ident};
use seglens::format::count as thousands;
use seglens::library::Library;
use seglens::library::template::{Status, Template};
use seglens::tui::state::{AppState, DEBOUNCE};
use seglens::tui::theme::Theme;
use seglens::tui::{self, ui};

pub(super) struct Db {
    pub(super) path: PathBuf,
    pub(super) n: u64,
    pub(super) engine: Engine,
    pub(super) raw: Connection,
    pub(super) features: FeatureSet,
    pub(super) t: Timer,
    pub(super) rows: Vec<Row>,
}

/// The benchmark binary, to run again as a child (the RSS probe, DuckDB as a process):
/// /proc/self/exe still runs this binary when a concurrent build has replaced the file.
pub(super) fn this_binary() -> Result<PathBuf> {
    match Path::new("/proc/self/exe") {
        p if p.exists() => Ok(p.to_path_buf()),
        _ => std::env::current_exe().context("finding the benchmark binary"),
    }
}

/// Runs this binary again with `flag PATH` (an RSS probe: a session in a process of its own) and
/// returns the peak resident size it printed, in kB.
pub(super) fn rss_probe_kb(flag: &str, path: &Path) -> Result<f64> {
    let out =
        std::process::Command::new(this_binary()?).arg(flag).arg(path).output().context("running the RSS probe")?;
    if !out.status.success() {
        bail!("the RSS probe failed: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("vmhwm_kb "))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| anyhow!("the RSS probe printed no figure: {text}"))
}

/// Medians of a whole-process comparison (`Db::size_process_vs`), and the count all agreed on.
pub(super) struct ProcessTimes {
    pub seglens: f64,
    pub in_process: f64,
    pub process: f64,
    pub count: u64,
}

impl Db {
    pub(super) fn compile(&self, text: &str) -> Result<Compiled> {
        filter::compile(text, &BTreeMap::new(), &BTreeMap::new(), &self.features)
            .map_err(|e| anyhow!("compiling {text:?}: {e}"))
    }

    pub(super) fn push(
        &mut self,
        id: &'static str,
        what: String,
        unit: Unit,
        seglens: f64,
        duckdb: Option<f64>,
        target: Target,
    ) {
        self.push_at(id, what, unit, seglens, duckdb, target, true);
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn push_at(
        &mut self,
        id: &'static str,
        what: String,
        unit: Unit,
        seglens: f64,
        duckdb: Option<f64>,
        target: Target,
        applies: bool,
    ) {
        let row = Row { id, what, customers: self.n, unit, seglens, duckdb, target, applies, rss: None };
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
    pub(super) fn at_scale(&self) -> bool {
        self.n >= 10_000_000
    }

    pub(super) fn table(&self) -> String {
        ident(self.engine.table())
    }

    /// `Engine::size` against DuckDB counting `size_sql` of the same filter, run by run (`filter`
    /// gives each run's filter; `clear` empties the member cache before seglens' run, untimed):
    /// the median times and the count, failing when the counts differ.
    fn size_against_duckdb(
        &self,
        filter: &dyn Fn(usize) -> Result<Compiled>,
        clear: bool,
        what: &str,
    ) -> Result<(f64, f64, u64)> {
        let (engine, raw) = (&self.engine, &self.raw);
        let (mut ours, mut theirs) = (0, 0);
        let (s, d) = self.t.pair(
            &mut |run| {
                let f = filter(run)?;
                if clear {
                    engine.clear_cache();
                }
                clock(|| {
                    ours = engine.size(&f)?.size;
                    Ok(())
                })
            },
            &mut |run| {
                let sql = engine.size_sql(&filter(run)?);
                clock(|| {
                    theirs = count(raw, &sql)?;
                    Ok(())
                })
            },
        )?;
        if ours != theirs {
            bail!("{what}: seglens counted {ours}, DuckDB {theirs}");
        }
        Ok((s, d, ours))
    }

    /// Measurement 1: size of a segment for typical filters.
    pub(super) fn sizes(&mut self) -> Result<()> {
        for (label, text) in SIZE_FILTERS {
            let f = self.compile(text)?;
            let (s, d, ours) = self.size_against_duckdb(&|_| Ok(f.clone()), false, &format!("size of {text:?}"))?;
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
    pub(super) fn profiles(&mut self) -> Result<()> {
        for (label, text) in [("plain columns", PLAIN), ("feature macros", FEATURE)] {
            let f = self.compile(text)?;
            let psql = self.engine.profile_sql(&f)?;
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
    pub(super) fn overlap(&mut self) -> Result<()> {
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
        let inputs = named(&SEGMENTS, &filters);
        let edited_inputs: Vec<Vec<OverlapInput<'_>>> = edited.iter().map(|f| named(&SEGMENTS, f)).collect();
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
        // The like-for-like baseline of the edited case (issue 29): DuckDB has no member sets to
        // keep, so its best is the one scan every time; the pairwise queries (3a) are its worst.
        let what = format!("{edited} vs DuckDB counting by mask in one scan (as 3e)");
        self.push("3f", what, Unit::Ms, warm, Some(one_scan), Target::None);
        Ok(())
    }

    /// Measurement 5: keystroke to preview with the real worker, and a superseded query.
    pub(super) fn keystrokes(&mut self) -> Result<()> {
        let mut s = Session::start(&self.path, &self.features)?;
        let size_sql = self.engine.size_sql(&self.compile(PLAIN)?);
        let profile_sql = self.engine.profile_sql(&self.compile(PLAIN)?)?;
        let exists = self.compile(EXISTS_30)?;
        let exists_sql = [self.engine.size_sql(&exists), self.engine.profile_sql(&exists)?];
        let raw = &self.raw;
        // The edit comes this far into the EXISTS preview's profile statement (which evaluates
        // the EXISTS, its semi join over the events): half DuckDB's fastest time for that
        // statement, fixed for the measurement, so at any size and load the edit lands while it
        // runs.
        let fastest = (0..=self.t.runs)
            .map(|_| clock(|| count(raw, &exists_sql[1]).map(|_| ())))
            .collect::<Result<Vec<_>>>()?
            .into_iter()
            .min()
            .unwrap_or_default();
        let into = fastest / 2;
        let into_ms = into.as_secs_f64() * 1e3;
        let (mut debounce, mut number, mut profile, mut full) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let (mut sup, mut sup_now, mut waited, mut key_us) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let (mut typed, mut keys) = (Vec::new(), 0);
        let (mut alone, mut alone_now, mut stopped) = (Vec::new(), Vec::new(), Vec::new());
        // One side drives the session (a preview, then superseded ones); DuckDB runs beside it,
        // and alone through the same superseded sequence on the same clock.
        let d = self.t.sides(&mut [
            &mut |run| {
                let t = s.preview(PLAIN)?;
                if run > 0 {
                    debounce.push(t.debounce);
                    number.push(t.number);
                    profile.push(t.profile);
                    full.push(t.full);
                }
                // Several edits a round: the target is on the p90 of at least 20 (issue 15); each
                // as the explorer runs it, then with the idle pause skipped.
                for _ in 0..SUPERSEDED_PER_RUN {
                    let t = landed("the explorer", || s.superseded(EXISTS_30, PLAIN, into, true))?;
                    let now = landed("the explorer", || s.superseded(EXISTS_30, PLAIN, into, false))?;
                    if run > 0 {
                        sup.push(t.number);
                        key_us.push(t.worst_key.as_secs_f64() * 1e6);
                        sup_now.push(now.number);
                        waited.push(now.waited);
                        typed.push(now.typed);
                        keys = now.keys;
                    }
                }
                Ok(Duration::ZERO)
            },
            &mut |_| clock(|| count(raw, &size_sql).map(|_| ())),
            &mut |_| clock(|| count(raw, &profile_sql).map(|_| ())),
            &mut |run| {
                for _ in 0..SUPERSEDED_PER_RUN {
                    let attempt = |pause| after_interrupt(raw, &exists_sql, &size_sql, into, pause);
                    let (_, total) = landed("DuckDB alone", || attempt(DEBOUNCE))?;
                    let (stop, now) = landed("DuckDB alone", || attempt(Duration::ZERO))?;
                    if run > 0 {
                        alone.push(total);
                        alone_now.push(now);
                        stopped.push(stop);
                    }
                }
                Ok(Duration::ZERO)
            },
        ])?;
        let ms = |v: Vec<Duration>| median(v.into_iter().map(|d| d.as_secs_f64() * 1e3).collect());
        let all_ms = |v: Vec<Duration>| v.into_iter().map(|d| d.as_secs_f64() * 1e3).collect::<Vec<f64>>();
        let (size_d, profile_d) = (d[1], d[2]);
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
        // The superseded edit (issue 29): both clocks start at the edit's first key, which comes
        // `into` into the EXISTS preview's profile statement, and stop at the plain size.
        let (sup, alone) = (all_ms(sup), all_ms(alone));
        let what = format!(
            "superseded: EXISTS preview, {} into its profile statement, edit to the plain filter: first key → \
its size on screen (the {} ms idle pause included), p90 of {} edits, vs DuckDB alone on the same clock \
(interrupt at the first key, the same pause, then the plain count)",
            value(into_ms, Unit::Ms),
            DEBOUNCE.as_millis(),
            sup.len()
        );
        let q = |v: &[f64], p: f64| quantile(v.to_vec(), p);
        self.push("5", what, Unit::Ms, q(&sup, 0.9), Some(q(&alone, 0.9)), Target::Plus(10.0));
        self.push("5", "↳ median of the same edits".into(), Unit::Ms, q(&sup, 0.5), Some(q(&alone, 0.5)), Target::None);
        self.push(
            "5",
            "↳ slowest of the same edits".into(),
            Unit::Ms,
            q(&sup, 1.0),
            Some(q(&alone, 1.0)),
            Target::None,
        );
        let what = "↳ the same edits with the idle pause skipped (a tick right after the keys), median, vs DuckDB \
alone interrupting and counting at once";
        self.push("5", what.into(), Unit::Ms, ms(sup_now), Some(ms(alone_now)), Target::None);
        let what = "↳ of which: the superseded statement stopping (first key → the worker starts the new query; \
DuckDB: interrupt → its statement returned), median";
        self.push("5", what.into(), Unit::Ms, ms(waited), Some(ms(stopped)), Target::None);
        // The worker starts the new query once the edit is typed and the old statement stopped:
        // here every key of the edit comes at once, on the same two cores as the query.
        let what = format!("↳ of which: handling the edit's {keys} keys, typed at once (first → last key), median");
        self.push("5", what, Unit::Ms, ms(typed), None, Target::None);
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
    pub(super) fn render(&mut self) -> Result<()> {
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
    pub(super) fn startup(&mut self) -> Result<()> {
        let path = self.path.clone();
        self.first_frame_and_rss("7", &path, &super::sample_options(), "")
    }

    /// Startup to the first frame on `path` and the peak RSS of a session on it (in a child
    /// process), as rows `id`; `what` says which kind of source when it is not the database.
    pub(super) fn first_frame_and_rss(
        &mut self,
        id: &'static str,
        path: &Path,
        opts: &seglens::engine::OpenOptions,
        what: &str,
    ) -> Result<()> {
        let lib = tempfile::tempdir()?;
        std::fs::write(lib.path().join(seglens::library::store::FEATURES_FILE), STARTER_FEATURES)?;
        let ms = self.t.one(&mut |_| first_frame(path, opts, lib.path()))?;
        self.push(
            id,
            format!("startup to first frame (open, worker, library, first render){what}"),
            Unit::Ms,
            ms,
            None,
            Target::Under(300.0),
        );
        let kb = rss_probe_kb("--rss-probe", path)?;
        self.push(
            id,
            format!("peak RSS of a session (previews, 16-segment overlap, clause cache){what}"),
            Unit::Mb,
            kb / 1024.0,
            None,
            Target::Under(500.0),
        );
        Ok(())
    }

    /// Measurement 9: `seglens size` as a whole process, as a script pays for it, against DuckDB
    /// in-process doing the same work: open the file read-only, count the filter, count the base.
    /// The key check is remembered per version of the file (the warm-up run pays it), so later
    /// runs start at once.
    pub(super) fn headless(&mut self) -> Result<()> {
        let path = self.path.clone();
        let sql = self.engine.size_sql(&self.compile(PLAIN)?);
        let base = format!("SELECT count(*) FROM {}", self.table());
        self.size_process_rows(["11", "11a"], &path, &[sql, base], "", "open + count + base count")
    }

    /// Rows `ids` of `size_process_vs` on `db`: seglens against DuckDB in-process (the target,
    /// 40 ms), then against DuckDB as a process of its own. `on` names the source, `work` what
    /// DuckDB does.
    pub(super) fn size_process_rows(
        &mut self,
        ids: [&'static str; 2],
        db: &Path,
        sqls: &[String],
        on: &str,
        work: &str,
    ) -> Result<()> {
        let p = self.size_process_vs(db, sqls)?;
        let share = short_share(p.count, self.n);
        let what = format!("`seglens size`{on} as a whole process vs DuckDB in-process {work} ({share} match)");
        self.push(ids[0], what, Unit::Ms, p.seglens, Some(p.in_process), Target::Plus(40.0));
        let what = format!("↳ vs DuckDB as a whole process too (a fresh process: start, {work})");
        self.push(ids[1], what, Unit::Ms, p.seglens, Some(p.process), Target::None);
        Ok(())
    }

    /// `seglens size --json --db DB <PLAIN>` as a whole process, as a script pays it, against
    /// DuckDB running `sqls` (the count, then the base) on `db`, in this process and as a fresh
    /// process of its own, run by run; all must count the same.
    pub(super) fn size_process_vs(&self, db: &Path, sqls: &[String]) -> Result<ProcessTimes> {
        let sandbox = tempfile::tempdir()?;
        // The product binary, as a script runs it (cargo builds it for bench targets).
        let exe = PathBuf::from(env!("CARGO_BIN_EXE_seglens"));
        let (mut ours, mut theirs, mut child) = (String::new(), 0u64, 0u64);
        // The bench binary run again as plain DuckDB: the same library, linked the same way.
        let bench = this_binary()?;
        let m = self.t.sides(&mut [
            &mut |_| {
                let mut cmd = std::process::Command::new(&exe);
                cmd.args(["size", "--json", "--db"])
                    .arg(db)
                    .arg(PLAIN)
                    .current_dir(sandbox.path())
                    .env("SEGLENS_CACHE_DIR", sandbox.path().join("cache"))
                    .env("SEGLENS_DATA_DIR", sandbox.path().join("data"))
                    .env("SEGLENS_LIBRARY", sandbox.path().join("library"));
                clock(|| {
                    let out = cmd.output().context("running seglens size")?;
                    if !out.status.success() {
                        bail!("seglens size failed: {}", String::from_utf8_lossy(&out.stderr).trim());
                    }
                    ours = String::from_utf8_lossy(&out.stdout).into_owned();
                    Ok(())
                })
            },
            &mut |_| {
                clock(|| {
                    theirs = super::duckdb_count(db, sqls)?;
                    Ok(())
                })
            },
            &mut |_| {
                let mut cmd = std::process::Command::new(&bench);
                cmd.arg("--duckdb-count").arg(db);
                for s in sqls {
                    cmd.arg("--sql").arg(s);
                }
                clock(|| {
                    let out = cmd.output().context("running DuckDB in a process of its own")?;
                    if !out.status.success() {
                        bail!("the DuckDB process failed: {}", String::from_utf8_lossy(&out.stderr).trim());
                    }
                    child =
                        String::from_utf8_lossy(&out.stdout).trim().parse().context("the DuckDB process's count")?;
                    Ok(())
                })
            },
        ])?;
        let got: serde_json::Value = serde_json::from_str(&ours)?;
        if got["size"].as_u64() != Some(theirs) || child != theirs {
            bail!("seglens size printed {ours}, DuckDB counted {theirs} in process and {child} in its own");
        }
        Ok(ProcessTimes { seglens: m[0], in_process: m[1], process: m[2], count: theirs })
    }

    /// Measurement 8: nudging the cheap clause of a filter that also has an EXISTS-on-events clause.
    pub(super) fn clause_cache(&mut self) -> Result<()> {
        let decls: BTreeMap<String, ParamDecl> = [("n".to_string(), ParamDecl::new(ParamType::Int))].into();
        let features = &self.features;
        let at = |n: i64| -> Result<Compiled> {
            let values: BTreeMap<String, ParamValue> = [("n".to_string(), ParamValue::Int(n))].into();
            filter::compile(NUDGE, &decls, &values, features).map_err(|e| anyhow!("compiling the nudge filter: {e}"))
        };
        self.engine.clear_cache();
        self.engine.size(&at(50)?)?;
        // Each run a new n, so nothing but the cached clause is reused.
        let warm = self.size_against_duckdb(&|run| at(51 + run as i64), false, "nudged filter")?;
        let cold = self.size_against_duckdb(&|run| at(40 + run as i64), true, "filter with a fresh clause cache")?;
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

/// How many times in a row a superseded edit may miss the statement it should interrupt (it
/// ended before the edit) before the benchmark gives up.
const ATTEMPTS: usize = 10;

/// `attempt` until it lands (Some): a superseded edit counts only when the old statement was
/// still running when it came.
fn landed<T>(who: &str, mut attempt: impl FnMut() -> Result<Option<T>>) -> Result<T> {
    for _ in 0..ATTEMPTS {
        if let Some(t) = attempt()? {
            return Ok(t);
        }
    }
    bail!("{who}: the superseded statement ended before the edit {ATTEMPTS} times in a row")
}

pub(super) fn short_share(n: u64, base: u64) -> String {
    format!("{} = {:.1}%", thousands(n), if base == 0 { 0.0 } else { n as f64 * 100.0 / base as f64 })
}

/// Startup to the first frame at 200x60 on `path` (open, worker, library in `library`, first
/// render), as the explorer starts; the worker's background work (the rollup build) is stopped
/// after, untimed.
pub(super) fn first_frame(path: &Path, opts: &seglens::engine::OpenOptions, library: &Path) -> Result<Duration> {
    let start = Instant::now();
    let engine = Engine::open(path, opts)?;
    let (rt, state) = tui::Runtime::start(engine, Library::open(library), Theme::default_theme(), "bench".into())?;
    let mut terminal = Terminal::new(TestBackend::new(200, 60))?;
    terminal.draw(|f| ui::render(f, &state, rt.theme()))?;
    let elapsed = start.elapsed();
    drop(rt);
    Ok(elapsed)
}

/// Median microseconds of drawing `state` at 200x60 through TestBackend.
pub(super) fn frame_us(state: &AppState, theme: &Theme) -> Result<f64> {
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

/// `segments` (name, text) as overlap inputs, `filters` compiled from their texts.
pub(super) fn named<'a>(segments: &[(&str, &str)], filters: &'a [Compiled]) -> Vec<OverlapInput<'a>> {
    segments
        .iter()
        .zip(filters)
        .map(|((name, _), f)| OverlapInput { name: name.to_string(), filter: f, suppression: false })
        .collect()
}

/// The 16 segments as approved library templates (library panel, overlap working set).
pub(super) fn templates() -> Vec<Template> {
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
