//! seglens on CRM data it has never seen: two generated databases whose schemas share nothing
//! with the sample (`tests/common/foreign.rs`: a VARCHAR key, a purchases or activity table,
//! a table name with a space, quoted column names, NULLs). Every headless command and the
//! explorer are run on both; each figure is compared with plain SQL the test writes itself.

#![allow(clippy::unwrap_used)] // a test that unwraps fails loudly, which is the point

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::foreign::{Foreign, foreign_db};
use common::*;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use seglens::engine::{Engine, MetricSource, OpenOptions};
use seglens::library::Library;
use seglens::tui::action::Action;
use seglens::tui::state::{AppState, Focus, WorkerState};
use seglens::tui::theme::Theme;
use seglens::tui::{Runtime, ui};
use tempfile::TempDir;

const ROWS: u64 = 3000;
const AS_OF: &str = "2026-03-01";

struct Data {
    _dir: TempDir,
    db: PathBuf,
}

fn data(kind: Foreign) -> Data {
    let dir = TempDir::new().unwrap();
    let db = foreign_db(dir.path(), kind, ROWS);
    Data { _dir: dir, db }
}

/// A plain read-only connection with `current_date` pinned to AS_OF, as `--as-of` pins it.
fn plain_pinned(db: &Path) -> duckdb::Connection {
    let cfg = duckdb::Config::default()
        .access_mode(duckdb::AccessMode::ReadOnly)
        .and_then(|c| c.enable_autoload_extension(false))
        .unwrap();
    let conn = duckdb::Connection::open_with_flags(db, cfg).unwrap();
    conn.execute_batch(&format!("CREATE TEMP MACRO current_date() AS DATE '{AS_OF}'")).unwrap();
    conn
}

fn count_in(c: &duckdb::Connection, kind: Foreign, cond: &str) -> u64 {
    q_i64(c, &format!("SELECT count(*) FROM {} WHERE {cond}", kind.table_sql())) as u64
}

fn run(sb: &Sandbox, d: &Data, args: &[&str]) -> Out {
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--db", s(&d.db), "--as-of", AS_OF]);
    sb.seglens(&all)
}

fn close(what: &str, got: Option<f64>, want: Option<f64>) {
    match (got, want) {
        (Some(g), Some(w)) => assert!((g - w).abs() <= 1e-9 * w.abs().max(1.0), "{what}: {g} vs {w}"),
        (g, w) => assert_eq!(g, w, "{what}"),
    }
}

#[test]
fn the_entity_table_and_key_are_found_without_flags() {
    for kind in Foreign::ALL {
        let d = data(kind);
        let j = run(&Sandbox::new(), &d, &["schema", "--json"]).ok().json();
        assert_eq!(j["table"], kind.table(), "{kind:?}");
        assert_eq!(j["key"], kind.key(), "{kind:?}");
        let tables = j["tables"].as_array().unwrap();
        assert_eq!(tables.len(), 2);
        let entity = tables.iter().find(|t| t["is_entity"] == true).unwrap();
        assert_eq!(entity["rows"].as_u64(), Some(ROWS));
    }
}

#[test]
fn size_matches_plain_sql() {
    for kind in Foreign::ALL {
        let d = data(kind);
        let c = plain_pinned(&d.db);
        let j = run(&Sandbox::new(), &d, &["size", "--json", kind.filter()]).ok().json();
        assert_eq!(j["size"].as_u64(), Some(count_in(&c, kind, kind.filter())), "{kind:?}");
        assert_eq!(j["base"].as_u64(), Some(ROWS));
        assert!(j["share"].is_f64());
    }
}

