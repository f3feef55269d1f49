//! `seglens sql`: the SQL a segment runs, in DuckDB's dialect or a warehouse's (`--dialect`), with
//! `current_date` bound to the as-of date; `--all-approved --out DIR` writes every approved
//! segment as a dbt-style model with a test of the count seglens measured locally (and, for a
//! segment with arms, an arm column and a test of each arm's count). `seglens arms --dialect`
//! prints the SQL that assigns the arms on an engine, with a one-line check of its hash.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;
use serde_json::json;

use super::{Ctx, UserError, fail};
use crate::dialect::{Catalog, Dialect, Target, dbt_literal};
use crate::engine::query::arms::{Arms, bucket};
use crate::engine::text::filter;
use crate::engine::{Compiled, Engine, FeatureSet};
use crate::format::count;
use crate::library::measure;
use crate::library::template::{Kind, Template};

#[derive(Args, Debug)]
pub struct SqlArgs {
    /// An expression, a template NAME[@V], or - for stdin (not with --all-approved)
    #[arg(required_unless_present = "all_approved")]
    pub filter: Option<String>,
    /// duckdb (default), spark, trino, bigquery, snowflake or postgres
    #[arg(long, default_value = "duckdb", value_parser = parse_dialect)]
    pub dialect: Dialect,
    /// Every approved segment (suppressions included), one file each, under --out
    #[arg(long, conflicts_with = "filter", requires = "out")]
    pub all_approved: bool,
    /// With --all-approved: the directory to write models/<segment>.sql (and <segment>__net.sql, approved
    /// suppressions subtracted) and tests/<segment>_count.sql to
    #[arg(long, value_name = "DIR", requires = "all_approved")]
    pub out: Option<PathBuf>,
    /// With --all-approved: replace models and tests of the same names already in --out
    #[arg(long, requires = "all_approved")]
    pub force: bool,
}

pub(crate) fn parse_dialect(s: &str) -> std::result::Result<Dialect, String> {
    Dialect::parse(s).ok_or_else(|| {
        let names: Vec<&str> = Dialect::ALL.iter().map(|d| d.name()).collect();
        format!("unknown dialect {s:?} (one of {})", names.join(", "))
    })
}

fn target<'a>(engine: &'a Engine, catalog: &'a Catalog, dialect: Dialect) -> Target<'a> {
    Target { dialect, as_of: engine.today(), catalog, table: engine.table(), key: engine.key() }
}

pub fn sql(ctx: &Ctx, a: SqlArgs) -> Result<()> {
    let engine = ctx.engine()?;
    let catalog = Catalog::of(&engine)?;
    if a.all_approved {
        let out = a.out.as_deref().ok_or_else(|| UserError("--all-approved needs --out DIR".into()))?;
        return all_approved(ctx, &engine, &catalog, a.dialect, out, a.force);
    }
    let arg = a.filter.as_deref().unwrap_or("-");
    let r = ctx.resolve(arg)?;
    // DuckDB binds it first: what is translated is a filter that runs here, errors located in it.
    engine.check(&r.compiled)?;
    let t = target(&engine, &catalog, a.dialect);
    let sql = match r.template.as_ref().and_then(|t| t.arms.as_ref()) {
        Some(arms) => select_with_arms(&engine, &t, &r.label, &r.compiled, arms)?,
        None => t.select(&r.compiled.sql).map_err(|e| UserError(e.to_string()))?,
    };
    if ctx.g.json {
        let params: BTreeMap<_, _> = r.values.iter().map(|(k, v)| (k.clone(), v.to_json())).collect();
        return ctx.print_json(&json!({
            "sql": sql, "dialect": a.dialect.name(), "as_of": engine.today().to_string(), "params": params,
        }));
    }
    println!("{sql};");
    Ok(())
}

