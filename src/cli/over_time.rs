//! Segments over time: `changes` (who joined and left since the last export), `movement` (where
//! the members of one export's segments are now), and `split` (a segment by dimensions).

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde_json::json;

use super::{Ctx, fail};
use crate::export::over_time::{self, ExportLog, StoredExport, To};
use crate::format::{count, percent, table};

/// The export log of this library (README "Segments over time").
pub fn export_log(ctx: &Ctx) -> ExportLog {
    ExportLog::default_for(ctx.library.dir())
}

/// The filters `names` would export with now (`export::over_time::filters_now`).
fn now_filters(
    ctx: &Ctx,
    names: &[String],
    suppress: bool,
    exclusive: bool,
) -> Result<Vec<(String, crate::engine::Compiled)>> {
    let raw = ctx.raw_params()?;
    Ok(crate::export::over_time::filters_now(&ctx.library, &ctx.features(), names, suppress, exclusive, &raw)?)
}

fn since_json(stored: &StoredExport) -> serde_json::Value {
    json!({"manifest": stored.manifest_path.display().to_string(), "created_at": stored.info.created_at,
           "as_of": stored.info.as_of})
}

/// Prints each warning on stderr (one line each) and returns them for `--json`'s `warnings`.
fn warn(warnings: Vec<String>) -> Vec<String> {
    for w in &warnings {
        super::warning(w);
    }
    warnings
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
    stored.check_key(&engine)?;
    let filters = now_filters(ctx, &names, suppress, stored.info.exclusive)?;
    let Some((_, f)) = filters.iter().find(|(n, _)| n == name) else {
        return fail(format!("{name} is not among the segments to export now"));
    };
    let c = engine.changes(f, &before, examples)?;
    // None of the export in the data now implies none kept: only then is it worth a scan.
    let presence = if c.kept == 0 { Some(stored.presence(&engine)?) } else { None };
    let warnings = warn(stored.warnings(&engine, presence));
    let since = stored.since(name);
    if ctx.g.json {
        return ctx.print_json(&json!({
            "segment": name,
            "since": {"manifest": since.manifest, "created_at": since.created_at, "version": since.version,
                      "as_of": stored.info.as_of},
            "added": c.added, "dropped": c.dropped, "kept": c.kept,
            "examples": c.examples,
            "as_of": engine.today().to_string(),
            "warnings": warnings,
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
    let engine = ctx.engine()?;
    let b = to.map(StoredExport::open).transpose()?;
    let m = match &b {
        Some(b) => over_time::movement(&engine, &a, To::Export(b))?,
        None => over_time::movement(&engine, &a, To::Now(&now_filters(ctx, &a.segment_names(), suppress, false)?))?,
    };
    // To now, none of the export in the data implies none of it in a segment now: only then is
    // it worth a scan. Between two exports the data is not compared.
    let in_none = m.cells.iter().all(|c| c.from.is_none() || c.to.is_none() || c.count == 0);
    let presence = if b.is_none() && in_none { Some(a.presence(&engine)?) } else { None };
    let mut found = a.warnings(&engine, presence);
    if let Some(b) = &b {
        found.extend(b.warnings(&engine, None));
    }
    let warnings = warn(found);
    if ctx.g.json {
        let to_json = match &b {
            Some(b) => since_json(b),
            None => json!({"now": true, "as_of": engine.today().to_string()}),
        };
        return ctx.print_json(&json!({
            "from": since_json(&a), "to": to_json, "segments": m.segments, "cells": m.cells,
            "warnings": warnings,
        }));
    }
    print!("{}", crate::report::movement(&m));
    Ok(())
}

pub fn split(ctx: &Ctx, filter: &str, by: &[String], min_share: f64, save: bool, max_cells: usize) -> Result<()> {
    if !(0.0..=1.0).contains(&min_share) {
        return fail(format!("--min-share {min_share}: expected a share between 0 and 1"));
    }
    if max_cells == 0 {
        return fail("--max-cells 0: expected at least one cell");
    }
    let engine = ctx.engine()?;
    let r = ctx.resolve(filter)?;
    super::rollups(&engine)?;
    let s = engine.split_top(&r.compiled, by, min_share, Some(max_cells))?;
    if s.more_cells > 0 {
        return fail(format!(
            "{} split by {} has {} cells, more than --max-cells {}: split by coarser columns, or raise --max-cells",
            r.label,
            s.by.join(", "),
            count(s.cells.len() as u64 + s.more_cells),
            count(max_cells as u64)
        ));
    }
    let saved = if save { save_cells(ctx, &engine, r.template.as_ref(), &s)? } else { Vec::new() };
    if ctx.g.json {
        #[derive(serde::Serialize)]
        struct Out<'a> {
            #[serde(flatten)]
            split: &'a crate::engine::query::split::Split,
            #[serde(skip_serializing_if = "Option::is_none")]
            saved: Option<&'a [String]>,
        }
        return ctx.print_json(&Out { split: &s, saved: save.then_some(saved.as_slice()) });
    }
    for line in &saved {
        println!("saved {line}");
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

/// `split --save`: each cell as a draft child of the named template (`Template::children`); the
/// references saved (`NAME@V`), or unchanged ones as they stand. Every name is checked before
/// anything is written, so a collision saves nothing.
fn save_cells(
    ctx: &Ctx,
    engine: &crate::engine::Engine,
    parent: Option<&crate::library::Template>,
    s: &crate::engine::query::split::Split,
) -> Result<Vec<String>> {
    let Some(parent) = parent else {
        return fail("--save saves the cells of a saved segment: name one from the library, not a filter");
    };
    let cells: Vec<Vec<Option<String>>> = s.cells.iter().map(|c| c.values_in(&s.by)).collect();
    let children = parent.children(&s.by, &cells).map_err(super::UserError)?;
    for child in &children {
        ctx.library.check_cell(child)?;
    }
    let features = ctx.features();
    let mut out = Vec::new();
    for mut child in children {
        child.author = crate::library::author();
        let compiled = crate::library::measure::compile(&child, &Default::default(), &features)?;
        crate::library::measure::record_features(&mut child, &compiled, &features);
        child.snapshot = Some(crate::library::measure::measure(engine, &compiled)?);
        let name = child.name.clone();
        let v = ctx.library.save(child)?.version();
        out.push(format!("{name}@{v}"));
    }
    Ok(out)
}

pub fn arms(
    ctx: &Ctx,
    filter: &str,
    spec: Option<&str>,
    salt: Option<&str>,
    dialect: Option<crate::dialect::Dialect>,
) -> Result<()> {
    let engine = ctx.engine()?;
    let r = ctx.resolve(filter)?;
    let arms = match (spec, salt, r.template.as_ref().and_then(|t| t.arms.clone())) {
        (Some(spec), Some(salt), _) => crate::engine::query::arms::Arms::parse(spec, salt).map_err(super::UserError)?,
        (_, _, Some(a)) => a,
        _ => return fail(format!("{} declares no arms: give --arms control=0.1,treatment=0.9 --salt NAME", r.label)),
    };
    if let Some(d) = dialect {
        return super::warehouse::arms_sql(ctx, &engine, &r, &arms, d);
    }
    super::rollups(&engine)?;
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
