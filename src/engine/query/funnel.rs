//! The funnel of a filter: what each top-level clause does. A filter that is an AND at its top is
//! split into its clauses (a top-level OR into its branches), and one scan counts the rows for
//! every combination of the clauses' outcomes (true, false, NULL). Every figure — the running
//! count, the size without a clause, the rows a clause cannot judge, and any what-if with clauses
//! switched off — is read from that table of outcomes, so switching a clause off costs no query.
//! The table is counted in the scan by seglens' tally function (engine/cache/udf.rs), which also
//! records each clause's outcome by row id: the next funnel, after the user nudged one clause,
//! evaluates that clause alone and reads the others back (1.2x a size query at 10M customers,
//! against 2.8x for a funnel evaluating every clause). A GROUP BY over the outcomes (the same
//! table, about 3x a size query) serves funnels of more than six clauses.

use serde::Serialize;

use crate::engine::text::tokens::{TopLevel, top_level_parts};
use crate::engine::{Compiled, Engine, Result, cache, plain_error};

/// How the clauses join at the filter's top level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Join {
    /// Every clause must hold (also a filter of one clause).
    And,
    /// Any branch may hold.
    Or,
}

/// What a clause does that a person should look at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClauseFlag {
    /// AND: the other clauses give the same segment without it.
    RemovesNothing,
    /// AND: it matches no row, or it empties the segment at its step (`tier = 'gold' AND
    /// tier = 'platinum'`: an AND where an OR was meant).
    RemovesEverything,
    /// OR: every row it brings is brought by another branch too.
    AddsNothing,
    /// OR: it matches no row.
    MatchesNobody,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FunnelClause {
    /// The clause as the user wrote it (before features and parameters were expanded).
    pub text: String,
    /// AND: rows passing this clause and every enabled one before it. OR: rows passing this
    /// branch or any enabled one before it. The last enabled clause's `running` is the size.
    pub running: u64,
    /// Rows the filter would give with this clause switched off (the other enabled clauses).
    pub without: u64,
    /// Rows where the clause is NULL: lost to missing data under AND, never brought under OR.
    pub unknown: u64,
    /// Rows where the clause alone holds.
    pub own: u64,
    /// Rows whose membership hangs on this clause alone: AND, rows only it keeps out
    /// (`without - size`); OR, rows only it brings in (`size - without`).
    pub exclusive: u64,
    /// AND: rows this clause removes at its step; OR: rows this branch adds at its step.
    pub step: u64,
    pub flag: Option<ClauseFlag>,
    /// False when switched off for a what-if (its figures then describe it as if it were off).
    pub enabled: bool,
}

/// Rows sharing one combination of clause outcomes (`None`: the clause is NULL for them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub states: Vec<Option<bool>>,
    pub rows: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Funnel {
    pub base: u64,
    /// The size of the filter with the enabled clauses.
    pub size: u64,
    pub join: Join,
    pub clauses: Vec<FunnelClause>,
    /// The table every figure is read from; `with_enabled` recounts from it without a query.
    #[serde(skip)]
    pub outcomes: Vec<Outcome>,
}

impl Funnel {
    /// The same funnel with only the clauses marked true in `enabled` switched on (a missing
    /// entry counts as on). With every clause off, an AND selects everyone, an OR no one.
    pub fn with_enabled(&self, enabled: &[bool]) -> Funnel {
        let on: Vec<bool> = (0..self.clauses.len()).map(|i| enabled.get(i).copied().unwrap_or(true)).collect();
        let texts: Vec<String> = self.clauses.iter().map(|c| c.text.clone()).collect();
        count(self.base, self.join, texts, self.outcomes.clone(), &on)
    }

    /// Which clauses are switched on.
    pub fn enabled(&self) -> Vec<bool> {
        self.clauses.iter().map(|c| c.enabled).collect()
    }
}

/// The top-level parts of `sql` and how they join: the OR branches when there is a top-level OR,
/// else the AND clauses (one part when there is neither).
fn parts(sql: &str) -> (Join, Vec<(usize, usize)>) {
    match top_level_parts(sql) {
        TopLevel::Or(branches) => (Join::Or, branches),
        TopLevel::And(clauses) => (Join::And, clauses),
    }
}

