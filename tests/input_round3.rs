//! Reliability, round three (issue 27): input the explorer and the commands must take in their
//! stride. Split cells saved under names of their own; splits, hygiene and breakdowns that stay
//! bounded on large or odd data; pasted text that goes whole into the focused input.
//! On generated data that is not ours: a quoted table, a VARCHAR key, NULLs, near-alike values.

#![allow(clippy::unwrap_used)] // a test that unwraps fails loudly, which is the point

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use seglens::engine::{Column, Engine};
use seglens::library::{Library, Status, Template};
use seglens::tui::action::{Action, Effect, LibrarySnapshot};
use seglens::tui::state::{AppState, Dialog, Focus, Level, SideTab};
use seglens::tui::update::update;

/// A DuckDB file in `dir` made by `sql` (the table and column names are the test's own).
fn db_from(dir: &Path, name: &str, sql: &str) -> PathBuf {
    let path = dir.join(name);
    let conn = duckdb::Connection::open(&path).unwrap();
    conn.execute_batch(sql).unwrap();
    drop(conn);
    path
}

/// `"Our Patrons"`, keyed by the VARCHAR `patron_ref`: cells whose values read alike once
/// lowercased and stripped of punctuation (`North`/`north`, NULL/`null`, `No rth`/`No-rth`), a
/// second column `spot` holding `North` too, a `tier` and a DOUBLE `spend`.
fn patrons(dir: &Path) -> PathBuf {
    db_from(
        dir,
        "patrons.duckdb",
        r#"CREATE TABLE "Our Patrons" AS
           SELECT 'P' || lpad(i::VARCHAR, 5, '0') AS patron_ref,
                  (['North', 'north', NULL, 'null', 'No rth', 'No-rth'])[i % 6 + 1] AS "Home Region",
                  (['North', 'South'])[i % 2 + 1] AS spot,
                  (['gold', 'silver'])[i % 2 + 1] AS tier,
                  (i * 7 % 1000)::DOUBLE AS spend
           FROM range(600) r(i)"#,
    )
}

fn versions(lib: &Path, name: &str) -> Vec<u32> {
    Library::open(lib).versions(name).unwrap()
}

// ---------------------------------------------------------------------------------------------
// split --save: one name per cell and per split column; a collision is refused.

#[test]
fn child_names_tell_apart_cells_that_read_alike_and_the_columns_they_split() {
    let parent = Template::new("vip", "spend > 10");
    let by = vec!["Home Region".to_string()];
    let cells: Vec<Vec<Option<String>>> = ["North", "north", "No rth", "No-rth", "null", "(null)", "South"]
        .iter()
        .map(|v| vec![Some(v.to_string())])
        .chain([vec![None]])
        .collect();
    let children = parent.children(&by, &cells).unwrap();
    let names: BTreeSet<&str> = children.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names.len(), cells.len(), "one name per cell: {names:?}");
    for t in &children {
        assert!(seglens::library::template::is_slug(&t.name), "{}", t.name);
        assert!(t.name.starts_with("vip-home-region-"), "the column is in the name: {}", t.name);
    }
    // A cell that reads like no other keeps its plain name.
    assert!(names.contains("vip-home-region-south"), "{names:?}");
    // The same value of another column is another name.
    let spot = parent.children(&["spot".to_string()], &[vec![Some("North".into())]]).unwrap();
    assert_eq!(spot[0].name, "vip-spot-north");
    assert!(!names.contains(spot[0].name.as_str()));
    // Names do not depend on the order of the cells.
    let mut reversed = cells.clone();
    reversed.reverse();
    let again: BTreeSet<String> = parent.children(&by, &reversed).unwrap().into_iter().map(|t| t.name).collect();
    assert_eq!(again, names.iter().map(|n| n.to_string()).collect());
    // A long parent and value: cut to the longest name the library takes, still apart.
    let long = Template::new(&"a".repeat(75), "TRUE");
    let v = |s: &str| vec![Some(s.to_string())];
    let kids = long.children(&by, &[v(&"x".repeat(50)), v(&format!("{}y", "x".repeat(50)))]).unwrap();
    assert!(kids.iter().all(|t| seglens::library::template::is_slug(&t.name)), "{kids:?}");
    assert_ne!(kids[0].name, kids[1].name);
}

