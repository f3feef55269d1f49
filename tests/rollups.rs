//! Rollups of related tables: one row per customer whatever the related key's type, kept once per
//! session and joined by profile, split, arms and compare, every figure equal to SQL written here.
//!
//! The data is not the sample's: `accounts` keyed by an INTEGER `acct_no` beside `touches` keyed by
//! text (`'10'`, `'010'`, `' 20'`, `'n/a'`, an id no account has), and the mirror case (a VARCHAR
//! entity key beside an integer related key).

#![allow(clippy::unwrap_used)] // a test that unwraps fails loudly, which is the point

mod common;

use std::path::{Path, PathBuf};

use chrono::NaiveDate;

use common::*;
use seglens::engine::query::arms::Arms;
use seglens::engine::{Engine, MetricSet, MetricSource, MetricsFile, OpenOptions};
use sha2::Digest;

/// 100 accounts `acct_no` 1..100 (INTEGER) with a `total` column of their own (a name a rollup
/// also has), a money column `spend` and a region; `touches` keyed by VARCHAR: every account once as its plain number,
/// 15 more rows spelling some accounts `'0NN'` or `' NN'`, one `'n/a'` and one `'999'` (no such
/// account).
fn text_keyed(dir: &Path) -> PathBuf {
    let path = dir.join("odd keys.duckdb");
    let conn = duckdb::Connection::open(&path).unwrap();
    conn.execute_batch(
        "CREATE TABLE accounts (acct_no INTEGER PRIMARY KEY, region VARCHAR, total DECIMAL(10,2), spend DECIMAL(10,2), opened DATE);
         INSERT INTO accounts SELECT i, ['North','South','East','West'][1 + i % 4], 100 + i, 3 * i + 0.5, DATE '2026-01-01' - CAST(i AS INTEGER)
           FROM range(1, 101) t(i);
         UPDATE accounts SET region = NULL WHERE acct_no % 10 = 0;
         CREATE TABLE touches (acct_no VARCHAR, amount DECIMAL(10,2), touched_on DATE);
         INSERT INTO touches SELECT CAST(i AS VARCHAR), i, DATE '2026-02-01' - CAST(i AS INTEGER) FROM range(1, 101) t(i);
         INSERT INTO touches SELECT CASE WHEN i % 2 = 0 THEN '0' || CAST(i AS VARCHAR) ELSE ' ' || CAST(i AS VARCHAR) END, 10, DATE '2026-02-20'
           FROM range(1, 16) t(i);
         INSERT INTO touches VALUES ('n/a', 5, DATE '2026-02-01'), ('999', 7, DATE '2026-02-01');
         CHECKPOINT;",
    )
    .unwrap();
    path
}

fn opts(metrics: Option<MetricSet>) -> OpenOptions {
    OpenOptions { as_of: Some(as_of()), metrics, ..Default::default() }
}

/// Per account, its touches by the documented rule: the text key converted to the account's key.
const PER_ACCOUNT: &str =
    "SELECT TRY_CAST(acct_no AS INTEGER) AS k, count(*) AS n, sum(amount) AS s, max(touched_on) AS last
    FROM touches GROUP BY 1";

fn q_u64(conn: &duckdb::Connection, sql: &str) -> u64 {
    q_i64(conn, sql) as u64
}

fn metric(p: &seglens::engine::query::profile::Profile, name: &str) -> Option<f64> {
    p.metrics.iter().find(|m| m.name == name).unwrap_or_else(|| panic!("no metric {name} in {:?}", p.metrics)).segment
}

fn close(a: Option<f64>, b: Option<f64>, what: &str) {
    match (a, b) {
        (Some(a), Some(b)) => assert!((a - b).abs() < 1e-6 * b.abs().max(1.0), "{what}: {a} vs {b}"),
        _ => assert_eq!(a, b, "{what}"),
    }
}

