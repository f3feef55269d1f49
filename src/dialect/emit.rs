//! DuckDB expression → another dialect, by an allow-list. Each construct is written so that it
//! means on the target what it meant in DuckDB; one that cannot be is refused, named.
//!
//! What it takes care of, beyond quoting names per dialect:
//! - `current_date`/`today()` become the as-of date; date ± days/interval on literals is folded
//!   to a date literal, so the SQL is the same whenever it runs;
//! - date arithmetic on columns (`d - 30`, `d - INTERVAL 30 DAY`, `d1 - d2`) uses the target's
//!   own function, since `date + int` and `date - date` mean different things (or nothing) there;
//! - `/` is DuckDB's floating division everywhere (PostgreSQL and Trino divide integers to an
//!   integer); string literals are escaped per dialect (Spark reads `'a''b'` as `ab`);
//! - LIKE patterns: DuckDB has no default escape character, Spark and PostgreSQL use `\`;
//! - `list_contains([...], x)` (string_list params) becomes `x IN (...)`;
//! - `x IS TRUE` and friends become `coalesce` forms every engine reads alike;
//! - every operator is parenthesised, so precedence differences between engines cannot bite.
//!
//! Arms and holdouts (issue 17) will need a hash computable in every dialect. Until one is
//! specified here, hash and random functions are refused by name (see `NOT_PORTABLE`).

use chrono::{Duration, Months, NaiveDate};
use sqlparser::ast::{
    BinaryOperator, CastKind, DataType, DateTimeField, DuplicateTreatment, Expr, Function, FunctionArg,
    FunctionArgExpr, FunctionArguments, GroupByExpr, Ident, InTarget, ObjectNamePart, Query, Select, SelectItem,
    SetExpr, TableFactor, UnaryOperator, Value,
};
use sqlparser::dialect::DuckDbDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::Token;

use super::{Dialect, Target, Ty, Untranslatable};

type R<T> = Result<T, Untranslatable>;

/// Functions whose result differs between engines or between runs: refused with a reason.
const NOT_PORTABLE: &[(&str, &str)] = &[
    ("now", "it depends on the moment the query runs; use current_date, which seglens pins"),
    ("current_timestamp", "it depends on the moment the query runs; use current_date, which seglens pins"),
    ("get_current_timestamp", "it depends on the moment the query runs"),
    ("localtimestamp", "it depends on the moment the query runs"),
    ("random", "it differs on every run and every engine"),
    ("uuid", "it differs on every run"),
    ("gen_random_uuid", "it differs on every run"),
    ("hash", "hash functions differ between engines (arms and holdouts need a hash specified for every dialect)"),
    ("md5", "hash functions differ between engines (arms and holdouts need a hash specified for every dialect)"),
    ("md5_number", "hash functions differ between engines"),
    ("sha256", "hash functions differ between engines"),
    ("round", "rounding of halves differs between engines (DuckDB rounds away from zero)"),
    ("regexp_matches", "regular expression dialects differ (RE2, Java, POSIX)"),
    ("regexp_full_match", "regular expression dialects differ (RE2, Java, POSIX)"),
    ("concat", "NULL handling differs (DuckDB skips NULLs, Spark returns NULL); use ||"),
];

pub(super) fn translate(t: &Target, sql: &str) -> R<String> {
    let dialect = DuckDbDialect {};
    let refuse = |why: String| Untranslatable { dialect: t.dialect, construct: "the filter".into(), why };
    let mut p = Parser::new(&dialect).try_with_sql(sql).map_err(|e| refuse(format!("it does not parse: {e}")))?;
    let expr = p.parse_expr().map_err(|e| refuse(format!("it does not parse: {e}")))?;
    if p.peek_token().token != Token::EOF {
        return Err(refuse(format!("unexpected {} after the expression", p.peek_token().token)));
    }
    let entity = t.catalog.table_name(t.table).unwrap_or(t.table).to_string();
    let mut e = Emitter { t, scopes: vec![vec![(entity.to_ascii_lowercase(), entity)]] };
    // Top-level AND clauses one per line, as the filter was most likely written.
    let mut clauses = Vec::new();
    flatten_and(&expr, &mut clauses);
    let parts = clauses.into_iter().map(|c| e.boolean(c)).collect::<R<Vec<_>>>()?;
    Ok(parts.join("\nAND "))
}

fn flatten_and<'a>(e: &'a Expr, out: &mut Vec<&'a Expr>) {
    match e {
        Expr::BinaryOp { left, op: BinaryOperator::And, right } => {
            flatten_and(left, out);
            flatten_and(right, out);
        }
        Expr::Nested(inner) if matches!(**inner, Expr::BinaryOp { op: BinaryOperator::And, .. }) => {
            flatten_and(inner, out)
        }
        e => out.push(e),
    }
}

/// A value known while translating, so that it can be folded into a literal.
#[derive(Debug, Clone, PartialEq)]
enum Const {
    Int(i64),
    Str(String),
    Date(NaiveDate),
}

/// An interval: a count of days or months (DuckDB `to_days(n)`, `INTERVAL n DAY`, `'3 months'`).
#[derive(Debug, Clone, PartialEq)]
struct Iv {
    /// The count, emitted.
    n: String,
    konst: Option<i64>,
    months: bool,
}

#[derive(Debug, Clone, PartialEq)]
struct E {
    sql: String,
    ty: Ty,
    konst: Option<Const>,
    iv: Option<Iv>,
}

impl E {
    fn new(sql: String, ty: Ty) -> E {
        E { sql, ty, konst: None, iv: None }
    }
}

struct Emitter<'a> {
    t: &'a Target<'a>,
    /// Tables in scope, innermost last: (name or alias, lower-cased; the table's exact name).
    scopes: Vec<Vec<(String, String)>>,
}

fn date_lit(d: NaiveDate) -> String {
    format!("DATE '{}'", d.format("%Y-%m-%d"))
}

