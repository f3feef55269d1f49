//! Measurements 9 and 10: the segment QA queries (issue 16) against DuckDB in the same run.

use anyhow::{Result, bail};

use super::measure::Db;
use super::report::{Target, Unit};
use super::{EXTRA_ROUNDS, FUNNEL, SEGMENTS, clock, count};
use seglens::engine::Compiled;

impl Db {
    /// Measurement 9: the funnel of a 4-clause filter (every figure, one scan) against one size
    /// query of the same filter, cold (no clause outcome recorded yet); and, to show why the
    /// funnel counts outcomes its own way, DuckDB grouping by them and DuckDB computing the same
    /// figures as `count(*) FILTER (WHERE …)` aggregates. 9c: the funnel as a user nudging the
    /// score sees it — each run a new threshold, the other three clauses read from the outcomes
    /// the previous funnel recorded — against the size query of that same nudged filter.
    pub(super) fn funnel(&mut self) -> Result<()> {
        let f = self.compile(FUNNEL)?;
        let size_sql = self.engine.size_sql(&f);
        let funnel_sql = self.engine.funnel_sql(&f);
        let filters_sql = filter_aggregates_sql(&self.engine, &f);
        let nudged: Vec<Compiled> = (0..=self.t.runs * EXTRA_ROUNDS + 1)
            .map(|run| self.compile(&FUNNEL.replace("> 40", &format!("> {}", 41 + run))))
            .collect::<Result<_>>()?;
        let nudged_sql: Vec<String> = nudged.iter().map(|f| self.engine.size_sql(f)).collect();
        let (engine, raw) = (&self.engine, &self.raw);
        let (mut ours, mut theirs, mut clauses) = (0, 0, 0);
        let m = self.t.sides(&mut [
            &mut |_| {
                engine.clear_cache();
                clock(|| {
                    let fun = engine.funnel(&f)?;
                    ours = fun.size;
                    clauses = fun.clauses.len();
                    Ok(())
                })
            },
            &mut |_| {
                clock(|| {
                    theirs = count(raw, &size_sql)?;
                    Ok(())
                })
            },
            &mut |_| {
                clock(|| {
                    let mut statement = raw.prepare(&funnel_sql)?;
                    let mut rows = statement.query([])?;
                    while rows.next()?.is_some() {}
                    Ok(())
                })
            },
            &mut |_| clock(|| count(raw, &filters_sql).map(|_| ())),
        ])?;
        if ours != theirs || clauses != 4 {
            bail!("funnel: seglens' size {ours} over {clauses} clauses, DuckDB's count {theirs} (4 clauses expected)");
        }
        // The nudged funnel: warmed by one funnel of the filter, then a new threshold each run.
        engine.clear_cache();
        engine.funnel(&f)?;
        let (mut nudged_ours, mut nudged_theirs) = (Vec::new(), Vec::new());
        let (a, b) = self.t.pair(
            &mut |run| {
                clock(|| {
                    nudged_ours.push(engine.funnel(&nudged[run])?.size);
                    Ok(())
                })
            },
            &mut |run| {
                clock(|| {
                    nudged_theirs.push(count(raw, &nudged_sql[run])?);
                    Ok(())
                })
            },
        )?;
        if nudged_ours != nudged_theirs {
            bail!("nudged funnel: seglens' sizes {nudged_ours:?}, DuckDB's counts {nudged_theirs:?}");
        }
        let what = "funnel of a 4-clause filter (running, without, NULL per clause; one scan), cold, vs one size query";
        self.push_at("9", what.into(), Unit::Ms, m[0], Some(m[1]), Target::Ratio(1.5, 0.0), self.at_scale());
        let what = "↳ vs DuckDB counting the same outcome table with GROUP BY over the 4 clauses (`funnel_sql`)";
        self.push("9a", what.into(), Unit::Ms, m[0], Some(m[2]), Target::None);
        let what = "↳ vs DuckDB computing the same figures as 13 `count(*) FILTER (WHERE …)` aggregates";
        self.push("9b", what.into(), Unit::Ms, m[0], Some(m[3]), Target::None);
        let what = "↳ the funnel while nudging one clause (a new score threshold each run; the other 3 clauses' outcomes recorded by the previous funnel) vs one size query of the nudged filter";
        self.push("9c", what.into(), Unit::Ms, a, Some(b), Target::Ratio(1.5, 0.0));
        Ok(())
    }

    /// Measurement 10: the whole hygiene report (with the 16 overlap segments as the approved
    /// ones) against one GROUP BY GROUPING SETS over the same columns.
    pub(super) fn hygiene(&mut self) -> Result<()> {
        let filters: Vec<Compiled> = SEGMENTS.iter().map(|(_, t)| self.compile(t)).collect::<Result<_>>()?;
        let approved: Vec<(String, &Compiled)> =
            SEGMENTS.iter().zip(&filters).map(|((n, _), f)| (n.to_string(), f)).collect();
        let group_by = self.engine.hygiene_group_by_sql()?;
        let (engine, raw) = (&self.engine, &self.raw);
        let mut rows = 0;
        let (s, d) = self.t.pair(
            &mut |_| {
                clock(|| {
                    rows = engine.hygiene(&approved)?.rows;
                    Ok(())
                })
            },
            &mut |_| clock(|| count(raw, &group_by).map(|_| ())),
        )?;
        if rows != self.n {
            bail!("hygiene: {rows} rows reported, the table has {}", self.n);
        }
        let what = "hygiene report (NULLs, duplicate identities, spelling variants, 16 approved segments) vs one GROUP BY GROUPING SETS over the same columns";
        self.push_at("10", what.into(), Unit::Ms, s, Some(d), Target::Ratio(3.0, 0.0), self.at_scale());
        Ok(())
    }
}

/// The funnel's figures as DuckDB would be asked for them one aggregate each: per clause the
/// running count, the count without it and its NULLs, plus the size.
fn filter_aggregates_sql(engine: &seglens::engine::Engine, f: &Compiled) -> String {
    let clauses: Vec<String> = f.clauses().iter().map(|c| format!("(\n{c}\n)")).collect();
    let mut aggs = vec![format!("count(*) FILTER (WHERE {})", clauses.join(" AND "))];
    for i in 0..clauses.len() {
        aggs.push(format!("count(*) FILTER (WHERE {})", clauses[..=i].join(" AND ")));
        let others: Vec<&str> = clauses.iter().enumerate().filter(|(j, _)| *j != i).map(|(_, c)| c.as_str()).collect();
        aggs.push(format!(
            "count(*) FILTER (WHERE {})",
            if others.is_empty() { "TRUE".into() } else { others.join(" AND ") }
        ));
        aggs.push(format!("count(*) FILTER (WHERE {} IS NULL)", clauses[i]));
    }
    format!("SELECT {} FROM {}", aggs.join(", "), engine.table_sql())
}
