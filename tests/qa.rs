//! Segment QA (issue 16) against plain SQL: the funnel (NULLs, ORs, features, params, comments,
//! the clause cache, what-ifs), hygiene (planted duplicates and spelling variants, NULL shares,
//! what approved segments cannot judge), A vs B (known overlaps, metrics, the tests' p-values),
//! small and empty segments; on the sample schema and on the two foreign schemas, through the
//! engine and through the CLI's JSON.

#![allow(clippy::unwrap_used)] // a test that unwraps fails loudly, which is the point

mod common;

use std::path::Path;

use common::foreign::{Foreign, foreign_db};
use common::*;
use seglens::engine::query::funnel::{ClauseFlag, Funnel, Join};
use seglens::engine::query::hygiene::IdentityKind;
use seglens::engine::query::profile::MetricFormat;
use seglens::engine::query::size::SizeMark;
use seglens::engine::{Engine, MetricDef, OpenOptions, ParamValue};
use serde_json::Value;

/// The sample schema with the sample workspace's metrics.
fn open(db: &Path) -> Engine {
    Engine::open(db, &OpenOptions { metrics: Some(sample_metrics()), ..Default::default() })
        .unwrap_or_else(|e| panic!("open {}: {e}", db.display()))
}

fn open_foreign(db: &Path, kind: Foreign, metrics: Option<Vec<MetricDef>>) -> Engine {
    let metrics = metrics.map(|metric| seglens::engine::MetricSet {
        file: seglens::engine::MetricsFile { rollup: Vec::new(), metric },
        source: seglens::engine::MetricSource::File("test".into()),
    });
    let opts =
        OpenOptions { table: Some(kind.table().into()), key: Some(kind.key().into()), metrics, ..Default::default() };
    Engine::open(db, &opts).unwrap_or_else(|e| panic!("open {kind:?}: {e}"))
}

fn count_in(conn: &duckdb::Connection, table: &str, cond: &str) -> u64 {
    q_i64(conn, &format!("SELECT count(*) FROM {table} WHERE {cond}")) as u64
}

/// Checks every figure of `f` against plain SQL over `table`, given the clauses' SQL written by
/// the test (features and params expanded by hand) and the texts the funnel must show.
#[track_caller]
fn check_funnel(conn: &duckdb::Connection, table: &str, f: &Funnel, clauses: &[&str], texts: &[&str]) {
    let and = |cs: &[&str]| {
        if cs.is_empty() {
            "TRUE".to_string()
        } else {
            cs.iter().map(|c| format!("({c})")).collect::<Vec<_>>().join(" AND ")
        }
    };
    let or = |cs: &[&str]| {
        if cs.is_empty() {
            "FALSE".to_string()
        } else {
            cs.iter().map(|c| format!("({c})")).collect::<Vec<_>>().join(" OR ")
        }
    };
    let join = |cs: &[&str]| match f.join {
        Join::And => and(cs),
        Join::Or => or(cs),
    };
    assert_eq!(f.base, q_i64(conn, &format!("SELECT count(*) FROM {table}")) as u64);
    assert_eq!(f.size, count_in(conn, table, &join(clauses)), "size");
    assert_eq!(f.clauses.len(), clauses.len(), "{:?}", f.clauses);
    for (i, c) in f.clauses.iter().enumerate() {
        assert_eq!(c.text, texts[i], "text of clause {i}");
        let others: Vec<&str> = clauses.iter().enumerate().filter(|(j, _)| *j != i).map(|(_, c)| *c).collect();
        assert_eq!(c.running, count_in(conn, table, &join(&clauses[..=i])), "running of {}", c.text);
        assert_eq!(c.without, count_in(conn, table, &join(&others)), "without {}", c.text);
        assert_eq!(c.unknown, count_in(conn, table, &format!("({}) IS NULL", clauses[i])), "NULLs of {}", c.text);
        assert_eq!(c.own, count_in(conn, table, &format!("({})", clauses[i])), "own of {}", c.text);
    }
    assert_eq!(f.clauses.last().map(|c| c.running), Some(f.size), "the last running count is the size");
}

// ---------------------------------------------------------------------------------------------
// Funnel
// ---------------------------------------------------------------------------------------------

#[test]
fn funnel_of_and_filters_matches_plain_sql() {
    let db = shared_db();
    let e = open(db);
    let c = plain(db);
    // NULLs (engagement_score, city), BETWEEN, comments, parentheses with an OR inside, CASE.
    let cases: [(&str, &[&str], &[&str]); 4] = [
        (
            "engagement_score > 60 AND region = 'West India' AND city IS NOT NULL",
            &["engagement_score > 60", "region = 'West India'", "city IS NOT NULL"],
            &["engagement_score > 60", "region = 'West India'", "city IS NOT NULL"],
        ),
        (
            "-- lead comment\n(orders_count > 0 OR sms_opt_in) AND /* inline */ language IN ('mr', 'gu') -- tail",
            &["orders_count > 0 OR sms_opt_in", "language IN ('mr', 'gu')"],
            &["(orders_count > 0 OR sms_opt_in)", "language IN ('mr', 'gu')"],
        ),
        (
            "lifetime_spend BETWEEN 1000 AND 5000 AND churn_risk > 0.3",
            &["lifetime_spend BETWEEN 1000 AND 5000", "churn_risk > 0.3"],
            &["lifetime_spend BETWEEN 1000 AND 5000", "churn_risk > 0.3"],
        ),
        (
            "CASE WHEN age_band = '18-24' AND gender = 'female' THEN 1 ELSE 0 END = 1 AND push_opt_in",
            &["CASE WHEN age_band = '18-24' AND gender = 'female' THEN 1 ELSE 0 END = 1", "push_opt_in"],
            &["CASE WHEN age_band = '18-24' AND gender = 'female' THEN 1 ELSE 0 END = 1", "push_opt_in"],
        ),
    ];
    for (text, clauses, texts) in cases {
        let f = e.funnel(&compile(text)).unwrap_or_else(|err| panic!("{text}: {err}"));
        assert_eq!(f.join, Join::And, "{text}");
        check_funnel(&c, "customers", &f, clauses, texts);
    }
    // The figures are not trivially equal: the score is NULL for some, and each clause removes rows.
    let f = e.funnel(&compile(cases[0].0)).unwrap();
    assert!(f.clauses[0].unknown > 50, "{:?}", f.clauses[0]);
    assert!(f.clauses.iter().all(|c| c.step > 0), "{:?}", f.clauses);
}