impl Emitter<'_> {
    fn d(&self) -> Dialect {
        self.t.dialect
    }

    fn no(&self, construct: impl Into<String>, why: impl Into<String>) -> Untranslatable {
        Untranslatable { dialect: self.d(), construct: construct.into(), why: why.into() }
    }

    fn boolean(&mut self, e: &Expr) -> R<String> {
        Ok(self.expr(e)?.sql)
    }

    fn value(&mut self, e: &Expr) -> R<E> {
        let v = self.expr(e)?;
        if v.iv.is_some() {
            return Err(self.no(format!("the interval {e}"), "an interval is only translated as a date offset"));
        }
        Ok(v)
    }

    fn expr(&mut self, e: &Expr) -> R<E> {
        let d = self.d();
        match e {
            Expr::Identifier(id) => self.column(None, id),
            Expr::CompoundIdentifier(parts) if parts.len() == 2 => self.column(Some(&parts[0]), &parts[1]),
            Expr::CompoundIdentifier(_) => Err(self.no(e.to_string(), "names of more than two parts are not translated")),
            // Every operator is written parenthesised already.
            Expr::Nested(inner) => self.expr(inner),
            Expr::Value(v) => self.literal(&v.value, e),
            Expr::TypedString(ts) => {
                let s = match &ts.value.value {
                    Value::SingleQuotedString(s) => s.clone(),
                    _ => return Err(self.no(e.to_string(), "only quoted literals are translated")),
                };
                match &ts.data_type {
                    DataType::Date => {
                        let date = NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
                            .map_err(|_| self.no(e.to_string(), "the date is not YYYY-MM-DD"))?;
                        Ok(E { konst: Some(Const::Date(date)), ..E::new(date_lit(date), Ty::Date) })
                    }
                    DataType::Timestamp(None, sqlparser::ast::TimezoneInfo::None) => {
                        Ok(E::new(format!("{} {}", timestamp_type(d), d.string(&s)), Ty::Timestamp))
                    }
                    other => Err(self.no(format!("the {other} literal {e}"), "only DATE and TIMESTAMP literals are translated")),
                }
            }
            Expr::UnaryOp { op, expr } => {
                let v = self.value(expr)?;
                match op {
                    UnaryOperator::Not => Ok(E::new(format!("(NOT {})", v.sql), Ty::Bool)),
                    UnaryOperator::Minus => match v.konst {
                        Some(Const::Int(n)) if n != i64::MIN => {
                            Ok(E { konst: Some(Const::Int(-n)), ..E::new(format!("(-{n})"), Ty::Int) })
                        }
                        _ => Ok(E::new(format!("(- {})", v.sql), v.ty)),
                    },
                    UnaryOperator::Plus => Ok(v),
                    other => Err(self.no(format!("the operator {other}"), "it is DuckDB's own")),
                }
            }
            Expr::BinaryOp { left, op, right } => self.binary(left, op, right, e),
            Expr::IsNull(x) => Ok(E::new(format!("({} IS NULL)", self.value(x)?.sql), Ty::Bool)),
            Expr::IsNotNull(x) => Ok(E::new(format!("({} IS NOT NULL)", self.value(x)?.sql), Ty::Bool)),
            Expr::IsUnknown(x) => Ok(E::new(format!("({} IS NULL)", self.value(x)?.sql), Ty::Bool)),
            Expr::IsNotUnknown(x) => Ok(E::new(format!("({} IS NOT NULL)", self.value(x)?.sql), Ty::Bool)),
            // IS TRUE / IS FALSE are not read by every engine; these forms are.
            Expr::IsTrue(x) => Ok(E::new(format!("coalesce({}, FALSE)", self.value(x)?.sql), Ty::Bool)),
            Expr::IsNotTrue(x) => Ok(E::new(format!("(NOT coalesce({}, FALSE))", self.value(x)?.sql), Ty::Bool)),
            Expr::IsFalse(x) => Ok(E::new(format!("coalesce((NOT {}), FALSE)", self.value(x)?.sql), Ty::Bool)),
            Expr::IsNotFalse(x) => Ok(E::new(format!("coalesce({}, TRUE)", self.value(x)?.sql), Ty::Bool)),
            Expr::IsDistinctFrom(a, b) | Expr::IsNotDistinctFrom(a, b) => {
                let (a, b) = (self.value(a)?.sql, self.value(b)?.sql);
                let distinct = matches!(e, Expr::IsDistinctFrom(..));
                Ok(E::new(
                    match (d, distinct) {
                        (Dialect::Spark, true) => format!("(NOT ({a} <=> {b}))"),
                        (Dialect::Spark, false) => format!("({a} <=> {b})"),
                        (_, true) => format!("({a} IS DISTINCT FROM {b})"),
                        (_, false) => format!("({a} IS NOT DISTINCT FROM {b})"),
                    },
                    Ty::Bool,
                ))
            }
            Expr::Between { expr, negated, low, high } => {
                let (x, lo, hi) = (self.value(expr)?.sql, self.value(low)?.sql, self.value(high)?.sql);
                let not = if *negated { "NOT " } else { "" };
                Ok(E::new(format!("({x} {not}BETWEEN {lo} AND {hi})"), Ty::Bool))
            }
            Expr::In { expr, target, negated, global: false } => {
                let x = self.value(expr)?.sql;
                let not = if *negated { "NOT " } else { "" };
                match target {
                    InTarget::List(items) => {
                        let items = items.iter().map(|i| self.value(i).map(|v| v.sql)).collect::<R<Vec<_>>>()?;
                        Ok(E::new(format!("({x} {not}IN ({}))", items.join(", ")), Ty::Bool))
                    }
                    InTarget::Subquery(q) => Ok(E::new(format!("({x} {not}IN ({}))", self.query(q)?.0), Ty::Bool)),
                    _ => Err(self.no(e.to_string(), "only IN (list) and IN (subquery) are translated")),
                }
            }
            Expr::Like { negated, any: false, expr, pattern, escape_char } => {
                self.like(false, *negated, expr, pattern, escape_char.as_deref())
            }
            Expr::ILike { negated, any: false, expr, pattern, escape_char } => {
                self.like(true, *negated, expr, pattern, escape_char.as_deref())
            }
            Expr::Case { operand, conditions, else_result, .. } => {
                let mut sql = String::from("CASE");
                if let Some(o) = operand {
                    sql.push(' ');
                    sql.push_str(&self.value(o)?.sql);
                }
                let mut ty = Ty::Unknown;
                for w in conditions {
                    let c = self.value(&w.condition)?.sql;
                    let r = self.value(&w.result)?;
                    if ty == Ty::Unknown {
                        ty = r.ty;
                    }
                    sql.push_str(&format!(" WHEN {c} THEN {}", r.sql));
                }
                if let Some(x) = else_result {
                    let r = self.value(x)?;
                    if ty == Ty::Unknown {
                        ty = r.ty;
                    }
                    sql.push_str(&format!(" ELSE {}", r.sql));
                }
                sql.push_str(" END");
                Ok(E::new(sql, ty))
            }
            Expr::Cast { kind, expr, data_type, format: None } => {
                if !matches!(kind, CastKind::Cast | CastKind::DoubleColon) {
                    return Err(self.no(format!("{kind:?} in {e}"), "only CAST and :: are translated"));
                }
                self.cast(expr, data_type, e)
            }
            Expr::Exists { subquery, negated } => {
                let (q, _) = self.query(subquery)?;
                let not = if *negated { "NOT " } else { "" };
                Ok(E::new(format!("({not}EXISTS ({q}))"), Ty::Bool))
            }
            Expr::Subquery(q) => {
                let (sql, ty) = self.query(q)?;
                Ok(E::new(format!("({sql})"), ty))
            }
            Expr::Function(f) => self.function(f, e),
            Expr::Interval(iv) => {
                let unit_months = match iv.leading_field {
                    Some(DateTimeField::Day | DateTimeField::Days) => Some(false),
                    Some(DateTimeField::Month | DateTimeField::Months) => Some(true),
                    None => None,
                    _ => return Err(self.no(e.to_string(), "only intervals of days or months are translated")),
                };
                if iv.last_field.is_some() || iv.leading_precision.is_some() || iv.fractional_seconds_precision.is_some()
                {
                    return Err(self.no(e.to_string(), "only intervals of days or months are translated"));
                }
                let v = self.value(&iv.value)?;
                match (unit_months, v.konst) {
                    (Some(months), Some(Const::Int(n))) => Ok(self.interval(n.to_string(), Some(n), months)),
                    (Some(months), Some(Const::Str(s))) => match s.trim().parse::<i64>() {
                        Ok(n) => Ok(self.interval(n.to_string(), Some(n), months)),
                        Err(_) => Err(self.no(e.to_string(), "only whole numbers of days or months are translated")),
                    },
                    (Some(months), _) if v.ty == Ty::Int => Ok(self.interval(v.sql, None, months)),
                    (None, Some(Const::Str(s))) => {
                        let (n, months) = parse_interval_text(&s)
                            .ok_or_else(|| self.no(e.to_string(), "only intervals of days or months are translated"))?;
                        Ok(self.interval(n.to_string(), Some(n), months))
                    }
                    _ => Err(self.no(e.to_string(), "only whole numbers of days or months are translated")),
                }
            }
            // trim(x): spaces from both ends, alike everywhere.
            Expr::Trim { trim_where: None, trim_what: None, expr, trim_characters: None } => {
                let v = self.value(expr)?;
                Ok(E::new(format!("trim({})", v.sql), Ty::Text))
            }
            Expr::Extract { field, expr, .. } => {
                let f = match field {
                    DateTimeField::Year => "YEAR",
                    DateTimeField::Month => "MONTH",
                    DateTimeField::Day => "DAY",
                    DateTimeField::Quarter => "QUARTER",
                    _ => return Err(self.no(e.to_string(), "only YEAR, QUARTER, MONTH and DAY are the same everywhere")),
                };
                let v = self.value(expr)?;
                Ok(E::new(extract(d, f, &v.sql), Ty::Int))
            }
            other => Err(self.no(describe(other), "it is not in the set of constructs translated faithfully")),
        }
    }

    fn interval(&self, n: String, konst: Option<i64>, months: bool) -> E {
        E { iv: Some(Iv { n, konst, months }), ..E::new(String::new(), Ty::Interval) }
    }

    fn column(&mut self, qualifier: Option<&Ident>, id: &Ident) -> R<E> {
        let d = self.d();
        let lower = id.value.to_ascii_lowercase();
        if qualifier.is_none() && id.quote_style.is_none() && (lower == "current_date" || lower == "today") {
            let date = self.t.as_of;
            return Ok(E { konst: Some(Const::Date(date)), ..E::new(date_lit(date), Ty::Date) });
        }
        let catalog = self.t.catalog;
        match qualifier {
            None => {
                for scope in self.scopes.iter().rev() {
                    for (_, table) in scope {
                        if let Some((name, ty)) = catalog.column(table, &id.value) {
                            return Ok(E::new(d.ident(name), ty));
                        }
                    }
                }
                Err(self.no(format!("the column {id}"), "no table in scope has it"))
            }
            Some(q) => {
                let ql = q.value.to_ascii_lowercase();
                let found = self.scopes.iter().rev().flat_map(|s| s.iter()).find(|(n, _)| *n == ql).cloned();
                let Some((alias, table)) = found else {
                    return Err(self.no(format!("{q}.{id}"), format!("{q} is not a table in scope")));
                };
                let (name, ty) = catalog
                    .column(&table, &id.value)
                    .ok_or_else(|| self.no(format!("{q}.{id}"), format!("{table} has no column {id}")))?;
                // A real table name is written as the database spells it; an alias as declared.
                let qual = if alias == table.to_ascii_lowercase() { table.clone() } else { alias };
                Ok(E::new(format!("{}.{}", d.ident(&qual), d.ident(name)), ty))
            }
        }
    }

    fn literal(&mut self, v: &Value, e: &Expr) -> R<E> {
        let d = self.d();
        match v {
            Value::Number(n, false) => {
                if let Ok(i) = n.parse::<i64>() {
                    return Ok(E { konst: Some(Const::Int(i)), ..E::new(n.clone(), Ty::Int) });
                }
                let ty = if n.contains(['e', 'E']) { Ty::Float } else { Ty::Decimal };
                if ty == Ty::Float && d == Dialect::Spark {
                    // Spark reads 1e3 as a DOUBLE too; keep the text.
                    return Ok(E::new(n.clone(), ty));
                }
                Ok(E::new(n.clone(), ty))
            }
            Value::SingleQuotedString(s) => Ok(E { konst: Some(Const::Str(s.clone())), ..E::new(d.string(s), Ty::Text) }),
            Value::Boolean(b) => Ok(E::new(if *b { "TRUE" } else { "FALSE" }.into(), Ty::Bool)),
            Value::Null => Ok(E::new("NULL".into(), Ty::Unknown)),
            _ => Err(self.no(format!("the literal {e}"), "only plain numbers, 'strings', booleans and NULL are translated")),
        }
    }

    fn binary(&mut self, left: &Expr, op: &BinaryOperator, right: &Expr, whole: &Expr) -> R<E> {
        use BinaryOperator as B;
        let d = self.d();
        let sym = match op {
            B::And => "AND",
            B::Or => "OR",
            B::Eq => "=",
            B::NotEq => "<>",
            B::Lt => "<",
            B::LtEq => "<=",
            B::Gt => ">",
            B::GtEq => ">=",
            B::Plus => "+",
            B::Minus => "-",
            B::Multiply => "*",
            B::Divide => "/",
            B::Modulo => "%",
            B::StringConcat => "||",
            other => return Err(self.no(format!("the operator {other}"), "it is not read alike by every engine")),
        };
        let l = self.expr(left)?;
        let r = self.expr(right)?;
        if matches!(op, B::Plus | B::Minus) {
            return self.plus_minus(l, r, *op == B::Minus, whole);
        }
        if l.iv.is_some() || r.iv.is_some() {
            return Err(self.no(whole.to_string(), "an interval is only translated as a date offset"));
        }
        let ty = match op {
            B::And | B::Or | B::Eq | B::NotEq | B::Lt | B::LtEq | B::Gt | B::GtEq => Ty::Bool,
            B::StringConcat => Ty::Text,
            B::Divide => Ty::Float,
            _ if l.ty == Ty::Float || r.ty == Ty::Float => Ty::Float,
            _ if l.ty == Ty::Int && r.ty == Ty::Int => Ty::Int,
            _ => Ty::Decimal,
        };
        if matches!(op, B::Multiply | B::Divide | B::Modulo) && !(l.ty.is_numeric() && r.ty.is_numeric()) {
            if [l.ty, r.ty].iter().any(|t| !matches!(t, Ty::Int | Ty::Decimal | Ty::Float | Ty::Unknown)) {
                return Err(self.no(whole.to_string(), "arithmetic on something other than numbers"));
            }
        }
        let sql = match op {
            // DuckDB's `/` divides as floating point; integer division elsewhere would change counts.
            B::Divide => match d {
                Dialect::Spark | Dialect::BigQuery => format!("({} / {})", cast_double(d, &l.sql), r.sql),
                _ => format!("({} / {})", cast_double(d, &l.sql), r.sql),
            },
            _ => format!("({} {sym} {})", l.sql, r.sql),
        };
        Ok(E::new(sql, ty))
    }

    /// `+` and `-`: numbers, or date arithmetic written the target's way.
    fn plus_minus(&mut self, l: E, r: E, minus: bool, whole: &Expr) -> R<E> {
        let d = self.d();
        let sign = if minus { "-" } else { "+" };
        let refuse = |why: &str| self.no(whole.to_string(), why.to_string());
        match (l.ty, r.ty) {
            (a, b) if a.is_numeric() && b.is_numeric() => {
                let ty = if a == Ty::Int && b == Ty::Int {
                    Ty::Int
                } else if a == Ty::Float || b == Ty::Float {
                    Ty::Float
                } else {
                    Ty::Decimal
                };
                Ok(E::new(format!("({} {sign} {})", l.sql, r.sql), ty))
            }
            // date ± days, date ± interval (DuckDB gives a TIMESTAMP for the latter; compared with
            // a date or timestamp it selects the same rows as the date the targets give).
            (Ty::Date | Ty::Timestamp, Ty::Int | Ty::Interval) => self.offset(l, r, minus, whole),
            (Ty::Int | Ty::Interval, Ty::Date | Ty::Timestamp) if !minus => self.offset(r, l, false, whole),
            (Ty::Date, Ty::Date) if minus => {
                if let (Some(Const::Date(a)), Some(Const::Date(b))) = (&l.konst, &r.konst) {
                    let n = (*a - *b).num_days();
                    return Ok(E { konst: Some(Const::Int(n)), ..E::new(n.to_string(), Ty::Int) });
                }
                Ok(E::new(day_diff(d, &l.sql, &r.sql), Ty::Int))
            }
            (Ty::Unknown, _) | (_, Ty::Unknown) => {
                Err(refuse("cannot tell whether it is arithmetic on numbers or on dates (NULL or an unknown type)"))
            }
            _ => Err(refuse("only numbers, date ± days and date - date are translated")),
        }
    }

    fn offset(&mut self, base: E, by: E, minus: bool, whole: &Expr) -> R<E> {
        let d = self.d();
        let iv = match by.iv {
            Some(iv) => iv,
            None => Iv { n: by.sql.clone(), konst: match by.konst { Some(Const::Int(n)) => Some(n), _ => None }, months: false },
        };
        // Folded when both are known: the literal is what DuckDB computes, on any engine.
        if let (Some(Const::Date(date)), Some(n)) = (&base.konst, iv.konst) {
            let n = if minus { -n } else { n };
            let out = if iv.months {
                let m = Months::new(n.unsigned_abs().min(u32::MAX as u64) as u32);
                if n < 0 { date.checked_sub_months(m) } else { date.checked_add_months(m) }
            } else {
                Duration::try_days(n).and_then(|dd| date.checked_add_signed(dd))
            };
            let out = out.ok_or_else(|| self.no(whole.to_string(), "the date is out of range"))?;
            return Ok(E { konst: Some(Const::Date(out)), ..E::new(date_lit(out), Ty::Date) });
        }
        if iv.months {
            return Err(self.no(whole.to_string(), "month arithmetic on a column is not translated (end-of-month rules differ)"));
        }
        let n = if minus {
            match iv.konst {
                Some(k) => format!("({})", -k),
                None => format!("(-({}))", iv.n),
            }
        } else {
            iv.n.clone()
        };
        let ts = base.ty == Ty::Timestamp;
        let b = &base.sql;
        let sql = match (d, ts) {
            (Dialect::Spark, false) => format!("date_add({b}, {n})"),
            (Dialect::Spark, true) => format!("timestampadd(DAY, {n}, {b})"),
            (Dialect::Postgres, false) => format!("({b} + {n})"),
            (Dialect::Postgres, true) => format!("({b} + ({n}) * INTERVAL '1 day')"),
            (Dialect::Trino, _) => format!("date_add('day', {n}, {b})"),
            (Dialect::BigQuery, false) => format!("DATE_ADD({b}, INTERVAL {n} DAY)"),
            (Dialect::BigQuery, true) => format!("DATETIME_ADD({b}, INTERVAL {n} DAY)"),
            (Dialect::Snowflake, _) => format!("DATEADD(day, {n}, {b})"),
            (Dialect::DuckDb, _) => format!("({b} + to_days({n}))"),
        };
        Ok(E::new(sql, base.ty))
    }

    fn like(&mut self, ilike: bool, negated: bool, x: &Expr, pattern: &Expr, escape: Option<&Expr>) -> R<E> {
        let d = self.d();
        let what = if ilike { "ILIKE" } else { "LIKE" };
        let v = self.value(x)?.sql;
        let p = self.value(pattern)?;
        let not = if negated { "NOT " } else { "" };
        let escape = match escape {
            Some(esc) => Some(self.value(esc)?.sql),
            None => {
                // DuckDB has no default escape character; Spark, PostgreSQL, BigQuery and
                // Snowflake take `\`. A literal pattern without one means the same; otherwise
                // name an escape character the pattern does not use.
                let backslash_default = matches!(d, Dialect::Spark | Dialect::Postgres | Dialect::BigQuery | Dialect::Snowflake);
                match (&p.konst, backslash_default) {
                    (_, false) => None,
                    (Some(Const::Str(s)), true) if !s.contains('\\') => None,
                    (Some(Const::Str(s)), true) if d != Dialect::BigQuery => {
                        let c = ['!', '#', '~', '^', '|', '@']
                            .into_iter()
                            .find(|c| !s.contains(*c))
                            .ok_or_else(|| self.no(format!("{what} {pattern}"), "no free escape character"))?;
                        Some(d.string(&c.to_string()))
                    }
                    _ => {
                        return Err(self.no(
                            format!("{what} with the pattern {pattern}"),
                            format!("{d} reads \\ in a pattern as an escape and DuckDB does not; use a literal pattern"),
                        ));
                    }
                }
            }
        };
        if escape.is_some() && d == Dialect::BigQuery {
            return Err(self.no(format!("{what} ... ESCAPE"), "BigQuery has no ESCAPE clause"));
        }
        let esc = escape.map(|c| format!(" ESCAPE {c}")).unwrap_or_default();
        let sql = match (ilike, d) {
            (true, Dialect::Trino | Dialect::BigQuery) => format!("(lower({v}) {not}LIKE lower({}){esc})", p.sql),
            _ => format!("({v} {not}{what} {}{esc})", p.sql),
        };
        Ok(E::new(sql, Ty::Bool))
    }

    fn cast(&mut self, x: &Expr, ty: &DataType, whole: &Expr) -> R<E> {
        let d = self.d();
        // An empty string_list parameter is `CAST([] AS VARCHAR[])`: only list_contains reads it.
        let v = self.value(x)?;
        let from = v.ty;
        let literal_text = matches!(v.konst, Some(Const::Str(_)));
        let refuse = |why: &str| self.no(format!("CAST({x} AS {ty})"), why.to_string());
        let _ = whole;
        let (target, out_ty) = match ty {
            DataType::Double(_) | DataType::DoublePrecision | DataType::Float8 => (double_type(d).to_string(), Ty::Float),
            DataType::Date => {
                if !matches!(from, Ty::Date | Ty::Timestamp | Ty::Text) {
                    return Err(refuse("only text, dates and timestamps are cast to DATE"));
                }
                if let Some(Const::Str(s)) = &v.konst
                    && let Ok(date) = NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
                {
                    return Ok(E { konst: Some(Const::Date(date)), ..E::new(date_lit(date), Ty::Date) });
                }
                ("DATE".to_string(), Ty::Date)
            }
            DataType::Timestamp(None, sqlparser::ast::TimezoneInfo::None) => {
                if !(matches!(from, Ty::Date | Ty::Timestamp) || literal_text) {
                    return Err(refuse("only dates and literal text are cast to TIMESTAMP"));
                }
                (timestamp_type(d).to_string(), Ty::Timestamp)
            }
            DataType::Integer(_) | DataType::Int(_) | DataType::BigInt(_) | DataType::Int64 | DataType::Int4(_)
            | DataType::Int8(_) => {
                // DuckDB rounds a fraction cast to an integer; Spark truncates it.
                if !(from == Ty::Int || literal_text) {
                    return Err(refuse("DuckDB rounds a fraction cast to an integer and other engines truncate"));
                }
                let big = matches!(ty, DataType::BigInt(_) | DataType::Int64 | DataType::Int8(_));
                let name = match (d, big) {
                    (Dialect::BigQuery, _) => "INT64",
                    (_, true) => "BIGINT",
                    (_, false) => "INTEGER",
                };
                (name.to_string(), Ty::Int)
            }
            DataType::Varchar(_) | DataType::Text | DataType::String(_) => {
                if !matches!(from, Ty::Text | Ty::Int | Ty::Date | Ty::Bool) {
                    return Err(refuse("numbers with fractions and timestamps are written as text differently"));
                }
                let name = match d {
                    Dialect::Spark | Dialect::BigQuery => "STRING",
                    _ => "VARCHAR",
                };
                (name.to_string(), Ty::Text)
            }
            DataType::Boolean | DataType::Bool => {
                if from != Ty::Bool {
                    return Err(refuse("engines read text and numbers as booleans differently"));
                }
                return Ok(v);
            }
            DataType::Decimal(info) | DataType::Numeric(info) => {
                if !(matches!(from, Ty::Int | Ty::Decimal) || literal_text) {
                    return Err(refuse("rounding a double to a decimal differs between engines"));
                }
                use sqlparser::ast::ExactNumberInfo as X;
                let (p, s) = match info {
                    X::PrecisionAndScale(p, s) => (*p, *s as u64),
                    X::Precision(p) => (*p, 0),
                    X::None => (18, 3),
                };
                let name = if d == Dialect::BigQuery { "NUMERIC" } else { "DECIMAL" };
                (format!("{name}({p}, {s})"), Ty::Decimal)
            }
            _ => return Err(refuse("only DOUBLE, DATE, TIMESTAMP, INTEGER, BIGINT, VARCHAR, BOOLEAN and DECIMAL casts are translated")),
        };
        Ok(E::new(format!("CAST({} AS {target})", v.sql), out_ty))
    }

    fn function(&mut self, f: &Function, whole: &Expr) -> R<E> {
        let d = self.d();
        let name = match f.name.0.as_slice() {
            [ObjectNamePart::Identifier(id)] if id.quote_style.is_none() => id.value.to_ascii_lowercase(),
            _ => return Err(self.no(format!("the function {}", f.name), "only plain function names are translated")),
        };
        if let Some((_, why)) = NOT_PORTABLE.iter().find(|(n, _)| *n == name) {
            return Err(self.no(format!("{name}()"), *why));
        }
        if f.filter.is_some() || f.over.is_some() || !f.within_group.is_empty() || f.null_treatment.is_some() {
            return Err(self.no(format!("{name}() with FILTER/OVER/WITHIN GROUP"), "not translated"));
        }
        if !matches!(f.parameters, FunctionArguments::None) {
            return Err(self.no(format!("{name}() with parameters"), "not translated"));
        }
        let mut distinct = false;
        let mut star = false;
        let args: Vec<&Expr> = match &f.args {
            FunctionArguments::None => Vec::new(),
            FunctionArguments::List(list) => {
                if !list.clauses.is_empty() {
                    return Err(self.no(format!("{name}() with clauses"), "not translated"));
                }
                distinct = matches!(list.duplicate_treatment, Some(DuplicateTreatment::Distinct));
                let mut out = Vec::new();
                for a in &list.args {
                    match a {
                        FunctionArg::Unnamed(FunctionArgExpr::Expr(x)) => out.push(x),
                        FunctionArg::Unnamed(FunctionArgExpr::Wildcard) if name == "count" => star = true,
                        _ => return Err(self.no(format!("the arguments of {name}()"), "only plain arguments are translated")),
                    }
                }
                out
            }
            FunctionArguments::Subquery(_) => return Err(self.no(format!("{name}(subquery)"), "not translated")),
        };
        let arity = |n: usize| -> R<()> {
            if args.len() == n {
                Ok(())
            } else {
                Err(Untranslatable { dialect: d, construct: whole.to_string(), why: format!("{name} takes {n} arguments") })
            }
        };
        match name.as_str() {
            "current_date" | "today" => {
                arity(0)?;
                let date = self.t.as_of;
                Ok(E { konst: Some(Const::Date(date)), ..E::new(date_lit(date), Ty::Date) })
            }
            "to_days" | "to_months" | "to_years" => {
                arity(1)?;
                let v = self.value(args[0])?;
                if v.ty != Ty::Int {
                    return Err(self.no(whole.to_string(), "only whole numbers of days or months are translated"));
                }
                let k = match v.konst {
                    Some(Const::Int(n)) => Some(n),
                    _ => None,
                };
                match name.as_str() {
                    "to_days" => Ok(self.interval(v.sql, k, false)),
                    "to_months" => Ok(self.interval(v.sql, k, true)),
                    _ => match k.and_then(|n| n.checked_mul(12)) {
                        Some(m) => Ok(self.interval(m.to_string(), Some(m), true)),
                        None => Ok(self.interval(format!("(12 * {})", v.sql), None, true)),
                    },
                }
            }
            "list_contains" | "array_contains" | "list_has" | "array_has" => {
                arity(2)?;
                let items = self.list_literal(args[0])?;
                let x = self.value(args[1])?.sql;
                if items.is_empty() {
                    // DuckDB: FALSE, or NULL when the value is NULL.
                    return Ok(E::new(format!("(CASE WHEN {x} IS NOT NULL THEN FALSE END)"), Ty::Bool));
                }
                Ok(E::new(format!("({x} IN ({}))", items.join(", ")), Ty::Bool))
            }
            "coalesce" | "ifnull" => {
                if args.is_empty() || (name == "ifnull" && args.len() != 2) {
                    return Err(self.no(whole.to_string(), "wrong number of arguments"));
                }
                let vs = args.iter().map(|a| self.value(a)).collect::<R<Vec<_>>>()?;
                let ty = vs.iter().map(|v| v.ty).find(|t| *t != Ty::Unknown).unwrap_or(Ty::Unknown);
                Ok(E::new(format!("coalesce({})", vs.iter().map(|v| v.sql.as_str()).collect::<Vec<_>>().join(", ")), ty))
            }
            "nullif" => {
                arity(2)?;
                let (a, b) = (self.value(args[0])?, self.value(args[1])?);
                Ok(E::new(format!("nullif({}, {})", a.sql, b.sql), a.ty))
            }
            "abs" => {
                arity(1)?;
                let v = self.value(args[0])?;
                Ok(E::new(format!("abs({})", v.sql), v.ty))
            }
            "lower" | "upper" | "lcase" | "ucase" => {
                arity(1)?;
                let v = self.value(args[0])?;
                let f = if name.starts_with('l') { "lower" } else { "upper" };
                Ok(E::new(format!("{f}({})", v.sql), Ty::Text))
            }
            "length" | "len" | "char_length" => {
                arity(1)?;
                let v = self.value(args[0])?;
                if v.ty != Ty::Text {
                    return Err(self.no(whole.to_string(), "length is translated for text only"));
                }
                Ok(E::new(format!("length({})", v.sql), Ty::Int))
            }
            "trim" => {
                arity(1)?;
                let v = self.value(args[0])?;
                Ok(E::new(format!("trim({})", v.sql), Ty::Text))
            }
            "starts_with" | "prefix" => {
                arity(2)?;
                let (s, p) = (self.value(args[0])?.sql, self.value(args[1])?.sql);
                Ok(E::new(
                    match d {
                        Dialect::Spark => format!("startswith({s}, {p})"),
                        Dialect::Snowflake => format!("STARTSWITH({s}, {p})"),
                        _ => format!("starts_with({s}, {p})"),
                    },
                    Ty::Bool,
                ))
            }
            "contains" => {
                arity(2)?;
                let (s, p) = (self.value(args[0])?, self.value(args[1])?);
                if s.ty != Ty::Text {
                    return Err(self.no(whole.to_string(), "contains is translated for text only"));
                }
                Ok(E::new(
                    match d {
                        Dialect::Spark => format!("contains({}, {})", s.sql, p.sql),
                        Dialect::Snowflake => format!("CONTAINS({}, {})", s.sql, p.sql),
                        _ => format!("(strpos({}, {}) > 0)", s.sql, p.sql),
                    },
                    Ty::Bool,
                ))
            }
            "year" | "month" | "day" | "quarter" => {
                arity(1)?;
                let v = self.value(args[0])?;
                if !matches!(v.ty, Ty::Date | Ty::Timestamp) {
                    return Err(self.no(whole.to_string(), format!("{name}() is translated for dates only")));
                }
                Ok(E::new(extract(d, &name.to_ascii_uppercase(), &v.sql), Ty::Int))
            }
            "greatest" | "least" => {
                // DuckDB skips NULLs, as Spark and PostgreSQL do; Trino, BigQuery and Snowflake
                // return NULL when any argument is NULL.
                if !matches!(d, Dialect::Spark | Dialect::Postgres) {
                    return Err(self.no(format!("{name}()"), format!("{d} returns NULL when any argument is NULL; DuckDB skips NULLs")));
                }
                let vs = args.iter().map(|a| self.value(a)).collect::<R<Vec<_>>>()?;
                let ty = vs.first().map_or(Ty::Unknown, |v| v.ty);
                Ok(E::new(format!("{name}({})", vs.iter().map(|v| v.sql.as_str()).collect::<Vec<_>>().join(", ")), ty))
            }
            "count" => {
                if star {
                    return Ok(E::new("count(*)".into(), Ty::Int));
                }
                arity(1)?;
                let v = self.value(args[0])?;
                let dist = if distinct { "DISTINCT " } else { "" };
                Ok(E::new(format!("count({dist}{})", v.sql), Ty::Int))
            }
            "sum" | "min" | "max" | "avg" | "mean" if !distinct => {
                arity(1)?;
                let v = self.value(args[0])?;
                let (f, ty) = match name.as_str() {
                    "avg" | "mean" => ("avg", Ty::Float),
                    "sum" => ("sum", if v.ty == Ty::Float { Ty::Float } else { Ty::Decimal }),
                    other => (other, v.ty),
                };
                Ok(E::new(format!("{f}({})", v.sql), ty))
            }
            _ => Err(self.no(format!("the function {name}()"), "it is not in the set of functions translated faithfully")),
        }
    }

    /// The items of a list literal (`['a', 'b']`, a string_list parameter).
    fn list_literal(&mut self, e: &Expr) -> R<Vec<String>> {
        match e {
            Expr::Array(a) => {
                let mut out = Vec::new();
                for item in &a.elem {
                    let v = self.value(item)?;
                    if v.sql == "NULL" {
                        return Err(self.no(e.to_string(), "a list holding NULL"));
                    }
                    out.push(v.sql);
                }
                Ok(out)
            }
            Expr::Cast { expr, .. } if matches!(&**expr, Expr::Array(a) if a.elem.is_empty()) => Ok(Vec::new()),
            Expr::Nested(inner) => self.list_literal(inner),
            _ => Err(self.no(format!("list_contains({e}, ...)"), "only a list literal (a string_list parameter) is translated")),
        }
    }

    /// A subquery: `SELECT items FROM tables [WHERE] [GROUP BY] [HAVING]`, nothing else.
    fn query(&mut self, q: &Query) -> R<(String, Ty)> {
        let plain = q.with.is_none()
            && q.order_by.is_none()
            && q.limit_clause.is_none()
            && q.fetch.is_none()
            && q.locks.is_empty()
            && q.for_clause.is_none()
            && q.settings.is_none()
            && q.format_clause.is_none()
            && q.pipe_operators.is_empty();
        let SetExpr::Select(s) = &*q.body else {
            return Err(self.no(format!("the subquery ({q})"), "only a plain SELECT is translated"));
        };
        if !plain || !plain_select(s) {
            return Err(self.no(
                format!("the subquery ({q})"),
                "only SELECT ... FROM tables [WHERE] [GROUP BY] [HAVING] is translated",
            ));
        }
        let d = self.d();
        let mut scope = Vec::new();
        let mut from = Vec::new();
        for twj in &s.from {
            if !twj.joins.is_empty() {
                return Err(self.no("a JOIN in a subquery", "not translated yet; use EXISTS or IN"));
            }
            let TableFactor::Table { name, alias, args: None, with_hints, version: None, partitions, .. } = &twj.relation
            else {
                return Err(self.no(format!("FROM {}", twj.relation), "only plain tables are translated"));
            };
            let [ObjectNamePart::Identifier(tid)] = name.0.as_slice() else {
                return Err(self.no(format!("FROM {name}"), "only tables of the database, by one name, are translated"));
            };
            if !with_hints.is_empty() || !partitions.is_empty() {
                return Err(self.no(format!("FROM {name}"), "table hints are not translated"));
            }
            let table = self
                .t
                .catalog
                .table_name(&tid.value)
                .ok_or_else(|| self.no(format!("FROM {name}"), "no such table"))?
                .to_string();
            match alias {
                Some(a) if a.columns.is_empty() => {
                    scope.push((a.name.value.to_ascii_lowercase(), table.clone()));
                    from.push(format!("{} AS {}", d.ident(&table), d.ident(&a.name.value.to_ascii_lowercase())));
                }
                Some(_) => return Err(self.no(format!("FROM {name}"), "column aliases are not translated")),
                None => {
                    scope.push((table.to_ascii_lowercase(), table.clone()));
                    from.push(d.ident(&table));
                }
            }
        }
        self.scopes.push(scope);
        let out = self.select_body(s, &from);
        self.scopes.pop();
        out
    }

    fn select_body(&mut self, s: &Select, from: &[String]) -> R<(String, Ty)> {
        let mut items = Vec::new();
        let mut ty = Ty::Unknown;
        for item in &s.projection {
            match item {
                SelectItem::UnnamedExpr(x) => {
                    let v = self.value(x)?;
                    ty = v.ty;
                    items.push(v.sql);
                }
                SelectItem::ExprWithAlias { expr, .. } => {
                    let v = self.value(expr)?;
                    ty = v.ty;
                    items.push(v.sql);
                }
                SelectItem::Wildcard(_) if s.projection.len() == 1 => items.push("*".into()),
                other => return Err(self.no(format!("SELECT {other}"), "not translated")),
            }
        }
        let mut sql = format!("SELECT {}", items.join(", "));
        if !from.is_empty() {
            sql.push_str(&format!(" FROM {}", from.join(", ")));
        }
        if let Some(w) = &s.selection {
            sql.push_str(&format!(" WHERE {}", self.value(w)?.sql));
        }
        match &s.group_by {
            GroupByExpr::Expressions(exprs, mods) if mods.is_empty() => {
                if !exprs.is_empty() {
                    let g = exprs.iter().map(|x| self.value(x).map(|v| v.sql)).collect::<R<Vec<_>>>()?;
                    sql.push_str(&format!(" GROUP BY {}", g.join(", ")));
                }
            }
            other => return Err(self.no(other.to_string(), "not translated")),
        }
        if let Some(h) = &s.having {
            sql.push_str(&format!(" HAVING {}", self.value(h)?.sql));
        }
        if items.len() != 1 {
            ty = Ty::Unknown;
        }
        Ok((sql, ty))
    }
}

