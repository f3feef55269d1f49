//! Segment QA commands: funnel (what each clause does), hygiene (duplicates, spelling variants,
//! NULLs, what approved segments cannot judge) and compare (A vs B vs base). Small and empty
//! segments are marked by every command that shows a size.

use std::collections::BTreeMap;

use anyhow::Result;
use serde_json::json;

use super::{Ctx, fail};
use crate::engine::funnel::{ClauseFlag, Join};
use crate::engine::size::{DEFAULT_SMALL_SHARE, SizeMark};
use crate::engine::{Compiled, Engine, filter};
use crate::format::{count, metric, percent, table};
use crate::library::measure;
use crate::library::template::{Status, TemplateRef};

pub(crate) fn small_share(ctx: &Ctx) -> Result<f64> {
    match ctx.g.small_share {
        None => Ok(DEFAULT_SMALL_SHARE),
        Some(s) if (0.0..=1.0).contains(&s) => Ok(s),
        Some(s) => fail(format!("--small-share {s}: give a share of the base between 0 and 1 (e.g. 0.05 for 5%)")),
    }
}

/// A warning on stderr for an empty segment, a note for a small one (stdout stays data).
pub(crate) fn warn_size(ctx: &Ctx, what: &str, size: u64, base: u64) -> Result<Option<SizeMark>> {
    let small = small_share(ctx)?;
    let mark = SizeMark::of(size, base, small);
    match mark {
        Some(SizeMark::Empty) => {
            eprintln!("seglens: warning: {what} is empty: no customer matches it (check for an AND where OR was meant)")
        }
        Some(SizeMark::Small) => eprintln!(
            "seglens: note: {what} is small: {} of the base, under {} (--small-share)",
            percent(size as f64 / base.max(1) as f64),
            percent(small)
        ),
        None => {}
    }
    Ok(mark)
}

fn flag_text(f: Option<ClauseFlag>) -> &'static str {
    match f {
        None => "",
        Some(ClauseFlag::RemovesNothing) => "⚠ removes nothing",
        Some(ClauseFlag::RemovesEverything) => "⚠ removes everything",
        Some(ClauseFlag::AddsNothing) => "⚠ adds nothing",
        Some(ClauseFlag::MatchesNobody) => "⚠ matches nobody",
    }
}

pub fn funnel(ctx: &Ctx, arg: &str) -> Result<()> {
    let engine = ctx.engine()?;
    let r = ctx.resolve(arg)?;
    let f = engine.funnel(&r.compiled)?;
    let mark = warn_size(ctx, &r.label, f.size, f.base)?;
    if ctx.g.json {
        let share = if f.base == 0 { 0.0 } else { f.size as f64 / f.base as f64 };
        return ctx.print_json(&json!({
            "base": f.base, "size": f.size, "share": share, "join": f.join, "mark": mark, "clauses": f.clauses,
        }));
    }
    let (verb, start) = match f.join {
        Join::And => ("removes", f.base),
        Join::Or => ("adds", 0),
    };
    println!(
        "{} customers{}",
        count(f.base),
        if f.join == Join::Or { "; the filter is an OR of its branches" } else { "" }
    );
    let mut rows =
        vec![vec![String::new(), "(start)".into(), count(start), String::new(), String::new(), String::new()]];
    for (i, c) in f.clauses.iter().enumerate() {
        let text = c.text.split_whitespace().collect::<Vec<_>>().join(" ");
        let prefix = if i == 0 {
            ""
        } else if f.join == Join::And {
            "AND "
        } else {
            "OR "
        };
        rows.push(vec![
            format!("{}", i + 1),
            format!("{prefix}{text}"),
            count(c.running),
            count(c.step),
            count(c.without),
            count(c.unknown),
            flag_text(c.flag).into(),
        ]);
    }
    print!("{}", table(&["#", "clause", "running", verb, "without it", "NULL", ""], &rows));
    println!("\nsize {} ({} of the base)", count(f.size), percent(f.size as f64 / f.base.max(1) as f64));
    Ok(())
}

/// The latest approved version of every segment that is not retired, compiled.
fn approved(ctx: &Ctx, engine: &Engine) -> Vec<(String, Compiled)> {
    let features = ctx.features();
    let mut out = Vec::new();
    let Ok(names) = ctx.library.names() else { return out };
    for name in names {
        let retired = ctx.library.load(&name, None).is_ok_and(|t| t.status == Status::Retired);
        let Ok(Some(t)) = ctx.library.latest_approved(&name) else { continue };
        if retired || (!t.table.is_empty() && t.table != engine.table()) {
            continue;
        }
        match measure::compile(&t, &BTreeMap::new(), &features) {
            Ok(c) => out.push((t.reference(), c)),
            Err(e) => eprintln!("seglens: warning: {} left out of the hygiene report: {e}", t.reference()),
        }
    }
    out
}

