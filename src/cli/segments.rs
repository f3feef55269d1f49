//! Commands over the template library: features, sql, save, list, show, history, diff, approve,
//! retire, check and export.

use std::collections::BTreeMap;

use anyhow::Result;
use serde_json::json;

use super::{Ctx, ExportArgs, SaveArgs, UserError, fail};
use crate::engine::text::filter;
use crate::engine::{ParamDecl, ParamType, ParamValue};
use crate::export::{ExportRequest, Progress, export_with};
use crate::format::{count, percent, table};
use crate::library::template::{Kind, Status, Template, TemplateRef};
use crate::library::{SaveOutcome, author, measure};

pub fn features(ctx: &Ctx) -> Result<()> {
    ctx.db_path()?;
    let set = ctx.features();
    // Which dialects each feature translates to (`seglens sql --dialect`); unknown without a database.
    let dialects = ctx.engine().and_then(|e| super::warehouse::feature_dialects(&e, &set)).unwrap_or_default();
    if ctx.g.json {
        let list: Vec<_> = set
            .iter()
            .map(|f| {
                let row = dialects.get(&f.name).map(Vec::as_slice).unwrap_or_default();
                let on: Vec<&str> = row.iter().filter(|(_, e)| e.is_none()).map(|(d, _)| d.name()).collect();
                let not_on: BTreeMap<&str, &String> =
                    row.iter().filter_map(|(d, e)| e.as_ref().map(|e| (d.name(), e))).collect();
                json!({"name": f.name, "params": f.params, "sql": f.sql, "description": f.description,
                       "dialects": on, "not_on": not_on})
            })
            .collect();
        let broken: Vec<_> = set.broken.iter().map(|b| json!({"name": b.name, "error": b.reason})).collect();
        return ctx.print_json(&json!({"features": list, "broken": broken}));
    }
    if set.is_empty() && set.broken.is_empty() {
        println!("no features in {}", ctx.library.dir().join("features.toml").display());
    }
    for f in set.iter() {
        println!("{}({})", f.name, f.params.join(", "));
        if !f.description.is_empty() {
            println!("  {}", f.description);
        }
        for line in f.sql.trim().lines() {
            println!("    {line}");
        }
        if let Some(row) = dialects.get(&f.name) {
            for line in super::warehouse::describe_dialects(row) {
                println!("  {line}");
            }
        }
        println!();
    }
    for b in &set.broken {
        println!("BROKEN {}: {}", b.name, b.reason);
    }
    Ok(())
}

/// `name:type=default` or `name:type`.
fn parse_param_def(s: &str) -> Result<(String, ParamDecl)> {
    let (head, default) = match s.split_once('=') {
        Some((h, d)) => (h, Some(d)),
        None => (s, None),
    };
    let (name, ty) =
        head.split_once(':').ok_or_else(|| UserError(format!("--param-def {s:?}: expected NAME:TYPE=DEFAULT")))?;
    let ty = ParamType::parse_name(ty.trim()).ok_or_else(|| {
        UserError(format!("--param-def {s:?}: unknown type {ty:?} (int, float, string, date, bool, string_list)"))
    })?;
    let mut d = ParamDecl::new(ty);
    if let Some(v) = default {
        d.default = Some(ParamValue::parse(ty, v).map_err(|e| UserError(format!("--param-def {s:?}: {e}")))?);
    }
    Ok((name.trim().to_string(), d))
}