fn plain_select(s: &Select) -> bool {
    s.distinct.is_none()
        && s.optimizer_hints.is_empty()
        && s.select_modifiers.is_none()
        && s.top.is_none()
        && s.exclude.is_none()
        && s.into.is_none()
        && s.lateral_views.is_empty()
        && s.prewhere.is_none()
        && s.connect_by.is_empty()
        && s.cluster_by.is_empty()
        && s.distribute_by.is_empty()
        && s.sort_by.is_empty()
        && s.named_window.is_empty()
        && s.qualify.is_none()
        && s.value_table_mode.is_none()
        && matches!(s.flavor, sqlparser::ast::SelectFlavor::Standard)
}

fn double_type(d: Dialect) -> &'static str {
    match d {
        Dialect::Postgres => "DOUBLE PRECISION",
        Dialect::BigQuery => "FLOAT64",
        _ => "DOUBLE",
    }
}

fn cast_double(d: Dialect, sql: &str) -> String {
    format!("CAST({sql} AS {})", double_type(d))
}

fn timestamp_type(d: Dialect) -> &'static str {
    match d {
        // DuckDB's TIMESTAMP has no time zone: Spark's TIMESTAMP would be read in the session's.
        Dialect::Spark | Dialect::Snowflake => "TIMESTAMP_NTZ",
        Dialect::BigQuery => "DATETIME",
        _ => "TIMESTAMP",
    }
}

