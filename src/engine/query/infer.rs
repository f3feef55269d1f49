//! Profile metrics proposed from the schema when none are configured. A fixed rule (README,
//! "Metrics that fit the data"), never a guess per run: the same schema always gives the same
//! metrics, each exact SQL over the data.
//!
//! Over the entity table's columns (the key excluded), by name and type:
//! - `*open*` / `*click*` counts with a sibling `*send*` / `*sent*` / `*deliver*` column → rate
//!   (sum over sum);
//! - money (`spend`, `spent`, `amount`, `revenue`, `value`, `sales`, `ltv`, `gmv`) → average and
//!   total;
//! - counts (`orders`, `purchases`, `count`, `visits`, `transactions`, `frequency`) → average and
//!   share above zero;
//! - `score`, `risk`, `propensity`, `probability` → mean;
//! - `*days*` integers → median;
//! - DATE / TIMESTAMP columns → median days since (`last_*` first);
//! - BOOLEAN → share true.
//!
//! And for each other table with a column named like the entity's key (transactions, events,
//! activity): a rollup per customer and its recency, frequency and monetary metrics: median days
//! since the last row (its first date column), average rows per customer, share with any row, and
//! the average total of its first money column.

use std::collections::BTreeMap;

use crate::engine::conn::sandbox::ReadOnly as Connection;

use super::profile::{MetricDef, MetricFormat, MetricsFile, Rollup};
use super::schema::{columns, is_numeric, tables};
use crate::engine::{Column, ident};

/// At most this many metrics from the entity table's own columns (rollups come on top), so the
/// panel shows the strongest signals rather than every column.
const MAX_COLUMN_METRICS: usize = 12;

const MONEY: &[&str] = &["spend", "spent", "amount", "revenue", "value", "sales", "ltv", "gmv", "price"];
const COUNTS: &[&str] = &["orders", "purchases", "count", "visits", "transactions", "frequency", "sessions"];
const SCORES: &[&str] = &["score", "risk", "propensity", "probability"];
const SENDS: &[&str] = &["sends", "sent", "send", "delivered", "deliveries"];
/// Words that say a column already holds an aggregate.
const AVERAGES: &[&str] = &["avg", "average", "mean", "median"];
const TOTALS: &[&str] = &["total", "sum"];

/// "Avg" + "order_value" → "Avg Order value", but "Avg" + "avg_order_value" → "Avg order value"
/// (not "Avg avg order value"): a column whose name already says the aggregate keeps its name.
fn prefixed(aggregate: &str, column: &str) -> String {
    let first = words(column).into_iter().next().unwrap_or_default();
    let says = if aggregate == "Total" { TOTALS } else { AVERAGES };
    if says.contains(&first.as_str()) { humanize(column) } else { format!("{aggregate} {}", humanize(column)) }
}

fn words(name: &str) -> Vec<String> {
    name.to_ascii_lowercase()
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(String::from)
        .collect()
}

fn has_word(name: &str, list: &[&str]) -> bool {
    words(name).iter().any(|w| list.iter().any(|l| w == l || w.starts_with(l)))
}

fn is_integer(ty: &str) -> bool {
    let t = ty.to_ascii_uppercase();
    t.contains("INT") && !t.contains("INTERVAL")
}

pub(crate) fn is_temporal(ty: &str) -> bool {
    let t = ty.to_ascii_uppercase();
    t == "DATE" || t.starts_with("TIMESTAMP")
}

/// "newsletter_opens" → "Newsletter opens".
pub fn humanize(name: &str) -> String {
    let w = words(name).join(" ");
    let mut c = w.chars();
    c.next().map_or_else(String::new, |f| f.to_uppercase().chain(c).collect())
}

/// A metric name: lower-case word characters only.
fn slug(parts: &[&str]) -> String {
    parts.iter().flat_map(|p| words(p)).collect::<Vec<_>>().join("_")
}

fn metric(name: String, label: String, sql: String, format: MetricFormat) -> MetricDef {
    MetricDef { name, label, sql, format }
}

/// The sibling send column of an open/click column: the same words with the action word swapped.
fn denominator<'a>(col: &str, all: &'a [Column]) -> Option<&'a Column> {
    let w = words(col);
    let i = w.iter().position(|x| x.starts_with("open") || x.starts_with("click"))?;
    all.iter().find(|c| {
        let cw = words(&c.name);
        cw.len() == w.len()
            && is_numeric(&c.ty)
            && cw.iter().enumerate().all(|(j, x)| if j == i { SENDS.contains(&x.as_str()) } else { *x == w[j] })
    })
}

