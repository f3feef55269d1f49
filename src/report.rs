//! The QA reports as text (hygiene, compare, movement): what `seglens hygiene` and `seglens compare` print,
//! and what the explorer's views show, from one place so the two cannot drift.

use std::fmt::Write as _;

use crate::engine::movement::{Movement, MovementCell};
use crate::engine::query::compare::Comparison;
use crate::engine::query::hygiene::Hygiene;
use crate::format::{count, metric, percent, table};

/// The hygiene report, as `seglens hygiene` prints it.
pub fn hygiene(h: &Hygiene) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{} — {} rows\n", h.table, count(h.rows));
    if h.duplicates.is_empty() {
        let _ = writeln!(out, "identity columns: none found (email, phone or external id by name and type)");
    }
    for d in &h.duplicates {
        if d.values == 0 {
            let _ = writeln!(out, "{} ({}): no duplicates after {}", d.column, kind_name(d), d.normalised);
            continue;
        }
        let examples =
            d.examples.iter().map(|e| format!("{} ×{}", e.value, count(e.count))).collect::<Vec<_>>().join(", ");
        let _ = writeln!(
            out,
            "⚠ {} ({}): {} values repeat after {}, on {} rows; e.g. {examples}",
            d.column,
            kind_name(d),
            count(d.values),
            d.normalised,
            count(d.rows)
        );
    }
    let _ = writeln!(out);
    let rows: Vec<Vec<String>> = h
        .columns
        .iter()
        .map(|c| {
            let variants = c
                .variants
                .iter()
                .take(3)
                .map(|g| {
                    g.values.iter().map(|v| format!("{:?} {}", v.value, count(v.count))).collect::<Vec<_>>().join(" / ")
                })
                .collect::<Vec<_>>()
                .join("; ");
            let more = if c.variants.len() > 3 { format!(" (+{} more)", c.variants.len() - 3) } else { String::new() };
            vec![c.name.clone(), c.ty.clone(), percent(c.null_share), format!("{variants}{more}")]
        })
        .collect();
    out.push_str(&table(&["column", "type", "null", "spelling variants (same fingerprint)"], &rows));
    let u = &h.unjudged;
    if u.segments.is_empty() {
        let _ = writeln!(out, "\nno approved segments in the library: nothing to judge");
    } else {
        let _ = writeln!(
            out,
            "\napproved segments cannot judge {} ({}) of the base (NULL in {}){}",
            count(u.count),
            percent(u.share),
            if u.columns.is_empty() { "no column".to_string() } else { u.columns.join(", ") },
            if u.flagged { "  ⚠ above 20%" } else { "" }
        );
        for s in &u.segments {
            let _ = writeln!(
                out,
                "  {}: {} ({}){}",
                s.name,
                count(s.count),
                percent(s.share),
                if s.flagged { "  ⚠ above 20%" } else { "" }
            );
        }
    }
    out
}

/// A against B against the base, as `seglens compare` prints it.
pub fn compare(c: &Comparison) -> String {
    let mut out = String::new();
    let side =
        |s: &crate::engine::query::compare::Side| format!("{}: {} ({})", s.name, count(s.size), percent(s.share));
    let _ = writeln!(out, "A  {}\nB  {}", side(&c.a), side(&c.b));
    let _ = writeln!(
        out,
        "both {}, only A {}, only B {}, of {} customers\n",
        count(c.both),
        count(c.only_a),
        count(c.only_b),
        count(c.base)
    );
    let rows: Vec<Vec<String>> = c
        .metrics
        .iter()
        .map(|m| {
            vec![
                m.label.clone(),
                metric(m.a, m.format),
                metric(m.b, m.format),
                metric(m.base, m.format),
                m.difference.map_or("—".into(), |d| format!("{d:+.2}")),
                m.p_adjusted.map_or("—".into(), |p| if p < 0.001 { "<0.001".into() } else { format!("{p:.3}") }),
                if m.flagged { "⚑ differs".into() } else { String::new() },
            ]
        })
        .collect();
    out.push_str(&table(&["metric", "A", "B", "base", "std. diff", "p (BH)", ""], &rows));
    let _ = writeln!(
        out,
        "\nstd. diff: A − B in pooled standard deviations, largest first; p (BH): two-proportion test of the rates, \
Benjamini–Hochberg adjusted; ⚑ below {}. A flag to look at, not a cause.",
        crate::engine::query::compare::ALPHA
    );
    out
}

fn kind_name(d: &crate::engine::query::hygiene::Duplicates) -> &'static str {
    use crate::engine::query::hygiene::IdentityKind::*;
    match d.kind {
        Email => "email",
        Phone => "phone",
        ExternalId => "external id",
    }
}

/// A movement as `seglens movement` prints it: the matrix (rows: where customers were, columns:
/// where they are), then the largest flows in words.
pub fn movement(m: &Movement) -> String {
    let (from, to) = (m.rows(), m.columns());
    let mut header = vec!["from \\ to"];
    header.extend(to.iter().map(|&t| place(t)));
    let rows: Vec<Vec<String>> = from
        .iter()
        .map(|&f| {
            let mut row = vec![place(f).to_string()];
            row.extend(to.iter().map(|&t| m.count(f, t).map_or("—".to_string(), count)));
            row
        })
        .collect();
    let mut out = table(&header, &rows);
    for c in m.largest_flows(5) {
        let _ = writeln!(out, "{}", flow(c));
    }
    out
}

/// A place of a movement: a segment, or "(none)" for in none of them.
pub fn place(p: Option<&str>) -> &str {
    p.unwrap_or("(none)")
}

/// One flow in words: `2,315 at-risk → lapsed`.
pub fn flow(c: &MovementCell) -> String {
    format!("{} {} → {}", count(c.count), place(c.from.as_deref()), place(c.to.as_deref()))
}