fn day_diff(d: Dialect, a: &str, b: &str) -> String {
    match d {
        Dialect::Spark => format!("datediff({a}, {b})"),
        Dialect::Postgres | Dialect::DuckDb => format!("({a} - {b})"),
        Dialect::Trino => format!("date_diff('day', {b}, {a})"),
        Dialect::BigQuery => format!("DATE_DIFF({a}, {b}, DAY)"),
        Dialect::Snowflake => format!("DATEDIFF(day, {b}, {a})"),
    }
}

fn extract(d: Dialect, field: &str, x: &str) -> String {
    match d {
        // PostgreSQL's EXTRACT gives a numeric; an integer compares and prints like DuckDB's.
        Dialect::Postgres => format!("CAST(EXTRACT({field} FROM {x}) AS INTEGER)"),
        _ => format!("EXTRACT({field} FROM {x})"),
    }
}

/// `'90 days'`, `'3 months'`, `'1 day'` → (count, months?).
fn parse_interval_text(s: &str) -> Option<(i64, bool)> {
    let mut it = s.split_whitespace();
    let n: i64 = it.next()?.parse().ok()?;
    let unit = it.next()?.to_ascii_lowercase();
    if it.next().is_some() {
        return None;
    }
    match unit.as_str() {
        "day" | "days" => Some((n, false)),
        "month" | "months" | "mon" | "mons" => Some((n, true)),
        "year" | "years" => n.checked_mul(12).map(|m| (m, true)),
        _ => None,
    }
}