#[test]
fn long_funnels_are_counted_by_group_by_and_agree_with_plain_sql() {
    let db = shared_db();
    let e = open(db);
    let c = plain(db);
    // Seven clauses: past the tally function's six, so the outcome table comes from a GROUP BY.
    let clauses = [
        "engagement_score > 20",
        "orders_count > 0",
        "region <> 'North India'",
        "sms_opt_in",
        "city IS NOT NULL",
        "churn_risk < 0.9",
        "age_band IS NOT NULL",
    ];
    assert!(clauses.len() > seglens::engine::cache::TALLY_MAX_CLAUSES);
    let fun = e.funnel(&compile(&clauses.join(" AND "))).unwrap();
    check_funnel(&c, "customers", &fun, &clauses, &clauses);
    // Six of them through the tally, the same figures.
    let fun6 = e.funnel(&compile(&clauses[..6].join(" AND "))).unwrap();
    check_funnel(&c, "customers", &fun6, &clauses[..6], &clauses[..6]);
    assert_eq!(fun.with_enabled(&[true, true, true, true, true, true, false]).size, fun6.size);
}

#[test]
fn funnel_expands_features_and_params_but_shows_the_text_as_written() {
    let db = shared_db();
    let e = open(db);
    let c = plain(db);
    let features = sample_features();
    let text = "lapsed({{days}}) AND high_value({{min}})\n  AND engaged(40)";
    let f = compile_with(text, &[("days", ParamValue::Int(60)), ("min", ParamValue::Float(2500.0))], &features);
    let fun = e.funnel(&f).expect("funnel");
    check_funnel(
        &c,
        "customers",
        &fun,
        &[
            "last_order_date IS NULL OR last_order_date < current_date - to_days(60)",
            "lifetime_spend > 2500.0",
            "engagement_score >= 40",
        ],
        &["lapsed({{days}})", "high_value({{min}})", "engaged(40)"],
    );
    // A feature whose body is an AND stays one clause (it expands inside parentheses).
    let f = compile_with("lapsed_high_value(90, 5000) AND sms_opt_in", &[], &features);
    let fun = e.funnel(&f).expect("funnel");
    check_funnel(
        &c,
        "customers",
        &fun,
        &[
            "(last_order_date IS NULL OR last_order_date < current_date - to_days(90)) AND lifetime_spend > 5000",
            "sms_opt_in",
        ],
        &["lapsed_high_value(90, 5000)", "sms_opt_in"],
    );
}

#[test]
fn funnel_of_a_top_level_or_gives_each_branch_its_own_and_exclusive_rows() {
    let db = shared_db();
    let e = open(db);
    let c = plain(db);
    let text = "region = 'West India' OR engagement_score > 80 AND sms_opt_in OR city = 'Chennai'";
    let branches = ["region = 'West India'", "engagement_score > 80 AND sms_opt_in", "city = 'Chennai'"];
    let fun = e.funnel(&compile(text)).expect("funnel");
    assert_eq!(fun.join, Join::Or);
    check_funnel(&c, "customers", &fun, &branches, &branches);
    for (i, b) in fun.clauses.iter().enumerate() {
        let others: Vec<String> = branches
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, x)| format!("coalesce(({x}), false)"))
            .collect();
        let only = count_where(&c, &format!("({}) AND NOT ({})", branches[i], others.join(" OR ")));
        assert_eq!(b.exclusive, only, "rows only {} brings", b.text);
    }
    assert!(fun.clauses.iter().all(|b| b.exclusive > 0));
    // A branch that brings nobody new is flagged.
    let fun = e.funnel(&compile("region = 'West India' OR region = 'West India' AND sms_opt_in")).unwrap();
    assert_eq!(fun.clauses[1].flag, Some(ClauseFlag::AddsNothing), "{:?}", fun.clauses);
}

#[test]
fn funnel_flags_clauses_that_remove_nothing_or_everything() {
    let db = shared_db();
    let e = open(db);
    let c = plain(db);
    // The classic: an AND where an OR was meant.
    let fun = e.funnel(&compile("loyalty_tier = 'gold' AND loyalty_tier = 'silver' AND sms_opt_in")).unwrap();
    assert_eq!(fun.size, 0);
    assert!(count_where(&c, "loyalty_tier = 'gold'") > 0 && count_where(&c, "loyalty_tier = 'silver'") > 0);
    let flags: Vec<Option<ClauseFlag>> = fun.clauses.iter().map(|c| c.flag).collect();
    assert_eq!(flags, vec![None, Some(ClauseFlag::RemovesEverything), None]);
    let fun = e.funnel(&compile("orders_count >= 0 AND region = 'West India'")).unwrap();
    assert_eq!(count_where(&c, "orders_count >= 0"), CUSTOMERS, "true for everyone");
    assert_eq!(fun.clauses[0].flag, Some(ClauseFlag::RemovesNothing));
    assert_eq!(fun.clauses[1].flag, None);
}

#[test]
fn switching_a_clause_off_recounts_without_a_query() {
    let db = shared_db();
    let e = open(db);
    let c = plain(db);
    let clauses = ["engagement_score > 50", "region = 'North India'", "push_opt_in"];
    let fun = e.funnel(&compile(&clauses.join(" AND "))).unwrap();
    let off = fun.with_enabled(&[true, false, true]);
    assert_eq!(off.size, count_where(&c, "engagement_score > 50 AND push_opt_in"));
    assert!(!off.clauses[1].enabled && off.clauses[0].enabled);
    assert_eq!(off.clauses[2].running, off.size);
    assert_eq!(off.clauses[0].without, count_where(&c, "push_opt_in"));
    assert_eq!(fun.with_enabled(&[false, false, false]).size, CUSTOMERS);
    assert_eq!(off.with_enabled(&[true, true, true]), fun, "back on: the same funnel");
}