#[test]
fn a_text_keyed_related_table_counts_each_customer_once_and_every_figure_matches_sql() {
    let dir = tempfile::tempdir().unwrap();
    let db = text_keyed(dir.path());
    let engine = Engine::open(&db, &opts(None)).unwrap();
    assert_eq!(engine.rollups().len(), 1, "touches is rolled up: {:?}", engine.rollups());
    let conn = plain(&db);
    let all = compile("TRUE");
    let p = engine.profile(&all).unwrap();
    assert_eq!((p.size, p.base), (100, 100), "the segment never exceeds the base");
    // The entity's own column, summed once per account (not once per matching group).
    close(metric(&p, "total_spend"), q_f64(&conn, "SELECT sum(spend) FROM accounts"), "total spend");
    close(metric(&p, "avg_spend"), q_f64(&conn, "SELECT avg(spend) FROM accounts"), "average spend");
    let per =
        format!("SELECT a.acct_no, r.n, r.s, r.last FROM accounts a LEFT JOIN ({PER_ACCOUNT}) r ON r.k = a.acct_no");
    close(
        metric(&p, "touches_per_customer"),
        q_f64(&conn, &format!("SELECT avg(coalesce(n, 0)) FROM ({per})")),
        "rows",
    );
    close(
        metric(&p, "touches_amount_per_customer"),
        q_f64(&conn, &format!("SELECT avg(coalesce(s, 0)) FROM ({per})")),
        "amount",
    );
    close(
        metric(&p, "touches_days_since_last"),
        q_f64(&conn, &format!("SELECT median(DATE '{}' - last) FROM ({per})", as_of())),
        "recency",
    );
    // '010' and ' 20' are accounts 10 and 20: 115 touches owned, 2 ('n/a', '999') owned by no one.
    assert_eq!(q_i64(&conn, &format!("SELECT sum(n) FROM ({per})")), 115);
    assert!(
        p.notes.iter().any(|n| n.contains("2 rows of touches matched no customer")),
        "the profile says how many related rows matched no customer: {:?}",
        p.notes
    );

    // A segment: figures over its accounts only.
    let f = compile("region = 'North' AND total > 120");
    let p = engine.profile(&f).unwrap();
    let seg = "region = 'North' AND total > 120";
    assert_eq!(p.size, q_u64(&conn, &format!("SELECT count(*) FROM accounts WHERE {seg}")));
    close(
        metric(&p, "touches_per_customer"),
        q_f64(&conn, &format!("SELECT avg(coalesce(n, 0)) FROM ({per}) x JOIN accounts USING (acct_no) WHERE {seg}")),
        "segment rows",
    );

    // Split: the cells add up to the base, each equal to a count of its own.
    let split = engine.split(&all, &["region".to_string()], 0.0).unwrap();
    assert_eq!(split.cells.iter().map(|c| c.size).sum::<u64>(), 100);
    for c in &split.cells {
        let v = c.values.get("region").cloned().flatten();
        let cond = v.map_or("region IS NULL".to_string(), |v| format!("region = '{v}'"));
        assert_eq!(c.size, q_u64(&conn, &format!("SELECT count(*) FROM accounts WHERE {cond}")), "{cond}");
    }

    // Arms: the documented hash, computed here per account.
    let arms = Arms::parse("a=0.5,b=0.5", "holi26").unwrap();
    let report = engine.arms(&all, &arms).unwrap();
    let mut expected = [0u64; 2];
    for id in 1..=100 {
        let h = sha2::Sha256::digest(format!("holi26:{id}").as_bytes());
        let n = u32::from_be_bytes([h[0], h[1], h[2], h[3]]);
        let bucket = (u64::from(n) * 10_000) >> 32;
        expected[usize::from(bucket >= 5_000)] += 1;
    }
    let got: Vec<u64> = report.arms.iter().map(|a| a.size).collect();
    assert_eq!(got, expected.to_vec(), "arms by the documented hash");
    assert_eq!(report.size, 100);
}