/// A short name for a construct that is refused as a whole.
fn describe(e: &Expr) -> String {
    let kind = match e {
        Expr::SimilarTo { .. } => "SIMILAR TO",
        Expr::RLike { .. } => "a regular expression match",
        Expr::AnyOp { .. } | Expr::AllOp { .. } => "ANY/ALL",
        Expr::Array(_) => "a list",
        Expr::Struct { .. } | Expr::Dictionary(_) | Expr::Map(_) => "a struct or map",
        Expr::Lambda(_) => "a lambda",
        Expr::Tuple(_) => "a row value",
        Expr::AtTimeZone { .. } => "AT TIME ZONE",
        Expr::Collate { .. } => "COLLATE",
        Expr::Like { any: true, .. } | Expr::ILike { any: true, .. } => "LIKE ANY",
        _ => "",
    };
    let text = e.to_string();
    let text = if text.len() > 60 { format!("{}…", &text[..text.floor_char_boundary(60)]) } else { text };
    if kind.is_empty() { text } else { format!("{kind} ({text})") }
}

#[cfg(test)]
mod tests {
    use super::super::Catalog;
    use super::*;

    fn catalog() -> Catalog {
        let s = |v: &[(&str, &str)]| v.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect::<Vec<_>>();
        Catalog::new(vec![
            (
                "customers".into(),
                s(&[
                    ("customer_id", "BIGINT"),
                    ("last_order_date", "DATE"),
                    ("signup_date", "DATE"),
                    ("language", "VARCHAR"),
                    ("email_opens_90d", "INTEGER"),
                    ("email_sends_90d", "INTEGER"),
                    ("Revenue", "DECIMAL(12,2)"),
                ]),
            ),
            ("events".into(), s(&[("customer_id", "BIGINT"), ("event_time", "TIMESTAMP"), ("event_type", "VARCHAR")])),
        ])
    }