/// Each inferred metric of the profile against SQL the test writes by hand from the rule.
#[test]
fn the_profile_has_inferred_metrics_equal_to_plain_sql() {
    for kind in Foreign::ALL {
        let d = data(kind);
        let c = plain_pinned(&d.db);
        let f = kind.filter();
        let j = run(&Sandbox::new(), &d, &["profile", "--json", f]).ok().json();
        assert_eq!(j["metrics_source"]["kind"], "inferred");
        let metrics = j["metrics"].as_array().unwrap();
        assert!(metrics.len() >= 6, "{kind:?}: {metrics:?}");
        assert!(j["notes"].as_array().unwrap().is_empty(), "{}", j["notes"]);
        let (t, k) = (kind.table_sql(), kind.key());
        let (rel, date) = kind.related();
        // (metric name, aggregate over the entity rows, written independently of the engine)
        let per_customer = format!("(SELECT count(*) FROM {rel} r WHERE r.{k} = {t}.{k})");
        let last = format!("(SELECT max(CAST(r.{date} AS DATE)) FROM {rel} r WHERE r.{k} = {t}.{k})");
        let mut hand: Vec<(String, String)> = vec![
            (format!("{rel}_per_customer"), format!("avg({per_customer})")),
            (format!("{rel}_any"), format!("count(*) FILTER (WHERE {per_customer} > 0)::DOUBLE / count(*)")),
            (format!("{rel}_days_since_last"), format!("quantile_cont(DATE '{AS_OF}' - {last}, 0.5)")),
        ];
        match kind {
            Foreign::Shop => hand.extend([
                ("newsletter_opens_rate".into(), "sum(newsletter_opens)::DOUBLE / sum(newsletter_sends)".into()),
                ("newsletter_clicks_rate".into(), "sum(newsletter_clicks)::DOUBLE / sum(newsletter_sends)".into()),
                ("avg_total_spent".into(), "sum(total_spent)::DOUBLE / count(total_spent)".into()),
                ("total_total_spent".into(), "sum(total_spent)::DOUBLE".into()),
                ("avg_purchase_count".into(), "avg(purchase_count)".into()),
                ("any_purchase_count".into(), "count(*) FILTER (WHERE purchase_count > 0)::DOUBLE / count(*)".into()),
                ("median_purchase_days".into(), "quantile_cont(purchase_days, 0.5)".into()),
                ("share_is_member".into(), "count(*) FILTER (WHERE is_member)::DOUBLE / count(*)".into()),
                (
                    "purchase_records_amount_per_customer".into(),
                    format!("avg(coalesce((SELECT sum(amount) FROM {rel} r WHERE r.{k} = {t}.{k}), 0))::DOUBLE"),
                ),
            ]),
            Foreign::Club => hand.extend([
                ("sms_clicked_rate".into(), "sum(sms_clicked)::DOUBLE / sum(sms_sent)".into()),
                ("avg_revenue".into(), "avg(\"Revenue\")".into()),
                ("avg_churn_score".into(), "avg(churn_score)".into()),
                ("avg_visits".into(), "avg(visits)".into()),
                (
                    "days_since_last_active".into(),
                    format!("quantile_cont(DATE '{AS_OF}' - CAST(last_active AS DATE), 0.5)"),
                ),
                ("share_opted_in".into(), "count(*) FILTER (WHERE opted_in)::DOUBLE / count(*)".into()),
            ]),
        }
        for (name, sql) in &hand {
            let m = metrics
                .iter()
                .find(|m| m["name"] == name.as_str())
                .unwrap_or_else(|| panic!("{kind:?}: no metric {name} in {metrics:#?}"));
            assert!(m["segment"].is_f64() && m["base"].is_f64(), "{m}");
            let seg = q_f64(&c, &format!("SELECT CAST({sql} AS DOUBLE) FROM {t} WHERE {f}"));
            let base = q_f64(&c, &format!("SELECT CAST({sql} AS DOUBLE) FROM {t}"));
            close(&format!("{kind:?} {name} segment"), m["segment"].as_f64(), seg);
            close(&format!("{kind:?} {name} base"), m["base"].as_f64(), base);
        }
        // The human output says where the metrics came from.
        let o = run(&Sandbox::new(), &d, &["profile", f]).ok();
        assert!(o.stdout.contains("metrics inferred from the schema"), "{}", o.stdout);
    }
}

#[test]
fn the_default_breakdown_is_categorical_and_numbers_are_binned() {
    for kind in Foreign::ALL {
        let d = data(kind);
        let e = Engine::open(&d.db, &OpenOptions { as_of: Some(as_of()), ..Default::default() }).unwrap();
        let dims = e.dimensions().unwrap();
        let want = match kind {
            Foreign::Shop => "segment_label",
            Foreign::Club => "tier",
        };
        assert_eq!(dims.first().map(String::as_str), Some(want), "{kind:?}: {dims:?}");
        // A numeric column, when chosen, comes in round-number bins that add up to the segment.
        let (col, width) = match kind {
            Foreign::Shop => ("purchase_days", 5.0),
            Foreign::Club => ("Revenue", 500.0),
        };
        assert!(dims.iter().any(|x| x == col), "{col} in {dims:?}");
        let f = seglens::engine::text::filter::compile(
            kind.filter(),
            &Default::default(),
            &Default::default(),
            &Default::default(),
        )
        .unwrap();
        let b = e.breakdown(&f, col, 10).unwrap();
        assert_eq!(b.bin_width, Some(width), "{kind:?} {b:?}");
        assert!(b.rows.len() <= 12, "{b:?}");
        let c = plain_pinned(&d.db);
        assert_eq!(b.rows.iter().map(|r| r.count).sum::<u64>(), count_in(&c, kind, kind.filter()));
        let first = &b.rows[0];
        let lo: f64 = first.value.as_deref().unwrap().split('–').next().unwrap().parse().unwrap();
        let in_bin =
            count_in(&c, kind, &format!("({}) AND \"{col}\" >= {lo} AND \"{col}\" < {}", kind.filter(), lo + width));
        assert_eq!(first.count, in_bin, "{kind:?} first bin {first:?}");
    }
}

