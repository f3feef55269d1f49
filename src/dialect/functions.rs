//! Functions, casts and list literals: each one the targets read alike, or refused by name.

use chrono::NaiveDate;
use sqlparser::ast::{
    DataType, DuplicateTreatment, Expr, Function, FunctionArg, FunctionArgExpr, FunctionArguments, ObjectNamePart,
};

use super::dates::{date_lit, timestamp_type};
use super::emit::{Const, E, Emitter, R, double_type};
use super::{Dialect, Ty, Untranslatable};

/// Functions whose result differs between engines or between runs: refused with a reason.
const NOT_PORTABLE: &[(&str, &str)] = &[
    ("now", "it depends on the moment the query runs; use current_date, which seglens pins"),
    ("current_timestamp", "it depends on the moment the query runs; use current_date, which seglens pins"),
    ("get_current_timestamp", "it depends on the moment the query runs"),
    ("localtimestamp", "it depends on the moment the query runs"),
    ("random", "it differs on every run and every engine"),
    ("uuid", "it differs on every run"),
    ("gen_random_uuid", "it differs on every run"),
    ("hash", "hash functions differ between engines; for a holdout, declare arms on the template (--arms, --salt)"),
    ("md5", "hash functions differ between engines; for a holdout, declare arms on the template (--arms, --salt)"),
    ("md5_number", "hash functions differ between engines"),
    ("sha256", "hash functions differ between engines"),
    ("round", "rounding of halves differs between engines (DuckDB rounds away from zero)"),
    ("regexp_matches", "regular expression dialects differ (RE2, Java, POSIX)"),
    ("regexp_full_match", "regular expression dialects differ (RE2, Java, POSIX)"),
    ("concat", "NULL handling differs (DuckDB skips NULLs, Spark returns NULL); use ||"),
];

impl Emitter<'_> {
    pub(super) fn cast(&mut self, x: &Expr, ty: &DataType, whole: &Expr) -> R<E> {
        let d = self.d();
        // An empty string_list parameter is `CAST([] AS VARCHAR[])`: only list_contains reads it.
        let v = self.value(x)?;
        let from = v.ty;
        let literal_text = matches!(v.konst, Some(Const::Str(_)));
        let refuse = |why: &str| self.no(format!("CAST({x} AS {ty})"), why.to_string());
        let _ = whole;
        let (target, out_ty) = match ty {
            DataType::Double(_) | DataType::DoublePrecision | DataType::Float8 => {
                (double_type(d).to_string(), Ty::Float)
            }
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
            DataType::Integer(_)
            | DataType::Int(_)
            | DataType::BigInt(_)
            | DataType::Int64
            | DataType::Int4(_)
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
            _ => {
                return Err(refuse(
                    "only DOUBLE, DATE, TIMESTAMP, INTEGER, BIGINT, VARCHAR, BOOLEAN and DECIMAL casts are translated",
                ));
            }
        };
        Ok(E::new(format!("CAST({} AS {target})", v.sql), out_ty))
    }

    pub(super) fn function(&mut self, f: &Function, whole: &Expr) -> R<E> {
        let d = self.d();
        let name = self.function_name(f)?;
        let (args, distinct, star) = self.function_args(f, &name)?;
        let arity = |n: usize| -> R<()> { arity(d, whole, &name, &args, n) };
        match name.as_str() {
            "current_date" | "today" | "to_days" | "to_months" | "to_years" | "year" | "month" | "day" | "quarter" => {
                self.date_function(&name, &args, whole)
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
                Ok(E::new(
                    format!("coalesce({})", vs.iter().map(|v| v.sql.as_str()).collect::<Vec<_>>().join(", ")),
                    ty,
                ))
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
            "lower" | "upper" | "lcase" | "ucase" | "length" | "len" | "char_length" | "trim" | "starts_with"
            | "prefix" | "contains" => self.text_function(&name, &args, whole),
            "greatest" | "least" => {
                // DuckDB skips NULLs, as Spark and PostgreSQL do; Trino, BigQuery and Snowflake
                // return NULL when any argument is NULL.
                if !matches!(d, Dialect::Spark | Dialect::Postgres) {
                    return Err(self.no(
                        format!("{name}()"),
                        format!("{d} returns NULL when any argument is NULL; DuckDB skips NULLs"),
                    ));
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
            _ => {
                Err(self
                    .no(format!("the function {name}()"), "it is not in the set of functions translated faithfully"))
            }
        }
    }

    /// The function's name, lower case, unless it is refused whatever its arguments: a qualified
    /// or quoted name, one `NOT_PORTABLE`, FILTER/OVER/WITHIN GROUP or parameters.
    fn function_name(&self, f: &Function) -> R<String> {
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
        Ok(name)
    }

    /// The function's plain arguments, whether they are DISTINCT, and whether it is `count(*)`.
    fn function_args<'f>(&self, f: &'f Function, name: &str) -> R<(Vec<&'f Expr>, bool, bool)> {
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
                        _ => {
                            return Err(
                                self.no(format!("the arguments of {name}()"), "only plain arguments are translated")
                            );
                        }
                    }
                }
                out
            }
            FunctionArguments::Subquery(_) => return Err(self.no(format!("{name}(subquery)"), "not translated")),
        };
        Ok((args, distinct, star))
    }

    /// Text functions: case, length, trim, prefix and substring tests.
    fn text_function(&mut self, name: &str, args: &[&Expr], whole: &Expr) -> R<E> {
        let d = self.d();
        arity(d, whole, name, args, if matches!(name, "starts_with" | "prefix" | "contains") { 2 } else { 1 })?;
        match name {
            "lower" | "upper" | "lcase" | "ucase" => {
                let v = self.value(args[0])?;
                let f = if name.starts_with('l') { "lower" } else { "upper" };
                Ok(E::new(format!("{f}({})", v.sql), Ty::Text))
            }
            "length" | "len" | "char_length" => {
                let v = self.value(args[0])?;
                if v.ty != Ty::Text {
                    return Err(self.no(whole.to_string(), "length is translated for text only"));
                }
                Ok(E::new(format!("length({})", v.sql), Ty::Int))
            }
            "trim" => {
                let v = self.value(args[0])?;
                Ok(E::new(format!("trim({})", v.sql), Ty::Text))
            }
            "starts_with" | "prefix" => {
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
            _ => {
                Err(self
                    .no(format!("the function {name}()"), "it is not in the set of functions translated faithfully"))
            }
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
            _ => Err(self
                .no(format!("list_contains({e}, ...)"), "only a list literal (a string_list parameter) is translated")),
        }
    }
}

/// Refuses a call of `name` with other than `n` arguments.
pub(super) fn arity(d: Dialect, whole: &Expr, name: &str, args: &[&Expr], n: usize) -> R<()> {
    if args.len() == n {
        Ok(())
    } else {
        Err(Untranslatable { dialect: d, construct: whole.to_string(), why: format!("{name} takes {n} arguments") })
    }
}