/// The clauses of `f` as the user wrote them. Features expand inside parentheses and parameters
/// into literals, so the user's text has the same top-level parts as the expanded SQL; should the
/// counts ever differ, the expanded clauses are shown rather than a wrong pairing.
fn source_texts(f: &Compiled, join: Join, sql_parts: &[&str]) -> Vec<String> {
    let (src_join, ranges) = parts(&f.source);
    if src_join == join && ranges.len() == sql_parts.len() {
        ranges.into_iter().map(|(s, e)| f.source[s..e].to_string()).collect()
    } else {
        sql_parts.iter().map(|s| s.to_string()).collect()
    }
}

impl Engine {
    /// The funnel of `f`: per top-level clause (or OR branch), the running count, the size
    /// without it, and the rows it cannot judge, all from one scan.
    pub fn funnel(&self, f: &Compiled) -> Result<Funnel> {
        // Errors are located in the user's text by the plain form of the filter; the funnel's
        // own statement splits it, so its errors could not be.
        self.check(f)?;
        let (join, ranges) = parts(&f.sql);
        let sql_parts: Vec<&str> = ranges.iter().map(|&(s, e)| &f.sql[s..e]).collect();
        let texts = source_texts(f, join, &sql_parts);
        let k = sql_parts.len();
        let cols: Vec<String> = sql_parts.iter().map(|part| format!("CAST((\n{part}\n) AS BOOLEAN)")).collect();
        if let Some(tally) = self.tally(&sql_parts, &cols)? {
            let mut cache = self.member_cache.borrow_mut();
            for (part, recorded) in sql_parts.iter().zip(tally.recorded) {
                if let Some((yes, null)) = recorded {
                    cache.insert_outcome(part, yes, null, &sql_parts);
                }
            }
            return Ok(count(self.base_size(), join, texts, outcomes(&tally.cells, k), &vec![true; k]));
        }
        let cols: Vec<String> = cols.iter().enumerate().map(|(i, c)| format!("{c} AS k{i}")).collect();
        let sql = format!("SELECT {}, count(*) FROM {} GROUP BY ALL", cols.join(", "), self.table_sql());
        let outcomes = self.run(&sql, plain_error, |s| {
            s.query_map([], |r| {
                let states = (0..k).map(|i| r.get::<_, Option<bool>>(i)).collect::<duckdb::Result<Vec<_>>>()?;
                Ok(Outcome { states, rows: r.get::<_, i64>(k)? as u64 })
            })?
            .collect::<duckdb::Result<Vec<_>>>()
        })?;
        Ok(count(self.base_size(), join, texts, outcomes, &vec![true; k]))
    }

    /// The outcome table of the clauses `parts` (`cols`: each as a BOOLEAN expression) counted by
    /// the tally function in one scan. A clause an earlier funnel recorded is looked up by row
    /// id, not evaluated again (nudging one clause costs that clause, not the whole filter); the
    /// others are recorded for the next funnel when the table has row ids. None when the funnel
    /// is too long for it or the function is not available (the caller then groups by the
    /// outcomes instead).
    fn tally(&self, parts: &[&str], cols: &[String]) -> Result<Option<cache::Counted>> {
        if parts.len() > cache::TALLY_MAX_CLAUSES {
            return Ok(None);
        }
        let mut cache = self.member_cache.borrow_mut();
        let Some(tallier) = cache.tallier(self.conn()) else { return Ok(None) };
        let marker = cache.marker(self.conn(), &self.cancel, &self.table)?;
        let (mut sources, mut args) = (Vec::with_capacity(parts.len()), Vec::new());
        for (part, col) in parts.iter().zip(cols) {
            // Without row ids the cache is off and holds no outcome.
            match cache.outcome(part) {
                Some(recorded) => sources.push(recorded),
                None => {
                    sources.push(cache::Source::Argument { record: marker.is_some() });
                    args.push(col.clone());
                }
            }
        }
        drop(cache);
        // Without row ids (a view) the tally only counts: any constant stands in for them.
        let (rowid, words) = marker.as_ref().map_or(("0", 0), |m| ("rowid", m.words()));
        let sql = tallier.select(rowid, &args, &self.table_sql());
        tallier.run(sources, words, || self.run(&sql, plain_error, |s| s.query_row([], |r| Ok((r.get(0)?, r.get(1)?)))))
    }

