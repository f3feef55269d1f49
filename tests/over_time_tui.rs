//! Segments over time in the explorer (issue 17), on data that is not ours: the movement view
//! (F10) against plain SQL, the split view (Ctrl-T) against GROUP BY, its cells saved as child
//! segments that record their parent's version, and exported to one file with a `cell` column;
//! and the same cells from the command line (`export --split-by`, `split --save`).

#![allow(clippy::unwrap_used)] // a test that unwraps fails loudly, which is the point

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::foreign::{Foreign, foreign_db};
use common::*;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use seglens::engine::Engine;
use seglens::export::over_time::ExportLog;
use seglens::library::{Library, Status, Template};
use seglens::tui::Runtime;
use seglens::tui::action::Action;
use seglens::tui::state::{AppState, Dialog, Focus, SideTab, View};

/// A Shop database of `n` shoppers in the sandbox, and the library folder beside it.
fn shop(sb: &Sandbox, n: u64) -> (PathBuf, PathBuf, Library) {
    let db = foreign_db(sb.path(), Foreign::Shop, n);
    let lib_dir = sb.path().join("lib");
    let lib = Library::open(&lib_dir);
    (db, lib_dir, lib)
}

fn key(code: KeyCode) -> Action {
    Action::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

fn ctrl(c: char) -> Action {
    Action::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL))
}

/// Saves `filter` as the next version of `name` (approved when asked), measured on `engine`.
fn save(engine: &Engine, lib: &Library, name: &str, filter: &str, priority: i64, approve: bool) {
    save_measured(engine, lib, Template { priority, ..Template::new(name, filter) });
    if approve {
        lib.set_status(name, None, Status::Approved, None, "qa").unwrap();
    }
}

fn explorer_on(db: &Path, lib_dir: &Path, log: &Path) -> (Runtime, AppState) {
    explorer(Engine::open(db, &Default::default()).unwrap(), lib_dir, log)
}

/// Opens library segment `name` in the editor, as Enter in the library does.
fn open(rt: &mut Runtime, st: &mut AppState, name: &str) {
    st.focus = Focus::Side;
    st.side = SideTab::Library;
    st.library.selected = st.library.visible().iter().position(|t| t.name == name).unwrap();
    rt.apply(st, key(KeyCode::Enter));
    assert_eq!(st.document.name.as_deref(), Some(name));
}

#[test]
fn the_movement_view_matches_plain_sql_and_names_the_largest_flows() {
    let sb = Sandbox::new();
    let (db, lib_dir, lib) = shop(&sb, 5_000);
    let log = sb.path().join("exports.jsonl");
    {
        let engine = Engine::open(&db, &Default::default()).unwrap();
        save(&engine, &lib, "big", "total_spent > 3000", 1, true);
        save(&engine, &lib, "mid", "total_spent > 1000", 2, true);
        // The export this view moves from, written as the explorer and the CLI write one (logged).
        let (segments, suppressions) =
            seglens::export::resolve(&lib, &Default::default(), &["big".into(), "mid".into()], false, true, &[])
                .unwrap();
        let req = seglens::export::ExportRequest {
            segments,
            suppressions,
            exclusive: false,
            columns: vec![],
            out: sb.path().join("before.csv"),
            force: false,
            excel_safe: false,
            protected: vec![],
        };
        let log = ExportLog { path: log.clone(), library: lib_dir.clone() };
        seglens::export::export_with(&engine, &req, Some(&log), &mut |_| true).unwrap();
        // Since then the definitions moved: customers flow big → mid and mid → none.
        save(&engine, &lib, "big", "total_spent > 4000", 1, true);
        save(&engine, &lib, "mid", "total_spent > 1500", 2, true);
    }
    let (mut rt, mut st) = explorer_on(&db, &lib_dir, &log);
    rt.apply(&mut st, key(KeyCode::F(10)));
    assert_eq!(st.view, View::Movement);
    assert!(rt.pump_until(&mut st, Duration::from_secs(60), |s| s.movement.result.is_some()));
    let m = st.movement.result.clone().unwrap().unwrap();
    assert_eq!(
        (m.from.clone(), m.to.clone()),
        (vec!["big".to_string(), "mid".into()], vec!["big".into(), "mid".into()])
    );
    // Each customer once per side, in their highest-priority segment there.
    let conn = plain(&db);
    let expected = q_rows(
        &conn,
        "SELECT CASE WHEN total_spent > 3000 THEN 'big' WHEN total_spent > 1000 THEN 'mid' END,
                CASE WHEN total_spent > 4000 THEN 'big' WHEN total_spent > 1500 THEN 'mid' END,
                CAST(count(*) AS VARCHAR)
         FROM shoppers GROUP BY ALL",
    );
    let mut checked = 0;
    for from in [Some("big"), Some("mid"), None] {
        for to in [Some("big"), Some("mid"), None] {
            let sql: u64 = expected
                .iter()
                .filter(|r| r[0].as_deref() == from && r[1].as_deref() == to)
                .map(|r| r[2].as_ref().unwrap().parse::<u64>().unwrap())
                .sum();
            assert_eq!(m.count(from, to), Some(sql), "{from:?} → {to:?}");
            checked += u64::from(sql > 0);
        }
    }
    assert!(checked >= 4, "the data moves in several directions: {expected:?}");
    assert!(m.count(Some("big"), Some("mid")).unwrap() > 0 && m.count(Some("mid"), None).unwrap() > 0);
    let text = screen(&st).join("\n");
    assert!(text.contains("Movement: before.manifest.json of "), "{text}");
    assert!(text.contains("largest flows"), "{text}");
    for f in m.largest_flows(3) {
        assert!(text.contains(&seglens::report::flow(f)), "{} missing:\n{text}", seglens::report::flow(f));
    }
    // There is no earlier export to move from; the view says so and keeps its figures.
    rt.apply(&mut st, key(KeyCode::Left));
    assert!(st.status.as_ref().unwrap().1.contains("no earlier export"), "{:?}", st.status);
    assert!(st.movement.result.is_some());
    rt.apply(&mut st, key(KeyCode::F(10)));
    assert_eq!(st.view, View::Explore);
}

