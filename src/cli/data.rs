//! Commands that read the database: sample, schema, size, profile, rows, overlap.

use anyhow::Result;
use serde_json::json;

use super::{Ctx, Global, SampleArgs, fail, user};
use crate::engine::query::overlap::OverlapInput;
use crate::engine::{Compiled, MetricSource, ParamValue};
use crate::format::{count, metric, percent, table};
use crate::sample::{SampleSpec, generate};

pub fn sample(g: &Global, a: SampleArgs) -> Result<()> {
    let mut spec = SampleSpec::new(a.customers);
    spec.seed = a.seed;
    if let Some(d) = &g.as_of {
        match ParamValue::parse(crate::engine::ParamType::Date, d) {
            Ok(ParamValue::Date(d)) => spec.as_of = d,
            _ => return fail(format!("--as-of {d:?}: expected a date YYYY-MM-DD")),
        }
    }
    let spinner = indicatif::ProgressBar::new_spinner().with_message(format!(
        "generating {} customers (seed {}, as of {})",
        count(spec.customers),
        spec.seed,
        spec.as_of
    ));
    spinner.enable_steady_tick(std::time::Duration::from_millis(120));
    let started = std::time::Instant::now();
    let result = generate(&a.out, &spec, a.force);
    spinner.finish_and_clear();
    result?;
    if g.json {
        println!(
            "{}",
            json!({"path": a.out, "customers": spec.customers, "seed": spec.seed, "as_of": spec.as_of.to_string(), "seconds": started.elapsed().as_secs_f64()})
        );
    } else {
        println!(
            "wrote {} ({} customers, seed {}, as of {}) in {:.1} s",
            a.out.display(),
            count(spec.customers),
            spec.seed,
            spec.as_of,
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

pub fn schema(ctx: &Ctx) -> Result<()> {
    let engine = ctx.engine()?;
    let schema = engine.schema()?;
    if ctx.g.json {
        return ctx.print_json(&json!({"table": engine.table(), "key": engine.key(), "tables": schema.tables}));
    }
    for t in &schema.tables {
        let mark = if t.is_entity { format!("  (entity table, key {})", engine.key()) } else { String::new() };
        if let Some(why) = &t.unreadable {
            println!("{} — cannot be read: {why}", t.name);
            println!();
            continue;
        }
        println!("{} — {} rows{mark}", t.name, count(t.rows));
        let rows: Vec<Vec<String>> = t
            .columns
            .iter()
            .map(|c| {
                let top =
                    c.top.iter().take(4).map(|(v, n)| format!("{v} ({})", count(*n))).collect::<Vec<_>>().join(", ");
                if t.is_entity {
                    vec![c.name.clone(), c.ty.clone(), percent(c.null_share), format!("~{}", count(c.distinct)), top]
                } else {
                    vec![c.name.clone(), c.ty.clone()]
                }
            })
            .collect();
        if t.is_entity {
            print!("{}", table(&["column", "type", "null", "distinct", "top values"], &rows));
        } else {
            print!("{}", table(&["column", "type"], &rows));
        }
        println!();
    }
    Ok(())
}

pub fn size(ctx: &Ctx, arg: &str) -> Result<()> {
    let engine = ctx.engine()?;
    let r = ctx.resolve(arg)?;
    let s = engine.size(&r.compiled)?;
    super::qa::warn_size(ctx, &r.label, s.size, s.base)?;
    if ctx.g.json {
        return ctx.print_json(&s);
    }
    println!("{} of {} customers ({})", count(s.size), count(s.base), percent(s.share));
    Ok(())
}

pub fn profile(ctx: &Ctx, arg: &str, by: Option<&str>, top: usize) -> Result<()> {
    let engine = ctx.engine()?;
    let r = ctx.resolve(arg)?;
    super::rollups(&engine)?;
    let p = engine.profile(&r.compiled)?;
    let breakdown = by.map(|col| engine.breakdown(&r.compiled, col, top)).transpose()?;
    let unseg = engine.unsegmentable(&r.compiled)?;
    let share = if p.base == 0 { 0.0 } else { p.size as f64 / p.base as f64 };
    if ctx.g.json {
        return ctx.print_json(&json!({
            "size": p.size, "base": p.base, "share": share,
            "metrics": p.metrics, "breakdown": breakdown, "unsegmentable": unseg, "notes": p.notes,
            "metrics_source": p.source,
        }));
    }
    println!("{} of {} customers ({})\n", count(p.size), count(p.base), percent(share));
    if p.source == MetricSource::Inferred {
        println!("metrics inferred from the schema (seglens metrics --init writes them to a file to edit)\n");
    }
    let rows: Vec<Vec<String>> = p
        .metrics
        .iter()
        .map(|m| {
            vec![
                m.label.clone(),
                metric(m.segment, m.format),
                metric(m.base, m.format),
                m.lift.map_or("—".into(), |l| format!("{l:.2}x")),
            ]
        })
        .collect();
    print!("{}", table(&["metric", "segment", "base", "lift"], &rows));
    if unseg.count > 0 {
        let flag = if unseg.share > 0.2 { "  ⚠ above 20%" } else { "" };
        println!(
            "\nunsegmentable: {} ({}) of the base have NULL in {}{flag}",
            count(unseg.count),
            percent(unseg.share),
            unseg.columns.join(", ")
        );
    }
    for n in &p.notes {
        println!("note: {n}");
    }
    if let Some(b) = breakdown {
        println!("\nby {}:", b.column);
        let mut rows: Vec<Vec<String>> = b
            .rows
            .iter()
            .map(|r| {
                vec![
                    r.value.clone().unwrap_or_else(|| "(null)".into()),
                    count(r.count),
                    percent(r.share),
                    r.base_share.map_or("—".into(), percent),
                ]
            })
            .collect();
        if b.other_values > 0 {
            rows.push(vec![
                format!("({} other values)", count(b.other_values)),
                count(b.other_count),
                percent(b.other_count as f64 / b.size.max(1) as f64),
                String::new(),
            ]);
        }
        print!("{}", table(&["value", "count", "share", "base share"], &rows));
    }
    Ok(())
}

pub fn rows(ctx: &Ctx, arg: &str, limit: usize, columns: &[String]) -> Result<()> {
    let engine = ctx.engine()?;
    let r = ctx.resolve(arg)?;
    if ctx.g.json {
        return ctx.print_json(&engine.typed_rows(&r.compiled, columns, limit)?);
    }
    let rows = engine.rows(&r.compiled, columns, limit)?;
    let cells: Vec<Vec<String>> =
        rows.rows.iter().map(|r| r.iter().map(|v| v.clone().unwrap_or_else(|| "NULL".into())).collect()).collect();
    let headers: Vec<&str> = rows.columns.iter().map(String::as_str).collect();
    print!("{}", table(&headers, &cells));
    Ok(())
}

/// `NAME=EXPR` or a template reference; returns (name, compiled, is_suppression_template).
fn overlap_input(ctx: &Ctx, arg: &str, features: &crate::engine::FeatureSet) -> Result<(String, Compiled, bool)> {
    let raw = ctx.raw_params()?;
    if let Some((name, expr)) = arg.split_once('=')
        && !name.trim().is_empty()
        && !name.contains(|c: char| c.is_whitespace() || "()<>!'\"".contains(c))
    {
        let r = ctx.resolve_params(expr, features, &raw, true)?;
        return Ok((name.trim().to_string(), r.compiled, false));
    }
    let r = ctx.resolve_params(arg, features, &raw, true)?;
    match r.template {
        Some(t) => Ok((t.name.clone(), r.compiled, t.kind == crate::library::Kind::Suppression)),
        None => Err(user(format!("--segment {arg:?}: expected NAME=EXPR or the name of a template in the library"))),
    }
}

/// Each `--param` must be used by at least one of the filters (it goes to those that use it).
pub(crate) fn check_params_used(raw: &[(String, String)], filters: &[&str]) -> Result<()> {
    let used: std::collections::BTreeSet<String> =
        filters.iter().flat_map(|f| crate::engine::text::filter::placeholders(f)).collect();
    if let Some((name, _)) = raw.iter().find(|(k, _)| !used.contains(k)) {
        let known = if used.is_empty() { "none".to_string() } else { used.into_iter().collect::<Vec<_>>().join(", ") };
        return fail(format!("unknown parameter {name}: no segment uses {{{{{name}}}}} (their parameters: {known})"));
    }
    Ok(())
}

pub fn overlap(ctx: &Ctx, segments: &[String], suppressions: &[String]) -> Result<()> {
    if segments.is_empty() {
        return fail("name segments with --segment NAME=EXPR (repeatable, highest priority first)");
    }
    let engine = ctx.engine()?;
    let features = ctx.features();
    let mut named = Vec::new();
    for s in segments {
        named.push(overlap_input(ctx, s, &features)?);
    }
    for s in suppressions {
        let (n, c, _) = overlap_input(ctx, s, &features)?;
        named.push((n, c, true));
    }
    let sources: Vec<&str> = named.iter().map(|(_, c, _)| c.source.as_str()).collect();
    check_params_used(&ctx.raw_params()?, &sources)?;
    let inputs: Vec<OverlapInput<'_>> =
        named.iter().map(|(n, c, s)| OverlapInput { name: n.clone(), filter: c, suppression: *s }).collect();
    let o = engine.overlap(&inputs)?;
    if ctx.g.json {
        return ctx.print_json(&o);
    }
    println!(
        "{} customers; {} in none of the segments ({})\n",
        count(o.base),
        count(o.none),
        percent(o.none as f64 / o.base.max(1) as f64)
    );
    let rows: Vec<Vec<String>> = o
        .segments
        .iter()
        .map(|s| {
            vec![
                s.name.clone(),
                if s.suppression { "suppression".into() } else { "segment".into() },
                count(s.size),
                if s.suppression { "—".into() } else { count(s.exclusive) },
                count(s.suppressed),
            ]
        })
        .collect();
    print!("{}", table(&["segment", "kind", "size", "exclusive", "suppressed"], &rows));
    if !o.pairs.is_empty() {
        println!();
        let rows: Vec<Vec<String>> = o
            .pairs
            .iter()
            .map(|p| vec![p.a.clone(), p.b.clone(), count(p.intersection), format!("{:.3}", p.jaccard)])
            .collect();
        print!("{}", table(&["a", "b", "intersection", "jaccard"], &rows));
    }
    if !o.combinations.is_empty() {
        println!("\nlargest combinations:");
        let rows: Vec<Vec<String>> =
            o.combinations.iter().take(10).map(|c| vec![c.members.join(" ∩ "), count(c.count)]).collect();
        print!("{}", table(&["exactly in", "customers"], &rows));
    }
    Ok(())
}

/// The metrics in use; with `init`, writes them to an editable file (never replacing one) and,
/// when no workspace names this database yet, a `seglens.toml` beside it that does.
pub fn metrics(ctx: &Ctx, init: bool, out: Option<&std::path::Path>) -> Result<()> {
    let engine = ctx.engine()?;
    let file = engine.metrics_file();
    if !init {
        if ctx.g.json {
            return ctx.print_json(&json!({"source": engine.metric_source(), "rollups": file.rollup,
                                          "metrics": file.metric, "notes": engine.metric_notes()}));
        }
        match engine.metric_source() {
            MetricSource::Inferred => {
                println!("metrics inferred from the schema (seglens metrics --init to edit them)")
            }
            MetricSource::File(p) => println!("metrics from {p}"),
        }
        let rows: Vec<Vec<String>> = file
            .metric
            .iter()
            .map(|m| vec![m.name.clone(), m.label.clone(), format!("{:?}", m.format).to_lowercase(), m.sql.clone()])
            .collect();
        print!("{}", table(&["name", "label", "format", "sql"], &rows));
        for r in &file.rollup {
            println!(
                "rollup {}: {} by {} ({})",
                r.name,
                r.table,
                r.key,
                r.columns.keys().cloned().collect::<Vec<_>>().join(", ")
            );
        }
        for n in engine.metric_notes() {
            println!("note: {n}");
        }
        return Ok(());
    }
    let ws = ctx.workspace.as_ref().filter(|w| w.path.exists());
    let target = match (out, ws) {
        (Some(p), _) => p.to_path_buf(),
        (None, Some(w)) => w.metrics.clone(),
        (None, None) => std::path::PathBuf::from("metrics.toml"),
    };
    if target.exists() {
        return fail(format!("{} exists; edit it, or name another file with --out", target.display()));
    }
    let header = format!(
        "# Profile metrics for {} ({} by {}), written by `seglens metrics --init`.\n\
         # [[metric]]: name, label, sql (an aggregate over the customer rows), format = percent|money|days|number.\n\
         # [[rollup]]: a related table aggregated per customer; metrics read its columns as <rollup>.<column>.\n",
        engine.path().display(),
        engine.table(),
        engine.key()
    );
    crate::workspace::write_new(&target, &format!("{header}{}", file.to_toml())).map_err(|e| user(e.to_string()))?;
    let mut wrote = vec![target.display().to_string()];
    if ws.is_none() && out.is_none() {
        let db = std::fs::canonicalize(engine.path()).unwrap_or_else(|_| engine.path().to_path_buf());
        let wfile = crate::workspace::WorkspaceFile {
            database: db,
            table: Some(engine.table().to_string()),
            key: Some(engine.key().to_string()),
            metrics: Some("metrics.toml".into()),
            // The library in use until now stays the library of this data.
            library: Some(std::fs::canonicalize(ctx.library.dir()).unwrap_or_else(|_| ctx.library.dir().to_path_buf())),
        };
        let path = std::path::Path::new(crate::workspace::FILE);
        if !path.exists() {
            crate::workspace::Workspace::create(path, &wfile).map_err(|e| user(e.to_string()))?;
            wrote.push(path.display().to_string());
        }
    }
    if ctx.g.json {
        return ctx.print_json(&json!({"written": wrote, "metrics": file.metric.len(), "rollups": file.rollup.len()}));
    }
    println!("wrote {}: seglens uses it for this data from now on; edit it freely", wrote.join(" and "));
    Ok(())
}