pub fn hygiene(ctx: &Ctx) -> Result<()> {
    let engine = ctx.engine()?;
    let segments = approved(ctx, &engine);
    let refs: Vec<(String, &Compiled)> = segments.iter().map(|(n, c)| (n.clone(), c)).collect();
    let h = engine.hygiene(&refs)?;
    if ctx.g.json {
        return ctx.print_json(&h);
    }
    println!("{} — {} rows\n", h.table, count(h.rows));
    if h.duplicates.is_empty() {
        println!("identity columns: none found (email, phone or external id by name and type)");
    }
    for d in &h.duplicates {
        if d.values == 0 {
            println!("{} ({}): no duplicates after {}", d.column, kind_name(d), d.normalised);
            continue;
        }
        let examples =
            d.examples.iter().map(|e| format!("{} ×{}", e.value, count(e.count))).collect::<Vec<_>>().join(", ");
        println!(
            "⚠ {} ({}): {} values repeat after {}, on {} rows; e.g. {examples}",
            d.column,
            kind_name(d),
            count(d.values),
            d.normalised,
            count(d.rows)
        );
    }
    println!();
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
    print!("{}", table(&["column", "type", "null", "spelling variants (same fingerprint)"], &rows));
    let u = &h.unjudged;
    if u.segments.is_empty() {
        println!("\nno approved segments in the library: nothing to judge");
    } else {
        println!(
            "\napproved segments cannot judge {} ({}) of the base (NULL in {}){}",
            count(u.count),
            percent(u.share),
            if u.columns.is_empty() { "no column".to_string() } else { u.columns.join(", ") },
            if u.flagged { "  ⚠ above 20%" } else { "" }
        );
        for s in &u.segments {
            println!(
                "  {}: {} ({}){}",
                s.name,
                count(s.count),
                percent(s.share),
                if s.flagged { "  ⚠ above 20%" } else { "" }
            );
        }
    }
    Ok(())
}

fn kind_name(d: &crate::engine::hygiene::Duplicates) -> &'static str {
    use crate::engine::hygiene::IdentityKind::*;
    match d.kind {
        Email => "email",
        Phone => "phone",
        ExternalId => "external id",
    }
}

/// The filter text behind a FILTER argument: a template's filter, else the expression itself.
fn filter_text(ctx: &Ctx, arg: &str) -> String {
    TemplateRef::parse(arg)
        .and_then(|r| ctx.library.load(&r.name, r.version).ok())
        .map_or_else(|| arg.to_string(), |t| t.filter)
}

pub fn compare(ctx: &Ctx, a: &str, b: &str) -> Result<()> {
    let engine = ctx.engine()?;
    let features = ctx.features();
    // Each side takes the --param values its own filter uses; a value neither uses is an error.
    let raw = ctx.raw_params()?;
    let (ta, tb) = (filter_text(ctx, a), filter_text(ctx, b));
    let uses = |text: &str, name: &str| filter::placeholders(text).iter().any(|p| p == name);
    if let Some((name, _)) = raw.iter().find(|(n, _)| !uses(&ta, n) && !uses(&tb, n)) {
        return fail(format!("unknown parameter {name}: neither A nor B has {{{{{name}}}}}"));
    }
    let only = |text: &str| raw.iter().filter(|(n, _)| uses(text, n)).cloned().collect::<Vec<_>>();
    let ra = ctx.resolve_with(a, &features, &only(&ta))?;
    let rb = ctx.resolve_with(b, &features, &only(&tb))?;
    let c = engine.compare((ra.label.as_str(), &ra.compiled), (rb.label.as_str(), &rb.compiled))?;
    let ma = warn_size(ctx, &ra.label, c.a.size, c.base)?;
    let mb = warn_size(ctx, &rb.label, c.b.size, c.base)?;
    if ctx.g.json {
        let mut v = serde_json::to_value(&c)?;
        v["a"]["mark"] = json!(ma);
        v["b"]["mark"] = json!(mb);
        return ctx.print_json(&v);
    }
    let side = |s: &crate::engine::compare::Side| format!("{}: {} ({})", s.name, count(s.size), percent(s.share));
    println!("A  {}\nB  {}", side(&c.a), side(&c.b));
    println!(
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
    print!("{}", table(&["metric", "A", "B", "base", "std. diff", "p (BH)", ""], &rows));
    println!(
        "\nstd. diff: A − B in pooled standard deviations, largest first; p (BH): two-proportion test of the rates, \
Benjamini–Hochberg adjusted; ⚑ below {}. A flag to look at, not a cause.",
        crate::engine::compare::ALPHA
    );
    Ok(())
}
