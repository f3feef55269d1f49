//! Segments over time: `changes` (who joined and left since the last export), `movement` (where
//! the members of one export's segments are now), and `split` (a segment by dimensions).

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde_json::json;

use super::{Ctx, fail};
use crate::engine::movement::{Keys, Side};
use crate::export::history::{ExportLog, StoredExport};
use crate::format::{count, percent, table};

/// The export log of this library (README "Segments over time").
pub fn export_log(ctx: &Ctx) -> ExportLog {
    ExportLog::default_for(ctx.library.dir())
}

/// The filters `names` would export with now (latest approved versions, approved suppressions
/// subtracted unless `suppress` is false), in priority order.
fn now_filters(
    ctx: &Ctx,
    names: &[String],
    suppress: bool,
    exclusive: bool,
) -> Result<Vec<(String, crate::engine::Compiled)>> {
    let features = ctx.features();
    let raw = ctx.raw_params()?;
    let (segments, suppressions) = crate::export::resolve(&ctx.library, &features, names, false, suppress, &raw)?;
    let effective = crate::export::effective(&segments, &suppressions, exclusive);
    Ok(segments.iter().map(|s| s.name.clone()).zip(effective).collect())
}

fn since_json(stored: &StoredExport) -> serde_json::Value {
    json!({"manifest": stored.manifest_path.display().to_string(), "created_at": stored.info.created_at,
           "as_of": stored.info.as_of})
}

pub fn changes(ctx: &Ctx, name: &str, since: Option<&Path>, examples: usize, suppress: bool) -> Result<()> {
    let manifest: PathBuf = match since {
        Some(p) => p.to_path_buf(),
        None => match export_log(ctx).latest(name) {
            Some(p) => p,
            None => {
                return fail(format!(
                    "{name} has not been exported from this library yet (or its files were moved): name an export with --since MANIFEST"
                ));
            }
        },
    };
    let stored = StoredExport::open(&manifest)?;
    let Some(before) = stored.keys_of(name) else {
        return fail(format!(
            "{} does not hold {name} (it holds {})",
            manifest.display(),
            stored.segment_names().join(", ")
        ));
    };
    // Now, as that export would be now: with the same segments when it was exclusive (a customer
    // a higher-priority segment took then is not "added" when that segment releases them).
    let names = if stored.info.exclusive { stored.segment_names() } else { vec![name.to_string()] };
    let engine = ctx.engine()?;
    let filters = now_filters(ctx, &names, suppress, stored.info.exclusive)?;
    let Some((_, f)) = filters.iter().find(|(n, _)| n == name) else {
        return fail(format!("{name} is not among the segments to export now"));
    };
    let c = engine.changes(f, &before, examples)?;
    let since = stored.since(name);
    if ctx.g.json {
        return ctx.print_json(&json!({
            "segment": name,
            "since": {"manifest": since.manifest, "created_at": since.created_at, "version": since.version,
                      "as_of": stored.info.as_of},
            "added": c.added, "dropped": c.dropped, "kept": c.kept,
            "examples": c.examples,
            "as_of": engine.today().to_string(),
        }));
    }
    let day = since.created_at.get(..10).unwrap_or(&since.created_at);
    println!(
        "{name}: +{} / −{} since {day} (v{}, {}); {} kept",
        count(c.added),
        count(c.dropped),
        since.version,
        since.manifest,
        count(c.kept)
    );
    let show = |v: &[serde_json::Value]| {
        v.iter().map(|k| k.to_string().trim_matches('"').to_string()).collect::<Vec<_>>().join(", ")
    };
    if !c.examples.added.is_empty() {
        println!("added, first: {}", show(&c.examples.added));
    }
    if !c.examples.dropped.is_empty() {
        println!("dropped, first: {}", show(&c.examples.dropped));
    }
    Ok(())
}

