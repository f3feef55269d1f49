//! The same segments on other engines, run for real: the sample's tables (and two foreign
//! schemas) are copied out of DuckDB, every starter template and a set of user-style filters are
//! translated with `seglens sql --dialect`, run on Apache Spark (pyspark, local mode, one session)
//! and PostgreSQL (a throwaway cluster on a local socket), and each count must equal
//! `seglens size` on the DuckDB file. A missing engine is a failure, never a skip: `.ci/run`
//! installs both. `dialects/arms.rs` does the same for arms (every customer's arm, on both
//! engines); `dialects/harness.rs` holds the databases and the Spark runner, `dialects/postgres.rs`
//! the PostgreSQL cluster.

#![allow(clippy::unwrap_used)] // a test that unwraps fails loudly, which is the point

#[path = "dialects/arms.rs"]
mod arms;
mod common;
#[path = "dialects/harness.rs"]
mod harness;
#[path = "dialects/postgres.rs"]
mod postgres;

use std::collections::BTreeMap;

use common::foreign::Foreign;
use common::{Sandbox, s};
use harness::{Fixture, assert_counts, run_spark, spark_counts, spark_db};
use postgres::Postgres;
use seglens::cli::starter::{STARTER_TEMPLATES, install_starters};
use seglens::engine::Engine;
use seglens::library::Library;

const AS_OF: &str = "2026-03-01";

/// A filter to run: a label, the FILTER argument, and `--param`s.
struct Case {
    label: String,
    filter: String,
    params: Vec<String>,
}

fn case(label: &str, filter: &str, params: &[&str]) -> Case {
    Case { label: label.into(), filter: filter.into(), params: params.iter().map(|p| p.to_string()).collect() }
}

/// User-style filters on the sample: dates, IN lists, LIKE/ILIKE, CASE, NULL logic, EXISTS on
/// events, parameters of every type, and the escapes that differ between engines.
fn sample_cases() -> Vec<Case> {
    let mut v: Vec<Case> = STARTER_TEMPLATES.iter().map(|(name, _)| case(name, name, &[])).collect();
    v.extend([
        case("starter with params", "lapsed-high-value", &["days=45", "min_spend=2500.5", "min_score=20"]),
        case("string_list param", "west-india-marathi", &["langs=mr,gu,hi"]),
        case("date literal range", "signup_date BETWEEN DATE '2024-01-01' AND DATE '2025-06-30'", &[]),
        case("date param", "last_order_date >= {{since}}", &["since=2025-11-15"]),
        case("days since, on a column", "current_date - last_order_date > {{gap}}", &["gap=120"]),
        case("date plus days, on a column", "last_login_date + 30 < current_date", &[]),
        case("date minus interval, on a column", "signup_date - INTERVAL 7 DAY > DATE '2025-06-01'", &[]),
        case("interval text", "last_order_date >= current_date - INTERVAL '2 months'", &[]),
        case("IN lists", "region IN ('West India', 'South India') AND language NOT IN ('hi', 'ta')", &[]),
        case("LIKE", "email LIKE 'c1%' AND email NOT LIKE '%0@%'", &[]),
        case("ILIKE", "city ILIKE 'MUM%' OR city ILIKE '%pur'", &[]),
        // DuckDB has no default LIKE escape: `\.` is a backslash and a dot, which no email holds.
        // Spark and PostgreSQL read it as an escaped dot unless told otherwise (and select nobody).
        case("backslash in a LIKE pattern", r"email NOT LIKE '%\.com' AND loyalty_tier = 'gold'", &[]),
        case("quote in a string param", "city <> {{c}} AND loyalty_tier = 'gold'", &["c=O'Hare\\x"]),
        case(
            "CASE",
            "CASE WHEN loyalty_tier = 'gold' THEN lifetime_spend > 10000 WHEN loyalty_tier = 'silver' THEN lifetime_spend > 5000 ELSE orders_count > {{n}} END",
            &["n=3"],
        ),
        case("NULL logic", "engagement_score IS NULL OR NOT (engagement_score > 50)", &[]),
        case("IS NOT TRUE", "(engagement_score > 50) IS NOT TRUE AND last_login_date IS NOT NULL", &[]),
        case("coalesce", "coalesce(engagement_score, 0) < 20", &[]),
        case("IS DISTINCT FROM", "last_login_date IS DISTINCT FROM last_order_date", &[]),
        case(
            "EXISTS on events",
            "EXISTS (SELECT 1 FROM events e WHERE e.customer_id = customers.customer_id AND e.event_type = 'purchase' AND e.event_time >= current_date - INTERVAL 30 DAY)",
            &[],
        ),
        case(
            "NOT EXISTS",
            "NOT EXISTS (SELECT 1 FROM events e WHERE e.customer_id = customers.customer_id AND e.event_type = {{t}})",
            &["t=email_open"],
        ),
        case(
            "scalar subquery",
            "(SELECT count(*) FROM events e WHERE e.customer_id = customers.customer_id AND e.event_time >= current_date - 60) >= {{n}}",
            &["n=3"],
        ),
        case("IN subquery", "customer_id IN (SELECT customer_id FROM events WHERE amount > 2000)", &[]),
        case("float param", "churn_risk > {{risk}}", &["risk=0.35"]),
        case("bool param", "app_installed = {{app}} AND NOT unsubscribed", &["app=true"]),
        case("string param", "loyalty_tier = {{tier}}", &["tier=silver"]),
        // DuckDB divides integers as floating point; PostgreSQL would give 0 here.
        case("integer division", "email_opens_90d / nullif(email_sends_90d, 0) > 0.3", &[]),
        case("decimal division", "lifetime_spend / nullif(orders_count, 0) > 1500", &[]),
        case("year and month", "year(signup_date) = 2024 AND month(last_order_date) IN (10, 11, 12)", &[]),
        case("text functions", "lower(city) = 'pune' OR length(email) > 24 OR starts_with(email, 'z')", &[]),
        case("contains", "contains(email, '99')", &[]),
        case("features with EXISTS", "lapsed(60) AND purchased_within(150)", &[]),
        case("feature with CASE", "reachable('email') AND NOT reachable('sms')", &[]),
        case("greatest", "greatest(email_opens_90d, email_clicks_90d * 3) > 5", &[]),
        case("quote in a literal", "city = 'it''s' OR region = 'Diaspora UK'", &[]),
    ]);
    v
}

