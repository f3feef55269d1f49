//! Engagement metrics of a segment beside the base: named SQL aggregates with defaults for the
//! sample schema, overridable per database in a TOML file. A metric whose columns the database
//! lacks is left out with a note, not an error.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Compiled, Engine, Result, SqlBuilder, ident};

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

/// `metrics.toml`: `[[metric]] name = "...", label = "...", sql = "...", format = "percent"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsFile {
    pub metric: Vec<MetricDef>,
}

pub fn parse_metrics(text: &str) -> std::result::Result<Vec<MetricDef>, toml::de::Error> {
    Ok(toml::from_str::<MetricsFile>(text)?.metric)
}

fn m(name: &str, label: &str, sql: &str, format: MetricFormat) -> MetricDef {
    MetricDef { name: name.into(), label: label.into(), sql: sql.into(), format }
}

/// Metrics for the sample schema (and any CRM table with the same column names).
pub fn default_metrics() -> Vec<MetricDef> {
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
}

/// Share of base rows where a column the filter reads is NULL: customers the filter cannot judge.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Unsegmentable {
    pub columns: Vec<String>,
    pub count: u64,
    pub share: f64,
}

/// Figures that depend only on the database, computed once per engine.
#[derive(Debug, Clone, Default)]
pub struct Memo {
    pub base_profile: Option<Vec<Option<f64>>>,
    pub unsegmentable: BTreeMap<Vec<String>, u64>,
    pub base_breakdown: BTreeMap<String, BTreeMap<Option<String>, u64>>,
    pub schema: Option<super::schema::Schema>,
}

impl Engine {
    pub(crate) fn install_metrics(&mut self, defs: Vec<MetricDef>) {
        for d in defs {
            // Never give DuckDB a metric that is not one expression: `prepare` would run its extra
            // statements, and a `)` closing the wrapper would shift every later column.
            if let Err(e) = super::filter::check_fragment(&d.sql) {
                self.metric_notes.push(format!("metric {} left out: its sql is not one expression: {e}", d.name));
                continue;
            }
            let sql = format!("SELECT CAST(({}) AS DOUBLE) FROM {} LIMIT 0", d.sql, self.table_sql());
            match self.conn().prepare(&sql) {
                Ok(_) => self.metrics.push(d),
                Err(e) => {
                    let why = super::error::DuckMessage::parse(&e).headline();
                    self.metric_notes.push(format!("metric {} left out: {why}", d.name));
                }
            }
        }
    }

    fn metric_select(&self) -> String {
        let mut cols: Vec<String> = self.metrics.iter().map(|d| format!("CAST(({}) AS DOUBLE)", d.sql)).collect();
        cols.insert(0, "count(*)".to_string());
        cols.join(", ")
    }

    /// The SQL `profile` runs for the segment (for benchmarks against DuckDB).
    pub fn profile_sql(&self, f: &Compiled) -> String {
        format!("SELECT {} FROM {} WHERE (\n{}\n)", self.metric_select(), self.table_sql(), f.sql)
    }

    fn base_profile(&self) -> Result<Vec<Option<f64>>> {
        if let Some(p) = &self.memo.borrow().base_profile {
            return Ok(p.clone());
        }
        let sql = format!("SELECT {} FROM {}", self.metric_select(), self.table_sql());
        let values = read_metrics(self, &sql, self.metrics.len())?.1;
        self.memo.borrow_mut().base_profile = Some(values.clone());
        Ok(values)
    }

    /// The engagement profile of the segment beside the base, in one scan of the segment (the
    /// base profile is computed once per engine).
    pub fn profile(&self, f: &Compiled) -> Result<Profile> {
        let mut q = SqlBuilder::new(self);
        q.push(&format!("SELECT {} FROM {} WHERE ", self.metric_select(), self.table_sql()));
        q.filter_cached(self, f)?;
        let n = self.metrics.len();
        let (size, seg) = q.prepare(self, |s| {
            s.query_row([], |r| {
                let size: i64 = r.get(0)?;
                let vals = (0..n).map(|i| r.get::<_, Option<f64>>(i + 1)).collect::<duckdb::Result<Vec<_>>>()?;
                Ok((size as u64, vals))
            })
        })?;
        let base = self.base_profile()?;
        let metrics = self
            .metrics
            .iter()
            .zip(seg.into_iter().zip(base))
            .map(|(d, (s, b))| MetricValue {
                name: d.name.clone(),
                label: d.label.clone(),
                format: d.format,
                segment: s,
                base: b,
                lift: match (s, b) {
                    (Some(s), Some(b)) if b != 0.0 => Some(s / b),
                    _ => None,
                },
            })
            .collect();
        Ok(Profile { size, base: self.base_size(), metrics, notes: self.metric_notes().to_vec() })
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
                let c = self
                    .conn()
                    .query_row(&sql, [], |r| r.get::<_, i64>(0))
                    .map_err(|e| SqlBuilder::new(self).map_error(e))? as u64;
                self.memo.borrow_mut().unsegmentable.insert(columns.clone(), c);
                c
            }
        };
        let base = self.base_size();
        Ok(Unsegmentable { columns, count, share: if base == 0 { 0.0 } else { count as f64 / base as f64 } })
    }
}

fn read_metrics(engine: &Engine, sql: &str, n: usize) -> Result<(u64, Vec<Option<f64>>)> {
    engine
        .conn()
        .query_row(sql, [], |r| {
            let size: i64 = r.get(0)?;
            let vals = (0..n).map(|i| r.get::<_, Option<f64>>(i + 1)).collect::<duckdb::Result<Vec<_>>>()?;
            Ok((size as u64, vals))
        })
        .map_err(|e| SqlBuilder::new(engine).map_error(e))
}
