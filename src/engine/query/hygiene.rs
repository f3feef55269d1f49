//! Data hygiene of the entity table, the checklist CRM teams run before a campaign, measured
//! exactly in two scans:
//! 1. NULL counts of every column, distinct estimates of the text columns, and the rows each
//!    approved segment cannot judge (NULL in a column it reads);
//! 2. one GROUP BY GROUPING SETS over the identity-like columns, normalised (`lower(trim())`;
//!    digits only for phones), and the categorical text columns: duplicate identities, and
//!    near-duplicate spellings by OpenRefine's fingerprint key (case, surrounding and inner
//!    whitespace, punctuation, accents, token order).

use serde::Serialize;

use crate::engine::{Column, Compiled, Engine, Result, ident, plain_error};

/// Text columns with at most this many distinct values (estimated) are checked for variants.
pub const CATEGORICAL_MAX: u64 = 1000;
/// Duplicate examples listed per identity column.
pub const EXAMPLES: usize = 5;
/// Identity and categorical columns grouped by one scan (see `Engine::hygiene`).
const SETS_PER_SCAN: usize = 32;
/// The share of the base a segment cannot judge above which it is flagged (the sources' alarm level).
pub const UNJUDGED_ALARM: f64 = 0.2;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentityKind {
    Email,
    Phone,
    ExternalId,
}

