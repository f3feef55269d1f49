//! Member key sets: the keys of a segment's members, sorted and unique, as export stores them in
//! members files (keys outlive row ids, which change as the database is rebuilt): 64-bit integers
//! when the key column is an integer type, else text. Also the merges over them: who joined and
//! left (`diff`), and each key in the first of several lists (`exclusive`).

use std::borrow::Borrow;

use duckdb::arrow::array::{Array, AsArray};
use duckdb::arrow::datatypes::{DataType, Int64Type};
use serde::Serialize;

use crate::engine::query::members::TextColumn;
use crate::engine::query::schema::fits_i64;
use crate::engine::{Compiled, Engine, Result, SqlBuilder, ident};

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

impl Engine {
    /// Whether the key column's values are stored as integers (else as text).
    pub fn key_is_integer(&self) -> bool {
        self.columns().iter().find(|c| c.name == self.key()).is_some_and(|c| fits_i64(&c.ty))
    }

    /// How the key is selected for storing: a BIGINT, or its text.
    pub(crate) fn key_select(&self, text: bool) -> String {
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
}

/// The position of `k` in sorted `keys`, starting from `hint` (a scan in key order finds each key
/// in a step or two); moves `hint` on. Integer keys are found by value, text keys by `&str`.
pub(crate) fn find<T: Borrow<Q>, Q: Ord + ?Sized>(keys: &[T], k: &Q, hint: &mut usize) -> Option<usize> {
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
