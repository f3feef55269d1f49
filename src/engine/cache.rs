//! Member sets of expensive filter clauses (those with a subquery, e.g. `EXISTS` over events),
//! kept by seglens as bitmaps over the entity table's row ids. When a user nudges a cheap clause of
//! a filter that also has an expensive one, the expensive clause is answered by a scalar function
//! that looks each row id up in its bitmap (`__seglens_clause_3(rowid)`), a few nanoseconds a row,
//! instead of running the subquery again.
//!
//! The database is read-only, so row ids and a clause's members stay true for the engine's
//! lifetime (apart from `current_date` moving at midnight; reopen to refresh). An entity that is
//! a view has no row ids: its filters run as written. Memory is bounded: at most `MAX_ENTRIES`
//! bitmaps of one bit per row (10M rows: 1.25 MB each), least recently used dropped first.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use duckdb::Connection;
use duckdb::arrow::array::AsArray;
use duckdb::arrow::datatypes::Int64Type;
use duckdb::core::{DataChunkHandle, LogicalTypeHandle, LogicalTypeId};
use duckdb::vscalar::{ScalarFunctionSignature, VScalar};
use duckdb::vtab::arrow::WritableVector;

use super::{Compiled, Result, ident};

const MAX_ENTRIES: usize = 16;

static NEXT_SLOT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// Bitmaps by slot, shared with the functions DuckDB calls.
type Bitmaps = Arc<RwLock<HashMap<u64, Arc<Vec<u64>>>>>;

/// `__seglens_clause_N(rowid) -> BOOLEAN`: is the row in cached clause N?
struct Member;

impl VScalar for Member {
    type State = (u64, Bitmaps);

    fn invoke(
        state: &Self::State,
        input: &mut DataChunkHandle,
        output: &mut dyn WritableVector,
    ) -> std::result::Result<(), Box<dyn std::error::Error>> {
        let n = input.len();
        let bits = state.1.read().map_err(|_| "clause cache poisoned")?.get(&state.0).cloned();
        let bits = bits.ok_or("a cached clause was dropped while in use; run the query again")?;
        let rows = input.flat_vector(0);
        let rows = unsafe { rows.as_slice_with_len::<i64>(n) };
        let mut out = output.flat_vector();
        let out = unsafe { out.as_mut_slice_with_len::<bool>(n) };
        for (o, &r) in out.iter_mut().zip(rows) {
            let r = r as usize;
            *o = bits.get(r / 64).is_some_and(|w| w >> (r % 64) & 1 == 1);
        }
        Ok(())
    }

    fn signatures() -> Vec<ScalarFunctionSignature> {
        vec![ScalarFunctionSignature::exact(
            vec![LogicalTypeHandle::from(LogicalTypeId::Bigint)],
            LogicalTypeHandle::from(LogicalTypeId::Boolean),
        )]
    }
}

struct Entry {
    clause: String,
    slot: u64,
    members: u64,
    last_used: u64,
}

#[derive(Default)]
pub struct ClauseCache {
    entries: Vec<Entry>,
    bitmaps: Bitmaps,
    clock: u64,
    /// Set when the entity has no row ids (a view) or functions cannot be registered: off.
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
                    Err(e @ super::EngineError::Cancelled) => return Err(e),
                    // An error in the clause itself: running the filter as written reports it
                    // at the right place in the user's text.
                    Err(_) => return Ok(None),
                },
            };
            self.clock += 1;
            let e = &mut self.entries[idx];
            e.last_used = self.clock;
            parts.push(format!("__seglens_clause_{}(rowid)", e.slot));
        }
        Ok(Some(parts.join(" AND ")))
    }

    fn materialize(&mut self, conn: &Connection, table: &str, clause: &str) -> Result<Option<usize>> {
        let t = ident(table);
        let max: i64 = match conn.query_row(&format!("SELECT coalesce(max(rowid), 0) FROM {t}"), [], |r| r.get(0)) {
            Ok(m) => m,
            Err(_) => {
                // A view has no row ids: caching stays off for this engine.
                self.disabled = true;
                return Ok(None);
            }
        };
        let mut bits = vec![0u64; max as usize / 64 + 1];
        let mut members = 0u64;
        let sql = format!("SELECT rowid FROM {t} WHERE coalesce(({clause}), false)");
        let mut stmt = conn.prepare(&sql).map_err(super::plain_error)?;
        for batch in stmt.stream_arrow([]).map_err(super::plain_error)? {
            let batch = batch.map_err(super::plain_error)?;
            let col = batch.column(0);
            let Some(ids) = col.as_primitive_opt::<Int64Type>() else { return Ok(None) };
            for i in 0..ids.len() {
                let r = ids.value(i) as usize;
                if let Some(w) = bits.get_mut(r / 64) {
                    *w |= 1 << (r % 64);
                    members += 1;
                }
            }
        }
        // Slots are unique in the process: another connection's functions share the catalog.
        let slot = NEXT_SLOT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.bitmaps
            .write()
            .map_err(|_| super::EngineError::Config("clause cache poisoned".into()))?
            .insert(slot, Arc::new(bits));
        if conn
            .register_scalar_function_with_state::<Member>(
                &format!("__seglens_clause_{slot}"),
                &(slot, self.bitmaps.clone()),
            )
            .is_err()
        {
            self.disabled = true;
            return Ok(None);
        }
        self.entries.push(Entry { clause: clause.to_string(), slot, members, last_used: 0 });
        self.evict();
        Ok(Some(self.entries.len() - 1))
    }

    /// Drops least recently used bitmaps beyond the bound (never the newest one). The function
    /// stays registered but is never named again.
    fn evict(&mut self) {
        while self.entries.len() > MAX_ENTRIES {
            let newest = self.entries.len() - 1;
            let Some((i, _)) = self.entries[..newest].iter().enumerate().min_by_key(|(_, e)| e.last_used) else {
                return;
            };
            let e = self.entries.remove(i);
            if let Ok(mut m) = self.bitmaps.write() {
                m.remove(&e.slot);
            }
        }
    }

    pub fn clear(&mut self) {
        self.entries.clear();
        if let Ok(mut m) = self.bitmaps.write() {
            m.clear();
        }
    }

    /// What the cache holds, for people: entries, members and memory.
    pub fn summary(&self) -> String {
        let bytes: usize = self.bitmaps.read().map_or(0, |m| m.values().map(|b| b.len() * 8).sum());
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