#[test]
fn rows_json_is_typed() {
    let d = data(Foreign::Shop);
    let j = run(&Sandbox::new(), &d, &["rows", "--json", "--limit", "30", "TRUE"]).ok().json();
    let cols: Vec<&str> = j["columns"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
    let at = |name: &str| cols.iter().position(|c| *c == name).unwrap();
    let rows = j["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 30);
    let c = plain_pinned(&d.db);
    for r in rows {
        let key = r[at("shopper_ref")].as_str().expect("a VARCHAR key is a string");
        assert!(r[at("purchase_count")].is_i64(), "{r}");
        assert!(r[at("is_member")].is_boolean(), "{r}");
        let spent = &r[at("total_spent")];
        assert!(spent.is_f64() || spent.is_null(), "{r}");
        let want = q_f64(&c, &format!("SELECT total_spent::DOUBLE FROM shoppers WHERE shopper_ref = '{key}'"));
        assert_eq!(spent.as_f64(), want, "{key}");
        let visit = &r[at("last_visit")];
        assert!(visit.is_null() || visit.as_str().is_some_and(|v| v.len() == 10 && v.as_bytes()[4] == b'-'), "{r}");
        let name = &r[at("Full Name")];
        assert!(name.is_null() || name.is_string(), "{r}");
    }
    // NULLs are null: the seventh shopper has no name and the eleventh no spend.
    assert!(rows.iter().any(|r| r[at("Full Name")].is_null()));
    assert!(rows.iter().any(|r| r[at("total_spent")].is_null()));
    // Timestamps are ISO 8601.
    let d = data(Foreign::Club);
    let j = run(&Sandbox::new(), &d, &["rows", "--json", "--limit", "5", "--columns", "member_id,last_active", "TRUE"])
        .ok()
        .json();
    let first = &j["rows"][0];
    assert!(first[0].is_i64(), "{first}");
    assert!(first[1].as_str().is_some_and(|t| t.contains('T') && t.len() >= 19), "{first}");
}

#[test]
fn overlap_params_go_to_the_segments_that_use_them() {
    let d = data(Foreign::Shop);
    let c = plain_pinned(&d.db);
    let sb = Sandbox::new();
    let args = [
        "overlap",
        "--json",
        "-s",
        "w=total_spent >= {{whale}}",
        "-s",
        "l=purchase_days > {{days}}",
        "--param",
        "whale=1000",
        "--param",
        "days=30",
    ];
    let j = run(&sb, &d, &args).ok().json();
    let seg = |n: &str| j["segments"].as_array().unwrap().iter().find(|s| s["name"] == n).unwrap().clone();
    assert_eq!(seg("w")["size"].as_u64(), Some(count_in(&c, Foreign::Shop, "total_spent >= 1000")));
    assert_eq!(seg("l")["size"].as_u64(), Some(count_in(&c, Foreign::Shop, "purchase_days > 30")));
    assert_eq!(
        j["pairs"][0]["intersection"].as_u64(),
        Some(count_in(&c, Foreign::Shop, "total_spent >= 1000 AND purchase_days > 30"))
    );
    // A parameter no segment uses is still an error, naming it.
    let mut bad = args.to_vec();
    bad.extend(["--param", "nope=1"]);
    run(&sb, &d, &bad).user_error(&["nope"]);
}

/// A library of the sample's templates on another database: every one "not for this data",
/// never a failure; and a database with no templates of its own checks clean.
#[test]
fn templates_for_other_data_are_not_failures() {
    let d = data(Foreign::Club);
    let sb = Sandbox::new();
    // The sample's starters, installed by a first run on the sample.
    sb.seglens(&["list"]).ok();
    let j = run(&sb, &d, &["check", "--json"]).ok().json();
    let templates = j["templates"].as_array().unwrap();
    assert_eq!(templates.len(), 8, "{j}");
    assert_eq!(j["failed"].as_u64(), Some(0), "{j}");
    for t in templates {
        assert_eq!(t["for_this_data"], false, "{t}");
        assert!(t["missing"].as_str().is_some_and(|m| m.starts_with("column ") || m.starts_with("table ")), "{t}");
    }
    let o = run(&sb, &d, &["check"]).ok();
    assert!(o.stdout.contains("not for this data (missing column"), "{}", o.stdout);
    // Without a library named for it, a database gets a library of its own: empty, and clean.
    let mut cmd = sb.command(&["check", "--db", s(&d.db), "--as-of", AS_OF]);
    cmd.env_remove("SEGLENS_LIBRARY");
    let o = run_cmd(cmd).ok();
    assert!(o.stdout.contains("no segments"), "{o:?}");
}

fn run_cmd(cmd: std::process::Command) -> Out {
    common::run(cmd, "")
}

/// Save, approve and export on a foreign database: the file holds exactly the rows SQL selects,
/// every column; the manifest binds every parameter (defaults included), records the as-of date,
/// and counts what each suppression removed.
#[test]
fn export_manifest_records_params_as_of_and_suppressions() {
    let d = data(Foreign::Shop);
    let c = plain_pinned(&d.db);
    let sb = Sandbox::new();
    let save = |name: &str, filter: &str, extra: &[&str]| {
        let mut a = vec!["save", name, "--filter", filter];
        a.extend_from_slice(extra);
        run(&sb, &d, &a).ok();
        run(&sb, &d, &["approve", name]).ok();
    };
    save(
        "big-spenders",
        "total_spent >= {{min}} AND last_visit >= current_date - to_days({{days}})",
        &["--param-def", "min:float=2000", "--param-def", "days:int=90"],
    );
    save("members", "is_member", &["--kind", "suppression"]);
    let out = sb.path().join("out.csv");
    run(&sb, &d, &["export", "big-spenders", "--out", s(&out), "--param", "days=120"]).ok();
    let m: serde_json::Value = serde_json::from_str(&read(&out.with_extension("manifest.json"))).unwrap();
    assert_eq!(m["as_of"], AS_OF);
    let params = &m["segments"][0]["params"];
    assert_eq!(params["min"].as_f64(), Some(2000.0), "the default is recorded: {params}");
    assert_eq!(params["days"].as_i64(), Some(120), "{params}");
    let seg = format!("total_spent >= 2000 AND last_visit >= DATE '{AS_OF}' - INTERVAL 120 DAY");
    let removed = count_in(&c, Foreign::Shop, &format!("{seg} AND is_member"));
    assert!(removed > 0);
    assert_eq!(m["suppressions"][0]["name"], "members");
    assert_eq!(m["suppressions"][0]["rows"].as_u64(), Some(removed));
    assert_eq!(m["rows"].as_u64(), Some(count_in(&c, Foreign::Shop, &format!("{seg} AND NOT is_member"))));
    // The file itself, row by row and column by column, against SQL written here (values as
    // DuckDB casts them to text, NULL empty; the order of rows is not promised).
    let mut r = csv::Reader::from_path(&out).unwrap();
    let header: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
    assert!(header.iter().any(|h| h == "Full Name") && header.contains(&"shopper_ref".to_string()), "{header:?}");
    let mut got: Vec<Vec<String>> = r.records().map(|rec| rec.unwrap().iter().map(String::from).collect()).collect();
    assert_eq!(header[0], "segment");
    let cols: Vec<String> = ["'big-spenders'".to_string()]
        .into_iter()
        .chain(header[1..].iter().map(|h| format!("CAST(\"{h}\" AS VARCHAR)")))
        .collect();
    let sql = format!("SELECT {} FROM shoppers WHERE {seg} AND NOT is_member", cols.join(", "));
    let mut want: Vec<Vec<String>> =
        q_rows(&c, &sql).into_iter().map(|r| r.into_iter().map(Option::unwrap_or_default).collect()).collect();
    got.sort();
    want.sort();
    assert!(want.len() > 10 && want.iter().any(|r| r.iter().any(String::is_empty)), "NULLs among {} rows", want.len());
    assert_eq!(got, want);
    // A parameter no exported segment uses: an error naming it, nothing written.
    let out2 = sb.path().join("out2.csv");
    run(&sb, &d, &["export", "big-spenders", "--out", s(&out2), "--param", "nope=1"]).user_error(&["nope"]);
    assert!(!out2.exists());
}

/// `metrics --init` writes the metrics in use to a file and a workspace naming the database;
/// from then on seglens uses that file (and the database) from that folder.
#[test]
fn metrics_init_writes_a_workspace_that_is_then_used() {
    let d = data(Foreign::Club);
    let sb = Sandbox::new();
    let o = run(&sb, &d, &["metrics", "--init"]).ok();
    assert!(o.stdout.contains("metrics.toml"), "{o:?}");
    let metrics = sb.path().join("metrics.toml");
    let text = read(&metrics);
    assert!(text.contains("[[rollup]]") && text.contains("[[metric]]"), "{text}");
    assert!(sb.path().join("seglens.toml").exists());
    // A second --init never replaces the file.
    run(&sb, &d, &["metrics", "--init"]).user_error(&["exists"]);
    // Keep two metrics only: the profile now has exactly those, from the file, with no --db.
    let file: toml::Value = toml::from_str(&text).unwrap();
    let keep: Vec<toml::Value> = file["metric"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| ["avg_revenue", "activity_per_customer"].contains(&m["name"].as_str().unwrap()))
        .cloned()
        .collect();
    let mut edited = toml::map::Map::new();
    edited.insert("rollup".into(), file["rollup"].clone());
    edited.insert("metric".into(), toml::Value::Array(keep));
    std::fs::write(&metrics, toml::to_string(&toml::Value::Table(edited)).unwrap()).unwrap();
    let j = sb.seglens(&["profile", "--json", "--as-of", AS_OF, "tier = 'Gold'"]).ok().json();
    assert_eq!(j["metrics_source"]["kind"], "file", "{j}");
    let names: Vec<&str> = j["metrics"].as_array().unwrap().iter().map(|m| m["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["activity_per_customer", "avg_revenue"]);
    let c = plain_pinned(&d.db);
    assert_eq!(j["size"].as_u64(), Some(count_in(&c, Foreign::Club, "tier = 'Gold'")));
}

/// The key check runs once per version of the file: remembered by path, size and mtime, and run
/// again when the file changes.
#[test]
fn the_key_check_is_remembered_per_file_version() {
    let dir = TempDir::new().unwrap();
    let db = dir.path().join("dups.duckdb");
    {
        let c = duckdb::Connection::open(&db).unwrap();
        c.execute_batch("CREATE TABLE people AS SELECT range AS person_id FROM range(10)").unwrap();
    }
    let checks = dir.path().join("checks");
    let opts = OpenOptions {
        table: Some("people".into()),
        key: Some("person_id".into()),
        checks_dir: Some(checks.clone()),
        ..Default::default()
    };
    let e = Engine::open(&db, &opts).unwrap();
    e.verify_key().unwrap();
    drop(e);
    let entries: Vec<_> = std::fs::read_dir(&checks).unwrap().collect();
    assert_eq!(entries.len(), 1, "one remembered check");
    // The file changes (a duplicate key): its size or mtime moves, so the check runs again.
    std::thread::sleep(Duration::from_millis(20));
    {
        let c = duckdb::Connection::open(&db).unwrap();
        c.execute_batch("INSERT INTO people VALUES (3); CHECKPOINT").unwrap();
    }
    let e = Engine::open(&db, &opts).unwrap();
    let err = e.verify_key().expect_err("the duplicate is found");
    assert!(err.to_string().contains("not unique"), "{err}");
}

/// A table found by its structure was proven unique by detection's own scan: that is remembered
/// at once, so the first open of a large file does not scan the key a second time to check it.
#[test]
fn detection_by_structure_remembers_the_scan_it_made() {
    let dir = TempDir::new().unwrap();
    let db = dir.path().join("star.duckdb");
    {
        let c = duckdb::Connection::open(&db).unwrap();
        c.execute_batch(
            "CREATE TABLE members AS SELECT 'm-' || range AS member_ref FROM range(50);
             CREATE TABLE visits AS SELECT range AS visit_id, 'm-' || (range % 50) AS member_ref FROM range(200);",
        )
        .unwrap();
    }
    let checks = dir.path().join("checks");
    let opts = OpenOptions { checks_dir: Some(checks.clone()), ..Default::default() };
    let e = Engine::open(&db, &opts).unwrap();
    assert_eq!((e.table(), e.key()), ("members", "member_ref"));
    let entries: Vec<_> = std::fs::read_dir(&checks).expect("remembered at open").collect();
    assert_eq!(entries.len(), 1, "the detection's scan is remembered before any key check");
    e.verify_key().unwrap();
}

// ---- the explorer -------------------------------------------------------------------------

const WAIT: Duration = Duration::from_secs(30);

fn idle(s: &AppState) -> bool {
    s.worker == WorkerState::Idle && s.preview_due.is_none() && s.preview.size.is_some() && !s.preview.stale
}

fn screen(state: &AppState, w: u16, h: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| ui::render(f, state, &Theme::default_theme())).unwrap();
    let buf = t.backend().buffer().clone();
    let mut out = String::new();
    for y in 0..h {
        for x in 0..w {
            out.push_str(buf[(x, y)].symbol());
        }
        out.push('\n');
    }
    out
}

#[test]
fn the_explorer_on_foreign_data_shows_inferred_metrics_a_categorical_breakdown_and_no_errors() {
    for kind in Foreign::ALL {
        let d = data(kind);
        let dir = TempDir::new().unwrap();
        let library = Library::open(dir.path().join("segments"));
        let engine = Engine::open(&d.db, &OpenOptions { as_of: Some(as_of()), ..Default::default() }).unwrap();
        assert_eq!(*engine.metric_source(), MetricSource::Inferred);
        let (mut rt, mut state) = Runtime::start(engine, library, Theme::default_theme(), "data".into()).unwrap();
        rt.apply(&mut state, Action::Resize(120, 40));
        assert!(rt.pump_until(&mut state, WAIT, |s| s.schema.schema.is_some()));
        state.focus = Focus::Editor;
        for ch in kind.filter().chars() {
            rt.apply(&mut state, Action::Key(KeyEvent::new(KeyCode::Char(ch), KeyModifiers::NONE)));
        }
        assert!(rt.pump_until(&mut state, WAIT, |s| idle(s) && s.preview.breakdown.is_some()));
        let c = plain_pinned(&d.db);
        assert_eq!(state.preview.size.unwrap().size, count_in(&c, kind, kind.filter()));
        let text = screen(&state, 120, 40);
        assert!(text.contains("Engagement (inferred"), "{text}");
        let dim = match kind {
            Foreign::Shop => "By segment_label",
            Foreign::Club => "By tier",
        };
        assert!(text.contains(dim), "{text}");
        assert!(!text.contains("left out") && !text.contains("Binder"), "{text}");
        assert!(state.status.as_ref().is_none_or(|(_, m)| !m.contains("error")), "{:?}", state.status);
        let p = state.preview.profile.as_ref().unwrap();
        assert!(p.metrics.len() >= 6 && p.notes.is_empty(), "{p:?}");
    }
}

/// The real binary in tmux on a foreign database: the size on screen equals `seglens size`, the
/// engagement panel says its metrics are inferred, the breakdown is by the categorical column.
#[test]
fn the_real_binary_in_tmux_on_foreign_data() {
    let d = data(Foreign::Shop);
    let sb = Sandbox::new();
    let env = [
        ("SEGLENS_DATA_DIR", sb.data_dir()),
        ("SEGLENS_LIBRARY", sb.library()),
        ("SEGLENS_CACHE_DIR", sb.path().join("cache")),
    ];
    let env_ref: Vec<(&str, &Path)> = env.iter().map(|(k, v)| (*k, v.as_path())).collect();
    let t = tmux::Tmux::start("foreign", &env_ref, &[s(&d.db), "--as-of", AS_OF], 120, 40);
    t.wait_for("customers");
    let filter = "home_country = 'IN' AND total_spent > 2500";
    t.text(filter);
    let want = run(&sb, &d, &["size", "--json", filter]).ok().json()["size"].as_u64().unwrap();
    let c = plain_pinned(&d.db);
    assert_eq!(want, count_in(&c, Foreign::Shop, filter));
    let screen = t.wait("the size of the typed filter", |s| {
        // The size comes first and the engagement panel after it (parts-first): wait for both.
        tmux::size_on_screen(s) == Some(want) && s.contains("By segment_label") && s.contains("Engagement (inferred")
    });
    assert!(!screen.contains("Binder") && !screen.contains("left out"), "{screen}");
    t.quit();
}