/// The key and the arm of every member of `f`, on the target: DuckDB's own SQL reads the data as
/// seglens opened it (a Parquet source included), the others name the table.
fn select_with_arms(
    engine: &Engine,
    t: &Target,
    label: &str,
    f: &crate::engine::Compiled,
    arms: &Arms,
) -> Result<String> {
    // Shares that do not add up are refused here as `arms` and `export` refuse them.
    arms.bounds().map_err(|e| UserError(format!("{label}: {e}")))?;
    if t.dialect == Dialect::DuckDb {
        let sql = engine.select_sql_with_arms(f, arms).map_err(|e| UserError(format!("{label}: {e}")))?;
        return Ok(crate::engine::text::tokens::pin_current_date(&sql, engine.today()));
    }
    Ok(t.select_with_arms(&f.sql, arms).map_err(|e| UserError(format!("{label}: {e}")))?)
}

/// `seglens arms NAME --dialect X`: the SQL that gives every member its arm on that engine, and a
/// statement that checks the engine's hash against seglens' on one customer (the segment's first
/// by key, else the table's).
pub fn arms_sql(ctx: &Ctx, engine: &Engine, r: &super::Resolved, arms: &Arms, dialect: Dialect) -> Result<()> {
    engine.check(&r.compiled)?;
    let catalog = Catalog::of(engine)?;
    let t = target(engine, &catalog, dialect);
    let sql = select_with_arms(engine, &t, &r.label, &r.compiled, arms)?;
    let key = engine.key().to_string();
    let mut first = engine.rows(&r.compiled, std::slice::from_ref(&key), 1)?.rows;
    if first.is_empty() {
        let everyone = crate::engine::Compiled::raw("TRUE").map_err(crate::engine::EngineError::from)?;
        first = engine.rows(&everyone, &[key], 1)?.rows;
    }
    let check = first.into_iter().next().and_then(|row| row.into_iter().next().flatten()).map(|k| {
        let b = bucket(&arms.salt, &k);
        (t.bucket_check(arms, &k), b, arms.arm_of(&k).unwrap_or_default(), k)
    });
    if ctx.g.json {
        let bounds: Vec<_> = arms
            .bounds()
            .unwrap_or_default()
            .into_iter()
            .map(|(name, from, to)| json!({"name": name, "from": from, "to": to}))
            .collect();
        let check = check.map(|(sql, b, arm, key)| json!({"key": key, "bucket": b, "arm": arm, "sql": sql}));
        return ctx.print_json(&json!({
            "sql": sql, "dialect": dialect.name(), "as_of": engine.today().to_string(), "salt": arms.salt,
            "hash": crate::engine::query::arms::HASH, "arms": bounds, "check": check,
        }));
    }
    println!("{sql};");
    if let Some((check, b, arm, key)) = check {
        // A comment line holds no line break: the key and salt are shown escaped.
        println!(
            "-- Check the hash on {dialect}: customer {key:?} is in bucket {b} ({arm}) under salt {:?}; this returns {b}:",
            arms.salt
        );
        println!("{check};");
    }
    Ok(())
}

/// One approved segment, ready to write.
struct Model {
    /// The dbt model name (and file stem).
    file: String,
    template: Template,
    params: BTreeMap<String, crate::engine::ParamValue>,
    /// The approved suppressions subtracted (a `<segment>__net` model), as `seglens export` does.
    suppressed: Vec<String>,
    sql: String,
    count: u64,
    /// Each arm's count, in the order declared, when the segment has arms.
    arms: Option<Vec<(String, u64)>>,
}

