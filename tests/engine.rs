//! The engine against plain SQL on a small generated database: every figure the engine returns is
//! compared with a count the test computes itself; hostile filters are refused and the engine goes
//! on; the database file is never changed.

#![allow(clippy::unwrap_used)] // a test that unwraps fails loudly, which is the point

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use seglens::engine::query::overlap::OverlapInput;
use seglens::engine::text::filter;
use seglens::engine::{
    Compiled, Engine, EngineError, FeatureSet, MetricDef, OpenOptions, ParamDecls, ParamType, ParamValue,
};

/// The sample schema with the sample workspace's metrics (inference has tests of its own).
fn open(db: &Path) -> Engine {
    Engine::open(db, &OpenOptions { metrics: Some(sample_metrics()), ..Default::default() })
        .unwrap_or_else(|e| panic!("open {}: {e}", db.display()))
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

#[track_caller]
fn assert_close(what: &str, got: Option<f64>, want: Option<f64>) {
    match (got, want) {
        (Some(g), Some(w)) => assert!(close(g, w), "{what}: engine {g}, plain SQL {w}"),
        (g, w) => assert_eq!(g, w, "{what}"),
    }
}

#[test]
fn size_matches_plain_sql() {
    let db = shared_db();
    let e = open(db);
    let c = plain(db);
    assert_eq!(e.base_size(), CUSTOMERS);
    assert_eq!(e.table(), "customers");
    assert_eq!(e.key(), "customer_id");
    for f in [
        "TRUE",
        "FALSE",
        "region = 'West India'",
        "engagement_score > 60",       // NULL for ~5%: NULL is not a member
        "NOT (engagement_score > 60)", // ...nor is NOT NULL
        "orders_count > 0 AND language IN ('mr', 'gu')",
        "lifetime_spend BETWEEN 1000 AND 5000 OR churn_risk > 0.8",
        "city IS NULL",
        "EXISTS (SELECT 1 FROM events e WHERE e.customer_id = customers.customer_id AND e.event_type = 'cart_add')",
        "-- a comment line\nsms_opt_in -- trailing comment",
    ] {
        let want = count_where(&c, &format!("({f}\n)"));
        let got = e.size(&compile(f)).unwrap_or_else(|err| panic!("{f}: {err}"));
        assert_eq!(got.size, want, "size of {f:?}");
        assert_eq!(got.base, CUSTOMERS);
        assert!(close(got.share, want as f64 / CUSTOMERS as f64), "share of {f:?}");
    }
    // The figures are not trivially all equal.
    assert!(count_where(&c, "region = 'West India'") > 100);
    assert!(count_where(&c, "engagement_score IS NULL") > 50);
}

#[test]
fn profile_matches_plain_sql() {
    let db = shared_db();
    let e = open(db);
    let c = plain(db);
    let f = "region = 'West India' AND engagement_score > 30";
    let p = e.profile(&compile(f)).expect("profile");
    assert_eq!(p.size, count_where(&c, f));
    assert_eq!(p.base, CUSTOMERS);
    assert!(p.notes.is_empty(), "{:?}", p.notes);
    // Each metric written by hand, independently of the engine's MetricDef SQL.
    let hand: [(&str, &str); 8] = [
        ("open_rate", "sum(email_opens_90d)::DOUBLE / sum(email_sends_90d)"),
        ("click_rate", "sum(email_clicks_90d)::DOUBLE / sum(email_sends_90d)"),
        ("conversion", "(count(*) FILTER (WHERE orders_count > 0))::DOUBLE / count(*)"),
        ("avg_spend", "sum(lifetime_spend)::DOUBLE / count(lifetime_spend)"),
        ("median_recency", "quantile_cont(current_date - last_order_date, 0.5)"),
        ("email_opt_in", "(count(*) FILTER (WHERE NOT unsubscribed))::DOUBLE / count(*)"),
        ("sms_opt_in", "(count(*) FILTER (WHERE sms_opt_in))::DOUBLE / count(*)"),
        ("push_opt_in", "(count(*) FILTER (WHERE push_opt_in))::DOUBLE / count(*)"),
    ];
    assert_eq!(p.metrics.len(), hand.len(), "{:?}", p.metrics);
    for (name, sql) in hand {
        let m = p.metrics.iter().find(|m| m.name == name).unwrap_or_else(|| panic!("metric {name} missing"));
        let seg = q_f64(&c, &format!("SELECT CAST({sql} AS DOUBLE) FROM customers WHERE {f}"));
        let base = q_f64(&c, &format!("SELECT CAST({sql} AS DOUBLE) FROM customers"));
        assert_close(&format!("{name} segment"), m.segment, seg);
        assert_close(&format!("{name} base"), m.base, base);
        assert_close(&format!("{name} lift"), m.lift, Some(seg.unwrap() / base.unwrap()));
    }
    // The segment really differs from the base (a profile that returned base figures would fail).
    let open_rate = p.metrics.iter().find(|m| m.name == "open_rate").unwrap();
    assert_ne!(open_rate.segment, open_rate.base);

    // An empty segment: size 0, no figures, no lift, no error.
    let empty = e.profile(&compile("FALSE")).expect("empty profile");
    assert_eq!(empty.size, 0);
    let open_rate = empty.metrics.iter().find(|m| m.name == "open_rate").unwrap();
    assert_eq!((open_rate.segment, open_rate.lift), (None, None));
    assert!(open_rate.base.is_some());
}

#[test]
fn a_metric_over_a_missing_column_is_left_out_with_a_note() {
    let db = shared_db();
    let metrics = vec![
        MetricDef {
            name: "orders".into(),
            label: "Orders".into(),
            sql: "avg(orders_count)".into(),
            format: seglens::engine::query::profile::MetricFormat::Number,
        },
        MetricDef {
            name: "loyalty".into(),
            label: "Loyalty".into(),
            sql: "avg(no_such_column)".into(),
            format: seglens::engine::query::profile::MetricFormat::Number,
        },
    ];
    let set = seglens::engine::MetricSet {
        file: seglens::engine::MetricsFile { rollup: Vec::new(), metric: metrics },
        source: seglens::engine::MetricSource::File("test".into()),
    };
    let e = Engine::open(db, &OpenOptions { metrics: Some(set), ..Default::default() }).expect("open");
    assert_eq!(e.metrics().iter().map(|m| m.name.as_str()).collect::<Vec<_>>(), ["orders"]);
    assert!(e.metric_notes().iter().any(|n| n.contains("loyalty")), "{:?}", e.metric_notes());
    let p = e.profile(&compile("region = 'South India'")).expect("profile");
    assert_eq!(p.metrics.len(), 1);
    assert!(p.notes.iter().any(|n| n.contains("loyalty")));
    let want = q_f64(&plain(db), "SELECT avg(orders_count) FROM customers WHERE region = 'South India'");
    assert_close("orders", p.metrics[0].segment, want);
}

#[test]
fn breakdown_matches_plain_sql() {
    let db = shared_db();
    let e = open(db);
    let c = plain(db);
    let f = "orders_count > 0";
    let size = count_where(&c, f);
    // Top 3 regions of the segment; the rest summed as "other".
    let b = e.breakdown(&compile(f), "region", 3).expect("breakdown");
    assert_eq!(b.column, "region");
    assert_eq!(b.size, size);
    let want = q_rows(
        &c,
        &format!(
            "SELECT region, count(*)::VARCHAR FROM customers WHERE {f} GROUP BY 1 ORDER BY count(*) DESC, region LIMIT 3"
        ),
    );
    let got: Vec<Vec<Option<String>>> =
        b.rows.iter().map(|r| vec![r.value.clone(), Some(r.count.to_string())]).collect();
    assert_eq!(got, want);
    let groups = q_i64(&c, &format!("SELECT count(DISTINCT region) FROM customers WHERE {f}")) as u64;
    assert_eq!(b.other_values, groups - 3);
    assert_eq!(b.other_count, size - b.rows.iter().map(|r| r.count).sum::<u64>());
    for r in &b.rows {
        assert!(close(r.share, r.count as f64 / size as f64));
        let base = count_where(&c, &format!("region = '{}'", r.value.as_deref().unwrap()));
        assert!(close(r.base_share.expect("base share"), base as f64 / CUSTOMERS as f64));
    }

    // A column with NULLs, every value: NULL is a row of its own (value None), counts sum to size.
    let b = e.breakdown(&compile(f), "CITY", 500).expect("breakdown by city (case-insensitive)");
    assert_eq!(b.column, "city");
    assert_eq!(b.other_values, 0);
    assert_eq!(b.rows.iter().map(|r| r.count).sum::<u64>(), size);
    let nulls = b.rows.iter().find(|r| r.value.is_none()).expect("a NULL row");
    assert_eq!(nulls.count, count_where(&c, &format!("{f} AND city IS NULL")));
    let mumbai = b.rows.iter().find(|r| r.value.as_deref() == Some("Mumbai")).expect("Mumbai");
    assert_eq!(mumbai.count, count_where(&c, &format!("{f} AND city = 'Mumbai'")));

    // An unknown column is a user error naming it.
    let err = e.breakdown(&compile(f), "nope", 3).unwrap_err();
    assert!(err.is_user_error() && err.to_string().contains("nope"), "{err}");
}

#[test]
fn unsegmentable_matches_plain_sql() {
    let db = shared_db();
    let e = open(db);
    let c = plain(db);
    let u = e.unsegmentable(&compile("engagement_score > 50 AND city = 'Mumbai'")).expect("unsegmentable");
    let mut cols = u.columns.clone();
    cols.sort();
    assert_eq!(cols, ["city", "engagement_score"]);
    let want = count_where(&c, "engagement_score IS NULL OR city IS NULL");
    assert!(want > 0);
    assert_eq!(u.count, want);
    assert!(close(u.share, want as f64 / CUSTOMERS as f64));
    // A column name inside a string literal is not a column the filter reads.
    let u = e.unsegmentable(&compile("email = 'city'")).expect("unsegmentable");
    assert_eq!(u.columns, ["email"]);
    assert_eq!(u.count, count_where(&c, "email IS NULL"));
    // No NULL-able column: nothing unsegmentable.
    let u = e.unsegmentable(&compile("TRUE")).expect("unsegmentable");
    assert_eq!((u.count, u.columns.len()), (0, 0));
}

#[test]
fn rows_match_plain_sql() {
    let db = shared_db();
    let e = open(db);
    let c = plain(db);
    let f = "language = 'mr' AND lifetime_spend > 500";
    let cols = ["customer_id", "email", "city", "lifetime_spend", "last_order_date", "sms_opt_in"];
    let r = e.rows(&compile(f), &cols.map(String::from), 7).expect("rows");
    assert_eq!(r.columns, cols);
    let list = cols.iter().map(|c| format!("CAST({c} AS VARCHAR)")).collect::<Vec<_>>().join(", ");
    let want = q_rows(&c, &format!("SELECT {list} FROM customers WHERE {f} ORDER BY customer_id LIMIT 7"));
    assert_eq!(want.len(), 7);
    assert_eq!(r.rows, want);
    // Every column when none are named; NULLs come back as None.
    let r = e.rows(&compile("city IS NULL"), &[], 3).expect("rows");
    assert_eq!(r.columns.len(), e.columns().len());
    let city = r.columns.iter().position(|c| c == "city").unwrap();
    assert!(r.rows.iter().all(|row| row[city].is_none()));
    assert_eq!(r.rows.len(), 3);
    // for_each_member streams every member in key order.
    let mut ids = Vec::new();
    let (_, n) = e
        .for_each_member(&compile(f), &["customer_id".to_string()], |row| {
            ids.push(row[0].unwrap().parse::<i64>().unwrap());
            Ok(())
        })
        .expect("stream");
    assert_eq!(n, count_where(&c, f));
    let want: Vec<i64> =
        q_rows(&c, &format!("SELECT customer_id::VARCHAR FROM customers WHERE {f} ORDER BY customer_id"))
            .into_iter()
            .map(|r| r[0].as_ref().unwrap().parse().unwrap())
            .collect();
    assert_eq!(ids, want);
}

#[test]
fn schema_matches_plain_sql() {
    let db = shared_db();
    let e = open(db);
    let c = plain(db);
    let s = e.schema().expect("schema");
    let names: Vec<&str> = s.tables.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["customers", "events"]);
    let cust = s.entity().expect("entity table");
    assert_eq!(cust.name, "customers");
    assert_eq!(cust.rows, CUSTOMERS);
    let events = s.tables.iter().find(|t| t.name == "events").unwrap();
    assert!(!events.is_entity);
    assert_eq!(events.rows as i64, q_i64(&c, "SELECT count(*) FROM events"));
    let want_cols = q_rows(
        &c,
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'customers' ORDER BY ordinal_position",
    );
    let got_cols: Vec<Vec<Option<String>>> =
        cust.columns.iter().map(|c| vec![Some(c.name.clone()), Some(c.ty.clone())]).collect();
    assert_eq!(got_cols, want_cols);
    let city = cust.columns.iter().find(|c| c.name == "city").unwrap();
    assert!(close(city.null_share, count_where(&c, "city IS NULL") as f64 / CUSTOMERS as f64));
    assert!(city.null_share > 0.0);
    let region = cust.columns.iter().find(|c| c.name == "region").unwrap();
    assert_eq!(region.distinct, 9, "approx distinct of a 9-value column");
    let top =
        q_rows(&c, "SELECT region, count(*)::VARCHAR FROM customers GROUP BY 1 ORDER BY count(*) DESC, region LIMIT 8");
    let got: Vec<Vec<Option<String>>> =
        region.top.iter().map(|(v, n)| vec![Some(v.clone()), Some(n.to_string())]).collect();
    assert_eq!(got, top);
    let id = cust.columns.iter().find(|c| c.name == "customer_id").unwrap();
    assert!(id.top.is_empty(), "a high-cardinality column lists no top values");
    let dims = e.dimensions().expect("dimensions");
    assert!(dims.contains(&"region".to_string()) && !dims.contains(&"customer_id".to_string()), "{dims:?}");
}