pub fn save(ctx: &Ctx, a: SaveArgs) -> Result<()> {
    let latest = ctx.library.load(&a.name, None).ok();
    let filter_text = filter_text(&a, latest.as_ref())?;
    let mut t = latest.clone().unwrap_or_else(|| Template::new(&a.name, &filter_text));
    t.filter = filter_text;
    declare_params(&mut t, &a.param_defs)?;
    describe(&mut t, &a)?;
    let engine = ctx.engine()?;
    t.table = engine.table().to_string();
    t.key = engine.key().to_string();
    let features = ctx.features();
    let compiled = filter::compile(
        &t.filter,
        &t.params,
        &BTreeMap::new(),
        &measure::features_for(&Template { features: BTreeMap::new(), ..t.clone() }, &features),
    )
    .map_err(crate::engine::EngineError::from)?;
    measure::record_features(&mut t, &compiled, &features);
    // A changed definition is a new draft; an unchanged one keeps its status (and is not saved).
    if let Some(prev) = &latest {
        t.status = prev.status;
        // An approval carries over only if it is intact: saving a hand-edited "approved" file
        // unchanged must not make it approved.
        if !prev.same_definition(&t) || prev.verify_approval().is_err() {
            t.status = Status::Draft;
        }
        t.parent_version = Some(prev.version);
    }
    t.note = a.note.clone();
    t.author = author();
    t.created_at.clear();
    t.snapshot = Some(measure::measure(&engine, &compiled)?);
    let size = t.snapshot.as_ref().map_or(0, |s| s.size);
    let outcome = ctx.library.save(t)?;
    if ctx.g.json {
        return ctx.print_json(&match &outcome {
            SaveOutcome::Saved { version, path } => {
                json!({"saved": true, "name": a.name, "version": version, "path": path, "size": size})
            }
            SaveOutcome::Unchanged { version } => json!({"saved": false, "name": a.name, "version": version}),
        });
    }
    match outcome {
        SaveOutcome::Saved { version, path } => {
            println!("saved {}@{version} ({} customers) → {}", a.name, count(size), path.display())
        }
        SaveOutcome::Unchanged { version } => {
            println!("unchanged: {} is identical to {}@{version}; nothing written", a.name, a.name)
        }
    }
    Ok(())
}

/// The filter `save` records: `--filter`, `--filter-file` (`-` for stdin), else the latest
/// version's.
fn filter_text(a: &SaveArgs, latest: Option<&Template>) -> Result<String> {
    Ok(match (&a.filter, &a.filter_file) {
        (Some(f), _) => f.clone(),
        (None, Some(path)) if path.as_os_str() == "-" => {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
                .map_err(|e| UserError(format!("reading the filter from stdin: {e} (a filter is UTF-8 text)")))?;
            s
        }
        // A missing or unreadable file is the user's to fix: exit 2, one line.
        (None, Some(path)) => {
            crate::engine::conn::source::regular_file(path)?;
            std::fs::read_to_string(path)
                .map_err(|e| UserError(format!("reading the filter file {}: {e}", path.display())))?
        }
        (None, None) => match latest {
            Some(t) => t.filter.clone(),
            None => {
                return fail(format!("{} is a new segment: give its filter with --filter or --filter-file", a.name));
            }
        },
    })
}

/// Declares the `--param-def`s, keeps only the parameters the filter uses, and refuses one it
/// uses undeclared.
fn declare_params(t: &mut Template, defs: &[String]) -> Result<()> {
    for def in defs {
        let (n, d) = parse_param_def(def)?;
        t.params.insert(n, d);
    }
    let used = filter::placeholders(&t.filter);
    t.params.retain(|n, _| used.contains(n));
    if let Some(missing) = used.iter().find(|p| !t.params.contains_key(*p)) {
        return fail(format!("the filter uses {{{{{missing}}}}}: declare it with --param-def {missing}:TYPE=DEFAULT"));
    }
    Ok(())
}

/// The fields `save` was given: intent, owner, tags, kind, priority, arms.
fn describe(t: &mut Template, a: &SaveArgs) -> Result<()> {
    if let Some(v) = &a.intent {
        t.intent = v.clone();
    }
    if let Some(v) = &a.owner {
        t.owner = v.clone();
    }
    if !a.tags.is_empty() {
        t.tags = a.tags.clone();
    }
    if let Some(k) = &a.kind {
        t.kind = if k == "suppression" { Kind::Suppression } else { Kind::Segment };
    }
    if let Some(p) = a.priority {
        t.priority = p;
    }
    if let (Some(spec), Some(salt)) = (&a.arms, &a.salt) {
        t.arms = Some(crate::engine::query::arms::Arms::parse(spec, salt).map_err(UserError)?);
    }
    Ok(())
}