    /// The outcome table of `f` as one plain GROUP BY (what a long funnel runs; the benchmark's
    /// yardstick for the tally).
    pub fn funnel_sql(&self, f: &Compiled) -> String {
        let (_, ranges) = parts(&f.sql);
        let cols: Vec<String> = ranges
            .iter()
            .enumerate()
            .map(|(i, &(s, e))| format!("CAST((\n{}\n) AS BOOLEAN) AS k{i}", &f.sql[s..e]))
            .collect();
        format!("SELECT {}, count(*) FROM {} GROUP BY ALL", cols.join(", "), self.table_sql())
    }
}

/// The outcome table from a tally's cells (cell `Σ state_i · 3^i`; false 0, true 1, NULL 2).
fn outcomes(cells: &[u64], k: usize) -> Vec<Outcome> {
    let counted = cells.iter().enumerate().filter(|&(_, &rows)| rows > 0);
    counted
        .map(|(cell, &rows)| Outcome { states: (0..k).map(|i| cache::cell_state(cell, i)).collect(), rows })
        .collect()
}

/// Per clause, the rows of the outcome table: still in at that clause (`running`), in without
/// it, where it is NULL (`unknown`) and where it holds (`own`); and the funnel's size.
struct Tallies {
    running: Vec<u64>,
    without: Vec<u64>,
    unknown: Vec<u64>,
    own: Vec<u64>,
    size: u64,
}

/// Adds up the outcome table for `k` clauses joined by `join`, those in `on` switched on.
fn tally(outcomes: &[Outcome], join: Join, k: usize, on: &[bool]) -> Tallies {
    let (mut running, mut without, mut unknown, mut own) = (vec![0u64; k], vec![0u64; k], vec![0u64; k], vec![0u64; k]);
    let mut size = 0u64;
    for o in outcomes {
        let n = o.rows;
        let state = |i: usize| o.states.get(i).copied().flatten();
        for i in 0..k {
            match state(i) {
                Some(true) => own[i] += n,
                None => unknown[i] += n,
                Some(false) => {}
            }
        }
        // The enabled clauses that decide this row: under AND those not true, under OR those true.
        let deciding: Vec<usize> = (0..k)
            .filter(|&i| on[i])
            .filter(|&i| match join {
                Join::And => state(i) != Some(true),
                Join::Or => state(i) == Some(true),
            })
            .collect();
        let passes = match join {
            Join::And => deciding.is_empty(),
            Join::Or => !deciding.is_empty(),
        };
        if passes {
            size += n;
        }
        for i in 0..k {
            // Running: under AND the row is still in until its first failing clause; under OR it
            // is in from its first true branch on.
            let in_running = match (join, deciding.first()) {
                (Join::And, None) => true,
                (Join::And, Some(&first)) => i < first,
                (Join::Or, None) => false,
                (Join::Or, Some(&first)) => i >= first,
            };
            if in_running {
                running[i] += n;
            }
            // Without clause i: the decision of the others.
            let others = deciding.iter().filter(|&&d| d != i).count();
            let passes_without = match join {
                Join::And => others == 0,
                Join::Or => others > 0,
            };
            if passes_without {
                without[i] += n;
            }
        }
    }
    Tallies { running, without, unknown, own, size }
}