/// Overlap of segments that include NULL-able ones, against one plain count per figure.
#[test]
fn overlap_matches_pairwise_plain_sql() {
    let db = shared_db();
    let e = open(db);
    let c = plain(db);
    let segs = [
        ("west", "region = 'West India'"),
        ("engaged", "engagement_score > 60"),
        ("buyers", "orders_count >= 3"),
        ("sms", "sms_opt_in"),
        ("holi", "holi_color_buyer"),
    ];
    let compiled: Vec<Compiled> = segs.iter().map(|(_, f)| compile(f)).collect();
    let inputs: Vec<OverlapInput<'_>> = segs
        .iter()
        .zip(&compiled)
        .map(|((n, _), f)| OverlapInput { name: n.to_string(), filter: f, suppression: false })
        .collect();
    let o = e.overlap(&inputs).expect("overlap");
    let m = |f: &str| format!("coalesce(({f}), false)");
    assert_eq!(o.base, CUSTOMERS);
    assert_eq!(o.segments.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), segs.map(|s| s.0));
    for (i, (name, f)) in segs.iter().enumerate() {
        assert_eq!(o.segments[i].size, count_where(&c, f), "size of {name}");
        let higher: Vec<String> = segs[..i].iter().map(|(_, h)| m(h)).collect();
        let excl = if higher.is_empty() { m(f) } else { format!("{} AND NOT ({})", m(f), higher.join(" OR ")) };
        assert_eq!(o.segments[i].exclusive, count_where(&c, &excl), "exclusive of {name}");
        assert_eq!(o.segments[i].suppressed, 0);
    }
    assert_eq!(o.pairs.len(), segs.len() * (segs.len() - 1) / 2);
    for i in 0..segs.len() {
        for j in i + 1..segs.len() {
            let p = o.pair(i, j).expect("pair");
            assert_eq!((p.a.as_str(), p.b.as_str()), (segs[i].0, segs[j].0));
            let inter = count_where(&c, &format!("({}) AND ({})", segs[i].1, segs[j].1));
            assert_eq!(p.intersection, inter, "{} ∩ {}", segs[i].0, segs[j].0);
            let union = count_where(&c, &format!("{} OR {}", m(segs[i].1), m(segs[j].1)));
            assert!(close(p.jaccard, inter as f64 / union as f64), "jaccard {} {}", segs[i].0, segs[j].0);
        }
    }
    let any: Vec<String> = segs.iter().map(|(_, f)| m(f)).collect();
    assert_eq!(o.none, count_where(&c, &format!("NOT ({})", any.join(" OR "))));
    assert!(o.none > 0);
    let exclusive_sum: u64 = o.segments.iter().map(|s| s.exclusive).sum();
    assert_eq!(exclusive_sum + o.none, CUSTOMERS, "every customer is in exactly one segment or none");
    // Combinations are exact membership groups.
    let first = &o.combinations[0];
    let cond: Vec<String> = segs
        .iter()
        .map(|(n, f)| if first.members.iter().any(|x| x == n) { m(f) } else { format!("NOT {}", m(f)) })
        .collect();
    assert_eq!(first.count, count_where(&c, &cond.join(" AND ")));
}