impl IdentityKind {
    /// How values are normalised before they are compared, in words (the JSON `normalised`).
    pub fn normalised(self) -> &'static str {
        match self {
            IdentityKind::Email | IdentityKind::ExternalId => "lower(trim())",
            IdentityKind::Phone => "digits only",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ValueCount {
    pub value: String,
    pub count: u64,
}

/// Spellings of one categorical value that share a fingerprint key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Variants {
    pub key: String,
    /// Most frequent first.
    pub values: Vec<ValueCount>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ColumnHygiene {
    pub name: String,
    pub ty: String,
    pub nulls: u64,
    pub null_share: f64,
    /// Whether the column was checked for spelling variants (a text column with few values).
    pub categorical: bool,
    pub variants: Vec<Variants>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Duplicates {
    pub column: String,
    pub kind: IdentityKind,
    /// The normalisation applied before comparing.
    pub normalised: &'static str,
    /// Distinct normalised values that occur more than once.
    pub values: u64,
    /// Rows holding one of those values.
    pub rows: u64,
    /// The most repeated normalised values.
    pub examples: Vec<ValueCount>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SegmentUnjudged {
    pub name: String,
    pub columns: Vec<String>,
    pub count: u64,
    pub share: f64,
    pub flagged: bool,
}

/// Rows of the base that approved segments cannot judge: per segment, and for all of them
/// together (NULL in any column any of them reads).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Unjudged {
    pub columns: Vec<String>,
    pub count: u64,
    pub share: f64,
    pub flagged: bool,
    pub segments: Vec<SegmentUnjudged>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hygiene {
    pub table: String,
    pub rows: u64,
    pub columns: Vec<ColumnHygiene>,
    pub duplicates: Vec<Duplicates>,
    pub unjudged: Unjudged,
}

/// What a column's name and type say it is: an identity (to check for duplicates) or not.
pub fn identity_kind(c: &Column, key: &str) -> Option<IdentityKind> {
    if c.name == key {
        return None;
    }
    let lower = c.name.to_ascii_lowercase();
    let parts: Vec<&str> = lower.split(|ch: char| !ch.is_ascii_alphanumeric()).filter(|p| !p.is_empty()).collect();
    let has = |words: &[&str]| parts.iter().any(|p| words.contains(p));
    let ty = c.ty.to_ascii_uppercase();
    let text = ty == "VARCHAR";
    let integer = matches!(ty.as_str(), "BIGINT" | "UBIGINT" | "HUGEINT" | "UHUGEINT" | "INTEGER" | "UINTEGER");
    if text && (lower.contains("email") || has(&["mail", "e_mail"])) {
        Some(IdentityKind::Email)
    } else if (text || integer) && (lower.contains("phone") || has(&["mobile", "msisdn", "tel", "cell"])) {
        Some(IdentityKind::Phone)
    } else if (text || ty == "UUID" || (integer && has(&["external", "ext"])))
        && (has(&["external", "ext", "uuid", "guid", "ref", "reference"]) || (text && parts.last() == Some(&"id")))
    {
        Some(IdentityKind::ExternalId)
    } else {
        None
    }
}

/// The SQL normalising an identity column's values (NULL for an empty result).
fn normalise(kind: IdentityKind, col: &str) -> String {
    let c = format!("CAST({} AS VARCHAR)", ident(col));
    match kind {
        IdentityKind::Email | IdentityKind::ExternalId => format!("nullif(lower(trim({c})), '')"),
        IdentityKind::Phone => format!("nullif(regexp_replace({c}, '[^0-9]', '', 'g'), '')"),
    }
}

/// OpenRefine's fingerprint key of text `x`: lower case, accents stripped, ASCII punctuation
/// removed, whitespace collapsed, unique tokens sorted and joined by one space.
pub fn fingerprint_sql(x: &str) -> String {
    format!(
        "array_to_string(list_sort(list_distinct(string_split(trim(regexp_replace(regexp_replace(\
strip_accents(lower({x})), '[[:punct:]]', '', 'g'), '\\s+', ' ', 'g')), ' '))), ' ')"
    )
}

/// A row of the second scan: (set index, value, count, fingerprint key, repeating values, rows
/// involved).
type GroupRow = (usize, String, u64, String, u64, u64);

/// A column the second scan groups by: an identity column (normalised) or a categorical one.
struct Set {
    column: String,
    identity: Option<IdentityKind>,
    expr: String,
}

impl Engine {
    /// The identity and categorical columns of the entity table and the SQL each is grouped by;
    /// categorical needs the distinct estimates of the first scan.
    fn hygiene_sets(&self, distinct: &[(String, u64)]) -> Vec<Set> {
        let mut sets: Vec<Set> = self
            .columns()
            .iter()
            .filter_map(|c| {
                let kind = identity_kind(c, self.key())?;
                Some(Set { column: c.name.clone(), identity: Some(kind), expr: normalise(kind, &c.name) })
            })
            .collect();
        for (name, d) in distinct {
            if sets.iter().all(|s| &s.column != name) && (2..=CATEGORICAL_MAX).contains(d) && name != self.key() {
                sets.push(Set { column: name.clone(), identity: None, expr: ident(name) });
            }
        }
        sets
    }

    /// Text columns that may be categorical: not the key and not an identity (whose distinct
    /// count would cost a second hash of every email for nothing).
    fn text_columns(&self) -> Vec<&Column> {
        self.columns()
            .iter()
            .filter(|c| {
                c.ty.eq_ignore_ascii_case("VARCHAR") && c.name != self.key() && identity_kind(c, self.key()).is_none()
            })
            .collect()
    }

    /// The hygiene report; `approved` are the library's approved segments (name, compiled filter).
    pub fn hygiene(&self, approved: &[(String, &Compiled)]) -> Result<Hygiene> {
        let rows = self.base_size();
        let share = |n: u64| if rows == 0 { 0.0 } else { n as f64 / rows as f64 };
        let seg_columns: Vec<Vec<String>> = approved.iter().map(|(_, f)| self.columns_used(f)).collect();
        let mut all_used: Vec<String> = Vec::new();
        for c in self.columns() {
            if seg_columns.iter().any(|cols| cols.contains(&c.name)) {
                all_used.push(c.name.clone());
            }
        }
        // Scan 1.
        let text = self.text_columns();
        let figures = self.hygiene_counts(&text, &seg_columns, &all_used)?;
        let ncols = self.columns().len();
        let (non_null, rest) = figures.split_at(ncols);
        let (distinct, rest) = rest.split_at(text.len());
        let (per_segment, total) = rest.split_at(approved.len());
        let distinct: Vec<(String, u64)> = text.iter().map(|c| c.name.clone()).zip(distinct.iter().copied()).collect();
        let sets = self.hygiene_sets(&distinct);

        let mut columns: Vec<ColumnHygiene> = self
            .columns()
            .iter()
            .zip(non_null)
            .map(|(c, &nn)| ColumnHygiene {
                name: c.name.clone(),
                ty: c.ty.clone(),
                nulls: rows.saturating_sub(nn),
                null_share: share(rows.saturating_sub(nn)),
                categorical: sets.iter().any(|s| s.identity.is_none() && s.column == c.name),
                variants: Vec::new(),
            })
            .collect();
        let mut duplicates: Vec<Duplicates> = sets
            .iter()
            .filter_map(|s| {
                let kind = s.identity?;
                Some(Duplicates {
                    column: s.column.clone(),
                    kind,
                    normalised: kind.normalised(),
                    values: 0,
                    rows: 0,
                    examples: Vec::new(),
                })
            })
            .collect();
        self.fill_groups(&sets, &mut columns, &mut duplicates)?;
        for c in &mut columns {
            c.variants.sort_by(|x, y| {
                let rows = |g: &Variants| g.values.iter().map(|v| v.count).sum::<u64>();
                rows(y).cmp(&rows(x)).then_with(|| x.key.cmp(&y.key))
            });
        }
        let segments = approved
            .iter()
            .zip(seg_columns)
            .zip(per_segment)
            .map(|(((name, _), cols), &count)| SegmentUnjudged {
                name: name.clone(),
                columns: cols,
                count,
                share: share(count),
                flagged: share(count) > UNJUDGED_ALARM,
            })
            .collect();
        let total = total.first().copied().unwrap_or(0);
        Ok(Hygiene {
            table: self.table().to_string(),
            rows,
            columns,
            duplicates,
            unjudged: Unjudged {
                columns: all_used,
                count: total,
                share: share(total),
                flagged: share(total) > UNJUDGED_ALARM,
                segments,
            },
        })
    }

    /// Scan 1: non-NULL counts of every column, distinct estimates of the `text` columns, and
    /// the rows where a column each approved segment reads (`seg_columns`), or any of them
    /// (`all_used`), is NULL; in that order.
    fn hygiene_counts(&self, text: &[&Column], seg_columns: &[Vec<String>], all_used: &[String]) -> Result<Vec<u64>> {
        let any_null = |cols: &[String]| {
            if cols.is_empty() {
                "FALSE".to_string()
            } else {
                cols.iter().map(|c| format!("{} IS NULL", ident(c))).collect::<Vec<_>>().join(" OR ")
            }
        };
        let mut select: Vec<String> = self.columns().iter().map(|c| format!("count({})", ident(&c.name))).collect();
        select.extend(text.iter().map(|c| format!("approx_count_distinct({})", ident(&c.name))));
        select.extend(seg_columns.iter().map(|cols| format!("count(*) FILTER (WHERE {})", any_null(cols))));
        select.push(format!("count(*) FILTER (WHERE {})", any_null(all_used)));
        let sql = format!("SELECT {} FROM {}", select.join(", "), self.table_sql());
        self.run(&sql, plain_error, |s| {
            s.query_row([], |r| {
                (0..select.len()).map(|i| r.get::<_, i64>(i).map(|v| v.max(0) as u64)).collect::<duckdb::Result<_>>()
            })
        })
    }

    /// Scan 2, a few sets per scan, filling each column's variants and each identity column's
    /// duplicates. One GROUP BY GROUPING SETS costs DuckDB about the square of its sets
    /// (measured on 2,000 rows: 100 sets 0.6 s, 200 sets 2 s), so 1,000 text columns in one scan
    /// took minutes; in scans of `SETS_PER_SCAN` they take seconds, and a table of fewer columns
    /// is still one scan.
    fn fill_groups(&self, sets: &[Set], columns: &mut [ColumnHygiene], duplicates: &mut [Duplicates]) -> Result<()> {
        for (first, chunk) in sets.chunks(SETS_PER_SCAN).enumerate().map(|(i, c)| (i * SETS_PER_SCAN, c)) {
            for (s, v, n, key, repeating, involved) in self.group_sets(chunk)? {
                let set = &sets[first + s];
                match set.identity {
                    Some(_) => {
                        if let Some(d) = duplicates.iter_mut().find(|d| d.column == set.column) {
                            d.values = repeating;
                            d.rows = involved;
                            d.examples.push(ValueCount { value: v, count: n });
                        }
                    }
                    None => {
                        if let Some(c) = columns.iter_mut().find(|c| c.name == set.column) {
                            match c.variants.iter_mut().find(|g| g.key == key) {
                                Some(g) => g.values.push(ValueCount { value: v, count: n }),
                                None => {
                                    c.variants.push(Variants { key, values: vec![ValueCount { value: v, count: n }] })
                                }
                            }
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Scan 2 over `sets` (identity sets first): (index in `sets`, value, count, fingerprint
    /// key, repeating values, rows involved) rows —
    /// for identity sets their top repeated values (with the set's totals), for categorical
    /// sets every value whose fingerprint key it shares with another value.
    fn group_sets(&self, sets: &[Set]) -> Result<Vec<GroupRow>> {
        let ids = sets.iter().filter(|s| s.identity.is_some()).count();
        // Identity sets come first (hygiene_sets builds them so): index < ids.
        let projected: Vec<String> = sets.iter().enumerate().map(|(i, s)| format!("{} AS v{i}", s.expr)).collect();
        let grouping: Vec<String> = (0..sets.len()).map(|i| format!("grouping(v{i})")).collect();
        let values: Vec<String> = (0..sets.len()).map(|i| format!("CAST(v{i} AS VARCHAR)")).collect();
        let group_sets: Vec<String> = (0..sets.len()).map(|i| format!("(v{i})")).collect();
        let sql = format!(
            "WITH g AS (
                SELECT list_position([{grouping}], 0) AS s, [{values}][list_position([{grouping}], 0)] AS v, count(*) AS n
                FROM (SELECT {projected} FROM {table})
                GROUP BY GROUPING SETS ({group_sets})
                HAVING count(*) > 1 OR {not_identity}
            ),
            dup AS (
                SELECT s, v, n, count(*) OVER w AS repeating, CAST(sum(n) OVER w AS BIGINT) AS involved,
                       row_number() OVER (PARTITION BY s ORDER BY n DESC, v) AS rk
                FROM g WHERE s <= {ids} AND v IS NOT NULL AND n > 1
                WINDOW w AS (PARTITION BY s)
            ),
            cat AS (
                SELECT s, v, n, {fp} AS key FROM g WHERE s > {ids} AND v IS NOT NULL
            ),
            var AS (
                SELECT s, v, n, key FROM cat QUALIFY count(*) OVER (PARTITION BY s, key) > 1
            )
            SELECT s, v, n, '' AS key, repeating, involved FROM dup WHERE rk <= {EXAMPLES}
            UNION ALL
            SELECT s, v, n, key, 0, 0 FROM var
            ORDER BY s, key, n DESC, v",
            grouping = grouping.join(", "),
            values = values.join(", "),
            projected = projected.join(", "),
            table = self.table_sql(),
            group_sets = group_sets.join(", "),
            fp = fingerprint_sql("v"),
            // Unique identity values are dropped as they are grouped: only repeats go on.
            not_identity = if ids == 0 {
                "TRUE".to_string()
            } else {
                format!("{} = {ids}", (0..ids).map(|i| format!("grouping(v{i})")).collect::<Vec<_>>().join(" + "))
            },
        );
        self.run(&sql, plain_error, |s| {
            s.query_map([], |r| {
                Ok((
                    (r.get::<_, i64>(0)? - 1).max(0) as usize,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?.max(0) as u64,
                    r.get::<_, String>(3)?,
                    r.get::<_, i64>(4)?.max(0) as u64,
                    r.get::<_, i64>(5)?.max(0) as u64,
                ))
            })?
            .collect::<duckdb::Result<Vec<_>>>()
        })
    }

    /// The benchmark's yardstick: one GROUP BY (grouping sets) over the same columns the
    /// report groups, as they are (no normalising, no keys).
    pub fn hygiene_group_by_sql(&self) -> Result<String> {
        let text = self.text_columns();
        let select: Vec<String> = text.iter().map(|c| format!("approx_count_distinct({})", ident(&c.name))).collect();
        let distinct: Vec<(String, u64)> = if select.is_empty() {
            Vec::new()
        } else {
            let sql = format!("SELECT {} FROM {}", select.join(", "), self.table_sql());
            let d: Vec<u64> = self.run(&sql, plain_error, |s| {
                s.query_row([], |r| (0..select.len()).map(|i| r.get::<_, i64>(i).map(|v| v.max(0) as u64)).collect())
            })?;
            text.iter().map(|c| c.name.clone()).zip(d).collect()
        };
        let sets = self.hygiene_sets(&distinct);
        if sets.is_empty() {
            return Ok(format!("SELECT count(*) FROM {}", self.table_sql()));
        }
        let cols: Vec<String> = sets.iter().map(|s| ident(&s.column)).collect();
        let group_sets: Vec<String> = cols.iter().map(|c| format!("({c})")).collect();
        Ok(format!(
            "SELECT count(*) FROM (SELECT {}, count(*) FROM {} GROUP BY GROUPING SETS ({}))",
            cols.join(", "),
            self.table_sql(),
            group_sets.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(name: &str, ty: &str) -> Column {
        Column { name: name.into(), ty: ty.into() }
    }

    #[test]
    fn identity_columns_by_name_and_type() {
        let k = "customer_id";
        assert_eq!(identity_kind(&col("email", "VARCHAR"), k), Some(IdentityKind::Email));
        assert_eq!(identity_kind(&col("mail_address", "VARCHAR"), k), Some(IdentityKind::Email));
        assert_eq!(identity_kind(&col("phone_no", "VARCHAR"), k), Some(IdentityKind::Phone));
        assert_eq!(identity_kind(&col("Mobile", "BIGINT"), k), Some(IdentityKind::Phone));
        assert_eq!(identity_kind(&col("external_ref", "VARCHAR"), k), Some(IdentityKind::ExternalId));
        assert_eq!(identity_kind(&col("loyalty_card_id", "VARCHAR"), k), Some(IdentityKind::ExternalId));
        assert_eq!(identity_kind(&col("customer_id", "VARCHAR"), k), None, "the key is unique by check");
        assert_eq!(identity_kind(&col("store_id", "BIGINT"), k), None, "an integer *_id is a foreign key");
        assert_eq!(identity_kind(&col("email_opens_90d", "INTEGER"), k), None);
        assert_eq!(identity_kind(&col("hotel", "VARCHAR"), k), None);
    }
}