#[test]
fn the_movement_view_says_when_there_is_nothing_to_move_from() {
    let sb = Sandbox::new();
    let (db, lib_dir, lib) = shop(&sb, 500);
    let engine = Engine::open(&db, &Default::default()).unwrap();
    save(&engine, &lib, "big", "total_spent > 3000", 1, true);
    drop(engine);
    let (mut rt, mut st) = explorer_on(&db, &lib_dir, &sb.path().join("exports.jsonl"));
    rt.apply(&mut st, key(KeyCode::F(10)));
    assert!(rt.pump_until(&mut st, Duration::from_secs(60), |s| s.movement.result.is_some()));
    let e = st.movement.result.clone().unwrap().unwrap_err();
    assert!(e.contains("no export of this library yet"), "{e}");
    assert!(screen(&st).join("\n").contains("no export of this library yet"));
}

/// `SELECT CAST(a AS VARCHAR), CAST(b AS VARCHAR), count(*) FROM t WHERE f GROUP BY ALL` as a map.
fn group_by(conn: &duckdb::Connection, table: &str, by: &[&str], filter: &str) -> BTreeMap<Vec<Option<String>>, u64> {
    let cols: Vec<String> = by.iter().map(|c| format!("CAST({c} AS VARCHAR)")).collect();
    let sql = format!("SELECT {}, CAST(count(*) AS VARCHAR) FROM {table} WHERE {filter} GROUP BY ALL", cols.join(", "));
    q_rows(conn, &sql)
        .into_iter()
        .map(|mut r| {
            let n = r.pop().unwrap().unwrap().parse().unwrap();
            (r, n)
        })
        .collect()
}

