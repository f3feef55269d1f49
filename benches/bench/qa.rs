//! Measurements 9 and 10: the segment QA queries (issue 16) against DuckDB in the same run.

use anyhow::{Result, bail};

use super::measure::Db;
use super::report::{Target, Unit};
use super::{FUNNEL, SEGMENTS, clock, count};
use seglens::engine::Compiled;

impl Db {
    /// Measurement 9: the funnel of a 4-clause filter (every figure, one scan) against one size
    /// query of the same filter; and, to show why the funnel groups by outcome, DuckDB computing
    /// the same figures as `count(*) FILTER (WHERE …)` aggregates.
    pub(super) fn funnel(&mut self) -> Result<()> {
        let f = self.compile(FUNNEL)?;
        let size_sql = self.engine.size_sql(&f);
        let funnel_sql = self.engine.funnel_sql(&f);
        let filters_sql = filter_aggregates_sql(&self.engine, &f);
        let (engine, raw) = (&self.engine, &self.raw);
        let (mut ours, mut theirs, mut clauses) = (0, 0, 0);
        let m = self.t.sides(&mut [
            &mut |_| {
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
        let what = "funnel of a 4-clause filter (running, without, NULL per clause; one scan) vs one size query";
        self.push_at("9", what.into(), Unit::Ms, m[0], Some(m[1]), Target::Ratio(1.5, 0.0), self.at_scale());
        let what = "↳ vs DuckDB counting the same outcome table with GROUP BY over the 4 clauses (`funnel_sql`)";
        self.push("9a", what.into(), Unit::Ms, m[0], Some(m[2]), Target::None);
        let what = "↳ vs DuckDB computing the same figures as 13 `count(*) FILTER (WHERE …)` aggregates";
        self.push("9b", what.into(), Unit::Ms, m[0], Some(m[3]), Target::None);
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