#[test]
fn funnel_uses_the_clause_cache_and_gives_the_same_figures() {
    let db = shared_db();
    let e = open(db);
    let text = "engagement_score > 30 AND EXISTS (SELECT 1 FROM events ev WHERE ev.customer_id = customers.customer_id AND ev.event_type = 'cart_add')";
    let f = compile(text);
    let cold = e.funnel(&f).unwrap();
    // The funnel recorded both clauses' outcomes; the size query reuses the EXISTS one.
    assert!(e.cache_summary().starts_with("2 cached"), "{}", e.cache_summary());
    e.size(&f).unwrap();
    assert!(e.cache_summary().starts_with("2 cached"), "{}", e.cache_summary());
    let warm = e.funnel(&f).unwrap();
    assert_eq!(cold, warm);
    let exists = &text["engagement_score > 30 AND ".len()..];
    let c = plain(db);
    check_funnel(&c, "customers", &warm, &["engagement_score > 30", exists], &["engagement_score > 30", exists]);
    // Nudging the score evaluates that clause alone; the EXISTS outcome is read back.
    let nudged = e.funnel(&compile(&text.replace("> 30", "> 31"))).unwrap();
    assert!(e.cache_summary().starts_with("3 cached"), "{}", e.cache_summary());
    check_funnel(&c, "customers", &nudged, &["engagement_score > 31", exists], &["engagement_score > 31", exists]);
}

#[test]
fn a_bad_clause_is_located_in_the_users_text() {
    let e = open(shared_db());
    let err = e.funnel(&compile("orders_count > 0\n  AND bogus_column = 1")).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("bogus_column") && msg.contains("line 2"), "{msg}");
}

#[test]
fn funnel_on_foreign_schemas() {
    let dir = tempfile::tempdir().unwrap();
    for kind in Foreign::ALL {
        let db = foreign_db(dir.path(), kind, 1500);
        let e = open_foreign(&db, kind, None);
        let (related, date) = kind.related();
        let exists = format!(
            "EXISTS (SELECT 1 FROM {related} r WHERE r.{key} = {t}.{key} AND r.{date} >= DATE '2026-01-01')",
            key = kind.key(),
            t = kind.table_sql()
        );
        let parts: Vec<&str> = kind.filter().split(" AND ").chain([exists.as_str()]).collect();
        let c = plain(&db);
        let fun = e.funnel(&compile(&parts.join(" AND "))).unwrap_or_else(|err| panic!("{kind:?}: {err}"));
        check_funnel(&c, kind.table_sql(), &fun, &parts, &parts);
        assert!(fun.clauses[0].unknown > 0, "{kind:?}: the first clause reads a column with NULLs");
        // Nudging one clause: the other clauses' recorded outcomes (NULLs included) are read back.
        let later = exists.replace("2026-01-01", "2026-03-01");
        let mut nudged = parts.clone();
        *nudged.last_mut().unwrap() = later.as_str();
        let fun = e.funnel(&compile(&nudged.join(" AND "))).unwrap();
        check_funnel(&c, kind.table_sql(), &fun, &nudged, &nudged);
        // A subquery clause that can be NULL, cached first by a size query (which only knows where
        // it holds): the funnel still counts the rows it cannot judge.
        let latest = format!(
            "(SELECT max(r.{date}) FROM {related} r WHERE r.{key} = {t}.{key}) >= DATE '2026-01-01'",
            key = kind.key(),
            t = kind.table_sql()
        );
        let maybe_null = [parts[0], latest.as_str()];
        e.size(&compile(&maybe_null.join(" AND "))).unwrap();
        let fun = e.funnel(&compile(&maybe_null.join(" AND "))).unwrap();
        check_funnel(&c, kind.table_sql(), &fun, &maybe_null, &maybe_null);
        assert!(fun.clauses[1].unknown > 0, "{kind:?}: members without a related row");
        let branches: Vec<&str> = kind.filter().split(" AND ").collect();
        let fun = e.funnel(&compile(&branches.join(" OR "))).unwrap();
        check_funnel(&c, kind.table_sql(), &fun, &branches, &branches);
    }
}

#[test]
fn funnel_cli_json_has_the_promised_shape() {
    let sb = Sandbox::new();
    let db = shared_db();
    let o = sb
        .seglens(&[
            "funnel",
            "engagement_score > {{s}} AND region = 'West India'",
            "--param",
            "s=55",
            "--db",
            s(db),
            "--json",
        ])
        .ok();
    let v = o.json();
    let c = plain(db);
    assert_eq!(v["base"].as_u64(), Some(CUSTOMERS));
    assert_eq!(v["size"].as_u64(), Some(count_where(&c, "engagement_score > 55 AND region = 'West India'")));
    let clauses = v["clauses"].as_array().expect("clauses");
    assert_eq!(clauses.len(), 2);
    assert_eq!(clauses[0]["text"].as_str(), Some("engagement_score > {{s}}"));
    for (i, cl) in clauses.iter().enumerate() {
        for field in ["running", "without", "unknown"] {
            assert!(cl[field].is_u64(), "clause {i} {field}: {cl}");
        }
    }
    assert_eq!(clauses[0]["unknown"].as_u64(), Some(count_where(&c, "engagement_score IS NULL")));
    assert_eq!(clauses[1]["without"].as_u64(), Some(count_where(&c, "engagement_score > 55")));
    assert_eq!(clauses[1]["running"], v["size"]);
    // A foreign database, named explicitly.
    let dir = tempfile::tempdir().unwrap();
    let fdb = foreign_db(dir.path(), Foreign::Club, 800);
    let args =
        ["funnel", Foreign::Club.filter(), "--db", s(&fdb), "--table", "Club Members", "--key", "member_id", "--json"];
    let v = sb.seglens(&args).ok().json();
    let fc = plain(&fdb);
    assert_eq!(v["size"].as_u64(), Some(count_in(&fc, Foreign::Club.table_sql(), Foreign::Club.filter())));
    assert_eq!(v["clauses"][0]["text"].as_str(), Some("\"Revenue\" >= 600"));
    assert_eq!(v["clauses"][0]["unknown"].as_u64(), Some(count_in(&fc, "\"Club Members\"", "\"Revenue\" IS NULL")));
}

// ---------------------------------------------------------------------------------------------
// Hygiene
// ---------------------------------------------------------------------------------------------