#[test]
fn split_save_gives_every_cell_its_own_segment_and_refuses_a_taken_name() {
    let sb = Sandbox::new();
    let db = patrons(sb.path());
    let d = s(&db);
    let lib = sb.library();
    sb.seglens(&["save", "vip", "--db", d, "--filter", "spend >= 100"]).ok();
    let j = sb.seglens(&["split", "vip", "--db", d, "--by", "Home Region", "--save", "--json"]).ok().json();
    let cells = j["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 6, "{j}");
    let saved: Vec<&str> = j["saved"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    let names: BTreeSet<&str> = saved.iter().map(|r| r.split('@').next().unwrap()).collect();
    assert_eq!(names.len(), 6, "six cells, six segments: {saved:?}");
    assert!(saved.iter().all(|r| r.ends_with("@1")), "each a first version, none over another: {saved:?}");
    // Each segment holds exactly its cell.
    let conn = plain(&db);
    for (reference, cell) in saved.iter().zip(cells) {
        let name = reference.split('@').next().unwrap();
        let t = Library::open(&lib).load(name, None).unwrap();
        let region = cell["values"]["Home Region"].as_str();
        let cond = match region {
            Some(v) => format!("\"Home Region\" = '{v}'"),
            None => "\"Home Region\" IS NULL".into(),
        };
        let want = q_i64(&conn, &format!("SELECT count(*) FROM \"Our Patrons\" WHERE spend >= 100 AND {cond}"));
        assert_eq!(t.snapshot.as_ref().unwrap().size as i64, want, "{name}: {}", t.filter);
        assert_eq!(cell["size"].as_i64(), Some(want));
    }
    // Split by another column: its North cell is a segment of its own, the region cells stay.
    let j = sb.seglens(&["split", "vip", "--db", d, "--by", "spot", "--save", "--json"]).ok().json();
    let spot: Vec<&str> = j["saved"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert!(spot.contains(&"vip-spot-north@1"), "{spot:?}");
    for n in &names {
        assert_eq!(versions(&lib, n), [1], "{n} untouched by the split by spot");
    }
    // The same split again versions nothing (same cells, same parent version) ...
    sb.seglens(&["split", "vip", "--db", d, "--by", "Home Region", "--save"]).ok();
    assert!(names.iter().all(|n| versions(&lib, n) == [1]));
    // ... and after the parent changes, each cell is the next version of its own segment.
    sb.seglens(&["save", "vip", "--db", d, "--filter", "spend >= 200"]).ok();
    let j = sb.seglens(&["split", "vip", "--db", d, "--by", "Home Region", "--save", "--json"]).ok().json();
    let again: BTreeSet<String> = j["saved"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().into()).collect();
    assert_eq!(again, names.iter().map(|n| format!("{n}@2")).collect());
    // A segment of the user's holds a cell's name: refused, nothing saved, nothing versioned.
    sb.seglens(&["save", "vip-tier-gold", "--db", d, "--filter", "spend < 5"]).ok();
    sb.seglens(&["split", "vip", "--db", d, "--by", "tier", "--save"]).user_error(&[
        "vip-tier-gold",
        "already exists",
        "not a cell of a split",
    ]);
    assert_eq!(versions(&lib, "vip-tier-gold"), [1]);
    assert!(versions(&lib, "vip-tier-silver").is_empty(), "a refused split saves none of its cells");
    assert_eq!(Library::open(&lib).load("vip-tier-gold", None).unwrap().filter.trim(), "spend < 5");
}

#[test]
fn the_library_refuses_a_cell_over_another_cells_segment() {
    let dir = tempfile::tempdir().unwrap();
    let lib = Library::open(dir.path());
    let parent = Template { version: 1, ..Template::new("vip", "spend > 10") };
    let by = vec!["region".to_string()];
    let north = parent.child(&by, &[Some("North".into())]);
    let mut other = parent.child(&by, &[Some("north".into())]);
    assert_eq!(north.name, other.name, "the plain names collide (children tells them apart)");
    lib.save(north.clone()).unwrap();
    let e = lib.save(other.clone()).unwrap_err().to_string();
    assert!(e.contains("already exists") && e.contains("\"North\""), "{e}");
    assert_eq!(lib.versions(&north.name).unwrap(), [1]);
    // Approving the cell (the same record) is a new version of it, as any approval is.
    lib.set_status(&north.name, None, Status::Approved, None, "qa").unwrap();
    assert_eq!(lib.versions(&north.name).unwrap(), [1, 2]);
    // The same cell of a later parent version is.
    other = Template { version: 2, ..parent.clone() }.child(&by, &[Some("North".into())]);
    assert_eq!(lib.save(other).unwrap().version(), 3);
}

// ---------------------------------------------------------------------------------------------
// Scale: bounded splits, hygiene over many columns.

/// `"Wide Guests"` of `n` guests keyed by `guest_ref` (unique: a split by it has `n` cells).
fn guests(dir: &Path, n: u64) -> PathBuf {
    db_from(
        dir,
        "guests.duckdb",
        &format!(
            r#"CREATE TABLE "Wide Guests" AS
               SELECT 'G' || lpad(i::VARCHAR, 7, '0') AS guest_ref, (i % 97)::BIGINT AS stays,
                      (i % 13)::DOUBLE AS nights, (['a', 'b', NULL])[i % 3 + 1] AS band
               FROM range({n}) r(i)"#
        ),
    )
}

#[test]
fn a_split_past_max_cells_is_refused_and_within_it_answers_every_cell() {
    let sb = Sandbox::new();
    let db = guests(sb.path(), 30_000);
    let d = s(&db);
    let started = Instant::now();
    sb.seglens(&["split", "TRUE", "--db", d, "--by", "guest_ref", "--json"])
        .user_error(&["30,000 cells", "--max-cells 10,000"]);
    assert!(started.elapsed() < Duration::from_secs(60));
    sb.seglens(&["split", "TRUE", "--db", d, "--by", "guest_ref,band", "--max-cells", "100"])
        .user_error(&["--max-cells 100"]);
    sb.seglens(&["split", "TRUE", "--db", d, "--by", "band", "--max-cells", "0"]).user_error(&["--max-cells 0"]);
    // Exactly at the bound: every cell, none left over.
    let j = sb.seglens(&["split", "TRUE", "--db", d, "--by", "band", "--max-cells", "3", "--json"]).ok().json();
    assert_eq!(j["cells"].as_array().unwrap().len(), 3);
    assert_eq!((j["size"].as_u64(), j["more_cells"].as_u64()), (Some(30_000), Some(0)));
}

#[test]
fn the_engine_lists_the_largest_cells_and_counts_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let db = guests(dir.path(), 5_000);
    let e = Engine::open(&db, &Default::default()).unwrap();
    let f = compile("nights < 10");
    let all = e.split(&f, &["stays".into()], 0.0).unwrap();
    let top = e.split_top(&f, &["stays".into()], 0.0, Some(10)).unwrap();
    assert_eq!(top.cells, all.cells[..10], "the ten largest, in the same order");
    assert_eq!(top.more_cells as usize, all.cells.len() - 10);
    assert_eq!(top.size, all.size);
    assert_eq!(top.more_size, all.cells[10..].iter().map(|c| c.size).sum::<u64>());
    let conn = plain(&db);
    assert_eq!(all.size as i64, q_i64(&conn, "SELECT count(*) FROM \"Wide Guests\" WHERE nights < 10"));
    assert!(all.cells.windows(2).all(|w| w[0].size >= w[1].size));
}

#[test]
fn the_split_view_lists_the_largest_cells_and_says_how_many_more() {
    let sb = Sandbox::new();
    let db = guests(sb.path(), 3_000);
    let engine = Engine::open(&db, &Default::default()).unwrap();
    let lib_dir = sb.path().join("lib");
    save_measured(&engine, &Library::open(&lib_dir), Template::new("all-guests", "stays >= 0"));
    let (mut rt, mut st) = explorer(engine, &lib_dir, &sb.path().join("log.jsonl"));
    // Open the saved segment (its cells need a saved parent), then split it by its key.
    st.focus = Focus::Side;
    st.side = SideTab::Library;
    rt.apply(&mut st, Action::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)));
    assert_eq!(st.document.name.as_deref(), Some("all-guests"));
    st.split.by = vec!["guest_ref".into()];
    rt.apply(&mut st, Action::Key(KeyEvent::new(KeyCode::Char('t'), KeyModifiers::CONTROL)));
    let measured = |s: &AppState| s.split.measured.as_ref().is_some_and(|m| m.by == ["guest_ref"]);
    assert!(rt.pump_until(&mut st, Duration::from_secs(60), measured));
    let m = st.split.measured.clone().unwrap();
    let listed = seglens::tui::worker::SPLIT_CELLS;
    assert_eq!((m.cells.len(), m.more_cells, m.size), (listed, 3_000 - listed as u64, 3_000));
    let text = screen(&st).join("\n");
    assert!(text.contains("3,000 customers in 3,000 cells"), "{text}");
    assert!(text.contains(&format!("({} more cells", seglens::format::count(m.more_cells))), "{text}");
    // e with nothing marked would export only the cells listed: refused, with the way out.
    rt.apply(&mut st, Action::Key(KeyEvent::new(KeyCode::Char('e'), KeyModifiers::NONE)));
    assert!(st.dialog.is_none(), "{:?}", st.dialog);
    let (level, msg) = st.status.clone().unwrap();
    assert!(level == Level::Warn && msg.contains("not listed") && msg.contains("mark"), "{msg}");
}