/// Every approved segment and suppression as a dbt model with its count test (and one test per
/// arm), written to `out`. Everything is compiled, counted and translated before anything is
/// written: one segment that cannot be translated leaves no half-written set of models.
fn all_approved(
    ctx: &Ctx,
    engine: &Engine,
    catalog: &Catalog,
    dialect: Dialect,
    out: &Path,
    force: bool,
) -> Result<()> {
    check_out(out, ctx.library.dir())?;
    let compiled_all = compile_approved(ctx)?;
    let models = models_of(engine, &target(engine, catalog, dialect), &compiled_all)?;
    check_names(&models)?;
    let paths: Vec<ModelPaths> = models.iter().map(|m| model_paths(m, out)).collect();
    check_test_names(&models, &paths)?;
    check_free(&paths, out, force)?;
    let db = ctx.db_path()?;
    for (m, (model, test, arm_tests)) in models.iter().zip(&paths) {
        write_model(m, dialect, engine, &db, model, test, arm_tests)?;
    }
    if ctx.g.json {
        return print_models_json(ctx, engine, dialect, &models, &paths);
    }
    for (m, (model, ..)) in models.iter().zip(&paths) {
        let net = if m.suppressed.is_empty() { "" } else { " (net)" };
        println!("{:<40} {:>12}  {}", format!("{}{net}", m.template.reference()), count(m.count), model.display());
        if let Some(arms) = &m.arms {
            let each: Vec<String> = arms.iter().map(|(name, n)| format!("{name} {}", count(*n))).collect();
            println!("    arms: {}", each.join(", "));
        }
    }
    println!("wrote {} {dialect} models (and count tests) as of {} to {}", models.len(), engine.today(), out.display());
    Ok(())
}

/// The latest approved version of every template, compiled with the feature bodies recorded when
/// it was approved.
fn compile_approved(ctx: &Ctx) -> Result<Vec<(Template, Compiled)>> {
    let features = ctx.features();
    let mut compiled_all = Vec::new();
    for name in ctx.library.names()? {
        let Some(tpl) = ctx.library.latest_approved(&name)? else { continue };
        tpl.verify_approval()
            .map_err(|why| UserError(format!("{}: {why}", ctx.library.path_of(&tpl.name, tpl.version).display())))?;
        let compiled = measure::compile(&tpl, &BTreeMap::new(), &features)?;
        if let Some(f) = compiled.features_used.iter().find(|f| !tpl.features.contains_key(*f)) {
            return fail(format!(
                "{} uses feature {f}, which was not recorded when it was approved; record it with `seglens save {1}`, \
                 check it, then `seglens approve {1}`",
                tpl.reference(),
                tpl.name
            ));
        }
        compiled_all.push((tpl, compiled));
    }
    if compiled_all.is_empty() {
        return fail(format!("no approved segments in {}", ctx.library.dir().display()));
    }
    Ok(compiled_all)
}

/// The models of the approved templates: each one as it is, and each segment also net of every
/// suppression (`NAME__net`) when there are any; translated and counted.
fn models_of(engine: &Engine, t: &Target<'_>, compiled_all: &[(Template, Compiled)]) -> Result<Vec<Model>> {
    let suppressions: Vec<(&Template, &Compiled)> =
        compiled_all.iter().filter(|(t, _)| t.kind == Kind::Suppression).map(|(t, c)| (t, c)).collect();
    let mut models = Vec::new();
    for (tpl, compiled) in compiled_all {
        let mut variants = vec![(model_name(&tpl.name), compiled.clone(), Vec::new())];
        if tpl.kind == Kind::Segment && !suppressions.is_empty() {
            let others: Vec<&Compiled> = suppressions.iter().map(|(_, c)| *c).collect();
            let names = suppressions.iter().map(|(t, _)| t.name.clone()).collect();
            variants.push((format!("{}__net", model_name(&tpl.name)), compiled.and_not(&others), names));
        }
        for (file, segment, suppressed) in variants {
            let (sql, arms) = match &tpl.arms {
                Some(arms) => (
                    select_with_arms(engine, t, &tpl.reference(), &segment, arms)?,
                    Some(engine.arm_sizes(&segment, arms)?),
                ),
                None => (t.select(&segment.sql).map_err(|e| UserError(format!("{}: {e}", tpl.reference())))?, None),
            };
            // Every member has an arm (the shares add up to 1): with arms, their counts sum to it.
            let count = match &arms {
                Some(per_arm) => per_arm.iter().map(|(_, n)| n).sum(),
                None => engine.size(&segment)?.size,
            };
            let params = filter::bound_params(&tpl.filter, &tpl.params, &BTreeMap::new());
            models.push(Model { file, template: tpl.clone(), params, suppressed, sql, count, arms });
        }
    }
    Ok(models)
}

