//! Property tests (proptest) over everything that reads text a user or a teammate wrote:
//! template files (and the library loading them), features files, the filter lexer and compiler,
//! and the parameter renderer, whose literals must round-trip exactly through DuckDB.
//!
//! Each property runs through a `TestRunner` that counts its executions and asserts the count,
//! so a run that silently did less fails. Nothing is printed; failures are not persisted.

#![allow(clippy::unwrap_used)] // a test that unwraps fails loudly, which is the point

mod common;

use std::cell::Cell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use seglens::engine::text::filter;
use seglens::engine::text::lexer::{self, TokenKind};
use seglens::engine::{Engine, FeatureSet, OpenOptions, ParamDecl, ParamDecls, ParamType, ParamValue};
use seglens::library::{Library, LibraryError, Template};

/// Runs `test` on `cases` values of `strategy`; panics with the failing (shrunk) value, and when
/// fewer than `cases` executions happened.
fn run<S: Strategy>(cases: u32, strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>)
where
    S::Value: std::fmt::Debug,
{
    let mut runner = TestRunner::new(Config { cases, failure_persistence: None, ..Config::default() });
    let count = Cell::new(0u32);
    let result = runner.run(&strategy, |v| {
        count.set(count.get() + 1);
        test(v)
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    assert!(count.get() >= cases, "{} executions of {cases}", count.get());
}

// ----------------------------------------------------------------------------------------------
// Text generators

const TOML_PIECES: &[&str] = &[
    "name",
    "version",
    "filter",
    "params",
    "[params.days]",
    "[params.",
    "]",
    "[",
    "[[",
    "]]",
    "=",
    " = ",
    "\"",
    "'",
    "\"\"\"",
    "'''",
    "\n",
    "\r\n",
    "\t",
    " ",
    "#",
    ",",
    ".",
    "{",
    "}",
    "{{days}}",
    "{{",
    "}}",
    "type",
    "\"int\"",
    "\"date\"",
    "\"string_list\"",
    "default",
    "min",
    "max",
    "step",
    "1",
    "-1",
    "0x10",
    "1e400",
    "nan",
    "inf",
    "2026-02-30",
    "2026-03-01T00:00:00Z",
    "true",
    "false",
    "[snapshot]",
    "[features.x]",
    "sql",
    "\\",
    "\\u0000",
    "\\uD800",
    "é",
    "😀",
    "\u{0}",
    "\u{feff}",
    "9999999999999999999999",
];

const SQL_PIECES: &[&str] = &[
    "{{",
    "}}",
    "{{days}}",
    "{{ days }}",
    "{{name}}",
    "{{nope}}",
    "{{1x}}",
    "'",
    "''",
    "\"",
    "\"\"",
    "$$",
    "$a$",
    "$1",
    "--",
    "\n",
    "\r",
    "/*",
    "*/",
    "(",
    ")",
    ",",
    ";",
    " ",
    "\t",
    "E'",
    "e'\\''",
    "\\",
    "é",
    "ü",
    "😀",
    "\u{200b}",
    "\u{a0}",
    "\u{feff}",
    "\u{3000}",
    "\u{0}",
    "\u{1b}",
    "\u{7f}",
    "x",
    "AND",
    "OR",
    "NOT",
    "lapsed",
    "lapsed(",
    "high_value(",
    "engaged(",
    "recent_buyer(",
    "orders_count",
    "region",
    "> 1",
    "=",
    "-",
    "-{{days}}",
    "1e5",
    ".",
    "customers.",
    "SELECT",
    "EXISTS",
    "FROM",
    "IN",
    "[",
    "]",
    "::",
    "DATE '2026-02-30'",
    "9223372036854775808",
    "read_text('/etc/hostname')",
];

fn soup(pieces: &'static [&'static str], max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(pieces), 0..max).prop_map(|v| v.concat())
}