/// Peak resident memory of `cmd`'s run, in KiB (Linux `wait4`), and its exit code.
#[allow(clippy::zombie_processes)] // reaped by wait4, which returns its resource usage
fn peak_rss(mut cmd: std::process::Command) -> (i64, i32) {
    #[repr(C)]
    struct Rusage {
        utime: [i64; 2],
        stime: [i64; 2],
        maxrss: i64,
        rest: [i64; 13],
    }
    unsafe extern "C" {
        fn wait4(pid: i32, status: *mut i32, options: i32, rusage: *mut Rusage) -> i32;
    }
    cmd.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
    let child = cmd.spawn().unwrap();
    let mut status = 0;
    let mut usage = Rusage { utime: [0; 2], stime: [0; 2], maxrss: 0, rest: [0; 13] };
    // SAFETY: waits for our own child, writing into the two locals passed.
    let pid = unsafe { wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as i32);
    (usage.maxrss, (status >> 8) & 0xff)
}

#[test]
fn a_split_as_json_holds_no_more_memory_than_as_a_table() {
    let sb = Sandbox::new();
    let db = guests(sb.path(), 300_000);
    let args = |json: bool| {
        let mut a = vec!["split", "TRUE", "--db", s(&db), "--by", "guest_ref", "--max-cells", "300000"];
        if json {
            a.push("--json");
        }
        a.into_iter().map(String::from).collect::<Vec<_>>()
    };
    let run = |json: bool| {
        let a = args(json);
        peak_rss(sb.command(&a.iter().map(String::as_str).collect::<Vec<_>>()))
    };
    let (table, code) = run(false);
    assert_eq!(code, 0);
    let (json, code) = run(true);
    assert_eq!(code, 0);
    // The JSON is written as it is serialized: no second copy of every cell as a JSON tree and
    // a string (before, 2.5 times the table's memory here).
    assert!(json <= table + table / 10, "JSON peak {json} KiB against the table's {table} KiB");
}

