//! Measurement 12: segments over time (issue 17). Movement of 8 segments from stored keys to now
//! against a cold overlap of the same 8 (the target: ≤ 2x at 10M); changes of one
//! segment against one size query of it; a split by two columns (with the profile metrics)
//! against DuckDB counting the same GROUP BY.

use anyhow::{Result, bail};

use super::measure::{Db, named};
use super::report::{Target, Unit};
use super::{SEGMENTS, clock, count};
use seglens::engine::Compiled;
use seglens::engine::keys::Keys;
use seglens::engine::movement::Side;

impl Db {
    pub(super) fn history(&mut self) -> Result<()> {
        let filters: Vec<Compiled> = SEGMENTS[..8].iter().map(|(_, t)| self.compile(t)).collect::<Result<_>>()?;
        // What an export of the 8 segments would have stored: their keys (untimed).
        let stored: Vec<Keys> = filters.iter().map(|f| self.engine.member_keys(f)).collect::<Result<_, _>>()?;
        let names: Vec<String> = SEGMENTS[..8].iter().map(|(n, _)| n.to_string()).collect();
        let engine = &self.engine;
        let inputs = named(&SEGMENTS[..8], &filters);
        let from = Side::Stored(names.iter().cloned().zip(stored.iter()).collect());
        let to = Side::Now(names.iter().cloned().zip(filters.iter()).collect());
        let (mut kept, mut exclusive) = (0u64, 0u64);
        let (moved, overlap) = self.t.pair(
            &mut |_| {
                engine.clear_cache();
                clock(|| {
                    let m = engine.movement(&from, &to)?;
                    kept = names.iter().map(|n| m.count(Some(n), Some(n)).unwrap_or(0)).sum();
                    Ok(())
                })
            },
            &mut |_| {
                engine.clear_cache();
                clock(|| {
                    exclusive = engine.overlap(&inputs)?.segments.iter().map(|s| s.exclusive).sum();
                    Ok(())
                })
            },
        )?;
        // Nothing changed between the two sides: everyone stays where the overlap puts them.
        if kept != exclusive {
            bail!("movement: {kept} customers stay in their segment, but the overlap assigns {exclusive}");
        }

        let f = &filters[0];
        let size_sql = self.engine.size_sql(f);
        let (raw, keys) = (&self.raw, &stored[0]);
        let (mut ours, mut theirs) = (0, 0);
        let (changes, size) = self.t.pair(
            &mut |_| {
                engine.clear_cache();
                clock(|| {
                    ours = engine.changes(f, keys, 10)?.kept;
                    Ok(())
                })
            },
            &mut |_| {
                clock(|| {
                    theirs = count(raw, &size_sql)?;
                    Ok(())
                })
            },
        )?;
        if ours != theirs {
            bail!("changes: {ours} kept against {theirs} members");
        }

        let split_f = self.compile(SEGMENTS[3].1)?;
        let engine = &self.engine;
        let raw = &self.raw;
        let by = ["region".to_string(), "loyalty_tier".to_string()];
        let split_sql = self.engine.split_sql(&split_f, &by);
        let (mut cells, mut groups) = (0, 0);
        let (split, group_by) = self.t.pair(
            &mut |_| {
                engine.clear_cache();
                clock(|| {
                    cells = engine.split(&split_f, &by, 0.05)?.cells.len();
                    Ok(())
                })
            },
            &mut |_| {
                clock(|| {
                    let mut st = raw.prepare(&split_sql)?;
                    let mut rows = st.query([])?;
                    groups = 0;
                    while rows.next()?.is_some() {
                        groups += 1;
                    }
                    Ok(())
                })
            },
        )?;
        if cells != groups {
            bail!("split: {cells} cells against {groups} groups");
        }
        let what = "movement of 8 segments, stored keys → now (member bitmaps + one rowid, key scan) vs a cold overlap of the 8";
        self.push_at("12", what.into(), Unit::Ms, moved, Some(overlap), Target::Ratio(2.0, 0.0), self.at_scale());
        let what =
            format!("changes of {} (its keys now, merged with the stored ones) vs one size query", SEGMENTS[0].0);
        self.push("12a", what, Unit::Ms, changes, Some(size), Target::None);
        let what = format!(
            "split of {} by region × loyalty_tier, with the profile metrics, vs DuckDB's GROUP BY count",
            SEGMENTS[3].0
        );
        self.push("12b", what, Unit::Ms, split, Some(group_by), Target::None);
        Ok(())
    }
}