pub fn movement(ctx: &Ctx, from: &Path, to: Option<&Path>, suppress: bool) -> Result<()> {
    let a = StoredExport::open(from)?;
    let lists: Vec<(String, Keys)> =
        a.segment_names().into_iter().filter_map(|n| a.keys_of(&n).map(|k| (n, k))).collect();
    let from_side = Side::Stored(lists.iter().map(|(n, k)| (n.clone(), k)).collect());
    let engine = ctx.engine()?;
    let b = to.map(StoredExport::open).transpose()?;
    let b_lists: Vec<(String, Keys)> = b
        .as_ref()
        .map(|b| b.segment_names().into_iter().filter_map(|n| b.keys_of(&n).map(|k| (n, k))).collect())
        .unwrap_or_default();
    let filters = match &b {
        Some(_) => Vec::new(),
        None => now_filters(ctx, &a.segment_names(), suppress, false)?,
    };
    let to_side = match &b {
        Some(_) => Side::Stored(b_lists.iter().map(|(n, k)| (n.clone(), k)).collect()),
        None => Side::Now(filters.iter().map(|(n, f)| (n.clone(), f)).collect()),
    };
    let m = engine.movement(&from_side, &to_side)?;
    if ctx.g.json {
        let to_json = match &b {
            Some(b) => since_json(b),
            None => json!({"now": true, "as_of": engine.today().to_string()}),
        };
        return ctx.print_json(&json!({
            "from": since_json(&a), "to": to_json, "segments": m.segments, "cells": m.cells,
        }));
    }
    let name = |n: &Option<String>| n.clone().unwrap_or_else(|| "(none)".into());
    let to_names: Vec<Option<String>> = {
        let mut v: Vec<Option<String>> = match &to_side {
            Side::Stored(l) => l.iter().map(|(n, _)| Some(n.clone())).collect(),
            Side::Now(l) => l.iter().map(|(n, _)| Some(n.clone())).collect(),
        };
        v.push(None);
        v
    };
    let mut from_names: Vec<Option<String>> = a.segment_names().into_iter().map(Some).collect();
    from_names.push(None);
    let mut header = vec!["from \\ to".to_string()];
    header.extend(to_names.iter().map(name));
    let rows: Vec<Vec<String>> = from_names
        .iter()
        .map(|f| {
            let mut row = vec![name(f)];
            row.extend(to_names.iter().map(|t| m.count(f.as_deref(), t.as_deref()).map_or("—".to_string(), count)));
            row
        })
        .collect();
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    print!("{}", table(&header, &rows));
    for c in m.largest_flows(5) {
        println!("{} {} → {}", count(c.count), name(&c.from), name(&c.to));
    }
    Ok(())
}

pub fn split(ctx: &Ctx, filter: &str, by: &[String], min_share: f64) -> Result<()> {
    if !(0.0..=1.0).contains(&min_share) {
        return fail(format!("--min-share {min_share}: expected a share between 0 and 1"));
    }
    let engine = ctx.engine()?;
    let r = ctx.resolve(filter)?;
    let s = engine.split(&r.compiled, by, min_share)?;
    if ctx.g.json {
        return ctx.print_json(&s);
    }
    let mut header: Vec<&str> = s.by.iter().map(String::as_str).collect();
    header.extend(["size", "share", ""]);
    let rows: Vec<Vec<String>> = s
        .cells
        .iter()
        .map(|c| {
            let mut row: Vec<String> =
                s.by.iter().map(|d| c.values.get(d).cloned().flatten().unwrap_or_else(|| "NULL".into())).collect();
            row.push(count(c.size));
            row.push(percent(c.share_of_segment));
            row.push(if c.small { format!("small (<{})", percent(min_share)) } else { String::new() });
            row
        })
        .collect();
    print!("{}", table(&header, &rows));
    println!("{} customers in {} cells", count(s.size), s.cells.len());
    Ok(())
}

pub fn arms(ctx: &Ctx, filter: &str, spec: Option<&str>, salt: Option<&str>) -> Result<()> {
    let engine = ctx.engine()?;
    let r = ctx.resolve(filter)?;
    let arms = match (spec, salt, r.template.as_ref().and_then(|t| t.arms.clone())) {
        (Some(spec), Some(salt), _) => crate::engine::arms::Arms::parse(spec, salt).map_err(super::UserError)?,
        (_, _, Some(a)) => a,
        _ => return fail(format!("{} declares no arms: give --arms control=0.1,treatment=0.9 --salt NAME", r.label)),
    };
    let report = engine.arms(&r.compiled, &arms)?;
    if ctx.g.json {
        return ctx.print_json(&report);
    }
    let rows: Vec<Vec<String>> = report
        .arms
        .iter()
        .map(|a| {
            let flagged: Vec<&str> = a.metrics.iter().filter(|m| m.flagged).map(|m| m.name.as_str()).collect();
            vec![
                a.name.clone(),
                percent(a.share),
                count(a.size),
                format!("{:.0}", a.expected),
                if flagged.is_empty() { String::new() } else { format!("differs: {}", flagged.join(", ")) },
            ]
        })
        .collect();
    print!("{}", table(&["arm", "share", "size", "expected", "balance"], &rows));
    println!("salt {:?}; {}", report.salt, report.hash);
    if report.ratio_flagged {
        println!("⚠ the sizes are off the declared shares beyond chance (p = {:.2e})", report.ratio_p.unwrap_or(0.0));
    }
    Ok(())
}