#[test]
fn hygiene_of_a_thousand_text_columns_answers_in_seconds() {
    let sb = Sandbox::new();
    // Column c0 holds near-duplicate spellings; the others a few values each.
    let cols: Vec<String> = (1..1000).map(|c| format!("'v{c}-' || (i % {}) AS \"c{c}\"", 3 + c % 40)).collect();
    let db = db_from(
        sb.path(),
        "wide.duckdb",
        &format!(
            r#"CREATE TABLE "Wide Sheet" AS SELECT 'W' || i AS row_ref,
                 (['Pune', ' pune', 'PUNE', 'Delhi'])[i % 4 + 1] AS c0, {},
                 'u' || (i % 1500) || '@example.org' AS "Contact Email",
                 (['Goa', 'GOA', 'Agra'])[i % 3 + 1] AS "zz last"
               FROM range(2000) r(i)"#,
            cols.join(", ")
        ),
    );
    let started = Instant::now();
    let j = sb.seglens(&["hygiene", "--db", s(&db), "--json"]).ok().json();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(45), "hygiene took {took:?} (before: minutes)");
    let columns = j["columns"].as_array().unwrap();
    assert_eq!(columns.len(), 1003);
    // Spelling variants in the first column and the last (grouped by different scans).
    let variants = |name: &str| -> BTreeSet<String> {
        let c = columns.iter().find(|c| c["name"] == name).unwrap();
        assert_eq!(c["categorical"], true, "{c}");
        let v = c["variants"][0]["values"].as_array().unwrap();
        v.iter().map(|v| v["value"].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(variants("c0"), [" pune", "PUNE", "Pune"].map(String::from).into());
    assert_eq!(variants("zz last"), ["GOA", "Goa"].map(String::from).into());
    assert_eq!(columns.iter().filter(|c| c["categorical"] == true).count(), 1001, "every text column but the ids");
    // The emails 0 to 499 appear twice: 500 repeated values on 1,000 rows.
    let d = &j["duplicates"][0];
    assert_eq!(
        (d["column"].as_str(), d["values"].as_u64(), d["rows"].as_u64()),
        (Some("Contact Email"), Some(500), Some(1000))
    );
}

// ---------------------------------------------------------------------------------------------
// A numeric breakdown over ±inf and NaN.

fn odd_numbers(dir: &Path) -> PathBuf {
    db_from(
        dir,
        "odd.duckdb",
        r#"CREATE TABLE "Odd Readings" AS
           SELECT 'R' || i AS reading_ref,
                  CASE WHEN i % 50 = 0 THEN 'inf'::DOUBLE WHEN i % 50 = 1 THEN '-inf'::DOUBLE
                       WHEN i % 50 = 2 THEN 'nan'::DOUBLE WHEN i % 50 = 3 THEN NULL
                       ELSE (i % 1000)::DOUBLE / 3 END AS "Level",
                  i % 7 AS batch
           FROM range(5000) r(i)"#,
    )
}

#[test]
fn a_breakdown_bins_the_finite_values_and_keeps_infinities_apart() {
    let dir = tempfile::tempdir().unwrap();
    let db = odd_numbers(dir.path());
    let e = Engine::open(&db, &Default::default()).unwrap();
    let f = compile("batch < 5");
    let b = e.breakdown(&f, "Level", 12).unwrap();
    let w = b.bin_width.expect("binned");
    assert!(w.is_finite() && w > 0.0, "{b:?}");
    let conn = plain(&db);
    let n = |cond: &str| q_i64(&conn, &format!("SELECT count(*) FROM \"Odd Readings\" WHERE batch < 5 AND {cond}"));
    assert_eq!(b.rows.iter().map(|r| r.count as i64).sum::<i64>(), n("TRUE"));
    let row = |v: Option<&str>| b.rows.iter().find(|r| r.value.as_deref() == v).map(|r| r.count as i64);
    assert_eq!(row(Some("inf")), Some(n("\"Level\" = 'inf'::DOUBLE")));
    assert_eq!(row(Some("-inf")), Some(n("\"Level\" = '-inf'::DOUBLE")));
    assert_eq!(row(Some("NaN")), Some(n("isnan(\"Level\")")));
    assert_eq!(row(None), Some(n("\"Level\" IS NULL")));
    // The finite bins hold the finite values (0 to 333), each within its bounds.
    let first = b.rows.iter().find(|r| r.value.as_deref().is_some_and(|v| v.contains('–'))).unwrap();
    let lo: f64 = first.value.as_deref().unwrap().split('–').next().unwrap().parse().unwrap();
    assert_eq!(first.count as i64, n(&format!("\"Level\" >= {lo} AND \"Level\" < {}", lo + w)));
    assert!(b.rows.iter().all(|r| r.base_share.is_some()), "every bin has its base share: {b:?}");
}

#[test]
fn the_preview_of_a_breakdown_over_infinities_runs_to_the_members() {
    let sb = Sandbox::new();
    let db = odd_numbers(sb.path());
    let engine = Engine::open(&db, &Default::default()).unwrap();
    let lib_dir = sb.path().join("lib");
    save_measured(&engine, &Library::open(&lib_dir), Template::new("first-batches", "batch < 2"));
    let (mut rt, mut st) = explorer(engine, &lib_dir, &sb.path().join("log.jsonl"));
    assert!(rt.pump_until(&mut st, Duration::from_secs(60), |s| s.preview.dimensions.iter().any(|d| d == "Level")));
    st.preview.dimension = st.preview.dimensions.iter().position(|d| d == "Level").unwrap();
    for c in "batch < 5".chars() {
        rt.apply(&mut st, Action::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)));
    }
    let done = |s: &AppState| s.preview.rows.is_some() && s.preview.unsegmentable.is_some();
    assert!(rt.pump_until(&mut st, Duration::from_secs(60), done), "{:?} {:?}", st.editor.error, st.worker);
    assert!(st.editor.error.is_none(), "{:?}", st.editor.error);
    assert!(st.preview.breakdown.as_ref().is_some_and(|b| b.column == "Level" && b.bin_width.is_some()));
}