/// A table of planted troubles: duplicate emails and phones in several spellings, sector
/// spellings that differ by case, whitespace, punctuation, accents and word order.
fn planted(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("planted.duckdb");
    let conn = duckdb::Connection::open(&path).unwrap();
    conn.execute_batch(
        "CREATE TABLE contacts AS SELECT
            i AS contact_id,
            CASE WHEN i <= 3 THEN ' Ana@Example.com ' WHEN i <= 5 THEN 'ana@example.com'
                 WHEN i = 6 THEN 'BO@x.org' WHEN i = 7 THEN 'bo@x.org' WHEN i % 10 = 0 THEN NULL
                 ELSE 'u' || i || '@x.org' END AS email,
            CASE WHEN i IN (1, 2) THEN '+91 98200 11111' WHEN i = 3 THEN '9820011111'
                 WHEN i = 4 THEN '(982) 001-1111' ELSE '70000' || lpad(i::VARCHAR, 5, '0') END AS mobile,
            ['Tech', ' tech', 'TECH', 'Café', 'cafe', 'Cafe!', 'New  York', 'york new', 'Retail', 'Retail'][1 + i % 10] AS sector,
            CASE WHEN i % 4 = 0 THEN NULL ELSE i % 7 END AS score
         FROM range(1, 201) r(i);
         CHECKPOINT;",
    )
    .unwrap();
    path
}

#[test]
fn hygiene_finds_planted_duplicates_and_variants() {
    let dir = tempfile::tempdir().unwrap();
    let db = planted(dir.path());
    let e = Engine::open(
        &db,
        &OpenOptions { table: Some("contacts".into()), key: Some("contact_id".into()), ..Default::default() },
    )
    .unwrap();
    let score = compile("score > 2");
    let both = compile("score > 2 AND sector = 'Tech'");
    let h = e.hygiene(&[("by-score".into(), &score), ("tech-score".into(), &both)]).unwrap();
    let c = plain(&db);
    assert_eq!((h.table.as_str(), h.rows), ("contacts", 200));
    // Duplicates: emails after lower(trim()), phones digits only.
    let email = h.duplicates.iter().find(|d| d.column == "email").expect("email checked");
    assert_eq!(email.kind, IdentityKind::Email);
    assert_eq!((email.values, email.rows), (2, 7), "ana ×5, bo ×2: {email:?}");
    assert_eq!(email.examples[0].value, "ana@example.com");
    assert_eq!(email.examples[0].count, 5);
    let phone = h.duplicates.iter().find(|d| d.column == "mobile").expect("mobile checked");
    assert_eq!(phone.kind, IdentityKind::Phone);
    // +91 98200 11111 twice (919820011111), 9820011111 once and (982) 001-1111 once (9820011111).
    assert_eq!((phone.values, phone.rows), (2, 4), "{phone:?}");
    // Variants by fingerprint.
    let sector = h.columns.iter().find(|c| c.name == "sector").unwrap();
    assert!(sector.categorical);
    let group = |key: &str| -> Vec<(String, u64)> {
        sector
            .variants
            .iter()
            .find(|g| g.key == key)
            .map(|g| g.values.iter().map(|v| (v.value.clone(), v.count)).collect())
            .unwrap_or_default()
    };
    let counts = |v: &str| q_i64(&c, &format!("SELECT count(*) FROM contacts WHERE sector = '{v}'")) as u64;
    let mut tech = group("tech");
    tech.sort();
    assert_eq!(
        tech,
        vec![(" tech".into(), counts(" tech")), ("TECH".into(), counts("TECH")), ("Tech".into(), counts("Tech"))]
    );
    assert_eq!(group("cafe").len(), 3, "Café, cafe, Cafe!: {:?}", sector.variants);
    assert_eq!(group("new york").len(), 2, "token order and inner whitespace: {:?}", sector.variants);
    assert!(group("retail").is_empty(), "one spelling is no variant");
    // NULL shares.
    for col in &h.columns {
        let nulls = q_i64(&c, &format!("SELECT count(*) FROM contacts WHERE \"{}\" IS NULL", col.name)) as u64;
        assert_eq!(col.nulls, nulls, "{}", col.name);
        assert!((col.null_share - nulls as f64 / 200.0).abs() < 1e-12);
    }
    // What approved segments cannot judge.
    let null_score = count_in(&c, "contacts", "score IS NULL");
    let null_either = count_in(&c, "contacts", "score IS NULL OR sector IS NULL");
    assert_eq!(h.unjudged.segments[0].count, null_score);
    assert_eq!(h.unjudged.segments[1].count, null_either);
    assert_eq!(h.unjudged.count, null_either);
    assert_eq!(h.unjudged.columns, vec!["sector".to_string(), "score".to_string()]);
    assert!(h.unjudged.flagged, "a quarter of the rows have no score: above 20%");
}

#[test]
fn hygiene_on_foreign_schemas() {
    let dir = tempfile::tempdir().unwrap();
    // Shop: planted duplicate emails (case and spaces) and phones (+91, dashes).
    let db = foreign_db(dir.path(), Foreign::Shop, 1000);
    let e = open_foreign(&db, Foreign::Shop, None);
    let h = e.hygiene(&[]).unwrap();
    let c = plain(&db);
    let dup = |norm: &str| -> (u64, u64) {
        let sql = format!(
            "SELECT count(*), coalesce(sum(n), 0)::BIGINT FROM (SELECT {norm} AS v, count(*) AS n FROM shoppers \
             WHERE {norm} IS NOT NULL AND {norm} <> '' GROUP BY 1 HAVING count(*) > 1)"
        );
        c.query_row(&sql, [], |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64))).unwrap()
    };
    let mail = h.duplicates.iter().find(|d| d.column == "mail_address").expect("mail_address is an email column");
    assert_eq!((mail.values, mail.rows), dup("lower(trim(mail_address))"));
    assert_eq!(mail.values, 3, "dup0, dup1, dup2 @mail.test");
    let phone = h.duplicates.iter().find(|d| d.column == "phone_no").expect("phone_no is a phone column");
    assert_eq!((phone.values, phone.rows), dup("regexp_replace(phone_no, '[^0-9]', '', 'g')"));
    assert!(phone.values >= 1);
    assert!(h.duplicates.iter().all(|d| d.column != "shopper_ref"), "the key is unique by check");
    // Club: city spellings.
    let db = foreign_db(dir.path(), Foreign::Club, 1000);
    let e = open_foreign(&db, Foreign::Club, None);
    let h = e.hygiene(&[]).unwrap();
    let c = plain(&db);
    let city = h.columns.iter().find(|c| c.name == "city").unwrap();
    let pune = city.variants.iter().find(|g| g.key == "pune").expect("pune variants");
    let mut got: Vec<(String, u64)> = pune.values.iter().map(|v| (v.value.clone(), v.count)).collect();
    got.sort();
    let want = q_rows(
        &c,
        "SELECT city, count(*)::VARCHAR FROM \"Club Members\" WHERE lower(trim(city)) = 'pune' GROUP BY 1 ORDER BY 1",
    );
    let want: Vec<(String, u64)> =
        want.into_iter().map(|r| (r[0].clone().unwrap(), r[1].clone().unwrap().parse().unwrap())).collect();
    assert_eq!(got, want);
    assert_eq!(got.len(), 3);
    assert!(city.variants.iter().any(|g| g.key == "mumbai" && g.values.len() == 2));
    let channel = h.columns.iter().find(|c| c.name == "Signup Channel").unwrap();
    assert!(channel.variants.is_empty());
    assert_eq!(channel.nulls, count_in(&c, "\"Club Members\"", "\"Signup Channel\" IS NULL"));
}