/// Arbitrary strings: any Unicode, printable-heavy text, and soups of significant pieces.
fn text(pieces: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        proptest::string::string_regex("(?s).{0,200}").unwrap(),
        soup(pieces, 60),
        (soup(pieces, 20), any::<String>(), soup(pieces, 20)).prop_map(|(a, b, c)| a + &b + &c),
    ]
}

#[derive(Debug, Clone)]
enum Mutation {
    Delete(usize, usize),
    Insert(usize, String),
    Truncate(usize),
    DuplicateLine(usize),
    SwapLines(usize, usize),
    ReplaceByte(usize, u8),
}

fn mutation(pieces: &'static [&'static str]) -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1..40usize).prop_map(|(p, n)| Mutation::Delete(p, n)),
        (any::<usize>(), prop_oneof![prop::sample::select(pieces).prop_map(String::from), any::<String>()])
            .prop_map(|(p, s)| Mutation::Insert(p, s)),
        any::<usize>().prop_map(Mutation::Truncate),
        any::<usize>().prop_map(Mutation::DuplicateLine),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
        (any::<usize>(), 0x20u8..0x7f).prop_map(|(p, b)| Mutation::ReplaceByte(p, b)),
    ]
}

fn floor_boundary(s: &str, i: usize) -> usize {
    let mut i = i % (s.len() + 1);
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn mutate(base: &str, mutations: &[Mutation]) -> String {
    let mut s = base.to_string();
    for m in mutations {
        match m {
            Mutation::Delete(p, n) => {
                let a = floor_boundary(&s, *p);
                let b = floor_boundary(&s, (a + n).min(s.len()));
                s.replace_range(a..b.max(a), "");
            }
            Mutation::Insert(p, t) => {
                let a = floor_boundary(&s, *p);
                s.insert_str(a, t);
            }
            Mutation::Truncate(p) => {
                let a = floor_boundary(&s, *p);
                s.truncate(a);
            }
            Mutation::DuplicateLine(_) | Mutation::SwapLines(..) if s.lines().count() == 0 => {}
            Mutation::DuplicateLine(p) => {
                let mut lines: Vec<&str> = s.lines().collect();
                let i = p % lines.len();
                lines.insert(i, lines[i]);
                s = lines.join("\n");
            }
            Mutation::SwapLines(a, b) => {
                let mut lines: Vec<&str> = s.lines().collect();
                let n = lines.len();
                lines.swap(a % n, b % n);
                s = lines.join("\n");
            }
            Mutation::ReplaceByte(p, b) => {
                let a = floor_boundary(&s, *p);
                let end = s[a..].chars().next().map_or(a, |c| a + c.len_utf8());
                s.replace_range(a..end, &char::from(*b).to_string());
            }
        }
    }
    s
}

fn mutated(base: &'static str, pieces: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop::collection::vec(mutation(pieces), 1..6).prop_map(move |m| mutate(base, &m))
}

// ----------------------------------------------------------------------------------------------
// (a) Template files, features files and the library

/// A complete template, named as its folder in the library test so some mutants still load.
const TEMPLATE: &str = r#"name = "fuzzed"
version = 1
parent_version = 0
created_at = "2026-02-27T10:11:12Z"
author = "Priya Natarajan"
intent = "win back — ₹ offers, \"quotes\" and 'apostrophes'"
owner = "crm-team"
tags = ["holi", "win back", "मराठी"]
status = "approved"
kind = "segment"
priority = -3
table = "customers"
key = "customer_id"
filter = """
lapsed({{days}})
  AND region = {{region}} -- "quoted" ''' \\
  AND churn_risk > {{ratio}} AND signup_date >= {{since}}
  AND sms_opt_in = {{flag}} AND language IN (SELECT unnest({{langs}}))
"""
note = "first line\nsecond line"

[params.days]
type = "int"
default = 90
min = 1
max = 3650
step = 5.0
description = "Days since the last order"

[params.ratio]
type = "float"
default = 0.25
min = 0.0
max = 1.0

[params.region]
type = "string"
default = "West India"

[params.since]
type = "date"
default = "2025-01-31"
min = "2020-01-01"

[params.flag]
type = "bool"
default = true

[params.langs]
type = "string_list"
default = ["mr", "gu", "it's"]

[features.lapsed]
params = ["days"]
sql = "(last_order_date IS NULL OR last_order_date < current_date - to_days(days))"
description = "No order in `days` days"

[snapshot]
size = 1234
base = 100000
share = 0.01234
measured_at = "2026-02-27T10:11:13Z"

[snapshot.fingerprint]
path = "/data/crm.duckdb"
bytes = 987654321
modified = "2026-02-26T23:59:59+00:00"
table = "customers"
rows = 100000

[snapshot.profile]
open_rate = 0.3333333333333333
avg_spend = 4321.5
"#;

const FEATURES: &str = include_str!("../sample-data/features.toml");

fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())].iter().filter(|&&b| b == b'\n').count() + 1
}

