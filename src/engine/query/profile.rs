//! Engagement metrics of a segment beside the base: named SQL aggregates, from a metrics file
//! (the workspace's or `--metrics`) or inferred from the schema (`infer.rs`). A metric whose
//! columns the database lacks is left out with a note, not an error.
//!
//! A metric may read a *rollup*: a related table (transactions, events) aggregated per customer
//! and LEFT JOINed to the segment's rows, so recency, frequency and monetary figures stay exact SQL
//! at one GROUP BY per profile instead of one correlated subquery per metric.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::engine::{Compiled, Engine, EngineError, Result, SqlBuilder, ident, plain_error};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricFormat {
    /// A share 0..1, shown as a percentage.
    Percent,
    Money,
    Days,
    Number,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricDef {
    pub name: String,
    pub label: String,
    /// An aggregate SQL expression over the entity table, e.g. `sum(email_opens_90d) / nullif(sum(email_sends_90d), 0)`.
    pub sql: String,
    pub format: MetricFormat,
}

/// A related table aggregated per customer: `LEFT JOIN (SELECT <key> AS __key, <sql> AS <name>, ...
/// FROM <table> GROUP BY 1) AS <name>`. Metrics read its columns as `<name>.<column>`; a customer
/// with no related rows reads NULL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rollup {
    /// The alias metrics use (an identifier).
    pub name: String,
    pub table: String,
    /// The column of `table` holding the entity's key.
    pub key: String,
    /// Output column → aggregate over the related rows, e.g. `orders = "count(*)"`.
    pub columns: BTreeMap<String, String>,
}

/// Where the metrics came from, shown beside them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase", tag = "kind", content = "path")]
pub enum MetricSource {
    #[default]
    /// Inferred from the schema by the rule in README ("Metrics").
    Inferred,
    /// Read from this file.
    File(String),
}

/// `metrics.toml`: `[[metric]] name, label, sql, format` and optional `[[rollup]]` tables.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsFile {
    #[serde(default)]
    pub rollup: Vec<Rollup>,
    #[serde(default)]
    pub metric: Vec<MetricDef>,
}

impl MetricsFile {
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_default()
    }
}

/// The metrics an engine is opened with.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricSet {
    pub file: MetricsFile,
    pub source: MetricSource,
}

pub fn parse_metrics(text: &str) -> std::result::Result<MetricsFile, toml::de::Error> {
    toml::from_str::<MetricsFile>(text)
}

fn m(name: &str, label: &str, sql: &str, format: MetricFormat) -> MetricDef {
    MetricDef { name: name.into(), label: label.into(), sql: sql.into(), format }
}

