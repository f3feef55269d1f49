//! The same segment on another engine: a compiled filter (DuckDB SQL, features expanded, params
//! bound) translated to Spark, Trino, BigQuery, Snowflake or PostgreSQL, with `current_date`
//! pinned to the as-of date.
//!
//! The filter is parsed by `sqlparser` (Apache DataFusion's parser, DuckDB dialect) and written
//! out again by `emit.rs`, which knows only an allow-list of constructs and how each one means the
//! same on every target (string escapes, date arithmetic, division, LIKE escapes, NULL logic).
//! Anything outside the list is refused, naming the construct: SQL is never emitted wrong.
//! For DuckDB itself the text is kept as written, with only `current_date`/`today()` pinned.

mod arms;
mod catalog;
mod dates;
mod emit;
mod functions;
mod query;

use std::fmt;

use chrono::NaiveDate;

pub use catalog::{Catalog, Ty};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dialect {
    DuckDb,
    Spark,
    Trino,
    BigQuery,
    Snowflake,
    Postgres,
}

impl Dialect {
    pub const ALL: [Dialect; 6] =
        [Dialect::DuckDb, Dialect::Spark, Dialect::Trino, Dialect::BigQuery, Dialect::Snowflake, Dialect::Postgres];

    pub fn name(self) -> &'static str {
        match self {
            Dialect::DuckDb => "duckdb",
            Dialect::Spark => "spark",
            Dialect::Trino => "trino",
            Dialect::BigQuery => "bigquery",
            Dialect::Snowflake => "snowflake",
            Dialect::Postgres => "postgres",
        }
    }

    pub fn parse(s: &str) -> Option<Dialect> {
        let s = s.trim().to_ascii_lowercase();
        let alias = match s.as_str() {
            "databricks" | "sparksql" | "spark-sql" => "spark",
            "postgresql" | "pg" | "redshift-postgres" => "postgres",
            "presto" | "athena" => "trino",
            other => other,
        };
        Dialect::ALL.into_iter().find(|d| d.name() == alias)
    }

    /// An identifier, quoted so that any name (spaces, quotes, keywords, mixed case) survives.
    /// Snowflake is the exception for plain lower-case names: it folds unquoted names to upper
    /// case, and a table loaded without quotes is `CUSTOMERS`, which `"customers"` would miss.
    pub fn ident(self, name: &str) -> String {
        match self {
            Dialect::Snowflake if is_plain_name(name) => name.to_string(),
            Dialect::Spark => format!("`{}`", name.replace('`', "``")),
            Dialect::BigQuery => format!("`{}`", name.replace('\\', "\\\\").replace('`', "\\`")),
            Dialect::DuckDb | Dialect::Trino | Dialect::Postgres | Dialect::Snowflake => crate::engine::ident(name),
        }
    }

    /// A string literal with this dialect's escapes. Spark, BigQuery and Snowflake read a
    /// backslash in a string as an escape, so it is doubled there; `'` is `\'` where `''` is
    /// not a quote (Spark reads `'a''b'` as two adjacent literals: `ab`).
    pub fn string(self, s: &str) -> String {
        match self {
            Dialect::Spark | Dialect::BigQuery => {
                let mut out = String::with_capacity(s.len() + 2);
                out.push('\'');
                for c in s.chars() {
                    match c {
                        '\\' => out.push_str("\\\\"),
                        '\'' => out.push_str("\\'"),
                        '\n' if self == Dialect::BigQuery => out.push_str("\\n"),
                        '\r' if self == Dialect::BigQuery => out.push_str("\\r"),
                        c => out.push(c),
                    }
                }
                out.push('\'');
                out
            }
            Dialect::Snowflake => format!("'{}'", s.replace('\\', "\\\\").replace('\'', "''")),
            Dialect::DuckDb | Dialect::Trino | Dialect::Postgres => crate::engine::literal(s),
        }
    }
}

/// A lower-case name that needs no quotes and is no keyword Snowflake reserves.
fn is_plain_name(name: &str) -> bool {
    const RESERVED: &[&str] = &[
        "all",
        "alter",
        "and",
        "any",
        "as",
        "between",
        "by",
        "case",
        "cast",
        "check",
        "column",
        "connect",
        "create",
        "current",
        "current_date",
        "current_time",
        "current_timestamp",
        "current_user",
        "delete",
        "distinct",
        "drop",
        "else",
        "exists",
        "false",
        "following",
        "for",
        "from",
        "full",
        "grant",
        "group",
        "having",
        "ilike",
        "in",
        "increment",
        "insert",
        "intersect",
        "into",
        "is",
        "join",
        "lateral",
        "left",
        "like",
        "localtime",
        "localtimestamp",
        "minus",
        "natural",
        "not",
        "null",
        "of",
        "on",
        "or",
        "order",
        "qualify",
        "regexp",
        "revoke",
        "right",
        "rlike",
        "row",
        "rows",
        "sample",
        "select",
        "set",
        "some",
        "start",
        "table",
        "tablesample",
        "then",
        "to",
        "trigger",
        "true",
        "try_cast",
        "union",
        "unique",
        "update",
        "using",
        "values",
        "view",
        "when",
        "whenever",
        "where",
        "with",
    ];
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !RESERVED.contains(&name)
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// SQL that cannot be translated faithfully: the construct and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot translate {construct} to {dialect} faithfully: {why}")]
pub struct Untranslatable {
    pub dialect: Dialect,
    pub construct: String,
    pub why: String,
}

/// Where a segment's SQL is going: the dialect, the date `current_date` means, the tables' names
/// and types (for quoting and date arithmetic), and the entity table and key.
pub struct Target<'a> {
    pub dialect: Dialect,
    pub as_of: NaiveDate,
    pub catalog: &'a Catalog,
    pub table: &'a str,
    pub key: &'a str,
}