/// A parse error names the file and, when toml gives a span, the span's line; a template that
/// parses serializes to text that parses back to the same text (a fixpoint), never to nothing.
fn check_template_text(text: &str) -> Result<(), TestCaseError> {
    match toml::from_str::<Template>(text) {
        Ok(t) => {
            let out = t.to_toml();
            prop_assert!(!out.trim().is_empty(), "a parsed template serializes to nothing: {t:?}");
            let back: Template = toml::from_str(&out)
                .map_err(|e| TestCaseError::fail(format!("its own serialization does not parse: {e}\n{out}")))?;
            prop_assert_eq!(back.to_toml(), out);
        }
        Err(e) => {
            let err = LibraryError::from_toml(PathBuf::from("lib/x/v0001.toml"), text, &e);
            prop_assert!(err.to_string().starts_with("lib/x/v0001.toml"), "{}", err);
            if let Some(span) = e.span() {
                match &err {
                    LibraryError::Invalid { line: Some(l), .. } => prop_assert_eq!(*l, line_of(text, span.start)),
                    other => return Err(TestCaseError::fail(format!("no line in {other:?}"))),
                }
            }
        }
    }
    Ok(())
}

#[test]
fn template_parser_never_panics_and_locates_errors() {
    run(10_000, prop_oneof![text(TOML_PIECES), mutated(TEMPLATE, TOML_PIECES)], |t| check_template_text(&t));
}

#[test]
fn features_parser_never_panics_and_compiles_with_whatever_loads() {
    let decls = ParamDecls::new();
    let values = BTreeMap::new();
    run(8000, prop_oneof![text(TOML_PIECES), mutated(FEATURES, TOML_PIECES)], |t| {
        if let Ok(set) = FeatureSet::from_toml(&t) {
            for f in ["lapsed(90) AND high_value(5000)", "engaged(70) OR holi_buyer()", "x(1, 2, 3) AND y()"] {
                let _ = filter::compile(f, &decls, &values, &set);
            }
            for feature in set.iter() {
                let call = format!("{}({})", feature.name, vec!["1"; feature.params.len()].join(", "));
                if let Ok(c) = filter::compile(&call, &decls, &values, &set) {
                    check_compiled(&call, &c)?;
                }
            }
        }
        Ok(())
    });
}

/// The library directory holds a good template and a fuzzed one (sometimes not UTF-8): the good
/// one always loads; the fuzzed one either loads or is reported, with its path, exactly once.
#[test]
fn library_loads_the_rest_beside_a_fuzzed_file() {
    let dir = tempfile::tempdir().unwrap();
    let good = TEMPLATE.replacen("name = \"fuzzed\"", "name = \"good\"", 1);
    std::fs::create_dir_all(dir.path().join("good")).unwrap();
    std::fs::write(dir.path().join("good/v0001.toml"), &good).unwrap();
    std::fs::create_dir_all(dir.path().join("fuzzed")).unwrap();
    let fuzzed = dir.path().join("fuzzed/v0001.toml");
    let lib = Library::open(dir.path());
    let strategy = (prop_oneof![text(TOML_PIECES), mutated(TEMPLATE, TOML_PIECES)], any::<Option<usize>>());
    run(6000, strategy, |(t, bad_byte)| {
        let mut bytes = t.into_bytes();
        if let Some(p) = bad_byte {
            bytes.insert(p % (bytes.len() + 1), 0xff);
        }
        std::fs::write(&fuzzed, &bytes).unwrap();
        let report = lib.load_all();
        prop_assert!(report.templates.iter().any(|t| t.name == "good"), "{:?}", report.errors);
        let loaded = report.templates.iter().any(|t| t.name == "fuzzed");
        let reported: Vec<&LibraryError> = report.errors.iter().collect();
        prop_assert_eq!(loaded as usize + reported.len(), 1, "{:?}", reported);
        for e in reported {
            match e {
                LibraryError::Invalid { path, .. } => prop_assert_eq!(path.as_path(), fuzzed.as_path()),
                other => return Err(TestCaseError::fail(format!("not an Invalid error: {other:?}"))),
            }
        }
        Ok(())
    });
    assert!(Path::new(&fuzzed).exists());
}

