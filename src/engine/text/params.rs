//! Typed `{{param}}` values: parsing what a user typed, checking min/max, nudging, and rendering a
//! value as an escaped SQL literal. Part of engine/text/, the only folder where user text becomes SQL.

use std::collections::BTreeMap;
use std::fmt;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::engine::literal;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParamType {
    Int,
    Float,
    String,
    Date,
    Bool,
    StringList,
}

impl ParamType {
    pub const ALL: [ParamType; 6] =
        [ParamType::Int, ParamType::Float, ParamType::String, ParamType::Date, ParamType::Bool, ParamType::StringList];

    pub fn name(self) -> &'static str {
        match self {
            ParamType::Int => "int",
            ParamType::Float => "float",
            ParamType::String => "string",
            ParamType::Date => "date",
            ParamType::Bool => "bool",
            ParamType::StringList => "string_list",
        }
    }

    pub fn parse_name(s: &str) -> Option<ParamType> {
        ParamType::ALL.into_iter().find(|t| t.name() == s || (s == "list" && *t == ParamType::StringList))
    }
}

impl fmt::Display for ParamType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum ParamValue {
    Int(i64),
    Float(f64),
    String(String),
    Date(NaiveDate),
    Bool(bool),
    StringList(Vec<String>),
}

impl ParamValue {
    pub fn ty(&self) -> ParamType {
        match self {
            ParamValue::Int(_) => ParamType::Int,
            ParamValue::Float(_) => ParamType::Float,
            ParamValue::String(_) => ParamType::String,
            ParamValue::Date(_) => ParamType::Date,
            ParamValue::Bool(_) => ParamType::Bool,
            ParamValue::StringList(_) => ParamType::StringList,
        }
    }

    /// Parses what a user typed as a value of type `ty`.
    pub fn parse(ty: ParamType, text: &str) -> Result<ParamValue, String> {
        let t = text.trim();
        match ty {
            ParamType::Int => {
                t.replace('_', "").parse::<i64>().map(ParamValue::Int).map_err(|_| {
                    format!("{t:?} is not a whole number (int, -9223372036854775808..9223372036854775807)")
                })
            }
            ParamType::Float => match t.replace('_', "").parse::<f64>() {
                Ok(v) if v.is_finite() => Ok(ParamValue::Float(v)),
                _ => Err(format!("{t:?} is not a finite number (float)")),
            },
            ParamType::String => check_text(text).map(|s| ParamValue::String(s.to_string())),
            // Years 1..=9999: the dates DuckDB's `DATE 'YYYY-MM-DD'` literal can read back.
            ParamType::Date => NaiveDate::parse_from_str(t, "%Y-%m-%d")
                .ok()
                .filter(|d| (1..=9999).contains(&d.year()))
                .map(ParamValue::Date)
                .ok_or_else(|| format!("{t:?} is not a valid date (YYYY-MM-DD, a day that exists, years 1 to 9999)")),
            ParamType::Bool => match t.to_ascii_lowercase().as_str() {
                "true" | "yes" | "y" | "1" | "on" => Ok(ParamValue::Bool(true)),
                "false" | "no" | "n" | "0" | "off" => Ok(ParamValue::Bool(false)),
                _ => Err(format!("{t:?} is not true or false")),
            },
            ParamType::StringList => {
                let items: Vec<String> =
                    t.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect();
                for s in &items {
                    check_text(s)?;
                }
                Ok(ParamValue::StringList(items))
            }
        }
    }

    /// The type a user most likely meant by a first value typed for an undeclared placeholder.
    pub fn guess(text: &str) -> ParamValue {
        let t = text.trim();
        // A leading zero means text: `007` is an id or a code, and as the integer 7 it would
        // silently match other rows (`code = 7` casts `'07'` too).
        let digits = t.strip_prefix(['-', '+']).unwrap_or(t).as_bytes();
        if digits.len() > 1 && digits[0] == b'0' && digits[1].is_ascii_digit() {
            return ParamValue::String(text.to_string());
        }
        if let Ok(v) = ParamValue::parse(ParamType::Int, t) {
            return v;
        }
        if t.contains('.')
            && let Ok(v) = ParamValue::parse(ParamType::Float, t)
        {
            return v;
        }
        if let Ok(v) = ParamValue::parse(ParamType::Date, t) {
            return v;
        }
        if matches!(t.to_ascii_lowercase().as_str(), "true" | "false") {
            return ParamValue::Bool(t.eq_ignore_ascii_case("true"));
        }
        if t.contains(',')
            && let Ok(v) = ParamValue::parse(ParamType::StringList, t)
        {
            return v;
        }
        ParamValue::String(text.to_string())
    }