fn age(created_at: &str) -> String {
    let Ok(t) = chrono::DateTime::parse_from_rfc3339(created_at) else {
        return "?".into();
    };
    let d = chrono::Utc::now().signed_duration_since(t);
    match d.num_minutes() {
        m if m < 60 => format!("{}m", m.max(0)),
        m if m < 60 * 48 => format!("{}h", m / 60),
        m => format!("{}d", m / 60 / 24),
    }
}

fn report_errors(errors: &[crate::library::LibraryError]) {
    for e in errors {
        eprintln!("seglens: warning: {e}");
    }
}

pub fn list(ctx: &Ctx) -> Result<()> {
    // On a fresh machine the first command may be this one: create the sample and its starters.
    ctx.db_path()?;
    let report = ctx.library.load_all();
    report_errors(&report.errors);
    if ctx.g.json {
        let list: Vec<_> = report
            .templates
            .iter()
            .map(|t| {
                json!({"name": t.name, "version": t.version, "status": t.status, "kind": t.kind, "priority": t.priority,
                       "size": t.snapshot.as_ref().map(|s| s.size), "share": t.snapshot.as_ref().map(|s| s.share),
                       "created_at": t.created_at, "owner": t.owner, "intent": t.intent})
            })
            .collect();
        let errors: Vec<String> = report.errors.iter().map(|e| e.to_string()).collect();
        return ctx.print_json(&json!({"library": ctx.library.dir(), "segments": list, "errors": errors}));
    }
    if report.templates.is_empty() {
        println!("no segments in {}", ctx.library.dir().display());
        return Ok(());
    }
    let rows: Vec<Vec<String>> = report
        .templates
        .iter()
        .map(|t| {
            vec![
                t.name.clone(),
                format!("v{}", t.version),
                t.status.name().into(),
                t.kind.name().into(),
                t.priority.to_string(),
                t.snapshot.as_ref().map_or("—".into(), |s| count(s.size)),
                age(&t.created_at),
            ]
        })
        .collect();
    print!("{}", table(&["name", "version", "status", "kind", "priority", "size at save", "age"], &rows));
    Ok(())
}

fn parse_ref(s: &str) -> Result<TemplateRef> {
    TemplateRef::parse(s).ok_or_else(|| crate::library::LibraryError::BadRef(s.to_string()).into())
}

pub fn show(ctx: &Ctx, reference: &str) -> Result<()> {
    let r = parse_ref(reference)?;
    let t = ctx.library.load(&r.name, r.version)?;
    if ctx.g.json {
        return ctx.print_json(&t);
    }
    print!("{}", t.to_toml());
    Ok(())
}

pub fn history(ctx: &Ctx, name: &str) -> Result<()> {
    let (versions, errors) = ctx.library.history(name)?;
    report_errors(&errors);
    if ctx.g.json {
        return ctx.print_json(&versions);
    }
    let rows: Vec<Vec<String>> = versions
        .iter()
        .map(|t| {
            vec![
                format!("v{}", t.version),
                t.status.name().into(),
                t.created_at.clone(),
                t.author.clone(),
                t.snapshot.as_ref().map_or("—".into(), |s| count(s.size)),
                t.note.clone().unwrap_or_default(),
            ]
        })
        .collect();
    print!("{}", table(&["version", "status", "saved", "author", "size", "note"], &rows));
    Ok(())
}

pub fn diff(ctx: &Ctx, name: &str, v1: u32, v2: u32) -> Result<()> {
    let a = ctx.library.load(name, Some(v1))?;
    let b = ctx.library.load(name, Some(v2))?;
    let d = crate::library::diff::VersionDiff::new(&a, &b);
    if ctx.g.json {
        return ctx.print_json(&json!({
            "name": name, "from": v1, "to": v2, "filter_diff": d.filter,
            "params": d.params.iter().map(|(k, x, y)| json!({"name": k, "from": x, "to": y})).collect::<Vec<_>>(),
            "status": [d.status.0, d.status.1], "size": [d.size.0, d.size.1],
        }));
    }
    print!("{}", d.text());
    Ok(())
}

