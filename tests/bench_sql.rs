//! The statements the engine hands to benchmarks (`cargo xbench` measurement 14 runs them on
//! DuckDB as released and on the bundled DuckDB, against seglens): on a plain DuckDB connection
//! with the kept rollups built from `rollup_statements`, each gives exactly the figures the
//! engine shows, on a schema that is not the sample's, with a clause the clause cache rewrites.

#![allow(clippy::unwrap_used)] // a test that unwraps fails loudly, which is the point

mod common;

use common::foreign::{Foreign, foreign_db};
use common::*;
use seglens::engine::{Engine, OpenOptions};

/// A plain read-only connection to `db`, `current_date` pinned as the engine's, with the kept
/// rollups built by the engine's own statements.
fn plain_with_rollups(db: &std::path::Path, engine: &Engine) -> duckdb::Connection {
    let conn = plain(db);
    conn.execute_batch(&format!(
        "CREATE OR REPLACE TEMP MACRO current_date() AS DATE '{d}';
         CREATE OR REPLACE TEMP MACRO today() AS DATE '{d}';
         ATTACH ':memory:' AS __seglens_kept (READ_WRITE);",
        d = as_of()
    ))
    .expect("the date and the kept database");
    let statements = engine.rollup_statements();
    assert!(!statements.is_empty(), "the purchases are rolled up per shopper");
    for (table, select) in statements {
        conn.execute_batch(&format!("CREATE TABLE {table} AS {select}")).unwrap_or_else(|e| panic!("{select}: {e}"));
    }
    conn
}

/// Every row of `sql` as JSON-like cells: counts as integers, figures as doubles, text as text.
fn cells(conn: &duckdb::Connection, sql: &str) -> Vec<Vec<duckdb::types::Value>> {
    let mut s = conn.prepare(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    let mut rows = s.query([]).unwrap_or_else(|e| panic!("{sql}: {e}"));
    let mut out = Vec::new();
    while let Some(r) = rows.next().expect("a row") {
        let n = r.as_ref().column_count();
        out.push((0..n).map(|i| r.get::<_, duckdb::types::Value>(i).expect("a value")).collect());
    }
    out
}

fn count(v: &duckdb::types::Value) -> u64 {
    match v {
        duckdb::types::Value::BigInt(n) => *n as u64,
        other => panic!("not a count: {other:?}"),
    }
}

fn figure(v: &duckdb::types::Value) -> Option<f64> {
    match v {
        duckdb::types::Value::Null => None,
        duckdb::types::Value::Double(x) => Some(*x),
        other => panic!("not a figure: {other:?}"),
    }
}

fn text(v: &duckdb::types::Value) -> Option<String> {
    match v {
        duckdb::types::Value::Null => None,
        duckdb::types::Value::Text(t) => Some(t.clone()),
        other => panic!("not text: {other:?}"),
    }
}

fn close(a: &[Option<f64>], b: &[Option<f64>], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}");
    for (x, y) in a.iter().zip(b) {
        match (x, y) {
            (Some(x), Some(y)) => assert!((x - y).abs() <= 1e-9 * y.abs().max(1.0), "{what}: {a:?} vs {b:?}"),
            _ => assert_eq!(x, y, "{what}"),
        }
    }
}

#[test]
fn statements_for_benchmarks_give_the_engines_figures_without_the_clause_cache() {
    let dir = tempfile::tempdir().unwrap();
    let db = foreign_db(dir.path(), Foreign::Shop, 600);
    let engine = Engine::open(&db, &OpenOptions { as_of: Some(as_of()), ..Default::default() }).unwrap();
    // Two clauses, one a subquery: the engine answers it through its clause cache (a lookup
    // function plain DuckDB does not have); the statements for benchmarks must not.
    let f = compile(
        "total_spent > 500 AND EXISTS (SELECT 1 FROM purchase_records p WHERE p.shopper_ref = shoppers.shopper_ref AND p.amount > 150)",
    );
    let size = engine.size(&f).unwrap().size;
    assert!(size > 20 && size < 500, "the filter selects part of the shoppers: {size}");
    let conn = plain_with_rollups(&db, &engine);

    let p = engine.profile(&f).unwrap();
    let row = &cells(&conn, &engine.profile_sql(&f).unwrap())[0];
    assert_eq!(count(&row[0]), p.size);
    let theirs: Vec<Option<f64>> = row[1..].iter().map(figure).collect();
    close(&p.metrics.iter().map(|m| m.segment).collect::<Vec<_>>(), &theirs, "profile");

    // A text column (its top values) and a numeric one (round-number bins).
    for column in ["segment_label", "total_spent"] {
        let b = engine.breakdown(&f, column, 4).unwrap();
        let rows = cells(&conn, &engine.breakdown_sql(&f, column, 4).unwrap());
        let counts: Vec<u64> = rows.iter().map(|r| count(&r[1])).collect();
        assert_eq!(counts, b.rows.iter().map(|r| r.count).collect::<Vec<_>>(), "breakdown by {column}");
        if b.bin_width.is_none() {
            let values: Vec<Option<String>> = rows.iter().map(|r| text(&r[0])).collect();
            assert_eq!(values, b.rows.iter().map(|r| r.value.clone()).collect::<Vec<_>>(), "{column}");
            assert_eq!(rows.len(), 4, "the top 4 of {column}");
        }
    }

    let members = engine.rows(&f, &[], 25).unwrap();
    assert_eq!(members.rows.len(), 25);
    assert_eq!(q_rows(&conn, &engine.rows_sql(&f, &[], 25).unwrap()), members.rows, "the first members");

    let by = vec!["home_country".to_string(), "segment_label".to_string()];
    let split = engine.split(&f, &by, 0.05).unwrap();
    let rows = cells(&conn, &engine.split_metrics_sql(&f, &by).unwrap());
    assert_eq!(rows.len(), split.cells.len(), "one row per cell");
    for r in &rows {
        let values: Vec<Option<String>> = r[..2].iter().map(text).collect();
        let cell = split
            .cells
            .iter()
            .find(|c| by.iter().map(|b| c.values[b].clone()).eq(values.iter().cloned()))
            .unwrap_or_else(|| panic!("no cell {values:?}"));
        assert_eq!(count(&r[2]), cell.size, "{values:?}");
        let mine: Vec<Option<f64>> = engine.metrics().iter().map(|m| cell.metrics[&m.name]).collect();
        close(&mine, &r[3..].iter().map(figure).collect::<Vec<_>>(), "split metrics");
    }
}