#[test]
fn overlap_with_a_suppression() {
    let db = shared_db();
    let e = open(db);
    let c = plain(db);
    let (a, b, s) = (compile("region = 'North India'"), compile("orders_count > 0"), compile("unsubscribed"));
    let inputs = vec![
        OverlapInput { name: "north".into(), filter: &a, suppression: false },
        OverlapInput { name: "buyers".into(), filter: &b, suppression: false },
        OverlapInput { name: "unsub".into(), filter: &s, suppression: true },
    ];
    let o = e.overlap(&inputs).expect("overlap");
    assert_eq!(o.segments[0].exclusive, count_where(&c, "region = 'North India' AND NOT unsubscribed"));
    assert_eq!(
        o.segments[1].exclusive,
        count_where(&c, "orders_count > 0 AND NOT region = 'North India' AND NOT unsubscribed")
    );
    assert_eq!(o.segments[0].suppressed, count_where(&c, "region = 'North India' AND unsubscribed"));
    assert_eq!(o.segments[2].exclusive, 0);
    assert_eq!(
        o.segments[2].suppressed,
        count_where(&c, "unsubscribed AND (region = 'North India' OR orders_count > 0)")
    );
    // "none" counts customers outside the (non-suppression) segments.
    assert_eq!(o.none, count_where(&c, "NOT (region = 'North India' OR orders_count > 0)"));
}

#[test]
fn overlap_takes_64_segments_and_refuses_65() {
    let db = shared_db();
    let e = open(db);
    let c = plain(db);
    // Segment i: customers with id % 64 = i, plus every 100th customer (who is in all of them).
    let text = |i: usize| format!("customer_id % 64 = {} OR customer_id % 100 = 0", i % 64);
    let filters: Vec<Compiled> = (0..65).map(|i| compile(&text(i))).collect();
    let inputs: Vec<OverlapInput<'_>> = filters
        .iter()
        .enumerate()
        .map(|(i, f)| OverlapInput { name: format!("s{i}"), filter: f, suppression: false })
        .collect();
    let o = e.overlap(&inputs[..64]).expect("64 segments");
    assert_eq!(o.segments.len(), 64);
    assert_eq!(o.pairs.len(), 64 * 63 / 2);
    for (i, seg) in o.segments.iter().enumerate() {
        assert_eq!(seg.size, count_where(&c, &text(i)), "size of s{i}");
        // Every 100th customer goes to s0, the highest priority.
        let excl = if i == 0 { text(0) } else { format!("customer_id % 64 = {i} AND customer_id % 100 <> 0") };
        assert_eq!(seg.exclusive, count_where(&c, &excl), "exclusive of s{i}");
    }
    let every_100th = count_where(&c, "customer_id % 100 = 0");
    assert!(every_100th > 0);
    // The last bit (1 << 63) pairs like any other.
    for (i, j) in [(0, 63), (1, 63), (62, 63), (5, 9)] {
        let p = o.pair(i, j).expect("pair");
        let want = count_where(&c, &format!("({}) AND ({})", text(i), text(j)));
        assert_eq!(p.intersection, want, "s{i} ∩ s{j}");
        assert_eq!(want, every_100th);
    }
    assert_eq!(o.none, 0);
    let err = e.overlap(&inputs).unwrap_err();
    assert!(matches!(err, EngineError::Param(_)), "{err:?}");
    assert!(err.to_string().contains("64"), "{err}");
    // The engine goes on.
    assert_eq!(e.size(&compile("TRUE")).unwrap().size, CUSTOMERS);
}