/// Reads every figure from the outcome table, with the clauses marked in `on` switched on.
fn count(base: u64, join: Join, texts: Vec<String>, mut outcomes: Vec<Outcome>, on: &[bool]) -> Funnel {
    // One order whichever way the table was counted, so equal funnels compare equal.
    outcomes.sort_by(|a, b| a.states.cmp(&b.states));
    let k = texts.len();
    let Tallies { running, without, unknown, own, size } = tally(&outcomes, join, k, on);
    let mut clauses = Vec::with_capacity(k);
    let mut prev = match join {
        Join::And => base,
        Join::Or => 0,
    };
    for (i, text) in texts.into_iter().enumerate() {
        if !on[i] {
            // Off: it changes nothing, so the running count stays and "without" is the size.
            clauses.push(FunnelClause {
                text,
                running: prev,
                without: size,
                unknown: unknown[i],
                own: own[i],
                exclusive: 0,
                step: 0,
                flag: None,
                enabled: false,
            });
            continue;
        }
        let (step, exclusive) = match join {
            Join::And => (prev.saturating_sub(running[i]), without[i].saturating_sub(size)),
            Join::Or => (running[i].saturating_sub(prev), size.saturating_sub(without[i])),
        };
        let flag = match join {
            Join::And if base > 0 && (own[i] == 0 || (running[i] == 0 && prev > 0)) => {
                Some(ClauseFlag::RemovesEverything)
            }
            Join::And if size > 0 && without[i] == size => Some(ClauseFlag::RemovesNothing),
            Join::Or if base > 0 && own[i] == 0 => Some(ClauseFlag::MatchesNobody),
            Join::Or if without[i] == size => Some(ClauseFlag::AddsNothing),
            _ => None,
        };
        clauses.push(FunnelClause {
            text,
            running: running[i],
            without: without[i],
            unknown: unknown[i],
            own: own[i],
            exclusive,
            step,
            flag,
            enabled: true,
        });
        prev = running[i];
    }
    Funnel { base, size, join, clauses, outcomes }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(states: &[Option<bool>], rows: u64) -> Outcome {
        Outcome { states: states.to_vec(), rows }
    }

    fn texts(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("c{i}")).collect()
    }

    #[test]
    fn and_figures_from_the_outcome_table() {
        let (t, f, u) = (Some(true), Some(false), None);
        let o = vec![outcome(&[t, t], 10), outcome(&[t, f], 5), outcome(&[f, t], 3), outcome(&[u, t], 2)];
        let fun = count(20, Join::And, texts(2), o, &[true, true]);
        assert_eq!(fun.size, 10);
        let c: Vec<(u64, u64, u64)> = fun.clauses.iter().map(|c| (c.running, c.without, c.unknown)).collect();
        assert_eq!(c, vec![(15, 15, 2), (10, 15, 0)]);
        assert_eq!((fun.clauses[0].step, fun.clauses[0].exclusive), (5, 5));
        // Switching the second clause off: the first alone.
        let off = fun.with_enabled(&[true, false]);
        assert_eq!(off.size, 15);
        assert!(!off.clauses[1].enabled);
        assert_eq!(off.clauses[1].running, 15);
    }

    #[test]
    fn or_figures_and_flags() {
        let (t, f, u) = (Some(true), Some(false), None);
        let o = vec![outcome(&[t, f, f], 4), outcome(&[t, t, f], 6), outcome(&[f, u, f], 7)];
        let fun = count(17, Join::Or, texts(3), o, &[true, true, true]);
        assert_eq!(fun.size, 10);
        let c: Vec<(u64, u64, u64)> = fun.clauses.iter().map(|c| (c.running, c.without, c.unknown)).collect();
        assert_eq!(c, vec![(10, 6, 0), (10, 10, 7), (10, 10, 0)]);
        assert_eq!(fun.clauses[0].exclusive, 4);
        assert_eq!(fun.clauses[1].flag, Some(ClauseFlag::AddsNothing));
        assert_eq!(fun.clauses[2].flag, Some(ClauseFlag::MatchesNobody));
        assert_eq!(fun.with_enabled(&[false, false, false]).size, 0);
    }

    #[test]
    fn an_and_that_empties_the_segment_is_flagged() {
        let (t, f) = (Some(true), Some(false));
        let o = vec![outcome(&[t, f, t], 4), outcome(&[f, t, t], 6)];
        let fun = count(10, Join::And, texts(3), o, &[true, true, true]);
        assert_eq!(fun.size, 0);
        let flags: Vec<Option<ClauseFlag>> = fun.clauses.iter().map(|c| c.flag).collect();
        assert_eq!(flags, vec![None, Some(ClauseFlag::RemovesEverything), None]);
        assert_eq!(fun.with_enabled(&[false, false, false]).size, 10);
    }
}