#[test]
fn the_split_view_counts_cells_saves_children_and_exports_them_with_a_cell_column() {
    let sb = Sandbox::new();
    let (db, lib_dir, lib) = shop(&sb, 5_000);
    let filter = "total_spent > 1000";
    {
        let engine = Engine::open(&db, &Default::default()).unwrap();
        save(&engine, &lib, "spenders", filter, 100, true);
    }
    let (mut rt, mut st) = explorer_on(&db, &lib_dir, &sb.path().join("exports.jsonl"));
    assert!(rt.pump_until(&mut st, Duration::from_secs(60), |s| !s.preview.dimensions.is_empty()));
    open(&mut rt, &mut st, "spenders");
    rt.apply(&mut st, ctrl('t'));
    assert_eq!(st.view, View::Split);
    assert_eq!(st.split.by.len(), 1, "starts from the breakdown's dimension");
    // → until the split is by home_country; + adds a column, → until it is segment_label.
    let dims = st.preview.dimensions.clone();
    for (i, want) in ["home_country", "segment_label"].into_iter().enumerate() {
        assert!(dims.iter().any(|d| d == want), "{dims:?}");
        if i == 1 {
            rt.apply(&mut st, key(KeyCode::Char('+')));
        }
        for _ in 0..dims.len() {
            if st.split.by.last().map(String::as_str) == Some(want) {
                break;
            }
            rt.apply(&mut st, key(KeyCode::Right));
        }
    }
    assert_eq!(st.split.by, vec!["home_country".to_string(), "segment_label".into()]);
    let done =
        |s: &AppState| s.split.generation == s.generation && s.split.measured.as_ref().is_some_and(|m| m.by.len() == 2);
    assert!(rt.pump_until(&mut st, Duration::from_secs(60), done));
    let split = st.split.measured.clone().unwrap();
    let conn = plain(&db);
    let expected = group_by(&conn, "shoppers", &["home_country", "segment_label"], filter);
    let got: BTreeMap<Vec<Option<String>>, u64> =
        split.cells.iter().map(|c| (c.values_in(&split.by), c.size)).collect();
    assert_eq!(got, expected);
    assert!(got.keys().any(|v| v[1].is_none()), "NULL is a cell of its own");
    let text = screen(&st).join("\n");
    assert!(text.contains("Split by home_country × segment_label"), "{text}");
    assert!(text.contains(&split.cells[0].label(&split.by)), "{text}");

    // Mark the two largest cells, save them as children of spenders@2 (the approved version).
    rt.apply(&mut st, key(KeyCode::Char(' ')));
    rt.apply(&mut st, key(KeyCode::Char(' ')));
    assert_eq!(st.split.marked.len(), 2);
    rt.apply(&mut st, key(KeyCode::Char('s')));
    let children: Vec<String> = split.cells[..2]
        .iter()
        .map(|c| Template::new("spenders", filter).child(&split.by, &c.values_in(&split.by)).name)
        .collect();
    assert!(rt.pump_until(&mut st, Duration::from_secs(60), |s| {
        children.iter().all(|n| s.library.templates.iter().any(|t| &t.name == n))
    }));
    let engine = Engine::open(&db, &Default::default()).unwrap();
    for (name, cell) in children.iter().zip(&split.cells) {
        let t = lib.load(name, None).unwrap();
        let parent = t.split_of.clone().unwrap();
        assert_eq!((parent.name.as_str(), parent.version), ("spenders", 2), "{name}");
        assert_eq!(parent.cell, cell.label(&split.by));
        assert_eq!(t.status, Status::Draft);
        assert_eq!(engine.size(&compile(&t.filter)).unwrap().size, cell.size, "{name}: {}", t.filter);
        assert_eq!(t.snapshot.unwrap().size, cell.size);
    }
    assert_eq!(st.document.name.as_deref(), Some("spenders"), "saving cells leaves the edited segment");

    // e: every cell (none marked now) to one file with a cell column.
    rt.apply(&mut st, key(KeyCode::Char('e')));
    let out = sb.path().join("cells.csv");
    match &mut st.dialog {
        Some(Dialog::Export { fields, cells: Some(cells), .. }) => {
            assert_eq!(cells.values.len(), split.cells.len());
            fields[1].value = out.to_str().unwrap().into();
        }
        other => panic!("expected the export dialog with cells, got {other:?}"),
    }
    rt.apply(&mut st, key(KeyCode::Enter));
    assert!(rt.pump_until(&mut st, Duration::from_secs(120), |s| matches!(
        &s.dialog,
        Some(Dialog::Export { result: Some(_), .. })
    )));
    assert!(matches!(&st.dialog, Some(Dialog::Export { result: Some(Ok(_)), .. })), "{:?}", st.dialog);
    check_cells_csv(&out, "spenders", &conn, "shoppers", "shopper_ref", &["home_country", "segment_label"], filter);
}