#[test]
fn a_metrics_file_rollup_over_a_text_key_joins_one_row_per_customer() {
    let dir = tempfile::tempdir().unwrap();
    let db = text_keyed(dir.path());
    let file: MetricsFile = seglens::engine::query::profile::parse_metrics(
        r#"
[[rollup]]
name = "t"
table = "touches"
key = "acct_no"
columns = { n = "count(*)", spend = "sum(amount)" }

[[metric]]
name = "touches"
label = "Touches per account"
sql = "avg(coalesce(t.n, 0))"
format = "number"

[[metric]]
name = "own_total"
label = "Own total"
sql = "sum(accounts.total)"
format = "money"
"#,
    )
    .unwrap();
    let set = MetricSet { file, source: MetricSource::File("m.toml".into()) };
    let engine = Engine::open(&db, &opts(Some(set))).unwrap();
    let conn = plain(&db);
    let p = engine.profile(&compile("TRUE")).unwrap();
    assert_eq!(p.size, 100);
    close(metric(&p, "own_total"), q_f64(&conn, "SELECT sum(total) FROM accounts"), "own total");
    close(metric(&p, "touches"), Some(1.15), "115 owned touches over 100 accounts");
    let total = p.metrics.iter().find(|m| m.name == "own_total").unwrap();
    assert_eq!(total.lift, None, "a total has no lift against the base");
}

#[test]
fn an_integer_related_key_beside_a_text_entity_key_matches_by_the_entitys_text() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mixed.duckdb");
    let conn = duckdb::Connection::open(&path).unwrap();
    // Entity keyed by VARCHAR ('1'..'50' and ' 7'-style padding is a different customer); the
    // related table by BIGINT, with ids past the entity's.
    conn.execute_batch(
        "CREATE TABLE \"Member List\" (ref VARCHAR PRIMARY KEY, tier VARCHAR);
         INSERT INTO \"Member List\" SELECT CAST(i AS VARCHAR), CASE WHEN i % 3 = 0 THEN 'gold' END FROM range(1, 51) t(i);
         CREATE TABLE visits (ref BIGINT, spent DOUBLE, seen_at TIMESTAMP);
         INSERT INTO visits SELECT 1 + i % 60, i, TIMESTAMP '2026-02-01 10:00:00' FROM range(0, 300) t(i);
         CHECKPOINT;",
    )
    .unwrap();
    drop(conn);
    let engine = Engine::open(&path, &opts(None)).unwrap();
    let conn = plain(&path);
    let p = engine.profile(&compile("tier = 'gold'")).unwrap();
    assert_eq!(p.size, q_u64(&conn, "SELECT count(*) FROM \"Member List\" WHERE tier = 'gold'"));
    let per = "SELECT CAST(ref AS VARCHAR) AS k, count(*) AS n FROM visits GROUP BY 1";
    close(
        metric(&p, "visits_per_customer"),
        q_f64(
            &conn,
            &format!(
                "SELECT avg(coalesce(n, 0)) FROM \"Member List\" m LEFT JOIN ({per}) r ON r.k = m.ref WHERE tier = 'gold'"
            ),
        ),
        "visits",
    );
    let unmatched = q_i64(&conn, "SELECT count(*) FROM visits WHERE ref > 50");
    assert!(unmatched > 0);
    assert!(
        p.notes.iter().any(|n| n.contains(&format!("{unmatched} rows of visits matched no customer"))),
        "{:?}",
        p.notes
    );
}

#[test]
fn the_kept_rollup_gives_the_figures_a_fresh_engine_computes_and_a_changed_file_is_measured_anew() {
    let dir = tempfile::tempdir().unwrap();
    let db = text_keyed(dir.path());
    let f = compile("region IN ('North', 'East')");
    let (first, again) = {
        let engine = Engine::open(&db, &opts(None)).unwrap();
        // The first profile builds the rollup; the second joins the kept table; a clone (another
        // connection, as the explorer's reports use) joins the same one.
        let first = engine.profile(&f).unwrap();
        let again = engine.profile(&f).unwrap();
        let clone = engine.try_clone().unwrap();
        assert_eq!(
            clone.rollup_status(),
            seglens::engine::query::rollup::RollupStatus::Ready,
            "clones share the kept rollup"
        );
        assert_eq!(clone.profile(&f).unwrap(), first);
        (first, again)
    };
    assert_eq!(first, again);
    // A new version of the file: one more touch for every account.
    {
        let conn = duckdb::Connection::open(&db).unwrap();
        conn.execute_batch(
            "INSERT INTO touches SELECT CAST(acct_no AS VARCHAR), 1, DATE '2026-02-25' FROM accounts; CHECKPOINT;",
        )
        .unwrap();
    }
    let engine = Engine::open(&db, &opts(None)).unwrap();
    let changed = engine.profile(&f).unwrap();
    let before = metric(&first, "touches_per_customer").unwrap();
    close(metric(&changed, "touches_per_customer"), Some(before + 1.0), "one more touch each");
}

