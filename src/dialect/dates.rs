//! Dates in a translated filter: DATE and TIMESTAMP literals, intervals of days or months,
//! `EXTRACT`, and date arithmetic. On literals it is folded to a date literal, so the SQL is the
//! same whenever it runs; on columns it uses the target's own function, since `date + int` and
//! `date - date` mean different things (or nothing) there.

use chrono::{Duration, Months, NaiveDate};
use sqlparser::ast::{DataType, DateTimeField, Expr, Interval, Value};

use super::emit::{Const, E, Emitter, Iv, R};
use super::{Dialect, Ty};

pub(super) fn date_lit(d: NaiveDate) -> String {
    format!("DATE '{}'", d.format("%Y-%m-%d"))
}

impl Emitter<'_> {
    /// `DATE '…'` and `TIMESTAMP '…'` literals.
    pub(super) fn typed_string(&mut self, data_type: &DataType, value: &Value, e: &Expr) -> R<E> {
        let d = self.d();
        let s = match value {
            Value::SingleQuotedString(s) => s.clone(),
            _ => return Err(self.no(e.to_string(), "only quoted literals are translated")),
        };
        match data_type {
            DataType::Date => {
                let date = NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
                    .map_err(|_| self.no(e.to_string(), "the date is not YYYY-MM-DD"))?;
                Ok(E { konst: Some(Const::Date(date)), ..E::new(date_lit(date), Ty::Date) })
            }
            DataType::Timestamp(None, sqlparser::ast::TimezoneInfo::None) => {
                Ok(E::new(format!("{} {}", timestamp_type(d), d.string(&s)), Ty::Timestamp))
            }
            other => {
                Err(self.no(format!("the {other} literal {e}"), "only DATE and TIMESTAMP literals are translated"))
            }
        }
    }

    /// `INTERVAL n DAY`, `INTERVAL '3 months'`: an offset for date arithmetic.
    pub(super) fn interval_expr(&mut self, iv: &Interval, e: &Expr) -> R<E> {
        let unit_months = match iv.leading_field {
            Some(DateTimeField::Day | DateTimeField::Days) => Some(false),
            Some(DateTimeField::Month | DateTimeField::Months) => Some(true),
            None => None,
            _ => return Err(self.no(e.to_string(), "only intervals of days or months are translated")),
        };
        if iv.last_field.is_some() || iv.leading_precision.is_some() || iv.fractional_seconds_precision.is_some() {
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

    /// Date functions: `current_date`/`today()` as the as-of date, `to_days`/`to_months`/
    /// `to_years` as intervals, and the date parts.
    pub(super) fn date_function(&mut self, name: &str, args: &[&Expr], whole: &Expr) -> R<E> {
        let d = self.d();
        let arity = |n: usize| -> R<()> { super::functions::arity(d, whole, name, args, n) };
        match name {
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
                match name {
                    "to_days" => Ok(self.interval(v.sql, k, false)),
                    "to_months" => Ok(self.interval(v.sql, k, true)),
                    _ => match k.and_then(|n| n.checked_mul(12)) {
                        Some(m) => Ok(self.interval(m.to_string(), Some(m), true)),
                        None => Ok(self.interval(format!("(12 * {})", v.sql), None, true)),
                    },
                }
            }
            "year" | "month" | "day" | "quarter" => {
                arity(1)?;
                let v = self.value(args[0])?;
                if !matches!(v.ty, Ty::Date | Ty::Timestamp) {
                    return Err(self.no(whole.to_string(), format!("{name}() is translated for dates only")));
                }
                Ok(E::new(extract(d, &name.to_ascii_uppercase(), &v.sql), Ty::Int))
            }
            _ => {
                Err(self
                    .no(format!("the function {name}()"), "it is not in the set of functions translated faithfully"))
            }
        }
    }

    pub(super) fn extract_expr(&mut self, field: &DateTimeField, expr: &Expr, e: &Expr) -> R<E> {
        let d = self.d();
        let f = match field {
            DateTimeField::Year => "YEAR",
            DateTimeField::Month => "MONTH",
            DateTimeField::Day => "DAY",
            DateTimeField::Quarter => "QUARTER",
            _ => {
                return Err(self.no(e.to_string(), "only YEAR, QUARTER, MONTH and DAY are the same everywhere"));
            }
        };
        let v = self.value(expr)?;
        Ok(E::new(extract(d, f, &v.sql), Ty::Int))
    }

    pub(super) fn interval(&self, n: String, konst: Option<i64>, months: bool) -> E {
        E { iv: Some(Iv { n, konst, months }), ..E::new(String::new(), Ty::Interval) }
    }

    /// `+` and `-`: numbers, or date arithmetic written the target's way.
    pub(super) fn plus_minus(&mut self, l: E, r: E, minus: bool, whole: &Expr) -> R<E> {
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
            None => Iv {
                n: by.sql.clone(),
                konst: match by.konst {
                    Some(Const::Int(n)) => Some(n),
                    _ => None,
                },
                months: false,
            },
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
            return Err(self
                .no(whole.to_string(), "month arithmetic on a column is not translated (end-of-month rules differ)"));
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
}

pub(super) fn timestamp_type(d: Dialect) -> &'static str {
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

pub(super) fn extract(d: Dialect, field: &str, x: &str) -> String {
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