fn status_change(ctx: &Ctx, reference: &str, status: Status, note: Option<String>) -> Result<()> {
    let r = parse_ref(reference)?;
    let outcome = ctx.library.set_status(&r.name, r.version, status, note, &author())?;
    match outcome {
        SaveOutcome::Saved { version, .. } => println!("{} {}@{version}", status.name(), r.name),
        SaveOutcome::Unchanged { version } => {
            println!("{}@{version} is already {}", r.name, status.name())
        }
    }
    Ok(())
}

pub fn approve(ctx: &Ctx, reference: &str, note: Option<String>) -> Result<()> {
    status_change(ctx, reference, Status::Approved, note)
}

pub fn retire(ctx: &Ctx, name: &str, note: Option<String>) -> Result<()> {
    status_change(ctx, name, Status::Retired, note)
}

/// A row of `check` for a template with no figures, and why.
fn unmeasured(t: &Template, note: String) -> Vec<String> {
    vec![t.reference(), "—".into(), "—".into(), "—".into(), "—".into(), note]
}

pub fn check(ctx: &Ctx, threshold: f64) -> Result<()> {
    let engine = ctx.engine()?;
    let features = ctx.features();
    let small = super::qa::small_share(ctx)?;
    let report = ctx.library.load_all();
    let mut failed = report.errors.len();
    report_errors(&report.errors);
    let mut rows = Vec::new();
    let mut out = Vec::new();
    let mut not_for_data = 0;
    for t in report.templates.iter().filter(|t| t.status != Status::Retired) {
        let result = measure::compile(t, &BTreeMap::new(), &features)
            .and_then(|c| Ok((engine.size(&c)?, engine.unsegmentable(&c)?)));
        let drifted_features = measure::feature_drift(t, &features);
        match result {
            Ok((size, unseg)) => {
                let (row, json) = measured(t, &size, unseg.share, &drifted_features, threshold, small);
                rows.push(row);
                out.push(json);
            }
            Err(e) => match measure::Fit::from_error(e)?.for_template(t, engine.fingerprint()) {
                measure::Fit::NotForThisData(missing) => {
                    not_for_data += 1;
                    rows.push(unmeasured(t, format!("not for this data (missing {missing})")));
                    out.push(json!({"segment": t.name, "version": t.version, "ok": true, "for_this_data": false,
                                    "missing": missing}));
                }
                fit => {
                    failed += 1;
                    let e = match fit {
                        measure::Fit::Failed(e) => e,
                        other => other.describe(),
                    };
                    rows.push(unmeasured(t, format!("FAILED: {e}")));
                    out.push(json!({"segment": t.name, "version": t.version, "ok": false, "error": e}));
                }
            },
        }
    }
    if ctx.g.json {
        ctx.print_json(
            &json!({"threshold": threshold, "templates": out, "failed": failed, "not_for_this_data": not_for_data}),
        )?;
    } else if rows.is_empty() {
        println!("no segments in {} yet", ctx.library.dir().display());
    } else {
        print!("{}", table(&["segment", "saved size", "size now", "drift", "unsegmentable", "notes"], &rows));
        if not_for_data > 0 {
            println!(
                "{not_for_data} segment(s) were written for other data (columns this database lacks): not checked"
            );
        }
    }
    if failed > 0 {
        return fail(format!("{failed} template(s) failed to load, compile or run"));
    }
    Ok(())
}

