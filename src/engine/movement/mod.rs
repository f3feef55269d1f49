//! Segments over time: who joined and left a segment since an earlier export (`changes`), and
//! where the members of one export's segments are now, or in a later export (`movement`).
//!
//! Stored members are keys (they must outlive row ids, which change as the database is rebuilt):
//! sorted, unique, as 64-bit integers when the key column is an integer type, else as text.
//! `changes` merges the segment's current keys with the stored ones in Rust. `movement` to now
//! takes the segments' member bitmaps and one scan of (rowid, key), looking each key up among
//! the stored ones (`movement_by_bits`; inside DuckDB's parallel scan for integer keys). Where
//! there are no bitmaps (a view has no row ids) and between two exports, it loads the stored
//! (key, segment) pairs into temporary tables (the database itself stays read-only) and lets
//! DuckDB do the rest in one statement: each customer's highest-priority segment on either
//! side, a FULL OUTER JOIN on the key, a count per (from, to).

use std::borrow::Borrow;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use duckdb::arrow::array::{Array, ArrayRef, AsArray, Int32Array, Int64Array, StringArray};
use duckdb::arrow::datatypes::{DataType, Field, Int64Type, Schema};
use duckdb::arrow::record_batch::RecordBatch;
use serde::Serialize;

use super::members::TextColumn;
use super::schema::fits_i64;
use super::{Compiled, Engine, EngineError, Result, SqlBuilder, ident, plain_error};

/// Sorted, unique member keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Keys {
    Int(Vec<i64>),
    Text(Vec<String>),
}