/// An overlap is the same whichever way its masks come: from member bitmaps filled now, from
/// bitmaps cached by an earlier overlap with one segment edited since, and from the one-scan SQL
/// an entity without row ids (a view) gets.
#[test]
fn overlap_is_the_same_from_cached_bitmaps_fresh_ones_and_a_view() {
    let dir = tempfile::tempdir().unwrap();
    let db = private_db(dir.path());
    {
        let w = duckdb::Connection::open(&db).unwrap();
        w.execute_batch("CREATE VIEW customers_v AS SELECT * FROM customers").unwrap();
    }
    let e = open(&db);
    let view = Engine::open(
        &db,
        &OpenOptions { table: Some("customers_v".into()), key: Some("customer_id".into()), ..Default::default() },
    )
    .unwrap();
    let purchase =
        "EXISTS (SELECT 1 FROM events e WHERE e.customer_id = customers.customer_id AND e.event_type = 'purchase')";
    let texts = |threshold: u32| {
        vec![
            format!("engagement_score > {threshold}"),
            "region = 'North India'".to_string(),
            format!("orders_count >= 2 AND {purchase}"),
            "age_band IS NULL".to_string(),
            "unsubscribed".to_string(),
        ]
    };
    let overlap = |e: &Engine, texts: &[String], view: bool| {
        let texts: Vec<String> =
            texts.iter().map(|t| if view { t.replace("customers.", "customers_v.") } else { t.clone() }).collect();
        let filters: Vec<Compiled> = texts.iter().map(|t| compile(t)).collect();
        let inputs: Vec<OverlapInput<'_>> = filters
            .iter()
            .enumerate()
            .map(|(i, f)| OverlapInput { name: format!("s{i}"), filter: f, suppression: i == 4 })
            .collect();
        e.overlap(&inputs).unwrap()
    };
    let first = overlap(&e, &texts(50), false);
    assert!(e.cache_summary().starts_with("6 cached"), "five segments and one clause: {}", e.cache_summary());
    assert_eq!(first, overlap(&view, &texts(50), true), "bitmaps and the one-scan SQL agree");
    let c = plain(&db);
    for threshold in [51, 20, 50] {
        let edited = overlap(&e, &texts(threshold), false);
        let fresh = open(&db);
        assert_eq!(edited, overlap(&fresh, &texts(threshold), false), "threshold {threshold}");
        assert_eq!(edited, overlap(&view, &texts(threshold), true), "threshold {threshold}, view");
        assert_eq!(edited.segments[0].size, count_where(&c, &texts(threshold)[0]));
    }
    assert!(view.cache_summary().starts_with("0 cached"), "a view caches nothing: {}", view.cache_summary());
    // A bad segment is a filter error with its place, and the engine goes on.
    let bad = compile("engagement_score >> 'x'");
    let ok = compile("TRUE");
    for engine in [&e, &view] {
        let inputs = [
            OverlapInput { name: "ok".into(), filter: &ok, suppression: false },
            OverlapInput { name: "bad".into(), filter: &bad, suppression: false },
        ];
        match engine.overlap(&inputs) {
            Err(EngineError::Filter(fe)) => assert!(fe.pos.is_some(), "{fe}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(engine.overlap(&inputs[..1]).unwrap().segments[0].size, CUSTOMERS);
    }
}

/// Row ids with gaps (rows deleted before the file was checkpointed) and a user column named
/// `rowid` (which hides DuckDB's): overlap figures stay those of plain SQL.
#[test]
fn overlap_is_exact_with_deleted_rows_and_a_rowid_column() {
    let dir = tempfile::tempdir().unwrap();
    let db = private_db(dir.path());
    {
        let w = duckdb::Connection::open(&db).unwrap();
        w.execute_batch(
            "DELETE FROM customers WHERE customer_id % 7 = 0;
             CREATE TABLE people AS SELECT customer_id, region, orders_count, customer_id * 1000003 AS rowid FROM customers;
             CHECKPOINT;",
        )
        .unwrap();
    }
    let c = plain(&db);
    let texts = ["region = 'North India'", "orders_count >= 2", "customer_id % 5 = 1"];
    let filters: Vec<Compiled> = texts.iter().map(|t| compile(t)).collect();
    let inputs: Vec<OverlapInput<'_>> = filters
        .iter()
        .enumerate()
        .map(|(i, f)| OverlapInput { name: format!("s{i}"), filter: f, suppression: false })
        .collect();
    for (table, cached) in [("customers", true), ("people", false)] {
        let e = Engine::open(
            &db,
            &OpenOptions { table: Some(table.into()), key: Some("customer_id".into()), ..Default::default() },
        )
        .unwrap();
        let o = e.overlap(&inputs).unwrap();
        let count = |cond: &str| q_i64(&c, &format!("SELECT count(*) FROM {table} WHERE {cond}")) as u64;
        assert_eq!(o.base, count("TRUE"));
        for (i, t) in texts.iter().enumerate() {
            assert_eq!(o.segments[i].size, count(t), "{table}: {t}");
        }
        assert_eq!(o.pair(0, 2).unwrap().intersection, count(&format!("({}) AND ({})", texts[0], texts[2])));
        assert_eq!(o.none, count(&format!("NOT ({})", texts.join(" OR "))), "{table}");
        assert_eq!(e.cache_summary().starts_with("3 cached"), cached, "{table}: {}", e.cache_summary());
    }
}

/// `current_date` is today's date when the engine opens and moves on when the calendar does;
/// what was cached under the old date is dropped.
#[test]
fn current_date_moves_on_with_the_calendar() {
    let db = shared_db();
    let e = open(db);
    let c = plain(db);
    let recent = compile("last_order_date >= current_date - INTERVAL 30 DAY");
    let window = |d: chrono::NaiveDate| count_where(&c, &format!("last_order_date >= DATE '{d}' - INTERVAL 30 DAY"));
    let today = e.today();
    assert_eq!(today, chrono::Local::now().date_naive());
    assert!(!e.set_today(today).unwrap(), "the same date changes nothing");
    let inputs = [OverlapInput { name: "recent".into(), filter: &recent, suppression: false }];
    assert_eq!(e.overlap(&inputs).unwrap().segments[0].size, window(today));
    assert!(e.cache_summary().starts_with("1 cached"), "{}", e.cache_summary());
    // The test data's own as-of date, then 20 days on: recent orders, then fewer.
    let (then, later) = (as_of(), as_of() + chrono::Days::new(20));
    assert!(window(then) > window(later) && window(later) > 0, "the test data must tell the dates apart");
    for date in [then, later] {
        assert!(e.set_today(date).unwrap());
        assert_eq!(e.today(), date);
        assert!(e.cache_summary().starts_with("0 cached"), "{}", e.cache_summary());
        assert_eq!(e.size(&recent).unwrap().size, window(date));
        assert_eq!(e.overlap(&inputs).unwrap().segments[0].size, window(date));
        assert_eq!(e.profile(&recent).unwrap().size, window(date));
    }
    // A second connection keeps the engine's date.
    assert_eq!(e.try_clone().unwrap().size(&recent).unwrap().size, window(later));
}

/// Every rendered literal, run in DuckDB, gives back the value it was made from.
#[test]
fn param_literals_round_trip_in_duckdb() {
    let c = duckdb::Connection::open_in_memory().expect("duckdb");
    let text = |lit: &str| q_str(&c, &format!("SELECT CAST(({lit}) AS VARCHAR)"));
    for s in [
        "O'Brien",
        "''",
        "a\\b",
        "it's -- not a comment /* nor this */",
        "; DROP TABLE customers; --",
        "मराठी ✓",
        "",
        "line\nbreak",
        "{{x}}",
    ] {
        let lit = ParamValue::String(s.into()).to_sql();
        assert_eq!(text(&lit).as_deref(), Some(s), "{lit}");
    }
    for v in [0i64, 7, -1, -42, i64::MAX, i64::MIN] {
        let lit = ParamValue::Int(v).to_sql();
        assert_eq!(text(&lit), Some(v.to_string()), "{lit}");
        // After a minus sign a negative value must not become a `--` comment.
        let minus = q_str(&c, &format!("SELECT CAST(100::HUGEINT -{lit} AS VARCHAR)"));
        assert_eq!(minus, Some((100i128 - v as i128).to_string()), "100 -{lit}");
    }
    for v in [0.1f64, -2.5, 1e20, 1e-300, 123456.789, f64::MIN_POSITIVE, -0.0, 5000.0, 1.0 / 3.0] {
        let lit = ParamValue::Float(v).to_sql();
        let got: f64 = c.query_row(&format!("SELECT {lit}"), [], |r| r.get(0)).unwrap_or_else(|e| panic!("{lit}: {e}"));
        assert!(got.to_bits() == v.to_bits() || got == v, "{lit}: {got} != {v}");
        let ty = q_str(&c, &format!("SELECT typeof({lit})"));
        assert_eq!(ty.as_deref(), Some("DOUBLE"), "{lit}");
        let minus: f64 = c.query_row(&format!("SELECT 1 -{lit}"), [], |r| r.get(0)).expect("1 - x");
        assert_eq!(minus, 1.0 - v, "1 -{lit}");
    }
    for d in ["2026-03-01", "2024-02-29", "1999-12-31", "0001-01-01"] {
        let v = ParamValue::parse(ParamType::Date, d).expect("date");
        let lit = v.to_sql();
        assert_eq!(text(&lit).as_deref(), Some(d), "{lit}");
        assert_eq!(q_str(&c, &format!("SELECT typeof({lit})")).as_deref(), Some("DATE"));
    }
    for bad in ["2026-02-30", "2026-13-01", "yesterday", "2026-3-1x"] {
        assert!(ParamValue::parse(ParamType::Date, bad).is_err(), "{bad}");
    }
    for b in [true, false] {
        let got: bool = c.query_row(&format!("SELECT {}", ParamValue::Bool(b).to_sql()), [], |r| r.get(0)).unwrap();
        assert_eq!(got, b);
    }
    let lists: [Vec<&str>; 4] = [vec!["mr", "gu"], vec!["a'b", "c,d", "e\"f"], vec!["x"], vec![]];
    for items in lists {
        let lit = ParamValue::StringList(items.iter().map(|s| s.to_string()).collect()).to_sql();
        assert_eq!(q_i64(&c, &format!("SELECT len({lit})")), items.len() as i64, "{lit}");
        assert_eq!(q_str(&c, &format!("SELECT typeof({lit})")).as_deref(), Some("VARCHAR[]"), "{lit}");
        for (i, item) in items.iter().enumerate() {
            assert_eq!(q_str(&c, &format!("SELECT ({lit})[{}]", i + 1)).as_deref(), Some(*item), "{lit}");
        }
    }
}

/// Parameters inside filters select what the same values select in hand-written SQL.
#[test]
fn params_in_filters_match_plain_sql() {
    let db = shared_db();
    let e = open(db);
    let c = plain(db);
    let none = FeatureSet::default();
    type Case = (&'static str, Vec<(&'static str, ParamValue)>, String);
    let cases: Vec<Case> = vec![
        // A negative number right after a minus: `customer_id -{{n}}` must stay arithmetic.
        ("customer_id -{{n}} = 12", vec![("n", ParamValue::Int(-5))], "customer_id = 7".into()),
        ("customer_id - {{n}} > 2990", vec![("n", ParamValue::Int(-3))], "customer_id + 3 > 2990".into()),
        ("churn_risk > {{x}}", vec![("x", ParamValue::Float(0.55))], "churn_risk > 0.55".into()),
        ("churn_risk < -{{x}} + 1", vec![("x", ParamValue::Float(-0.25))], "churn_risk < 1.25".into()),
        ("email = {{e}}", vec![("e", ParamValue::String("c17@example.com".into()))], "customer_id = 17".into()),
        // An injection through a string parameter is just a string that matches nothing.
        ("email = {{e}}", vec![("e", ParamValue::String("x' OR '1'='1".into()))], "FALSE".into()),
        ("region = {{r}}", vec![("r", ParamValue::String("West India".into()))], "region = 'West India'".into()),
        (
            "language IN (SELECT unnest({{langs}}))",
            vec![("langs", ParamValue::StringList(vec!["mr".into(), "gu".into()]))],
            "language IN ('mr', 'gu')".into(),
        ),
        (
            "list_contains({{langs}}, language)",
            vec![("langs", ParamValue::StringList(vec!["ta".into(), "o'k".into()]))],
            "language = 'ta'".into(),
        ),
        (
            "signup_date >= {{d}}",
            vec![("d", ParamValue::parse(ParamType::Date, "2025-09-01").unwrap())],
            "signup_date >= DATE '2025-09-01'".into(),
        ),
        ("sms_opt_in = {{b}}", vec![("b", ParamValue::Bool(false))], "NOT sms_opt_in".into()),
        // A placeholder in a string literal or comment is text, not a parameter.
        (
            "email <> '{{n}}' -- {{n}}\n AND customer_id < {{n}}",
            vec![("n", ParamValue::Int(10))],
            "customer_id < 10".into(),
        ),
    ];
    for (text, values, hand) in cases {
        let compiled = compile_with(text, &values, &none);
        let got = e.size(&compiled).unwrap_or_else(|err| panic!("{text}: {err}")).size;
        assert_eq!(got, count_where(&c, &hand), "{text} with {values:?} (sql: {})", compiled.sql);
    }
    assert_eq!(count_where(&c, "customer_id = 7"), 1);

    // Declared params: defaults fill in, bounds are enforced, unknown and missing names are named.
    let mut decls = ParamDecls::new();
    let mut d = seglens::engine::ParamDecl::new(ParamType::Int);
    d.default = Some(ParamValue::Int(3));
    d.min = Some(ParamValue::Int(1));
    d.max = Some(ParamValue::Int(100));
    decls.insert("n".into(), d);
    let text = "orders_count >= {{n}}";
    let compiled = filter::compile(text, &decls, &BTreeMap::new(), &none).expect("default");
    assert_eq!(e.size(&compiled).unwrap().size, count_where(&c, "orders_count >= 3"));
    let values = filter::bind_params(text, &decls, &[("n".into(), "7".into())]).expect("bind");
    let compiled = filter::compile(text, &decls, &values, &none).expect("bound");
    assert_eq!(e.size(&compiled).unwrap().size, count_where(&c, "orders_count >= 7"));
    let err = filter::bind_params(text, &decls, &[("n".into(), "0".into())]).unwrap_err();
    assert!(err.message.contains("minimum"), "{err}");
    let err = filter::bind_params(text, &decls, &[("n".into(), "seven".into())]).unwrap_err();
    assert!(err.message.contains("seven"), "{err}");
    let err = filter::bind_params(text, &decls, &[("days".into(), "7".into())]).unwrap_err();
    assert!(err.message.contains("days"), "{err}");
    let err = filter::compile("orders_count >= {{m}}", &ParamDecls::new(), &BTreeMap::new(), &none).unwrap_err();
    assert!(err.message.contains("{{m}}"), "{err}");
}

#[test]
fn features_expand_end_to_end() {
    let db = shared_db();
    let e = open(db);
    let c = plain(db);
    let features = sample_features();
    let cases = [
        (
            "lapsed(90) AND high_value(5000)",
            "(last_order_date IS NULL OR last_order_date < current_date - INTERVAL 90 DAY) AND lifetime_spend > 5000",
        ),
        // A feature built from features, and case-insensitive calls.
        (
            "LAPSED_HIGH_VALUE(90, 5000)",
            "(last_order_date IS NULL OR last_order_date < current_date - INTERVAL 90 DAY) AND lifetime_spend > 5000",
        ),
        ("speaks('mr') AND in_region('West India')", "language = 'mr' AND region = 'West India'"),
        ("holi_buyer() AND NOT never_purchased()", "holi_color_buyer AND orders_count <> 0"),
        ("reachable('sms') AND engaged(70)", "sms_opt_in AND engagement_score >= 70"),
        // An argument holding an expression with a comma inside parentheses.
        ("high_value(greatest(1000, 2000))", "lifetime_spend > 2000"),
    ];
    for (f, hand) in cases {
        let compiled = compile_with(f, &[], &features);
        let want = count_where(&c, hand);
        assert!(want > 0 && want < CUSTOMERS, "{hand}: {want} is not a telling count");
        assert_eq!(e.size(&compiled).expect(f).size, want, "{f} → {}", compiled.sql);
    }
    // A feature argument from a parameter.
    let compiled = compile_with("high_value({{min}})", &[("min", ParamValue::Float(5000.0))], &features);
    assert_eq!(e.size(&compiled).unwrap().size, count_where(&c, "lifetime_spend > 5000"));
    assert!(compiled.features_used.contains("high_value"));
    // A feature name as a column or in a string is left alone.
    let compiled = compile_with("'lapsed(90)' = 'lapsed(90)'", &[], &features);
    assert_eq!(e.size(&compiled).unwrap().size, CUSTOMERS);
    // Wrong argument count names the feature.
    let err = filter::compile("lapsed(1, 2)", &ParamDecls::new(), &BTreeMap::new(), &features).unwrap_err();
    assert!(err.message.contains("lapsed") && err.message.contains("argument"), "{err}");
}

#[test]
fn error_positions_point_at_the_users_line() {
    let db = shared_db();
    let e = open(db);
    let features = sample_features();
    let cases = [
        ("orders_count > 0\n  AND no_such_column > 1", 2),
        ("lapsed(90)\n  AND high_value(5000)\n  AND bogus_col = 'x'", 3),
        ("region = {{r}}\n AND nope = 1", 2),
    ];
    for (text, line) in cases {
        let compiled =
            compile_with(text, &[("r", ParamValue::String("a long value that shifts offsets".into()))], &features);
        let err = e.size(&compiled).unwrap_err();
        let EngineError::Filter(fe) = &err else { panic!("{text}: not a filter error: {err:?}") };
        let pos = fe.pos.unwrap_or_else(|| panic!("{text}: no position: {fe}"));
        assert_eq!(pos.line, line, "{text}: {fe}");
        assert!(err.is_user_error());
    }
    // Errors found before DuckDB are placed too.
    let err = filter::compile("a = 1\n AND b = 'open", &ParamDecls::new(), &BTreeMap::new(), &FeatureSet::default())
        .unwrap_err();
    assert_eq!(err.pos.map(|p| (p.line, p.col)), Some((2, 10)), "{err}");
}

/// Statement smuggling and file access are refused with an EngineError; the same engine then
/// answers a valid question correctly.
#[test]
fn injection_and_file_access_are_refused_and_the_engine_goes_on() {
    let db = shared_db();
    let e = open(db);
    let c = plain(db);
    let valid = compile("region = 'East India'");
    let want = count_where(&c, "region = 'East India'");
    let compile_err = |text: &str| -> EngineError {
        let r = filter::compile(text, &ParamDecls::new(), &BTreeMap::new(), &FeatureSet::default());
        match r {
            Err(fe) => EngineError::from(fe),
            Ok(compiled) => match e.size(&compiled) {
                Err(err) => err,
                Ok(s) => panic!("{text:?} was accepted: {s:?}"),
            },
        }
    };
    let hostile = [
        "1=1; DROP TABLE customers",
        "1=1) OR (1=1",
        "1=1 /* unterminated",
        "region = 'West",
        "1=1); DELETE FROM customers; SELECT (1",
        "\"unterminated identifier",
        "1=1 --\n) OR (TRUE",
        "EXISTS (SELECT 1 FROM read_text('/etc/hostname'))",
        "(SELECT content FROM read_text('/etc/hostname')) IS NOT NULL",
        "EXISTS (SELECT * FROM read_csv('/etc/passwd'))",
        "EXISTS (SELECT 1 FROM glob('/etc/*'))",
        "EXISTS (SELECT 1 FROM read_parquet('/etc/passwd'))",
        "EXISTS (SELECT 1 FROM read_blob('/etc/hostname'))",
        "EXISTS (SELECT 1 FROM 'x.csv')",
        "(SELECT count(*) FROM duckdb_extensions() WHERE loaded AND extension_name = 'httpfs' AND load_extension('httpfs') IS NULL) = 0",
        "current_setting('enable_external_access') = 'true' OR set_config('enable_external_access', 'true') IS NULL",
        "region = 'x\0y'",
        "",
    ];
    for text in hostile {
        let err = compile_err(text);
        assert!(err.is_user_error(), "{text:?}: an internal error instead of a refusal: {err:?}");
        assert!(!err.to_string().is_empty());
        // After each refusal the engine answers correctly.
        assert_eq!(e.size(&valid).unwrap_or_else(|x| panic!("after {text:?}: {x}")).size, want, "after {text:?}");
    }
    // The file's content never came back in an error.
    let hostname = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
    let err = compile_err("(SELECT content FROM read_text('/etc/hostname')) = 'nope'");
    if !hostname.trim().is_empty() {
        assert!(!err.to_string().contains(hostname.trim()), "{err}");
    }
    // Nothing changed: the table is still there with every row.
    assert_eq!(e.size(&compile("TRUE")).unwrap().size, CUSTOMERS);
}

#[test]
fn database_bytes_unchanged_after_opening_and_querying() {
    let dir = tempfile::tempdir().unwrap();
    let db = private_db(dir.path());
    let before = sha256_file(&db);
    let mtime = std::fs::metadata(&db).unwrap().modified().unwrap();
    {
        let e = open(&db);
        e.verify_key().expect("unique key");
        let f = compile(
            "engagement_score > 50 AND EXISTS (SELECT 1 FROM events e WHERE e.customer_id = customers.customer_id)",
        );
        e.size(&f).unwrap();
        e.profile(&f).unwrap();
        e.breakdown(&f, "region", 5).unwrap();
        e.unsegmentable(&f).unwrap();
        e.rows(&f, &[], 10).unwrap();
        e.schema().unwrap();
        let g = compile("orders_count > 2");
        e.overlap(&[
            OverlapInput { name: "a".into(), filter: &f, suppression: false },
            OverlapInput { name: "b".into(), filter: &g, suppression: true },
        ])
        .unwrap();
        for bad in [
            "1=1; DROP TABLE customers",
            "EXISTS (SELECT 1 FROM read_text('/etc/hostname'))",
            "(SELECT count(*) FROM (SELECT * FROM customers LIMIT 1)) = 1 AND nextval('x') > 0",
        ] {
            if let Ok(c) = filter::compile(bad, &ParamDecls::new(), &BTreeMap::new(), &FeatureSet::default()) {
                assert!(e.size(&c).is_err(), "{bad}");
            }
        }
        let other = e.try_clone().expect("second connection");
        other.size(&g).unwrap();
        e.clear_cache();
    }
    assert_eq!(sha256_file(&db), before, "the database bytes changed");
    assert_eq!(std::fs::metadata(&db).unwrap().modified().unwrap(), mtime);
    let leftovers: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "crm.duckdb")
        .collect();
    assert!(leftovers.is_empty(), "files appeared beside the database: {leftovers:?}");
}

