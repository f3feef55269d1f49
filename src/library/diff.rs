//! What changed between two versions of a segment: one description for `seglens diff` and the
//! explorer's history dialog.

use std::collections::BTreeSet;

use crate::engine::ParamDecl;
use crate::library::template::{Status, Template};

pub struct VersionDiff {
    /// A unified diff of the filter text; empty when it is unchanged.
    pub filter: String,
    /// Parameters whose type or default changed: name, before, after.
    pub params: Vec<(String, String, String)>,
    pub status: (Status, Status),
    /// Sizes at save, when both versions recorded one.
    pub size: (Option<u64>, Option<u64>),
}

impl VersionDiff {
    pub fn new(a: &Template, b: &Template) -> VersionDiff {
        let filter = similar::TextDiff::from_lines(&a.filter, &b.filter)
            .unified_diff()
            .header(&a.reference(), &b.reference())
            .to_string();
        let show = |d: Option<&ParamDecl>| {
            d.map_or("(none)".to_string(), |d| {
                format!("{} = {}", d.ty, d.default.as_ref().map_or("—".into(), |v| v.to_input()))
            })
        };
        let params = a
            .params
            .keys()
            .chain(b.params.keys())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .filter_map(|k| {
                let (x, y) = (show(a.params.get(k)), show(b.params.get(k)));
                (x != y).then(|| (k.clone(), x, y))
            })
            .collect();
        VersionDiff {
            filter,
            params,
            status: (a.status, b.status),
            size: (a.snapshot.as_ref().map(|s| s.size), b.snapshot.as_ref().map(|s| s.size)),
        }
    }

    /// The diff as text, one change per line.
    pub fn text(&self) -> String {
        let mut out = if self.filter.is_empty() { "filter: unchanged\n".to_string() } else { self.filter.clone() };
        for (k, x, y) in &self.params {
            out.push_str(&format!("param {k}: {x} → {y}\n"));
        }
        if self.status.0 != self.status.1 {
            out.push_str(&format!("status: {} → {}\n", self.status.0.name(), self.status.1.name()));
        }
        if let (Some(x), Some(y)) = self.size {
            let change =
                if x == 0 { String::new() } else { format!(" ({:+.1}%)", (y as f64 - x as f64) / x as f64 * 100.0) };
            out.push_str(&format!("size at save: {} → {}{change}\n", crate::format::count(x), crate::format::count(y)));
        }
        out
    }
}