/// A model's files: the model, its count test, and one test per arm.
type ModelPaths = (PathBuf, PathBuf, Vec<PathBuf>);

fn model_paths(m: &Model, out: &Path) -> ModelPaths {
    let arm_tests = m.arms.iter().flatten().map(|(arm, _)| out.join("tests").join(arm_test_file(m, arm)));
    (
        out.join("models").join(format!("{}.sql", m.file)),
        out.join("tests").join(format!("{}_count.sql", m.file)),
        arm_tests.collect(),
    )
}

/// Refuses a path that is a directory, or a file already there without `--force`.
fn check_free(paths: &[ModelPaths], out: &Path, force: bool) -> Result<()> {
    for path in paths.iter().flat_map(|(model, test, arms)| [model, test].into_iter().chain(arms)) {
        match std::fs::symlink_metadata(path) {
            Ok(meta) if meta.is_dir() => {
                return fail(format!("{} is a directory; move it out of --out", path.display()));
            }
            Ok(_) if !force => {
                return fail(format!(
                    "{} already exists; pass --force to replace the models and tests in {}",
                    path.display(),
                    out.display()
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Writes a model and its tests. Everything but the `ref()` of the count test goes through
/// `dbt_literal`: dbt renders both files as Jinja before any SQL runs, and the header and SQL
/// hold template text.
fn write_model(
    m: &Model,
    dialect: Dialect,
    engine: &Engine,
    db: &Path,
    model: &Path,
    test: &Path,
    arm_tests: &[PathBuf],
) -> Result<()> {
    let header = header(m, dialect, engine, db);
    write_file(model, &dbt_literal(&format!("{header}{}\n", m.sql)))?;
    let test_header = |what: &str| {
        dbt_literal(&format!(
            "-- Fails (returns a row) when the warehouse selects another number of customers{what} than seglens\n\
             -- measured locally for {} as of {}.\n",
            m.template.reference(),
            engine.today(),
        ))
    };
    write_file(test, &format!("{}{}\n", test_header(""), crate::dialect::dbt_count_test(&m.file, m.count)))?;
    for ((arm, n), path) in m.arms.iter().flatten().zip(arm_tests) {
        let sql = crate::dialect::dbt_arm_count_test(&m.file, arm, *n);
        write_file(path, &format!("{}{sql}\n", test_header(&format!(" in arm {arm}"))))?;
    }
    Ok(())
}

fn print_models_json(
    ctx: &Ctx,
    engine: &Engine,
    dialect: Dialect,
    models: &[Model],
    paths: &[ModelPaths],
) -> Result<()> {
    let list: Vec<_> = models
        .iter()
        .zip(paths)
        .map(|(m, (model, test, arm_tests))| {
            let arms = m.arms.as_ref().map(|arms| {
                arms.iter()
                    .zip(arm_tests)
                    .map(|((name, n), path)| json!({"name": name, "count": n, "test": path}))
                    .collect::<Vec<_>>()
            });
            json!({"name": m.template.name, "version": m.template.version, "kind": m.template.kind,
                   "model_name": m.file, "suppressed": m.suppressed, "count": m.count, "model": model, "test": test,
                   "arms": arms})
        })
        .collect();
    ctx.print_json(&json!({"dialect": dialect.name(), "as_of": engine.today().to_string(), "segments": list}))
}

/// dbt model names are identifiers: `lapsed-high-value` → `lapsed_high_value`.
fn model_name(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).collect()
}

/// Refuses two segments that become the same model (`a-b` and `a_b`; `x--net` and the net model
/// of `x`): one file would silently replace the other while both were listed as written.
fn check_names(models: &[Model]) -> Result<()> {
    let mut seen: BTreeMap<&str, &Model> = BTreeMap::new();
    for m in models {
        if let Some(first) = seen.insert(&m.file, m) {
            let what = |m: &Model| {
                if m.suppressed.is_empty() {
                    m.template.name.clone()
                } else {
                    format!("{} (its net model)", m.template.name)
                }
            };
            return fail(format!(
                "segments {} and {} would both be written as models/{}.sql; rename one of them (seglens save NEW-NAME, then retire the old one)",
                what(first),
                what(m),
                m.file
            ));
        }
    }
    Ok(())
}

/// The dbt test of one arm of a model: `<model>__arm_<arm>_count.sql`.
fn arm_test_file(m: &Model, arm: &str) -> String {
    format!("{}__arm_{}_count.sql", m.file, model_name(arm))
}

/// Refuses two tests of the same file name (arms `a-b` and `a_b` of one segment; a segment named
/// like another's arm test): one would replace the other while both were listed as written.
fn check_test_names(models: &[Model], paths: &[ModelPaths]) -> Result<()> {
    let mut seen: BTreeMap<&Path, String> = BTreeMap::new();
    for (m, (_, test, arm_tests)) in models.iter().zip(paths) {
        let arms = m.arms.iter().flatten().map(|(arm, _)| format!("arm {arm} of {}", m.file));
        for (path, what) in std::iter::once((test, format!("model {}", m.file))).chain(arm_tests.iter().zip(arms)) {
            if let Some(first) = seen.get(path.as_path()) {
                return fail(format!(
                    "the tests of {first} and {what} would both be written as {}; rename an arm or a segment",
                    path.display()
                ));
            }
            seen.insert(path, what);
        }
    }
    Ok(())
}

/// `--out` must be a directory (or not exist yet) outside the template library. Compared as the
/// file system will resolve it, links and `..` included: `nothere/../library/x` or a link to the
/// library is the library.
fn check_out(out: &Path, library: &Path) -> Result<()> {
    let library = std::fs::canonicalize(library).unwrap_or_else(|_| library.to_path_buf());
    for dir in [out.to_path_buf(), out.join("models"), out.join("tests")] {
        if std::fs::metadata(&dir).is_ok_and(|m| !m.is_dir()) {
            return fail(format!("--out: {} is a file, not a directory; name a directory", dir.display()));
        }
        let real = resolved(&dir).map_err(|e| UserError(format!("--out {}: {e} (a dangling link?)", dir.display())))?;
        if real.starts_with(&library) {
            return fail(format!(
                "--out {} is inside the template library {}; choose another directory",
                out.display(),
                library.display()
            ));
        }
    }
    Ok(())
}

/// `path` as creating it would resolve it: absolute, each existing component's links followed,
/// and `..` taken from the real parent. A component that does not exist yet will be created as
/// a plain directory, so `..` after it goes back lexically. (`std::path::absolute` keeps `..`
/// and links as written; `canonicalize` fails on a path that does not exist yet.)
fn resolved(path: &Path) -> std::io::Result<PathBuf> {
    let mut out = std::fs::canonicalize(std::env::current_dir()?)?;
    for c in path.components() {
        match c {
            Component::Prefix(_) | Component::RootDir => out.push(c),
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(name) => {
                out.push(name);
                if std::fs::symlink_metadata(&out).is_ok() {
                    out = std::fs::canonicalize(&out)?;
                }
            }
        }
    }
    Ok(out)
}

fn header(m: &Model, dialect: Dialect, engine: &Engine, db: &Path) -> String {
    let t = &m.template;
    // Each line is a `--` comment: a line break in template text (a string default holding one)
    // would end the comment and turn the rest of the line into SQL.
    let one_line = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    let params = if m.params.is_empty() {
        "none".to_string()
    } else {
        m.params.iter().map(|(k, v)| format!("{k}={}", one_line(&v.to_input()))).collect::<Vec<_>>().join(", ")
    };
    let mut h = String::new();
    h.push_str(&format!(
        "-- seglens segment {} ({} {}), {dialect} SQL\n",
        t.reference(),
        t.status.name(),
        t.kind.name()
    ));
    h.push_str(&format!("-- template: {}  version: {}  priority: {}\n", t.name, t.version, t.priority));
    h.push_str(&format!("-- intent: {}\n", one_line(&t.intent)));
    h.push_str(&format!("-- params: {params}\n"));
    h.push_str(&format!("-- as of: {} (current_date is bound as this date)\n", engine.today()));
    h.push_str(&format!(
        "-- expected count: {} of {} customers, measured by seglens on {}\n",
        m.count,
        engine.base_size(),
        db.file_name().map(|f| one_line(&f.to_string_lossy())).unwrap_or_default()
    ));
    h.push_str(&format!("-- filter: {}\n", one_line(&t.filter)));
    if !m.suppressed.is_empty() {
        h.push_str(&format!("-- suppressions subtracted (as seglens export does): {}\n", m.suppressed.join(", ")));
    }
    if let (Some(arms), Some(sizes)) = (&t.arms, &m.arms) {
        // The salt is shown escaped ({:?}): a line break in it would end the comment.
        let ranges: Vec<String> = arms
            .bounds()
            .unwrap_or_default()
            .iter()
            .map(|(name, from, to)| format!("{name} {from}-{}", to - 1))
            .collect();
        h.push_str(&format!(
            "-- arms: salt {:?}; buckets {} of {}; {}\n",
            arms.salt,
            ranges.join(", "),
            crate::engine::query::arms::BUCKETS,
            crate::engine::query::arms::HASH
        ));
        let each: Vec<String> = sizes.iter().map(|(name, n)| format!("{name} {n}")).collect();
        h.push_str(&format!("-- expected per arm: {}\n", each.join(", ")));
    }
    if dialect == Dialect::Spark {
        h.push_str("-- Spark: run with spark.sql.ansi.enabled=true (the Spark 4 default).\n");
    }
    h
}

/// Writes through a temporary file and a rename, so a reader never sees half a model.
fn write_file(path: &Path, text: &str) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let tmp = tempfile::NamedTempFile::new_in(dir).with_context(|| format!("writing in {}", dir.display()))?;
    std::fs::write(tmp.path(), text).with_context(|| format!("writing {}", path.display()))?;
    tmp.persist(path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Each dialect with why a feature does not translate to it (None: it does).
pub type DialectSupport = Vec<(Dialect, Option<String>)>;

/// For `seglens features`: the dialects each feature translates to, checked by translating a call
/// with every parameter bound to a number; for the others, why not.
pub fn feature_dialects(engine: &Engine, set: &FeatureSet) -> Result<BTreeMap<String, DialectSupport>> {
    let catalog = Catalog::of(engine)?;
    let mut out = BTreeMap::new();
    for f in set.iter() {
        let call = format!("{}({})", f.name, vec!["1"; f.params.len()].join(", "));
        let expanded = filter::expand_features_only(&call, set);
        let mut row = Vec::new();
        for d in Dialect::ALL {
            let verdict = match &expanded {
                Err(e) => Some(e.message.clone()),
                Ok(sql) => target(engine, &catalog, d).filter(sql).err().map(|e| format!("{}: {}", e.construct, e.why)),
            };
            row.push((d, verdict));
        }
        out.insert(f.name.clone(), row);
    }
    Ok(out)
}

/// `seglens features` text: "runs on duckdb, spark, …" and each dialect it does not, with why.
pub fn describe_dialects(row: &[(Dialect, Option<String>)]) -> Vec<String> {
    let ok: Vec<&str> = row.iter().filter(|(_, e)| e.is_none()).map(|(d, _)| d.name()).collect();
    let mut lines = vec![format!("runs on: {}", if ok.is_empty() { "none".to_string() } else { ok.join(", ") })];
    for (d, e) in row {
        if let Some(e) = e {
            lines.push(format!("not on {d}: {e}"));
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    #[test]
    fn model_names_are_identifiers() {
        assert_eq!(super::model_name("lapsed-high-value"), "lapsed_high_value");
    }
}