#[test]
fn open_errors_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.duckdb");
    let err = Engine::open(&missing, &OpenOptions::default()).err().expect("missing file");
    assert!(matches!(err, EngineError::NotFound(_)), "{err:?}");
    assert!(err.to_string().contains("no such file") && err.is_user_error(), "{err}");
    assert!(!missing.exists(), "opening a missing file created it");

    let text = dir.path().join("x.duckdb");
    std::fs::write(&text, "region,customer_id\nWest,1\n").unwrap();
    let err = Engine::open(&text, &OpenOptions::default()).err().expect("text file");
    assert!(matches!(err, EngineError::NotADatabase { .. }), "{err:?}");
    assert!(err.to_string().contains("not a DuckDB database"), "{err}");
    assert_eq!(std::fs::read_to_string(&text).unwrap(), "region,customer_id\nWest,1\n", "the file was changed");

    let sub = dir.path().join("a-dir.duckdb");
    std::fs::create_dir(&sub).unwrap();
    let err = Engine::open(&sub, &OpenOptions::default()).err().expect("directory");
    // A folder is read as a Parquet dataset (issue 19); one without Parquet files is an error.
    assert!(matches!(err, EngineError::NotParquet { .. }), "{err:?}");
    assert!(err.to_string().contains("directory"), "{err}");

    let empty = dir.path().join("empty.duckdb");
    std::fs::write(&empty, "").unwrap();
    let err = Engine::open(&empty, &OpenOptions::default()).err();
    assert!(err.as_ref().is_some_and(EngineError::is_user_error), "empty file: {err:?}");

    // A truncated database: the first 16 KiB of a real one.
    let db = private_db(dir.path());
    let bytes = std::fs::read(&db).unwrap();
    let cut = dir.path().join("truncated.duckdb");
    std::fs::write(&cut, &bytes[..16 * 1024]).unwrap();
    let err = Engine::open(&cut, &OpenOptions::default()).err();
    assert!(err.as_ref().is_some_and(EngineError::is_user_error), "truncated file: {err:?}");
}

