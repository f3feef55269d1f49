//! DuckDB expression → another dialect, by an allow-list. Each construct is written so that it
//! means on the target what it meant in DuckDB; one that cannot be is refused, named.
//!
//! What it takes care of, beyond quoting names per dialect:
//! - `current_date`/`today()` become the as-of date; date ± days/interval on literals is folded
//!   to a date literal, and date arithmetic on columns uses the target's own function (dates.rs);
//! - `/` is DuckDB's floating division everywhere (PostgreSQL and Trino divide integers to an
//!   integer); string literals are escaped per dialect (Spark reads `'a''b'` as `ab`);
//! - LIKE patterns: DuckDB has no default escape character, Spark and PostgreSQL use `\`;
//! - `list_contains([...], x)` (string_list params) becomes `x IN (...)`;
//! - `x IS TRUE` and friends become `coalesce` forms every engine reads alike;
//! - every operator is parenthesised, so precedence differences between engines cannot bite.
//!
//! Hash and random functions in a filter are refused by name (`functions::NOT_PORTABLE`): each
//! engine hashes differently. Holdouts are arms declared on the template, whose column
//! `arms.rs` writes with each engine's SHA-256 as `engine::query::arms` specifies it.

use chrono::NaiveDate;
use sqlparser::ast::{BinaryOperator, CastKind, Expr, Ident, InTarget, UnaryOperator, Value};
use sqlparser::dialect::DuckDbDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::Token;

use super::dates::date_lit;
use super::{Dialect, Target, Ty, Untranslatable};

pub(super) type R<T> = Result<T, Untranslatable>;

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
pub(super) enum Const {
    Int(i64),
    Str(String),
    Date(NaiveDate),
}

/// An interval: a count of days or months (DuckDB `to_days(n)`, `INTERVAL n DAY`, `'3 months'`).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Iv {
    /// The count, emitted.
    pub(super) n: String,
    pub(super) konst: Option<i64>,
    pub(super) months: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct E {
    pub(super) sql: String,
    pub(super) ty: Ty,
    pub(super) konst: Option<Const>,
    pub(super) iv: Option<Iv>,
}

impl E {
    pub(super) fn new(sql: String, ty: Ty) -> E {
        E { sql, ty, konst: None, iv: None }
    }
}

pub(super) struct Emitter<'a> {
    pub(super) t: &'a Target<'a>,
    /// Tables in scope, innermost last: (name or alias, lower-cased; the table's exact name).
    pub(super) scopes: Vec<Vec<(String, String)>>,
}