// ---------------------------------------------------------------------------------------------
// Paste: whole into the focused text input, never commands.

fn state() -> AppState {
    let cols = ["guest_ref", "stays", "band"]
        .iter()
        .map(|n| Column { name: n.to_string(), ty: if *n == "stays" { "BIGINT".into() } else { "VARCHAR".into() } })
        .collect();
    AppState::new("t.duckdb".into(), "Wide Guests".into(), "guest_ref".into(), 1000, cols, "dark".into())
}

fn key(s: &mut AppState, code: KeyCode, mods: KeyModifiers) -> Vec<Effect> {
    update(s, Action::Key(KeyEvent::new(code, mods)), Instant::now())
}

fn paste(s: &mut AppState, text: &str) -> Vec<Effect> {
    update(s, Action::Paste(text.into()), Instant::now())
}

/// A state with the library holding `vip` (draft) and the side panel's library focused.
fn in_library() -> AppState {
    let mut s = state();
    let snap = LibrarySnapshot { templates: vec![Template::new("vip", "stays > 3")], ..Default::default() };
    update(&mut s, Action::LibraryLoaded(snap), Instant::now());
    s.focus = Focus::Side;
    s.side = SideTab::Library;
    s
}

#[test]
fn a_paste_in_the_editor_is_text_with_its_line_breaks_and_tabs() {
    let mut s = state();
    assert_eq!(s.focus, Focus::Editor);
    let fx = paste(&mut s, "stays > 3\r\nAND\tband = 'a'");
    assert!(fx.is_empty());
    assert_eq!(s.editor.text(), "stays > 3\nAND\tband = 'a'", "CR as a line break, the Tab kept as text");
    assert!(s.editor.completion.is_none(), "a pasted Tab does not complete");
    assert!(s.compiled.is_some() && s.preview_due.is_some(), "an edit like any other");
}