#[test]
fn csv_and_parquet_files_open_as_tables() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("crm export.csv");
    let parquet = dir.path().join("2026-customers.parquet");
    {
        let c = plain(shared_db());
        c.execute_batch(&format!(
            "COPY customers TO '{}' (HEADER); COPY customers TO '{}' (FORMAT parquet);",
            s(&csv),
            s(&parquet)
        ))
        .expect("copy out");
    }
    let c = plain(shared_db());
    let want = count_where(&c, "region = 'West India' AND orders_count > 1");
    for (path, table) in [(&csv, "crm_export"), (&parquet, "t_2026_customers")] {
        let e = open(path);
        assert_eq!(e.table(), table);
        assert_eq!(e.key(), "customer_id");
        assert_eq!(e.base_size(), CUSTOMERS);
        e.verify_key().expect("unique key");
        assert_eq!(
            e.size(&compile("region = 'West India' AND orders_count > 1")).unwrap().size,
            want,
            "{}",
            path.display()
        );
        // External access is off here too, though the data came from a file.
        let err = e.size(&compile("EXISTS (SELECT 1 FROM read_text('/etc/hostname'))")).unwrap_err();
        assert!(err.is_user_error(), "{err:?}");
        assert_eq!(e.size(&compile("TRUE")).unwrap().size, CUSTOMERS);
    }
    // --table names the table of a file source.
    let e = Engine::open(&csv, &OpenOptions { table: Some("people".into()), ..Default::default() }).unwrap();
    assert_eq!(e.table(), "people");
    // A csv that is not one: a user error.
    let bad = dir.path().join("bad.parquet");
    std::fs::write(&bad, "not parquet").unwrap();
    let err = Engine::open(&bad, &OpenOptions::default()).err().expect("bad parquet");
    assert!(err.is_user_error(), "{err:?}");
}