impl Emitter<'_> {
    pub(super) fn d(&self) -> Dialect {
        self.t.dialect
    }

    pub(super) fn no(&self, construct: impl Into<String>, why: impl Into<String>) -> Untranslatable {
        Untranslatable { dialect: self.d(), construct: construct.into(), why: why.into() }
    }

    fn boolean(&mut self, e: &Expr) -> R<String> {
        Ok(self.expr(e)?.sql)
    }

    pub(super) fn value(&mut self, e: &Expr) -> R<E> {
        let v = self.expr(e)?;
        if v.iv.is_some() {
            return Err(self.no(format!("the interval {e}"), "an interval is only translated as a date offset"));
        }
        Ok(v)
    }

    fn expr(&mut self, e: &Expr) -> R<E> {
        match e {
            Expr::Identifier(id) => self.column(None, id),
            Expr::CompoundIdentifier(parts) if parts.len() == 2 => self.column(Some(&parts[0]), &parts[1]),
            Expr::CompoundIdentifier(_) => {
                Err(self.no(e.to_string(), "names of more than two parts are not translated"))
            }
            // Every operator is written parenthesised already.
            Expr::Nested(inner) => self.expr(inner),
            Expr::Value(v) => self.literal(&v.value, e),
            Expr::TypedString(ts) => self.typed_string(&ts.data_type, &ts.value.value, e),
            Expr::UnaryOp { op, expr } => self.unary(op, expr),
            Expr::BinaryOp { left, op, right } => self.binary(left, op, right, e),
            Expr::IsNull(_)
            | Expr::IsNotNull(_)
            | Expr::IsUnknown(_)
            | Expr::IsNotUnknown(_)
            | Expr::IsTrue(_)
            | Expr::IsNotTrue(_)
            | Expr::IsFalse(_)
            | Expr::IsNotFalse(_)
            | Expr::IsDistinctFrom(..)
            | Expr::IsNotDistinctFrom(..) => self.is_test(e),
            Expr::Between { expr, negated, low, high } => {
                let (x, lo, hi) = (self.value(expr)?.sql, self.value(low)?.sql, self.value(high)?.sql);
                let not = if *negated { "NOT " } else { "" };
                Ok(E::new(format!("({x} {not}BETWEEN {lo} AND {hi})"), Ty::Bool))
            }
            Expr::In { expr, target, negated, global: false } => self.in_target(expr, target, *negated, e),
            Expr::Like { negated, any: false, expr, pattern, escape_char } => {
                self.like(false, *negated, expr, pattern, escape_char.as_deref())
            }
            Expr::ILike { negated, any: false, expr, pattern, escape_char } => {
                self.like(true, *negated, expr, pattern, escape_char.as_deref())
            }
            Expr::Case { operand, conditions, else_result, .. } => {
                self.case(operand.as_deref(), conditions, else_result.as_deref())
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
            Expr::Interval(iv) => self.interval_expr(iv, e),
            // trim(x): spaces from both ends, alike everywhere.
            Expr::Trim { trim_where: None, trim_what: None, expr, trim_characters: None } => {
                let v = self.value(expr)?;
                Ok(E::new(format!("trim({})", v.sql), Ty::Text))
            }
            Expr::Extract { field, expr, .. } => self.extract_expr(field, expr, e),
            other => Err(self.no(describe(other), "it is not in the set of constructs translated faithfully")),
        }
    }

    fn unary(&mut self, op: &UnaryOperator, expr: &Expr) -> R<E> {
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

    /// `IS NULL`, `IS TRUE`, `IS DISTINCT FROM` and the rest: forms every engine reads alike.
    fn is_test(&mut self, e: &Expr) -> R<E> {
        let d = self.d();
        match e {
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
            _ => Err(self.no(describe(e), "it is not in the set of constructs translated faithfully")),
        }
    }

    fn in_target(&mut self, expr: &Expr, target: &InTarget, negated: bool, e: &Expr) -> R<E> {
        let x = self.value(expr)?.sql;
        let not = if negated { "NOT " } else { "" };
        match target {
            InTarget::List(items) => {
                let items = items.iter().map(|i| self.value(i).map(|v| v.sql)).collect::<R<Vec<_>>>()?;
                Ok(E::new(format!("({x} {not}IN ({}))", items.join(", ")), Ty::Bool))
            }
            InTarget::Subquery(q) => Ok(E::new(format!("({x} {not}IN ({}))", self.query(q)?.0), Ty::Bool)),
            _ => Err(self.no(e.to_string(), "only IN (list) and IN (subquery) are translated")),
        }
    }

    fn case(
        &mut self,
        operand: Option<&Expr>,
        conditions: &[sqlparser::ast::CaseWhen],
        else_result: Option<&Expr>,
    ) -> R<E> {
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
            Value::SingleQuotedString(s) => {
                Ok(E { konst: Some(Const::Str(s.clone())), ..E::new(d.string(s), Ty::Text) })
            }
            Value::Boolean(b) => Ok(E::new(if *b { "TRUE" } else { "FALSE" }.into(), Ty::Bool)),
            Value::Null => Ok(E::new("NULL".into(), Ty::Unknown)),
            _ => {
                Err(self
                    .no(format!("the literal {e}"), "only plain numbers, 'strings', booleans and NULL are translated"))
            }
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
        let numbers = |t: Ty| matches!(t, Ty::Int | Ty::Decimal | Ty::Float | Ty::Unknown);
        if matches!(op, B::Multiply | B::Divide | B::Modulo) && !(numbers(l.ty) && numbers(r.ty)) {
            return Err(self.no(whole.to_string(), "arithmetic on something other than numbers"));
        }
        let sql = match op {
            // DuckDB's `/` divides as floating point; integer division elsewhere would change counts.
            B::Divide => format!("({} / {})", cast_double(d, &l.sql), r.sql),
            _ => format!("({} {sym} {})", l.sql, r.sql),
        };
        Ok(E::new(sql, ty))
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
                let backslash_default =
                    matches!(d, Dialect::Spark | Dialect::Postgres | Dialect::BigQuery | Dialect::Snowflake);
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
                            format!(
                                "{d} reads \\ in a pattern as an escape and DuckDB does not; use a literal pattern"
                            ),
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
}

pub(super) fn double_type(d: Dialect) -> &'static str {
    match d {
        Dialect::Postgres => "DOUBLE PRECISION",
        Dialect::BigQuery => "FLOAT64",
        _ => "DOUBLE",
    }
}

pub(super) fn cast_double(d: Dialect, sql: &str) -> String {
    format!("CAST({sql} AS {})", double_type(d))
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
    let text =
        if text.chars().count() > 60 { format!("{}…", text.chars().take(60).collect::<String>()) } else { text };
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
        assert_eq!(
            tr(Dialect::Postgres, "signup_date >= today() - INTERVAL 1 MONTH").unwrap(),
            "(\"signup_date\" >= DATE '2026-02-01')"
        );
    }

    #[test]
    fn date_arithmetic_on_columns_uses_each_engines_function() {
        let sql = "current_date - last_order_date > 30";
        assert_eq!(tr(Dialect::Spark, sql).unwrap(), "(datediff(DATE '2026-03-01', `last_order_date`) > 30)");
        assert_eq!(tr(Dialect::Postgres, sql).unwrap(), "((DATE '2026-03-01' - \"last_order_date\") > 30)");
        assert_eq!(
            tr(Dialect::Trino, "signup_date + 7 < last_order_date").unwrap(),
            "(date_add('day', 7, \"signup_date\") < \"last_order_date\")"
        );
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
        assert_eq!(
            tr(Dialect::Spark, "list_contains(['mr', 'it''s'], language)").unwrap(),
            "(`language` IN ('mr', 'it\\'s'))"
        );
        assert_eq!(
            tr(Dialect::Spark, "list_contains(CAST([] AS VARCHAR[]), language)").unwrap(),
            "(CASE WHEN `language` IS NOT NULL THEN FALSE END)"
        );
    }

    #[test]
    fn deep_or_strange_input_is_refused_not_a_panic() {
        let deep = format!("{}language = 'x'{}", "(".repeat(400), ")".repeat(400));
        for d in Dialect::ALL.into_iter().filter(|d| *d != Dialect::DuckDb) {
            assert!(tr(d, &deep).is_err());
            for junk in ["", ")", "1 +", "SELECT 1", "a.b.c.d = 1", "x IN ()", "[1, 2][1] = 1", "{'a': 1}"] {
                assert!(tr(d, junk).is_err(), "{d}: {junk:?}");
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn translation_never_panics(sql in "[ -~]{0,80}") {
            for d in Dialect::ALL.into_iter().filter(|d| *d != Dialect::DuckDb) {
                let _ = tr(d, &sql);
            }
        }
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