#[test]
fn hygiene_cli_json_has_the_promised_shape() {
    let sb = Sandbox::new();
    let dir = tempfile::tempdir().unwrap();
    let db = foreign_db(dir.path(), Foreign::Shop, 600);
    let base = ["--db", s(&db), "--table", "shoppers", "--key", "shopper_ref"];
    let with = |args: &[&str]| -> Vec<String> { args.iter().chain(base.iter()).map(|a| a.to_string()).collect() };
    let run = |args: Vec<String>| sb.seglens(&args.iter().map(String::as_str).collect::<Vec<_>>());
    run(with(&["save", "spenders", "--filter", "total_spent > 1000 AND loyalty_score > 20"])).ok();
    run(with(&["approve", "spenders"])).ok();
    let v = run(with(&["hygiene", "--json"])).ok().json();
    let c = plain(&db);
    assert_eq!(v["table"].as_str(), Some("shoppers"));
    assert_eq!(v["rows"].as_u64(), Some(600));
    for col in v["columns"].as_array().expect("columns") {
        assert!(col["name"].is_string() && col["null_share"].is_f64(), "{col}");
        for g in col["variants"].as_array().expect("variants") {
            assert!(g["key"].is_string());
            for val in g["values"].as_array().unwrap() {
                assert!(val["value"].is_string() && val["count"].is_u64(), "{val}");
            }
        }
    }
    let spent = v["columns"].as_array().unwrap().iter().find(|c| c["name"] == "total_spent").unwrap();
    let nulls = count_in(&c, "shoppers", "total_spent IS NULL");
    assert!((spent["null_share"].as_f64().unwrap() - nulls as f64 / 600.0).abs() < 1e-12);
    let dups = v["duplicates"].as_array().expect("duplicates");
    let mail = dups.iter().find(|d| d["column"] == "mail_address").expect("mail_address");
    assert_eq!(mail["normalised"].as_str(), Some("lower(trim())"));
    assert!(mail["values"].is_u64() && mail["rows"].is_u64());
    assert_eq!(mail["values"].as_u64(), Some(3));
    let seg = &v["unjudged"]["segments"][0];
    assert_eq!(seg["name"].as_str(), Some("spenders@2"), "{v}");
    assert_eq!(seg["count"].as_u64(), Some(count_in(&c, "shoppers", "total_spent IS NULL OR loyalty_score IS NULL")));
}

// ---------------------------------------------------------------------------------------------
// Compare
// ---------------------------------------------------------------------------------------------

#[test]
fn compare_matches_plain_sql() {
    let db = shared_db();
    let e = open(db);
    let c = plain(db);
    let (a, b) = ("region = 'West India'", "engagement_score > 60");
    let cmp = e.compare(("west", &compile(a)), ("engaged", &compile(b))).unwrap();
    assert_eq!(cmp.a.size, count_where(&c, a));
    assert_eq!(cmp.b.size, count_where(&c, b));
    assert_eq!(cmp.both, count_where(&c, &format!("({a}) AND ({b})")));
    assert_eq!(cmp.only_a, count_where(&c, &format!("({a}) AND NOT coalesce(({b}), false)")));
    assert_eq!(cmp.only_b, count_where(&c, &format!("({b}) AND NOT coalesce(({a}), false)")));
    assert!(cmp.both > 0 && cmp.only_a > 0 && cmp.only_b > 0);
    assert_eq!(cmp.metrics.len(), e.metrics().len());
    let q = |sql: &str, w: &str| q_f64(&c, &format!("SELECT {sql} FROM customers WHERE {w}"));
    let spend = cmp.metrics.iter().find(|m| m.name == "avg_spend").unwrap();
    let close = |x: Option<f64>, y: Option<f64>| (x.unwrap() - y.unwrap()).abs() < 1e-6 * y.unwrap().abs().max(1.0);
    assert!(close(spend.a, q("avg(lifetime_spend)::DOUBLE", a)));
    assert!(close(spend.b, q("avg(lifetime_spend)::DOUBLE", b)));
    assert!(close(spend.base, q("avg(lifetime_spend)::DOUBLE", "TRUE")));
    let (sa, sb) =
        (q("stddev_samp(lifetime_spend::DOUBLE)", a).unwrap(), q("stddev_samp(lifetime_spend::DOUBLE)", b).unwrap());
    let d = (spend.a.unwrap() - spend.b.unwrap()) / ((sa * sa + sb * sb) / 2.0).sqrt();
    assert!((spend.difference.unwrap() - d).abs() < 1e-9, "{spend:?} vs {d}");
    assert_eq!(spend.p_adjusted, None, "money is not a rate: no proportion test");
    // Rates: the pooled two-proportion test by hand, then adjusted.
    let conv = cmp.metrics.iter().find(|m| m.name == "conversion").unwrap();
    assert_eq!(conv.format, MetricFormat::Percent);
    let (pa, pb) = (conv.a.unwrap(), conv.b.unwrap());
    let (na, nb) = (cmp.a.size as f64, cmp.b.size as f64);
    let p = (pa * na + pb * nb) / (na + nb);
    let z = (pa - pb) / (p * (1.0 - p) * (1.0 / na + 1.0 / nb)).sqrt();
    let want = 2.0 * (1.0 - seglens::engine::query::compare::normal_cdf(z.abs()));
    assert!((conv.p_value.unwrap() - want).abs() < 1e-9);
    let rates: Vec<_> = cmp.metrics.iter().filter(|m| m.format == MetricFormat::Percent).collect();
    assert!(rates.iter().all(|m| m.p_adjusted.is_some_and(|q| (0.0..=1.0).contains(&q) && q >= m.p_value.unwrap())));
    // Ranked by the size of the standardised difference.
    let sizes: Vec<f64> = cmp.metrics.iter().filter_map(|m| m.difference.map(f64::abs)).collect();
    assert!(sizes.windows(2).all(|w| w[0] >= w[1]), "{sizes:?}");
    // Engaged customers open more: a real difference, flagged.
    assert!(cmp.metrics.iter().any(|m| m.name == "open_rate" && m.flagged), "{:?}", cmp.metrics);
}