/// A measured template's row in `check`'s table and its `--json` entry: the size now against the
/// saved one (flagged past `threshold`), the unsegmentable share, and marks (empty, small, changed
/// features).
fn measured(
    t: &Template,
    size: &crate::engine::query::size::Size,
    unseg_share: f64,
    drifted_features: &[String],
    threshold: f64,
    small: f64,
) -> (Vec<String>, serde_json::Value) {
    let saved = t.snapshot.as_ref().map(|s| s.size);
    let drift = saved.map(|s| {
        if s == 0 { if size.size == 0 { 0.0 } else { 1.0 } } else { (size.size as f64 - s as f64) / s as f64 }
    });
    let flag = drift.is_some_and(|d| d.abs() > threshold);
    let mut notes = Vec::new();
    if flag {
        notes.push("DRIFT".to_string());
    }
    if unseg_share > 0.2 {
        notes.push("UNSEGMENTABLE>20%".into());
    }
    // An empty segment is a warning wherever it shows; a small one is marked.
    let mark = crate::engine::query::size::SizeMark::of(size.size, size.base, small);
    match mark {
        Some(crate::engine::query::size::SizeMark::Empty) => {
            notes.push("EMPTY".into());
            eprintln!("seglens: warning: {} is empty: no customer matches it", t.reference());
        }
        Some(crate::engine::query::size::SizeMark::Small) => notes.push(format!("SMALL<{}", percent(small))),
        None => {}
    }
    if !drifted_features.is_empty() {
        notes.push(format!("features changed: {}", drifted_features.join(", ")));
    }
    let row = vec![
        t.reference(),
        saved.map_or("—".into(), count),
        count(size.size),
        drift.map_or("—".into(), |d| format!("{:+.1}%", d * 100.0)),
        percent(unseg_share),
        notes.join(" "),
    ];
    let json = json!({"segment": t.name, "version": t.version, "ok": true, "for_this_data": true, "saved_size": saved, "size": size.size,
                    "drift": drift, "drift_flagged": flag, "unsegmentable": unseg_share, "features_changed": drifted_features,
                    "mark": mark});
    (row, json)
}

pub fn export(ctx: &Ctx, a: ExportArgs) -> Result<()> {
    let engine = ctx.engine()?;
    let features = ctx.features();
    let raw = ctx.raw_params()?;
    let (mut segments, suppressions) =
        crate::export::resolve(&ctx.library, &features, &a.names, a.allow_draft, !a.no_suppress, &raw)?;
    let sources: Vec<&str> = segments.iter().map(|s| s.filter.source.as_str()).collect();
    super::data::check_params_used(&raw, &sources)?;
    if !a.split_by.is_empty() {
        let [parent] = segments.as_slice() else {
            return fail("--split-by exports the cells of one segment: name one");
        };
        // The cells of the segment as it exports (suppressions applied), every one with members.
        let effective = crate::export::effective(&segments, &suppressions, false);
        let split = engine.split(&effective[0], &a.split_by, 0.0)?;
        let values: Vec<Vec<Option<String>>> = split.cells.iter().map(|c| c.values_in(&split.by)).collect();
        segments = crate::export::cells(parent, &split.by, &values);
    }
    let req = ExportRequest {
        segments,
        suppressions,
        exclusive: a.exclusive,
        columns: a.columns,
        out: a.out,
        force: a.force,
        excel_safe: a.excel_safe,
        protected: vec![ctx.library.dir().to_path_buf()],
    };
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} rows ({eta})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let log = super::over_time::export_log(ctx);
    let files = export_with(&engine, &req, Some(&log), &mut |p| {
        match p {
            Progress::Segment { name, expected } => {
                bar.set_message(name.clone());
                bar.set_length(*expected);
                bar.set_position(0);
            }
            Progress::Rows { written, .. } => bar.set_position(*written),
        }
        // Ctrl-C or --timeout between two queries: stop before the next one.
        !ctx.cancelled.load(std::sync::atomic::Ordering::SeqCst)
    });
    bar.finish_and_clear();
    let files = files?;
    if ctx.g.json {
        return ctx.print_json(&json!({
            "files": files,
            "suppressions": req.suppressions.iter().map(|s| format!("{}@{}", s.name, s.version)).collect::<Vec<_>>(),
        }));
    }
    for f in &files {
        println!("wrote {} rows to {} (manifest {})", count(f.rows), f.csv.display(), f.manifest.display());
        for c in &f.changes {
            let day = c.since.created_at.get(..10).unwrap_or(&c.since.created_at);
            println!("  {}: +{} / −{} since {day}", c.segment, count(c.added), count(c.dropped));
        }
    }
    for w in files.iter().filter_map(|f| f.warning.as_ref()) {
        eprintln!("seglens: warning: {w}");
    }
    if !req.suppressions.is_empty() {
        println!(
            "suppressed: {}",
            req.suppressions.iter().map(|s| format!("{}@{}", s.name, s.version)).collect::<Vec<_>>().join(", ")
        );
    }
    Ok(())
}