    fn tr(d: Dialect, sql: &str) -> Result<String, Untranslatable> {
        let c = catalog();
        let t = Target {
            dialect: d,
            as_of: NaiveDate::from_ymd_opt(2026, 3, 1).unwrap(),
            catalog: &c,
            table: "customers",
            key: "customer_id",
        };
        translate(&t, sql)
    }

    #[test]
    fn current_date_arithmetic_folds_to_a_literal() {
        let sql = "(last_order_date IS NULL OR last_order_date < current_date - to_days(90))";
        assert_eq!(
            tr(Dialect::Spark, sql).unwrap(),
            "((`last_order_date` IS NULL) OR (`last_order_date` < DATE '2025-12-01'))"
        );
        assert_eq!(tr(Dialect::Postgres, "signup_date >= today() - INTERVAL 1 MONTH").unwrap(), "(\"signup_date\" >= DATE '2026-02-01')");
    }

    #[test]
    fn date_arithmetic_on_columns_uses_each_engines_function() {
        let sql = "current_date - last_order_date > 30";
        assert_eq!(tr(Dialect::Spark, sql).unwrap(), "(datediff(DATE '2026-03-01', `last_order_date`) > 30)");
        assert_eq!(tr(Dialect::Postgres, sql).unwrap(), "((DATE '2026-03-01' - \"last_order_date\") > 30)");
        assert_eq!(tr(Dialect::Trino, "signup_date + 7 < last_order_date").unwrap(), "(date_add('day', 7, \"signup_date\") < \"last_order_date\")");
        assert!(tr(Dialect::Spark, "signup_date + INTERVAL 1 MONTH < last_order_date").is_err());
    }