fn shop_cases() -> Vec<Case> {
    vec![
        case("shop: plain", Foreign::Shop.filter(), &[]),
        case("shop: quoted column", "\"Full Name\" IS NULL OR \"Full Name\" LIKE 'Shopper 1%'", &[]),
        case(
            "shop: EXISTS purchases",
            "EXISTS (SELECT 1 FROM purchase_records p WHERE p.shopper_ref = shoppers.shopper_ref AND p.bought_on >= current_date - 60 AND p.amount > 100)",
            &[],
        ),
        case("shop: interval", "last_visit < current_date - INTERVAL 90 DAY AND segment_label IS NOT NULL", &[]),
        case(
            "shop: varchar key list",
            "list_contains({{refs}}, shopper_ref)",
            &["refs=S000001,S000010,S000100,S000200"],
        ),
        case("shop: division", "newsletter_opens / newsletter_sends >= 0.5", &[]),
    ]
}

fn club_cases() -> Vec<Case> {
    vec![
        case("club: plain", Foreign::Club.filter(), &[]),
        case("club: quoted column param", "\"Signup Channel\" = {{ch}}", &["ch=referral"]),
        case("club: timestamp vs date", "last_active >= current_date - INTERVAL 30 DAY", &[]),
        case("club: timestamp plus interval", "last_active + INTERVAL 2 DAY >= current_date", &[]),
        case(
            "club: EXISTS on a spaced table",
            "EXISTS (SELECT 1 FROM activity a WHERE a.member_id = \"Club Members\".member_id AND a.kind = 'redeem' AND a.happened_at >= current_date - 14)",
            &[],
        ),
        case("club: trimmed text", "lower(trim(city)) = 'pune'", &[]),
        case("club: between", "churn_score BETWEEN 0.2 AND 0.5 AND opted_in", &[]),
    ]
}

#[test]
fn every_segment_counts_the_same_on_apache_spark() {
    let fx = Fixture::new();
    let mut spec = Vec::new();
    let mut expected = Vec::new();
    for (i, db) in fx.dbs.iter().enumerate() {
        let mut e = fx.expectations(db, "spark");
        if i == 0 {
            e.extend(fx.models("spark"));
        }
        spec.push(spark_db(db, &e, &[]));
        expected.extend(e);
    }
    let got = run_spark(fx.sb.path(), &spec);
    assert_counts("Spark", &expected, &spark_counts(&got));
}