// ----------------------------------------------------------------------------------------------
// (b) Lexer and compiler

/// Properties of a compiled filter: one balanced expression with no statement separator, and
/// every position in it maps back into the source.
fn check_compiled(src: &str, c: &seglens::engine::Compiled) -> Result<(), TestCaseError> {
    let tokens = lexer::tokenize(&c.sql).map_err(|e| TestCaseError::fail(format!("{src:?} → {:?}: {e}", c.sql)))?;
    let mut depth = 0i64;
    for t in &tokens {
        match t.kind {
            TokenKind::OpenParen => depth += 1,
            TokenKind::CloseParen => depth -= 1,
            TokenKind::Semicolon => return Err(TestCaseError::fail(format!("';' in {:?}", c.sql))),
            _ => {}
        }
        prop_assert!(depth >= 0, "unbalanced {:?}", c.sql);
    }
    prop_assert_eq!(depth, 0, "unbalanced {:?}", c.sql);
    let step = (c.sql.len() / 64).max(1);
    for off in (0..=c.sql.len()).step_by(step) {
        let p = c.source_pos(off);
        prop_assert!(p.offset <= src.len() && p.line >= 1 && p.col >= 1, "{:?} at {}", p, off);
    }
    let _ = c.clauses();
    Ok(())
}

#[test]
fn lexer_and_compiler_never_panic_and_keep_their_promises() {
    let features = FeatureSet::from_toml(FEATURES).unwrap();
    let mut decls = ParamDecls::new();
    let mut days = ParamDecl::new(ParamType::Int);
    days.default = Some(ParamValue::Int(90));
    days.min = Some(ParamValue::Int(1));
    decls.insert("days".into(), days);
    let mut name = ParamDecl::new(ParamType::String);
    name.default = Some(ParamValue::String("O'Brien -- ) ;".into()));
    decls.insert("name".into(), name);
    let engine = Engine::open(common::shared_db(), &OpenOptions::default()).unwrap();
    let checked = Cell::new(0u32);
    run(20_000, text(SQL_PIECES), |src| {
        match lexer::tokenize(&src) {
            Ok(tokens) => {
                let mut at = 0;
                for t in &tokens {
                    prop_assert!(t.start == at && t.end > t.start, "gap or empty token in {:?}: {:?}", src, t);
                    prop_assert!(src.is_char_boundary(t.start) && src.is_char_boundary(t.end));
                    at = t.end;
                }
                prop_assert_eq!(at, src.len(), "tokens do not cover {:?}", src);
            }
            Err(e) => prop_assert!(e.pos.is_none_or(|p| p.offset <= src.len()), "{:?}", e),
        }
        let _ = filter::placeholders(&src);
        let _ = filter::bind_params(&src, &decls, &[("days".into(), "5".into()), ("x".into(), "a,b".into())]);
        let mut values = BTreeMap::new();
        values.insert("days".to_string(), ParamValue::Int(-7));
        for vals in [BTreeMap::new(), values] {
            match filter::compile(&src, &decls, &vals, &features) {
                Ok(c) => {
                    check_compiled(&src, &c)?;
                    // DuckDB (binding only) agrees it is one expression; whatever it says is the
                    // user's error, never an internal one.
                    if let Err(e) = engine.check(&c) {
                        prop_assert!(e.is_user_error(), "{:?} → internal error {:?}", src, e);
                        prop_assert!(!e.to_string().contains("multiple statements"), "{:?}: {}", src, e);
                    }
                    checked.set(checked.get() + 1);
                }
                Err(e) => {
                    if let Some(p) = e.pos {
                        prop_assert!(p.offset <= src.len() && p.line >= 1 && p.col >= 1, "{:?}", e);
                        prop_assert!(p.line <= src.split('\n').count(), "{:?}", e);
                    }
                    prop_assert!(!e.message.is_empty());
                }
            }
        }
        Ok(())
    });
    assert!(checked.get() > 100, "only {} inputs compiled", checked.get());
}