    /// The value as a SQL literal. Strings are quoted with `'` doubled; negative numbers are
    /// parenthesised so `x -{{n}}` can never become a `--` comment.
    pub fn to_sql(&self) -> String {
        match self {
            ParamValue::Int(v) if *v < 0 => format!("({v})"),
            ParamValue::Int(v) => v.to_string(),
            // `{:?}` is Rust's shortest round-trip form; the cast keeps DuckDB from reading it as DECIMAL.
            ParamValue::Float(v) if *v < 0.0 => format!("(CAST('{v:?}' AS DOUBLE))"),
            ParamValue::Float(v) => format!("CAST('{v:?}' AS DOUBLE)"),
            ParamValue::String(s) => literal(s),
            ParamValue::Date(d) => format!("DATE '{}'", d.format("%Y-%m-%d")),
            ParamValue::Bool(b) => if *b { "TRUE" } else { "FALSE" }.to_string(),
            ParamValue::StringList(items) if items.is_empty() => "CAST([] AS VARCHAR[])".to_string(),
            ParamValue::StringList(items) => {
                format!("[{}]", items.iter().map(|s| literal(s)).collect::<Vec<_>>().join(", "))
            }
        }
    }

    /// Text a user would type to get this value back (used by the editor and `--param`).
    pub fn to_input(&self) -> String {
        match self {
            ParamValue::Int(v) => v.to_string(),
            ParamValue::Float(v) => format!("{v:?}"),
            ParamValue::String(s) => s.clone(),
            ParamValue::Date(d) => d.format("%Y-%m-%d").to_string(),
            ParamValue::Bool(b) => b.to_string(),
            ParamValue::StringList(items) => items.join(","),
        }
    }

    fn as_f64(&self) -> Option<f64> {
        match self {
            ParamValue::Int(v) => Some(*v as f64),
            ParamValue::Float(v) => Some(*v),
            ParamValue::Date(d) => Some(d.num_days_from_ce() as f64),
            _ => None,
        }
    }

    pub fn to_toml(&self) -> toml::Value {
        match self {
            ParamValue::Int(v) => toml::Value::Integer(*v),
            ParamValue::Float(v) => toml::Value::Float(*v),
            ParamValue::String(s) => toml::Value::String(s.clone()),
            ParamValue::Date(_) => toml::Value::String(self.to_input()),
            ParamValue::Bool(b) => toml::Value::Boolean(*b),
            ParamValue::StringList(items) => {
                toml::Value::Array(items.iter().cloned().map(toml::Value::String).collect())
            }
        }
    }

    pub fn from_toml(ty: ParamType, v: &toml::Value) -> Result<ParamValue, String> {
        match (ty, v) {
            (ParamType::Int, toml::Value::Integer(i)) => Ok(ParamValue::Int(*i)),
            (ParamType::Float, toml::Value::Float(f)) => ParamValue::parse(ParamType::Float, &f.to_string()),
            (ParamType::Float, toml::Value::Integer(i)) => Ok(ParamValue::Float(*i as f64)),
            (ParamType::Bool, toml::Value::Boolean(b)) => Ok(ParamValue::Bool(*b)),
            (ParamType::StringList, toml::Value::Array(items)) => items
                .iter()
                .map(|i| i.as_str().map(str::to_string).ok_or_else(|| "a string_list holds strings".to_string()))
                .collect::<Result<Vec<_>, _>>()
                .map(ParamValue::StringList),
            (ParamType::String | ParamType::Date | ParamType::StringList, toml::Value::String(s)) => {
                ParamValue::parse(ty, s)
            }
            (ParamType::Date, toml::Value::Datetime(d)) => ParamValue::parse(ty, &d.to_string()),
            _ => Err(format!("expected a {ty} value, found {}", v.type_str())),
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        match self {
            ParamValue::Int(v) => serde_json::json!(v),
            ParamValue::Float(v) => serde_json::json!(v),
            ParamValue::Bool(b) => serde_json::json!(b),
            ParamValue::StringList(items) => serde_json::json!(items),
            ParamValue::String(_) | ParamValue::Date(_) => serde_json::json!(self.to_input()),
        }
    }
}

use chrono::Datelike;

impl fmt::Display for ParamValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamValue::String(s) => write!(f, "{s:?}"),
            ParamValue::StringList(items) => write!(f, "[{}]", items.join(", ")),
            other => f.write_str(&other.to_input()),
        }
    }
}