#[test]
fn a_paste_where_no_input_has_focus_is_ignored_with_a_status_line() {
    let mut s = in_library();
    let fx = paste(&mut s, "ar");
    assert!(fx.is_empty(), "neither approved nor retired: {fx:?}");
    let (level, msg) = s.status.clone().unwrap();
    assert_eq!(level, Level::Warn);
    assert!(msg.contains("paste ignored"), "{msg}");
    // The keys themselves still are commands.
    let fx = key(&mut s, KeyCode::Char('a'), KeyModifiers::NONE);
    assert!(matches!(fx.as_slice(), [Effect::SetStatus { status: Status::Approved, .. }]), "{fx:?}");
}

#[test]
fn a_paste_goes_whole_into_the_library_search_and_a_parameter_value() {
    let mut s = in_library();
    key(&mut s, KeyCode::Char('/'), KeyModifiers::NONE);
    let fx = paste(&mut s, "VIP\n");
    assert!(fx.is_empty());
    assert_eq!(s.library.query, "vip");
    assert!(s.library.typing, "a pasted newline does not end the search");
    // A parameter's value being typed.
    let mut s = state();
    paste(&mut s, "stays > {{min_stays}}");
    s.focus = Focus::Params;
    key(&mut s, KeyCode::Enter, KeyModifiers::NONE);
    assert_eq!(s.params.input.as_deref(), Some(""), "{:?}", s.params.items);
    let fx = paste(&mut s, "4\t2\n");
    assert!(fx.is_empty());
    assert_eq!(s.params.input.as_deref(), Some("4 2"), "not submitted by the pasted newline");
}