// ----------------------------------------------------------------------------------------------
// (c) The parameter renderer round-trips through DuckDB

const STR_PIECES: &[&str] = &[
    "'",
    "''",
    "\\",
    "\\'",
    "\"",
    "\n",
    "\r\n",
    "\t",
    "é",
    "😀",
    "👩‍👩‍👧",
    "\u{200b}",
    "\u{1}",
    "\u{7f}",
    "$$",
    "--",
    "/*",
    "*/",
    "{{x}}",
    ";",
    ")",
    "a",
    " ",
    "E'",
    "%",
    "_",
    "NULL",
];

fn a_string() -> impl Strategy<Value = String> {
    prop_oneof![
        soup(STR_PIECES, 24),
        any::<String>().prop_map(|s| s.replace('\0', "")),
        proptest::string::string_regex("\\PC{0,40}").unwrap(),
    ]
}

fn a_date() -> impl Strategy<Value = NaiveDate> {
    prop_oneof![
        (1i32..=9999, 1u32..=12, 1u32..=31),
        (prop_oneof![Just(1i32), Just(1970), Just(2000), Just(2024), Just(9999)], 1u32..=12, 28u32..=31),
    ]
    .prop_filter_map("a day that exists", |(y, m, d)| NaiveDate::from_ymd_opt(y, m, d))
}

fn a_value() -> impl Strategy<Value = ParamValue> {
    prop_oneof![
        any::<i64>().prop_map(ParamValue::Int),
        prop_oneof![Just(i64::MIN), Just(i64::MAX), Just(0), Just(-1), Just(i64::MIN + 1)].prop_map(ParamValue::Int),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(ParamValue::Float),
        prop_oneof![
            Just(f64::MIN),
            Just(f64::MAX),
            Just(f64::MIN_POSITIVE),
            Just(5e-324),
            Just(-0.0),
            Just(0.1),
            Just(-1e-7)
        ]
        .prop_map(ParamValue::Float),
        a_string().prop_map(ParamValue::String),
        a_date().prop_map(ParamValue::Date),
        any::<bool>().prop_map(ParamValue::Bool),
        prop::collection::vec(a_string(), 0..6).prop_map(ParamValue::StringList),
    ]
}

fn q<T: duckdb::types::FromSql>(conn: &duckdb::Connection, sql: &str) -> Result<T, TestCaseError> {
    conn.query_row(sql, [], |r| r.get::<_, T>(0)).map_err(|e| TestCaseError::fail(format!("{sql}: {e}")))
}