    #[test]
    fn names_are_spelled_as_the_database_does_and_quoted() {
        assert_eq!(tr(Dialect::Postgres, "revenue > 5").unwrap(), "(\"Revenue\" > 5)");
        assert_eq!(
            tr(Dialect::Spark, "EXISTS (SELECT 1 FROM events e WHERE e.customer_id = customers.customer_id)").unwrap(),
            "(EXISTS (SELECT 1 FROM `events` AS `e` WHERE (`e`.`customer_id` = `customers`.`customer_id`)))"
        );
        assert!(tr(Dialect::Spark, "no_such_column = 1").is_err());
    }

    #[test]
    fn division_is_floating_and_lists_become_in() {
        assert_eq!(
            tr(Dialect::Postgres, "email_opens_90d / email_sends_90d < 0.1").unwrap(),
            "((CAST(\"email_opens_90d\" AS DOUBLE PRECISION) / \"email_sends_90d\") < 0.1)"
        );
        assert_eq!(tr(Dialect::Spark, "list_contains(['mr', 'it''s'], language)").unwrap(), "(`language` IN ('mr', 'it\\'s'))");
        assert_eq!(
            tr(Dialect::Spark, "list_contains(CAST([] AS VARCHAR[]), language)").unwrap(),
            "(CASE WHEN `language` IS NOT NULL THEN FALSE END)"
        );
    }

    #[test]
    fn like_escapes_and_refusals_are_named() {
        assert_eq!(tr(Dialect::Spark, r"language LIKE 'a\b%'").unwrap(), r"(`language` LIKE 'a\\b%' ESCAPE '!')");
        assert_eq!(tr(Dialect::Trino, "language ILIKE 'M%'").unwrap(), "(lower(\"language\") LIKE lower('M%'))");
        let e = tr(Dialect::Spark, "hash(customer_id) % 10 = 0").unwrap_err();
        assert!(e.to_string().contains("hash()"), "{e}");
        let e = tr(Dialect::Trino, "greatest(email_opens_90d, 1) > 2").unwrap_err();
        assert!(e.to_string().contains("greatest()"), "{e}");
        let e = tr(Dialect::Spark, "language SIMILAR TO 'm.*'").unwrap_err();
        assert!(e.to_string().contains("SIMILAR TO"), "{e}");
    }
}