impl Target<'_> {
    /// The boolean expression `filter` (compiled DuckDB SQL) means, in the target dialect.
    pub fn filter(&self, filter: &str) -> Result<String, Untranslatable> {
        match self.dialect {
            Dialect::DuckDb => Ok(crate::engine::text::tokens::pin_current_date(filter, self.as_of)),
            _ => emit::translate(self, filter),
        }
    }

    /// `SELECT key FROM table WHERE filter` in the target dialect.
    pub fn select(&self, filter: &str) -> Result<String, Untranslatable> {
        self.select_list(filter, &self.dialect.ident(self.key_name()))
    }

    /// `SELECT list FROM table WHERE filter` in the target dialect.
    fn select_list(&self, filter: &str, list: &str) -> Result<String, Untranslatable> {
        let where_ = self.filter(filter)?;
        Ok(format!("SELECT {list} FROM {} WHERE (\n{}\n)", self.dialect.ident(self.table_name()), where_.trim()))
    }

    /// The entity table and its key, spelled as the database spells them.
    fn table_name(&self) -> &str {
        self.catalog.table_name(self.table).unwrap_or(self.table)
    }

    fn key_name(&self) -> &str {
        self.catalog.column_name(self.table_name(), self.key).unwrap_or(self.key)
    }
}

/// A dbt test (it fails when it returns a row) that the model `model` selects `expected` rows.
pub fn dbt_count_test(model: &str, expected: u64) -> String {
    format!("SELECT count(*) AS customers FROM {{{{ ref('{model}') }}}} HAVING count(*) <> {expected}")
}

/// A dbt test that the model `model` puts `expected` customers in the arm `arm` (a plain name,
/// `Arms::bounds` checks, so its literal is the same in every dialect).
pub fn dbt_arm_count_test(model: &str, arm: &str, expected: u64) -> String {
    format!(
        "SELECT count(*) AS customers FROM {{{{ ref('{model}') }}}} WHERE arm = '{arm}' HAVING count(*) <> {expected}"
    )
}

/// `text` as dbt's Jinja renders it back: each `{{`, `{%` and `{#` becomes an expression that
/// prints it (`{{ '{%' }}`), so nothing in it runs. dbt renders every model and test file before
/// any SQL is sent, comments and string literals included: a template's intent, a string default
/// or a `{{param}}` in a filter would otherwise be Jinja, run with the deployer's credentials.
pub fn dbt_literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, chars.peek().copied()) {
            ('{', Some(n @ ('{' | '%' | '#'))) => {
                chars.next();
                out.push_str(&format!("{{{{ '{{{n}' }}}}"));
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dbt_literal_leaves_no_jinja_delimiter_but_its_own() {
        let text = "-- {% do run_query('x') %} {{ y }} {# z #} {{{ {{% {#{ a{b }} %} #} {% endraw %} {";
        let out = dbt_literal(text);
        assert_eq!(dbt_literal("a {{s}} {%x%} {#c#}"), "a {{ '{{' }}s}} {{ '{%' }}x%} {{ '{#' }}c#}");
        // Take out the printing expressions: no delimiter is left for Jinja to read.
        let mut rest = out.clone();
        for n in ["{{ '{{' }}", "{{ '{%' }}", "{{ '{#' }}"] {
            rest = rest.replace(n, "");
        }
        assert!(!rest.contains("{{") && !rest.contains("{%") && !rest.contains("{#"), "{out}");
        // Rendered (each expression prints its string), the text comes back as it was.
        let mut back = out;
        for n in ["{{", "{%", "{#"] {
            back = back.replace(&format!("{{{{ '{n}' }}}}"), n);
        }
        assert_eq!(back, text);
    }

    #[test]
    fn strings_and_identifiers_are_escaped_per_dialect() {
        assert_eq!(Dialect::Spark.string(r"it's a\b"), r"'it\'s a\\b'");
        assert_eq!(Dialect::Postgres.string(r"it's a\b"), r"'it''s a\b'");
        assert_eq!(Dialect::Snowflake.string(r"it's a\b"), r"'it''s a\\b'");
        assert_eq!(Dialect::Spark.ident("Club `Members`"), "`Club ``Members```");
        assert_eq!(Dialect::Postgres.ident("Club \"M\""), "\"Club \"\"M\"\"\"");
        assert_eq!(Dialect::Snowflake.ident("customers"), "customers");
        assert_eq!(Dialect::Snowflake.ident("order"), "\"order\"");
        assert_eq!(Dialect::Snowflake.ident("Club Members"), "\"Club Members\"");
        assert_eq!(Dialect::parse("PostgreSQL"), Some(Dialect::Postgres));
        assert_eq!(Dialect::parse("oracle"), None);
    }
}
