//! End to end: the real binary in tmux, driven with send-keys and read with capture-pane. A typed
//! filter's size is compared with SQL written here; the whole flow is a consistency test: the
//! explorer's figures against the headless commands' on the same files (whose figures other
//! tests compare with SQL).

#![allow(clippy::unwrap_used)] // a test that unwraps fails loudly, which is the point

use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

mod common;

const BIN: &str = env!("CARGO_BIN_EXE_seglens");

use common::tmux::{Tmux, shows, size_on_screen};

fn seglens(env: &[(&str, &Path)], args: &[&str]) -> serde_json::Value {
    let mut c = Command::new(BIN);
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.args(args).output().unwrap();
    assert!(out.status.success(), "seglens {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

fn count(n: u64) -> String {
    seglens::format::count(n)
}

#[test]
fn shows_matches_whole_numbers_only() {
    assert!(shows("│ 1,234 of 5,000 customers", 1234) && shows("none: 12.", 12) && shows("(12, 3)", 12));
    assert!(!shows("1,120", 12) && !shows("1,120", 120) && !shows("12.5", 12) && !shows("12%", 12));
    assert!(!shows("112", 12) && !shows("0.12", 12));
}

#[test]
fn typed_filter_size_on_screen_equals_sql() {
    let dir = TempDir::new().unwrap();
    let db = dir.path().join("crm.duckdb");
    let data = dir.path().join("data");
    let lib = dir.path().join("segments");
    let env = [("SEGLENS_DATA_DIR", data.as_path()), ("SEGLENS_LIBRARY", lib.as_path())];
    seglens(&env, &["sample", "--customers", "5000", "--seed", "5", "--out", db.to_str().unwrap(), "--json"]);
    let before = std::fs::read(&db).unwrap();
    let t = Tmux::start("typed", &env, &[db.to_str().unwrap()], 120, 40);
    t.wait_for("customers");
    let filter = "engagement_score > 60 AND region = 'West India'";
    t.text(filter);
    let expected = common::count_where(&common::plain(&db), filter);
    let screen =
        t.wait("the size of the typed filter", |s| size_on_screen(s) == Some(expected) && s.contains("preview"));
    assert!(screen.contains(&format!("{} of 5,000 customers", count(expected))), "{screen}");
    // A bad filter: DuckDB's message under the editor, the app keeps running.
    t.text(" AND bogus_col = 1");
    t.wait_for("bogus_col\" not found");
    for _ in 0.." AND bogus_col = 1".len() {
        t.keys(&["BSpace"]);
    }
    t.wait("the valid filter again", |s| !s.contains("not found") && size_on_screen(s) == Some(expected));
    // Resize to 1x1 and back: no crash, "too small" in between.
    t.resize(1, 1);
    t.resize(50, 12);
    t.wait_for("too small");
    t.resize(120, 40);
    t.wait("the explorer back", |s| size_on_screen(s) == Some(expected));
    t.keys(&["C-q"]);
    t.wait_for("Unsaved edits");
    t.keys(&["y"]);
    t.wait("the explorer to exit", |s| !s.contains("customers"));
    drop(t);
    assert_eq!(std::fs::read(&db).unwrap(), before, "the database is unchanged");
}

fn overlap_row<'a>(screen: &'a str, name: &str) -> &'a str {
    screen
        .lines()
        .find(|l| l.contains(name) && l.trim_start_matches(['│', ' ']).starts_with(|c: char| c.is_ascii_digit()))
        .unwrap_or("")
}