/// Metrics over the entity table's own columns, in the order the rule lists them.
fn column_metrics(entity: &[Column], key: &str) -> Vec<MetricDef> {
    use MetricFormat::*;
    let cols: Vec<&Column> = entity.iter().filter(|c| c.name != key).collect();
    let mut out = Vec::new();
    for c in &cols {
        if is_numeric(&c.ty)
            && let Some(d) = denominator(&c.name, entity)
        {
            out.push(metric(
                slug(&[&c.name, "rate"]),
                format!("{} rate", humanize(&c.name)),
                format!("sum({}) / nullif(sum({}), 0)", ident(&c.name), ident(&d.name)),
                Percent,
            ));
        }
    }
    for c in cols.iter().filter(|c| is_numeric(&c.ty) && has_word(&c.name, MONEY)) {
        out.push(metric(slug(&["avg", &c.name]), prefixed("Avg", &c.name), format!("avg({})", ident(&c.name)), Money));
        // A column that is itself an average (`avg_order_value`) has no meaningful sum.
        if !words(&c.name).iter().any(|w| AVERAGES.contains(&w.as_str())) {
            out.push(metric(
                slug(&["total", &c.name]),
                prefixed("Total", &c.name),
                format!("sum({})", ident(&c.name)),
                Money,
            ));
        }
    }
    for c in cols.iter().filter(|c| is_numeric(&c.ty) && has_word(&c.name, COUNTS) && !has_word(&c.name, MONEY)) {
        out.push(metric(slug(&["avg", &c.name]), prefixed("Avg", &c.name), format!("avg({})", ident(&c.name)), Number));
        out.push(metric(
            slug(&["any", &c.name]),
            format!("Share with {}", humanize(&c.name)),
            format!("avg(CASE WHEN {} > 0 THEN 1.0 ELSE 0.0 END)", ident(&c.name)),
            Percent,
        ));
    }
    for c in cols.iter().filter(|c| is_numeric(&c.ty) && has_word(&c.name, SCORES)) {
        out.push(metric(slug(&["avg", &c.name]), prefixed("Avg", &c.name), format!("avg({})", ident(&c.name)), Number));
    }
    for c in cols.iter().filter(|c| is_integer(&c.ty) && words(&c.name).iter().any(|w| w == "days")) {
        out.push(metric(
            slug(&["median", &c.name]),
            format!("Median {}", humanize(&c.name)),
            format!("median({})", ident(&c.name)),
            Days,
        ));
    }
    let mut dates: Vec<&&Column> = cols.iter().filter(|c| is_temporal(&c.ty)).collect();
    dates.sort_by_key(|c| !words(&c.name).iter().any(|w| w == "last" || w == "recent"));
    for c in dates {
        out.push(metric(
            slug(&["days_since", &c.name]),
            format!("Days since {}", humanize(&c.name).to_lowercase()),
            format!("median(current_date - CAST({} AS DATE))", ident(&c.name)),
            Days,
        ));
    }
    for c in cols.iter().filter(|c| c.ty.eq_ignore_ascii_case("BOOLEAN")) {
        out.push(metric(
            slug(&["share", &c.name]),
            humanize(&c.name),
            format!("avg(CASE WHEN {} THEN 1.0 ELSE 0.0 END)", ident(&c.name)),
            Percent,
        ));
    }
    // One metric per name (a column can match two rules).
    let mut seen = std::collections::BTreeSet::new();
    out.retain(|m| seen.insert(m.name.clone()));
    out.truncate(MAX_COLUMN_METRICS);
    out
}

/// A rollup name: the table's words, short and safe as an identifier.
fn rollup_name(table: &str) -> String {
    let s = slug(&[table]);
    if s.is_empty() || s.starts_with(|c: char| c.is_ascii_digit()) { format!("r_{s}") } else { s }
}

/// Rollups and their metrics for every table that references the entity's key.
fn related_metrics(conn: &Connection, entity: &str, key: &str) -> crate::engine::Result<(Vec<Rollup>, Vec<MetricDef>)> {
    use MetricFormat::*;
    let (mut rollups, mut metrics) = (Vec::new(), Vec::new());
    for t in tables(conn)? {
        if t == entity {
            continue;
        }
        let cols = columns(conn, &t)?;
        let Some(k) = cols.iter().find(|c| c.name.eq_ignore_ascii_case(key)) else { continue };
        let name = rollup_name(&t);
        let label = humanize(&t);
        let mut rc = BTreeMap::new();
        rc.insert("rows".to_string(), "count(*)".to_string());
        let date = cols
            .iter()
            .filter(|c| is_temporal(&c.ty))
            .min_by_key(|c| !words(&c.name).iter().any(|w| ["date", "at", "on", "time"].contains(&w.as_str())));
        if let Some(d) = date {
            rc.insert("last".to_string(), format!("max(CAST({} AS DATE))", ident(&d.name)));
        }
        let money = cols.iter().find(|c| c.name != k.name && is_numeric(&c.ty) && has_word(&c.name, MONEY));
        if let Some(m) = money {
            rc.insert("total".to_string(), format!("sum({})", ident(&m.name)));
        }
        let n = ident(&name);
        if date.is_some() {
            metrics.push(metric(
                slug(&[&name, "days_since_last"]),
                format!("{label}: days since last"),
                format!("median(current_date - {n}.last)"),
                Days,
            ));
        }
        metrics.push(metric(
            slug(&[&name, "per_customer"]),
            format!("{label} per customer"),
            format!("avg(coalesce({n}.rows, 0))"),
            Number,
        ));
        metrics.push(metric(
            slug(&[&name, "any"]),
            format!("Share with {}", label.to_lowercase()),
            format!("avg(CASE WHEN {n}.rows > 0 THEN 1.0 ELSE 0.0 END)"),
            Percent,
        ));
        if let Some(m) = money {
            metrics.push(metric(
                slug(&[&name, &m.name, "per_customer"]),
                format!("{label}: {} per customer", humanize(&m.name).to_lowercase()),
                format!("avg(coalesce({n}.total, 0))"),
                Money,
            ));
        }
        rollups.push(Rollup { name, table: t.clone(), key: k.name.clone(), columns: rc });
    }
    Ok((rollups, metrics))
}

/// The metrics the rule proposes for `entity` (by `key`) in this database.
pub fn infer(conn: &Connection, entity: &str, key: &str, entity_columns: &[Column]) -> MetricsFile {
    let mut metric = column_metrics(entity_columns, key);
    let (rollup, related) = related_metrics(conn, entity, key).unwrap_or_default();
    // Recency, frequency and monetary from the related rows lead: they are what a CRM profile is about.
    metric.splice(0..0, related);
    MetricsFile { rollup, metric }
}
