//! Segment QA commands: funnel (what each clause does), hygiene (duplicates, spelling variants,
//! NULLs, what approved segments cannot judge) and compare (A vs B vs base). Small and empty
//! segments are marked by every command that shows a size.

use std::collections::BTreeMap;

use anyhow::Result;
use serde_json::json;

use super::{Ctx, fail};
use crate::engine::query::funnel::{ClauseFlag, Join};
use crate::engine::query::size::{DEFAULT_SMALL_SHARE, SizeMark};
use crate::engine::text::filter;
use crate::engine::{Compiled, Engine};
use crate::format::{count, percent, table};
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
    print!("{}", crate::report::hygiene(&h));
    Ok(())
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
    super::rollups(&engine)?;
    let c = engine.compare((ra.label.as_str(), &ra.compiled), (rb.label.as_str(), &rb.compiled))?;
    let ma = warn_size(ctx, &ra.label, c.a.size, c.base)?;
    let mb = warn_size(ctx, &rb.label, c.b.size, c.base)?;
    if ctx.g.json {
        let mut v = serde_json::to_value(&c)?;
        v["a"]["mark"] = json!(ma);
        v["b"]["mark"] = json!(mb);
        return ctx.print_json(&v);
    }
    print!("{}", crate::report::compare(&c));
    Ok(())
}