#[test]
fn compare_known_overlaps() {
    let e = open(shared_db());
    let c = plain(shared_db());
    // B inside A.
    let cmp = e.compare(("2+", &compile("orders_count > 2")), ("5+", &compile("orders_count > 5"))).unwrap();
    assert_eq!(cmp.only_b, 0);
    assert_eq!(cmp.both, count_where(&c, "orders_count > 5"));
    assert_eq!(cmp.only_a, count_where(&c, "orders_count BETWEEN 3 AND 5"));
    // Disjoint, and a segment with itself.
    let cmp = e.compare(("w", &compile("region = 'West India'")), ("n", &compile("region = 'North India'"))).unwrap();
    assert_eq!(cmp.both, 0);
    let same = compile("sms_opt_in");
    let cmp = e.compare(("x", &same), ("y", &same)).unwrap();
    assert_eq!((cmp.only_a, cmp.only_b), (0, 0));
    assert!(cmp.metrics.iter().all(|m| m.difference.is_none_or(|d| d == 0.0) && !m.flagged), "{:?}", cmp.metrics);
}

#[test]
fn compare_on_foreign_schemas_with_their_own_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let db = foreign_db(dir.path(), Foreign::Club, 1200);
    let metrics = vec![
        MetricDef {
            name: "sms_ctr".into(),
            label: "SMS CTR".into(),
            sql: "sum(sms_clicked) / nullif(sum(sms_sent), 0)".into(),
            format: MetricFormat::Percent,
        },
        MetricDef {
            name: "revenue".into(),
            label: "Revenue".into(),
            sql: "avg(\"Revenue\")".into(),
            format: MetricFormat::Money,
        },
    ];
    let e = open_foreign(&db, Foreign::Club, Some(metrics));
    let c = plain(&db);
    let (a, b) = ("tier IN ('Gold', 'Platinum')", "\"Signup Channel\" = 'referral'");
    let cmp = e.compare(("top", &compile(a)), ("referred", &compile(b))).unwrap();
    let t = "\"Club Members\"";
    assert_eq!(cmp.a.size, count_in(&c, t, a));
    assert_eq!(cmp.both, count_in(&c, t, &format!("({a}) AND ({b})")));
    assert_eq!(cmp.only_b, count_in(&c, t, &format!("({b}) AND NOT ({a})")));
    let rev = cmp.metrics.iter().find(|m| m.name == "revenue").unwrap();
    let want = q_f64(&c, &format!("SELECT avg(\"Revenue\") FROM {t} WHERE {b}"));
    assert!((rev.b.unwrap() - want.unwrap()).abs() < 1e-9);
    assert!(rev.difference.is_some());
    let ctr = cmp.metrics.iter().find(|m| m.name == "sms_ctr").unwrap();
    assert!(ctr.p_adjusted.is_some());
}

#[test]
fn compare_cli_json_with_templates_and_expressions() {
    let sb = Sandbox::new();
    let db = shared_db();
    sb.seglens(&["save", "west", "--filter", "region = 'West India'", "--db", s(db)]).ok();
    let o =
        sb.seglens(&["compare", "west", "engagement_score > {{s}}", "--param", "s=60", "--db", s(db), "--json"]).ok();
    let v = o.json();
    let c = plain(db);
    assert_eq!(v["a"]["name"].as_str(), Some("west@1"));
    assert_eq!(v["a"]["size"].as_u64(), Some(count_where(&c, "region = 'West India'")));
    assert!(v["b"]["name"].is_string());
    assert_eq!(v["b"]["size"].as_u64(), Some(count_where(&c, "engagement_score > 60")));
    for f in ["both", "only_a", "only_b"] {
        assert!(v[f].is_u64(), "{f}: {v}");
    }
    assert_eq!(v["both"].as_u64(), Some(count_where(&c, "region = 'West India' AND engagement_score > 60")));
    let metrics = v["metrics"].as_array().expect("metrics");
    assert!(!metrics.is_empty());
    for m in metrics {
        assert!(m["name"].is_string());
        for f in ["a", "b", "base", "difference", "p_adjusted"] {
            assert!(m.get(f).is_some_and(|x| x.is_f64() || x.is_null()), "{f}: {m}");
        }
    }
    assert!(metrics.iter().any(|m| m["p_adjusted"].is_f64()));
    // Each side takes the values its own filter uses; one neither uses is a user error.
    sb.seglens(&["compare", "west", "sms_opt_in", "--param", "zz=1", "--db", s(db)]).user_error(&["zz"]);
}

// ---------------------------------------------------------------------------------------------
// Small and empty segments
// ---------------------------------------------------------------------------------------------

#[test]
fn size_marks() {
    assert_eq!(SizeMark::of(0, 100, 0.05), Some(SizeMark::Empty));
    assert_eq!(SizeMark::of(4, 100, 0.05), Some(SizeMark::Small));
    assert_eq!(SizeMark::of(5, 100, 0.05), None);
    assert_eq!(SizeMark::of(9, 100, 0.10), Some(SizeMark::Small));
    assert_eq!(SizeMark::of(0, 0, 0.05), None);
}