#[test]
fn every_segment_counts_the_same_on_postgresql() {
    let fx = Fixture::new();
    let pg = Postgres::start();
    let mut expected = Vec::new();
    let mut got = BTreeMap::new();
    for (i, db) in fx.dbs.iter().enumerate() {
        let schema = pg.load(i, db);
        let mut e = fx.expectations(db, "postgres");
        if i == 0 {
            e.extend(fx.models("postgres"));
        }
        for (label, n, sql) in e {
            got.insert(label.clone(), pg.count(&schema, &sql));
            expected.push((label, n, sql));
        }
    }
    assert_counts("PostgreSQL", &expected, &got);
}

/// What cannot be translated faithfully is refused, naming the construct, with exit 2; DuckDB's
/// own SQL binds current_date as the as-of date and still counts what `size` counts.
#[test]
fn untranslatable_sql_is_refused_and_duckdb_sql_is_pinned() {
    let sb = Sandbox::new();
    let db = common::shared_db();
    for (dialect, filter, needle) in [
        ("spark", "hash(customer_id) % 10 = 0", "hash()"),
        ("postgres", "regexp_matches(email, '^a')", "regexp_matches()"),
        ("trino", "greatest(orders_count, 1) > 2", "greatest()"),
        ("bigquery", r"email LIKE '%\_%'", "pattern"),
        ("spark", "signup_date + INTERVAL 1 MONTH < last_order_date", "month arithmetic"),
        ("postgres", "CAST(churn_risk * 10 AS INTEGER) = 3", "rounds"),
        ("snowflake", "now() > signup_date", "now()"),
    ] {
        sb.seglens(&["sql", "--db", s(db), "--dialect", dialect, filter]).user_error(&[needle, dialect]);
    }
    sb.seglens(&["sql", "--db", s(db), "--dialect", "oracle", "TRUE"]).user_error(&["oracle"]);

    let filter = "last_order_date < current_date - to_days(30) AND signup_date < today()";
    let o = sb.seglens(&["sql", "--db", s(db), "--as-of", AS_OF, "--json", filter]).ok();
    let sql = o.json()["sql"].as_str().unwrap().to_string();
    assert!(!sql.contains("current_date") && !sql.contains("today()"), "{sql}");
    assert!(sql.contains("DATE '2026-03-01'"), "{sql}");
    let size = sb.seglens(&["size", "--db", s(db), "--as-of", AS_OF, "--json", filter]).ok().json()["size"].as_i64();
    let conn = common::plain(db);
    let n = common::q_i64(&conn, &format!("SELECT count(*) FROM ({sql})"));
    assert_eq!(Some(n), size);
    // The same date every day: the translated SQL does not depend on when it is printed.
    let spark = sb.seglens(&["sql", "--db", s(db), "--as-of", AS_OF, "--dialect", "spark", filter]).ok().stdout;
    assert!(spark.contains("DATE '2026-01-30'") && spark.contains("`signup_date` < DATE '2026-03-01'"), "{spark}");
}