#[test]
fn compare_works_on_entity_columns_named_like_rollup_columns() {
    let dir = tempfile::tempdir().unwrap();
    let db = text_keyed(dir.path());
    let engine = Engine::open(&db, &opts(None)).unwrap();
    let conn = plain(&db);
    // `total` is an account column and a column of the touches rollup.
    let (a, b) = (compile("total > 150"), compile("total <= 170 AND region IS NOT NULL"));
    let c = engine.compare(("a", &a), ("b", &b)).unwrap();
    assert_eq!(c.a.size, q_u64(&conn, "SELECT count(*) FROM accounts WHERE total > 150"));
    assert_eq!(
        c.both,
        q_u64(&conn, "SELECT count(*) FROM accounts WHERE total > 150 AND total <= 170 AND region IS NOT NULL")
    );
}

#[test]
fn the_cli_answers_on_odd_keys_with_default_settings_and_a_starved_memory_limit_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let db = text_keyed(dir.path());
    let sb = Sandbox::new();
    let v = sb.seglens(&["profile", "TRUE", "--db", s(&db), "--as-of", "2026-03-01", "--json"]).ok().json();
    assert_eq!(v["size"], 100, "{v}");
    assert_eq!(v["base"], 100, "{v}");
}

#[test]
fn a_memory_limit_too_small_for_the_work_gives_one_line_that_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big touches.duckdb");
    let conn = duckdb::Connection::open(&path).unwrap();
    conn.execute_batch(
        "CREATE TABLE accounts AS SELECT CAST(i AS INTEGER) AS acct_no, i % 7 AS band FROM range(1, 200001) t(i);
         CREATE TABLE touches AS SELECT CAST(1 + i % 200000 AS VARCHAR) AS acct_no, CAST(i AS DECIMAL(12,2)) AS amount
           FROM range(0, 1000000) t(i);
         CHECKPOINT;",
    )
    .unwrap();
    drop(conn);
    let sb = Sandbox::new();
    let out = sb.seglens(&["profile", "band = 3", "--db", s(&path), "--memory-limit", "1MB", "--as-of", "2026-03-01"]);
    out.user_error(&["ran out of memory", "--memory-limit"]);
}

fn key(c: char) -> seglens::tui::action::Action {
    use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    seglens::tui::action::Action::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
}