/// The sample workspace's metrics (written to its `metrics.toml`): a curated set for the sample
/// schema, where inference would list every column.
pub fn sample_metrics() -> Vec<MetricDef> {
    use MetricFormat::*;
    vec![
        m("open_rate", "Open rate", "sum(email_opens_90d) / nullif(sum(email_sends_90d), 0)", Percent),
        m("click_rate", "Click rate", "sum(email_clicks_90d) / nullif(sum(email_sends_90d), 0)", Percent),
        m("conversion", "Conversion", "avg(CASE WHEN orders_count > 0 THEN 1.0 ELSE 0.0 END)", Percent),
        m("avg_spend", "Avg lifetime spend", "avg(lifetime_spend)", Money),
        m("median_recency", "Median days since order", "median(current_date - last_order_date)", Days),
        m("email_opt_in", "Email reachable", "avg(CASE WHEN unsubscribed THEN 0.0 ELSE 1.0 END)", Percent),
        m("sms_opt_in", "SMS opt-in", "avg(CASE WHEN sms_opt_in THEN 1.0 ELSE 0.0 END)", Percent),
        m("push_opt_in", "Push opt-in", "avg(CASE WHEN push_opt_in THEN 1.0 ELSE 0.0 END)", Percent),
    ]
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricValue {
    pub name: String,
    pub label: String,
    pub format: MetricFormat,
    pub segment: Option<f64>,
    pub base: Option<f64>,
    /// segment / base, when both are known and base is not zero.
    pub lift: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Profile {
    pub size: u64,
    pub base: u64,
    pub metrics: Vec<MetricValue>,
    /// Metrics left out, and why.
    pub notes: Vec<String>,
    /// Where the metrics came from (inferred from the schema, or a file).
    pub source: MetricSource,
}

/// Share of base rows where a column the filter reads is NULL: customers the filter cannot judge.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Unsegmentable {
    pub columns: Vec<String>,
    pub count: u64,
    pub share: f64,
}

/// The metrics an engine uses once bound: what bound, what was left out and why, and where they
/// came from.
#[derive(Debug, Clone, Default)]
pub struct Installed {
    pub metrics: Vec<MetricDef>,
    pub rollups: Vec<Rollup>,
    pub notes: Vec<String>,
    pub source: MetricSource,
}

/// Figures that depend only on the database, computed once per engine.
#[derive(Debug, Clone, Default)]
pub struct Memo {
    pub base_profile: Option<Vec<Option<f64>>>,
    pub unsegmentable: BTreeMap<Vec<String>, u64>,
    pub base_breakdown: BTreeMap<String, BTreeMap<Option<String>, u64>>,
    /// Per numeric column: its bin width (and whether it is an integer), or None for no bins.
    pub bins: BTreeMap<String, Option<(f64, bool)>>,
    pub schema: Option<super::schema::Schema>,
    /// The data's latest date, once looked for (None inside: the data has no dates).
    pub latest_date: Option<Option<chrono::NaiveDate>>,
}

/// Data whose latest date is more than a year before today gets a note naming `--as-of`.
const STALE_DAYS: i64 = 365;

impl Engine {
    /// The metrics in use, bound on first use (inferred from the schema when none were given).
    pub(crate) fn metrics_installed(&self) -> &Installed {
        self.installed.get_or_init(|| {
            let set = self.metric_set.clone().unwrap_or_else(|| MetricSet {
                file: super::infer::infer(self.conn(), self.table(), self.key(), self.columns()),
                source: MetricSource::Inferred,
            });
            self.install_metrics(set)
        })
    }

    /// Keeps the rollups that bind and the metrics that bind over them; the rest are left out
    /// with a note naming them (a metric over a column this data lacks is not an error).
    fn install_metrics(&self, set: MetricSet) -> Installed {
        let mut out = Installed { source: set.source, ..Default::default() };
        // Each kept rollup's SELECT, computed once here (it looks up the related key's type).
        let mut selects = Vec::new();
        for r in set.file.rollup {
            // Every SQL fragment from a file is one expression, or DuckDB never sees it.
            if let Some(e) = r.columns.values().find_map(|sql| crate::engine::text::filter::check_fragment(sql).err()) {
                out.notes.push(format!("rollup {} left out: a column is not one expression: {e}", r.name));
                continue;
            }
            let select = self.rollup_query(&r);
            match self.conn().prepare(&format!("SELECT * FROM ({select}) LIMIT 0")) {
                Ok(_) => {
                    out.rollups.push(r);
                    selects.push(select);
                }
                Err(e) => {
                    let why = crate::engine::conn::error::DuckMessage::parse(&e).headline();
                    out.notes.push(format!("rollup {} left out: {why}", r.name));
                }
            }
        }
        // Bound against each rollup's own select (nothing runs: LIMIT 0), before any is kept.
        let inline = self.joins(&out.rollups, |i, _| format!("({})", selects[i]));
        let (before, after) = around_filter(&self.table_sql(), &inline);
        let from = format!("{before}TRUE{after}");
        for d in set.file.metric {
            // Never give DuckDB a metric that is not one expression: `prepare` would run its extra
            // statements, and a `)` closing the wrapper would shift every later column.
            if let Err(e) = crate::engine::text::filter::check_fragment(&d.sql) {
                out.notes.push(format!("metric {} left out: its sql is not one expression: {e}", d.name));
                continue;
            }
            let sql = format!("SELECT CAST(({}) AS DOUBLE) FROM {from} LIMIT 0", d.sql);
            match self.conn().prepare(&sql) {
                Ok(_) => out.metrics.push(d),
                Err(e) => {
                    let why = crate::engine::conn::error::DuckMessage::parse(&e).headline();
                    out.notes.push(format!("metric {} left out: {why}", d.name));
                }
            }
        }
        out
    }

    fn metric_select(&self) -> String {
        let mut cols: Vec<String> = self.metrics().iter().map(|d| format!("CAST(({}) AS DOUBLE)", d.sql)).collect();
        cols.insert(0, "count(*)".to_string());
        cols.join(", ")
    }

    /// The FROM clause of a profile around its filter, as (before, after): the entity rows
    /// passing the filter (kept under the table's own name, so metrics may qualify columns with
    /// it), joined to each kept rollup (built first if need be). With rollups the filter runs in
    /// its own subquery, exactly as in a size query, so a rollup's columns can never make a column
    /// of the filter ambiguous.
    pub(crate) fn profile_from(&self) -> Result<(String, String)> {
        let joins = self.rollup_joins()?;
        Ok(around_filter(&self.table_sql(), &joins))
    }

    pub(crate) fn profile_from_filter(&self, filter: &str) -> Result<String> {
        let (before, after) = self.profile_from()?;
        Ok(format!("{before}{filter}{after}"))
    }

    /// The SQL `profile` runs for the segment (for benchmarks against DuckDB).
    pub fn profile_sql(&self, f: &Compiled) -> Result<String> {
        Ok(format!("SELECT {} FROM {}", self.metric_select(), self.profile_from_filter(&format!("(\n{}\n)", f.sql))?))
    }

    fn base_profile(&self) -> Result<Vec<Option<f64>>> {
        if let Some(p) = &self.memo.borrow().base_profile {
            return Ok(p.clone());
        }
        let sql = format!("SELECT {} FROM {}", self.metric_select(), self.profile_from_filter("TRUE")?);
        let values = read_metrics(self, &sql, self.metrics().len())?.1;
        self.memo.borrow_mut().base_profile = Some(values.clone());
        Ok(values)
    }

    /// The engagement profile of the segment beside the base, in one scan of the segment (the
    /// base profile is computed once per engine).
    pub fn profile(&self, f: &Compiled) -> Result<Profile> {
        let mut q = SqlBuilder::new();
        let (before, after) = self.profile_from()?;
        q.push(&format!("SELECT {} FROM {before}", self.metric_select()));
        q.filter_cached(self, f)?;
        q.push(&after);
        let n = self.metrics().len();
        let (size, seg) = q.run(self, |s| {
            s.query_row([], |r| {
                let size: i64 = r.get(0)?;
                let vals = (0..n).map(|i| r.get::<_, Option<f64>>(i + 1)).collect::<duckdb::Result<Vec<_>>>()?;
                Ok((size as u64, vals))
            })
        })?;
        let base = self.base_profile()?;
        let metrics = self
            .metrics()
            .iter()
            .zip(seg.into_iter().zip(base))
            .map(|(d, (s, b))| MetricValue {
                name: d.name.clone(),
                label: d.label.clone(),
                format: d.format,
                segment: s,
                base: b,
                lift: match (s, b) {
                    // A segment's total against the base total is its share, not a lift.
                    _ if is_total(&d.sql) => None,
                    (Some(s), Some(b)) if b != 0.0 => Some(s / b),
                    _ => None,
                },
            })
            .collect();
        Ok(Profile {
            size,
            base: self.base_size(),
            metrics,
            notes: self.profile_notes()?,
            source: self.metric_source().clone(),
        })
    }

    /// What a profile says beside its figures: metrics left out, related rows no customer owns.
    pub fn profile_notes(&self) -> Result<Vec<String>> {
        let mut notes = self.metric_notes().to_vec();
        if !self.rollups().is_empty() {
            notes.extend(self.kept_rollups(&|_, _| {})?.notes());
        }
        let today = self.today.get();
        if let Some(latest) = self.latest_date()?
            && (today - latest).num_days() > STALE_DAYS
        {
            notes.push(format!(
                "the data's latest date is {latest}, {} days before {today}: days-since figures count from {today}; --as-of {latest} measures them as of the data's end",
                crate::format::count((today - latest).num_days() as u64)
            ));
        }
        Ok(notes)
    }

    /// The latest date in the data: over the entity's DATE and TIMESTAMP columns and the kept
    /// rollups' date columns (a related table's last row). Computed once per engine.
    fn latest_date(&self) -> Result<Option<chrono::NaiveDate>> {
        if let Some(d) = self.memo.borrow().latest_date {
            return Ok(d);
        }
        let dated = super::infer::is_temporal;
        let mut parts: Vec<String> = self
            .columns()
            .iter()
            .filter(|c| dated(&c.ty))
            .map(|c| format!("(SELECT max(CAST({} AS DATE)) FROM {})", ident(&c.name), self.table_sql()))
            .collect();
        for (i, r) in self.rollups().iter().enumerate() {
            let kept = super::rollup::kept_table(i);
            let cols = match self.kept_columns(i) {
                Ok(cols) => cols,
                Err(crate::engine::EngineError::Cancelled) => return Err(crate::engine::EngineError::Cancelled),
                Err(_) => continue,
            };
            parts.extend(
                cols.iter()
                    .filter(|c| dated(&c.ty) && r.columns.contains_key(&c.name))
                    .map(|c| format!("(SELECT max(CAST({} AS DATE)) FROM {kept})", ident(&c.name))),
            );
        }
        let latest = if parts.is_empty() {
            None
        } else {
            let sql = format!("SELECT CAST(greatest({}) AS VARCHAR)", parts.join(", "));
            match self.run(&sql, plain_error, |s| s.query_row([], |r| r.get::<_, Option<String>>(0))) {
                Ok(text) => text.and_then(|t| chrono::NaiveDate::parse_from_str(&t, "%Y-%m-%d").ok()),
                Err(crate::engine::EngineError::Cancelled) => return Err(crate::engine::EngineError::Cancelled),
                // A column DuckDB cannot turn into a date here: no note, never a failed profile.
                Err(_) => None,
            }
        };
        self.memo.borrow_mut().latest_date = Some(latest);
        Ok(latest)
    }

    /// The columns of the `i`-th kept rollup table.
    fn kept_columns(&self, i: usize) -> Result<Vec<crate::engine::Column>> {
        let sql = format!(
            "SELECT column_name, data_type FROM duckdb_columns() WHERE database_name = '{}' AND table_name = 'r_{i}'",
            super::rollup::KEPT_DB
        );
        self.run(&sql, EngineError::from, |s| {
            s.query_map([], |r| Ok(crate::engine::Column { name: r.get(0)?, ty: r.get(1)? }))?.collect()
        })
    }

    /// Rows of the base where any column the filter reads is NULL.
    pub fn unsegmentable(&self, f: &Compiled) -> Result<Unsegmentable> {
        let columns = self.columns_used(f);
        if columns.is_empty() {
            return Ok(Unsegmentable { columns, count: 0, share: 0.0 });
        }
        let memo = self.memo.borrow().unsegmentable.get(&columns).copied();
        let count = match memo {
            Some(c) => c,
            None => {
                let cond = columns.iter().map(|c| format!("{} IS NULL", ident(c))).collect::<Vec<_>>().join(" OR ");
                let sql = format!("SELECT count(*) FROM {} WHERE {cond}", self.table_sql());
                let c = self.run(&sql, plain_error, |s| s.query_row([], |r| r.get::<_, i64>(0)))? as u64;
                self.memo.borrow_mut().unsegmentable.insert(columns.clone(), c);
                c
            }
        };
        let base = self.base_size();
        Ok(Unsegmentable { columns, count, share: if base == 0 { 0.0 } else { count as f64 / base as f64 } })
    }
}

/// A metric that adds up over customers (`sum(x)`, `count(*)`): it grows with the segment, so it
/// has no lift against the base.
pub fn is_total(sql: &str) -> bool {
    let s = sql.trim().to_ascii_lowercase();
    let Some(open) = ["sum(", "count("].iter().find_map(|f| s.starts_with(f).then_some(f.len() - 1)) else {
        return false;
    };
    // The call's own closing parenthesis ends the expression (not `sum(a) / sum(b)`).
    let mut depth = 0;
    for (i, c) in s.char_indices().skip(open) {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return i == s.len() - 1;
                }
            }
            _ => {}
        }
    }
    false
}

/// (before, after) around a filter: the entity rows passing it, named after the entity table,
/// then `joins`; no subquery when nothing is joined.
fn around_filter(t: &str, joins: &str) -> (String, String) {
    if joins.is_empty() {
        (format!("{t} WHERE "), String::new())
    } else {
        (format!("(SELECT * FROM {t} WHERE "), format!(") AS {t}{joins}"))
    }
}

fn read_metrics(engine: &Engine, sql: &str, n: usize) -> Result<(u64, Vec<Option<f64>>)> {
    engine.run(sql, plain_error, |s| {
        s.query_row([], |r| {
            let size: i64 = r.get(0)?;
            let vals = (0..n).map(|i| r.get::<_, Option<f64>>(i + 1)).collect::<duckdb::Result<Vec<_>>>()?;
            Ok((size as u64, vals))
        })
    })
}