fn make_db(dir: &Path, name: &str, sql: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    let c = duckdb::Connection::open(&path).unwrap();
    c.execute_batch(sql).unwrap();
    drop(c);
    path
}

#[test]
fn a_key_that_is_not_unique_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let db = make_db(
        dir.path(),
        "dups.duckdb",
        "CREATE TABLE customers AS SELECT * FROM (VALUES (1, 'a'), (1, 'b'), (2, 'c'), (3, 'd'), (3, 'e'), (NULL, 'f')) t(customer_id, name);",
    );
    let e = open(&db);
    let err = e.verify_key().unwrap_err();
    match &err {
        EngineError::KeyNotUnique { table, key, duplicates } => {
            assert_eq!((table.as_str(), key.as_str(), *duplicates), ("customers", "customer_id", 3));
        }
        other => panic!("{other:?}"),
    }
    assert!(err.is_user_error() && err.to_string().contains("--key"), "{err}");
    // One NULL key and no duplicates: not unique either (a NULL names no customer).
    let db = make_db(
        dir.path(),
        "null.duckdb",
        "CREATE TABLE customers AS SELECT * FROM (VALUES (1), (2), (NULL)) t(customer_id);",
    );
    assert!(matches!(open(&db).verify_key(), Err(EngineError::KeyNotUnique { duplicates: 1, .. })));
    // A unique key declared as PRIMARY KEY passes.
    let db = make_db(
        dir.path(),
        "pk.duckdb",
        "CREATE TABLE customers (customer_id INTEGER PRIMARY KEY, name VARCHAR); INSERT INTO customers VALUES (1, 'a'), (2, 'b');",
    );
    open(&db).verify_key().expect("primary key");
}