impl Keys {
    pub fn len(&self) -> usize {
        match self {
            Keys::Int(v) => v.len(),
            Keys::Text(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The same keys as text (integers in decimal), sorted by bytes.
    pub fn to_text(&self) -> Vec<String> {
        match self {
            Keys::Text(v) => v.clone(),
            Keys::Int(v) => {
                let mut t: Vec<String> = v.iter().map(|k| k.to_string()).collect();
                t.sort_unstable();
                t
            }
        }
    }

    /// Keys from unsorted integers (sorted and deduplicated here).
    pub fn from_ints(mut v: Vec<i64>) -> Keys {
        v.sort_unstable();
        v.dedup();
        Keys::Int(v)
    }

    pub fn from_texts(mut v: Vec<String>) -> Keys {
        v.sort_unstable();
        v.dedup();
        Keys::Text(v)
    }

    /// The union of several lists (integers when all are, else text).
    pub fn union(parts: &[&Keys]) -> Keys {
        if parts.iter().all(|k| matches!(k, Keys::Int(_))) {
            Keys::from_ints(parts.iter().flat_map(|k| if let Keys::Int(v) = k { v.clone() } else { vec![] }).collect())
        } else {
            Keys::from_texts(parts.iter().flat_map(|k| k.to_text()).collect())
        }
    }

    /// The key as JSON (a number or a string).
    pub fn json(&self, i: usize) -> serde_json::Value {
        match self {
            Keys::Int(v) => v[i].into(),
            Keys::Text(v) => v[i].clone().into(),
        }
    }
}

/// Who joined and left a segment since a stored list of its members.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Changes {
    pub added: u64,
    pub dropped: u64,
    pub kept: u64,
    /// The first keys (in key order) of each side, at most the number asked for.
    pub examples: ChangeExamples,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChangeExamples {
    pub added: Vec<serde_json::Value>,
    pub dropped: Vec<serde_json::Value>,
}

/// Compares `now` with `before`: counts and the first `examples` keys added and dropped.
pub fn diff(now: &Keys, before: &Keys, examples: usize) -> Changes {
    fn merge<T: Ord>(now: &[T], before: &[T], examples: usize, json: impl Fn(&T) -> serde_json::Value) -> Changes {
        let (mut i, mut j) = (0, 0);
        let mut c = Changes {
            added: 0,
            dropped: 0,
            kept: 0,
            examples: ChangeExamples { added: Vec::new(), dropped: Vec::new() },
        };
        while i < now.len() || j < before.len() {
            let order = match (now.get(i), before.get(j)) {
                (Some(a), Some(b)) => a.cmp(b),
                (Some(_), None) => std::cmp::Ordering::Less,
                _ => std::cmp::Ordering::Greater,
            };
            match order {
                std::cmp::Ordering::Less => {
                    c.added += 1;
                    if c.examples.added.len() < examples {
                        c.examples.added.push(json(&now[i]));
                    }
                    i += 1;
                }
                std::cmp::Ordering::Greater => {
                    c.dropped += 1;
                    if c.examples.dropped.len() < examples {
                        c.examples.dropped.push(json(&before[j]));
                    }
                    j += 1;
                }
                std::cmp::Ordering::Equal => {
                    c.kept += 1;
                    i += 1;
                    j += 1;
                }
            }
        }
        c
    }
    match (now, before) {
        (Keys::Int(a), Keys::Int(b)) => merge(a, b, examples, |k| (*k).into()),
        _ => merge(&now.to_text(), &before.to_text(), examples, |k| k.clone().into()),
    }
}

/// One side of a movement: stored keys per segment, or segments evaluated now.
pub enum Side<'a> {
    /// (segment name, its keys), in priority order.
    Stored(Vec<(String, &'a Keys)>),
    /// (segment name, its effective filter), in priority order.
    Now(Vec<(String, &'a Compiled)>),
}

impl Side<'_> {
    fn names(&self) -> Vec<String> {
        match self {
            Side::Stored(v) => v.iter().map(|(n, _)| n.clone()).collect(),
            Side::Now(v) => v.iter().map(|(n, _)| n.clone()).collect(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MovementCell {
    /// The customer's segment on the first side (None: in none of them).
    pub from: Option<String>,
    pub to: Option<String>,
    pub count: u64,
}

/// A transition matrix: each customer counted once on each side, in their highest-priority
/// segment there. Cells are listed for every (from, to) pair including "in none", zeros too,
/// except none → none when both sides are stored (who was in neither export is not known).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Movement {
    /// Every segment of either side: the first side's in priority order, then the second's new ones.
    pub segments: Vec<String>,
    pub cells: Vec<MovementCell>,
    /// Each side's segments in priority order: the matrix's rows and columns (before "in none").
    #[serde(skip)]
    pub from: Vec<String>,
    #[serde(skip)]
    pub to: Vec<String>,
}

impl Movement {
    pub fn count(&self, from: Option<&str>, to: Option<&str>) -> Option<u64> {
        self.cells.iter().find(|c| c.from.as_deref() == from && c.to.as_deref() == to).map(|c| c.count)
    }

    /// The matrix's rows: the first side's segments, then None ("in none").
    pub fn rows(&self) -> Vec<Option<&str>> {
        self.from.iter().map(|n| Some(n.as_str())).chain([None]).collect()
    }

    /// The matrix's columns: the second side's segments, then None ("in none").
    pub fn columns(&self) -> Vec<Option<&str>> {
        self.to.iter().map(|n| Some(n.as_str())).chain([None]).collect()
    }

    /// The flows between different places, largest first (for "2,315 at-risk → lapsed").
    pub fn largest_flows(&self, n: usize) -> Vec<&MovementCell> {
        let mut v: Vec<&MovementCell> = self.cells.iter().filter(|c| c.from != c.to && c.count > 0).collect();
        v.sort_by_key(|c| std::cmp::Reverse(c.count));
        v.truncate(n);
        v
    }
}

/// Each key once, with the index of the first list holding it (lists in priority order): the
/// exclusive assignment, by merging sorted lists (no sort, no GROUP BY in SQL).
pub fn exclusive(lists: &[&Keys]) -> (Keys, Vec<i32>) {
    fn merge<T: Ord + Clone>(lists: &[&[T]]) -> (Vec<T>, Vec<i32>) {
        let (mut keys, mut segs): (Vec<T>, Vec<i32>) = (Vec::new(), Vec::new());
        for (s, list) in lists.iter().enumerate() {
            let (mut k2, mut s2) =
                (Vec::with_capacity(keys.len() + list.len()), Vec::with_capacity(keys.len() + list.len()));
            let (mut i, mut j) = (0, 0);
            while i < keys.len() || j < list.len() {
                let take_old = match (keys.get(i), list.get(j)) {
                    (Some(a), Some(b)) => {
                        if a == b {
                            j += 1;
                        }
                        a <= b
                    }
                    (Some(_), None) => true,
                    _ => false,
                };
                if take_old {
                    k2.push(keys[i].clone());
                    s2.push(segs[i]);
                    i += 1;
                } else {
                    k2.push(list[j].clone());
                    s2.push(s as i32);
                    j += 1;
                }
            }
            keys = k2;
            segs = s2;
        }
        (keys, segs)
    }
    if lists.iter().all(|k| matches!(k, Keys::Int(_))) {
        let v: Vec<&[i64]> = lists.iter().map(|k| if let Keys::Int(v) = k { v.as_slice() } else { &[][..] }).collect();
        let (k, s) = merge(&v);
        (Keys::Int(k), s)
    } else {
        let texts: Vec<Vec<String>> = lists.iter().map(|k| k.to_text()).collect();
        let v: Vec<&[String]> = texts.iter().map(Vec::as_slice).collect();
        let (k, s) = merge(&v);
        (Keys::Text(k), s)
    }
}

/// (from index, to index, count); None is "in none".
type Flows = Vec<(Option<i32>, Option<i32>, i64)>;

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
    /// Whether the key column's values are stored as integers (else as text).
    pub fn key_is_integer(&self) -> bool {
        self.columns().iter().find(|c| c.name == self.key()).is_some_and(|c| fits_i64(&c.ty))
    }

    /// How the key is selected for storing: a BIGINT, or its text.
    fn key_select(&self, text: bool) -> String {
        if text { format!("CAST({} AS VARCHAR)", ident(self.key())) } else { format!("{}::BIGINT", ident(self.key())) }
    }

    /// Every member's key, sorted: one scan.
    pub fn member_keys(&self, f: &Compiled) -> Result<Keys> {
        let int = self.key_is_integer();
        let mut q = SqlBuilder::new();
        q.push(&format!("SELECT {} FROM {} WHERE ", self.key_select(!int), self.table_sql()));
        q.filter_cached(self, f)?;
        let (mut ints, mut texts) = (Vec::new(), Vec::new());
        q.run(self, |s| {
            for batch in s.stream_arrow([])? {
                let batch = batch?;
                let col = batch.column(0);
                match col.data_type() {
                    DataType::Int64 => ints.extend(col.as_primitive::<Int64Type>().iter().flatten()),
                    other => match TextColumn::of(col.as_ref()) {
                        Some(t) => texts.extend((0..col.len()).filter_map(|i| t.get(i)).map(str::to_string)),
                        None => {
                            let why = format!("the key came back as {other:?}");
                            return Err(duckdb::Error::ToSqlConversionFailure(why.into()));
                        }
                    },
                }
            }
            Ok(())
        })?;
        Ok(if int { Keys::from_ints(ints) } else { Keys::from_texts(texts) })
    }

    /// Who is in `f` now against `before`: added, dropped, kept and the first `examples` of each.
    pub fn changes(&self, f: &Compiled, before: &Keys, examples: usize) -> Result<Changes> {
        Ok(diff(&self.member_keys(f)?, before, examples))
    }

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

    /// The movement of customers between the segments of `from` and those of `to`.
    pub fn movement(&self, from: &Side<'_>, to: &Side<'_>) -> Result<Movement> {
        let Side::Stored(from_lists) = from else {
            return Err(EngineError::Param("movement starts from stored members (an earlier export)".into()));
        };
        let stored_ints = |lists: &[(String, &Keys)]| lists.iter().all(|(_, k)| matches!(k, Keys::Int(_)));
        let text = !stored_ints(from_lists)
            || !match to {
                Side::Stored(l) => stored_ints(l),
                Side::Now(_) => self.key_is_integer(),
            };
        if let Side::Now(filters) = to
            && let Some(rows) = self.movement_by_bits(from_lists, filters, text)?
        {
            return Ok(cells(from, to, &rows, true));
        }
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
        Ok(cells(from, to, &rows, with_none))
    }

    /// Movement to now from the segments' member bitmaps (those the overlap uses, cached) and one
    /// scan of (rowid, key): each row's place now is the first bitmap holding its row id, its
    /// place then the first stored list holding its key (`Stored`: by index for dense integer
    /// keys, else in the exclusive union of the lists). No temporary table, no join. With integer
    /// keys the lookups run inside DuckDB's parallel scan (a scalar function handed each chunk),
    /// else the pairs stream to Rust. None when the entity has no row ids (a view): the SQL way
    /// then.
    fn movement_by_bits(
        &self,
        from: &[(String, &Keys)],
        filters: &[(String, &Compiled)],
        text: bool,
    ) -> Result<Option<Flows>> {
        let mut bits = Vec::with_capacity(filters.len());
        for (_, f) in filters {
            match self.member_bits(f)? {
                Some(b) => bits.push(b),
                None => return Ok(None),
            }
        }
        // Text keys compare as text on both sides (integer lists sorted again as text).
        let texts: Vec<Keys> =
            if text { from.iter().map(|(_, k)| Keys::Text(k.to_text())).collect() } else { Vec::new() };
        let lists: Vec<&Keys> = if text { texts.iter().collect() } else { from.iter().map(|(_, k)| *k).collect() };
        let stored = Stored::dense(&lists).unwrap_or_else(|| {
            let (keys, segs) = exclusive(&lists);
            Stored::Sorted { keys, segs }
        });
        let places = Places::new(stored, bits, from.len());
        let scanned = if text { false } else { self.places_in_scan(&places)? };
        if !scanned {
            let sql = format!("SELECT rowid, {} FROM {}", self.key_select(text), self.table_sql());
            self.run(&sql, plain_error, |stmt| {
                for batch in stmt.stream_arrow([])? {
                    let batch = batch?;
                    let rowids = batch.column(0).as_primitive::<Int64Type>();
                    let key_col = batch.column(1);
                    let key_text = TextColumn::of(key_col.as_ref());
                    let mut chunk = places.chunk();
                    for i in 0..batch.num_rows() {
                        let at = match (&places.stored, key_col.is_null(i)) {
                            (_, true) => None,
                            (Stored::Sorted { keys: Keys::Text(k), .. }, false) => {
                                let text = key_text.as_ref().and_then(|t| t.get(i)).unwrap_or_default();
                                find(k, text, &mut chunk.hint).and_then(|j| places.stored.held(j))
                            }
                            (_, false) => places.locate(key_col.as_primitive::<Int64Type>().value(i), &mut chunk.hint),
                        };
                        chunk.add(&places, rowids.value(i) as usize, at);
                    }
                    chunk.flush(&places);
                }
                Ok(())
            })?;
        }
        Ok(Some(places.flows()))
    }

    /// Counts `places` inside DuckDB's scan of (rowid, key); false when the scan function is not
    /// available.
    fn places_in_scan(&self, places: &Arc<Places>) -> Result<bool> {
        let Some(eacher) = self.member_cache.borrow_mut().eacher(self.conn()) else { return Ok(false) };
        let p = places.clone();
        let work: super::cache::EachChunk = Arc::new(move |rows, keys, valid| {
            let mut chunk = p.chunk();
            for ((&r, &k), &ok) in rows.iter().zip(keys).zip(valid) {
                let at = if ok { p.locate(k, &mut chunk.hint) } else { None };
                chunk.add(&p, r as usize, at);
            }
            chunk.flush(&p);
        });
        let sql = eacher.select(&self.key_select(false), &self.table_sql());
        let agrees =
            eacher.run(work, || self.run(&sql, plain_error, |s| s.query_row([], |r| Ok((r.get(0)?, r.get(1)?)))))?;
        if !agrees {
            return Err(EngineError::Config("the movement's scan did not see every row; run it again".into()));
        }
        Ok(true)
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

/// The stored side of a movement as the scan looks keys up in it.
enum Stored {
    /// Integer keys spanning a range at most a few times their number (ids from a sequence, as
    /// CRM keys mostly are): each key's segment by its offset from `min`, found without a search
    /// and built without a merge. `NO_SEGMENT` where no list holds the key.
    Dense { min: i64, seg: Vec<u16> },
    /// Otherwise the exclusive union of the lists, sorted, with each key's segment.
    Sorted { keys: Keys, segs: Vec<i32> },
}

const NO_SEGMENT: u16 = u16::MAX;

impl Stored {
    /// The dense form of integer `lists` (priority order), when their keys are dense enough.
    fn dense(lists: &[&Keys]) -> Option<Stored> {
        let ints: Vec<&[i64]> = lists
            .iter()
            .map(|k| if let Keys::Int(v) = k { Some(v.as_slice()) } else { None })
            .collect::<Option<_>>()?;
        let total: usize = ints.iter().map(|l| l.len()).sum();
        let min = *ints.iter().filter_map(|l| l.first()).min()?;
        let max = *ints.iter().filter_map(|l| l.last()).max()?;
        let range = usize::try_from(max.checked_sub(min)?.checked_add(1)?).ok()?;
        if range > total.saturating_mul(4).max(1 << 16) || range > 1 << 28 || lists.len() >= usize::from(NO_SEGMENT) {
            return None;
        }
        let mut seg = vec![NO_SEGMENT; range];
        // The last list first, so that the first list holding a key has the last word.
        for (s, list) in ints.iter().enumerate().rev() {
            for &k in *list {
                seg[(k - min) as usize] = s as u16;
            }
        }
        Some(Stored::Dense { min, seg })
    }

    /// Positions a seen-bit can take.
    fn len(&self) -> usize {
        match self {
            Stored::Dense { seg, .. } => seg.len(),
            Stored::Sorted { keys, .. } => keys.len(),
        }
    }

    /// Position `i` and its segment, if a list holds the key there.
    fn held(&self, i: usize) -> Option<(usize, usize)> {
        let seg = match self {
            Stored::Dense { seg, .. } => seg.get(i).filter(|&&s| s != NO_SEGMENT).map(|&s| usize::from(s)),
            Stored::Sorted { segs, .. } => segs.get(i).map(|&s| s as usize),
        };
        seg.map(|s| (i, s))
    }
}

/// A movement to now being counted: the stored keys, the member bitmaps now, and the counts and
/// seen keys, filled from several of DuckDB's threads at once.
struct Places {
    stored: Stored,
    bits: Vec<super::cache::Bits>,
    /// `counts[from * (nt + 1) + to]`; index nf / nt is "in none".
    counts: Vec<AtomicU64>,
    /// Which stored keys a row still has, by position.
    seen: Vec<AtomicU64>,
    nf: usize,
}

/// One chunk's counts, added to the shared ones once (threads meet once per chunk, not per row).
struct Chunk {
    counts: Vec<u64>,
    seen: Vec<(usize, u64)>,
    /// Where the last key was found: keys mostly ascend within a chunk.
    hint: usize,
}

impl Places {
    fn new(stored: Stored, bits: Vec<super::cache::Bits>, nf: usize) -> Arc<Places> {
        let cells = (nf + 1) * (bits.len() + 1);
        let words = stored.len().div_ceil(64);
        Arc::new(Places {
            stored,
            bits,
            counts: (0..cells).map(|_| AtomicU64::new(0)).collect(),
            seen: (0..words).map(|_| AtomicU64::new(0)).collect(),
            nf,
        })
    }

    fn chunk(&self) -> Chunk {
        Chunk { counts: vec![0; self.counts.len()], seen: Vec::new(), hint: 0 }
    }

    /// The position of integer key `k` among the stored keys and its segment, if a list holds it.
    fn locate(&self, k: i64, hint: &mut usize) -> Option<(usize, usize)> {
        match &self.stored {
            Stored::Dense { min, .. } => self.stored.held(usize::try_from(k.checked_sub(*min)?).ok()?),
            Stored::Sorted { keys: Keys::Int(keys), .. } => find(keys, &k, hint).and_then(|j| self.stored.held(j)),
            Stored::Sorted { .. } => None,
        }
    }

    /// The flows: every row counted, then each stored key no row has any more (a deleted
    /// customer) moved from its segment to none.
    fn flows(&self) -> Flows {
        let nt = self.bits.len();
        let mut counts: Vec<i64> = self.counts.iter().map(|c| c.load(Ordering::Relaxed) as i64).collect();
        for i in 0..self.stored.len() {
            if self.seen[i / 64].load(Ordering::Relaxed) >> (i % 64) & 1 == 0
                && let Some((_, seg)) = self.stored.held(i)
            {
                counts[seg * (nt + 1) + nt] += 1;
            }
        }
        let index = |i: usize, n: usize| (i < n).then_some(i as i32);
        (0..=self.nf)
            .flat_map(|f| (0..=nt).map(move |t| (f, t)))
            .map(|(f, t)| (index(f, self.nf), index(t, nt), counts[f * (nt + 1) + t]))
            .collect()
    }
}

impl Chunk {
    /// Row `r`, whose key is at stored position `at` with its segment (None: not stored, or NULL).
    fn add(&mut self, p: &Places, r: usize, at: Option<(usize, usize)>) {
        let nt = p.bits.len();
        let (w, b) = (r / 64, r % 64);
        let to = p.bits.iter().position(|x| x.get(w).is_some_and(|v| v >> b & 1 == 1)).unwrap_or(nt);
        let from = match at {
            Some((j, seg)) => {
                match self.seen.last_mut() {
                    Some((word, bits)) if *word == j / 64 => *bits |= 1 << (j % 64),
                    _ => self.seen.push((j / 64, 1 << (j % 64))),
                }
                seg
            }
            None => p.nf,
        };
        self.counts[from * (nt + 1) + to] += 1;
    }

    fn flush(self, p: &Places) {
        for (c, n) in p.counts.iter().zip(self.counts) {
            if n > 0 {
                c.fetch_add(n, Ordering::Relaxed);
            }
        }
        for (word, bits) in self.seen {
            if let Some(w) = p.seen.get(word) {
                w.fetch_or(bits, Ordering::Relaxed);
            }
        }
    }
}

/// The matrix from (from index, to index, count) rows; None is "in none".
fn cells(from: &Side<'_>, to: &Side<'_>, rows: &[(Option<i32>, Option<i32>, i64)], with_none: bool) -> Movement {
    let from_names = from.names();
    let to_names = to.names();
    let mut segments = from_names.clone();
    for n in &to_names {
        if !segments.contains(n) {
            segments.push(n.clone());
        }
    }
    let mut cells = Vec::new();
    let places = |names: &[String]| -> Vec<Option<String>> {
        names.iter().cloned().map(Some).chain(std::iter::once(None)).collect()
    };
    for f in places(&from_names) {
        for t in places(&to_names) {
            if f.is_none() && t.is_none() && !with_none {
                continue;
            }
            let fi = f.as_ref().and_then(|n| from_names.iter().position(|x| x == n)).map(|i| i as i32);
            let ti = t.as_ref().and_then(|n| to_names.iter().position(|x| x == n)).map(|i| i as i32);
            let count: i64 = rows.iter().filter(|r| r.0 == fi && r.1 == ti).map(|r| r.2).sum();
            cells.push(MovementCell { from: f.clone(), to: t, count: count as u64 });
        }
    }
    Movement { segments, cells, from: from_names, to: to_names }
}

/// The position of `k` in sorted `keys`, starting from `hint` (a scan in key order finds each key
/// in a step or two); moves `hint` on. Integer keys are found by value, text keys by `&str`.
fn find<T: Borrow<Q>, Q: Ord + ?Sized>(keys: &[T], k: &Q, hint: &mut usize) -> Option<usize> {
    let h = *hint;
    if h <= keys.len() && (h == 0 || keys[h - 1].borrow() < k) {
        match keys.get(h).map(|x| x.borrow()) {
            None => return None,
            Some(x) if x > k => return None,
            Some(x) if x == k => {
                *hint = h + 1;
                return Some(h);
            }
            _ => {}
        }
    }
    match keys.binary_search_by(|x| x.borrow().cmp(k)) {
        Ok(i) => {
            *hint = i + 1;
            Some(i)
        }
        Err(i) => {
            *hint = i;
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_counts_and_lists_the_first_examples() {
        let now = Keys::from_ints(vec![5, 1, 2, 9, 10]);
        let before = Keys::from_ints(vec![2, 3, 4, 9]);
        let c = diff(&now, &before, 2);
        assert_eq!((c.added, c.dropped, c.kept), (3, 2, 2));
        assert_eq!(c.examples.added, vec![serde_json::json!(1), serde_json::json!(5)]);
        assert_eq!(c.examples.dropped, vec![serde_json::json!(3), serde_json::json!(4)]);
        // Integers against text compare as text.
        let t = Keys::from_texts(vec!["2".into(), "3".into()]);
        let c = diff(&now, &t, 0);
        assert_eq!((c.added, c.dropped, c.kept), (4, 1, 1));
    }

    #[test]
    fn find_with_a_hint_agrees_with_binary_search_in_any_order() {
        let keys: Vec<i64> = (0..200).map(|i| i * 3).collect();
        let texts: Vec<String> = {
            let mut t: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
            t.sort();
            t
        };
        let mut x = 12345u64;
        let (mut hint, mut hint_s) = (0, 0);
        for step in 0..2000 {
            // In order for a while, then at random.
            let k = if step < 700 {
                step as i64
            } else {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x % 700) as i64
            };
            assert_eq!(find(&keys, &k, &mut hint), keys.binary_search(&k).ok(), "{k}");
            let ks = k.to_string();
            assert_eq!(find(&texts, ks.as_str(), &mut hint_s), texts.binary_search(&ks).ok(), "{k}");
        }
    }

    #[test]
    fn dense_stored_keys_agree_with_the_exclusive_union_and_sparse_ones_stay_sorted() {
        let a = Keys::from_ints(vec![3, 5, 9, 10]);
        let b = Keys::from_ints(vec![1, 5, 10, 12]);
        let c = Keys::from_ints(vec![2, 12]);
        let Some(Stored::Dense { min, seg }) = Stored::dense(&[&a, &b, &c]) else { panic!("dense keys") };
        let (keys, segs) = exclusive(&[&a, &b, &c]);
        let Keys::Int(keys) = keys else { panic!("integer keys") };
        for (k, s) in keys.iter().zip(&segs) {
            assert_eq!(seg[(k - min) as usize], *s as u16, "key {k}");
        }
        let held = seg.iter().filter(|&&s| s != NO_SEGMENT).count();
        assert_eq!(held, keys.len(), "no other key has a segment");
        let sparse = Keys::from_ints(vec![1, 1 << 40]);
        assert!(Stored::dense(&[&sparse]).is_none(), "a range far wider than the keys stays sorted");
        assert!(Stored::dense(&[&Keys::from_texts(vec!["a".into()])]).is_none());
    }

    #[test]
    fn exclusive_gives_each_key_its_first_list() {
        let a = Keys::from_ints(vec![1, 3, 5]);
        let b = Keys::from_ints(vec![2, 3, 6]);
        let c = Keys::from_ints(vec![1, 6, 7]);
        let (k, s) = exclusive(&[&a, &b, &c]);
        assert_eq!(k, Keys::Int(vec![1, 2, 3, 5, 6, 7]));
        assert_eq!(s, vec![0, 1, 0, 0, 1, 2]);
        let t = Keys::from_texts(vec!["b".into()]);
        let (k, s) = exclusive(&[&t, &a]);
        assert_eq!(k, Keys::Text(vec!["1".into(), "3".into(), "5".into(), "b".into()]));
        assert_eq!(s, vec![1, 1, 1, 0]);
    }
}