/// Consistency: each figure the explorer shows in the flow is the one the CLI gives.
#[test]
fn consistency_whole_flow_open_nudge_save_approve_overlap_export() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    let lib = dir.path().join("segments");
    let out = dir.path().join("out.csv");
    let env = [("SEGLENS_DATA_DIR", data.as_path()), ("SEGLENS_LIBRARY", lib.as_path())];
    // First run: creates the sample database and installs the starter templates.
    let list = seglens(&env, &["list", "--json"]);
    assert_eq!(list["segments"].as_array().unwrap().len(), 8);
    let db: PathBuf = data.join("sample.duckdb");
    let t = Tmux::start("flow", &env, &[], 120, 40);
    t.wait_for("Library (8)");
    // Open the starter "lapsed high value" from the library.
    t.keys(&["BTab", "BTab"]);
    t.text("/lapsed");
    t.keys(&["Enter", "Enter"]);
    t.wait_for("opened lapsed-high-value@1");
    let v1 = seglens(&env, &["size", "lapsed-high-value", "--json"])["size"].as_u64().unwrap();
    t.wait("the starter's size", |s| size_on_screen(s) == Some(v1));
    // Nudge days 90 → 85.
    t.keys(&["BTab", "-"]);
    let nudged =
        seglens(&env, &["size", "lapsed-high-value", "--param", "days=85", "--json"])["size"].as_u64().unwrap();
    t.wait("the nudged size", |s| size_on_screen(s) == Some(nudged));
    // Save v2.
    t.keys(&["C-s"]);
    t.wait_for("Save version");
    t.text("e2e nudge");
    t.keys(&["Enter"]);
    t.wait_for("saved lapsed-high-value@2");
    // Approve it from the library and add it and another segment to the working set.
    t.keys(&["BTab"]);
    t.text("/lapsed");
    t.keys(&["Enter", "a"]);
    t.wait_for("approved lapsed-high-value@3");
    t.keys(&[" "]);
    t.text("/holi");
    t.keys(&["Enter", " "]);
    t.keys(&["F3"]);
    // The figures of this working set: not an earlier one still on screen while they are measured.
    let screen = t.wait("the overlap of both segments", |s| {
        let title = s.lines().find(|l| l.contains("Overlap —")).unwrap_or_default();
        s.contains("in none of the segments") && s.contains("holi-colour-buyers") && !title.contains("updating…")
    });
    let o = seglens(&env, &["overlap", "-s", "lapsed-high-value", "-s", "holi-colour-buyers", "--json"]);
    let inter = o["pairs"][0]["intersection"].as_u64().unwrap();
    let row = overlap_row(&screen, "lapsed-high-value");
    assert!(shows(row, inter), "intersection {inter} in {row:?}\n{screen}");
    for seg in o["segments"].as_array().unwrap() {
        let r = overlap_row(&screen, seg["name"].as_str().unwrap());
        assert!(shows(r, seg["size"].as_u64().unwrap()), "{seg} in {r:?}");
        assert!(shows(r, seg["exclusive"].as_u64().unwrap()), "{seg} in {r:?}");
    }
    let none = screen.lines().find(|l| l.contains("in none of the segments")).unwrap_or_default();
    assert!(shows(none, o["none"].as_u64().unwrap()), "{o} in {none:?}");
    // Export both, without suppressions, and check the rows against `seglens size`.
    t.keys(&["F3", "C-e"]);
    t.wait_for("Export to CSV");
    for _ in 0..40 {
        t.keys(&["BSpace"]);
    }
    t.text(out.to_str().unwrap());
    t.keys(&["C-u", "Enter"]);
    t.wait_for("✓ exported");
    let csv = std::fs::read_to_string(&out).unwrap();
    let rows = csv.lines().count() as u64 - 1;
    let holi = seglens(&env, &["size", "holi-colour-buyers", "--json"])["size"].as_u64().unwrap();
    assert_eq!(rows, nudged + holi);
    assert!(out.with_extension("manifest.json").exists());
    // Esc alone (a key right after it would read as Alt+key), then quit.
    t.keys(&["Escape"]);
    t.wait("the dialog to close", |s| !s.contains("Export to CSV"));
    t.keys(&["C-q"]);
    t.wait("exit", |s| !s.contains("customers"));
    assert!(db.exists());
}