#[test]
fn table_and_key_are_detected_or_overridden() {
    let dir = tempfile::tempdir().unwrap();
    // No `customers` table: the only table with a unique *_id column is the entity table.
    let db = make_db(
        dir.path(),
        "members.duckdb",
        "CREATE TABLE members AS SELECT range AS member_id, range % 3 AS tier FROM range(1, 101);
         CREATE TABLE visits AS SELECT range % 100 + 1 AS member_id, range AS n FROM range(500);",
    );
    let e = open(&db);
    assert_eq!((e.table(), e.key(), e.base_size()), ("members", "member_id", 100));
    assert_eq!(
        e.size(&compile("tier = 0")).unwrap().size,
        q_i64(&plain(&db), "SELECT count(*) FROM members WHERE tier = 0") as u64
    );
    // Overridden: --table visits --key n.
    let e =
        Engine::open(&db, &OpenOptions { table: Some("VISITS".into()), key: Some("n".into()), ..Default::default() })
            .unwrap();
    assert_eq!((e.table(), e.key(), e.base_size()), ("visits", "n", 500));
    e.verify_key().expect("n is unique");
    // An override that does not exist is an error naming what does.
    let err = Engine::open(&db, &OpenOptions { table: Some("nope".into()), ..Default::default() }).err().unwrap();
    assert!(matches!(err, EngineError::NoEntityTable(_)) && err.to_string().contains("members"), "{err}");
    let err = Engine::open(&db, &OpenOptions { key: Some("nope".into()), ..Default::default() }).err().unwrap();
    assert!(matches!(err, EngineError::KeyNotFound { .. }) && err.to_string().contains("member_id"), "{err}");
    // Two candidate tables: ambiguous, and the error says to pick one.
    let db = make_db(
        dir.path(),
        "two.duckdb",
        "CREATE TABLE a AS SELECT range AS a_id FROM range(5); CREATE TABLE b AS SELECT range AS b_id FROM range(5);",
    );
    let err = Engine::open(&db, &OpenOptions::default()).err().unwrap();
    assert!(err.to_string().contains("--table"), "{err}");
    let e = Engine::open(&db, &OpenOptions { table: Some("b".into()), ..Default::default() }).unwrap();
    assert_eq!((e.table(), e.key()), ("b", "b_id"));
    // No candidate at all; and no tables at all.
    let db = make_db(dir.path(), "none.duckdb", "CREATE TABLE t AS SELECT 1 AS x;");
    let err = Engine::open(&db, &OpenOptions::default()).err().unwrap();
    assert!(matches!(err, EngineError::NoEntityTable(_)) && err.to_string().contains("--table"), "{err}");
    let db = make_db(dir.path(), "empty.duckdb", "SELECT 1;");
    let err = Engine::open(&db, &OpenOptions::default()).err().unwrap();
    assert!(matches!(err, EngineError::NoEntityTable(_)), "{err:?}");
}

/// The clause cache answers an expensive clause from a stored key set: the figures stay those of
/// plain SQL on the first call, on later calls, and after the cheap clause is nudged.
#[test]
fn clause_cache_gives_plain_sql_figures() {
    let db = shared_db();
    let e = open(db);
    let c = plain(db);
    let purchase =
        "EXISTS (SELECT 1 FROM events e WHERE e.customer_id = customers.customer_id AND e.event_type = 'purchase')";
    let no_purchase = format!("NOT {purchase}");
    // One clause matches fewer than half the customers, the other more: both ways of storing it.
    let share = count_where(&c, purchase) as f64 / CUSTOMERS as f64;
    assert!(share > 0.05 && share < 0.95, "{share}");
    for expensive in [purchase.to_string(), no_purchase] {
        for threshold in [50, 50, 49, 51, 20, 50] {
            let f = format!("engagement_score > {threshold} AND {expensive}");
            let want = count_where(&c, &f);
            let compiled = compile(&f);
            assert_eq!(e.size(&compiled).unwrap().size, want, "{f}");
            assert_eq!(e.profile(&compiled).unwrap().size, want, "profile {f}");
            let b = e.breakdown(&compiled, "region", 100).unwrap();
            assert_eq!(b.rows.iter().map(|r| r.count).sum::<u64>(), want, "breakdown {f}");
            let r = e.rows(&compiled, &["customer_id".into()], 100_000).unwrap();
            assert_eq!(r.rows.len() as u64, want, "rows {f}");
        }
        // A clause that can be NULL (a scalar subquery over no events) behaves as in plain SQL.
        let f = format!(
            "(SELECT max(e.amount) FROM events e WHERE e.customer_id = customers.customer_id) > 1500 AND {expensive} AND churn_risk < 0.5"
        );
        assert_eq!(e.size(&compile(&f)).unwrap().size, count_where(&c, &f), "{f}");
    }
    assert!(e.cache_summary().starts_with(|ch: char| ch.is_ascii_digit() && ch != '0'), "{}", e.cache_summary());
    e.clear_cache();
    assert!(e.cache_summary().starts_with("0 cached"), "{}", e.cache_summary());
    let f = format!("engagement_score > 50 AND {purchase}");
    assert_eq!(e.size(&compile(&f)).unwrap().size, count_where(&c, &f));
}

/// A filter that would run for minutes is cancelled from another thread; the engine then answers.
#[test]
fn a_slow_query_is_cancelled_from_another_thread() {
    let db = shared_db();
    let e = open(db);
    let canceller = e.canceller();
    // A 3000³ cross product with a predicate no join can use: billions of rows, far beyond seconds.
    let slow = compile(
        "(SELECT count(*) FROM customers a, customers b, customers c \
         WHERE (a.customer_id * 7 + b.customer_id * 13 + c.customer_id) % 1009 = 3) > 0",
    );
    let started = Instant::now();
    let worker = std::thread::spawn(move || {
        let r = e.size(&slow);
        (e, r)
    });
    std::thread::sleep(Duration::from_millis(700));
    assert!(!worker.is_finished(), "the slow query finished in 0.7 s: not slow enough to test cancelling");
    let cancelled_at = Instant::now();
    canceller.cancel();
    // Never hang the suite if cancelling does not work: give up waiting after 10 s.
    while !worker.is_finished() && cancelled_at.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(worker.is_finished(), "the query still runs 10 s after cancel");
    let (e, r) = worker.join().expect("worker thread");
    let took = cancelled_at.elapsed();
    assert!(matches!(r, Err(EngineError::Cancelled)), "{r:?}");
    assert!(took < Duration::from_secs(5), "cancel took {took:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
    // The same engine answers afterwards.
    let want = count_where(&plain(db), "region = 'West India'");
    assert_eq!(e.size(&compile("region = 'West India'")).expect("size after cancel").size, want);
    assert_eq!(e.profile(&compile("region = 'West India'")).expect("profile after cancel").size, want);
}