fn check_text(s: &str) -> Result<&str, String> {
    if s.contains('\0') { Err("a text value may not contain a NUL character".to_string()) } else { Ok(s) }
}

/// A declared parameter: its type, default and bounds.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamDecl {
    pub ty: ParamType,
    pub default: Option<ParamValue>,
    pub min: Option<ParamValue>,
    pub max: Option<ParamValue>,
    /// The nudge step; a sensible one per type and magnitude when absent.
    pub step: Option<f64>,
    pub description: String,
}

impl ParamDecl {
    pub fn new(ty: ParamType) -> ParamDecl {
        ParamDecl { ty, default: None, min: None, max: None, step: None, description: String::new() }
    }

    /// Checks type and bounds of a value for this parameter named `name`.
    pub fn check(&self, name: &str, v: &ParamValue) -> Result<(), String> {
        if v.ty() != self.ty {
            return Err(format!("parameter {name} is a {}, got a {} ({v})", self.ty, v.ty()));
        }
        if let (Some(x), Some(min)) = (v.as_f64(), self.min.as_ref().and_then(ParamValue::as_f64))
            && x < min
        {
            return Err(format!(
                "parameter {name} = {v} is below its minimum {}",
                self.min.as_ref().map_or(String::new(), |m| m.to_input())
            ));
        }
        if let (Some(x), Some(max)) = (v.as_f64(), self.max.as_ref().and_then(ParamValue::as_f64))
            && x > max
        {
            return Err(format!(
                "parameter {name} = {v} is above its maximum {}",
                self.max.as_ref().map_or(String::new(), |m| m.to_input())
            ));
        }
        Ok(())
    }

    /// The value `steps` nudges away from `v` (negative steps go down), kept within min/max.
    /// Strings and lists have no natural step and come back unchanged.
    pub fn nudge(&self, v: &ParamValue, steps: i64) -> ParamValue {
        let next = match v {
            ParamValue::Int(x) => {
                let step = self.step.map_or_else(|| default_step(*x as f64), |s| s.max(1.0)) as i64;
                ParamValue::Int(x.saturating_add(step.saturating_mul(steps)))
            }
            ParamValue::Float(x) => {
                let step = self.step.unwrap_or_else(|| default_step(*x));
                // Round to the step so repeated nudges do not accumulate 0.30000000000000004.
                let raw = x + step * steps as f64;
                ParamValue::Float((raw / step).round() * step)
            }
            ParamValue::Date(d) => {
                let days = self.step.unwrap_or(1.0) as i64 * steps;
                ParamValue::Date(d.checked_add_signed(chrono::Duration::days(days)).unwrap_or(*d))
            }
            ParamValue::Bool(b) if steps % 2 != 0 => ParamValue::Bool(!b),
            other => other.clone(),
        };
        self.clamp(next)
    }

    fn clamp(&self, v: ParamValue) -> ParamValue {
        if let (Some(x), Some(min)) = (v.as_f64(), self.min.as_ref())
            && min.as_f64().is_some_and(|m| x < m)
        {
            return min.clone();
        }
        if let (Some(x), Some(max)) = (v.as_f64(), self.max.as_ref())
            && max.as_f64().is_some_and(|m| x > m)
        {
            return max.clone();
        }
        v
    }
}