/// The file holds every member of every cell once, labelled with its cell, against SQL written
/// here: the customers of each label are exactly those of one combination of the `by` columns
/// (given as SQL) among the rows `filter` selects, and the label names its values; the manifest
/// lists each cell.
fn check_cells_csv(
    out: &Path,
    segment: &str,
    conn: &duckdb::Connection,
    table: &str,
    key: &str,
    by: &[&str],
    filter: &str,
) {
    use std::collections::BTreeSet;
    let mut r = csv::Reader::from_path(out).unwrap();
    let header: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(&header[..2], &["segment".to_string(), "cell".into()], "{header:?}");
    let key_at = header.iter().position(|h| h == key).unwrap();
    let mut per_cell: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut rows = 0;
    for row in r.records() {
        let row = row.unwrap();
        assert_eq!(&row[0], segment);
        per_cell.entry(row[1].to_string()).or_default().insert(row[key_at].to_string());
        rows += 1;
    }
    let cols: Vec<String> = by.iter().map(|c| format!("CAST({c} AS VARCHAR)")).collect();
    let sql = format!("SELECT CAST(\"{key}\" AS VARCHAR), {} FROM {table} WHERE {filter}", cols.join(", "));
    let mut expected: BTreeMap<Vec<Option<String>>, BTreeSet<String>> = BTreeMap::new();
    for mut r in q_rows(conn, &sql) {
        let k = r.remove(0).unwrap();
        expected.entry(r).or_default().insert(k);
    }
    assert_eq!(rows, expected.values().map(BTreeSet::len).sum::<usize>(), "every member once");
    let by_members: BTreeMap<&BTreeSet<String>, &Vec<Option<String>>> = expected.iter().map(|(v, k)| (k, v)).collect();
    for (label, members) in &per_cell {
        let values = by_members.get(members).unwrap_or_else(|| panic!("cell {label:?} is no combination of {by:?}"));
        for v in values.iter().flatten() {
            assert!(label.contains(v.as_str()), "cell {label:?} holds the members of {values:?}");
        }
    }
    assert_eq!(per_cell.len(), expected.len(), "one label a cell");
    let manifest: serde_json::Value = serde_json::from_str(&read(&out.with_extension("manifest.json"))).unwrap();
    let cells: Vec<&str> =
        manifest["segments"].as_array().unwrap().iter().map(|s| s["cell"].as_str().unwrap()).collect();
    assert_eq!(cells.into_iter().collect::<BTreeSet<_>>(), per_cell.keys().map(String::as_str).collect());
}

#[test]
fn cells_from_the_command_line_on_a_quoted_table_with_an_integer_key() {
    let sb = Sandbox::new();
    let db = foreign_db(sb.path(), Foreign::Club, 3_000);
    let d = s(&db);
    let filter = Foreign::Club.filter();
    sb.seglens(&["save", "loyal", "--db", d, "--filter", filter]).ok();
    // split --save: every cell a draft child of loyal@1.
    let o = sb.seglens(&["split", "loyal", "--db", d, "--by", "tier", "--save", "--json"]).ok();
    let j = o.json();
    let saved: Vec<String> = j["saved"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect();
    assert_eq!(saved.len(), j["cells"].as_array().unwrap().len());
    let conn = plain(&db);
    let expected = group_by(&conn, "\"Club Members\"", &["tier"], filter);
    for (reference, cell) in saved.iter().zip(j["cells"].as_array().unwrap()) {
        let name = reference.split('@').next().unwrap();
        let size = sb.seglens(&["size", name, "--db", d, "--json"]).ok().json()["size"].as_u64().unwrap();
        assert_eq!(size, cell["size"].as_u64().unwrap(), "{reference}");
        let value = cell["values"]["tier"].as_str().map(String::from);
        assert_eq!(expected[&vec![value]], size);
        let t = Library::open(sb.library()).load(name, None).unwrap();
        assert_eq!(t.split_of.as_ref().map(|p| (p.name.as_str(), p.version)), Some(("loyal", 1)));
    }
    // export --split-by: one file with a cell column; a directory is refused.
    sb.seglens(&["approve", "loyal", "--db", d]).ok();
    let out = sb.path().join("loyal-cells.csv");
    sb.seglens(&["export", "loyal", "--db", d, "--split-by", "tier,Signup Channel", "--out", s(&out)]).ok();
    check_cells_csv(&out, "loyal", &conn, "\"Club Members\"", "member_id", &["tier", "\"Signup Channel\""], filter);
    let dir = sb.path().join("cells-dir");
    std::fs::create_dir(&dir).unwrap();
    sb.seglens(&["export", "loyal", "--db", d, "--split-by", "tier", "--out", s(&dir)]).user_error(&["one .csv file"]);
    sb.seglens(&["export", "loyal", "loyal", "--db", d, "--split-by", "tier", "--out", "x.csv"])
        .user_error(&["one segment"]);
}
