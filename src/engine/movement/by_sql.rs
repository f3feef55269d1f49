//! Movement by SQL: the stored (key, segment) pairs loaded into temporary tables (the database
//! itself stays read-only), and DuckDB does the rest in one statement: each customer's
//! highest-priority segment on either side, a FULL OUTER JOIN on the key, a count per (from, to).
//! The way between two exports, and to now where there are no bitmaps (a view has no row ids).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use duckdb::arrow::array::{ArrayRef, Int32Array, Int64Array, StringArray};
use duckdb::arrow::datatypes::{DataType, Field, Schema};
use duckdb::arrow::record_batch::RecordBatch;

use super::{Flows, Side};
use crate::engine::keys::{Keys, exclusive};
use crate::engine::{Compiled, Engine, EngineError, Result, SqlBuilder};

static NEXT_TABLE: AtomicU64 = AtomicU64::new(1);

/// A temporary table of (k, s) pairs, dropped with this guard.
struct TempKeys<'a> {
    engine: &'a Engine,
    name: String,
}

impl Drop for TempKeys<'_> {
    fn drop(&mut self) {
        self.engine.conn().drop_temp_keys(&self.name);
    }
}

impl Engine {
    /// Loads keys with their segment index into a temporary table `k, s` (keys unique).
    fn temp_keys(&self, keys: &Keys, segs: &[i32], text: bool) -> Result<TempKeys<'_>> {
        let name = format!("__seglens_keys_{}", NEXT_TABLE.fetch_add(1, Ordering::Relaxed));
        let mut app = self.conn().temp_keys(&name, text)?;
        let guard = TempKeys { engine: self, name: name.clone() };
        let schema = Arc::new(Schema::new(vec![
            Field::new("k", if text { DataType::Utf8 } else { DataType::Int64 }, false),
            Field::new("s", DataType::Int32, false),
        ]));
        // In slices, so a large list is never copied whole a second time.
        const CHUNK: usize = 1 << 20;
        let n = keys.len();
        for from in (0..n).step_by(CHUNK) {
            let to = (from + CHUNK).min(n);
            let k: ArrayRef = match (keys, text) {
                (Keys::Int(v), false) => Arc::new(Int64Array::from(v[from..to].to_vec())),
                (Keys::Int(v), true) => {
                    Arc::new(StringArray::from_iter_values(v[from..to].iter().map(|k| k.to_string())))
                }
                (Keys::Text(v), _) => Arc::new(StringArray::from_iter_values(v[from..to].iter())),
            };
            let s: ArrayRef = Arc::new(Int32Array::from(segs[from..to].to_vec()));
            let batch = RecordBatch::try_new(schema.clone(), vec![k, s])
                .map_err(|e| EngineError::Config(format!("loading stored keys: {e}")))?;
            app.append_record_batch(batch)?;
        }
        app.flush()?;
        drop(app);
        Ok(guard)
    }

    /// The movement's rows by SQL (`with_none`: whether "in none → in none" was counted, which
    /// only a side evaluated now can know).
    pub(super) fn movement_by_sql(
        &self,
        from_lists: &[(String, &Keys)],
        to: &Side<'_>,
        text: bool,
    ) -> Result<(Flows, bool)> {
        // Each customer once, in their highest-priority segment (the first list holding them).
        let load = |lists: &[(String, &Keys)]| {
            let (keys, segs) = exclusive(&lists.iter().map(|(_, k)| *k).collect::<Vec<_>>());
            self.temp_keys(&keys, &segs, text)
        };
        let a = load(from_lists)?;
        let side_a = format!("temp.main.{}", a.name);
        let mut q = SqlBuilder::new();
        q.push(&format!("SELECT a.s, b.s, count(*) FROM {side_a} a FULL OUTER JOIN "));
        let _b;
        let with_none = match to {
            Side::Stored(lists) => {
                let b = load(lists)?;
                q.push(&format!("temp.main.{}", b.name));
                _b = Some(b);
                false
            }
            Side::Now(filters) => {
                _b = None;
                // Every current customer with their segment now (NULL: in none), so that who was
                // in none and still is can be counted too.
                q.push(&format!("(SELECT {} AS k, ", self.key_select(text)));
                if filters.is_empty() {
                    q.push("NULL::INTEGER");
                } else {
                    q.push("CASE");
                    for (i, (_, f)) in filters.iter().enumerate() {
                        q.push(" WHEN coalesce(");
                        q.filter_cached(self, f)?;
                        q.push(&format!(", false) THEN {i}"));
                    }
                    q.push(" END");
                }
                q.push(&format!(" AS s FROM {})", self.table_sql()));
                true
            }
        };
        q.push(" b ON a.k = b.k GROUP BY ALL");
        let rows: Flows = q.run(self, |s| s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?.collect())?;
        Ok((rows, with_none))
    }

    /// The SQL a movement from stored keys (table `prev(k, s)`, each key once, with its
    /// highest-priority segment) to `filters` now runs, for benchmarks against DuckDB.
    pub fn movement_sql(&self, prev: &str, filters: &[&Compiled]) -> String {
        let mut case = String::from("CASE");
        for (i, f) in filters.iter().enumerate() {
            case.push_str(&format!(" WHEN coalesce((\n{}\n), false) THEN {i}", f.sql));
        }
        case.push_str(" END");
        format!(
            "SELECT a.s, b.s, count(*) FROM {prev} a FULL OUTER JOIN \
             (SELECT {} AS k, {case} AS s FROM {}) b ON a.k = b.k GROUP BY ALL",
            self.key_select(!self.key_is_integer()),
            self.table_sql()
        )
    }
}
