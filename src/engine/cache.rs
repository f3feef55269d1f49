//! Member sets of expensive filter clauses (those with a subquery, e.g. `EXISTS` over events),
//! kept as bitmaps over the entity table's row ids in seglens' own in-memory temp catalog. When a
//! user nudges a cheap clause of a filter that also has an expensive one, the expensive clause is
//! answered by one bit lookup per row instead of being recomputed:
//! `get_bit((SELECT bits FROM temp...), rowid::INTEGER) = 1`.
//!
//! The database is read-only, so row ids and a clause's members stay true for the engine's
//! lifetime (apart from `current_date` moving at midnight; reopen to refresh). An entity that is
//! a view has no row ids: its filters run as written.

use duckdb::Connection;

use super::{Compiled, Result, ident};

/// At most this many cached clauses; each bitmap holds one bit per row (10M rows: 1.25 MB).
const MAX_ENTRIES: usize = 16;

struct Entry {
    clause: String,
    table: String,
    members: u64,
    bytes: u64,
    last_used: u64,
}

#[derive(Default)]
pub struct ClauseCache {
    entries: Vec<Entry>,
    clock: u64,
    next_id: u64,
    /// Set when the entity has no row ids (a view): caching is off.
    disabled: bool,
}

fn is_expensive(clause: &str) -> bool {
    clause.to_ascii_lowercase().split(|c: char| !c.is_ascii_alphanumeric() && c != '_').any(|w| w == "select")
}

impl ClauseCache {
    /// Rewrites `f` with its expensive clauses answered from cached bitmaps, computing them first
    /// when missing. None when the filter has no clause worth caching (a single clause, or no
    /// subquery), so the caller runs the filter as written.
    pub fn rewrite(&mut self, conn: &Connection, table: &str, f: &Compiled) -> Result<Option<String>> {
        if self.disabled {
            return Ok(None);
        }
        let clauses = f.clauses();
        if clauses.len() < 2 || !clauses.iter().any(|c| is_expensive(c)) {
            return Ok(None);
        }
        let mut parts = Vec::with_capacity(clauses.len());
        for c in clauses {
            if !is_expensive(c) {
                parts.push(format!("({c})"));
                continue;
            }
            let idx = match self.entries.iter().position(|e| e.clause == c) {
                Some(i) => i,
                None => match self.materialize(conn, table, c) {
                    Ok(Some(i)) => i,
                    Ok(None) => return Ok(None),
                    Err(e) if matches!(e, super::EngineError::Cancelled) => return Err(e),
                    // An error in the clause itself: running the filter as written reports it
                    // at the right place in the user's text.
                    Err(_) => return Ok(None),
                },
            };
            self.clock += 1;
            let e = &mut self.entries[idx];
            e.last_used = self.clock;
            parts.push(format!("(get_bit((SELECT bits FROM temp.main.{}), rowid::INTEGER) = 1)", e.table));
        }
        Ok(Some(parts.join(" AND ")))
    }

    fn materialize(&mut self, conn: &Connection, table: &str, clause: &str) -> Result<Option<usize>> {
        self.next_id += 1;
        let name = format!("__seglens_clause_{}", self.next_id);
        let t = ident(table);
        let max: Option<i64> = match conn.query_row(&format!("SELECT max(rowid) FROM {t}"), [], |r| r.get(0)) {
            Ok(m) => m,
            Err(_) => {
                // A view has no row ids: caching stays off for this engine.
                self.disabled = true;
                return Ok(None);
            }
        };
        let max = max.unwrap_or(0);
        let sql = format!(
            "CREATE TEMP TABLE {name} AS SELECT coalesce(bitstring_agg(rowid, 0, {max}), bitstring('0', {len})) AS bits, count(*) AS n FROM {t} WHERE coalesce(({clause}), false)",
            len = max + 1
        );
        conn.execute_batch(&sql).map_err(super::plain_error)?;
        let members: i64 = conn.query_row(&format!("SELECT n FROM temp.main.{name}"), [], |r| r.get(0))?;
        self.entries.push(Entry {
            clause: clause.to_string(),
            table: name,
            members: members as u64,
            bytes: (max as u64 + 8) / 8,
            last_used: 0,
        });
        self.evict(conn);
        Ok(Some(self.entries.len() - 1))
    }

    /// Drops least recently used entries beyond the bound (never the newest one).
    fn evict(&mut self, conn: &Connection) {
        while self.entries.len() > MAX_ENTRIES {
            let newest = self.entries.len() - 1;
            let Some((i, _)) = self.entries[..newest].iter().enumerate().min_by_key(|(_, e)| e.last_used) else {
                return;
            };
            let e = self.entries.remove(i);
            let _ = conn.execute_batch(&format!("DROP TABLE IF EXISTS temp.main.{}", e.table));
        }
    }

    pub fn clear(&mut self, conn: &Connection) {
        for e in self.entries.drain(..) {
            let _ = conn.execute_batch(&format!("DROP TABLE IF EXISTS temp.main.{}", e.table));
        }
    }

    /// What the cache holds, for people: entries, members and memory.
    pub fn summary(&self) -> String {
        let bytes: u64 = self.entries.iter().map(|e| e.bytes).sum();
        let members: u64 = self.entries.iter().map(|e| e.members).sum();
        format!(
            "{} cached clause{} ({} members, {} KiB of bitmaps; at most {MAX_ENTRIES} clauses)",
            self.entries.len(),
            if self.entries.len() == 1 { "" } else { "s" },
            members,
            bytes / 1024
        )
    }
}