/// `--all-approved --out DIR` writes one model per approved segment with a header holding the
/// template, version, params, as-of date and the exact local count, and a dbt test of that count.
#[test]
fn all_approved_writes_models_with_their_counts() {
    let sb = Sandbox::new();
    let dir = sb.path().join("dbs");
    std::fs::create_dir_all(&dir).unwrap();
    let db = common::private_db(&dir);
    {
        let engine = Engine::open(&db, &common::pinned_sample_options()).unwrap();
        install_starters(&Library::open(sb.library()), &engine).unwrap();
    }
    let out = sb.path().join("warehouse");
    let j = sb
        .seglens(&[
            "sql",
            "--db",
            s(&db),
            "--as-of",
            AS_OF,
            "--dialect",
            "spark",
            "--all-approved",
            "--out",
            s(&out),
            "--json",
        ])
        .ok()
        .json();
    let segs = j["segments"].as_array().unwrap();
    // Every starter but the draft (loyal-advocates), and a net model of each approved segment.
    let plain: Vec<_> = segs.iter().filter(|m| m["suppressed"].as_array().unwrap().is_empty()).collect();
    assert_eq!(plain.len(), STARTER_TEMPLATES.len() - 1, "{j}");
    let conn = common::plain(&db);
    for seg in plain {
        let name = seg["name"].as_str().unwrap();
        let model = std::fs::read_to_string(seg["model"].as_str().unwrap()).unwrap();
        let count = seg["count"].as_u64().unwrap();
        let size = sb.seglens(&["size", name, "--db", s(&db), "--as-of", AS_OF, "--json"]).ok().json()["size"].as_u64();
        assert_eq!(Some(count), size, "{name}");
        for needle in [
            format!("seglens segment {name}@"),
            format!("template: {name}  version: "),
            "-- params: ".to_string(),
            format!("-- as of: {AS_OF}"),
            format!("-- expected count: {count} of 3000"),
            "SELECT `customer_id` FROM `customers`".to_string(),
        ] {
            assert!(model.contains(&needle), "{name}: {needle:?} missing from\n{model}");
        }
        let test = std::fs::read_to_string(seg["test"].as_str().unwrap()).unwrap();
        assert!(test.contains(&format!("HAVING count(*) <> {count}")), "{test}");
        // The count in the header is the count of the DuckDB SQL of the same segment.
        let duck = sb.seglens(&["sql", name, "--db", s(&db), "--as-of", AS_OF, "--json"]).ok().json();
        let n = common::q_i64(&conn, &format!("SELECT count(*) FROM ({})", duck["sql"].as_str().unwrap()));
        assert_eq!(n as u64, count, "{name}");
    }
    // A __net model counts what `seglens export` writes: the approved suppressions subtracted.
    let net: Vec<_> = segs.iter().filter(|m| !m["suppressed"].as_array().unwrap().is_empty()).collect();
    assert_eq!(net.len(), 5, "one per approved segment (not per suppression): {j}");
    for m in net {
        let name = m["name"].as_str().unwrap();
        let csv = sb.path().join(format!("{name}.csv"));
        sb.seglens(&["export", name, "--db", s(&db), "--as-of", AS_OF, "--out", s(&csv)]).ok();
        let rows = std::fs::read_to_string(&csv).unwrap().lines().count() - 1;
        assert_eq!(m["count"].as_u64(), Some(rows as u64), "{name}");
        assert!(m["model_name"].as_str().unwrap().ends_with("__net"));
    }
    // Never into the library.
    sb.seglens(&["sql", "--db", s(&db), "--all-approved", "--out", s(&sb.library().join("x"))])
        .user_error(&["library"]);
}

#[test]
fn features_say_which_dialects_they_run_on() {
    let sb = Sandbox::new();
    let dir = sb.path().join("dbs");
    std::fs::create_dir_all(&dir).unwrap();
    let db = common::private_db(&dir);
    {
        let engine = Engine::open(&db, &common::pinned_sample_options()).unwrap();
        install_starters(&Library::open(sb.library()), &engine).unwrap();
    }
    let mut features = std::fs::read_to_string(sb.library().join("features.toml")).unwrap();
    features.push_str("\n[bucket]\nparams = []\nsql = \"hash(customer_id) % 10 = 0\"\n");
    features.push_str("\n[max_opens]\nparams = [\"n\"]\nsql = \"greatest(email_opens_90d, email_clicks_90d) > n\"\n");
    std::fs::write(sb.library().join("features.toml"), features).unwrap();
    let j = sb.seglens(&["features", "--db", s(&db), "--json"]).ok().json();
    let by_name: BTreeMap<&str, &serde_json::Value> =
        j["features"].as_array().unwrap().iter().map(|f| (f["name"].as_str().unwrap(), f)).collect();
    let all = ["duckdb", "spark", "trino", "bigquery", "snowflake", "postgres"];
    for name in ["lapsed", "purchased_within", "reachable", "lapsed_high_value"] {
        assert_eq!(by_name[name]["dialects"], serde_json::json!(all), "{name}");
    }
    assert_eq!(by_name["bucket"]["dialects"], serde_json::json!(["duckdb"]));
    assert!(by_name["bucket"]["not_on"]["spark"].as_str().unwrap().contains("hash()"));
    assert_eq!(by_name["max_opens"]["dialects"], serde_json::json!(["duckdb", "spark", "postgres"]));
    let text = sb.seglens(&["features", "--db", s(&db)]).ok().stdout;
    assert!(text.contains("runs on: duckdb, spark, trino, bigquery, snowflake, postgres"), "{text}");
    assert!(text.contains("not on trino: greatest()"), "{text}");
}