#[test]
fn the_engagement_panel_says_how_far_the_rollup_is_then_shows_the_kept_rollups_figures() {
    use seglens::engine::query::rollup::RollupStatus;
    use seglens::tui::action::Action;
    use seglens::tui::worker::{Part, Response};

    // The panel while the rollup is built elsewhere, drawn from state alone.
    let cols = vec![seglens::engine::Column { name: "acct_no".into(), ty: "INTEGER".into() }];
    let mut st = seglens::tui::state::AppState::new(
        "x.duckdb".into(),
        "accounts".into(),
        "acct_no".into(),
        100,
        cols,
        "dark".into(),
    );
    let t0 = std::time::Instant::now();
    for c in "acct_no > 5".chars() {
        seglens::tui::update::update(&mut st, key(c), t0);
    }
    seglens::tui::update::update(&mut st, Action::Tick(t0 + std::time::Duration::from_secs(1)), t0);
    let generation = st.generation;
    let waits = RollupStatus::Building { table: "touches".into(), percent: Some(40.0) };
    let resp = Response::preview(generation, std::time::Duration::ZERO, Ok(Part::ProfileWaits(waits)));
    seglens::tui::update::update(&mut st, Action::Worker(resp), t0);
    assert!(
        screen(&st).iter().any(|row| row.contains("computing the touches rollup (40%)")),
        "{}",
        screen(&st).join("\n")
    );
    // The build's end asks for the preview again.
    let done = Response {
        reply: seglens::tui::worker::Reply::Background,
        ..Response::preview(0, std::time::Duration::ZERO, Ok(Part::Rollups(RollupStatus::Ready)))
    };
    seglens::tui::update::update(&mut st, Action::Worker(done), t0);
    assert_eq!(st.preview_due, Some(t0), "the profile is measured once the rollup is kept");

    // The real explorer on data that is not ours: the profile arrives, from the kept rollup.
    let dir = tempfile::tempdir().unwrap();
    let db = text_keyed(dir.path());
    let engine = Engine::open(&db, &opts(None)).unwrap();
    let library = seglens::library::Library::open(dir.path().join("lib"));
    let theme = seglens::tui::theme::Theme::default_theme();
    let (mut rt, mut st) = seglens::tui::Runtime::start(engine, library, theme, "test".into()).unwrap();
    rt.apply(&mut st, Action::Resize(140, 40));
    for c in "region = 'North'".chars() {
        rt.apply(&mut st, key(c));
    }
    assert!(
        rt.pump_until(&mut st, std::time::Duration::from_secs(60), |s| s.preview.profile.is_some() && !s.preview.stale),
        "the profile arrives"
    );
    assert_eq!(st.preview.rollups, Some(RollupStatus::Ready));
    let conn = plain(&db);
    let p = st.preview.profile.clone().unwrap();
    assert_eq!(p.size, q_u64(&conn, "SELECT count(*) FROM accounts WHERE region = 'North'"));
    let per = format!("SELECT a.acct_no, a.region, r.n FROM accounts a LEFT JOIN ({PER_ACCOUNT}) r ON r.k = a.acct_no");
    close(
        metric(&p, "touches_per_customer"),
        q_f64(&conn, &format!("SELECT avg(coalesce(n, 0)) FROM ({per}) WHERE region = 'North'")),
        "explorer's touches per account",
    );
}

#[test]
fn inferred_metrics_read_right_on_a_purchase_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("purchases.duckdb");
    let conn = duckdb::Connection::open(&path).unwrap();
    conn.execute_batch(
        "CREATE TABLE buyers (buyer_id BIGINT, total_amount DECIMAL(12,2), avg_order_value DOUBLE, last_purchase DATE);
         INSERT INTO buyers SELECT i * 7, i * 10, i, DATE '1997-06-30' - CAST(i AS INTEGER) FROM range(1, 201) t(i);
         CHECKPOINT;",
    )
    .unwrap();
    drop(conn);
    let stale = NaiveDate::from_ymd_opt(2026, 12, 7).unwrap();
    let engine = Engine::open(&path, &OpenOptions { as_of: Some(stale), ..Default::default() }).unwrap();
    let p = engine.profile(&compile("total_amount > 1000")).unwrap();
    let labels: Vec<&str> = p.metrics.iter().map(|m| m.label.as_str()).collect();
    assert!(labels.contains(&"Total amount") && labels.contains(&"Avg order value"), "{labels:?}");
    assert!(!labels.iter().any(|l| l.contains("Total Total") || l.contains("Avg Avg")), "{labels:?}");
    assert!(
        !engine.metrics().iter().any(|m| m.sql.contains("sum(\"avg_order_value\")")),
        "no sum of a column that is itself an average: {:?}",
        engine.metrics()
    );
    let total = p.metrics.iter().find(|m| m.label == "Total amount").unwrap();
    assert!(total.segment.is_some() && total.lift.is_none(), "a total has no lift: {total:?}");
    let notes: Vec<&String> = p.notes.iter().filter(|n| n.contains("--as-of 1997-06-29")).collect();
    assert_eq!(notes.len(), 1, "the stale data is named once, with --as-of: {:?}", p.notes);
    // Pinned to the data's end, the note goes.
    let pinned = NaiveDate::from_ymd_opt(1997, 7, 1).unwrap();
    let engine = Engine::open(&path, &OpenOptions { as_of: Some(pinned), ..Default::default() }).unwrap();
    let p = engine.profile(&compile("total_amount > 1000")).unwrap();
    assert!(!p.notes.iter().any(|n| n.contains("--as-of")), "{:?}", p.notes);
}