/// `SELECT <literal>` gives back exactly the value, in its type; inside `0 -<literal>` the
/// literal stays one operand (a negative number cannot start a `--` comment).
fn round_trip(conn: &duckdb::Connection, v: &ParamValue) -> Result<(), TestCaseError> {
    let lit = v.to_sql();
    let ty: String = q(conn, &format!("SELECT typeof({lit})"))?;
    match v {
        ParamValue::Int(x) => {
            prop_assert_eq!(q::<i64>(conn, &format!("SELECT {lit}"))?, *x);
            prop_assert!(["INTEGER", "BIGINT"].contains(&ty.as_str()), "{lit}: {ty}");
            prop_assert_eq!(q::<i128>(conn, &format!("SELECT 0::HUGEINT -{lit}"))?, -i128::from(*x));
        }
        ParamValue::Float(x) => {
            let got = q::<f64>(conn, &format!("SELECT {lit}"))?;
            prop_assert_eq!(got.to_bits(), x.to_bits(), "{} read back as {:?}", lit, got);
            prop_assert_eq!(ty.as_str(), "DOUBLE");
            prop_assert_eq!(q::<f64>(conn, &format!("SELECT 0::DOUBLE -{lit}"))?, -x);
        }
        ParamValue::String(s) => {
            prop_assert_eq!(&q::<String>(conn, &format!("SELECT {lit}"))?, s);
            prop_assert_eq!(ty.as_str(), "VARCHAR");
        }
        ParamValue::Date(d) => {
            let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
            let days = q::<i64>(conn, &format!("SELECT {lit} - DATE '1970-01-01'"))?;
            prop_assert_eq!(days, d.signed_duration_since(epoch).num_days(), "{}", lit);
            prop_assert_eq!(ty.as_str(), "DATE");
        }
        ParamValue::Bool(b) => {
            prop_assert_eq!(q::<bool>(conn, &format!("SELECT {lit}"))?, *b);
            prop_assert_eq!(ty.as_str(), "BOOLEAN");
        }
        ParamValue::StringList(items) => {
            prop_assert_eq!(ty.as_str(), "VARCHAR[]");
            prop_assert_eq!(q::<i64>(conn, &format!("SELECT len({lit})"))?, items.len() as i64);
            for (i, item) in items.iter().enumerate() {
                prop_assert_eq!(&q::<String>(conn, &format!("SELECT ({lit})[{}]", i + 1))?, item);
            }
        }
    }
    // What a user would type for the value parses back to it (lists: items without commas).
    let typed_back = match v {
        ParamValue::StringList(items)
            if items.iter().any(|s| s.contains(',') || s.trim() != s || s.is_empty() || s.contains('\0')) =>
        {
            None
        }
        _ => Some(ParamValue::parse(v.ty(), &v.to_input())),
    };
    if let Some(back) = typed_back {
        prop_assert_eq!(back.as_ref(), Ok(v), "{:?} typed as {:?}", v, v.to_input());
    }
    Ok(())
}

#[test]
fn rendered_literals_round_trip_through_duckdb() {
    let conn = duckdb::Connection::open_in_memory().unwrap();
    run(4000, a_value(), |v| round_trip(&conn, &v));
}

/// Dates that parse outside 1..=9999 (chrono accepts more than DuckDB's text form) still render to
/// a literal DuckDB reads as the same day, or are refused when typed.
#[test]
fn dates_outside_four_digit_years_render_or_are_refused() {
    let conn = duckdb::Connection::open_in_memory().unwrap();
    for typed in ["0000-01-01", "-0001-12-31", "+10000-01-01", "10000-01-01", "262142-12-31", "0001-01-01"] {
        if let Ok(v) = ParamValue::parse(ParamType::Date, typed) {
            round_trip(&conn, &v).unwrap_or_else(|e| panic!("{typed:?} parsed as {v:?} but: {e}"));
        }
    }
}

// ----------------------------------------------------------------------------------------------
// What the fuzzers found, pinned

fn compile_with_features(
    text: &str,
    values: &[(&str, ParamValue)],
    features: &FeatureSet,
) -> seglens::engine::Compiled {
    let values: BTreeMap<String, ParamValue> = values.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
    filter::compile(text, &ParamDecls::new(), &values, features).unwrap_or_else(|e| panic!("{text:?}: {e}"))
}