#[test]
fn a_paste_in_the_save_dialog_fills_the_field_and_submits_nothing() {
    let mut s = state();
    paste(&mut s, "stays > 3");
    key(&mut s, KeyCode::Char('s'), KeyModifiers::CONTROL);
    assert!(matches!(s.dialog, Some(Dialog::Save { focused: 0, .. })), "{:?}", s.dialog);
    let fx = paste(&mut s, "long-stays\nsecond line\n");
    assert!(fx.is_empty(), "nothing saved: {fx:?}");
    match &s.dialog {
        Some(Dialog::Save { fields, focused: 0, .. }) => assert_eq!(fields[0].value, "long-stays second line"),
        other => panic!("the save dialog on its first field, got {other:?}"),
    }
    // The name dialog (Ctrl-N) and the export dialog take a paste the same way.
    let mut s = state();
    key(&mut s, KeyCode::Char('n'), KeyModifiers::CONTROL);
    assert!(matches!(s.dialog, Some(Dialog::Name { .. })), "{:?}", s.dialog);
    assert!(paste(&mut s, "new-one\n").is_empty());
    assert!(matches!(&s.dialog, Some(Dialog::Name { input, .. }) if input == "new-one"), "{:?}", s.dialog);
}

#[test]
fn a_paste_in_the_export_dialog_edits_its_path_but_not_while_it_runs() {
    let mut s = in_library();
    key(&mut s, KeyCode::Char(' '), KeyModifiers::NONE);
    assert_eq!(s.library.working, ["vip"]);
    key(&mut s, KeyCode::Char('e'), KeyModifiers::CONTROL);
    let before = match &s.dialog {
        Some(Dialog::Export { fields, focused: 1, .. }) => fields[1].value.clone(),
        other => panic!("the export dialog on its path, got {other:?}"),
    };
    assert!(paste(&mut s, "-x.csv\n").is_empty(), "the pasted newline does not start the export");
    match &mut s.dialog {
        Some(Dialog::Export { fields, progress, .. }) => {
            assert_eq!(fields[1].value, format!("{before}-x.csv"));
            *progress = Some((String::new(), 0, 0));
        }
        other => panic!("{other:?}"),
    }
    // While it runs the dialog takes no text.
    assert!(paste(&mut s, "more").is_empty());
    assert!(matches!(&s.dialog, Some(Dialog::Export { fields, .. }) if fields[1].value == format!("{before}-x.csv")));
    assert!(s.status.as_ref().is_some_and(|(_, m)| m.contains("paste ignored")), "{:?}", s.status);
}

/// The real binary in tmux: tmux brackets a paste only when the program asked for it, so this
/// fails where bracketed paste is never enabled; after the explorer exits, a paste is plain again.
#[test]
fn pasting_into_the_real_explorer() {
    use common::tmux::Tmux;
    let sb = Sandbox::new();
    let db = guests(sb.path(), 2_000);
    let lib = sb.library();
    sb.seglens(&["save", "vip", "--db", s(&db), "--filter", "stays > 50"]).ok();
    let data = sb.data_dir();
    let env = [("SEGLENS_LIBRARY", lib.as_path()), ("SEGLENS_DATA_DIR", data.as_path())];
    let t = Tmux::start_then("paste", &env, &[s(&db)], 120, 40, "cat -v");
    t.wait_for("Library (1)");
    // In the editor: the Tab is text (not completion), the line break a line of the filter.
    t.paste("stays > 90\tAND\nband = 'a'");
    let want = sb.seglens(&["size", "stays > 90 AND band = 'a'", "--db", s(&db), "--json"]).ok().json()["size"]
        .as_u64()
        .unwrap();
    t.wait("the pasted filter's size", |sc| common::tmux::size_on_screen(sc) == Some(want));
    // In the library, pasted letters are not commands: vip stays a draft of one version.
    t.keys(&["BTab", "BTab"]);
    t.wait_for("Enter open");
    t.paste("ar");
    t.wait_for("paste ignored");
    assert_eq!(versions(&lib, "vip"), [1]);
    // The save dialog: a pasted newline does not submit; what is typed next joins the name.
    t.keys(&["C-s"]);
    t.wait_for("Save version");
    t.paste("pasted-name\n");
    t.text("x");
    t.wait_for("pasted-namex");
    t.keys(&["Escape"]);
    t.wait("the dialog to close", |sc| !sc.contains("Save version"));
    t.quit();
    // The shell after it: a paste arrives plain, without bracketed-paste codes.
    t.paste("after-exit");
    let sc = t.wait_for("after-exit");
    assert!(!sc.contains("200~"), "bracketed paste left on after the explorer exited:\n{sc}");
}