#[test]
fn empty_and_small_segments_are_called_out_everywhere() {
    let sb = Sandbox::new();
    let db = shared_db();
    let o = sb.seglens(&["size", "loyalty_tier = 'gold' AND loyalty_tier = 'silver'", "--db", s(db), "--json"]).ok();
    assert_eq!(o.json()["size"].as_u64(), Some(0));
    assert!(o.stderr.contains("warning") && o.stderr.contains("empty"), "{o:?}");
    let c = plain(db);
    let small =
        ["region = 'Northeast India'", "loyalty_tier = 'platinum'", "engagement_score > 95", "orders_count > 20"]
            .into_iter()
            .find(|f| (1..CUSTOMERS / 20).contains(&count_where(&c, f)))
            .expect("a filter under 5% of the base");
    let o = sb.seglens(&["size", small, "--db", s(db)]).ok();
    assert!(o.stderr.contains("small"), "{o:?}");
    let o = sb.seglens(&["size", small, "--db", s(db), "--small-share", "0.001"]).ok();
    assert!(!o.stderr.contains("small"), "{o:?}");
    sb.seglens(&["size", small, "--db", s(db), "--small-share", "7"]).user_error(&["--small-share"]);
    // check: an empty template is a warning and marked in JSON; a funnel marks it too.
    sb.seglens(&["save", "vip", "--filter", "loyalty_tier = 'gold' AND loyalty_tier = 'silver'", "--db", s(db)]).ok();
    sb.seglens(&["save", "northeast", "--filter", small, "--db", s(db)]).ok();
    let o = sb.seglens(&["check", "--db", s(db), "--json"]).ok();
    assert!(o.stderr.contains("vip@1 is empty"), "{o:?}");
    let v = o.json();
    let mark =
        |name: &str| v["templates"].as_array().unwrap().iter().find(|t| t["segment"] == name).unwrap()["mark"].clone();
    assert_eq!(mark("vip"), Value::from("empty"));
    assert_eq!(mark("northeast"), Value::from("small"));
    let v = sb.seglens(&["funnel", "vip", "--db", s(db), "--json"]).ok().json();
    assert_eq!(v["mark"], Value::from("empty"));
    assert_eq!(v["clauses"][1]["flag"], Value::from("removes_everything"));
}

// ---------------------------------------------------------------------------------------------
// The explorer's funnel view
// ---------------------------------------------------------------------------------------------

mod tui_funnel {
    use std::time::Duration;

    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    use seglens::engine::{Engine, OpenOptions};
    use seglens::library::Library;
    use seglens::tui::action::Action;
    use seglens::tui::state::{AppState, View, WorkerState};
    use seglens::tui::theme::Theme;
    use seglens::tui::{Runtime, ui};

    use super::common::*;

    const WAIT: Duration = Duration::from_secs(30);

    fn key(rt: &mut Runtime, state: &mut AppState, code: KeyCode) {
        rt.apply(state, Action::Key(KeyEvent::new(code, KeyModifiers::NONE)));
    }