/// 1 below 10, then half of the next lower power of ten (90 → 5, 5000 → 500); 0.05 below 1.
fn default_step(x: f64) -> f64 {
    let a = x.abs();
    if a < 1.0 && a != 0.0 && a.fract() != 0.0 {
        0.05
    } else if a < 10.0 {
        1.0
    } else {
        10f64.powf(a.log10().floor() - 1.0) * 5.0
    }
}

/// Parameter declarations by name, in the TOML shape templates use:
/// `[params.days] type = "int", default = 90, min = 1, max = 3650, description = "..."`.
pub type ParamDecls = BTreeMap<String, ParamDecl>;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawParamDecl {
    #[serde(rename = "type")]
    pub ty: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<toml::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<toml::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<toml::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<f64>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
}

impl TryFrom<RawParamDecl> for ParamDecl {
    type Error = String;

    fn try_from(r: RawParamDecl) -> Result<Self, String> {
        let ty = ParamType::parse_name(&r.ty)
            .ok_or_else(|| format!("unknown param type {:?} (int, float, string, date, bool, string_list)", r.ty))?;
        let conv = |v: Option<toml::Value>, what: &str| {
            v.map(|v| ParamValue::from_toml(ty, &v).map_err(|e| format!("{what}: {e}"))).transpose()
        };
        let decl = ParamDecl {
            ty,
            default: conv(r.default, "default")?,
            min: conv(r.min, "min")?,
            max: conv(r.max, "max")?,
            step: r.step,
            description: r.description,
        };
        if let Some(d) = &decl.default {
            decl.check("default", d)?;
        }
        Ok(decl)
    }
}

impl From<&ParamDecl> for RawParamDecl {
    fn from(d: &ParamDecl) -> Self {
        RawParamDecl {
            ty: d.ty.name().to_string(),
            default: d.default.as_ref().map(ParamValue::to_toml),
            min: d.min.as_ref().map(ParamValue::to_toml),
            max: d.max.as_ref().map(ParamValue::to_toml),
            step: d.step,
            description: d.description.clone(),
        }
    }
}

impl Serialize for ParamDecl {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        RawParamDecl::from(self).serialize(s)
    }
}

impl<'de> Deserialize<'de> for ParamDecl {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = RawParamDecl::deserialize(d)?;
        ParamDecl::try_from(raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_are_escaped() {
        assert_eq!(ParamValue::String("O'Brien".into()).to_sql(), "'O''Brien'");
        assert_eq!(ParamValue::Int(-5).to_sql(), "(-5)");
        assert_eq!(ParamValue::StringList(vec!["mr".into(), "a'b".into()]).to_sql(), "['mr', 'a''b']");
        assert_eq!(ParamValue::parse(ParamType::Date, "2026-03-01").unwrap().to_sql(), "DATE '2026-03-01'");
        assert!(ParamValue::parse(ParamType::Date, "2026-02-30").is_err());
        assert!(ParamValue::parse(ParamType::Float, "NaN").is_err());
    }

    #[test]
    fn nudge_steps_and_clamps() {
        let mut d = ParamDecl::new(ParamType::Int);
        d.min = Some(ParamValue::Int(1));
        assert_eq!(d.nudge(&ParamValue::Int(90), -1), ParamValue::Int(85));
        assert_eq!(d.nudge(&ParamValue::Int(3), -10), ParamValue::Int(1));
        let f = ParamDecl::new(ParamType::Float);
        assert_eq!(f.nudge(&ParamValue::Float(0.7), 1), ParamValue::Float(0.75));
    }

    #[test]
    fn guesses_types() {
        assert_eq!(ParamValue::guess("90").ty(), ParamType::Int);
        assert_eq!(ParamValue::guess("0.5").ty(), ParamType::Float);
        assert_eq!(ParamValue::guess("2026-01-01").ty(), ParamType::Date);
        assert_eq!(ParamValue::guess("mr,gu").ty(), ParamType::StringList);
        assert_eq!(ParamValue::guess("West India").ty(), ParamType::String);
        assert_eq!(ParamValue::guess("007"), ParamValue::String("007".into()));
        assert_eq!(ParamValue::guess("0").ty(), ParamType::Int);
        assert_eq!(ParamValue::guess("0.5").ty(), ParamType::Float);
    }
}
