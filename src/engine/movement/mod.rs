//! Segments over time: who joined and left a segment since an earlier export (`changes`), and
//! where the members of one export's segments are now, or in a later export (`movement`), as a
//! matrix of counts. Stored members are key sets (engine/keys.rs). A movement to now runs
//! `by_bits` (the segments' member bitmaps and one scan of (rowid, key)); between two exports, or
//! where there are no bitmaps (a view has no row ids), `by_sql` (temporary tables and a join).

mod by_bits;
mod by_sql;

use serde::Serialize;

use crate::engine::keys::{Changes, Keys, diff};
use crate::engine::{Compiled, Engine, EngineError, Result};

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

/// (from index, to index, count); None is "in none".
type Flows = Vec<(Option<i32>, Option<i32>, i64)>;

impl Engine {
    /// Who is in `f` now against `before`: added, dropped, kept and the first `examples` of each.
    pub fn changes(&self, f: &Compiled, before: &Keys, examples: usize) -> Result<Changes> {
        Ok(diff(&self.member_keys(f)?, before, examples))
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
        let (rows, with_none) = self.movement_by_sql(from_lists, to, text)?;
        Ok(cells(from, to, &rows, with_none))
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