#[test]
fn inputs_the_fuzzers_found_stay_fixed() {
    let db = common::shared_db();
    let engine = Engine::open(db, &OpenOptions::default()).unwrap();
    let plain = common::plain(db);
    let features = FeatureSet::from_toml(FEATURES).unwrap();
    let none = FeatureSet::default();
    // Prepared-statement parameters reached DuckDB, which then failed as an internal error.
    for text in ["orders_count > ?", "orders_count > $1", "region = $r", "$\" \" = 1", "$𞟭", "\u{200b}$1 = 1"] {
        let e = filter::compile(text, &ParamDecls::new(), &BTreeMap::new(), &none).unwrap_err();
        assert!(e.message.contains("prepared-statement parameters") && e.pos.is_some(), "{text:?}: {e}");
    }
    // A `--` comment in a feature argument or at the end of a feature body swallowed the
    // parentheses the expansion adds after it.
    let lapsed = "(last_order_date IS NULL OR last_order_date < current_date - to_days(90))";
    let c = compile_with_features("lapsed(90 -- ninety days\n) AND orders_count > 0", &[], &features);
    let want = common::count_where(&plain, &format!("{lapsed} AND orders_count > 0"));
    assert_eq!(engine.size(&c).unwrap().size, want, "{}", c.sql);
    let commented = FeatureSet::from_toml("[big]\nparams = [\"m\"]\nsql = \"lifetime_spend > m -- rupees\"\n").unwrap();
    assert!(commented.broken.is_empty(), "{:?}", commented.broken);
    let c = compile_with_features("big(5000) AND NOT big(20000)", &[], &commented);
    let want = common::count_where(&plain, "lifetime_spend > 5000 AND NOT lifetime_spend > 20000");
    assert_eq!(engine.size(&c).unwrap().size, want, "{}", c.sql);
    // A feature body that escapes its parentheses, or holds a statement separator, is broken.
    let bad = FeatureSet::from_toml(
        "[esc]\nsql = \"TRUE) OR (TRUE\"\n[semi]\nsql = \"TRUE; SELECT 1\"\n[marker]\nsql = \"orders_count > ?\"\n",
    )
    .unwrap();
    assert!(bad.is_empty(), "{:?}", bad.iter().map(|f| &f.name).collect::<Vec<_>>());
    assert_eq!(bad.broken.len(), 3, "{:?}", bad.broken);
    // A rendered value never fuses with the text beside it into another token.
    let s = ParamValue::String("\\' OR 1=1 --".into());
    let c = compile_with_features("region = E{{s}}", &[("s", s)], &none);
    assert!(engine.size(&c).is_err(), "an escape string was formed: {}", c.sql);
    let c = compile_with_features("orders_count{{n}} > 0", &[("n", ParamValue::Int(1))], &none);
    assert!(engine.size(&c).is_err(), "another column was formed: {}", c.sql);
    let c = compile_with_features("-{{days}}x$$ IS NULL", &[("days", ParamValue::Int(5))], &none);
    assert!(lexer::tokenize(&c.sql).is_ok(), "{}", c.sql);
    // Dates DuckDB cannot read back are refused when typed.
    for typed in ["+10000-01-01", "0000-01-01", "-0001-12-31"] {
        assert!(ParamValue::parse(ParamType::Date, typed).is_err(), "{typed}");
    }
    assert!(ParamValue::parse(ParamType::Date, "9999-12-31").is_ok());
    // DuckDB ends a `--` comment at a carriage return: so does the lexer, and the `)` after it
    // cannot close the parentheses seglens adds (which would let a segment slip out of the
    // `AND NOT suppression` an export appends).
    let e = filter::compile("customer_id = 1 --\r) OR (TRUE", &ParamDecls::new(), &BTreeMap::new(), &none).unwrap_err();
    assert!(e.message.contains("unbalanced"), "{e}");
    let c = compile_with_features("customer_id = 1 -- one\r OR customer_id = 2", &[], &none);
    assert_eq!(engine.size(&c).unwrap().size, 2, "{}", c.sql);
    // A filter of only comments is "empty", not DuckDB's "TUPLE -> BOOLEAN".
    let e = filter::compile("-- nothing\n/* here */", &ParamDecls::new(), &BTreeMap::new(), &none).unwrap_err();
    assert!(e.message.contains("only comments"), "{e}");
}