    #[test]
    fn funnel_view_follows_the_filter_and_switches_clauses_off_without_a_query() {
        let dir = tempfile::tempdir().unwrap();
        let db = private_db(dir.path());
        let engine = Engine::open(&db, &OpenOptions::default()).unwrap();
        let library = Library::open(dir.path().join("segments"));
        let (mut rt, mut state) = Runtime::start(engine, library, Theme::default_theme(), "crm.duckdb".into()).unwrap();
        rt.apply(&mut state, Action::Resize(120, 40));
        let text = "engagement_score > 50 AND region = 'West India' AND sms_opt_in";
        for c in text.chars() {
            key(&mut rt, &mut state, KeyCode::Char(c));
        }
        key(&mut rt, &mut state, KeyCode::F(7));
        assert_eq!(state.view, View::Funnel);
        let done = |s: &AppState| {
            s.worker == WorkerState::Idle
                && s.preview_due.is_none()
                && s.funnel.generation == s.generation
                && s.funnel.shown.is_some()
        };
        assert!(rt.pump_until(&mut state, WAIT, done), "the funnel arrives with the preview");
        let c = plain(&db);
        let f = state.funnel.shown.clone().unwrap();
        assert_eq!(f.size, count_where(&c, text));
        assert_eq!(f.clauses[1].without, count_where(&c, "engagement_score > 50 AND sms_opt_in"));
        let theme = Theme::default_theme();
        let mut t = Terminal::new(TestBackend::new(120, 30)).unwrap();
        t.draw(|fr| ui::render(fr, &state, &theme)).unwrap();
        insta::with_settings!({filters => vec![(r"(size|preview|running) \d+( ms)?", "$1 [ms]"), (r"\d+ ms", "[ms]"), (r#"(?m) +"$"#, "\"")]}, {
            insta::assert_snapshot!("funnel_120x30", t.backend());
        });
        // Switch the region clause off: recounted at once, nothing sent to the worker.
        let generation = state.generation;
        key(&mut rt, &mut state, KeyCode::Down);
        key(&mut rt, &mut state, KeyCode::Char(' '));
        assert_eq!(state.generation, generation, "no new query");
        assert!(state.preview_due.is_none());
        let f = state.funnel.shown.clone().unwrap();
        assert!(!f.clauses[1].enabled);
        assert_eq!(f.size, count_where(&c, "engagement_score > 50 AND sms_opt_in"));
        let mut t = Terminal::new(TestBackend::new(120, 30)).unwrap();
        t.draw(|fr| ui::render(fr, &state, &theme)).unwrap();
        let screen: String = t.backend().buffer().content().iter().map(|c| c.symbol()).collect();
        // The change against the measured size, signed and grouped like every other count.
        let measured = state.funnel.measured.as_ref().unwrap().size;
        let delta = seglens::format::count(f.size - measured);
        assert!(screen.contains(&format!("what-if: 1 clause off (+{delta} against")), "{screen}");
        // F1 help lists the funnel keys from the key map.
        let help: Vec<String> = ui::help_lines(&theme).iter().map(|l| l.to_string()).collect();
        assert!(help.iter().any(|l| l.contains("F7") && l.contains("funnel")), "{help:?}");
        assert!(help.iter().any(|l| l.contains("Space") && l.contains("what-if")), "{help:?}");
        // Esc goes back to the explorer.
        key(&mut rt, &mut state, KeyCode::Esc);
        assert_eq!(state.view, View::Explore);
    }

    /// F8 and F9 in the explorer: the hygiene report and the compare view run on a connection of
    /// their own and show exactly the text the CLI prints, on a database of another schema.
    #[test]
    fn hygiene_and_compare_views_show_the_cli_reports_without_holding_up_previews() {
        use crate::{Foreign, foreign_db};
        use seglens::library::{Status, Template};
        let dir = tempfile::tempdir().unwrap();
        let db = foreign_db(dir.path(), Foreign::Shop, 3000);
        let engine = Engine::open(&db, &OpenOptions::default()).unwrap();
        let lib_dir = dir.path().join("segments");
        let lib = Library::open(&lib_dir);
        let compiled = compile("total_spent > 3000");
        crate::save_measured(&engine, &lib, Template::new("big-spenders", "total_spent > 3000"));
        lib.set_status("big-spenders", None, Status::Approved, None, "qa").unwrap();
        let expected_hygiene =
            seglens::report::hygiene(&engine.hygiene(&[("big-spenders@2".to_string(), &compiled)]).unwrap());
        let (mut rt, mut state) =
            Runtime::start(engine, Library::open(&lib_dir), Theme::default_theme(), "shop.duckdb".into()).unwrap();
        rt.apply(&mut state, Action::Resize(120, 40));
        key(&mut rt, &mut state, KeyCode::F(8));
        assert_eq!(state.view, View::Hygiene);
        assert!(rt.pump_until(&mut state, WAIT, |s| s.hygiene.text.is_some()), "the report arrives");
        assert_eq!(state.hygiene.text.clone().unwrap().unwrap(), expected_hygiene);
        let theme = Theme::default_theme();
        let mut term = Terminal::new(TestBackend::new(120, 40)).unwrap();
        term.draw(|fr| ui::render(fr, &state, &theme)).unwrap();
        let screen = format!("{:?}", term.backend());
        assert!(screen.contains("mail_address") && screen.contains("Data hygiene: shoppers"), "{screen}");
        key(&mut rt, &mut state, KeyCode::F(8));
        assert_eq!(state.view, View::Explore);

        // Compare: the edited filter against the library segment selected.
        let text = "home_country = 'IN'";
        for c in text.chars() {
            key(&mut rt, &mut state, KeyCode::Char(c));
        }
        assert!(rt.pump_until(&mut state, WAIT, |s| s.preview.size.is_some() && s.worker == WorkerState::Idle));
        key(&mut rt, &mut state, KeyCode::F(9));
        assert_eq!(state.view, View::Compare, "{:?}", state.status);
        assert!(rt.pump_until(&mut state, WAIT, |s| s.compare.text.is_some()), "the comparison arrives");
        let shown = state.compare.text.clone().unwrap().unwrap();
        let engine = Engine::open(&db, &OpenOptions::default()).unwrap();
        let c = engine.compare(("(editing)", &compile(text)), ("big-spenders@2", &compiled)).unwrap();
        assert_eq!(shown, seglens::report::compare(&c));
        let plain = plain(&db);
        let both = q_i64(&plain, "SELECT count(*) FROM shoppers WHERE home_country = 'IN' AND total_spent > 3000");
        assert!(shown.contains(&format!("both {}", seglens::format::count(both as u64))), "{shown}");
    }
}

/// Issue 16 §4 in the explorer: the size panel warns of an empty segment and marks a small one,
/// and the library marks both, at the share the user chose.
#[test]
fn the_explorer_marks_small_and_empty_segments() {
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    use seglens::engine::Column;
    use seglens::engine::query::size::Size;
    use seglens::library::Template;
    use seglens::library::measure::Fit;
    use seglens::tui::action::{Action, LibrarySnapshot};
    use seglens::tui::state::{AppState, Focus, SideTab};
    use seglens::tui::theme::Theme;
    use seglens::tui::update::update;
    use seglens::tui::worker::{Part, Response};
    use std::time::{Duration, Instant};

    let cols = vec![
        Column { name: "shopper_ref".into(), ty: "VARCHAR".into() },
        Column { name: "total_spent".into(), ty: "DECIMAL(12,2)".into() },
    ];
    let mut s = AppState::new("shop.duckdb".into(), "shoppers".into(), "shopper_ref".into(), 1000, cols, "dark".into());
    s.small_share = 0.1;
    let now = Instant::now();
    update(&mut s, Action::Resize(120, 40), now);
    let templates: Vec<Template> =
        ["big-spenders", "nobody", "few"].iter().map(|n| Template::new(n, "total_spent > 1")).collect();
    let snap = LibrarySnapshot { dir: "lib".into(), templates, ..LibrarySnapshot::default() };
    update(&mut s, Action::LibraryLoaded(snap), now);
    let sizes = [("big-spenders", 400), ("nobody", 0), ("few", 99)]
        .iter()
        .map(|(n, k)| (n.to_string(), Fit::Size(*k)))
        .collect();
    let id = s.library.measure_id;
    let r = Response {
        reply: seglens::tui::worker::Reply::Background,
        generation: 0,
        elapsed: Duration::ZERO,
        result: Ok(Part::LibrarySizes { id, sizes }),
        began: None,
    };
    update(&mut s, Action::Worker(r), now);
    s.focus = Focus::Side;
    s.side = SideTab::Library;
    for c in "total_spent > 1".chars() {
        s.focus = Focus::Editor;
        update(
            &mut s,
            Action::Key(ratatui::crossterm::event::KeyEvent::from(ratatui::crossterm::event::KeyCode::Char(c))),
            now,
        );
    }
    s.focus = Focus::Side;
    let screen = |s: &AppState| {
        let mut t = Terminal::new(TestBackend::new(120, 40)).unwrap();
        t.draw(|f| seglens::tui::ui::render(f, s, &Theme::default_theme())).unwrap();
        let buf = t.backend().buffer().clone();
        (0..40u16)
            .map(|y| (0..120u16).map(|x| buf[(x, y)].symbol().to_string()).collect::<String>())
            .collect::<Vec<_>>()
    };
    let mark_of = |rows: &[String], name: &str| -> char {
        let row = rows.iter().find(|r| r.contains(name)).unwrap_or_else(|| panic!("{name} not listed"));
        let left: String = row.chars().take(58).collect();
        left.trim_end().trim_end_matches('│').trim_end().chars().last().unwrap()
    };
    for (size, want) in [(0u64, "⚠ empty"), (99, "small (<10.0%)"), (400, "")] {
        let g = s.generation;
        update(
            &mut s,
            Action::Worker(Response::preview(g, Duration::ZERO, Ok(Part::Size(Size::new(size, 1000))))),
            now,
        );
        let rows = screen(&s);
        let size_row = rows.iter().find(|r| r.contains("of 1,000 customers")).expect("the size panel");
        if want.is_empty() {
            assert!(!size_row.contains("empty") && !size_row.contains("small"), "{size_row}");
        } else {
            assert!(size_row.contains(want), "{size}: {size_row}");
        }
        assert_eq!(mark_of(&rows, "nobody"), '∅');
        assert_eq!(mark_of(&rows, "few"), '▫');
        assert_ne!(mark_of(&rows, "big-spenders"), '▫');
    }
}
